"""The ResNet paper's v1 (He et al. 2015): the stride on the first 1x1 conv of a downsampling bottleneck."""

from resnet_cli.spec.variant import R101, R152, V1, Family, Variant

FAMILIES = (
    Family(
        "paper",
        "The ResNet paper's v1 (He et al. 2015)",
        "the paper's Table 1 GFLOPs (multiply-adds); torchvision's parameter counts (the same tensors)",
    ),
)

VARIANTS = (
    Variant("resnet50_v1", "paper", V1, "ResNet-50 as published: stride on the first 1x1 conv", paper_gflops=3.8),
    Variant(
        "resnet101_v1",
        "paper",
        V1.replace(layers=R101),
        "ResNet-101 as published: stride on the first 1x1 conv",
        paper_gflops=7.6,
        sibling_of="resnet50_v1",
    ),
    Variant(
        "resnet152_v1",
        "paper",
        V1.replace(layers=R152),
        "ResNet-152 as published: stride on the first 1x1 conv",
        paper_gflops=11.3,
        sibling_of="resnet50_v1",
    ),
)
