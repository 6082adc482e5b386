"""timm's ResNets: the C/D/S/T stems, squeeze-excitation and ECA, ResNet-RS, and ResNetV2 (pre-activation); each
checked against timm.create_model (parameters, FlopCounterMode MACs, state_dict loaded strictly, outputs)."""

from resnet_cli.spec.variant import (
    AVGPOOL,
    BASIC,
    DEEP,
    ECA,
    PREACT_BASIC,
    R14,
    R18,
    R26,
    R34,
    R101,
    R152,
    R200,
    R269,
    RS,
    SE,
    TIMM_V2,
    TV,
    D,
    Family,
    S,
    T,
    Variant,
)

FAMILIES = (
    Family(
        "timm",
        "timm: ResNet-C/D/S/T stems, SE, ECA, ResNet-RS, ResNetV2",
        "timm.create_model: parameters, FlopCounterMode MACs, state_dict loaded strictly, outputs within 1e-5",
    ),
)

# Bag of Tricks (C, D) and SE, as timm defines them
_TRICKS = (
    Variant(
        "resnet18d",
        "timm",
        D.replace(block=BASIC, layers=R18),
        "ResNet-18-D: deep 3x3 stem, avg-pool downsampling shortcut",
    ),
    Variant(
        "resnet34d",
        "timm",
        D.replace(block=BASIC, layers=R34),
        "ResNet-34-D: deep 3x3 stem, avg-pool downsampling shortcut",
        sibling_of="resnet18d",
    ),
    Variant("resnet50c", "timm", TV.replace(stem=DEEP), "ResNet-50-C: deep 3x3 stem instead of the 7x7 conv"),
    Variant("resnet50d", "timm", D, "ResNet-50-D: deep 3x3 stem, avg-pool downsampling shortcut"),
    Variant(
        "resnet101d",
        "timm",
        D.replace(layers=R101),
        "ResNet-101-D: deep 3x3 stem, avg-pool downsampling shortcut",
        sibling_of="resnet50d",
    ),
    Variant(
        "resnet152d",
        "timm",
        D.replace(layers=R152),
        "ResNet-152-D: deep 3x3 stem, avg-pool downsampling shortcut",
        sibling_of="resnet50d",
    ),
    Variant(
        "resnext50d_32x4d",
        "timm",
        D.replace(groups=32, width_per_group=4),
        "ResNeXt-50-D 32x4d: ResNeXt with the deep stem and avg-pool shortcut",
        sibling_of="resnet50d",
    ),
    Variant(
        "seresnet50",
        "timm",
        TV.replace(se=SE),
        "SE-ResNet-50: squeeze-and-excitation (ratio 1/16) after every bottleneck",
    ),
    Variant("resnetv2_50", "timm", TIMM_V2, "Pre-activation ResNet-50 (Identity Mappings): BN-ReLU before each conv"),
    Variant(
        "resnetv2_101",
        "timm",
        TIMM_V2.replace(layers=R101),
        "Pre-activation ResNet-101 (Identity Mappings): BN-ReLU before each conv",
        sibling_of="resnetv2_50",
    ),
)
# tiered "t" stems (24, 32, 64), the shallow and the 200-layer nets, the "s" stem
_STEMS = (
    Variant(
        "resnet10t",
        "timm",
        T.replace(block=BASIC, layers=R14),
        "ResNet-10-T: basic blocks [1,1,1,1], tiered 24/32/64 stem, avg-pool shortcut",
    ),
    Variant(
        "resnet14t",
        "timm",
        T.replace(layers=R14),
        "ResNet-14-T: bottlenecks [1,1,1,1], tiered 24/32/64 stem, avg-pool shortcut",
        sibling_of="resnet50t",
    ),
    Variant("resnet26", "timm", TV.replace(layers=R26), "ResNet-26: bottlenecks [2,2,2,2]", sibling_of="resnet50"),
    Variant(
        "resnet26d",
        "timm",
        D.replace(layers=R26),
        "ResNet-26-D: bottlenecks [2,2,2,2], deep stem, avg-pool shortcut",
        sibling_of="resnet50d",
    ),
    Variant(
        "resnet26t",
        "timm",
        T.replace(layers=R26),
        "ResNet-26-T: bottlenecks [2,2,2,2], tiered 24/32/64 stem, avg-pool shortcut",
        sibling_of="resnet50t",
    ),
    Variant("resnet50t", "timm", T, "ResNet-50-T: tiered 24/32/64 deep stem, avg-pool shortcut"),
    Variant("resnet50s", "timm", S, "ResNet-50-S: deep stem twice as wide (64/64/128 channels)"),
    Variant(
        "resnet200d",
        "timm",
        D.replace(layers=R200),
        "ResNet-200-D: bottlenecks [3,24,36,3], deep stem, avg-pool shortcut",
        sibling_of="resnet50d",
    ),
)
# ResNet-RS (Bello et al. 2021, "Revisiting ResNets")
_RS = (
    Variant("resnetrs50", "timm", RS, "ResNet-RS-50: ResNet-D, a strided 3x3 conv for the max-pool, SE ratio 1/4"),
    Variant(
        "resnetrs101",
        "timm",
        RS.replace(layers=R101),
        "ResNet-RS-101: ResNet-D, a strided 3x3 conv for the max-pool, SE ratio 1/4",
        sibling_of="resnetrs50",
    ),
)
# squeeze-excitation and efficient channel attention
_ATTENTION = (
    Variant(
        "seresnet18",
        "timm",
        TV.replace(block=BASIC, layers=R18, se=SE),
        "SE-ResNet-18: squeeze-excitation (1/16) after every basic block",
    ),
    Variant(
        "seresnext26d_32x4d",
        "timm",
        D.replace(layers=R26, groups=32, width_per_group=4, se=SE),
        "SE-ResNeXt-26-D 32x4d: [2,2,2,2], deep stem, avg-pool shortcut, SE",
    ),
    Variant(
        "seresnext26t_32x4d",
        "timm",
        T.replace(layers=R26, groups=32, width_per_group=4, se=SE),
        "SE-ResNeXt-26-T 32x4d: [2,2,2,2], tiered stem, avg-pool shortcut, SE",
    ),
    Variant(
        "seresnext50_32x4d",
        "timm",
        TV.replace(groups=32, width_per_group=4, se=SE),
        "SE-ResNeXt-50 32x4d: ResNeXt-50 with squeeze-excitation (1/16)",
        sibling_of="seresnet50",
    ),
    Variant(
        "ecaresnet26t",
        "timm",
        T.replace(layers=R26, se=ECA),
        "ECA-ResNet-26-T: tiered stem, avg-pool shortcut, ECA (a 1-D conv across channels)",
    ),
    Variant("ecaresnet50d", "timm", D.replace(se=ECA), "ECA-ResNet-50-D: ResNet-50-D with efficient channel attention"),
    Variant(
        "ecaresnetlight",
        "timm",
        TV.replace(layers=(1, 1, 11, 3), shortcut=AVGPOOL, se=ECA),
        "ECA-ResNet-light: bottlenecks [1,1,11,3], 7x7 stem, avg-pool shortcut, ECA",
    ),
    Variant(
        "ecaresnext26t_32x4d",
        "timm",
        T.replace(layers=R26, groups=32, width_per_group=4, se=ECA),
        "ECA-ResNeXt-26-T 32x4d: [2,2,2,2], tiered stem, avg-pool shortcut, ECA",
        sibling_of="ecaresnet26t",
    ),
)
# timm's ResNetV2 (pre-activation; its stem/stages/norm/head names are read as torchvision's)
_V2 = (
    Variant(
        "resnetv2_18",
        "timm",
        TIMM_V2.replace(block=PREACT_BASIC, layers=R18),
        "Pre-activation ResNet-18: pre-act basic blocks [2,2,2,2]",
    ),
    Variant(
        "resnetv2_50d",
        "timm",
        TIMM_V2.replace(stem=DEEP, shortcut=AVGPOOL),
        "Pre-activation ResNet-50-D: deep stem, avg-pool shortcut",
    ),
    Variant(
        "resnetv2_50t",
        "timm",
        TIMM_V2.replace(stem=DEEP, stem_widths=(24, 32, 64), shortcut=AVGPOOL),
        "Pre-activation ResNet-50-T: tiered 24/32/64 deep stem, avg-pool shortcut",
    ),
    Variant(
        "resnetv2_18d",
        "timm",
        TIMM_V2.replace(block=PREACT_BASIC, layers=R18, stem=DEEP, shortcut=AVGPOOL),
        "Pre-activation ResNet-18-D: pre-act basic blocks, deep stem, avg-pool shortcut",
    ),
)
# deeper and wider siblings of the above: the same fields, other depths and widths
# (name, the registered representative whose structure it shares, spec, description)
_SIBLINGS = (
    ("resnet101c", "resnet50c", TV.replace(stem=DEEP, layers=R101), "ResNet-101-C: deep stem"),
    ("resnet152c", "resnet50c", TV.replace(stem=DEEP, layers=R152), "ResNet-152-C: deep stem"),
    ("resnet101s", "resnet50s", S.replace(layers=R101), "ResNet-101-S: wide deep stem (64/64/128)"),
    ("resnet152s", "resnet50s", S.replace(layers=R152), "ResNet-152-S: wide deep stem (64/64/128)"),
    ("resnet200", "resnet50", TV.replace(layers=R200), "ResNet-200: bottlenecks [3,24,36,3]"),
    ("resnext101_32x4d", "resnext50_32x4d", TV.replace(layers=R101, groups=32, width_per_group=4), "ResNeXt-101 32x4d"),
    (
        "resnext101_32x16d",
        "resnext50_32x4d",
        TV.replace(layers=R101, groups=32, width_per_group=16),
        "ResNeXt-101 32x16d",
    ),
    (
        "resnext101_32x32d",
        "resnext50_32x4d",
        TV.replace(layers=R101, groups=32, width_per_group=32),
        "ResNeXt-101 32x32d",
    ),
    (
        "seresnet34",
        "seresnet18",
        TV.replace(block=BASIC, layers=R34, se=SE),
        "SE-ResNet-34: basic blocks [3,4,6,3], SE (1/16)",
    ),
    ("seresnet101", "seresnet50", TV.replace(layers=R101, se=SE), "SE-ResNet-101"),
    ("seresnet152", "seresnet50", TV.replace(layers=R152, se=SE), "SE-ResNet-152"),
    ("seresnet50t", "seresnext26t_32x4d", T.replace(se=SE), "SE-ResNet-50-T: tiered stem, avg-pool, SE"),
    ("seresnet152d", "seresnext26d_32x4d", D.replace(layers=R152, se=SE), "SE-ResNet-152-D"),
    ("seresnet200d", "seresnext26d_32x4d", D.replace(layers=R200, se=SE), "SE-ResNet-200-D"),
    ("seresnet269d", "seresnext26d_32x4d", D.replace(layers=R269, se=SE), "SE-ResNet-269-D: bottlenecks [3,30,48,8]"),
    (
        "seresnext101_32x4d",
        "seresnet50",
        TV.replace(layers=R101, groups=32, width_per_group=4, se=SE),
        "SE-ResNeXt-101 32x4d",
    ),
    (
        "seresnext101_32x8d",
        "seresnet50",
        TV.replace(layers=R101, groups=32, width_per_group=8, se=SE),
        "SE-ResNeXt-101 32x8d",
    ),
    (
        "seresnext101_64x4d",
        "seresnet50",
        TV.replace(layers=R101, groups=64, width_per_group=4, se=SE),
        "SE-ResNeXt-101 64x4d",
    ),
    (
        "seresnext101d_32x8d",
        "seresnext26d_32x4d",
        D.replace(layers=R101, groups=32, width_per_group=8, se=SE),
        "SE-ResNeXt-101-D 32x8d",
    ),
    ("ecaresnet50t", "ecaresnet26t", T.replace(se=ECA), "ECA-ResNet-50-T: tiered stem, ECA"),
    (
        "ecaresnext50t_32x4d",
        "ecaresnet26t",
        T.replace(groups=32, width_per_group=4, se=ECA),
        "ECA-ResNeXt-50-T 32x4d: tiered stem, ECA",
    ),
    ("ecaresnet101d", "ecaresnet50d", D.replace(layers=R101, se=ECA), "ECA-ResNet-101-D"),
    ("ecaresnet200d", "ecaresnet50d", D.replace(layers=R200, se=ECA), "ECA-ResNet-200-D"),
    ("ecaresnet269d", "ecaresnet50d", D.replace(layers=R269, se=ECA), "ECA-ResNet-269-D: bottlenecks [3,30,48,8]"),
    ("resnetrs152", "resnetrs50", RS.replace(layers=R152), "ResNet-RS-152"),
    ("resnetrs200", "resnetrs50", RS.replace(layers=R200), "ResNet-RS-200"),
    ("resnetrs270", "resnetrs50", RS.replace(layers=(4, 29, 53, 4)), "ResNet-RS-270: [4,29,53,4]"),
    ("resnetrs350", "resnetrs50", RS.replace(layers=(4, 36, 72, 4)), "ResNet-RS-350: [4,36,72,4]"),
    ("resnetrs420", "resnetrs50", RS.replace(layers=(4, 44, 87, 4)), "ResNet-RS-420: [4,44,87,4]"),
    ("resnetv2_34", "resnetv2_18", TIMM_V2.replace(block=PREACT_BASIC, layers=R34), "Pre-activation ResNet-34"),
    (
        "resnetv2_34d",
        "resnetv2_18d",
        TIMM_V2.replace(block=PREACT_BASIC, layers=R34, stem=DEEP, shortcut=AVGPOOL),
        "Pre-activation ResNet-34-D",
    ),
    ("resnetv2_152", "resnetv2_50", TIMM_V2.replace(layers=R152), "Pre-activation ResNet-152"),
    (
        "resnetv2_101d",
        "resnetv2_50d",
        TIMM_V2.replace(layers=R101, stem=DEEP, shortcut=AVGPOOL),
        "Pre-activation ResNet-101-D",
    ),
    (
        "resnetv2_152d",
        "resnetv2_50d",
        TIMM_V2.replace(layers=R152, stem=DEEP, shortcut=AVGPOOL),
        "Pre-activation ResNet-152-D",
    ),
)

VARIANTS = (
    _TRICKS
    + _STEMS
    + _RS
    + _ATTENTION
    + _V2
    + tuple(
        Variant(name, "timm", spec, description, sibling_of=representative)
        for name, representative, spec, description in _SIBLINGS
    )
)
