"""The stage table of a model comparison, built on the structural alignment.

The rows are the first model's stages (``resnet_cli.report.rows``'s grouping). Another model's numbers for a
row come from *its* operators aligned with that stage's operators — whatever its modules are called or
however they are grouped (a Keras-style ``stage0`` is the reference's ``stem``; its ``pool`` and ``fc``
are its ``head``). An operator with no counterpart joins the stage of the operator before it.
``--stages`` keeps the old way: each model's named stages, lined up by position.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_cli.analysis import ops as formulas
from resnet_cli.base.errors import UsageError
from resnet_cli.comparison.folding import Difference


@dataclass(frozen=True)
class StageCount:
    name: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int
    flops: int
    macs: int
    activation_elements: int = 0  # of the new tensors the stage writes (report.Row.activation_elements)


def parse_stages(values: list[str] | None, count: int) -> list[tuple[str, ...] | None]:
    """``--stages`` once for every model, or once per model in order ('default' keeps a model's own)."""
    if not values:
        return [None] * count
    if len(values) not in (1, count):
        raise UsageError(
            f"--stages given {len(values)} times for {count} models; give it once (for every model) "
            "or once per model, in order ('default' keeps a model's own stages)"
        )
    parsed = []
    for value in values:
        names = tuple(part.strip() for part in value.split(",") if part.strip())
        if value.strip().lower() in ("default", "-"):
            parsed.append(None)
        elif not names:
            raise UsageError(f"--stages '{value}' is empty; give top-level module names, e.g. conv1,layer1,layer2")
        else:
            parsed.append(names)
    return parsed * count if len(parsed) == 1 else parsed


def own_stages(model, analysis, stages: tuple[str, ...] | None, name: str) -> tuple[StageCount, ...]:
    """A model's own stage rows (``--stages`` names them)."""
    from resnet_cli.report.describe import describer
    from resnet_cli.report.rows import build_rows
    from resnet_cli.report.stages import stage_layout

    if stages:
        children = [m.name for m in analysis.modules if m.name and "." not in m.name]
        unknown = [s for s in stages if s not in children]
        if unknown:
            raise UsageError(
                f"--stages: {name} has no top-level module {', '.join(map(repr, unknown))}; its "
                f"top-level modules are: {', '.join(children)}"
            )
    layout = stage_layout(analysis, stages)
    rows = build_rows(analysis, "stage", describe=describer(model, layout), stages=stages)
    return tuple(
        StageCount(r.name, r.kind, r.output_shape, r.params, r.flops, r.macs, r.activation_elements) for r in rows
    )


def _reference_stage_of_ops(analysis, stage_names: tuple[str, ...]) -> dict[int, int]:
    """Op index -> row index, for the first model's forward ops."""
    from resnet_cli.report.stages import stage_layout

    layout = stage_layout(analysis)
    row = {name: index for index, name in enumerate(stage_names)}
    return {
        op.index: row.get(layout.stage_of(op.module, op.anchor), 0)
        for op in analysis.ops
        if op.phase == formulas.FORWARD
    }


def model_rows(reference_analysis, reference_stages, alignment, analysis) -> dict[int, int]:
    """Op index of the model -> the row (stage of the first model) its operators are aligned with."""
    stage_of_op = _reference_stage_of_ops(reference_analysis, tuple(s.name for s in reference_stages))
    paired = {index: stage_of_op.get(ref.index, 0) for index, ref in alignment.pairs.items()}
    rows, current = {}, 0
    for op in analysis.ops:
        if op.phase == formulas.FORWARD:
            current = paired.get(op.index, current)  # unaligned: the stage of the operator before it
            rows[op.index] = current
    return rows


def aligned_stages(reference_analysis, reference_stages, alignment, analysis, failed: bool):
    """The model's counterpart of each of the first model's stages (None where nothing is aligned)."""
    rows = model_rows(reference_analysis, reference_stages, alignment, analysis)
    by_index = {layer.index: layer for layer in alignment.model.layers}  # the structure read once, aligned
    result = []
    last_row = max(rows.values(), default=-1)
    for row, reference in enumerate(reference_stages):
        ops = [op for op in analysis.ops if rows.get(op.index) == row]
        if not ops:
            result.append(None)
            continue
        tops = [op.module.split(".")[0] or op.anchor for op in ops]
        mine = [by_index[op.index] for op in ops if op.index in by_index]
        output = mine[-1].out_shape if mine else None
        if failed and row == last_row:
            output = None  # the forward broke in this stage: it has no output
        result.append(
            StageCount(
                name="+".join(dict.fromkeys(t for t in tops if t)) or "(forward)",
                kind=reference.kind,
                output_shape=output,
                params=sum(layer.params for layer in mine),
                flops=sum(op.fvcore_flops for op in ops),
                macs=sum(op.macs for op in ops),
            )
        )
    return tuple(result)


def stage_of_path(reference_analysis, reference_path, reference_stages, model_stages, model_path) -> int:
    """The row a difference is in: its reference module's stage, else the first model stage naming it."""
    from resnet_cli.report.stages import stage_layout

    names = [s.name for s in reference_stages]
    if reference_path:
        stage = stage_layout(reference_analysis).stage_of(reference_path, "")
        if stage in names:
            return names.index(stage)
    top = (model_path or "").split(".")[0]
    for index, stage in enumerate(model_stages):
        if stage is not None and top and top in stage.name.split("+"):
            return index
    return len(names) - 1 if names else 0


def unused_modules(reference_model, reference_analysis, model, analysis, failed: bool) -> tuple[Difference, ...]:
    """Parameters held by modules that the forward never uses: in the model (extra) or the reference."""
    rows = []
    for kind, owner_model, source in (("missing", reference_model, reference_analysis), ("extra", model, analysis)):
        if kind == "extra" and failed:
            continue  # modules after the failure never ran: that is not "unused"
        # used: called, or holding a module that is (a ModuleList is never called itself)
        used = {""}
        for module in source.modules:
            if module.calls:
                parts = module.name.split(".")
                used.update(".".join(parts[:i]) for i in range(len(parts) + 1))
        for module in source.modules:
            # the outermost module never used (its children are not listed again)
            if module.name in used or module.name.rpartition(".")[0] not in used:
                continue
            params = sum(p.numel() for p in owner_model.get_submodule(module.name).parameters())
            if not params or _read_by_parent(owner_model, module.name, source):
                continue
            owner = "the reference's" if kind == "missing" else "the model's"
            rows.append(
                Difference(
                    kind,
                    module.name if kind == "missing" else None,
                    module.name if kind == "extra" else None,
                    f"{module.name}: {params:,} parameters in {owner} {module.type_name} that its forward never uses",
                    (module.name,),
                    params if kind == "extra" else -params,
                    0,
                )
            )
    return tuple(rows)


def _read_by_parent(model, name: str, analysis) -> bool:
    """A module whose parameters its parent's own code reads (``F.conv2d(x, self.conv.weight)``)."""
    shapes = {tuple(p.shape) for p in model.get_submodule(name).parameters()}
    parents = [op for op in analysis.ops if not op.module or name.startswith(op.module + ".")]
    return any(tuple(shape) in shapes for op in parents for _, shape in op.param_shapes)
