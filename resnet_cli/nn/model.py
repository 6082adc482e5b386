"""One builder that turns any ``ResNetSpec`` into an ``nn.Module``.

Module names follow torchvision (``conv1``, ``bn1``, ``layer1.0.downsample.0`` …) so torchvision
checkpoints load with ``strict=True``; the deep stem, the conv stem pool, average-pool shortcut and channel
attention follow timm's names (``conv1.0``, ``maxpool.0``, ``downsample.1``, ``se.fc1``, ``se.conv``) so timm's
ResNet-C/D/S/T, SE, ECA and ResNet-RS checkpoints load too. Activation modules are named after their kind
(``relu``, ``silu``). Each block records its shortcut kind (``shortcut_kind``) so reports can describe it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from resnet_cli.nn import parts
from resnet_cli.spec.fields import (
    AVGPOOL_PROJECTION,
    IDENTITY,
    PROJECTION,
    SUBSAMPLE,
    ZERO_PAD,
    Activation,
    Attention,
    AttentionAt,
    ConvBias,
    ResNetSpec,
    StemKind,
    StemPool,
    StrideAt,
)


def _conv(cin, cout, kernel, stride=1, groups=1, dilation=1, bias=False) -> nn.Conv2d:
    padding = dilation * (kernel - 1) // 2
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)


def _preact_shortcut(block: nn.Module, x: torch.Tensor, preact: torch.Tensor) -> torch.Tensor:
    # Projections read the pre-activated input (Keras ResNetV2, timm PreActBottleneck); a parameter-free
    # subsampling shortcut reads the block's raw input, as Keras's 1×1 max-pool does.
    if block.shortcut_kind in (PROJECTION, AVGPOOL_PROJECTION):
        return block.downsample(preact)
    return block.downsample(x) if block.downsample is not None else x


@dataclass(frozen=True)
class BlockConfig:
    """Everything one residual block is built from but its shortcut module: widths, strides, dilations, the
    attention, the bias policy, the activation and the stochastic depth rate. ``width``, ``groups`` and
    ``stride_on_1x1`` are read by bottlenecks only; ``expansion`` None means the block class's own."""

    cin: int
    planes: int
    stride: int = 1
    shortcut_kind: str = IDENTITY
    dilation: int = 1
    first_dilation: int = 1
    se: Attention | bool = Attention.NONE
    preact: bool = False
    bias_policy: ConvBias = ConvBias.NONE
    se_reduction: int = 16
    se_at: AttentionAt = AttentionAt.STANDARD
    activation: Activation = Activation.RELU
    drop_path: float = 0.0
    expansion: int | None = None
    width: int | None = None  # a bottleneck's inner width; None means planes
    groups: int = 1
    stride_on_1x1: bool = False

    def out_channels(self, block_expansion: int) -> int:
        return self.planes * (block_expansion if self.expansion is None else self.expansion)


class _Residual(nn.Module):
    """What every block shares: the attention slot (``se``, timm's name, wherever ``se_at`` puts it), stochastic
    depth (``drop_path``, only when its rate is above 0, as in timm) and the activation (named after its kind)."""

    def _common(self, config: BlockConfig, cout: int, downsample: nn.Module | None) -> None:
        self.preact = config.preact
        self.shortcut_kind = config.shortcut_kind
        self.se_at = AttentionAt(config.se_at)
        self.act_name = Activation(config.activation).value
        self.add_module(self.act_name, parts.activation(Activation(config.activation), inplace=not config.preact))
        self.se = parts.attention(config.se, config.cin if self.se_at is AttentionAt.PRE else cout, config.se_reduction)
        self.downsample = downsample
        self.drop_path = parts.DropPath(config.drop_path) if config.drop_path > 0 else None

    @property
    def act(self) -> nn.Module:
        return self._modules[self.act_name]

    def _attend(self, x: torch.Tensor, where: AttentionAt) -> torch.Tensor:
        return self.se(x) if self.se is not None and self.se_at is where else x

    def _merge(self, out: torch.Tensor, x: torch.Tensor, shortcut: torch.Tensor | None = None) -> torch.Tensor:
        """The residual branch's output joined to the shortcut: attention, drop path, addition (then the
        activation, unless pre-activation), attention after the addition. The shortcut of ``x`` is computed
        here, after the residual branch, in torchvision's and timm's order, unless given."""
        out = self._attend(out, AttentionAt.STANDARD)
        if self.drop_path is not None:
            out = self.drop_path(out)
        if shortcut is None:
            shortcut = x if self.downsample is None else self.downsample(x)
        shortcut = self._attend(shortcut, AttentionAt.IDENTITY)
        if self.preact:
            out = out + shortcut
        else:
            out += shortcut  # torchvision's order
            out = self.act(out)
        return self._attend(out, AttentionAt.POST)


class BasicBlock(_Residual):
    """Two 3×3 convs (torchvision's BasicBlock); ``preact`` moves BN-ReLU before each conv (He et al. 2016b)."""

    expansion = 1

    def __init__(self, config: BlockConfig, downsample: nn.Module | None = None):
        super().__init__()
        cin, planes, stride, bias_policy = config.cin, config.planes, config.stride, config.bias_policy
        dilation, first_dilation = config.dilation, config.first_dilation
        cout = config.out_channels(self.expansion)
        if config.preact:
            self.bn1 = nn.BatchNorm2d(cin)
            self.conv1 = _conv(cin, planes, 3, stride, dilation=first_dilation, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = _conv(planes, cout, 3, dilation=dilation, bias=bias_policy is not ConvBias.NONE)
        else:
            bias = bias_policy is ConvBias.ALL
            self.conv1 = _conv(cin, planes, 3, stride, dilation=first_dilation, bias=bias)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = _conv(planes, cout, 3, dilation=dilation, bias=bias)
            self.bn2 = nn.BatchNorm2d(cout)
        self._common(config, cout, downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            preact = self.act(self.bn1(x))
            shortcut = _preact_shortcut(self, x, preact)
            out = self.conv1(self._attend(preact, AttentionAt.PRE))
            out = self.conv2(self.act(self.bn2(out)))
            return self._merge(out, x, shortcut)
        out = self.act(self.bn1(self.conv1(self._attend(x, AttentionAt.PRE))))
        out = self.bn2(self.conv2(out))
        return self._merge(out, x)


class Bottleneck(_Residual):
    """1×1 → 3×3 (grouped) → 1×1 (torchvision's Bottleneck); ``stride_on_1x1`` gives the paper's v1."""

    expansion = 4

    def __init__(self, config: BlockConfig, downsample: nn.Module | None = None):
        super().__init__()
        cin, stride, bias_policy, groups = config.cin, config.stride, config.bias_policy, config.groups
        first_dilation = config.first_dilation
        width = config.planes if config.width is None else config.width
        cout = config.out_channels(self.expansion)
        stride1, stride3 = (stride, 1) if config.stride_on_1x1 else (1, stride)
        if config.preact:
            # Keras ResNetV2 / timm PreActBottleneck: BN-ReLU before every conv, no BN after the last
            tail_bias = bias_policy is not ConvBias.NONE
            self.bn1 = nn.BatchNorm2d(cin)
            self.conv1 = _conv(cin, width, 1, stride1, bias=bias_policy is ConvBias.ALL)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv2 = _conv(width, width, 3, stride3, groups, first_dilation, bias=bias_policy is ConvBias.ALL)
            self.bn3 = nn.BatchNorm2d(width)
            self.conv3 = _conv(width, cout, 1, bias=tail_bias)
        else:
            bias = bias_policy is ConvBias.ALL
            self.conv1 = _conv(cin, width, 1, stride1, bias=bias)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = _conv(width, width, 3, stride3, groups, first_dilation, bias=bias)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = _conv(width, cout, 1, bias=bias)
            self.bn3 = nn.BatchNorm2d(cout)
        self._common(config, cout, downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            preact = self.act(self.bn1(x))
            shortcut = _preact_shortcut(self, x, preact)
            out = self.conv1(self._attend(preact, AttentionAt.PRE))
            out = self.conv2(self.act(self.bn2(out)))
            out = self.conv3(self.act(self.bn3(out)))
            return self._merge(out, x, shortcut)
        out = self.act(self.bn1(self.conv1(self._attend(x, AttentionAt.PRE))))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self._merge(out, x)


class ResNet(nn.Module):
    """A ResNet built from a spec. ``spec`` is kept for reports; it never changes after construction."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        preact = spec.block.is_preact
        act = spec.activation
        self.act_name = act.value
        stem_bias = spec.conv_bias is ConvBias.ALL or (preact and spec.conv_bias is ConvBias.UNLESS_NORMALIZED)
        if spec.stem is StemKind.DEEP:
            first, second, out = spec.deep_stem_widths()
            inner_bias = spec.conv_bias is ConvBias.ALL
            self.conv1 = nn.Sequential(
                _conv(spec.in_channels, first, 3, 2, bias=inner_bias),
                nn.BatchNorm2d(first),
                parts.activation(act, inplace=True),
                _conv(first, second, 3, 1, bias=inner_bias),
                nn.BatchNorm2d(second),
                parts.activation(act, inplace=True),
                _conv(second, out, 3, 1, bias=stem_bias),
            )
        elif spec.stem is StemKind.CIFAR:
            self.conv1 = _conv(spec.in_channels, spec.stem_width, 3, 1, bias=stem_bias)
        else:
            self.conv1 = _conv(spec.in_channels, spec.stem_width, 7, 2, bias=stem_bias)
        if not preact:  # pre-activation nets normalise inside the first block instead
            self.bn1 = nn.BatchNorm2d(spec.stem_width)
            self.add_module(self.act_name, parts.activation(act, inplace=True))
        if spec.stem_pool is StemPool.MAX:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif spec.stem_pool is StemPool.ZERO_MAX:  # Keras ResNetV2: ZeroPadding2D(1), MaxPooling2D(3, 2)
            self.maxpool = nn.Sequential(nn.ZeroPad2d(1), nn.MaxPool2d(kernel_size=3, stride=2))
        elif spec.stem_pool is StemPool.CONV:
            # ResNet-RS: a strided 3x3 conv replaces the max-pool; timm keeps the name 'maxpool' for its weights
            self.maxpool = nn.Sequential(
                _conv(spec.stem_width, spec.stem_width, 3, 2, bias=spec.conv_bias is ConvBias.ALL),
                nn.BatchNorm2d(spec.stem_width),
                parts.activation(act, inplace=True),
            )

        cin = spec.stem_width
        dilations = spec.stage_dilations()
        for index in range(spec.num_stages):
            previous_dilation = dilations[index - 1] if index else 1
            stage, cin = self._make_stage(spec, index, cin, previous_dilation, dilations[index])
            self.add_module(f"layer{index + 1}", stage)

        if preact:  # the final BN-ReLU of a pre-activation net (Keras "post_bn")
            self.post_bn = nn.BatchNorm2d(cin)
            self.add_module("post_" + self.act_name, parts.activation(act, inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, spec.num_classes)

        for module in self.modules():  # --bn-eps, --bn-momentum: every BatchNorm alike (Keras's: 1.001e-5, 0.01)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eps, module.momentum = spec.bn_eps, spec.bn_momentum
        if not self.fc.weight.is_meta:  # meta tensors hold no values
            self.initialise()

    def initialise(self) -> None:
        """torchvision's initialisation: He-normal (fan-out) convolution weights, BatchNorm scale 1 and shift 0 and
        fresh running statistics; every other parameter or buffer as its module's own ``reset_parameters``
        draws it (a convolution's bias as ``nn.Conv2d`` does). Also what a model built on the meta device and
        materialised with ``to_empty`` needs (``build_model``): it sets every value."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:  # nn.Conv2d's own: uniform in ±1/√fan_in
                    bound = 1 / math.sqrt(module.weight[0].numel())
                    nn.init.uniform_(module.bias, -bound, bound)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()  # running mean 0, variance 1, count 0; weight 1, bias 0
            elif hasattr(module, "reset_parameters"):
                module.reset_parameters()
            elif any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(False)):
                raise TypeError(f"{type(module).__name__} holds tensors and has no reset_parameters")

    @staticmethod
    def _make_stage(spec: ResNetSpec, index: int, cin: int, previous_dilation: int, dilation: int):
        blocks = []
        cout = spec.out_channels(index)
        first_block = sum(spec.layers[:index])
        total_blocks = sum(spec.layers)
        for block_index, stride in enumerate(spec.block_strides(index)):
            first = block_index == 0
            downsample, kind = _shortcut(spec, cin, cout, stride, first)
            # timm's stochastic depth rule: the rate rises linearly from 0 at the first block of the network
            drop_path = spec.drop_path_rate * (first_block + block_index) / max(total_blocks - 1, 1)
            config = BlockConfig(
                cin=cin,
                planes=spec.widths[index],
                stride=stride,
                shortcut_kind=kind,
                dilation=dilation,
                first_dilation=previous_dilation if first else dilation,
                se=spec.se,
                preact=spec.block.is_preact,
                bias_policy=spec.conv_bias,
                se_reduction=spec.se_reduction,
                se_at=spec.se_at,
                activation=spec.activation,
                drop_path=drop_path,
                expansion=spec.block_expansion,
            )
            if spec.block.is_bottleneck:
                config = replace(
                    config,
                    width=spec.bottleneck_width(index),
                    groups=spec.groups,
                    stride_on_1x1=spec.stride_at is StrideAt.FIRST_1X1,
                )
                blocks.append(Bottleneck(config, downsample))
            else:
                blocks.append(BasicBlock(config, downsample))
            cin = cout
        return nn.Sequential(*blocks), cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if hasattr(self, "bn1"):
            x = self._modules[self.act_name](self.bn1(x))
        if hasattr(self, "maxpool"):
            x = self.maxpool(x)
        for index in range(self.spec.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        if hasattr(self, "post_bn"):
            x = self._modules["post_" + self.act_name](self.post_bn(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        if self.spec.drop_rate and self.training:
            x = F.dropout(x, p=self.spec.drop_rate, training=True)
        return self.fc(x)


def _shortcut(spec: ResNetSpec, cin: int, cout: int, stride: int, first: bool):
    """The shortcut module of one block (``spec.shortcut_of`` decides which) and its kind."""
    kind = spec.shortcut_of(cin, cout, stride, first)
    bias = spec.shortcut_bias
    if kind == IDENTITY:
        return None, kind
    if kind == SUBSAMPLE:
        return nn.MaxPool2d(kernel_size=1, stride=stride), kind
    if kind == ZERO_PAD:
        return parts.ZeroPadShortcut(stride, cin, cout), kind
    if kind == AVGPOOL_PROJECTION:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        modules = [pool, nn.Conv2d(cin, cout, 1, bias=bias)]
        if not spec.block.is_preact:
            modules.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*modules), kind
    if spec.block.is_preact:  # the pre-activated input is projected; no BN after it (timm DownsampleConv preact)
        return nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), kind
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), nn.BatchNorm2d(cout)), kind


def build_model(spec: ResNetSpec, device: str | torch.device | None = None) -> ResNet:
    """Build the model for ``spec``; ``device='meta'`` allocates nothing (used for counting). A real model is
    built on the meta device, then materialised and initialised once (``ResNet.initialise``): built directly,
    every convolution's weight would be drawn twice, by ``nn.Conv2d`` and again by the He-normal
    initialisation (0.1 s of resnet50's 0.25 s on 2 cores)."""
    with torch.device("meta"):
        model = ResNet(spec)
    if device is not None and torch.device(device).type == "meta":
        return model
    _materialise(model, torch.device(device) if device is not None else torch.get_default_device())
    model.initialise()
    return model


def _materialise(model: nn.Module, device: torch.device) -> None:
    """``model.to_empty(device)`` with ``torch.empty`` from each shape: ``to_empty``'s ``empty_like`` of a meta
    tensor runs torch's Python reference (about 3 ms a tensor and, the first time, an import of torch._refs)."""
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            fresh = torch.empty(param.shape, dtype=param.dtype, device=device)
            module._parameters[name] = nn.Parameter(fresh, requires_grad=param.requires_grad)
        for name, buffer in module.named_buffers(recurse=False):
            module._buffers[name] = torch.empty(buffer.shape, dtype=buffer.dtype, device=device)
