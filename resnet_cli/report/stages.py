"""Which stage, block and row every operator and parameter belongs to: the stage layout of one analysis.

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

if TYPE_CHECKING:
    from resnet_cli.analysis.records import Analysis

DEPTHS = ("stage", "block", "layer")  # the rows a report can have: one per stage, per block, per leaf module
DRAW_DEPTHS = ("stage", "block")  # draw: each stage's repeated block once (×N), or every block
OWN_OPS = " (own ops)"  # the row of a module's own ops, outside any child (a residual add, a flatten)
_LAYER = re.compile(r"^layer\d+$")
# Keras's names: keras.applications' conv2_block1_1_conv, the classic conv_block/identity_block's res2a_branch2a
# and bn2a_branch2a; stage k of Keras is our layer{k-1} (conv1 is the stem)
_KERAS_BLOCK = re.compile(
    r"^(?:(?P<stage>conv\d+)_block(?P<block>\d+)_"
    r"|(?:res|bn)(?P<number>\d+)(?P<letter>[a-z]+)_branch)"
)


def _keras_block(unit: str) -> tuple[int, str] | None:
    """(Keras's stage number, the block's name) of a top-level Keras layer named as Keras names its blocks."""
    found = _KERAS_BLOCK.match(unit)
    if found is None:
        return None
    if found["stage"]:
        return int(found["stage"][4:]), f"{found['stage']}_block{found['block']}"
    return int(found["number"]), f"{found['number']}{found['letter']}"


@dataclass(frozen=True)
class StageLayout:
    """Which stage each unit belongs to, in run order. A unit is a top-level child of the model, or a child
    of a top-level container of stages (timm's ``stages.0``, ``stages.1`` …)."""

    stages: tuple[str, ...]
    stage_of_child: dict = field(default_factory=dict)  # unit -> stage
    container: str | None = None  # "stages" when its children are the stages
    block_parent: dict = field(default_factory=dict)  # unit -> the module whose children are its blocks
    block_stages: frozenset | None = None  # stages split into blocks at block depth (None: every one-unit stage)
    block_of: dict = field(default_factory=dict)  # unit -> its block, where the units are a block's layers (Keras)

    def unit_of(self, module: str) -> str:
        parts = module.split(".")
        if self.container and parts[0] == self.container and len(parts) >= 2:
            return ".".join(parts[:2])
        return parts[0]

    def stage_of(self, module: str, anchor: str) -> str:
        default = self.stages[0] if self.stages else ""
        if module:
            return self.stage_of_child.get(self.unit_of(module), default)
        if anchor:
            return self.stage_of_child.get(anchor, default)
        return default

    def units_of(self, stage: str) -> tuple[str, ...]:
        return tuple(unit for unit, owner in self.stage_of_child.items() if owner == stage)


CONTAINERS = ("stages",)  # timm's ResNetV2 / byobnet keep their stages in one top-level container


def _children_of(names: list[str], parent: str) -> list[str]:
    prefix = parent + "."
    return [n for n in names if n.startswith(prefix) and "." not in n[len(prefix) :]]


def stage_layout(analysis: Analysis, stages: tuple[str, ...] | None = None) -> StageLayout:
    """Group units into stages (see the module docstring); ``stages`` names the units that start each stage.
    Computed once per analysis and ``stages``."""
    from resnet_cli.report.aggregates import once

    stages = tuple(stages) if stages else None
    return once(analysis, ("stage_layout", stages), lambda: _stage_layout(analysis, stages))


def _stage_layout(analysis: Analysis, stages: tuple[str, ...] | None) -> StageLayout:
    names = [m.name for m in analysis.modules if m.name]  # called modules first, in run order
    children = [n for n in names if "." not in n]
    container = next((c for c in CONTAINERS if c in children and _children_of(names, c) and not stages), None)
    units = []
    for child in children:
        units += _children_of(names, child) if child == container else [child]
    block_parent = {}
    for unit in units:  # descend through single-child wrappers (timm's ResNetStage.blocks) to the blocks
        parent = unit
        while len(_children_of(names, parent)) == 1 and _children_of(names, _children_of(names, parent)[0]):
            parent = _children_of(names, parent)[0]
        block_parent[unit] = parent
    if stages:
        unknown = [s for s in stages if s not in units]
        if unknown:
            from resnet_cli.base.errors import OptionError

            named, known = ", ".join(repr(u) for u in unknown), ", ".join(units)
            raise OptionError(
                f"{{stages}}: no module {OptionError.literal(named)} runs at the top level; "
                f"the top-level modules, in run order, are: {OptionError.literal(known)}"
            )
        mapping, current = {}, stages[0]
        for unit in units:
            if unit in stages:
                current = unit
            mapping[unit] = current
        return StageLayout(tuple(s for s in stages), mapping, None, block_parent)
    if container:
        layer_names = {unit: f"layer{i + 1}" for i, unit in enumerate(_children_of(names, container))}
    else:
        layer_names = {unit: unit for unit in units if _LAYER.match(unit)}
    block_of = {}
    if not layer_names:  # a Keras model's layers, named as Keras names them
        blocks = {unit: _keras_block(unit) for unit in units}
        blocks = {unit: found for unit, found in blocks.items() if found is not None and found[0] > 1}
        named = [index for index, unit in enumerate(units) if unit in blocks]
        for index in range(min(named, default=0), max(named, default=-1)):
            if units[index] not in blocks:  # a layer Keras left unnamed (V2's max_pooling2d shortcut): its block's
                blocks[units[index]] = blocks[units[index - 1]]
        layer_names = {unit: f"layer{number - 1}" for unit, (number, _) in blocks.items()}
        block_of = {unit: block for unit, (_, block) in blocks.items()}
    if not layer_names:
        mapping = _fold_padding_units(analysis, units, {u: u for u in units}, StageLayout((), {}, container).unit_of)
        ordered = list(dict.fromkeys(mapping[u] for u in units))
        return StageLayout(tuple(ordered) or ("model",), mapping, None, block_parent)
    positions = [units.index(u) for u in layer_names]
    first, last = min(positions), max(positions)
    mapping = {}
    for index, unit in enumerate(units):
        if unit in layer_names:
            mapping[unit] = layer_names[unit]
        elif index < first:
            mapping[unit] = "stem"
        elif index > last:
            mapping[unit] = "head"
        else:  # a non-layer unit between layers: its own stage
            mapping[unit] = unit
    mapping = _fold_padding_units(analysis, units, mapping, StageLayout((), {}, container).unit_of)
    ordered = []
    for unit in units:
        if mapping[unit] not in ordered:
            ordered.append(mapping[unit])
    return StageLayout(tuple(ordered), mapping, container, block_parent, frozenset(layer_names.values()), block_of)


_PADDING_KINDS = ("pad", "maxpool", "avgpool")  # what a unit the normalisation empties can have run


def _fold_padding_units(analysis: Analysis, units: list[str], mapping: dict, unit_of) -> dict:
    """A unit of its own stage that only pads height and width (Keras's ``conv1_pad = ZeroPad2d(3)`` before
    an unpadded ``conv1``), or runs only what the canonical structure leaves out (a ``MaxPool2d(1)``), is part
    of the layer it feeds (``resnet_cli.structure.normalise``): it joins the stage of the unit after it (the
    one before it when it is the last)."""
    from resnet_cli.analysis import ops

    ran: dict[str, list] = {}
    for op in analysis.ops:
        if op.phase == ops.FORWARD and op.module:
            ran.setdefault(unit_of(op.module), []).append(op)
    candidates = [
        u
        for u in units
        if mapping.get(u) == u and ran.get(u) and any(ops.kind_of(op.op) in _PADDING_KINDS for op in ran[u])
    ]
    if not candidates or len(units) < 2:
        return mapping
    from resnet_cli.structure.layers import layers

    canonical = {layer.index: layer for layer in layers(analysis)}
    folded = set()
    for unit in candidates:
        kept = [canonical[op.index] for op in ran[unit] if op.index in canonical]
        if all(layer.kind == "pad" and layer.in_channels[:1] == (layer.out_channels,) for layer in kept):
            folded.add(unit)
    mapping = dict(mapping)
    for position, unit in enumerate(units):
        if unit in folded:
            after = [u for u in units[position + 1 :] if u not in folded]
            before = [u for u in units[:position] if u not in folded]
            target = after[0] if after else before[-1] if before else None
            if target is not None:
                mapping[unit] = mapping[target] if target not in folded else target
    return mapping


def row_key(module: str, anchor: str, depth: str, layout: StageLayout, leaves: set[str]) -> str:
    """The row an op (or a module's parameters) belongs to at ``depth``."""
    stage = layout.stage_of(module, anchor)
    if not module:  # the root module's own ops
        return stage + OWN_OPS if depth == "layer" else stage
    if depth == "stage":
        return stage
    if depth == "block":
        unit = layout.unit_of(module)
        if unit in layout.block_of:
            return layout.block_of[unit]
        grouped = layout.units_of(stage) != (unit,)
        if grouped or (layout.block_stages is not None and stage not in layout.block_stages):
            return stage  # the stem and the head stay one row
        parent = layout.block_parent.get(unit, unit)
        if not module.startswith(parent + "."):
            return unit + OWN_OPS
        return parent + "." + module[len(parent) + 1 :].split(".", 1)[0]
    return module if module in leaves else module + OWN_OPS
