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


@dataclass(frozen=True)
class StageLayout:
    """Which stage each unit belongs to, in run order. A unit is a top-level child of the model, or a child
    of a top-level container of stages (timm's ``stages.0``, ``stages.1`` …)."""

    stages: tuple[str, ...]
    stage_of_child: dict = field(default_factory=dict)  # unit -> stage
    container: str | None = None  # "stages" when its children are the stages
    block_parent: dict = field(default_factory=dict)  # unit -> the module whose children are its blocks
    block_stages: frozenset | None = None  # stages split into blocks at block depth (None: every one-unit stage)

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
    return [n for n in names if n.startswith(prefix) and "." not in n[len(prefix):]]


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
            raise OptionError(f"{{stages}}: no module {OptionError.literal(named)} runs at the top level; "
                              f"the top-level modules, in run order, are: {OptionError.literal(known)}")
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
    if not layer_names:
        return StageLayout(tuple(units) or ("model",), {u: u for u in units}, None, block_parent)
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
    ordered = []
    for unit in units:
        if mapping[unit] not in ordered:
            ordered.append(mapping[unit])
    return StageLayout(tuple(ordered), mapping, container, block_parent, frozenset(layer_names.values()))


def row_key(module: str, anchor: str, depth: str, layout: StageLayout, leaves: set[str]) -> str:
    """The row an op (or a module's parameters) belongs to at ``depth``."""
    stage = layout.stage_of(module, anchor)
    if not module:  # the root module's own ops
        return stage + OWN_OPS if depth == "layer" else stage
    if depth == "stage":
        return stage
    if depth == "block":
        unit = layout.unit_of(module)
        grouped = layout.units_of(stage) != (unit,)
        if grouped or (layout.block_stages is not None and stage not in layout.block_stages):
            return stage  # the stem and the head stay one row
        parent = layout.block_parent.get(unit, unit)
        if not module.startswith(parent + "."):
            return unit + OWN_OPS
        return parent + "." + module[len(parent) + 1:].split(".", 1)[0]
    return module if module in leaves else module + OWN_OPS
