"""One builder that turns any ``ResNetSpec`` into an ``nn.Module``.

Module names follow torchvision (``conv1``, ``bn1``, ``layer1.0.downsample.0`` …) so torchvision
checkpoints load with ``strict=True``; the deep stem, average-pool shortcut and squeeze-excitation follow
timm's names (``conv1.0``, ``downsample.1``, ``se.fc1``) so timm's ResNet-C/D/SE checkpoints load too.
Each block records what kind of shortcut it has (``shortcut_kind``) so reports can describe it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resnet_cli.spec import ConvBias, ResNetSpec, Shortcut, StemKind, StrideAt

# Shortcut kinds, as reports name them.
IDENTITY = "identity"
PROJECTION = "projection"
AVGPOOL_PROJECTION = "avg-pool projection"
ZERO_PAD = "zero-pad"
SUBSAMPLE = "subsampling"


def _conv(cin, cout, kernel, stride=1, groups=1, dilation=1, bias=False) -> nn.Conv2d:
    padding = dilation * (kernel - 1) // 2
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
                     bias=bias)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) as timm's SEModule: mean → 1×1 → ReLU → 1×1 → sigmoid → scale."""

    def __init__(self, channels: int, reduction: int = 16, divisor: int = 8) -> None:
        super().__init__()
        reduced = _make_divisible(channels / reduction, divisor)
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.fc2(self.act(self.fc1(scale)))
        return x * self.gate(scale)


def _make_divisible(value: float, divisor: int) -> int:
    # timm.layers.make_divisible with round_limit=0, as its SEModule calls it
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


class ZeroPadShortcut(nn.Module):
    """Option A of the ResNet paper: take every stride-th pixel and pad the new channels with zeros."""

    def __init__(self, stride: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.pad_front = (out_channels - in_channels) // 2
        self.pad_back = out_channels - in_channels - self.pad_front

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))


def _preact_shortcut(block: nn.Module, x: torch.Tensor, preact: torch.Tensor) -> torch.Tensor:
    # Projections read the pre-activated input (Keras ResNetV2, timm PreActBottleneck); a parameter-free
    # subsampling shortcut reads the block's raw input, as Keras's 1×1 max-pool does.
    if block.shortcut_kind in (PROJECTION, AVGPOOL_PROJECTION):
        return block.downsample(preact)
    return block.downsample(x) if block.downsample is not None else x


class BasicBlock(nn.Module):
    """Two 3×3 convs (torchvision's BasicBlock); ``preact`` moves BN-ReLU before each conv (He et al. 2016b)."""

    expansion = 1

    def __init__(self, cin, planes, stride, downsample, shortcut_kind, dilation, first_dilation, se,
                 preact, bias_policy):
        super().__init__()
        cout = planes
        self.preact = preact
        self.shortcut_kind = shortcut_kind
        if preact:
            self.bn1 = nn.BatchNorm2d(cin)
            self.relu = nn.ReLU(inplace=False)
            self.conv1 = _conv(cin, planes, 3, stride, dilation=first_dilation, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = _conv(planes, cout, 3, dilation=dilation, bias=bias_policy is not ConvBias.NONE)
        else:
            bias = bias_policy is ConvBias.ALL
            self.conv1 = _conv(cin, planes, 3, stride, dilation=first_dilation, bias=bias)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = _conv(planes, cout, 3, dilation=dilation, bias=bias)
            self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcite(cout) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            preact = self.relu(self.bn1(x))
            shortcut = _preact_shortcut(self, x, preact)
            out = self.conv1(preact)
            out = self.conv2(self.relu(self.bn2(out)))
            if self.se is not None:
                out = self.se(out)
            return out + shortcut
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        out += x if self.downsample is None else self.downsample(x)  # torchvision's order
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1 → 3×3 (grouped) → 1×1 (torchvision's Bottleneck); ``stride_on_1x1`` gives the paper's v1."""

    expansion = 4

    def __init__(self, cin, planes, stride, downsample, shortcut_kind, dilation, first_dilation, se,
                 preact, bias_policy, width, groups, stride_on_1x1):
        super().__init__()
        cout = planes * self.expansion
        self.preact = preact
        self.shortcut_kind = shortcut_kind
        stride1, stride3 = (stride, 1) if stride_on_1x1 else (1, stride)
        if preact:
            # Keras ResNetV2 / timm PreActBottleneck: BN-ReLU before every conv, no BN after the last
            tail_bias = bias_policy is not ConvBias.NONE
            self.bn1 = nn.BatchNorm2d(cin)
            self.conv1 = _conv(cin, width, 1, stride1, bias=bias_policy is ConvBias.ALL)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv2 = _conv(width, width, 3, stride3, groups, first_dilation, bias=bias_policy is ConvBias.ALL)
            self.bn3 = nn.BatchNorm2d(width)
            self.conv3 = _conv(width, cout, 1, bias=tail_bias)
            self.relu = nn.ReLU(inplace=False)
        else:
            bias = bias_policy is ConvBias.ALL
            self.conv1 = _conv(cin, width, 1, stride1, bias=bias)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = _conv(width, width, 3, stride3, groups, first_dilation, bias=bias)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = _conv(width, cout, 1, bias=bias)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(cout) if se else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            preact = self.relu(self.bn1(x))
            shortcut = _preact_shortcut(self, x, preact)
            out = self.conv1(preact)
            out = self.conv2(self.relu(self.bn2(out)))
            out = self.conv3(self.relu(self.bn3(out)))
            if self.se is not None:
                out = self.se(out)
            return out + shortcut
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        out += x if self.downsample is None else self.downsample(x)  # torchvision's order
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet built from a spec. ``spec`` is kept for reports; it never changes after construction."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        preact = spec.block.is_preact
        stem_bias = spec.conv_bias is ConvBias.ALL or (preact and spec.conv_bias is ConvBias.UNLESS_NORMALIZED)
        if spec.stem is StemKind.DEEP:
            inner = spec.stem_width // 2
            self.conv1 = nn.Sequential(
                _conv(spec.in_channels, inner, 3, 2, bias=spec.conv_bias is ConvBias.ALL),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                _conv(inner, inner, 3, 1, bias=spec.conv_bias is ConvBias.ALL),
                nn.BatchNorm2d(inner),
                nn.ReLU(inplace=True),
                _conv(inner, spec.stem_width, 3, 1, bias=stem_bias),
            )
        elif spec.stem is StemKind.CIFAR:
            self.conv1 = _conv(spec.in_channels, spec.stem_width, 3, 1, bias=stem_bias)
        else:
            self.conv1 = _conv(spec.in_channels, spec.stem_width, 7, 2, bias=stem_bias)
        if not preact:  # pre-activation nets normalise inside the first block instead
            self.bn1 = nn.BatchNorm2d(spec.stem_width)
            self.relu = nn.ReLU(inplace=True)
        if spec.stem_pool:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        cin = spec.stem_width
        dilations = spec.stage_dilations()
        for index in range(spec.num_stages):
            previous_dilation = dilations[index - 1] if index else 1
            stage, cin = self._make_stage(spec, index, cin, previous_dilation, dilations[index])
            self.add_module(f"layer{index + 1}", stage)

        if preact:  # the final BN-ReLU of a pre-activation net (Keras "post_bn")
            self.post_bn = nn.BatchNorm2d(cin)
            self.post_relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, spec.num_classes)

        if self.fc.weight.is_meta:  # nothing to initialise: meta tensors hold no values
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @staticmethod
    def _make_stage(spec: ResNetSpec, index: int, cin: int, previous_dilation: int, dilation: int):
        blocks = []
        cout = spec.out_channels(index)
        for block_index, stride in enumerate(spec.block_strides(index)):
            first = block_index == 0
            downsample, kind = _shortcut(spec, cin, cout, stride, first)
            common = dict(
                cin=cin, planes=spec.widths[index], stride=stride, downsample=downsample, shortcut_kind=kind,
                dilation=dilation, first_dilation=previous_dilation if first else dilation, se=spec.se,
                preact=spec.block.is_preact, bias_policy=spec.conv_bias,
            )
            if spec.block.is_bottleneck:
                blocks.append(Bottleneck(**common, width=spec.bottleneck_width(index), groups=spec.groups,
                                         stride_on_1x1=spec.stride_at is StrideAt.FIRST_1X1))
            else:
                blocks.append(BasicBlock(**common))
            cin = cout
        return nn.Sequential(*blocks), cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if hasattr(self, "bn1"):
            x = self.relu(self.bn1(x))
        if hasattr(self, "maxpool"):
            x = self.maxpool(x)
        for index in range(self.spec.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        if hasattr(self, "post_bn"):
            x = self.post_relu(self.post_bn(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def _shortcut(spec: ResNetSpec, cin: int, cout: int, stride: int, first: bool):
    """The shortcut module of one block and its kind."""
    preact = spec.block.is_preact
    shape_changes = stride != 1 or cin != cout
    # Keras ResNetV2 projects in every stage's first block (conv_shortcut=True) and subsamples the
    # last block's identity with a 1×1 max-pool.
    if preact and spec.stride_at is StrideAt.LAST_BLOCK:
        if first:
            shape_changes = True
        elif stride != 1 and cin == cout:
            return nn.MaxPool2d(kernel_size=1, stride=stride), SUBSAMPLE
    if not shape_changes:
        return None, IDENTITY
    bias = spec.conv_bias is ConvBias.ALL or (preact and spec.conv_bias is ConvBias.UNLESS_NORMALIZED)
    if spec.shortcut is Shortcut.ZERO_PAD:
        return ZeroPadShortcut(stride, cin, cout), ZERO_PAD
    if spec.shortcut is Shortcut.AVGPOOL:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        layers = [pool, nn.Conv2d(cin, cout, 1, bias=bias)]
        if not preact:
            layers.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*layers), AVGPOOL_PROJECTION
    if preact:  # the pre-activated input is projected; no BN after it (timm DownsampleConv preact=True)
        return nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), PROJECTION
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), nn.BatchNorm2d(cout)), PROJECTION


def build_model(spec: ResNetSpec, device: str | torch.device | None = None) -> ResNet:
    """Build the model for ``spec``; ``device='meta'`` allocates nothing (used for counting)."""
    if device is None:
        return ResNet(spec)
    with torch.device(device):
        return ResNet(spec)
