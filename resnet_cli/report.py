"""Turn one ``Analysis`` into rows and totals: plain numbers, no formatting.

Every command reads these: ``summary`` and ``flops`` show rows at a depth, ``compare`` lines rows of two
models up. Rows at any depth sum exactly to the totals, because every op and every parameter is given
to exactly one row.

Stages: a model whose top-level children include ``layer1``, ``layer2`` … (torchvision's layout, ours
too) has the stages ``stem`` (every child run before the first layer), ``layer1`` … ``layerN`` and
``head`` (every child run after the last). Any other model's stages are its top-level children, or the
modules a caller names. Ops run by a module's own ``forward`` outside any child (a residual add, a
flatten) belong to that module; at the root they belong to the stage that ran just before them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from resnet_cli import formulas
from resnet_cli.formulas import BACKWARD, FORWARD

if TYPE_CHECKING:  # the analysis module imports torch; reports only read its plain records
    from resnet_cli.analysis import Analysis

DEPTHS = ("stage", "block", "layer")
_LAYER = re.compile(r"^layer\d+$")
OWN_OPS = " (own ops)"


@dataclass(frozen=True)
class Row:
    name: str
    stage: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int
    flops: int  # fvcore's count (forward)
    macs: int  # conv + linear multiply-accumulates (forward)
    all_flops: int  # every forward op, 2 FLOPs per multiply-accumulate
    backward_macs: int = 0
    backward_flops: int = 0
    by_category: tuple[tuple[str, int], ...] = ()  # forward FLOPs per category


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    running_stats: int  # BN running mean+var elements: Keras's "non-trainable params"
    flops: int  # fvcore convention
    macs: int
    all_flops: int
    backward_macs: int
    backward_flops: int
    fvcore_activations: int

    @property
    def keras_total_params(self) -> int:
        return self.params + self.running_stats

    @property
    def flops_2x(self) -> int:
        """torch.utils.flop_counter's convention: 2 FLOPs per multiply-accumulate, nothing else."""
        return 2 * self.macs


@dataclass(frozen=True)
class StageLayout:
    """Which stage each top-level child belongs to, in run order."""

    stages: tuple[str, ...]
    stage_of_child: dict = field(default_factory=dict)

    def stage_of(self, module: str, anchor: str) -> str:
        if module:
            return self.stage_of_child.get(_top(module), self.stages[0] if self.stages else "")
        if anchor:
            return self.stage_of_child.get(anchor, self.stages[0])
        return self.stages[0] if self.stages else ""


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def stage_layout(analysis: Analysis, stages: tuple[str, ...] | None = None) -> StageLayout:
    """Group top-level children into stages (see the module docstring); ``stages`` overrides the grouping."""
    children = [m.name for m in analysis.modules if m.name and "." not in m.name]
    if stages:
        mapping = {}
        current = stages[0]
        for child in children:
            if child in stages:
                current = child
            mapping[child] = current
        return StageLayout(tuple(stages), mapping)
    layers = [c for c in children if _LAYER.match(c)]
    if not layers:
        return StageLayout(tuple(children) or ("model",), {c: c for c in children})
    first, last = children.index(layers[0]), max(children.index(layer) for layer in layers)
    mapping = {}
    for index, child in enumerate(children):
        if _LAYER.match(child):
            mapping[child] = child
        elif index < first:
            mapping[child] = "stem"
        elif index > last:
            mapping[child] = "head"
        else:  # a non-layer child between layers: its own stage
            mapping[child] = child
    ordered = []
    for child in children:
        if mapping[child] not in ordered:
            ordered.append(mapping[child])
    return StageLayout(tuple(ordered), mapping)


def row_key(module: str, anchor: str, depth: str, layout: StageLayout, leaves: set[str]) -> str:
    """The row an op (or a module's parameters) belongs to at ``depth``."""
    stage = layout.stage_of(module, anchor)
    if not module:  # the root module's own ops
        return stage + OWN_OPS if depth == "layer" else stage
    if depth == "stage":
        return stage
    if depth == "block":
        parts = module.split(".")
        if stage != parts[0]:  # a grouped stage (stem, head) stays one row
            return stage
        return ".".join(parts[:2]) if len(parts) >= 2 else parts[0] + OWN_OPS
    return module if module in leaves else module + OWN_OPS


def build_rows(analysis: Analysis, depth: str = "stage", *, describe=None,
               stages: tuple[str, ...] | None = None) -> tuple[Row, ...]:
    """Rows at ``depth`` (stage|block|layer) in run order; ``describe(name)`` gives each row's kind."""
    layout = stage_layout(analysis, stages)
    leaves = {m.name for m in analysis.modules if m.is_leaf}
    order: dict[str, int] = {}
    acc: dict[str, dict] = {}
    stage_of_row: dict[str, str] = {}

    def slot(key: str, position: int, stage: str) -> dict:
        if key not in acc:
            acc[key] = {"params": 0, "flops": 0, "macs": 0, "all": 0, "bmacs": 0, "bflops": 0, "cat": {}}
            order[key] = position
            stage_of_row[key] = stage
        else:
            order[key] = min(order[key], position)
        return acc[key]

    for op in analysis.ops:
        key = row_key(op.module, op.anchor, depth, layout, leaves)
        entry = slot(key, op.index, layout.stage_of(op.module, op.anchor))
        if op.phase == FORWARD:
            entry["flops"] += op.fvcore_flops
            entry["macs"] += op.macs
            entry["all"] += op.flops
            entry["cat"][op.category] = entry["cat"].get(op.category, 0) + op.flops
        else:
            entry["bmacs"] += op.macs
            entry["bflops"] += op.flops
    big = len(analysis.ops) + 1
    for module in analysis.modules:
        if not module.params:
            continue
        name = module.name
        key = row_key(name, "", depth, layout, leaves) if name else layout.stages[0]
        position = module.first_call if module.first_call is not None else big
        slot(key, position, layout.stage_of(name, "") if name else layout.stages[0])["params"] += module.params

    outputs = _row_outputs(analysis, depth, layout, leaves)
    rows = []
    for key in sorted(acc, key=lambda k: order[k]):
        entry = acc[key]
        if key.endswith(OWN_OPS) and not any(entry[k] for k in ("params", "all", "bflops")):
            continue  # a module's own data-movement ops only (a flatten): nothing to show
        rows.append(Row(
            name=key, stage=stage_of_row[key], kind=describe(key) if describe else "",
            output_shape=outputs.get(key), params=entry["params"], flops=entry["flops"], macs=entry["macs"],
            all_flops=entry["all"], backward_macs=entry["bmacs"], backward_flops=entry["bflops"],
            by_category=tuple((c, entry["cat"].get(c, 0)) for c in formulas.CATEGORIES if entry["cat"].get(c)),
        ))
    # stages that ran no op and own no parameter (an nn.Identity child) still get their row
    if depth == "stage":
        present = {r.name for r in rows}
        for stage in layout.stages:
            if stage not in present:
                rows.append(Row(stage, stage, describe(stage) if describe else "", outputs.get(stage), 0, 0, 0, 0))
    return tuple(rows)


def _row_outputs(analysis: Analysis, depth: str, layout: StageLayout, leaves: set[str]) -> dict:
    """Each row's output shape: that of the row's own module, or of a group's last top-level child."""
    outputs: dict = {}
    for module in analysis.modules:  # called modules come first, in run order
        name = module.name
        if module.first_call is None or not name:
            continue
        key = row_key(name, "", depth, layout, leaves)
        top_level = "." not in name
        if key == name or (top_level and key == layout.stage_of(name, "")):
            outputs[key] = module.output_shape
    return outputs


def totals(analysis: Analysis) -> Totals:
    forward = [op for op in analysis.ops if op.phase == FORWARD]
    backward = [op for op in analysis.ops if op.phase == BACKWARD]
    return Totals(
        params=analysis.params, trainable_params=analysis.trainable_params, running_stats=analysis.running_stats,
        flops=sum(op.fvcore_flops for op in forward), macs=sum(op.macs for op in forward),
        all_flops=sum(op.flops for op in forward), backward_macs=sum(op.macs for op in backward),
        backward_flops=sum(op.flops for op in backward),
        fvcore_activations=sum(op.fvcore_activations for op in forward),
    )


def spatial_path(analysis: Analysis) -> tuple[tuple[int, int], ...]:
    """Spatial sizes along the main path: the input, then each new size a conv or pool produces.

    Global pools (a mean) and the 1×1 maps inside squeeze-excitation are left out: they are not the main
    path's resolution.
    """
    if len(analysis.input_shape) != 4:
        return ()
    path = [tuple(analysis.input_shape[2:])]
    for op in analysis.ops:
        if op.phase != FORWARD or op.category not in (formulas.CONVOLUTION, formulas.POOLING):
            continue
        if op.op in ("aten.mean", "aten._adaptive_avg_pool2d") or not op.output_shape:
            continue
        if len(op.output_shape) != 4:
            continue
        size = tuple(op.output_shape[2:])
        if ".se." in f".{op.module}.":
            continue
        # the main path only shrinks; a larger size is a branch reading the block's input
        if size != path[-1] and size[0] <= path[-1][0] and size[1] <= path[-1][1]:
            path.append(size)
    return tuple(path)


def format_path(path) -> str:
    if all(h == w for h, w in path):
        return " → ".join(str(h) for h, _ in path)
    return " → ".join(f"{h}×{w}" for h, w in path)


# ---- what each row contains, in words ----

_BLOCK_NOUN = {"Bottleneck": "bottleneck", "BasicBlock": "basic block"}


def describe_module(module) -> str:
    """A short description of one module: its type and the numbers that shape its cost."""
    kind = type(module).__name__
    if kind in ("Conv2d", "Conv1d", "Conv3d"):
        k = "×".join(str(s) for s in module.kernel_size)
        stride = module.stride[0]
        text = f"{k}{'/' + str(stride) if stride > 1 else ''} conv {module.in_channels}→{module.out_channels}"
        if module.groups > 1:
            text += f", {module.groups} groups"
        if module.dilation[0] > 1:
            text += f", dilation {module.dilation[0]}"
        return text + (" +bias" if module.bias is not None else "")
    if kind.startswith("BatchNorm"):
        return f"batch norm {module.num_features}"
    if kind == "Linear":
        return f"fc {module.in_features}→{module.out_features}"
    if kind == "MaxPool2d":
        k, s = module.kernel_size, module.stride
        return f"{k}×{k}/{s} max-pool" if isinstance(k, int) else f"max-pool {k}/{s}"
    if kind == "AvgPool2d":
        k, s = module.kernel_size, module.stride
        return f"{k}×{k}/{s} avg-pool" if isinstance(k, int) else f"avg-pool {k}/{s}"
    if kind == "AdaptiveAvgPool2d":
        return "global avg-pool"
    if kind in ("ReLU", "Sigmoid"):
        return kind
    if kind in _BLOCK_NOUN:
        noun = ("pre-act " if getattr(module, "preact", False) else "") + _BLOCK_NOUN[kind]
        text = f"{getattr(module, 'shortcut_kind', 'identity')} {noun}"
        strides = [m.stride[0] for m in module.modules() if type(m).__name__ == "Conv2d"]
        if max(strides, default=1) > 1:
            text += f", stride {max(strides)}"
        return text + (f", {_attention_noun(module.se)}" if getattr(module, "se", None) is not None else "")
    if kind == "SqueezeExcite":
        return f"squeeze-excite {module.fc1.in_channels}→{module.fc1.out_channels}→{module.fc2.out_channels}"
    if kind == "EfficientChannelAttention":
        return f"ECA, {module.conv.kernel_size[0]}-tap 1-D conv across channels"
    if kind == "ZeroPadShortcut":
        return "zero-pad shortcut"
    if kind == "Sequential":  # a deep stem or a shortcut: its convs and pools carry the cost
        parts = [describe_module(m) for m in module.children()
                 if not type(m).__name__.startswith(("BatchNorm", "ReLU", "Identity"))]
        return ", ".join(parts)
    return kind


def _attention_noun(module) -> str:
    return "ECA" if type(module).__name__ == "EfficientChannelAttention" else "squeeze-excite"


def describe_stage(children) -> str:
    """A stage of residual blocks as Keras tutorials and the paper's figures name them."""
    blocks = list(children)
    kinds = [type(b).__name__ for b in blocks]
    if blocks and all(k in _BLOCK_NOUN for k in kinds):
        noun = _BLOCK_NOUN[kinds[0]] + "s"
        if getattr(blocks[0], "preact", False):
            noun = "pre-act " + noun
        if getattr(blocks[0], "se", None) is not None:
            noun += f" with {_attention_noun(blocks[0].se)}"
        counts: dict[str, int] = {}
        for block in blocks:
            kind = getattr(block, "shortcut_kind", "identity")
            counts[kind] = counts.get(kind, 0) + 1
        parts = [f"{n} {kind}" for kind, n in counts.items()]
        return " + ".join(parts) + " " + noun
    return ", ".join(describe_module(b) for b in blocks)


def describer(model, layout_children: dict[str, str] | None = None):
    """A function from row name to description, reading (never changing) ``model``."""
    modules = dict(model.named_modules())
    children = dict(model.named_children())

    def describe(name: str) -> str:
        if name.endswith(OWN_OPS):
            base = name[: -len(OWN_OPS)]
            return "ops in " + (type(modules[base]).__name__ if base in modules else "forward") + ".forward"
        if name in ("stem", "head") and name not in children:
            parts = [describe_module(child) for child_name, child in children.items()
                     if layout_children and layout_children.get(child_name) == name]
            return ", ".join(p for p in parts if p)
        module = modules.get(name)
        if module is None:
            return ""
        if "." not in name and type(module).__name__ == "Sequential":
            return describe_stage(module.children())
        return describe_module(module)

    return describe


@dataclass(frozen=True)
class Summary:
    model: str
    description: str
    family: str
    spec: dict | None  # None for a user's model (its structure is its code)
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    depth: str
    spatial_path: tuple[tuple[int, int], ...]
    rows: tuple[Row, ...]
    totals: Totals


def summarize(target, model, analysis: Analysis, depth: str = "stage") -> Summary:
    layout = stage_layout(analysis, target.stages)
    rows = build_rows(analysis, depth, describe=describer(model, layout.stage_of_child), stages=target.stages)
    # a module's own ops that neither fvcore nor the MAC count sees (a residual add) make an all-zero row
    # here; `flops` shows them, with the FLOPs only it counts
    rows = tuple(r for r in rows if not (r.name.endswith(OWN_OPS) and not (r.params or r.flops or r.macs)))
    return Summary(
        model=target.name, description=target.description, family=target.family,
        spec=target.spec.as_dict() if target.spec is not None else None, input_shape=tuple(analysis.input_shape),
        output_shape=analysis.output_shape, depth=depth, spatial_path=spatial_path(analysis), rows=rows,
        totals=totals(analysis),
    )
