"""The architecture as the papers and tutorials draw it, read from the analysis — never from a spec.

A ``Diagram`` is the input, then each stage with its numbers (output shape, parameters, FLOPs, receptive
field) and its contents: plain layers (the stem's 7×7 conv and max-pool, the head's pool and fc) or
residual blocks. A block is any module whose own forward adds two same-shaped tensors (the residual add);
its two summands are traced back through the recorded dataflow to the block's input: the path with the
most windows (convs, pools) is the main path, the other the shortcut (identity when it has none). So a
user's hand-written model draws like ours; one with no residual add is drawn as its stages' layers.

Consecutive blocks with the same main path (strides aside) are drawn once with "×N", as in the ResNet
paper's Table 1; ``depth="block"`` draws every block. Rendering is in ``resnet_cli.views.draw``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops
from resnet_cli.analysis.ops import FORWARD, RESIDUAL_ADD
from resnet_cli.report.rows import build_rows, totals
from resnet_cli.report.stages import stage_layout

if TYPE_CHECKING:
    from resnet_cli.analysis.records import Analysis, OpRecord
    from resnet_cli.structure.receptive import ReceptiveField

_POOL_WORDS = {"maxpool": "max-pool", "avgpool": "avg-pool"}  # operator kinds (resnet_cli.analysis.ops)
_GLOBAL_POOL_KINDS = {"mean": "avg", "adaptive_avgpool": "avg", "adaptive_maxpool": "max", "amax": "max"}
_LINEAR_KINDS = {"linear", "matmul", "bmm"}


@dataclass(frozen=True)
class Layer:
    """One layer as the figures label it: "3×3, 64", "3×3, 128, /2", "max-pool 3×3, /2", "fc 1000"."""

    label: str
    kind: str  # conv | pool | linear | gate | subsample | pad
    module: str
    stride: int = 1


@dataclass(frozen=True)
class BlockGroup:
    """Consecutive residual blocks drawn once: the first block's main path, and what differs between them."""

    names: tuple[str, ...]
    main: tuple[Layer, ...]
    shortcuts: tuple[tuple[str, int], ...]  # ("identity", 2), ("1×1, 256", 1): the shortcut of each block, counted
    downsampling: tuple[tuple[int, int], ...]  # (block number within the group, from 1; spatial stride)
    params: int = 0  # of all the blocks drawn
    flops: int = 0
    output_shape: tuple[int, ...] | None = None  # of the last block
    receptive_field: ReceptiveField | None = None

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Part:
    """A run of plain layers (``layers``) or of residual blocks (``groups``) inside a stage."""

    layers: tuple[Layer, ...] = ()
    groups: tuple[BlockGroup, ...] = ()


@dataclass(frozen=True)
class Stage:
    name: str
    parts: tuple[Part, ...]
    output_shape: tuple[int, ...] | None
    params: int
    flops: int  # fvcore's count, as summary reports it
    macs: int
    activation_elements: int
    receptive_field: ReceptiveField | None

    @property
    def blocks(self) -> int:
        return sum(group.count for part in self.parts for group in part.groups)


@dataclass(frozen=True)
class Diagram:
    model: str
    description: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    depth: str
    stages: tuple[Stage, ...]
    params: int
    flops: int
    macs: int
    identified_as: tuple | None = None  # a checkpoint: the (registered name, flags) it is (Target.identified_as)

    @property
    def residual(self) -> bool:
        return any(part.groups for stage in self.stages for part in stage.parts)


def diagram(
    model: str,
    description: str,
    analysis: Analysis,
    depth: str = "stage",
    stages: tuple[str, ...] | None = None,
    identified_as: tuple | None = None,
) -> Diagram:
    """The figure of one analysed model at ``depth`` (stage: repeated blocks once with ×N; block: all)."""
    layout = stage_layout(analysis, stages)
    rows = build_rows(analysis, "stage", stages=stages)
    forward = [op for op in analysis.ops if op.phase == FORWARD]
    from resnet_cli.structure.layers import layers as canonical_layers
    from resnet_cli.structure.receptive import receptive_fields

    values = receptive_fields(analysis)
    facts = _Facts(analysis, {m.name: values[m.output_value] for m in analysis.modules if m.output_value in values})
    # the one structural reading compare and identify use: what computes the same thing is the same layer
    # (a folded zero-padding, a no-op 1×1 pool left out, a 1×1 conv on a 1×1 map drawn as the fc it is)
    facts.canonical = {layer.index: layer for layer in canonical_layers(analysis)}
    producer = {value: op for op in forward for value in op.outputs}
    blocks = _block_modules(forward)
    facts.flat_blocks = _flat_blocks(forward, layout, facts, values)
    by_stage: dict[str, list] = {}
    for position, op in enumerate(forward):
        by_stage.setdefault(_drawn_stage(op, forward[position + 1 :], layout, facts), []).append(op)
    drawn = []
    for row in rows:
        parts = _parts(by_stage.get(row.name, []), blocks, producer, facts, per_block=depth == "block")
        drawn.append(
            Stage(
                row.name,
                parts,
                row.output_shape,
                row.params,
                row.flops,
                row.macs,
                row.activation_elements,
                row.receptive_field,
            )
        )
    t = totals(analysis)
    return Diagram(
        model,
        description,
        tuple(analysis.input_shape),
        analysis.output_shape,
        depth,
        tuple(drawn),
        t.params,
        t.flops,
        t.macs,
        identified_as,
    )


def _drawn_stage(op, later, layout, facts) -> str:
    """The stage an operator is drawn in: its module's; a global pool the root's own forward runs
    (``torch.mean(x, (2, 3))`` before the classifier) is drawn with the layer that reads it next."""
    canonical = facts.canonical.get(op.index)
    if not op.module and canonical is not None and canonical.kind == "gap":
        following = next((o for o in later if o.module and o.index in facts.canonical), None)
        if following is not None:
            return layout.stage_of(following.module, following.anchor)
    return layout.stage_of(op.module, op.anchor)


# ---- layers ----


def _kernel(values) -> str:
    values = tuple(values)
    return "×".join(str(v) for v in (values * 2 if len(values) == 1 else values))


def layer_of(op: OpRecord, canonical: dict | None = None) -> Layer | None:
    """The figure label of a conv, pool, linear, subsampling or padding op; None for everything else.

    ``canonical``: op index -> the normalised layer (``resnet_cli.structure.layers``); an op it leaves out (a
    zero-padding folded into the conv after it, a 1×1 pool of stride 1) is not drawn, and a layer it reads as
    another kind (a 1×1 conv on a 1×1 map: a linear layer) is drawn as that."""
    if canonical is not None:
        if op.index not in canonical:
            return None
        layer = canonical[op.index]
        if layer.kind == "linear" and layer.out_shape:
            return Layer(f"fc {layer.out_shape[-1]}", "linear", op.module)
        if layer.kind == "gap":
            return Layer("global avg-pool", "pool", op.module)
    kind = ops.kind_of(op.op)
    if kind == "conv":
        weight = dict(op.param_shapes).get("weight") or (op.input_shapes[1] if len(op.input_shapes) > 1 else None)
        if not weight or len(weight) < 3:
            return None
        stride = max(op.attr("stride") or (1,))
        groups = op.attr("groups", 1) or 1
        dilation = max(op.attr("dilation") or (1,))
        out = weight[1] * groups if op.attr("transposed") else weight[0]
        text = f"{_kernel(weight[2:])}, {out}"
        if op.attr("transposed"):
            text += f", ×{stride} up"
        elif stride > 1:
            text += f", /{stride}"
        if groups > 1:
            text += f", C={groups}"
        if dilation > 1:
            text += f", d={dilation}"
        return Layer(text, "conv", op.module, 1 if op.attr("transposed") else stride)
    if kind in _POOL_WORDS:
        kernel = op.attr("kernel_size") or (1,)
        stride = max(op.attr("stride") or kernel)
        text = f"{_POOL_WORDS[kind]} {_kernel(kernel)}" + (f", /{stride}" if stride > 1 else "")
        return Layer(text, "pool", op.module, stride)
    if (
        kind in _GLOBAL_POOL_KINDS
        and op.output_shape
        and len(op.input_shapes[0]) >= 3
        and all(size == 1 for size in op.output_shape[2:])
    ):
        return Layer(f"global {_GLOBAL_POOL_KINDS[kind]}-pool", "pool", op.module)
    if kind in _LINEAR_KINDS and op.output_shape:
        return Layer(f"fc {op.output_shape[-1]}", "linear", op.module)
    if kind == "slice" and (op.attr("step") or 1) > 1 and (op.attr("dim") or 0) >= 2:
        return Layer(f"subsample /{op.attr('step')}", "subsample", op.module, op.attr("step"))
    if kind == "pad" and op.output_shape and op.input_shapes and op.output_shape[1] != op.input_shapes[0][1]:
        return Layer(f"zero-pad, {op.output_shape[1]}", "pad", op.module)
    return None


def _collapse(layers: list[Layer]) -> tuple[Layer, ...]:
    """Repeated identical layers in a row become one labelled "×N" (a plain stage of twelve 3×3 convs)."""
    out: list[tuple[Layer, int]] = []
    for layer in layers:
        if out and out[-1][0].label == layer.label:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((layer, 1))
    return tuple(
        layer if n == 1 else Layer(f"{layer.label} ×{n}", layer.kind, layer.module, layer.stride) for layer, n in out
    )


# ---- residual blocks ----


def _is_residual_add(op: OpRecord) -> bool:
    return op.category == RESIDUAL_ADD and len(op.inputs) == 2


def _block_modules(forward) -> list[str]:
    """Modules whose own forward does a residual add, outermost only, in run order."""
    found: list[str] = []
    for op in forward:
        if _is_residual_add(op) and op.module and op.module not in found:
            found.append(op.module)
    return [m for m in found if not any(m.startswith(other + ".") for other in found)]


def _flat_blocks(forward, layout, facts, values) -> dict[int, str]:
    """Op index -> its block, for a model whose blocks are top-level layers named as Keras names them
    (``conv2_block1_1_conv``) and whose residual adds and activations its own forward runs: the block's layers
    and the root's ops run after one of them (a global pool excepted). Each block's output shape, field,
    parameters and FLOPs go into ``facts``."""
    if not layout.block_of:
        return {}
    found: dict[int, str] = {}
    for op in forward:
        if op.module:
            block = layout.block_of.get(layout.unit_of(op.module))
        else:
            layer = facts.canonical.get(op.index)
            block = None if layer is not None and layer.kind == "gap" else layout.block_of.get(op.anchor)
        if block is not None:
            found[op.index] = block
    with_add = {found[op.index] for op in forward if op.index in found and not op.module and _is_residual_add(op)}
    found = {index: block for index, block in found.items() if block in with_add}
    for op in forward:
        block = found.get(op.index)
        if block is None:
            continue
        facts.subtree_flops[block] = facts.subtree_flops.get(block, 0) + op.fvcore_flops
        if op.outputs:
            facts.block_outputs[block] = (op.output_shape, values.get(op.outputs[0]))
    for unit, block in layout.block_of.items():
        if block in with_add and unit in facts.modules:
            facts.subtree_params[block] = facts.subtree_params.get(block, 0) + facts.subtree_params.get(unit, 0)
    return found


def _owner(module: str, blocks: list[str]) -> str | None:
    for block in blocks:
        if module == block or module.startswith(block + "."):
            return block
    return None


class _Facts:
    """Per-module numbers of one analysis: parameters and FLOPs of a subtree, output shape, field."""

    def __init__(self, analysis: Analysis, fields: dict) -> None:
        self.modules = {m.name: m for m in analysis.modules}
        self.canonical: dict = {}  # op index -> its layer in the one structural reading (set by diagram)
        self.flat_blocks: dict = {}  # op index -> its block, where the root's forward runs the blocks' adds (Keras)
        self.block_outputs: dict = {}  # such a block -> (output shape, receptive field)
        self.fields = fields
        self.subtree_params: dict[str, int] = {}
        self.subtree_flops: dict[str, int] = {}
        for module in analysis.modules:
            for prefix in _prefixes(module.name):
                self.subtree_params[prefix] = self.subtree_params.get(prefix, 0) + module.params
        for op in analysis.ops:
            if op.phase == FORWARD and op.fvcore_flops:
                for prefix in _prefixes(op.module):
                    self.subtree_flops[prefix] = self.subtree_flops.get(prefix, 0) + op.fvcore_flops

    def output_shape(self, name: str):
        if name in self.block_outputs:
            return self.block_outputs[name][0]
        return self.modules[name].output_shape

    def field(self, name: str):
        if name in self.block_outputs:
            return self.block_outputs[name][1]
        return self.fields.get(name)

    def params(self, names) -> int:
        return sum(self.subtree_params.get(name, 0) for name in names)

    def flops(self, names) -> int:
        return sum(self.subtree_flops.get(name, 0) for name in names)


def _prefixes(name: str):
    parts = name.split(".") if name else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _parts(ops, blocks, producer, facts: _Facts, per_block: bool) -> tuple[Part, ...]:
    runs: list[tuple[str, list]] = []  # ("layers", [Layer]) or ("blocks", [(name, ops)])
    for op in ops:
        block = facts.flat_blocks.get(op.index) or _owner(op.module, blocks)
        if block is None:
            layer = layer_of(op, facts.canonical)
            if layer is None:
                continue
            if not runs or runs[-1][0] != "layers":
                runs.append(("layers", []))
            runs[-1][1].append(layer)
            continue
        if not runs or runs[-1][0] != "blocks":
            runs.append(("blocks", []))
        members = runs[-1][1]
        if not members or members[-1][0] != block:
            members.append((block, []))
        members[-1][1].append(op)
    parts = []
    for kind, items in runs:
        if kind == "layers":
            parts.append(Part(layers=_collapse(items)))
        else:
            traced = [
                _trace_block(name, block_ops, producer, facts.output_shape(name), facts.canonical)
                for name, block_ops in items
            ]
            parts.append(Part(groups=_group(traced, per_block, facts)))
    return tuple(parts)


@dataclass(frozen=True)
class _Traced:
    name: str
    main: tuple[Layer, ...]
    shortcut: tuple[Layer, ...]
    stride: int


def _trace_block(name: str, ops, producer, output_shape, canonical: dict | None = None) -> _Traced:
    inside = {op.index for op in ops}
    add = [op for op in ops if _is_residual_add(op) and op.module in (name, "")][-1]
    paths = [_path(value, inside, producer, canonical) for value in add.inputs]
    main, shortcut = sorted(paths, key=lambda path: -sum(1 for layer in path if layer.kind in ("conv", "pool")))
    entry = next(
        (
            shape
            for op in ops
            for value, shape in zip(op.inputs, op.input_shapes)
            if value not in producer or producer[value].index not in inside
        ),
        None,
    )
    stride = 1
    if entry and output_shape and len(entry) >= 3 and len(output_shape) == len(entry) and output_shape[-1]:
        stride = max(1, entry[-1] // output_shape[-1])
    return _Traced(name, main, shortcut, stride)


def _path(value: int, inside: set[int], producer, canonical: dict | None = None) -> tuple[Layer, ...]:
    """The layers from the block's input to ``value``, following the full-size input of each op; a broadcast
    multiply by a globally pooled tensor (squeeze-and-excitation) is one "SE" gate."""
    layers: list[Layer] = []
    while value in producer and producer[value].index in inside:
        op = producer[value]
        layer = layer_of(op, canonical)
        if layer is not None and not (layer.kind == "subsample" and layers and layers[-1] == layer):
            layers.append(layer)  # (x[:, :, ::2, ::2] slices H, then W: one subsampling)
        candidates = [
            (v, shape) for v, shape in zip(op.inputs, op.input_shapes) if v in producer and producer[v].index in inside
        ]
        if not candidates:
            break
        full = [c for c in candidates if op.output_shape and tuple(c[1]) == tuple(op.output_shape)]
        if len(op.inputs) == 2 and op.output_shape and len(full) == 1 and len(candidates) == 2:
            other = candidates[1] if candidates[0] is full[0] else candidates[0]
            if len(other[1]) >= 3 and all(size == 1 for size in other[1][2:]) and not _is_residual_add(op):
                layers.append(
                    Layer(
                        "SE" if ".se" in f".{op.module}" or "excit" in op.module.lower() else "gate", "gate", op.module
                    )
                )
        value = (full or candidates)[0][0]
    return tuple(reversed(layers))


def _strip(label: str) -> str:
    return ", ".join(part for part in label.split(", ") if not part.startswith("/"))


def _group(traced: list[_Traced], per_block: bool, facts: _Facts) -> tuple[BlockGroup, ...]:
    groups: list[list[_Traced]] = []
    for block in traced:
        signature = tuple(_strip(layer.label) for layer in block.main)
        if groups and not per_block and tuple(_strip(layer.label) for layer in groups[-1][0].main) == signature:
            groups[-1].append(block)
        else:
            groups.append([block])
    result = []
    for members in groups:
        shortcuts: list[tuple[str, int]] = []
        for block in members:
            text = " → ".join(layer.label for layer in block.shortcut) or "identity"
            if any(layer.kind == "conv" for layer in block.shortcut):
                text = "projection " + text
            if shortcuts and shortcuts[-1][0] == text:
                shortcuts[-1] = (text, shortcuts[-1][1] + 1)
            else:
                shortcuts.append((text, 1))
        downsampling = tuple((index + 1, block.stride) for index, block in enumerate(members) if block.stride > 1)
        names = tuple(b.name for b in members)
        last = names[-1]
        result.append(
            BlockGroup(
                names,
                members[0].main,
                tuple(shortcuts),
                downsampling,
                facts.params(names),
                facts.flops(names),
                facts.output_shape(last),
                facts.field(last),
            )
        )
    return tuple(result)
