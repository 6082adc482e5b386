"""The named variants: data, one entry each, never a function per variant.

Every entry is a ``Variant``: its spec, the family it belongs to, its default input and one line on what
makes it different. ``resolve`` looks a name up (suggesting the closest names when it is unknown).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from resnet_cli.errors import UsageError
from resnet_cli.spec import BlockKind, ConvBias, ResNetSpec, Shortcut, StemKind, StrideAt

IMAGENET_INPUT = (1, 3, 224, 224)
CIFAR_INPUT = (1, 3, 32, 32)


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    spec: ResNetSpec
    description: str
    default_input: tuple[int, int, int, int] = IMAGENET_INPUT
    # The GFLOPs the paper's Table 1 prints for this depth (the ResNet paper, He et al. 2015), where one exists.
    paper_gflops: float | None = None


_BASIC = BlockKind.BASIC
_BOTTLENECK = BlockKind.BOTTLENECK
_R18, _R34, _R50, _R101, _R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)

_TV = ResNetSpec()  # torchvision's defaults: bottleneck v1.5, 7x7 stem, projection shortcuts
_V1 = ResNetSpec(stride_at=StrideAt.FIRST_1X1)
# timm's "d": deep 3x3 stem (stem_width=32 inside, 64 out) and average-pool downsampling shortcuts
_D = ResNetSpec(stem=StemKind.DEEP, shortcut=Shortcut.AVGPOOL)
_CIFAR = ResNetSpec(
    block=_BASIC,
    widths=(16, 32, 64),
    stem=StemKind.CIFAR,
    stem_width=16,
    stem_pool=False,
    shortcut=Shortcut.ZERO_PAD,
    num_classes=10,
)
_CIFAR_IMAGENET = ResNetSpec(block=_BASIC, stem=StemKind.CIFAR, stem_pool=False, num_classes=10)
_KERAS_V1 = ResNetSpec(stride_at=StrideAt.FIRST_1X1, conv_bias=ConvBias.ALL)
_KERAS_V2 = ResNetSpec(
    block=BlockKind.PREACT_BOTTLENECK, stride_at=StrideAt.LAST_BLOCK, conv_bias=ConvBias.UNLESS_NORMALIZED
)
_TIMM_V2 = ResNetSpec(block=BlockKind.PREACT_BOTTLENECK)


def _variants() -> list[Variant]:
    v = []
    add = v.append
    # --- torchvision ---
    add(Variant("resnet18", "torchvision", _TV.replace(block=_BASIC, layers=_R18),
                "ResNet-18: basic blocks [2,2,2,2]", paper_gflops=1.8))
    add(Variant("resnet34", "torchvision", _TV.replace(block=_BASIC, layers=_R34),
                "ResNet-34: basic blocks [3,4,6,3]", paper_gflops=3.6))
    add(Variant("resnet50", "torchvision", _TV,
                "ResNet-50 v1.5: bottlenecks [3,4,6,3], stride on the 3x3 conv"))
    add(Variant("resnet101", "torchvision", _TV.replace(layers=_R101),
                "ResNet-101 v1.5: bottlenecks [3,4,23,3]"))
    add(Variant("resnet152", "torchvision", _TV.replace(layers=_R152),
                "ResNet-152 v1.5: bottlenecks [3,8,36,3]"))
    add(Variant("resnext50_32x4d", "torchvision", _TV.replace(groups=32, width_per_group=4),
                "ResNeXt-50 32x4d: 32 groups of width 4 in every 3x3 conv"))
    add(Variant("resnext101_32x8d", "torchvision", _TV.replace(layers=_R101, groups=32, width_per_group=8),
                "ResNeXt-101 32x8d: 32 groups of width 8"))
    add(Variant("resnext101_64x4d", "torchvision", _TV.replace(layers=_R101, groups=64, width_per_group=4),
                "ResNeXt-101 64x4d: 64 groups of width 4"))
    add(Variant("wide_resnet50_2", "torchvision", _TV.replace(width_per_group=128),
                "Wide ResNet-50-2: bottleneck 3x3 convs twice as wide"))
    add(Variant("wide_resnet101_2", "torchvision", _TV.replace(layers=_R101, width_per_group=128),
                "Wide ResNet-101-2: bottleneck 3x3 convs twice as wide"))
    # --- the original paper's v1 ---
    add(Variant("resnet50_v1", "paper", _V1,
                "ResNet-50 as published: stride on the first 1x1 conv", paper_gflops=3.8))
    add(Variant("resnet101_v1", "paper", _V1.replace(layers=_R101),
                "ResNet-101 as published: stride on the first 1x1 conv", paper_gflops=7.6))
    add(Variant("resnet152_v1", "paper", _V1.replace(layers=_R152),
                "ResNet-152 as published: stride on the first 1x1 conv", paper_gflops=11.3))
    # --- Bag of Tricks / SE, as timm defines them ---
    add(Variant("resnet18d", "timm", _D.replace(block=_BASIC, layers=_R18),
                "ResNet-18-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet34d", "timm", _D.replace(block=_BASIC, layers=_R34),
                "ResNet-34-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet50c", "timm", _TV.replace(stem=StemKind.DEEP),
                "ResNet-50-C: deep 3x3 stem instead of the 7x7 conv"))
    add(Variant("resnet50d", "timm", _D,
                "ResNet-50-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet101d", "timm", _D.replace(layers=_R101),
                "ResNet-101-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet152d", "timm", _D.replace(layers=_R152),
                "ResNet-152-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnext50d_32x4d", "timm", _D.replace(groups=32, width_per_group=4),
                "ResNeXt-50-D 32x4d: ResNeXt with the deep stem and avg-pool shortcut"))
    add(Variant("seresnet50", "timm", _TV.replace(se=True),
                "SE-ResNet-50: squeeze-and-excitation (ratio 1/16) after every bottleneck"))
    add(Variant("resnetv2_50", "timm", _TIMM_V2,
                "Pre-activation ResNet-50 (Identity Mappings): BN-ReLU before each conv"))
    add(Variant("resnetv2_101", "timm", _TIMM_V2.replace(layers=_R101),
                "Pre-activation ResNet-101 (Identity Mappings): BN-ReLU before each conv"))
    # --- the ResNet paper's CIFAR-10 nets (section 4.2): 6n+2 layers ---
    for n in (3, 5, 7, 9, 18, 200):
        depth = 6 * n + 2
        add(Variant(f"resnet{depth}", "cifar", _CIFAR.replace(layers=(n, n, n)),
                    f"CIFAR-10 ResNet-{depth} (paper section 4.2): 3 stages of {n} basic blocks, "
                    "16/32/64 channels, option-A shortcuts",
                    default_input=CIFAR_INPUT))
    add(Variant("resnet18_cifar", "cifar", _CIFAR_IMAGENET.replace(layers=_R18),
                "ResNet-18 for CIFAR-10: 3x3 stride-1 stem, no max-pool", default_input=CIFAR_INPUT))
    add(Variant("resnet34_cifar", "cifar", _CIFAR_IMAGENET.replace(layers=_R34),
                "ResNet-34 for CIFAR-10: 3x3 stride-1 stem, no max-pool", default_input=CIFAR_INPUT))
    # --- Keras Applications, rebuilt in PyTorch ---
    add(Variant("resnet50_keras", "keras", _KERAS_V1,
                "keras.applications.ResNet50: v1 stride placement, every conv with a bias"))
    add(Variant("resnet101_keras", "keras", _KERAS_V1.replace(layers=_R101),
                "keras.applications.ResNet101: v1 stride placement, every conv with a bias"))
    add(Variant("resnet152_keras", "keras", _KERAS_V1.replace(layers=_R152),
                "keras.applications.ResNet152: v1 stride placement, every conv with a bias"))
    add(Variant("resnet50v2_keras", "keras", _KERAS_V2,
                "keras.applications.ResNet50V2: pre-activation, stride in each stage's last block"))
    add(Variant("resnet101v2_keras", "keras", _KERAS_V2.replace(layers=_R101),
                "keras.applications.ResNet101V2: pre-activation, stride in each stage's last block"))
    add(Variant("resnet152v2_keras", "keras", _KERAS_V2.replace(layers=_R152),
                "keras.applications.ResNet152V2: pre-activation, stride in each stage's last block"))
    return v


VARIANTS: dict[str, Variant] = {variant.name: variant for variant in _variants()}

# A spec described by flags alone starts from this base (torchvision's ResNet-50 defaults).
CUSTOM = Variant("custom", "custom", ResNetSpec(), "described by flags", IMAGENET_INPUT)


def lookup(name: str) -> Variant | None:
    """The variant registered under ``name`` (case-insensitive, '-' = '_'), ``custom``, or None."""
    key = name.strip().lower().replace("-", "_")
    if key == "custom":
        return CUSTOM
    return VARIANTS.get(key)


def resolve(name: str) -> Variant:
    """The variant registered under ``name``, else a UsageError with the closest names."""
    variant = lookup(name)
    if variant is not None:
        return variant
    key = name.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(key, list(VARIANTS), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"unknown model '{name}'; {hint}run `resnet-cli list` for the {len(VARIANTS)} known names")
