"""`flops` as one document: its JSON data, the tables a person reads, and one tidy CSV of every number."""

from __future__ import annotations

from resnet_cli.analysis.ops import CATEGORIES
from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Facts, Heading, Lines, Table, human, human_bytes
from resnet_cli.report.flops import FlopsReport
from resnet_cli.spec.naming import identified_data
from resnet_cli.views.conventions import (
    fvcore_gap_note,
    unsupported_data,
    unsupported_text,
    verification_blocks,
    verification_data,
)

PAPER = "He et al. 2015 (the ResNet paper), Table 1"

TOTAL_LINES = (  # (key, label, meaning)
    ("flops", "FLOPs (fvcore)", "fvcore's count: 1 per multiply-add, + batch norm, + adaptive avg-pool"),
    ("macs", "MACs", "conv + linear multiply-accumulates (torchvision's tables; what the papers count)"),
    ("flops_2x_macs", "FLOPs, 2 per MAC", "torch.utils.flop_counter's convention"),
    ("all_flops", "FLOPs, every op", "every operator executed, 2 per MAC (see the categories below)"),
)

CATEGORY_COLUMNS = (
    Column("category", "category", justify="left"),
    Column("flops", "FLOPs", "flops"),
    Column("pct", "%", "pct", drop=3),
    Column("macs", "MACs", "flops", drop=2),
    Column("fvcore_flops", "fvcore", "flops"),
    Column("calls", "calls", "count", drop=4),
    Column("ops", "operators", justify="left", drop=1, wrap=True),
)

MODULE_COLUMNS = (
    Column("name", "module", justify="left"),
    Column("output_shape", "output", "shape", drop=3),
    Column("params", "params", "count"),
    Column("flops", "FLOPs (fvcore)", "flops"),
    Column("macs", "MACs", "flops", drop=2),
    Column("all_flops", "FLOPs (every op)", "flops"),
    Column("pct", "%", "pct", drop=1),
)


def _totals_record(report: FlopsReport) -> dict:
    t = report.totals
    values = {
        "flops": t.flops,
        "macs": t.macs,
        "flops_2x_macs": t.flops_2x,
        "all_flops": t.all_flops,
        "params": t.params,
    }
    per_sample = {
        k: (v // report.batch if v % report.batch == 0 else v / report.batch)
        for k, v in values.items()
        if k != "params"
    }
    return {**values, "per_sample": per_sample}


def _category_records(categories, total) -> list[dict]:
    return [
        {
            "category": c.category,
            "flops": c.flops,
            "pct": render.percent(c.flops, total),
            "macs": c.macs,
            "fvcore_flops": c.fvcore_flops,
            "calls": c.calls,
            "ops": ", ".join(f"{op.removeprefix('aten.')}×{n}" for op, n in c.ops),
            "formula": c.formula,
        }
        for c in categories
    ]


def _module_records(rows, total, training: bool) -> list[dict]:
    records = []
    for r in rows:
        record = {
            "name": r.name,
            "kind": r.kind,
            "output_shape": r.output_shape,
            "params": r.params,
            "flops": r.flops,
            "macs": r.macs,
            "all_flops": r.all_flops,
            "pct": render.percent(r.all_flops, total),
            "by_category": dict(r.by_category),
        }
        if training:
            record.update(backward_flops=r.backward_flops, backward_macs=r.backward_macs)
        records.append(record)
    return records


def flops_data(report: FlopsReport) -> dict:
    t = report.totals
    m = report.memory
    doc = {
        "schema_version": render.SCHEMA_VERSION,
        "command": "flops",
        "model": report.model,
        "description": report.description,
        "identified_as": identified_data(report.identified_as),
        "input_shape": list(report.input_shape),
        "batch_size": report.batch,
        "total": _totals_record(report),
        "by_operator": {
            r["category"]: {k: v for k, v in r.items() if k != "category"}
            for r in _category_records(report.by_category, t.all_flops)
        },
        "by_module": {
            "depth": report.depth,
            "rows": [
                {**r, "output_shape": list(r["output_shape"]) if r["output_shape"] else None}
                for r in _module_records(report.rows, t.all_flops, False)
            ],
        },
        "conventions": [
            {"name": c.name, "description": c.description, "total": c.total, "by_category": dict(c.by_category)}
            for c in report.conventions
        ],
        "paper": (
            {
                "gflops": report.paper.gflops,
                "source": PAPER,
                "of": report.paper.variant,
                "of_gmacs_per_sample": round(report.paper.variant_macs / 1e9, 3),
                "ours_gmacs_per_sample": round(t.macs / report.batch / 1e9, 3),
                "why_they_differ": report.paper.why,
            }
            if report.paper
            else None
        ),
        "unsupported": unsupported_data(report.unsupported),
        "fvcore_uncounted": [
            {"call": name, "calls": calls, "macs": macs} for name, calls, macs in report.fvcore_uncounted
        ],
        "zero_cost_ops": dict(report.zero_cost_ops),
        "memory": {
            "dtype": m.dtype,
            "bytes_per_element": m.bytes_per_element,
            "param_bytes": m.param_bytes,
            "activations_fvcore": m.fvcore_activations,
            "activation_bytes_fvcore": m.fvcore_activation_bytes,
            "inference_peak_activation_bytes": m.inference_peak_bytes,
            "training_saved_activation_bytes": m.training_saved_bytes,
            "training_no_backward": m.no_backward,
        },
        "training": None,
    }
    if report.training:
        tr = report.training
        doc["training"] = {
            "forward_flops": tr.forward_flops,
            "forward_macs": tr.forward_macs,
            "backward_flops": tr.backward_flops,
            "backward_macs": tr.backward_macs,
            "step_flops": tr.step_flops,
            "flop_counter_flops": tr.flop_counter_flops,
            "no_backward": tr.no_backward,
            "backward_by_operator": {
                r["category"]: {k: v for k, v in r.items() if k != "category"}
                for r in _category_records(tr.by_category, tr.backward_flops)
            },
            "by_module": [
                {**r, "output_shape": list(r["output_shape"]) if r["output_shape"] else None}
                for r in _module_records(tr.rows, tr.step_flops, True)
            ],
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
        rows += [
            {"table": "by_operator", "name": category, "metric": k, "value": v}
            for k, v in values.items()
            if k in ("flops", "macs", "fvcore_flops", "calls", "pct")
        ]
    for row in doc["by_module"]["rows"]:
        rows += [
            {"table": "by_module", "name": row["name"], "metric": k, "value": row[k]}
            for k in ("params", "flops", "macs", "all_flops", "pct")
        ]
    for convention in doc["conventions"]:
        rows.append(
            {"table": "conventions", "name": convention["name"], "metric": "total", "value": convention["total"]}
        )
        rows += [
            {"table": "conventions", "name": convention["name"], "metric": k, "value": v}
            for k, v in convention["by_category"].items()
        ]
    for key, value in doc["memory"].items():
        rows.append({"table": "memory", "name": key, "metric": key, "value": value})
    if doc["training"]:
        for key, value in doc["training"].items():
            if isinstance(value, int):
                rows.append({"table": "training", "name": key, "metric": key, "value": value})
    for item in doc["unsupported"]:
        rows.append({"table": "unsupported", "name": item["op"], "metric": "calls", "value": item["calls"]})
    return rows


TIDY_COLUMNS = (Column("table", "table"), Column("name", "name"), Column("metric", "metric"), Column("value", "value"))


def _convention_columns() -> list[Column]:
    # at a short width the total stays, and the categories fvcore and the papers ignore go first
    ranks = {"other": 6, "residual_add": 5, "activation": 4, "pooling": 3, "batch_norm": 2, "linear": 1}
    return (
        (Column("name", "convention", justify="left", wrap=True),)
        + tuple(Column(c, c.replace("_", " "), "flops", drop=ranks.get(c, 0)) for c in CATEGORIES)
        + (Column("total", "total", "flops"),)
    )


def _convention_records(report: FlopsReport) -> list[dict]:
    return [{"name": c.name, **dict(c.by_category), "total": c.total} for c in report.conventions]


def flops_document(report: FlopsReport, verification=None) -> Document:
    data = flops_data(report)
    t = report.totals
    module_columns = (Column("name", report.depth, justify="left"),) + MODULE_COLUMNS[1:]
    blocks = [
        Heading(f"{report.model} — {report.description}"),
        Lines((f"input {render.shape_text(report.input_shape)} (batch {report.batch})",)),
        Facts(_total_facts(report)),
        Table(
            CATEGORY_COLUMNS,
            tuple(_category_records(report.by_category, t.all_flops)),
            "By operator category (forward)",
        ),
        Facts(tuple((c.category, c.formula) for c in report.by_category)),
        Table(
            _convention_columns(),
            tuple(_convention_records(report)),
            "Conventions side by side: what each counts, per category",
        ),
        Table(module_columns, tuple(_module_records(report.rows, t.all_flops, False)), f"By module ({report.depth})"),
    ]
    if report.training:
        tr = report.training
        blocks.append(
            Table(
                CATEGORY_COLUMNS,
                tuple(_category_records(tr.by_category, tr.backward_flops)),
                "Training step: backward by operator category",
            )
        )
    blocks += [Heading("Memory"), Facts(_memory_facts(report)), Lines(_notes(report))]
    if verification is not None:
        data["verify"] = verification_data(verification)
        blocks += list(verification_blocks(verification))
    return Document(data=data, blocks=tuple(blocks), csv=Table(TIDY_COLUMNS, tuple(_tidy_rows(data))))


def _total_facts(report: FlopsReport) -> tuple[tuple[str, str], ...]:
    t = report.totals
    n = report.batch
    facts = []
    values = {"flops": t.flops, "macs": t.macs, "flops_2x_macs": t.flops_2x, "all_flops": t.all_flops}
    for key, label, meaning in TOTAL_LINES:
        value = values[key]
        sample = f"; per sample {value // n:,}" if n > 1 else ""
        gap = fvcore_gap_note(t.flops, t.macs, report.fvcore_uncounted) if key == "flops" else ""
        facts.append((label, f"{value:,} = {human(value)}{sample} — {meaning}{gap}"))
    if report.training and report.training.no_backward:
        tr = report.training
        facts.append(
            (
                "training step",
                f"{tr.step_flops:,} = {human(tr.step_flops)} — the forward in train mode "
                f"only; no backward pass: {tr.no_backward}",
            )
        )
    elif report.training:
        tr = report.training
        facts.append(
            (
                "training step",
                f"{tr.step_flops:,} = {human(tr.step_flops)} — forward (train mode) "
                f"{human(tr.forward_flops)} + backward {human(tr.backward_flops)}, every op "
                "from the real backward operators; torch.utils.flop_counter would say "
                f"{tr.flop_counter_flops:,}",
            )
        )
    paper = report.paper
    if paper is not None and paper.why is None:
        facts.append(
            (
                "paper",
                f"{paper.gflops} G — {PAPER} for this depth, counting multiply-adds of one "
                f"224×224 image; ours: {t.macs / n / 1e9:.3f} G MACs",
            )
        )
    elif paper is not None:
        facts.append(
            (
                "paper",
                f"{paper.gflops} G — {PAPER}, multiply-adds of one 224×224 image, for its v1: "
                f"{paper.variant} is {paper.variant_macs / 1e9:.3f} G MACs by our count, this "
                f"model {paper.macs / 1e9:.3f} G",
            )
        )
        facts.append(("why", paper.why))
    return tuple(facts)


def _memory_facts(report: FlopsReport) -> tuple[tuple[str, str], ...]:
    m = report.memory
    return (
        ("parameters", f"{m.param_bytes:,} B = {human_bytes(m.param_bytes)} at {m.dtype}"),
        (
            "activations (fvcore)",
            f"{m.fvcore_activations:,} elements (conv and linear outputs) = {human_bytes(m.fvcore_activation_bytes)}",
        ),
        (
            "inference peak",
            f"{m.inference_peak_bytes:,} B = {human_bytes(m.inference_peak_bytes)} — largest set of "
            "intermediate tensors alive at once in the forward",
        ),
        (
            "training (saved)",
            f"{m.training_saved_bytes:,} B = {human_bytes(m.training_saved_bytes)} — tensors "
            "autograd keeps from the forward for the backward (parameters excluded)"
            + (f"; no backward pass uses them: {m.no_backward}" if m.no_backward else ""),
        ),
    )


def _notes(report: FlopsReport) -> tuple[str, ...]:
    if report.unsupported:
        return (unsupported_text(report.unsupported)[0].upper() + unsupported_text(report.unsupported)[1:] + ".",)
    moved = ", ".join(f"{op.removeprefix('aten.')}×{calls}" for op, calls in report.zero_cost_ops)
    return (f"Every operator executed is covered by a formula or is data movement (0 FLOPs: {moved or 'none'}).",)
