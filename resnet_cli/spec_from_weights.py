"""What a ResNet checkpoint's tensors say about its architecture: the spec, read from names and shapes.

Names are read in torchvision's layout (which timm's ``ResNet`` and this project share: ``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0``, ``fc``) after renaming timm's ``ResNetV2`` layout (``stem.conv``,
``stages.0.blocks.0.norm1``, ``norm``, ``head.fc``) into it. From them:

* block kind: a third conv in the blocks (``conv3``) means bottlenecks; BatchNorm before the convs
  (a block ``bn1`` as wide as the block's input, no stem ``bn1``) means pre-activation;
* stages and blocks per stage from the ``layerN.M`` indices; widths from the last conv's output (÷4 for
  bottlenecks); groups from the 3×3 weight's input channels; width per group from the 3×3's width;
* the stem: a 7×7 conv, three 3×3 convs (``conv1.0/3/6``, the deep stem) or one 3×3 conv (CIFAR), its width and
  the input channels; the shortcut: a 1×1 conv first (projection), a conv after a pooling (``downsample.1``:
  average-pool, ResNet-D) or none where the shape changes (zero-padding, option A);
* squeeze-excitation (``se.fc1``), conv biases, the classes (``fc``).

Weights cannot tell where a stride sits (v1 and v1.5 hold the same tensors), nor whether the stem has a
max-pool or a stage is dilated: the inference takes torchvision's choices there and says so.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from resnet_cli import registry
from resnet_cli.errors import UsageError
from resnet_cli.spec import BlockKind, ConvBias, Flag, ResNetSpec, Shortcut, StemKind
from resnet_cli.values import shown

UNREADABLE = ("stride placement (v1 and v1.5 hold the same tensors; v1.5 assumed)",
              "dilation (none assumed)", "the stem max-pool (assumed for 7x7 and deep stems, not for CIFAR stems)")

_TIMM_V2 = (  # timm ResNetV2 name -> torchvision layout
    (re.compile(r"^stem\.conv\."), "conv1."),
    (re.compile(r"^stages\.(\d+)\.blocks\.(\d+)\."), lambda m: f"layer{int(m.group(1)) + 1}.{m.group(2)}."),
    (re.compile(r"\.norm(\d)\."), lambda m: f".bn{m.group(1)}."),
    (re.compile(r"\.downsample\.conv\."), ".downsample."),
    (re.compile(r"^norm\."), "post_bn."),
    (re.compile(r"^head\.fc\."), "fc."),
)


def to_torchvision_names(state: dict) -> dict:
    """The same tensors under torchvision's names (timm ResNetV2's are renamed; its 1×1-conv head flattened)."""
    if not any(k.startswith("stages.") for k in state):
        return state
    renamed = {}
    for name, tensor in state.items():
        for pattern, replacement in _TIMM_V2:
            name = pattern.sub(replacement, name)
        if name == "fc.weight" and tensor.dim() == 4:
            tensor = tensor.flatten(1)
        renamed[name] = tensor
    return renamed


@dataclass(frozen=True)
class Inferred:
    spec: ResNetSpec
    variant: registry.Variant | None  # the registered variant with exactly this spec
    flags: tuple[str, ...]  # the flags that rebuild it on `custom`


def infer(path: str) -> Inferred:
    """Read ``path`` and infer its spec (UsageError if its tensors are not a ResNet's)."""
    from resnet_cli import checkpoint

    shapes = {k: tuple(v.shape) for k, v in to_torchvision_names(checkpoint.read(path)).items()}
    spec = spec_of(shapes, path)
    return Inferred(spec, identify(spec), rebuild_flags(spec))


def _need(shapes: dict, name: str, path: str) -> tuple[int, ...]:
    if name not in shapes:
        raise UsageError(f"'{shown(path)}' holds no '{name}' tensor, so it is not a ResNet checkpoint this tool can "
                         "read (expected torchvision/timm names: conv1, layer1.0.conv1 …, fc); analyse your model's "
                         "code instead (path/to/file.py:callable) with --weights")
    return shapes[name]


def spec_of(shapes: dict[str, tuple[int, ...]], path: str = "checkpoint") -> ResNetSpec:
    stages = sorted({int(m.group(1)) for k in shapes for m in [re.match(r"^layer(\d+)\.", k)] if m})
    if not stages or stages != list(range(1, len(stages) + 1)):
        _need(shapes, "layer1.0.conv1.weight", path)
    layers = tuple(1 + max(int(m.group(1)) for k in shapes for m in [re.match(rf"^layer{i}\.(\d+)\.", k)] if m)
                   for i in stages)
    bottleneck = "layer1.0.conv3.weight" in shapes
    preact = "bn1.weight" not in shapes  # pre-activation nets normalise inside the first block instead
    # the stem
    if "conv1.0.weight" in shapes:
        stem = StemKind.DEEP
        first, last = _need(shapes, "conv1.0.weight", path), _need(shapes, "conv1.6.weight", path)
        in_channels, stem_width = first[1], last[0]
        stem_bias = "conv1.6.bias" in shapes
    else:
        weight = _need(shapes, "conv1.weight", path)
        stem = StemKind.CONV7 if weight[2:] == (7, 7) else StemKind.CIFAR if weight[2:] == (3, 3) else None
        if stem is None:
            raise UsageError(f"'{shown(path)}': a {weight[2]}x{weight[3]} stem conv is not one of the stems this tool "
                             "builds (7x7, deep, cifar); analyse your model's code instead with --weights")
        in_channels, stem_width = weight[1], weight[0]
        stem_bias = "conv1.bias" in shapes
    # the blocks
    last_conv = "conv3" if bottleneck else "conv2"
    widths = []
    groups = width_per_group = None
    for stage in stages:
        out = _need(shapes, f"layer{stage}.0.{last_conv}.weight", path)[0]
        planes = out // 4 if bottleneck else out
        widths.append(planes)
        if bottleneck:
            conv2 = _need(shapes, f"layer{stage}.0.conv2.weight", path)
            width, per_group = conv2[0], conv2[1]
            stage_groups = width // per_group
            stage_wpg = per_group * 64 // planes if (per_group * 64) % planes == 0 else None
            if groups is None:
                groups, width_per_group = stage_groups, stage_wpg
            elif (groups, width_per_group) != (stage_groups, stage_wpg):
                width_per_group = None
    if bottleneck and width_per_group is None:
        raise UsageError(f"'{shown(path)}': its 3x3 convs' widths do not follow one width per group across stages, "
                         "which the flags cannot express; analyse your model's code instead with --weights")
    shortcut = Shortcut.PROJECTION
    if any(re.match(r"^layer\d+\.\d+\.downsample\.1\.weight$", k) and len(shapes[k]) == 4 for k in shapes):
        shortcut = Shortcut.AVGPOOL
    elif not any(".downsample." in k for k in shapes):
        shortcut = Shortcut.ZERO_PAD
    block_bias = any(re.match(r"^layer\d+\.\d+\.conv1\.bias$", k) for k in shapes)
    conv_bias = ConvBias.ALL if block_bias else (ConvBias.UNLESS_NORMALIZED if preact and stem_bias else ConvBias.NONE)
    fc = _need(shapes, "fc.weight", path)
    kind = {(False, False): BlockKind.BASIC, (True, False): BlockKind.BOTTLENECK,
            (False, True): BlockKind.PREACT_BASIC, (True, True): BlockKind.PREACT_BOTTLENECK}[(bottleneck, preact)]
    spec = ResNetSpec(
        block=kind, layers=layers, widths=tuple(widths), stem=stem, stem_width=stem_width,
        stem_pool=stem is not StemKind.CIFAR, shortcut=shortcut, groups=groups or 1,
        width_per_group=width_per_group or 64, se=any(".se.fc1." in k for k in shapes), conv_bias=conv_bias,
        num_classes=fc[0], in_channels=in_channels,
    )
    try:
        return spec.validate()
    except UsageError as error:
        raise UsageError(f"'{shown(path)}': its tensors describe a ResNet the flags reject ({error})") from None


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
        if isinstance(value, tuple):
            text = ",".join(str(int(v)) if isinstance(v, bool) else str(v) for v in value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(getattr(value, "value", value))
        flags.append(f"{Flag.option_name(spec_field.name)} {text}")
    return tuple(flags)
