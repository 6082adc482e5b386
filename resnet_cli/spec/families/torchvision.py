"""torchvision.models: checked against its weight metadata (num_params, GFLOPS) and its state_dict."""

from resnet_cli.spec.variant import BASIC, R18, R34, R101, R152, TV, Family, Variant

FAMILIES = (
    Family(
        "torchvision",
        "torchvision.models",
        "torchvision's weight metadata (num_params, GFLOPS) and its state_dict, loaded strictly, same outputs",
    ),
)

VARIANTS = (
    Variant(
        "resnet18",
        "torchvision",
        TV.replace(block=BASIC, layers=R18),
        "ResNet-18: basic blocks [2,2,2,2]",
        paper_gflops=1.8,
    ),
    Variant(
        "resnet34",
        "torchvision",
        TV.replace(block=BASIC, layers=R34),
        "ResNet-34: basic blocks [3,4,6,3]",
        paper_gflops=3.6,
        sibling_of="resnet18",
    ),
    Variant("resnet50", "torchvision", TV, "ResNet-50 v1.5: bottlenecks [3,4,6,3], stride on the 3x3 conv"),
    Variant(
        "resnet101",
        "torchvision",
        TV.replace(layers=R101),
        "ResNet-101 v1.5: bottlenecks [3,4,23,3]",
        sibling_of="resnet50",
    ),
    Variant(
        "resnet152",
        "torchvision",
        TV.replace(layers=R152),
        "ResNet-152 v1.5: bottlenecks [3,8,36,3]",
        sibling_of="resnet50",
    ),
    Variant(
        "resnext50_32x4d",
        "torchvision",
        TV.replace(groups=32, width_per_group=4),
        "ResNeXt-50 32x4d: 32 groups of width 4 in every 3x3 conv",
    ),
    Variant(
        "resnext101_32x8d",
        "torchvision",
        TV.replace(layers=R101, groups=32, width_per_group=8),
        "ResNeXt-101 32x8d: 32 groups of width 8",
        sibling_of="resnext50_32x4d",
    ),
    Variant(
        "resnext101_64x4d",
        "torchvision",
        TV.replace(layers=R101, groups=64, width_per_group=4),
        "ResNeXt-101 64x4d: 64 groups of width 4",
        sibling_of="resnext50_32x4d",
    ),
    Variant(
        "wide_resnet50_2",
        "torchvision",
        TV.replace(width_per_group=128),
        "Wide ResNet-50-2: bottleneck 3x3 convs twice as wide",
    ),
    Variant(
        "wide_resnet101_2",
        "torchvision",
        TV.replace(layers=R101, width_per_group=128),
        "Wide ResNet-101-2: bottleneck 3x3 convs twice as wide",
        sibling_of="wide_resnet50_2",
    ),
)
