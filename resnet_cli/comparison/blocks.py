"""``compare``: residual blocks layer by layer, or whole models operator by operator, from one analysis core.

Two comparisons, chosen by what is named:

* **blocks** (``basic``, ``bottleneck``, ``resnext-32x4d`` …): the real block modules of
  ``resnet_cli.nn.model`` built on the meta device, each at the width where ResNet uses it and all at one
  equal input/output width, every layer with the formula behind its count.
* **models** (registered names, ``path/to/file.py:callable``, ``package.module:callable``): aligned
  by structure and diagnosed in ``resnet_cli.comparison.models``; this module tells the two apart
  (``classify``).

Everything here returns frozen dataclasses of plain numbers; ``resnet_cli.views.compare_blocks`` renders them.
torch is imported by the functions that need it, never at import time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from resnet_cli.base.errors import UsageError
from resnet_cli.base.text import close_matches
from resnet_cli.spec import registry
from resnet_cli.spec.fields import BlockKind

DEFAULT_CHANNELS = 256
DEFAULT_SIZE = 56


# ---------------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockChoice:
    """A block kind as the command line names it, and the layer of a real network that uses it."""

    name: str
    block: BlockKind
    native_channels: int  # input = output width where the reference network uses it
    used_in: str
    groups: int = 1
    width_per_group: int = 64
    se: bool = False


_RESNEXT = re.compile(r"^resnext-?(\d+)x(\d+)d$")

# Every block at its identity-shortcut position in the first stage (layer1.1 of the reference), the
# block the paper's Figure 5 draws. Bottleneck-family blocks expand 4×, so they work at 256 there.
BLOCK_CHOICES: dict[str, BlockChoice] = {
    choice.name: choice
    for choice in (
        BlockChoice("basic", BlockKind.BASIC, 64, "resnet18/34 layer1"),
        BlockChoice("bottleneck", BlockKind.BOTTLENECK, 256, "resnet50 layer1"),
        BlockChoice("preact-basic", BlockKind.PREACT_BASIC, 64, "pre-activation ResNet-18/34 layer1"),
        BlockChoice("preact-bottleneck", BlockKind.PREACT_BOTTLENECK, 256, "resnetv2_50 layer1"),
        BlockChoice("resnext", BlockKind.BOTTLENECK, 256, "resnext50_32x4d layer1", groups=32, width_per_group=4),
        BlockChoice("wide", BlockKind.BOTTLENECK, 256, "wide_resnet50_2 layer1", width_per_group=128),
        BlockChoice("se", BlockKind.BOTTLENECK, 256, "seresnet50 layer1", se=True),
        BlockChoice("se-basic", BlockKind.BASIC, 64, "seresnet18/34 layer1 (timm)", se=True),
    )
}
BLOCK_NAMES_HELP = (
    "basic, bottleneck, preact-basic, preact-bottleneck, resnext (= resnext-32x4d; any resnext-GxWd), "
    "wide, se, se-basic"
)


def block_choice(name: str) -> BlockChoice | None:
    """The block kind ``name`` names (case-insensitive, '_' = '-'), or None."""
    key = name.strip().lower().replace("_", "-")
    if key in BLOCK_CHOICES:
        return BLOCK_CHOICES[key]
    match = _RESNEXT.match(key)
    if match:
        groups, width = int(match.group(1)), int(match.group(2))
        if groups < 1 or width < 1:
            raise UsageError(f"block kind '{name}': groups and width must be at least 1, e.g. resnext-32x4d")
        return BlockChoice(
            f"resnext-{groups}x{width}d",
            BlockKind.BOTTLENECK,
            256,
            f"ResNeXt {groups}x{width}d layer1",
            groups=groups,
            width_per_group=width,
        )
    return None


@dataclass(frozen=True)
class LayerCount:
    """One layer of a block that owns parameters, with the arithmetic behind its numbers."""

    name: str  # torchvision's module name inside the block: conv1, bn1, se.fc1 …
    layer: str  # what it is: "3×3 conv", "batch norm" …
    kernel: tuple[int, int] | None
    stride: int | None
    in_channels: int | None
    out_channels: int | None
    groups: int | None
    output_shape: tuple[int, ...] | None
    conv_weights: int
    bn_params: int
    other_params: int  # conv and linear biases
    params_formula: str  # k·k·Cin·Cout/groups, e.g. "3·3·64·64" (= conv_weights)
    macs: int
    macs_formula: str  # conv weights · Hout · Wout, e.g. "36,864·56·56" (= macs)
    flops: int  # fvcore's count, as every command reports FLOPs

    @property
    def params(self) -> int:
        return self.conv_weights + self.bn_params + self.other_params


@dataclass(frozen=True)
class BlockTotals:
    params: int
    conv_weights: int
    bn_params: int
    other_params: int
    macs: int
    flops: int


@dataclass(frozen=True)
class BlockCount:
    kind: str
    label: str  # "Bottleneck 256→64→256"
    used_in: str
    setting: str  # "as used" | "equal width"
    in_channels: int
    width: int  # the inner width (= out for basic blocks)
    out_channels: int
    groups: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    layers: tuple[LayerCount, ...]
    other_ops_macs: int  # costs outside any parameterised layer (SE's global mean, …)
    other_ops_flops: int
    totals: BlockTotals


@dataclass(frozen=True)
class BlockSection:
    setting: str
    title: str
    blocks: tuple[BlockCount, ...]


@dataclass(frozen=True)
class BlockComparison:
    kinds: tuple[str, ...]
    channels: int
    size: int
    sections: tuple[BlockSection, ...]


def _block_widths(choice: BlockChoice, channels: int) -> tuple[int, int]:
    """(planes, inner width) of ``choice`` with ``channels`` in and out, as torchvision computes them."""
    if not choice.block.is_bottleneck:
        return channels, channels
    if channels % 4:
        raise UsageError(
            f"--channels {channels}: a {choice.name} block expands 4×, so the width must be a multiple of 4"
        )
    planes = channels // 4
    per_group = int(planes * (choice.width_per_group / 64.0))
    if per_group < 1:
        raise UsageError(
            f"--channels {channels} is too narrow for {choice.name}: {planes} planes give "
            f"{planes}·{choice.width_per_group}/64 < 1 channel per group"
        )
    return planes, per_group * choice.groups


def build_block(choice: BlockChoice, channels: int):
    """The block module of ``resnet_cli.nn.model`` with an identity shortcut, built on the meta device."""
    import torch

    from resnet_cli.nn.model import BasicBlock, BlockConfig, Bottleneck

    planes, width = _block_widths(choice, channels)
    config = BlockConfig(cin=channels, planes=planes, se=choice.se, preact=choice.block.is_preact)
    with torch.device("meta"):
        if choice.block.is_bottleneck:
            return Bottleneck(replace(config, width=width, groups=choice.groups))
        return BasicBlock(config)


def _conv_formula(module, output_shape) -> tuple[str, str, int]:
    kh, kw = module.kernel_size
    weights = module.weight.numel()
    groups = f"/{module.groups}" if module.groups > 1 else ""
    params = f"{kh}·{kw}·{module.in_channels}·{module.out_channels}{groups}"
    if module.bias is not None:
        params += f" + {module.out_channels} bias"
    h, w = output_shape[-2:] if output_shape else (0, 0)
    return params, f"{weights:,}·{h}·{w}", weights


def _layer_count(name: str, module, record, ops) -> LayerCount:
    type_name = type(module).__name__
    macs = sum(op.macs for op in ops)
    flops = sum(op.fvcore_flops for op in ops)
    if type_name == "Conv2d":
        params_formula, macs_formula, weights = _conv_formula(module, record.output_shape)
        kh, kw = module.kernel_size
        return LayerCount(
            name,
            f"{kh}×{kw} conv",
            (kh, kw),
            module.stride[0],
            module.in_channels,
            module.out_channels,
            module.groups,
            record.output_shape,
            weights,
            0,
            record.params - weights,
            params_formula,
            macs,
            macs_formula,
            flops,
        )
    if type_name.startswith("BatchNorm"):
        return LayerCount(
            name,
            "batch norm",
            None,
            None,
            module.num_features,
            module.num_features,
            None,
            record.output_shape,
            0,
            record.params,
            0,
            f"2·{module.num_features} (γ, β)",
            macs,
            "",
            flops,
        )
    return LayerCount(
        name,
        type_name,
        None,
        None,
        None,
        None,
        None,
        record.output_shape,
        0,
        0,
        record.params,
        f"{record.params:,}",
        macs,
        "",
        flops,
    )


def count_block(choice: BlockChoice, channels: int, size: int, setting: str) -> BlockCount:
    """Build ``choice`` at ``channels`` on meta, run the analysis core at ``size``, and itemise it."""
    from resnet_cli.analysis.analyze import analyze
    from resnet_cli.report.rows import totals

    block = build_block(choice, channels)
    _, width = _block_widths(choice, channels)
    input_shape = (1, channels, size, size)
    analysis = analyze(block, input_shape)
    modules = dict(block.named_modules())
    ops_of: dict[str, list] = {}
    for op in analysis.ops:
        ops_of.setdefault(op.module, []).append(op)
    layers = tuple(
        _layer_count(record.name, modules[record.name], record, ops_of.get(record.name, ()))
        for record in analysis.modules
        if record.name and record.params
    )
    total = totals(analysis)
    out = channels
    if choice.block.is_bottleneck:
        label = f"{'Pre-act ' if choice.block.is_preact else ''}Bottleneck {channels}→{width}→{out}"
        if choice.groups > 1:
            label += f", {choice.groups} groups"
    else:
        label = f"{'Pre-act ' if choice.block.is_preact else ''}BasicBlock {channels}→{out}"
    if choice.se:
        label += " + SE"
    return BlockCount(
        kind=choice.name,
        label=label,
        used_in=choice.used_in,
        setting=setting,
        in_channels=channels,
        width=width,
        out_channels=out,
        groups=choice.groups,
        input_shape=input_shape,
        output_shape=analysis.output_shape,
        layers=layers,
        other_ops_macs=total.macs - sum(layer.macs for layer in layers),
        other_ops_flops=total.flops - sum(layer.flops for layer in layers),
        totals=BlockTotals(
            params=total.params,
            conv_weights=sum(layer.conv_weights for layer in layers),
            bn_params=sum(layer.bn_params for layer in layers),
            other_params=sum(layer.other_params for layer in layers),
            macs=total.macs,
            flops=total.flops,
        ),
    )


def compare_blocks(kinds: list[str], channels: int = DEFAULT_CHANNELS, size: int = DEFAULT_SIZE) -> BlockComparison:
    """Each block where ResNet uses it, then all at ``channels`` in and out, at ``size``×``size``."""
    if channels < 1:
        raise UsageError(f"--channels {channels}: must be at least 1")
    if size < 1:
        raise UsageError(f"--size {size}: must be at least 1")
    choices = []
    for kind in kinds:
        choice = block_choice(kind)
        if choice is None:
            raise UsageError(_unknown_message(kind))
        choices.append(choice)
    native = tuple(count_block(c, c.native_channels, size, "as used") for c in choices)
    equal = tuple(count_block(c, channels, size, "equal width") for c in choices)
    return BlockComparison(
        kinds=tuple(c.name for c in choices),
        channels=channels,
        size=size,
        sections=(
            BlockSection("as used", f"where ResNet uses them, at {size}×{size}", native),
            BlockSection("equal width", f"at equal width: {channels} channels in and out, at {size}×{size}", equal),
        ),
    )


# ---------------------------------------------------------------------------------------------------
# Names: which comparison, and a user's own model (the model comparison is resnet_cli.comparison.models)
# ---------------------------------------------------------------------------------------------------


def is_user_model(name: str) -> bool:
    from resnet_cli.sources.target import CHECKPOINT_SUFFIXES
    from resnet_cli.sources.usercode import is_reference

    return is_reference(name, CHECKPOINT_SUFFIXES)  # read as code exactly when resolve_target reads it so


def _unknown_message(name: str) -> str:
    candidates = list(BLOCK_CHOICES) + list(registry.VARIANTS)
    key = name.strip().lower().replace("_", "-")
    close = close_matches(key, candidates)
    close += [c for c in close_matches(key.replace("-", "_"), candidates) if c not in close]
    hint = f"did you mean {', '.join(close[:3])}? " if close else ""
    return (
        f"unknown block kind or model '{name}'; {hint}block kinds: {BLOCK_NAMES_HELP}; models: the "
        f"{len(registry.VARIANTS)} names of `resnet-cli list`, path/to/file.py:callable, "
        "package.module:callable, or a checkpoint file (.pt, .pth, .bin, .safetensors)"
    )


def _is_checkpoint(thing: str) -> bool:
    from resnet_cli.sources.target import CHECKPOINT_SUFFIXES

    return thing.lower().endswith(CHECKPOINT_SUFFIXES) or os.path.isfile(thing)


def classify(things: list[str]) -> str:
    """'blocks' or 'models' for the names given; a UsageError for too few, unknown or mixed names.

    One model alone is compared with its closest registered variant; blocks need two."""
    if not things or (len(things) == 1 and block_choice(things[0]) is not None):
        got = f"got {len(things)}{': ' + things[0] if things else ''}"
        raise UsageError(
            f"compare needs two block kinds or at least one model ({got}); e.g. `resnet-cli compare "
            "basic bottleneck`, `resnet-cli compare resnet50 resnet50d` or `resnet-cli compare "
            "my_resnet.py:build`"
        )
    kinds = []
    for thing in things:
        if is_user_model(thing):
            kinds.append("models")
        elif block_choice(thing) is not None:
            kinds.append("blocks")
        elif registry.lookup(thing) is not None or _is_checkpoint(thing):
            kinds.append("models")
        else:
            raise UsageError(_unknown_message(thing))
    if len(set(kinds)) > 1:
        blocks = [t for t, k in zip(things, kinds) if k == "blocks"]
        models = [t for t, k in zip(things, kinds) if k == "models"]
        raise UsageError(
            f"cannot compare block kinds ({', '.join(blocks)}) with models ({', '.join(models)}); "
            "compare blocks with blocks, or models with models"
        )
    return kinds[0]
