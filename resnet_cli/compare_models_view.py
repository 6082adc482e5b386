"""A model comparison as a document and a screen: the differences first (they are the answer), then the
stage table.

One column list drives the table, CSV and Markdown; the JSON document carries the same numbers (and the
differences, the closest variant, the first divergence) raw. Nothing here computes:
``resnet_cli.model_compare`` did. A table wider than the terminal leaves out its least needed columns
(and says which) rather than split a number across lines.
"""

from __future__ import annotations

from resnet_cli import render
from resnet_cli.model_compare import Delta, Divergence, ModelComparison
from resnet_cli.present import FLOPS_MEANING, MACS_MEANING
from resnet_cli.render import Column

EXACT = "every operator, shape and parameter"


def short_labels(comparison: ModelComparison) -> list[str]:
    """Column labels: a registered name as is, a user's model by its callable's name; repeats numbered."""
    labels = []
    for model in comparison.models:
        label = model.name.rpartition(":")[2] or model.name
        label = label.split(" ")[0] if model.source == "closest" else label
        labels.append(label if label not in labels else f"{label}#{len(labels) + 1}")
    return labels


def _model_columns(comparison: ModelComparison) -> list[Column]:
    """stage, then per model: output, params, FLOPs (fvcore), MACs; after the first, each with Δ and Δ%."""
    columns = [Column("stage", "stage", justify="left")]
    for index, label in enumerate(short_labels(comparison)):
        key = f"m{index + 1}"
        columns.append(Column(f"{key}_output", f"{label} output", "shape"))
        for measure, header, kind in (("params", "params", "count"), ("flops", "FLOPs", "flops"),
                                      ("macs", "MACs", "flops")):
            columns.append(Column(f"{key}_{measure}", header, kind))
            if index:
                columns.append(Column(f"{key}_{measure}_diff", "Δ", kind))
                columns.append(Column(f"{key}_{measure}_pct", "Δ%", "pct"))
    return columns


def _delta_fields(prefix: str, measure: str, delta: Delta) -> dict:
    return {f"{prefix}_{measure}": delta.value, f"{prefix}_{measure}_diff": delta.diff,
            f"{prefix}_{measure}_pct": delta.pct}


def _model_records(comparison: ModelComparison) -> list[dict]:
    records = []
    for stage_index in range(comparison.stage_count):
        record = {"stage": comparison.stage_label(stage_index)}
        reference = comparison.stage(0, stage_index)
        for index in range(len(comparison.models)):
            stage = comparison.stage(index, stage_index)
            prefix = f"m{index + 1}"
            record[f"{prefix}_output"] = stage.output_shape if stage else None
            for measure in ("params", "flops", "macs"):
                record.update(_delta_fields(prefix, measure, Delta(
                    getattr(reference, measure) if reference else None, getattr(stage, measure) if stage else None)))
        records.append(record)
    total = {"stage": "total"}
    first = comparison.models[0]
    for index, model in enumerate(comparison.models):
        prefix = f"m{index + 1}"
        total[f"{prefix}_output"] = model.output_shape
        for measure in ("params", "flops", "macs"):
            total.update(_delta_fields(prefix, measure, Delta(getattr(first, measure), getattr(model, measure))))
    records.append(total)
    return records


def _signed(records: list[dict], columns: list[Column]) -> list[dict]:
    """Table and Markdown cells for the Δ columns carry their sign (+1,234 / +12.5%)."""
    signed = []
    for record in records:
        record = dict(record)
        for column in columns:
            value = record.get(column.key)
            if column.key.endswith("_diff") and value is not None:
                record[column.key] = "0" if value == 0 else f"{value:+,}" if column.kind == "count" else \
                    ("+" if value > 0 else "") + render.human(value)
            elif column.key.endswith("_pct") and value is not None:
                record[column.key] = "0.0%" if value == 0 else f"{value:+.1f}%"
        signed.append(record)
    return signed


def _display_columns(columns: list[Column]) -> list[Column]:
    return [Column(c.key, c.header, "text", c.justify) if c.key.endswith(("_diff", "_pct")) else c for c in columns]


def _shape_list(shape) -> list[int] | None:
    return list(shape) if shape else None


def _difference_document(difference) -> dict:
    return {"kind": difference.kind, "reference": difference.reference, "model": difference.model,
            "message": difference.message, "blocks": list(difference.blocks),
            "params_delta": difference.params_delta, "flops_delta": difference.flops_delta}


def _closest_document(closest) -> dict | None:
    if closest is None:
        return None
    return {"name": closest.name, "flags": dict(closest.flags), "exact": closest.exact}


def _divergence_document(divergence: Divergence | None) -> dict | None:
    if divergence is None:
        return None
    difference = divergence.difference
    return {
        "stage": divergence.stage or None, "index": divergence.index, "model": divergence.model,
        "stage_in_model": divergence.stage_in_model, "reasons": list(divergence.reasons),
        "kind": difference.kind, "message": difference.message,
        "where": {"reference": difference.reference, "model": difference.model},
        "output_shape": {"reference": _shape_list(divergence.reference_shape),
                         "model": _shape_list(divergence.output_shape)},
        "params": {"reference": divergence.params.reference, "model": divergence.params.value,
                   "diff": divergence.params.diff, "pct": divergence.params.pct},
        "flops": {"reference": divergence.flops.reference, "model": divergence.flops.value,
                  "diff": divergence.flops.diff, "pct": divergence.flops.pct},
    }


def _stage_entry(comparison: ModelComparison, index: int, stage_index: int) -> dict:
    stage, reference = comparison.stage(index, stage_index), comparison.stage(0, stage_index)
    entry = {"model": comparison.models[index].name, "name": stage.name if stage else None,
             "output_shape": _shape_list(stage.output_shape) if stage else None}
    for measure in ("params", "flops", "macs"):
        delta = Delta(getattr(reference, measure) if reference else None, getattr(stage, measure) if stage else None)
        entry.update({measure: delta.value, f"{measure}_diff": delta.diff, f"{measure}_pct": delta.pct})
    return entry


def models_document(comparison: ModelComparison) -> dict:
    first = comparison.models[0]
    flops_index = comparison.first_flops_difference
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "compare",
        "comparison": "models",
        "reference": first.name,
        "differences": [{**_difference_document(d), "of": m.name}
                        for m in comparison.models[1:] for d in m.differences],
        "closest": _closest_document(comparison.subject.closest),
        "models": [
            {"name": m.name, "source": m.source, "description": m.description, "device": m.device,
             "notes": list(m.notes),
             "failure": {"module": m.failed_in, "message": m.failure} if m.failure else None,
             "input_shape": list(m.input_shape), "output_shape": _shape_list(m.output_shape),
             "stages": [{"name": s.name, "kind": s.kind, "output_shape": _shape_list(s.output_shape),
                         "params": s.params, "flops": s.flops, "macs": s.macs} for s in m.stages],
             "total": {"params": m.params, "flops": m.flops, "macs": m.macs},
             "vs_reference": {measure: {"diff": d.diff, "pct": d.pct} for measure, d in (
                 (measure, Delta(getattr(first, measure), getattr(m, measure)))
                 for measure in ("params", "flops", "macs"))},
             "differences": [_difference_document(d) for d in m.differences],
             "closest": _closest_document(m.closest),
             "first_divergence": _divergence_document(d) if index else None}
            for index, (m, d) in enumerate(zip(comparison.models, comparison.divergences))
        ],
        "stages": [
            {"index": stage_index, "stage": comparison.stage_label(stage_index),
             "models": [_stage_entry(comparison, index, stage_index) for index in range(len(comparison.models))]}
            for stage_index in range(comparison.stage_count)
        ],
        "stages_aligned_by": "position" if comparison.by_position else "structure",
        "first_divergence": _divergence_document(comparison.first_divergence),
        "first_flops_difference": None if flops_index is None else {
            "stage": comparison.stage_label(flops_index), "index": flops_index},
        "conventions": {"flops": FLOPS_MEANING, "macs": MACS_MEANING,
                        "diff": "model − first model; pct = 100·diff / first model's value",
                        "differences": "every way a model differs from the first, aligned operator by operator "
                                       "(not by name or position); params_delta and flops_delta = model − first",
                        "first_divergence": "the model's first difference, in the first model's order of "
                                            "execution, and the stage it is in"},
    }


def verdict_lines(comparison: ModelComparison) -> list[tuple[str, str]]:
    """(kind, text): per model after the first, its differences (or that there are none), then what it is."""
    labels = short_labels(comparison)
    lines = []
    for index, model in enumerate(comparison.models):
        closest = model.closest
        named = closest is not None and closest.exact and closest.label == comparison.models[0].name
        if index and model.differences:
            count = len(model.differences)
            lines.append(("", f"{labels[index]} differs from {labels[0]} in {count} way{'s' if count != 1 else ''}:"))
            lines += [(d.kind, d.message) for d in model.differences]
        elif index and not named:
            lines.append(("", f"{labels[index]} = {labels[0]}: no differences ({EXACT} is the same)"))
        if index and not model.differences and model.flops != comparison.models[0].flops:
            extra = model.flops - comparison.models[0].flops
            lines.append(("", f"(the FLOPs still differ by {extra:+,}: fvcore counts "
                              "some operators by how they are called — a global pool written x.mean((2, 3)) or "
                              "F.avg_pool2d is 0, AdaptiveAvgPool2d 1 per element)"))
        if closest is None:
            if model.source in ("file", "module") and (len(comparison.models) == 1 or index):
                hint = " (name the model it should be: `resnet-cli compare REFERENCE MODEL`)" \
                    if len(comparison.models) == 1 else ""
                lines.append(("", f"{labels[index]} is not a registered variant with nearby flags{hint}"))
        elif closest.exact and (model.source != "registry" or closest.label != model.name):
            lines.append(("", f"{labels[index]} equals {closest.label} ({EXACT})"))
        elif not closest.exact and closest.label != comparison.models[0].name:
            lines.append(("", f"{labels[index]} is closest to {closest.label}, but not equal to it"))
    return lines


# the order in which columns are left out of a table too wide for the terminal (first left out first)
def _priority(key: str, comparison: ModelComparison) -> int:
    if key == "stage":
        return 9
    prefix, _, measure = key.partition("_")
    first = prefix == "m1"
    if measure == "output":
        differs = any(r.get(key) != r.get("m1_output") for r in _model_records(comparison))
        return 4 if first else (7 if differs else 1)
    if measure in ("params_diff", "flops_pct"):
        return 8
    if measure in ("params", "flops"):
        return 5 if first else 3
    return 2


def fit_columns(columns: list[Column], records: list[dict], comparison: ModelComparison, console):
    """The columns that fit the console without splitting a cell, and the headers of those left out."""
    from rich.measure import Measurement

    kept = list(columns)
    left_out = []
    labels = short_labels(comparison)
    while True:
        table = _table(_relabel(kept, labels), records)
        unbounded = console.options.update(max_width=100_000)  # a measurement is clipped to the width asked
        if Measurement.get(console, unbounded, table).minimum <= console.width or len(kept) <= 2:
            return _relabel(kept, labels), left_out
        drop = min(kept, key=lambda c: (_priority(c.key, comparison), -kept.index(c)))
        kept.remove(drop)
        model = labels[int(drop.key.split("_")[0][1:]) - 1] if drop.key != "stage" else ""
        measure = drop.key.split("_", 1)[1].replace("_diff", " Δ").replace("_pct", " Δ%").replace("flops", "FLOPs")
        left_out.append(f"{model} {measure}")


def _relabel(columns: list[Column], labels: list[str]) -> list[Column]:
    """A Δ column whose model's own columns were left out says whose Δ of what it is."""
    keys = {c.key for c in columns}
    relabelled = []
    for column in columns:
        prefix, _, rest = column.key.partition("_")
        measure, _, which = rest.partition("_")
        if which in ("diff", "pct") and f"{prefix}_{measure}" not in keys:
            name = {"params": "params", "flops": "FLOPs"}.get(measure, measure)
            column = Column(column.key, f"{labels[int(prefix[1:]) - 1]} {name} {column.header}", column.kind,
                            column.justify)
        relabelled.append(column)
    return relabelled


def _table(columns: list[Column], records: list[dict]):
    """Every cell whole: a column is at least as wide as its widest cell (headers may wrap between words)."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    cells = [[render.cell(record.get(c.key), c.kind) for c in columns] for record in records]
    for index, column in enumerate(columns):
        widest = max([cell_len(row[index]) for row in cells] + [cell_len(w) for w in column.header.split()])
        table.add_column(column.header, justify=column.justify, min_width=widest)
    for row in cells:
        table.add_row(*row)
    return table


def present_models(comparison: ModelComparison, fmt: str) -> None:
    columns = _model_columns(comparison)
    records = _model_records(comparison)
    if fmt == "json":
        render.emit(render.to_json(models_document(comparison)))
        return
    if fmt == "csv":
        render.emit(render.to_csv(columns, records))
        return
    # MACs stay in CSV and JSON: the table keeps to shapes, parameters and FLOPs
    display = _display_columns([c for c in columns if not c.key.endswith(("_macs", "_macs_diff", "_macs_pct"))])
    shown = _signed(records, columns)
    labels = short_labels(comparison)
    inputs = "; ".join(f"{label} = {m.name} ({m.description}), input {render.shape_text(m.input_shape)}"
                       for label, m in zip(labels, comparison.models))
    rows = "by position (--stages)" if comparison.by_position else f"{labels[0]}'s stages, aligned by structure"
    delta = f"; Δ = model − {labels[0]}" if len(labels) > 1 else ""
    footer = [f"rows: {rows}{delta}; FLOPs (fvcore): {FLOPS_MEANING}; MACs: {MACS_MEANING}"]
    verdict = verdict_lines(comparison)
    if fmt == "markdown":
        render.emit("\n".join([f"### compare {' vs '.join(labels)}", "", f"{inputs}.", "",
                               *(f"- **{kind}**: {text}" if kind else text for kind, text in verdict), "",
                               render.to_markdown(display, shown), *(f"- {line}" for line in footer)]))
        return
    from rich.table import Table

    console = render.stdout_console()
    console.print(f"[bold]compare {' vs '.join(labels)}[/bold]")
    console.print(inputs, markup=False)
    console.print()
    pending: list[tuple[str, str]] = []

    def differences() -> None:  # one grid: each message wraps beside its kind, never under it
        if pending:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column()
            for row in pending:
                grid.add_row(*row)
            console.print(grid)
            pending.clear()

    for kind, text in verdict:
        if kind:
            pending.append((kind, text))
        else:
            differences()
            console.print(text, markup=False)
    differences()
    if verdict:
        console.print()
    kept, left_out = fit_columns(display, shown, comparison, console)
    console.print(_table(kept, shown))
    if left_out:
        footer.insert(0, f"(not shown at this width: {', '.join(left_out)}; a wider terminal or --format "
                         "json|csv|markdown shows every column)")
    for line in footer:
        console.print(line, markup=False)
