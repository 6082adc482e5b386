"""The CIFAR-10 nets of four papers: the ResNet paper's (section 4.2), pre-activation (Identity Mappings), Wide
ResNets and ResNeXt-29; and torchvision's ResNet-18/34 with the CIFAR stem."""

from resnet_cli.spec.variant import (
    CIFAR,
    CIFAR_B,
    CIFAR_IMAGENET,
    CIFAR_INPUT,
    PREACT_BASIC,
    PREACT_BOTTLENECK,
    R18,
    R34,
    Family,
    Variant,
)

FAMILIES = (
    Family(
        "cifar",
        "The ResNet paper's CIFAR-10 nets (section 4.2)",
        "the paper's Table 6 parameter counts and the count by hand; *_cifar: torchvision's, stem and fc swapped",
    ),
    Family(
        "preact-cifar",
        "Pre-activation CIFAR nets (He et al. 2016, Identity Mappings)",
        "the paper's 1.7M (164) and 10.2M (1001), and the count by hand",
    ),
    Family(
        "wide-cifar",
        "Wide ResNets on CIFAR (Zagoruyko & Komodakis 2016)",
        "the paper's 36.5M (WRN-28-10), 8.9M (WRN-40-4), 11.0M (WRN-16-8), and the count by hand",
    ),
    Family(
        "resnext-cifar",
        "ResNeXt-29 on CIFAR (Xie et al. 2017)",
        "the paper's 34.4M (8x64d) and 68.1M (16x64d), and the count by hand",
    ),
)

# the ResNet paper's 6n+2-layer nets
_PAPER = tuple(
    Variant(
        f"resnet{6 * n + 2}",
        "cifar",
        CIFAR.replace(layers=(n, n, n)),
        f"CIFAR-10 ResNet-{6 * n + 2} (paper section 4.2): 3 stages of {n} basic blocks, "
        "16/32/64 channels, option-A shortcuts",
        default_input=CIFAR_INPUT,
        sibling_of=None if n == 3 else "resnet20",
    )
    for n in (3, 5, 7, 9, 18, 200)
)
_TORCHVISION_STEMMED = (
    Variant(
        "resnet18_cifar",
        "cifar",
        CIFAR_IMAGENET.replace(layers=R18),
        "ResNet-18 for CIFAR-10: 3x3 stride-1 stem, no max-pool",
        default_input=CIFAR_INPUT,
    ),
    Variant(
        "resnet34_cifar",
        "cifar",
        CIFAR_IMAGENET.replace(layers=R34),
        "ResNet-34 for CIFAR-10: 3x3 stride-1 stem, no max-pool",
        default_input=CIFAR_INPUT,
        sibling_of="resnet18_cifar",
    ),
)
# the Identity Mappings paper's nets (He et al. 2016b): pre-activation, projection shortcuts; 9n+2 layers
_PREACT = (
    Variant(
        "preact_resnet110",
        "preact-cifar",
        CIFAR_B.replace(block=PREACT_BASIC, layers=(18, 18, 18)),
        "Pre-activation ResNet-110: 3 stages of 18 pre-act basic blocks, 16/32/64 channels",
        default_input=CIFAR_INPUT,
    ),
) + tuple(
    Variant(
        f"preact_resnet{9 * n + 2}",
        "preact-cifar",
        CIFAR_B.replace(block=PREACT_BOTTLENECK, layers=(n, n, n)),
        f"Pre-activation ResNet-{9 * n + 2}: 3 stages of {n} pre-act bottlenecks (64/128/256 out)",
        default_input=CIFAR_INPUT,
        sibling_of="preact_resnet164" if n == 111 else None,
    )
    for n in (18, 111)
)
# Wide ResNets (Zagoruyko & Komodakis 2016): WRN-d-k, (d-4)/6 pre-act basic blocks per stage, widths x k
_WIDE = tuple(
    Variant(
        f"wrn_{depth}_{k}",
        "wide-cifar",
        CIFAR_B.replace(block=PREACT_BASIC, layers=((depth - 4) // 6,) * 3, widths=(16 * k, 32 * k, 64 * k)),
        f"WRN-{depth}-{k}: 3 stages of {(depth - 4) // 6} pre-act basic blocks, {16 * k}/{32 * k}/{64 * k} channels",
        default_input=CIFAR_INPUT,
        sibling_of=None if depth == 28 else "wrn_28_10",
    )
    for depth, k in ((28, 10), (40, 4), (16, 8))
)
# ResNeXt-29 (Xie et al. 2017, section 5.2): 3 stages of 3 bottlenecks, C groups of 64 channels
_RESNEXT = tuple(
    Variant(
        f"resnext29_{c}x64d",
        "resnext-cifar",
        CIFAR_B.replace(layers=(3, 3, 3), widths=(64, 128, 256), stem_width=64, groups=c),
        f"ResNeXt-29 {c}x64d: 3 stages of 3 bottlenecks, {c} groups of 64 (x2 per stage)",
        default_input=CIFAR_INPUT,
        sibling_of="resnext29_8x64d" if c == 16 else None,
    )
    for c in (8, 16)
)

VARIANTS = _PAPER + _TORCHVISION_STEMMED + _PREACT + _WIDE + _RESNEXT
