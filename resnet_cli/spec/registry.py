"""The named variants: data, one entry each, never a function per variant.

Every entry is a ``Variant``: its spec, the family it belongs to, its default input and one line on what
makes it different. Every family names the outside reference its variants are checked against (``FAMILIES``;
the tests in tests/test_references.py and tests/test_families.py). ``resolve`` looks a name up (suggesting the
closest names when it is unknown).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from resnet_cli.base.errors import UsageError
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


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("torchvision", "torchvision.models",
           "torchvision's weight metadata (num_params, GFLOPS) and its state_dict, loaded strictly, same outputs"),
    Family("paper", "The ResNet paper's v1 (He et al. 2015)",
           "the paper's Table 1 GFLOPs (multiply-adds); torchvision's parameter counts (the same tensors)"),
    Family("timm", "timm: ResNet-C/D/S/T stems, SE, ECA, ResNet-RS, ResNetV2",
           "timm.create_model: parameters, FlopCounterMode MACs, state_dict loaded strictly, outputs within 1e-5"),
    Family("cifar", "The ResNet paper's CIFAR-10 nets (section 4.2)",
           "the paper's Table 6 parameter counts and the count by hand; *_cifar: torchvision's, stem and fc swapped"),
    Family("preact-cifar", "Pre-activation CIFAR nets (He et al. 2016, Identity Mappings)",
           "the paper's 1.7M (164) and 10.2M (1001), and the count by hand"),
    Family("wide-cifar", "Wide ResNets on CIFAR (Zagoruyko & Komodakis 2016)",
           "the paper's 36.5M (WRN-28-10), 8.9M (WRN-40-4), 11.0M (WRN-16-8), and the count by hand"),
    Family("resnext-cifar", "ResNeXt-29 on CIFAR (Xie et al. 2017)",
           "the paper's 34.4M (8x64d) and 68.1M (16x64d), and the count by hand"),
    Family("keras", "keras.applications, rebuilt in PyTorch",
           "the Total / Trainable / Non-trainable params Keras's model.summary() prints"),
)}


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


_BASIC = BlockKind.BASIC
_BOTTLENECK = BlockKind.BOTTLENECK
_PREACT_BASIC = BlockKind.PREACT_BASIC
_PREACT_BOTTLENECK = BlockKind.PREACT_BOTTLENECK
_R18, _R34, _R50, _R101, _R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
_R200 = (3, 24, 36, 3)
_R26, _R14 = (2, 2, 2, 2), (1, 1, 1, 1)

_TV = ResNetSpec()  # torchvision's defaults: bottleneck v1.5, 7x7 stem, projection shortcuts
_V1 = ResNetSpec(stride_at=StrideAt.FIRST_1X1)
# timm's "d": deep 3x3 stem (32, 32, 64) and average-pool downsampling shortcuts
_D = ResNetSpec(stem=StemKind.DEEP, shortcut=Shortcut.AVGPOOL)
# timm's "t": the tiered deep stem (24, 32, 64) and average-pool shortcuts
_T = _D.replace(stem_widths=(24, 32, 64))
# timm's "s": the deep stem twice as wide (64, 64, 128), projection shortcuts
_S = ResNetSpec(stem=StemKind.DEEP, stem_width=128)
# ResNet-RS (Bello et al. 2021) as timm builds it: D, a strided conv for the stem max-pool, SE with ratio 1/4
_RS = _D.replace(stem_pool=StemPool.CONV, se=Attention.SE, se_reduction=4)
_CIFAR = ResNetSpec(
    block=_BASIC,
    widths=(16, 32, 64),
    stem=StemKind.CIFAR,
    stem_width=16,
    stem_pool=StemPool.NONE,
    shortcut=Shortcut.ZERO_PAD,
    num_classes=10,
)
_CIFAR_IMAGENET = ResNetSpec(block=_BASIC, stem=StemKind.CIFAR, stem_pool=StemPool.NONE, num_classes=10)
# The CIFAR nets of the follow-up papers: a 3x3/1 stem, no pool, projection shortcuts (fb.resnet.torch's 'B')
_CIFAR_B = ResNetSpec(widths=(16, 32, 64), stem=StemKind.CIFAR, stem_width=16, stem_pool=StemPool.NONE,
                      num_classes=10)
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
                "ResNet-34: basic blocks [3,4,6,3]", paper_gflops=3.6, sibling_of="resnet18"))
    add(Variant("resnet50", "torchvision", _TV,
                "ResNet-50 v1.5: bottlenecks [3,4,6,3], stride on the 3x3 conv"))
    add(Variant("resnet101", "torchvision", _TV.replace(layers=_R101),
                "ResNet-101 v1.5: bottlenecks [3,4,23,3]", sibling_of="resnet50"))
    add(Variant("resnet152", "torchvision", _TV.replace(layers=_R152),
                "ResNet-152 v1.5: bottlenecks [3,8,36,3]", sibling_of="resnet50"))
    add(Variant("resnext50_32x4d", "torchvision", _TV.replace(groups=32, width_per_group=4),
                "ResNeXt-50 32x4d: 32 groups of width 4 in every 3x3 conv"))
    add(Variant("resnext101_32x8d", "torchvision", _TV.replace(layers=_R101, groups=32, width_per_group=8),
                "ResNeXt-101 32x8d: 32 groups of width 8", sibling_of="resnext50_32x4d"))
    add(Variant("resnext101_64x4d", "torchvision", _TV.replace(layers=_R101, groups=64, width_per_group=4),
                "ResNeXt-101 64x4d: 64 groups of width 4", sibling_of="resnext50_32x4d"))
    add(Variant("wide_resnet50_2", "torchvision", _TV.replace(width_per_group=128),
                "Wide ResNet-50-2: bottleneck 3x3 convs twice as wide"))
    add(Variant("wide_resnet101_2", "torchvision", _TV.replace(layers=_R101, width_per_group=128),
                "Wide ResNet-101-2: bottleneck 3x3 convs twice as wide", sibling_of="wide_resnet50_2"))
    # --- the original paper's v1 ---
    add(Variant("resnet50_v1", "paper", _V1,
                "ResNet-50 as published: stride on the first 1x1 conv", paper_gflops=3.8))
    add(Variant("resnet101_v1", "paper", _V1.replace(layers=_R101),
                "ResNet-101 as published: stride on the first 1x1 conv", paper_gflops=7.6, sibling_of="resnet50_v1"))
    add(Variant("resnet152_v1", "paper", _V1.replace(layers=_R152),
                "ResNet-152 as published: stride on the first 1x1 conv", paper_gflops=11.3, sibling_of="resnet50_v1"))
    # --- Bag of Tricks / SE, as timm defines them ---
    add(Variant("resnet18d", "timm", _D.replace(block=_BASIC, layers=_R18),
                "ResNet-18-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet34d", "timm", _D.replace(block=_BASIC, layers=_R34),
                "ResNet-34-D: deep 3x3 stem, avg-pool downsampling shortcut", sibling_of="resnet18d"))
    add(Variant("resnet50c", "timm", _TV.replace(stem=StemKind.DEEP),
                "ResNet-50-C: deep 3x3 stem instead of the 7x7 conv"))
    add(Variant("resnet50d", "timm", _D,
                "ResNet-50-D: deep 3x3 stem, avg-pool downsampling shortcut"))
    add(Variant("resnet101d", "timm", _D.replace(layers=_R101),
                "ResNet-101-D: deep 3x3 stem, avg-pool downsampling shortcut", sibling_of="resnet50d"))
    add(Variant("resnet152d", "timm", _D.replace(layers=_R152),
                "ResNet-152-D: deep 3x3 stem, avg-pool downsampling shortcut", sibling_of="resnet50d"))
    add(Variant("resnext50d_32x4d", "timm", _D.replace(groups=32, width_per_group=4),
                "ResNeXt-50-D 32x4d: ResNeXt with the deep stem and avg-pool shortcut", sibling_of="resnet50d"))
    add(Variant("seresnet50", "timm", _TV.replace(se=Attention.SE),
                "SE-ResNet-50: squeeze-and-excitation (ratio 1/16) after every bottleneck"))
    add(Variant("resnetv2_50", "timm", _TIMM_V2,
                "Pre-activation ResNet-50 (Identity Mappings): BN-ReLU before each conv"))
    add(Variant("resnetv2_101", "timm", _TIMM_V2.replace(layers=_R101),
                "Pre-activation ResNet-101 (Identity Mappings): BN-ReLU before each conv", sibling_of="resnetv2_50"))
    # tiered "t" stems (24, 32, 64), the shallow and the 200-layer nets, the "s" stem
    add(Variant("resnet10t", "timm", _T.replace(block=_BASIC, layers=_R14),
                "ResNet-10-T: basic blocks [1,1,1,1], tiered 24/32/64 stem, avg-pool shortcut"))
    add(Variant("resnet14t", "timm", _T.replace(layers=_R14),
                "ResNet-14-T: bottlenecks [1,1,1,1], tiered 24/32/64 stem, avg-pool shortcut", sibling_of="resnet50t"))
    add(Variant("resnet26", "timm", _TV.replace(layers=_R26), "ResNet-26: bottlenecks [2,2,2,2]",
    sibling_of="resnet50"))
    add(Variant("resnet26d", "timm", _D.replace(layers=_R26),
                "ResNet-26-D: bottlenecks [2,2,2,2], deep stem, avg-pool shortcut", sibling_of="resnet50d"))
    add(Variant("resnet26t", "timm", _T.replace(layers=_R26),
                "ResNet-26-T: bottlenecks [2,2,2,2], tiered 24/32/64 stem, avg-pool shortcut", sibling_of="resnet50t"))
    add(Variant("resnet50t", "timm", _T, "ResNet-50-T: tiered 24/32/64 deep stem, avg-pool shortcut"))
    add(Variant("resnet50s", "timm", _S, "ResNet-50-S: deep stem twice as wide (64/64/128 channels)"))
    add(Variant("resnet200d", "timm", _D.replace(layers=_R200),
                "ResNet-200-D: bottlenecks [3,24,36,3], deep stem, avg-pool shortcut", sibling_of="resnet50d"))
    # ResNet-RS (Bello et al. 2021, "Revisiting ResNets")
    add(Variant("resnetrs50", "timm", _RS,
                "ResNet-RS-50: ResNet-D, a strided 3x3 conv for the max-pool, SE ratio 1/4"))
    add(Variant("resnetrs101", "timm", _RS.replace(layers=_R101),
                "ResNet-RS-101: ResNet-D, a strided 3x3 conv for the max-pool, SE ratio 1/4", sibling_of="resnetrs50"))
    # squeeze-excitation and efficient channel attention
    add(Variant("seresnet18", "timm", _TV.replace(block=_BASIC, layers=_R18, se=Attention.SE),
                "SE-ResNet-18: squeeze-excitation (1/16) after every basic block"))
    add(Variant("seresnext26d_32x4d", "timm", _D.replace(layers=_R26, groups=32, width_per_group=4, se=Attention.SE),
                "SE-ResNeXt-26-D 32x4d: [2,2,2,2], deep stem, avg-pool shortcut, SE"))
    add(Variant("seresnext26t_32x4d", "timm", _T.replace(layers=_R26, groups=32, width_per_group=4, se=Attention.SE),
                "SE-ResNeXt-26-T 32x4d: [2,2,2,2], tiered stem, avg-pool shortcut, SE"))
    add(Variant("seresnext50_32x4d", "timm", _TV.replace(groups=32, width_per_group=4, se=Attention.SE),
                "SE-ResNeXt-50 32x4d: ResNeXt-50 with squeeze-excitation (1/16)", sibling_of="seresnet50"))
    add(Variant("ecaresnet26t", "timm", _T.replace(layers=_R26, se=Attention.ECA),
                "ECA-ResNet-26-T: tiered stem, avg-pool shortcut, ECA (a 1-D conv across channels)"))
    add(Variant("ecaresnet50d", "timm", _D.replace(se=Attention.ECA),
                "ECA-ResNet-50-D: ResNet-50-D with efficient channel attention"))
    add(Variant("ecaresnetlight", "timm", _TV.replace(layers=(1, 1, 11, 3), shortcut=Shortcut.AVGPOOL, se=Attention.ECA),
                "ECA-ResNet-light: bottlenecks [1,1,11,3], 7x7 stem, avg-pool shortcut, ECA"))
    add(Variant("ecaresnext26t_32x4d", "timm",
                _T.replace(layers=_R26, groups=32, width_per_group=4, se=Attention.ECA),
                "ECA-ResNeXt-26-T 32x4d: [2,2,2,2], tiered stem, avg-pool shortcut, ECA", sibling_of="ecaresnet26t"))
    # timm's ResNetV2 (pre-activation; its stem/stages/norm/head names are read as torchvision's)
    add(Variant("resnetv2_18", "timm", _TIMM_V2.replace(block=_PREACT_BASIC, layers=_R18),
                "Pre-activation ResNet-18: pre-act basic blocks [2,2,2,2]"))
    add(Variant("resnetv2_50d", "timm", _TIMM_V2.replace(stem=StemKind.DEEP, shortcut=Shortcut.AVGPOOL),
                "Pre-activation ResNet-50-D: deep stem, avg-pool shortcut"))
    add(Variant("resnetv2_50t", "timm",
                _TIMM_V2.replace(stem=StemKind.DEEP, stem_widths=(24, 32, 64), shortcut=Shortcut.AVGPOOL),
                "Pre-activation ResNet-50-T: tiered 24/32/64 deep stem, avg-pool shortcut"))
    # timm's deeper and wider siblings of the above: the same fields, other depths and widths
    _R269 = (3, 30, 48, 8)
    siblings = (
        ("resnet101c", "resnet50c", _TV.replace(stem=StemKind.DEEP, layers=_R101), "ResNet-101-C: deep stem"),
        ("resnet152c", "resnet50c", _TV.replace(stem=StemKind.DEEP, layers=_R152), "ResNet-152-C: deep stem"),
        ("resnet101s", "resnet50s", _S.replace(layers=_R101), "ResNet-101-S: wide deep stem (64/64/128)"),
        ("resnet152s", "resnet50s", _S.replace(layers=_R152), "ResNet-152-S: wide deep stem (64/64/128)"),
        ("resnet200", "resnet50", _TV.replace(layers=_R200), "ResNet-200: bottlenecks [3,24,36,3]"),
        ("resnext101_32x4d", "resnext50_32x4d", _TV.replace(layers=_R101, groups=32, width_per_group=4),
         "ResNeXt-101 32x4d"),
        ("resnext101_32x16d", "resnext50_32x4d", _TV.replace(layers=_R101, groups=32, width_per_group=16),
         "ResNeXt-101 32x16d"),
        ("resnext101_32x32d", "resnext50_32x4d", _TV.replace(layers=_R101, groups=32, width_per_group=32),
         "ResNeXt-101 32x32d"),
        ("seresnet34", "seresnet18", _TV.replace(block=_BASIC, layers=_R34, se=Attention.SE),
         "SE-ResNet-34: basic blocks [3,4,6,3], SE (1/16)"),
        ("seresnet101", "seresnet50", _TV.replace(layers=_R101, se=Attention.SE), "SE-ResNet-101"),
        ("seresnet152", "seresnet50", _TV.replace(layers=_R152, se=Attention.SE), "SE-ResNet-152"),
        ("seresnet50t", "seresnext26t_32x4d", _T.replace(se=Attention.SE), "SE-ResNet-50-T: tiered stem, avg-pool, SE"),
        ("seresnet152d", "seresnext26d_32x4d", _D.replace(layers=_R152, se=Attention.SE), "SE-ResNet-152-D"),
        ("seresnet200d", "seresnext26d_32x4d", _D.replace(layers=_R200, se=Attention.SE), "SE-ResNet-200-D"),
        ("seresnet269d", "seresnext26d_32x4d", _D.replace(layers=_R269, se=Attention.SE),
         "SE-ResNet-269-D: bottlenecks [3,30,48,8]"),
        ("seresnext101_32x4d", "seresnet50", _TV.replace(layers=_R101, groups=32, width_per_group=4,
                                                                se=Attention.SE), "SE-ResNeXt-101 32x4d"),
        ("seresnext101_32x8d", "seresnet50", _TV.replace(layers=_R101, groups=32, width_per_group=8,
                                                                se=Attention.SE), "SE-ResNeXt-101 32x8d"),
        ("seresnext101_64x4d", "seresnet50", _TV.replace(layers=_R101, groups=64, width_per_group=4,
                                                                se=Attention.SE), "SE-ResNeXt-101 64x4d"),
        ("seresnext101d_32x8d", "seresnext26d_32x4d", _D.replace(layers=_R101, groups=32, width_per_group=8,
                                                                 se=Attention.SE), "SE-ResNeXt-101-D 32x8d"),
        ("ecaresnet50t", "ecaresnet26t", _T.replace(se=Attention.ECA), "ECA-ResNet-50-T: tiered stem, ECA"),
        ("ecaresnext50t_32x4d", "ecaresnet26t", _T.replace(groups=32, width_per_group=4, se=Attention.ECA),
         "ECA-ResNeXt-50-T 32x4d: tiered stem, ECA"),
        ("ecaresnet101d", "ecaresnet50d", _D.replace(layers=_R101, se=Attention.ECA), "ECA-ResNet-101-D"),
        ("ecaresnet200d", "ecaresnet50d", _D.replace(layers=_R200, se=Attention.ECA), "ECA-ResNet-200-D"),
        ("ecaresnet269d", "ecaresnet50d", _D.replace(layers=_R269, se=Attention.ECA),
         "ECA-ResNet-269-D: bottlenecks [3,30,48,8]"),
        ("resnetrs152", "resnetrs50", _RS.replace(layers=_R152), "ResNet-RS-152"),
        ("resnetrs200", "resnetrs50", _RS.replace(layers=_R200), "ResNet-RS-200"),
        ("resnetrs270", "resnetrs50", _RS.replace(layers=(4, 29, 53, 4)), "ResNet-RS-270: [4,29,53,4]"),
        ("resnetrs350", "resnetrs50", _RS.replace(layers=(4, 36, 72, 4)), "ResNet-RS-350: [4,36,72,4]"),
        ("resnetrs420", "resnetrs50", _RS.replace(layers=(4, 44, 87, 4)), "ResNet-RS-420: [4,44,87,4]"),
        ("resnetv2_34", "resnetv2_18", _TIMM_V2.replace(block=_PREACT_BASIC, layers=_R34),
         "Pre-activation ResNet-34"),
        ("resnetv2_34d", "resnetv2_18d", _TIMM_V2.replace(block=_PREACT_BASIC, layers=_R34, stem=StemKind.DEEP,
                                                         shortcut=Shortcut.AVGPOOL), "Pre-activation ResNet-34-D"),
        ("resnetv2_152", "resnetv2_50", _TIMM_V2.replace(layers=_R152), "Pre-activation ResNet-152"),
        ("resnetv2_101d", "resnetv2_50d", _TIMM_V2.replace(layers=_R101, stem=StemKind.DEEP,
                                                           shortcut=Shortcut.AVGPOOL), "Pre-activation ResNet-101-D"),
        ("resnetv2_152d", "resnetv2_50d", _TIMM_V2.replace(layers=_R152, stem=StemKind.DEEP,
                                                           shortcut=Shortcut.AVGPOOL), "Pre-activation ResNet-152-D"),
    )
    add(Variant("resnetv2_18d", "timm", _TIMM_V2.replace(block=_PREACT_BASIC, layers=_R18, stem=StemKind.DEEP,
                                                         shortcut=Shortcut.AVGPOOL),
                "Pre-activation ResNet-18-D: pre-act basic blocks, deep stem, avg-pool shortcut"))
    for name, representative, spec, description in siblings:
        add(Variant(name, "timm", spec, description, sibling_of=representative))
    # --- the ResNet paper's CIFAR-10 nets (section 4.2): 6n+2 layers ---
    for n in (3, 5, 7, 9, 18, 200):
        depth = 6 * n + 2
        add(Variant(f"resnet{depth}", "cifar", _CIFAR.replace(layers=(n, n, n)),
                    f"CIFAR-10 ResNet-{depth} (paper section 4.2): 3 stages of {n} basic blocks, "
                    "16/32/64 channels, option-A shortcuts",
                    default_input=CIFAR_INPUT, sibling_of=None if n == 3 else "resnet20"))
    add(Variant("resnet18_cifar", "cifar", _CIFAR_IMAGENET.replace(layers=_R18),
                "ResNet-18 for CIFAR-10: 3x3 stride-1 stem, no max-pool", default_input=CIFAR_INPUT))
    add(Variant("resnet34_cifar", "cifar", _CIFAR_IMAGENET.replace(layers=_R34),
                "ResNet-34 for CIFAR-10: 3x3 stride-1 stem, no max-pool", default_input=CIFAR_INPUT,
                sibling_of="resnet18_cifar"))
    # --- the Identity Mappings paper's CIFAR nets (He et al. 2016b): pre-activation, projection shortcuts ---
    add(Variant("preact_resnet110", "preact-cifar", _CIFAR_B.replace(block=_PREACT_BASIC, layers=(18, 18, 18)),
                "Pre-activation ResNet-110: 3 stages of 18 pre-act basic blocks, 16/32/64 channels",
                default_input=CIFAR_INPUT))
    for n in (18, 111):
        depth = 9 * n + 2
        add(Variant(f"preact_resnet{depth}", "preact-cifar",
                    _CIFAR_B.replace(block=_PREACT_BOTTLENECK, layers=(n, n, n)),
                    f"Pre-activation ResNet-{depth}: 3 stages of {n} pre-act bottlenecks (64/128/256 out)",
                    default_input=CIFAR_INPUT, sibling_of="preact_resnet164" if n == 111 else None))
    # --- Wide ResNets (Zagoruyko & Komodakis 2016): WRN-d-k, (d-4)/6 pre-act basic blocks per stage, widths x k ---
    for depth, k in ((28, 10), (40, 4), (16, 8)):
        n = (depth - 4) // 6
        add(Variant(f"wrn_{depth}_{k}", "wide-cifar",
                    _CIFAR_B.replace(block=_PREACT_BASIC, layers=(n, n, n), widths=(16 * k, 32 * k, 64 * k)),
                    f"WRN-{depth}-{k}: 3 stages of {n} pre-act basic blocks, {16 * k}/{32 * k}/{64 * k} channels",
                    default_input=CIFAR_INPUT, sibling_of=None if depth == 28 else "wrn_28_10"))
    # --- ResNeXt-29 (Xie et al. 2017, section 5.2): 3 stages of 3 bottlenecks, C groups of 64 channels ---
    for cardinality in (8, 16):
        add(Variant(f"resnext29_{cardinality}x64d", "resnext-cifar",
                    _CIFAR_B.replace(layers=(3, 3, 3), widths=(64, 128, 256), stem_width=64, groups=cardinality),
                    f"ResNeXt-29 {cardinality}x64d: 3 stages of 3 bottlenecks, {cardinality} groups of 64 (x2 per "
                    "stage)", default_input=CIFAR_INPUT, sibling_of="resnext29_8x64d" if cardinality == 16 else None))
    # --- Keras Applications, rebuilt in PyTorch ---
    add(Variant("resnet50_keras", "keras", _KERAS_V1,
                "keras.applications.ResNet50: v1 stride placement, every conv with a bias"))
    add(Variant("resnet101_keras", "keras", _KERAS_V1.replace(layers=_R101),
                "keras.applications.ResNet101: v1 stride placement, every conv with a bias",
                sibling_of="resnet50_keras"))
    add(Variant("resnet152_keras", "keras", _KERAS_V1.replace(layers=_R152),
                "keras.applications.ResNet152: v1 stride placement, every conv with a bias",
                sibling_of="resnet50_keras"))
    add(Variant("resnet50v2_keras", "keras", _KERAS_V2,
                "keras.applications.ResNet50V2: pre-activation, stride in each stage's last block"))
    add(Variant("resnet101v2_keras", "keras", _KERAS_V2.replace(layers=_R101),
                "keras.applications.ResNet101V2: pre-activation, stride in each stage's last block",
                sibling_of="resnet50v2_keras"))
    add(Variant("resnet152v2_keras", "keras", _KERAS_V2.replace(layers=_R152),
                "keras.applications.ResNet152V2: pre-activation, stride in each stage's last block",
                sibling_of="resnet50v2_keras"))
    return v


VARIANTS: dict[str, Variant] = {variant.name: variant for variant in _variants()}

# A spec described by flags alone starts from this base (torchvision's ResNet-50 defaults).
CUSTOM = Variant("custom", "custom", ResNetSpec(), "described by flags", IMAGENET_INPUT)


def in_family(family: str | None) -> list[Variant]:
    """The variants of ``family`` (every variant for None), in registry order."""
    return [v for v in VARIANTS.values() if family is None or v.family == family]


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
