"""`flops` as a document and as tables (table | json | csv | markdown)."""

from __future__ import annotations

from resnet_cli import render
from resnet_cli.flops import FlopsReport
from resnet_cli.formulas import CATEGORIES
from resnet_cli.render import Column, human, human_bytes

PAPER = "He et al. 2015 (the ResNet paper), Table 1"

TOTAL_LINES = (  # (key, label, meaning)
    ("flops", "FLOPs (fvcore)", "fvcore's count: 1 per multiply-add, + batch norm, + adaptive avg-pool"),
    ("macs", "MACs", "conv + linear multiply-accumulates (torchvision's tables, the papers)"),
    ("flops_2x_macs", "FLOPs, 2 per MAC", "torch.utils.flop_counter's convention"),
    ("all_flops", "FLOPs, every op", "every operator executed, 2 per MAC (see the categories below)"),
)

CATEGORY_COLUMNS = [
    Column("category", "category", justify="left"),
    Column("flops", "FLOPs", "flops"),
    Column("pct", "%", "pct"),
    Column("macs", "MACs", "flops"),
    Column("fvcore_flops", "fvcore", "flops"),
    Column("calls", "calls", "count"),
    Column("ops", "operators", justify="left"),
]

MODULE_COLUMNS = [
    Column("name", "module", justify="left"),
    Column("output_shape", "output", "shape"),
    Column("params", "params", "count"),
    Column("flops", "FLOPs (fvcore)", "flops"),
    Column("macs", "MACs", "flops"),
    Column("all_flops", "FLOPs (every op)", "flops"),
    Column("pct", "%", "pct"),
]



def _totals_record(report: FlopsReport) -> dict:
    t = report.totals
    values = {"flops": t.flops, "macs": t.macs, "flops_2x_macs": t.flops_2x, "all_flops": t.all_flops,
              "params": t.params}
    per_sample = {k: (v // report.batch if v % report.batch == 0 else v / report.batch)
                  for k, v in values.items() if k != "params"}
    return {**values, "per_sample": per_sample}


def _category_records(categories, total) -> list[dict]:
    return [{
        "category": c.category, "flops": c.flops, "pct": render.percent(c.flops, total), "macs": c.macs,
        "fvcore_flops": c.fvcore_flops, "calls": c.calls,
        "ops": ", ".join(f"{op.removeprefix('aten.')}×{n}" for op, n in c.ops), "formula": c.formula,
    } for c in categories]


def _module_records(rows, total, training: bool) -> list[dict]:
    records = []
    for r in rows:
        record = {"name": r.name, "kind": r.kind, "output_shape": r.output_shape, "params": r.params,
                  "flops": r.flops, "macs": r.macs, "all_flops": r.all_flops, "pct": render.percent(r.all_flops, total),
                  "by_category": dict(r.by_category)}
        if training:
            record.update(backward_flops=r.backward_flops, backward_macs=r.backward_macs)
        records.append(record)
    return records


def flops_document(report: FlopsReport) -> dict:
    t = report.totals
    m = report.memory
    doc = {
        "schema_version": render.SCHEMA_VERSION,
        "command": "flops",
        "model": report.model,
        "description": report.description,
        "input_shape": list(report.input_shape),
        "batch_size": report.batch,
        "total": _totals_record(report),
        "by_operator": {r["category"]: {k: v for k, v in r.items() if k != "category"}
                        for r in _category_records(report.by_category, t.all_flops)},
        "by_module": {
            "depth": report.depth,
            "rows": [{**r, "output_shape": list(r["output_shape"]) if r["output_shape"] else None}
                     for r in _module_records(report.rows, t.all_flops, False)],
        },
        "conventions": [{"name": c.name, "description": c.description, "total": c.total,
                         "by_category": dict(c.by_category)} for c in report.conventions],
        "paper": ({"gflops": report.paper_gflops, "source": PAPER, "ours_gmacs_per_sample":
                   round(t.macs / report.batch / 1e9, 3)} if report.paper_gflops else None),
        "unsupported": [{"op": u.op, "calls": u.calls, "phase": u.phase, "modules": list(u.modules)}
                        for u in report.unsupported],
        "zero_cost_ops": dict(report.zero_cost_ops),
        "memory": {
            "dtype": m.dtype, "bytes_per_element": m.bytes_per_element, "param_bytes": m.param_bytes,
            "activations_fvcore": m.fvcore_activations, "activation_bytes_fvcore": m.fvcore_activation_bytes,
            "inference_peak_activation_bytes": m.inference_peak_bytes,
            "training_saved_activation_bytes": m.training_saved_bytes,
        },
        "training": None,
    }
    if report.training:
        tr = report.training
        doc["training"] = {
            "forward_flops": tr.forward_flops, "forward_macs": tr.forward_macs,
            "backward_flops": tr.backward_flops, "backward_macs": tr.backward_macs,
            "step_flops": tr.step_flops, "flop_counter_flops": tr.flop_counter_flops,
            "backward_by_operator": {r["category"]: {k: v for k, v in r.items() if k != "category"}
                                     for r in _category_records(tr.by_category, tr.backward_flops)},
            "by_module": [{**r, "output_shape": list(r["output_shape"]) if r["output_shape"] else None}
                          for r in _module_records(tr.rows, tr.step_flops, True)],
        }
    return doc


def _tidy_rows(doc: dict) -> list[dict]:
    """Every number of the document as (table, name, metric, value) rows: one CSV for all tables."""
    rows = []
    for key, value in doc["total"].items():
        if key == "per_sample":
            rows += [{"table": "total_per_sample", "name": k, "metric": k, "value": v} for k, v in value.items()]
        else:
            rows.append({"table": "total", "name": key, "metric": key, "value": value})
    for category, values in doc["by_operator"].items():
        rows += [{"table": "by_operator", "name": category, "metric": k, "value": v}
                 for k, v in values.items() if k in ("flops", "macs", "fvcore_flops", "calls", "pct")]
    for row in doc["by_module"]["rows"]:
        rows += [{"table": "by_module", "name": row["name"], "metric": k, "value": row[k]}
                 for k in ("params", "flops", "macs", "all_flops", "pct")]
    for convention in doc["conventions"]:
        rows.append({"table": "conventions", "name": convention["name"], "metric": "total",
                     "value": convention["total"]})
        rows += [{"table": "conventions", "name": convention["name"], "metric": k, "value": v}
                 for k, v in convention["by_category"].items()]
    for key, value in doc["memory"].items():
        rows.append({"table": "memory", "name": key, "metric": key, "value": value})
    if doc["training"]:
        for key, value in doc["training"].items():
            if isinstance(value, int):
                rows.append({"table": "training", "name": key, "metric": key, "value": value})
    for item in doc["unsupported"]:
        rows.append({"table": "unsupported", "name": item["op"], "metric": "calls", "value": item["calls"]})
    return rows


TIDY_COLUMNS = [Column("table", "table"), Column("name", "name"), Column("metric", "metric"),
                Column("value", "value")]


def _convention_columns() -> list[Column]:
    return ([Column("name", "convention", justify="left")]
            + [Column(c, c.replace("_", " "), "flops") for c in CATEGORIES]
            + [Column("total", "total", "flops")])


def _convention_records(report: FlopsReport) -> list[dict]:
    return [{"name": c.name, **dict(c.by_category), "total": c.total} for c in report.conventions]


def present_flops(report: FlopsReport, fmt: str) -> None:
    doc = flops_document(report)
    if fmt == "json":
        render.emit(render.to_json(doc))
        return
    if fmt == "csv":
        render.emit(render.to_csv(TIDY_COLUMNS, _tidy_rows(doc)))
        return
    t = report.totals
    category_records = _category_records(report.by_category, t.all_flops)
    module_records = _module_records(report.rows, t.all_flops, False)
    module_columns = list(MODULE_COLUMNS)
    module_columns[0] = Column("name", report.depth, justify="left")
    sections = [
        ("By operator category (forward)", CATEGORY_COLUMNS, category_records),
        ("Conventions side by side: what each counts, per category", _convention_columns(),
         _convention_records(report)),
        (f"By module ({report.depth})", module_columns, module_records),
    ]
    if report.training:
        tr = report.training
        sections.append(("Training step: backward by operator category", CATEGORY_COLUMNS,
                         _category_records(tr.by_category, tr.backward_flops)))
    lines = _summary_lines(report)
    if fmt == "markdown":
        out = [f"### {report.model} — FLOPs at {render.shape_text(report.input_shape)}", ""]
        out += [f"- {line}" for line in lines["totals"]]
        for title, columns, records in sections:
            out += ["", f"#### {title}", "", render.to_markdown(columns, records)]
            if columns is CATEGORY_COLUMNS and title.startswith("By operator"):
                out += [f"- **{r['category']}**: {r['formula']}" for r in records]
        out += ["", "#### Memory", ""] + [f"- {line}" for line in lines["memory"]]
        out += [f"- {line}" for line in lines["notes"]]
        render.emit("\n".join(out))
        return
    console = render.stdout_console()
    console.print(f"[bold]{report.model}[/bold] — {report.description}")
    console.print(f"input {render.shape_text(report.input_shape)} (batch {report.batch})")
    for line in lines["totals"]:
        console.print("  " + line, soft_wrap=True)
    for title, columns, records in sections:
        console.print()
        console.print(f"[bold]{title}[/bold]")
        console.print(render.to_table(columns, records))
        if columns is CATEGORY_COLUMNS and title.startswith("By operator"):
            for record in records:
                console.print(f"  {record['category']:<13} {record['formula']}", soft_wrap=True)
            console.print()
    console.print("[bold]Memory[/bold]")
    for line in lines["memory"]:
        console.print("  " + line, soft_wrap=True)
    for line in lines["notes"]:
        console.print(line, soft_wrap=True)


def _summary_lines(report: FlopsReport) -> dict[str, list[str]]:
    t = report.totals
    n = report.batch
    totals = []
    values = {"flops": t.flops, "macs": t.macs, "flops_2x_macs": t.flops_2x, "all_flops": t.all_flops}
    for key, label, meaning in TOTAL_LINES:
        value = values[key]
        sample = f"; per sample {value // n:,}" if n > 1 else ""
        totals.append(f"{label:<17} {value:>20,} = {human(value)}{sample} — {meaning}")
    if report.training:
        tr = report.training
        totals.append(f"{'training step':<17} {tr.step_flops:>20,} = {human(tr.step_flops)} — forward "
                      f"(train mode) {human(tr.forward_flops)} + backward {human(tr.backward_flops)}, every op "
                      f"from the real backward operators; torch.utils.flop_counter would say "
                      f"{tr.flop_counter_flops:,}")
    if report.paper_gflops:
        totals.append(f"{'paper':<17} {report.paper_gflops:>18} G — {PAPER} for this depth, counting "
                      f"multiply-adds of one 224×224 image; ours: {t.macs / n / 1e9:.3f} G MACs")
    m = report.memory
    memory = [
        f"parameters                {m.param_bytes:>16,} B = {human_bytes(m.param_bytes)} at {m.dtype}",
        f"activations (fvcore)      {m.fvcore_activations:>16,} elements (conv and linear outputs) = "
        f"{human_bytes(m.fvcore_activation_bytes)}",
        f"inference peak            {m.inference_peak_bytes:>16,} B = {human_bytes(m.inference_peak_bytes)} — "
        "largest set of intermediate tensors alive at once in the forward",
        f"training (saved)          {m.training_saved_bytes:>16,} B = {human_bytes(m.training_saved_bytes)} — "
        "tensors autograd keeps from the forward for the backward (parameters excluded)",
    ]
    notes = []
    if report.unsupported:
        listed = ", ".join(f"{u.op} ×{u.calls} ({u.phase})" for u in report.unsupported)
        notes.append(f"Operators no formula covers (counted as 0, listed here): {listed}")
    else:
        moved = ", ".join(f"{op.removeprefix('aten.')}×{calls}" for op, calls in report.zero_cost_ops)
        notes.append("Every operator executed is covered by a formula or is data movement "
                     f"(0 FLOPs: {moved or 'none'}).")
    return {"totals": totals, "memory": memory, "notes": notes}
