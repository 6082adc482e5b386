"""What a registered variant is (``Variant``), what a family is (``Family``), and the specs families start from.

A variant is data: its spec, its family, its default input and one line on what makes it different. The families
themselves are listed in ``resnet_cli/spec/families/`` (one module per source: torchvision, the paper, timm, the
CIFAR papers, Keras); ``resnet_cli.spec.registry`` gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_cli.spec.fields import (
    Attention,
    BlockKind,
    ConvBias,
    ResNetSpec,
    Shortcut,
    StemKind,
    StemPool,
    StrideAt,
)

IMAGENET_INPUT = (1, 3, 224, 224)
CIFAR_INPUT = (1, 3, 32, 32)


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    reference: str  # what every variant of the family is checked against, in the tests


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    spec: ResNetSpec
    description: str
    default_input: tuple[int, int, int, int] = IMAGENET_INPUT
    # The GFLOPs the paper's Table 1 prints for this depth (the ResNet paper, He et al. 2015), where one exists.
    paper_gflops: float | None = None
    # A deeper or wider sibling of a registered variant, built by the same code from the same fields: checked
    # against its reference in counts, names and MACs; its structure is checked through its representative.
    sibling_of: str | None = None


# blocks per stage
R14, R18, R26 = (1, 1, 1, 1), (2, 2, 2, 2), (2, 2, 2, 2)
R34 = R50 = (3, 4, 6, 3)
R101, R152, R200, R269 = (3, 4, 23, 3), (3, 8, 36, 3), (3, 24, 36, 3), (3, 30, 48, 8)

BASIC = BlockKind.BASIC
BOTTLENECK = BlockKind.BOTTLENECK
PREACT_BASIC = BlockKind.PREACT_BASIC
PREACT_BOTTLENECK = BlockKind.PREACT_BOTTLENECK
SE, ECA = Attention.SE, Attention.ECA
DEEP = StemKind.DEEP
AVGPOOL = Shortcut.AVGPOOL

TV = ResNetSpec()  # torchvision's defaults: bottleneck v1.5, 7x7 stem, projection shortcuts
V1 = ResNetSpec(stride_at=StrideAt.FIRST_1X1)
# timm's "d": deep 3x3 stem (32, 32, 64) and average-pool downsampling shortcuts
D = ResNetSpec(stem=StemKind.DEEP, shortcut=Shortcut.AVGPOOL)
# timm's "t": the tiered deep stem (24, 32, 64) and average-pool shortcuts
T = D.replace(stem_widths=(24, 32, 64))
# timm's "s": the deep stem twice as wide (64, 64, 128), projection shortcuts
S = ResNetSpec(stem=StemKind.DEEP, stem_width=128)
# ResNet-RS (Bello et al. 2021) as timm builds it: D, a strided conv for the stem max-pool, SE with ratio 1/4
RS = D.replace(stem_pool=StemPool.CONV, se=Attention.SE, se_reduction=4)
TIMM_V2 = ResNetSpec(block=BlockKind.PREACT_BOTTLENECK)
# The ResNet paper's CIFAR-10 nets: 3x3/1 stem of 16, no pool, 16/32/64 channels, option-A (zero-padding) shortcuts
CIFAR = ResNetSpec(
    block=BASIC,
    widths=(16, 32, 64),
    stem=StemKind.CIFAR,
    stem_width=16,
    stem_pool=StemPool.NONE,
    shortcut=Shortcut.ZERO_PAD,
    num_classes=10,
)
# torchvision's ImageNet nets with the CIFAR stem (3x3/1, no max-pool) and 10 classes
CIFAR_IMAGENET = ResNetSpec(block=BASIC, stem=StemKind.CIFAR, stem_pool=StemPool.NONE, num_classes=10)
# The CIFAR nets of the follow-up papers: a 3x3/1 stem, no pool, projection shortcuts (fb.resnet.torch's 'B')
CIFAR_B = ResNetSpec(widths=(16, 32, 64), stem=StemKind.CIFAR, stem_width=16, stem_pool=StemPool.NONE, num_classes=10)
# keras.applications' BatchNormalization(epsilon=1.001e-5) in every ResNet, with Keras's default momentum 0.99
# (the old statistics' weight): torch's 0.01
KERAS_BN = dict(bn_eps=1.001e-5, bn_momentum=0.01)
KERAS_V1 = ResNetSpec(stride_at=StrideAt.FIRST_1X1, conv_bias=ConvBias.ALL, **KERAS_BN)
KERAS_V2 = ResNetSpec(
    block=BlockKind.PREACT_BOTTLENECK,
    stride_at=StrideAt.LAST_BLOCK,
    stem_pool=StemPool.ZERO_MAX,
    conv_bias=ConvBias.UNLESS_NORMALIZED,
    **KERAS_BN,
)
