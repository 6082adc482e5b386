"""A model comparison as one ``render.Document``: the differences first (they are the answer), then what
each model is, then the stage table.

One column list drives the table, CSV and Markdown; the JSON document carries the same numbers (and the
differences, the closest variant, the first divergence) raw. Nothing here computes:
``resnet_cli.comparison.models`` did. A table wider than the terminal leaves out its least needed columns first
(``Column.drop``; ``render`` says which) rather than split a number across lines.
"""

from __future__ import annotations

import itertools

from resnet_cli.comparison.models import Delta, Divergence, ModelComparison
from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Facts, Heading, Lines, Table
from resnet_cli.spec.naming import identified_data
from resnet_cli.views.conventions import FLOPS_MEANING, MACS_MEANING, unsupported_data, unsupported_text

EXACT = "every operator, shape and parameter"
HEADING = "heading"  # a line of the verdict that starts a section


def short_labels(comparison: ModelComparison) -> list[str]:
    """Column labels: a registered name as is, a user's model by its callable's name; repeats numbered."""
    labels = []
    for model in comparison.models:
        label = model.name.rpartition(":")[2] or model.name
        label = label.split(" ")[0] if model.source == "closest" else label
        labels.append(label if label not in labels else f"{label}#{len(labels) + 1}")
    return labels


# The CSV's difference rows (table = "differences"): the keys of the JSON's differences, `of` the model's label
DIFFERENCE_COLUMNS = (
    Column("of", "of", justify="left"),
    Column("kind", "kind", justify="left"),
    Column("reference", "reference", justify="left"),
    Column("model", "model", justify="left"),
    Column("message", "message", justify="left"),
    Column("params_delta", "params_delta", "count"),
    Column("flops_delta", "flops_delta", "flops"),
    Column("costed", "costed", justify="left"),
)


def _model_columns(comparison: ModelComparison) -> list[Column]:
    """The CSV's columns: table (stages | differences), stage, then per model (named by its label): output,
    params, FLOPs (fvcore), MACs; after the first, each with its Δ and Δ% against the first; then the
    differences' own columns (``DIFFERENCE_COLUMNS``), empty on a stage row as the stage's are on a difference's."""
    columns = [Column("table", "table", justify="left"), Column("stage", "stage", justify="left")]
    for index, label in enumerate(short_labels(comparison)):
        columns.append(Column(f"{label}_output", f"{label} output", "shape"))
        for measure, header, kind in (
            ("params", "params", "count"),
            ("flops", "FLOPs", "flops"),
            ("macs", "MACs", "flops"),
        ):
            columns.append(Column(f"{label}_{measure}", f"{label} {header}", kind))
            if index:
                columns.append(Column(f"{label}_{measure}_diff", f"{label} Δ {header}", kind))
                columns.append(Column(f"{label}_{measure}_pct", f"{label} Δ% {header}", "pct"))
    return columns + list(DIFFERENCE_COLUMNS)


def _delta_fields(prefix: str, measure: str, delta: Delta) -> dict:
    return {
        f"{prefix}_{measure}": delta.value,
        f"{prefix}_{measure}_diff": delta.diff,
        f"{prefix}_{measure}_pct": delta.pct,
    }


def _model_records(comparison: ModelComparison) -> list[dict]:
    """The CSV's rows: one per stage of the first model, then the totals, every model's numbers side by side
    (table = "stages"); then every difference of every later model, in the verdict's order, its `fails` row
    included (table = "differences")."""
    labels = short_labels(comparison)
    records = []
    for stage_index in range(comparison.stage_count):
        record = {"table": "stages", "stage": comparison.stage_label(stage_index)}
        reference = comparison.stage(0, stage_index)
        for index, prefix in enumerate(labels):
            stage = comparison.stage(index, stage_index)
            record[f"{prefix}_output"] = stage.output_shape if stage else None
            for measure in ("params", "flops", "macs"):
                record.update(
                    _delta_fields(
                        prefix,
                        measure,
                        Delta(
                            getattr(reference, measure) if reference else None,
                            getattr(stage, measure) if stage else None,
                        ),
                    )
                )
        records.append(record)
    total = {"table": "stages", "stage": "total"}
    first = comparison.models[0]
    for prefix, model in zip(labels, comparison.models):
        total[f"{prefix}_output"] = model.output_shape
        for measure in ("params", "flops", "macs"):
            total.update(_delta_fields(prefix, measure, Delta(getattr(first, measure), getattr(model, measure))))
    records.append(total)
    for label, model in zip(labels[1:], comparison.models[1:], strict=True):
        records += [{"table": "differences", "of": label, **_difference_document(d)} for d in model.differences]
    return records


# The table a person reads: one row per stage and model, so that every model keeps its name and its numbers at
# any width and with any number of models. The columns a narrow terminal leaves out first have the highest rank.
_ROTATED = (
    Column("stage", "stage", justify="left"),
    Column("model", "model", justify="left"),
    Column("output", "output", "shape", drop=3),
    Column("params", "params", "count"),
    Column("params_diff", "Δ params", "text", drop=4),
    Column("params_pct", "Δ% params", "text", drop=6),
    Column("flops", "FLOPs", "flops"),
    Column("flops_diff", "Δ FLOPs", "text", drop=5),
    Column("flops_pct", "Δ% FLOPs", "text", drop=2),
)


def _rotated_records(comparison: ModelComparison) -> list[dict]:
    """Per stage of the first model (then the totals), one row per model: its output, parameters and FLOPs,
    and after the first model their Δ against it, signed. The stage is named on its first row only."""
    labels = short_labels(comparison)
    first = comparison.models[0]
    rows = []
    for stage_index in range(comparison.stage_count + 1):
        is_total = stage_index == comparison.stage_count
        reference = None if is_total else comparison.stage(0, stage_index)
        for index, label in enumerate(labels):
            model = comparison.models[index]
            stage = model if is_total else comparison.stage(index, stage_index)
            output = model.output_shape if is_total else (stage.output_shape if stage else None)
            row = {
                "stage": ("total" if is_total else comparison.stage_label(stage_index)) if not index else "",
                "model": label,
                "output": output,
            }
            for measure in ("params", "flops"):
                base = getattr(first, measure) if is_total else (getattr(reference, measure) if reference else None)
                delta = Delta(base, getattr(stage, measure) if stage else None)
                row[measure] = delta.value
                # the first model is what the others are measured against: its Δ cells stay empty
                row[f"{measure}_diff"], row[f"{measure}_pct"] = _signed_delta(delta, measure) if index else ("", "")
            rows.append(row)
    return rows


def _signed_delta(delta: Delta, measure: str) -> tuple[str | None, str | None]:
    """(Δ, Δ%) as the table shows them: signed (+1,234 / +1.2 G / +12.5%), None where a side is missing."""
    diff, pct = delta.diff, delta.pct
    text = (
        None
        if diff is None
        else "0"
        if diff == 0
        else f"{diff:+,}"
        if measure == "params"
        else ("+" if diff > 0 else "") + render.human(diff)
    )
    percent = None if pct is None else "0.0%" if pct == 0 else f"{pct:+.1f}%"
    return text, percent


def _shape_list(shape) -> list[int] | None:
    return list(shape) if shape else None


def _difference_document(difference) -> dict:
    return {
        "kind": difference.kind,
        "reference": difference.reference,
        "model": difference.model,
        "message": difference.message,
        "blocks": list(difference.blocks),
        "params_delta": difference.params_delta,
        "flops_delta": difference.flops_delta,
        "costed": getattr(difference, "costed", "layers"),
    }


def _closest_document(closest) -> dict | None:
    if closest is None:
        return None
    return {"name": closest.name, "flags": dict(closest.flags), "exact": closest.exact}


def _divergence_document(divergence: Divergence | None) -> dict | None:
    if divergence is None:
        return None
    difference = divergence.difference
    return {
        "stage": divergence.stage or None,
        "index": divergence.index,
        "model": divergence.model,
        "stage_in_model": divergence.stage_in_model,
        "reasons": list(divergence.reasons),
        "kind": difference.kind,
        "message": difference.message,
        "where": {"reference": difference.reference, "model": difference.model},
        "output_shape": {
            "reference": _shape_list(divergence.reference_shape),
            "model": _shape_list(divergence.output_shape),
        },
        "params": {
            "reference": divergence.params.reference,
            "model": divergence.params.value,
            "diff": divergence.params.diff,
            "pct": divergence.params.pct,
        },
        "flops": {
            "reference": divergence.flops.reference,
            "model": divergence.flops.value,
            "diff": divergence.flops.diff,
            "pct": divergence.flops.pct,
        },
    }


def _stage_entry(comparison: ModelComparison, index: int, stage_index: int) -> dict:
    stage, reference = comparison.stage(index, stage_index), comparison.stage(0, stage_index)
    entry = {
        "model": comparison.models[index].name,
        "name": stage.name if stage else None,
        "output_shape": _shape_list(stage.output_shape) if stage else None,
    }
    for measure in ("params", "flops", "macs"):
        delta = Delta(getattr(reference, measure) if reference else None, getattr(stage, measure) if stage else None)
        entry.update({measure: delta.value, f"{measure}_diff": delta.diff, f"{measure}_pct": delta.pct})
    return entry


def models_data(comparison: ModelComparison) -> dict:
    """The JSON document: every number of the table, raw, and the differences, the closest variant."""
    first = comparison.models[0]
    flops_index = comparison.first_flops_difference
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "compare",
        "comparison": "models",
        "reference": first.name,
        "differences": [
            {**_difference_document(d), "of": m.name} for m in comparison.models[1:] for d in m.differences
        ],
        "closest": _closest_document(comparison.subject.closest),
        "models": [
            {
                "name": m.name,
                "source": m.source,
                "description": m.description,
                "device": m.device,
                "notes": list(m.notes),
                "failure": {
                    "module": m.failed_in,
                    "module_type": m.failed_type,
                    "operator": m.failed_operator,
                    "why": m.failure_why,
                    "message": m.failure,
                }
                if m.failure
                else None,
                "input_shape": list(m.input_shape),
                "output_shape": _shape_list(m.output_shape),
                "stages": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "output_shape": _shape_list(s.output_shape),
                        "params": s.params,
                        "flops": s.flops,
                        "macs": s.macs,
                    }
                    for s in m.stages
                ],
                "total": {"params": m.params, "flops": m.flops, "macs": m.macs},
                "vs_reference": {
                    measure: {"diff": d.diff, "pct": d.pct}
                    for measure, d in (
                        (measure, Delta(getattr(first, measure), getattr(m, measure)))
                        for measure in ("params", "flops", "macs")
                    )
                },
                "differences": [_difference_document(d) for d in m.differences],
                "unsupported": unsupported_data(m.unsupported),
                "closest": _closest_document(m.closest),
                "identified_as": identified_data(m.identified_as),
                "first_divergence": _divergence_document(d) if index else None,
            }
            for index, (m, d) in enumerate(zip(comparison.models, comparison.divergences))
        ],
        "stages": [
            {
                "index": stage_index,
                "stage": comparison.stage_label(stage_index),
                "models": [_stage_entry(comparison, index, stage_index) for index in range(len(comparison.models))],
            }
            for stage_index in range(comparison.stage_count)
        ],
        "stages_aligned_by": "position" if comparison.by_position else "structure",
        "first_divergence": _divergence_document(comparison.first_divergence),
        "first_flops_difference": None
        if flops_index is None
        else {"stage": comparison.stage_label(flops_index), "index": flops_index},
        "conventions": {
            "flops": FLOPS_MEANING,
            "macs": MACS_MEANING,
            "diff": "model − first model; pct = 100·diff / first model's value",
            "differences": "every way a model differs from the first, aligned operator by operator "
            "(not by name or position); params_delta and flops_delta = model − first",
            "first_divergence": "the model's first difference, in the first model's order of "
            "execution, and the stage it is in",
        },
    }


def verdict_lines(comparison: ModelComparison) -> list[tuple[str, str]]:
    """(kind, text): per model after the first, its differences (or that there are none), then what it is.
    ``kind`` is a difference's kind, HEADING for the line that introduces them, "" for a sentence."""
    labels = short_labels(comparison)
    lines = []
    for index, model in enumerate(comparison.models):
        closest = model.closest
        named = closest is not None and closest.exact and closest.label == comparison.models[0].name
        if index and model.differences:
            count = sum(1 for d in model.differences if d.kind != "combined")  # the last row adds up the rest
            lines.append(
                (HEADING, f"{labels[index]} differs from {labels[0]} in {count} way{'s' if count != 1 else ''}:")
            )
            lines += [(d.kind, d.message) for d in model.differences]
        elif index and not named:
            lines.append((HEADING, f"{labels[index]} = {labels[0]}: no differences ({EXACT} is the same)"))
        if index and not model.differences and model.flops != comparison.models[0].flops:
            extra = model.flops - comparison.models[0].flops
            lines.append(
                (
                    "",
                    f"(the FLOPs still differ by {extra:+,}: fvcore counts "
                    "some operators by how they are called — a global pool written x.mean((2, 3)) or "
                    "F.avg_pool2d is 0, AdaptiveAvgPool2d 1 per element)",
                )
            )
        if closest is None:
            if model.source in ("file", "module") and (len(comparison.models) == 1 or index):
                hint = (
                    " (name the model it should be: `resnet-cli compare REFERENCE MODEL`)"
                    if len(comparison.models) == 1
                    else ""
                )
                what = (
                    "a registered variant with nearby flags"
                    if model.failure is None
                    else "close to a registered variant up to where its forward fails"
                )
                lines.append(("", f"{labels[index]} is not {what}{hint}"))
        elif closest.exact and (model.source != "registry" or closest.label != model.name):
            lines.append((HEADING, f"{labels[index]} equals {closest.label} ({EXACT})"))
        elif not closest.exact and closest.label != comparison.models[0].name:
            lines.append(("", f"{labels[index]} is closest to {closest.label}, but not equal to it"))
    return lines


def _description(model) -> str:
    """ " (what it is)", unless it only repeats the name ("build from my.py:build")."""
    return "" if model.description.endswith(f" from {model.name}") else f" ({model.description})"


def models_document(comparison: ModelComparison) -> Document:
    """The differences first (they are the answer), then what each model is, then the stage table."""
    labels = short_labels(comparison)
    inputs = tuple(
        f"{label} = {m.name}{_description(m)}, input {render.shape_text(m.input_shape)}"
        for label, m in zip(labels, comparison.models)
    )
    rows = (
        "the named stages, lined up by position (--stages)"
        if comparison.by_position
        else f"{labels[0]}'s stages, every model's operators aligned with them"
    )
    delta = f"Δ = model − {labels[0]}; " if len(labels) > 1 else ""
    blocks: list = [Heading(f"compare {' vs '.join(labels)}"), Lines(inputs)]
    for kind, group in itertools.groupby(
        verdict_lines(comparison), key=lambda line: line[0] if line[0] in (HEADING, "") else "difference"
    ):
        group = list(group)
        if kind == HEADING:
            blocks += [Heading(text) for _, text in group]
        elif kind:
            blocks.append(Facts(tuple(group)))
        else:
            blocks.append(Lines(tuple(text for _, text in group)))
    unsupported = tuple(f"{m.name}: {unsupported_text(m.unsupported)}" for m in comparison.models if m.unsupported)
    # MACs stay in CSV and JSON: the table keeps to shapes, parameters and FLOPs
    columns = _ROTATED if len(labels) > 1 else tuple(c for c in _ROTATED if not c.key.endswith(("_diff", "_pct")))
    blocks += [
        Table(columns, tuple(_rotated_records(comparison)), rows),
        Lines((f"{delta}FLOPs (fvcore): {FLOPS_MEANING}; MACs: {MACS_MEANING}", *unsupported)),
    ]
    return Document(
        data=models_data(comparison),
        blocks=tuple(blocks),
        csv=Table(tuple(_model_columns(comparison)), tuple(_model_records(comparison))),
    )
