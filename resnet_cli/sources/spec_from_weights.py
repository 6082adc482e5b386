"""What a ResNet checkpoint's tensors say about its architecture: the spec, read from names and shapes.

Names are read in torchvision's layout (which timm's ``ResNet`` and this project share: ``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``) after renaming timm's ``ResNetV2`` layout (``stem.conv``,
``stages.0.blocks.0.norm1``, ``norm``, ``head.fc``) into it. From them:

* block kind: a third conv in the blocks (``conv3``) means bottlenecks; BatchNorm before the convs
  (a block ``bn1`` as wide as the block's input, no stem ``bn1``) means pre-activation;
* stages and blocks per stage from the ``layerN.M`` indices; widths from the last conv's output (÷4 for
  bottlenecks); groups from the 3×3 weight's input channels; width per group from the 3×3's width;
* the stem: a 7×7 conv, three 3×3 convs (``conv1.0/3/6``, the deep stem, with their three widths: timm's tiered
  24/32/64 stem is ``--stem-widths 24,32,64``) or one 3×3 conv (CIFAR), its width and the input channels; a conv
  where the max-pool sits (``maxpool.0``: ResNet-RS's strided conv); the shortcut: a 1×1 conv first
  (projection), a conv after a pooling (``downsample.1``: average-pool, ResNet-D) or none where the shape
  changes (zero-padding, option A);
* the blocks' expansion (output over stage width), taking 4 for bottlenecks wherever the tensors allow it;
* channel attention: squeeze-excitation (``se.fc1``, its reduction ratio from fc1's shape; on the block's input
  when fc1 is as wide as the input, ``--se-at pre``) or ECA (``se.conv``); conv biases; the classes (``fc``).

Weights cannot tell where a stride sits (v1 and v1.5 hold the same tensors), nor whether the stem has a
max-pool or a stage is dilated, nor the activation, the drop rates, or whether an attention as wide as its
block's output sits before the addition, after it or on the shortcut: the inference takes torchvision's and
timm's choices there (standard placement, no drops) and says so for the first four. In timm's ResNetV2 layout an
average-pool shortcut holds the same tensors as
a projection; every ResNetV2 timm registers with a deep stem averages, so a deep stem is read as ``avgpool``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from resnet_cli.base.errors import OptionError, UsageError
from resnet_cli.base.values import shown
from resnet_cli.sources.weight_names import to_torchvision_names
from resnet_cli.spec import registry
from resnet_cli.spec.fields import (
    Attention,
    AttentionAt,
    BlockKind,
    ConvBias,
    Flag,
    ResNetSpec,
    Shortcut,
    StemKind,
    StemPool,
    make_divisible,
)
from resnet_cli.spec.naming import flag_value

# said with every checkpoint (the drop rates, which change nothing outside training, and the place of an attention
# as wide as its block's output — standard, post or identity — are not: see the module's docstring)
UNREADABLE = (
    "stride placement (v1 and v1.5 hold the same tensors; v1.5 assumed)",
    "dilation (none assumed)",
    "the stem max-pool (assumed for 7x7 and deep stems, not for CIFAR stems)",
    "the activation (ReLU assumed)",
    "the BatchNorm eps and momentum (1e-5, 0.1 assumed)",
)


@dataclass(frozen=True)
class Inferred:
    spec: ResNetSpec
    variant: registry.Variant | None  # the registered variant with exactly this spec
    flags: tuple[str, ...]  # the flags that rebuild it on `custom`


def infer(path: str) -> Inferred:
    """Read ``path`` and infer its spec (UsageError if its tensors are not a ResNet's)."""
    from resnet_cli.sources import checkpoint

    shapes = {k: tuple(v.shape) for k, v in to_torchvision_names(checkpoint.read(path)).items()}
    try:
        spec = spec_of(shapes, path)
    except (KeyError, ValueError, IndexError, ZeroDivisionError, TypeError):
        # names of a ResNet but a layout the reading does not follow (timm's legacy SENets number their
        # stages from 1 with other block names, …): not a ResNet checkpoint this tool can read
        raise UsageError(
            f"'{shown(path)}': its tensors' names and shapes do not follow a ResNet layout this tool "
            "reads (torchvision's, timm's ResNet and ResNetV2, this project's); analyse your model's "
            "code instead (path/to/file.py:callable) with --weights"
        ) from None
    from resnet_cli.sources import keras_files

    if keras_files.is_keras_file(path):  # what keras.applications' layout fixes and tensors cannot tell
        spec = keras_files.keras_spec(spec)
    return Inferred(spec, identify(spec), rebuild_flags(spec))


def _need(shapes: dict, name: str, path: str) -> tuple[int, ...]:
    if name not in shapes:
        raise UsageError(
            f"'{shown(path)}' holds no '{name}' tensor, so it is not a ResNet checkpoint this tool can "
            "read (expected torchvision/timm names: conv1, layer1.0.conv1 …, fc); analyse your model's "
            "code instead (path/to/file.py:callable) with --weights"
        )
    return shapes[name]


def spec_of(shapes: dict[str, tuple[int, ...]], path: str = "checkpoint") -> ResNetSpec:
    stages = sorted({int(m.group(1)) for k in shapes for m in [re.match(r"^layer(\d+)\.", k)] if m})
    if not stages or stages != list(range(1, len(stages) + 1)):
        _need(shapes, "layer1.0.conv1.weight", path)
    layers = tuple(
        1 + max(int(m.group(1)) for k in shapes for m in [re.match(rf"^layer{i}\.(\d+)\.", k)] if m) for i in stages
    )
    bottleneck = "layer1.0.conv3.weight" in shapes
    preact = "bn1.weight" not in shapes  # pre-activation nets normalise inside the first block instead
    # the stem
    stem_widths: tuple[int, ...] = ()
    if "conv1.0.weight" in shapes:
        stem = StemKind.DEEP
        first, last = _need(shapes, "conv1.0.weight", path), _need(shapes, "conv1.6.weight", path)
        second = _need(shapes, "conv1.3.weight", path)
        in_channels, stem_width = first[1], last[0]
        if (first[0], second[0]) != (stem_width // 2, stem_width // 2) or stem_width % 2:
            stem_widths = (first[0], second[0], stem_width)  # e.g. timm's tiered 24, 32, 64
        stem_bias = "conv1.6.bias" in shapes
    else:
        weight = _need(shapes, "conv1.weight", path)
        stem = StemKind.CONV7 if weight[2:] == (7, 7) else StemKind.CIFAR if weight[2:] == (3, 3) else None
        if stem is None:
            raise UsageError(
                f"'{shown(path)}': a {weight[2]}x{weight[3]} stem conv is not one of the stems this tool "
                "builds (7x7, deep, cifar); analyse your model's code instead with --weights"
            )
        in_channels, stem_width = weight[1], weight[0]
        stem_bias = "conv1.bias" in shapes
    stem_pool = (
        StemPool.CONV if "maxpool.0.weight" in shapes else StemPool.NONE if stem is StemKind.CIFAR else StemPool.MAX
    )
    # the blocks
    if bottleneck:
        expansion, widths, groups, width_per_group = _bottleneck_widths(shapes, stages, path)
    else:
        expansion, widths = _basic_widths(shapes, stages, path)
        groups, width_per_group = 1, 64
    shortcut = Shortcut.PROJECTION
    if any(re.match(r"^layer\d+\.\d+\.downsample\.1\.weight$", k) and len(shapes[k]) == 4 for k in shapes):
        shortcut = Shortcut.AVGPOOL
    elif not any(".downsample." in k for k in shapes):
        shortcut = Shortcut.ZERO_PAD
    block_bias = any(re.match(r"^layer\d+\.\d+\.conv1\.bias$", k) for k in shapes)
    conv_bias = ConvBias.ALL if block_bias else (ConvBias.UNLESS_NORMALIZED if preact and stem_bias else ConvBias.NONE)
    fc = _need(shapes, "fc.weight", path)
    kind = {
        (False, False): BlockKind.BASIC,
        (True, False): BlockKind.BOTTLENECK,
        (False, True): BlockKind.PREACT_BASIC,
        (True, True): BlockKind.PREACT_BOTTLENECK,
    }[(bottleneck, preact)]
    default_expansion = kind.expansion
    se, se_reduction, se_at = _attention(shapes, stages, "conv3" if bottleneck else "conv2", stem_width, path)
    spec = ResNetSpec(
        block=kind,
        layers=layers,
        widths=tuple(widths),
        stem=stem,
        stem_width=stem_width,
        stem_widths=stem_widths,
        stem_pool=stem_pool,
        shortcut=shortcut,
        groups=groups,
        width_per_group=width_per_group,
        expansion=None if expansion == default_expansion else expansion,
        se=se,
        se_reduction=se_reduction,
        se_at=se_at,
        conv_bias=conv_bias,
        num_classes=fc[0],
        in_channels=in_channels,
    )
    try:
        return spec.validate()
    except OptionError as error:  # named as flags on the command line, as fields from Python (its template)
        raise OptionError(
            f"'{OptionError.literal(shown(path))}': its tensors describe a ResNet the flags reject ({error.template})"
        ) from None
    except UsageError as error:
        raise UsageError(f"'{shown(path)}': its tensors describe a ResNet the flags reject ({error})") from None


def _basic_widths(shapes: dict, stages: list[int], path: str) -> tuple[int, list[int]]:
    """(expansion, stage widths) of basic blocks: conv1 is as wide as the stage, conv2 expansion times that."""
    widths, expansions = [], set()
    for stage in stages:
        width = _need(shapes, f"layer{stage}.0.conv1.weight", path)[0]
        out = _need(shapes, f"layer{stage}.0.conv2.weight", path)[0]
        widths.append(width)
        expansions.add(out // width if out % width == 0 else None)
    if len(expansions) != 1 or None in expansions:
        raise UsageError(
            f"'{shown(path)}': its blocks' output widths are no one multiple of their first convs', "
            "which the flags cannot express; analyse your model's code instead with --weights"
        )
    return expansions.pop(), widths


def _bottleneck_widths(shapes: dict, stages: list[int], path: str) -> tuple[int, list[int], int, int]:
    """(expansion, stage widths, groups, width per group) of bottlenecks. The tensors give each stage's output
    and its 3x3 conv's width and groups; the stage width behind them is out / expansion, and the 3x3's width
    int(stage width · width per group / 64) · groups. Expansion 4 (every published bottleneck) is taken
    wherever one width per group then explains every stage; else width per group 64 (a plain bottleneck)."""
    outs, convs = [], []
    for stage in stages:
        outs.append(_need(shapes, f"layer{stage}.0.conv3.weight", path)[0])
        convs.append(_need(shapes, f"layer{stage}.0.conv2.weight", path)[:2])  # (width, width per group)
    groups = {width // per_group for width, per_group in convs}
    if len(groups) == 1:
        group_count = groups.pop()
        for expansion in (4, None):
            if expansion is None:  # width per group 64: the 3x3's per-group width is the stage width
                ratios = {out / per_group for out, (_, per_group) in zip(outs, convs)}
                if len(ratios) != 1 or not float(next(iter(ratios))).is_integer():
                    continue
                expansion = int(ratios.pop())
            if any(out % expansion for out in outs):
                continue
            planes = [out // expansion for out in outs]
            wpgs = {
                per_group * 64 // p if (per_group * 64) % p == 0 else None for p, (_, per_group) in zip(planes, convs)
            }
            if len(wpgs) == 1 and None not in wpgs:
                return expansion, planes, group_count, wpgs.pop()
    raise UsageError(
        f"'{shown(path)}': its 3x3 convs' widths do not follow one width per group across stages, "
        "which the flags cannot express; analyse your model's code instead with --weights"
    )


def _attention(
    shapes: dict, stages: list[int], last_conv: str, stem_width: int, path: str
) -> tuple[Attention, int, AttentionAt]:
    """The blocks' channel attention: (kind, squeeze-excitation reduction ratio, placement)."""
    if any(k.endswith(".se.conv.weight") for k in shapes):
        return Attention.ECA, 16, AttentionAt.STANDARD
    fc1 = [shape for k, shape in shapes.items() if k.endswith(".se.fc1.weight")]
    if not fc1:
        return Attention.NONE, 16, AttentionAt.STANDARD
    # squeeze-excitation as wide as a block's input where that differs from its output sits on the input
    placement = AttentionAt.STANDARD
    cin = stem_width
    for stage in stages:
        cout = shapes[f"layer{stage}.0.{last_conv}.weight"][0]
        fc1_in = shapes.get(f"layer{stage}.0.se.fc1.weight", (0, 0))[1]
        if cin != cout and fc1_in == cin:
            placement = AttentionAt.PRE
        cin = cout
    # the ratio r with make_divisible(C / r, 8) equal to every fc1's width; timm's 16 first, then the smallest
    for reduction in [16] + list(range(1, 257)):
        if all(make_divisible(channels / reduction, 8) == reduced for reduced, channels, *_ in fc1):
            return Attention.SE, reduction, placement
    raise UsageError(
        f"'{shown(path)}': its squeeze-excitation widths follow no one reduction ratio, which the flags "
        "cannot express; analyse your model's code instead with --weights"
    )


def identify(spec: ResNetSpec) -> registry.Variant | None:
    """The first registered variant whose spec equals ``spec``."""
    return next((v for v in registry.VARIANTS.values() if v.spec == spec), None)


def rebuild_flags(spec: ResNetSpec) -> tuple[str, ...]:
    """The flags on ``custom`` that build ``spec``: every field that differs from custom's base."""
    base = registry.CUSTOM.spec
    flags = []
    for spec_field in dataclasses.fields(ResNetSpec):
        value, default = getattr(spec, spec_field.name), getattr(base, spec_field.name)
        if value == default or Flag.of(spec_field) is None:
            continue
        flags.append(f"{Flag.option_name(spec_field.name)} {flag_value(value)}")
    return tuple(flags)
