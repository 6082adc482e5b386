"""``profile`` as a document: rows against the roofline, the categories, the reconciliation, the ceilings."""

from __future__ import annotations

from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Drawing, Facts, Heading, Lines, Table
from resnet_cli.report.profile import ModelProfile, ProfileReport, difference

BYTES_MEANING = (
    "compulsory memory traffic of each operator: its inputs and its parameters and buffers read once, "
    "its output written once, at the dtype's size (views and allocations: 0)"
)
FLOPS_MEANING = "every operator the analysis counts, 2 per multiply-accumulate (batch norm, activations, adds too)"
ROOFLINE_MEANING = (
    "max(FLOPs / matmul peak, bytes / bandwidth): the least time the two measured ceilings allow; "
    "bound: the larger term; efficiency: roofline time / measured time"
)

ROW_COLUMNS = (
    Column("model", "model", justify="left"),
    Column("name", "row", justify="left"),
    Column("category", "kind", justify="left", drop=6),
    Column("median_ms", "ms", "ms"),
    Column("p10_ms", "p10", "ms", drop=4),
    Column("p90_ms", "p90", "ms", drop=4),
    Column("share_pct", "%", "pct"),
    Column("flops", "FLOPs", "flops", drop=3),
    Column("bytes", "bytes", "bytes", drop=3),
    Column("intensity", "FLOP/B", "float", drop=2),
    Column("roofline_ms", "roof ms", "ms", drop=5),
    Column("bound", "bound", justify="left"),
    Column("efficiency_pct", "eff", "pct"),
    Column("gflops_per_s", "GFLOP/s", "float", drop=7),
)
CATEGORY_COLUMNS = (
    Column("model", "model", justify="left"),
    Column("category", "category", justify="left"),
    Column("median_ms", "ms", "ms"),
    Column("time_pct", "time %", "pct"),
    Column("flops_pct", "FLOPs %", "pct"),
    Column("bytes_pct", "bytes %", "pct"),
)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 6)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(100.0 * fraction, 4)


def row_records(model: ModelProfile) -> list[dict]:
    return [
        {
            "model": model.model,
            "name": r.name,
            "category": r.category,
            "median_ms": _ms(r.median_s),
            "p10_ms": _ms(r.p10_s),
            "p90_ms": _ms(r.p90_s),
            "share_pct": _pct(r.share),
            "flops": r.flops,
            "bytes": r.bytes,
            "intensity": None if r.intensity is None else round(r.intensity, 4),
            "roofline_ms": _ms(r.roofline_s),
            "bound": r.bound,
            "efficiency_pct": _pct(r.efficiency),
            "gflops_per_s": None if r.achieved_flops_per_s is None else round(r.achieved_flops_per_s / 1e9, 4),
            "uncertain": r.uncertain,
        }
        for r in model.rows
    ]


def category_records(model: ModelProfile) -> list[dict]:
    return [
        {
            "model": model.model,
            "category": c.category,
            "median_ms": _ms(c.median_s),
            "time_pct": c.time_pct,
            "flops": c.flops,
            "flops_pct": c.flops_pct,
            "bytes": c.bytes,
            "bytes_pct": c.bytes_pct,
        }
        for c in model.categories
    ]


def reconciliation_data(model: ModelProfile) -> dict:
    r = model.reconciliation
    return {
        "rows_ms": _ms(r.rows_s),
        "profiled_ms": _ms(r.profiled_s),
        "free_ms": _ms(r.free_s),
        "free_p10_ms": _ms(r.free_p10_s),
        "free_p90_ms": _ms(r.free_p90_s),
        "outside_ms": _ms(r.outside_s),
        "overhead_ms": _ms(r.overhead_s),
        "iterations": r.iterations,
        "free_iterations": r.free_iterations,
    }


def difference_records(report: ProfileReport) -> list[dict]:
    if len(report.models) < 2:
        return []
    first = report.models[0]
    out = []
    for other in report.models[1:]:
        d = difference(first, other)
        out.append(
            {
                "first": d.first,
                "second": d.second,
                "total_ms": _ms(d.total_s),
                "relative": None if d.relative is None else round(d.relative, 6),
                "rows": [{"name": n, "delta_ms": _ms(s), "bound_first": a, "bound_second": b} for n, s, a, b in d.rows],
                "categories": [{"category": c, "delta_ms": _ms(s)} for c, s in d.categories],
            }
        )
    return out


def profile_data(report: ProfileReport) -> dict:
    p = report.peaks
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "profile",
        "device": report.device,
        "device_name": report.device_name,
        "dtype": report.dtype,
        "channels_last": report.channels_last,
        "compile": report.compile,
        "mode": "training" if report.training else "inference",
        "depth": report.depth,
        "batch_size": report.batch_size,
        "threads": report.threads,
        "peaks": {
            "flops_per_s": p.flops_per_s,
            "bytes_per_s": p.bytes_per_s,
            "flops_kernel": p.flops_kernel,
            "bytes_kernel": p.bytes_kernel,
            "ridge_flops_per_byte": round(p.ridge, 4),
            "kernels": [{"kernel": k, "rate": v, "unit": u} for k, v, u in p.kernels],
        },
        "flops_convention": FLOPS_MEANING,
        "bytes_convention": BYTES_MEANING,
        "roofline": ROOFLINE_MEANING,
        "models": [
            {
                "model": m.model,
                "description": m.description,
                "input_shape": list(m.input_shape),
                "flops": m.flops,
                "bytes": m.bytes,
                "roofline_ms": _ms(m.roofline_s),
                "time_source": m.time_source,
                "rows": row_records(m),
                "categories": category_records(m),
                "reconciliation": reconciliation_data(m),
            }
            for m in report.models
        ],
        "differences": difference_records(report),
        "interrupted": report.interrupted,
        "stopped_by": report.stopped_by,
        "warnings": list(report.warnings),
        "env": report.env,
    }


def _ms_text(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:,.2f} ms"


def _reconciliation_facts(model: ModelProfile) -> Facts:
    r = model.reconciliation
    free = _ms_text(r.free_s)
    if r.free_p10_s is not None:
        free += f" (p10 {r.free_p10_s * 1e3:,.2f} – p90 {r.free_p90_s * 1e3:,.2f}, n={r.free_iterations})"
    share = f" ({100 * r.rows_s / r.profiled_s:.0f} % of the profiled forward)" if r.rows_s and r.profiled_s else ""
    return Facts(
        (
            ("rows (sum)", _ms_text(r.rows_s) + share),
            ("profiled forward", _ms_text(r.profiled_s) + f" (n={r.iterations})"),
            ("outside operators", _ms_text(r.outside_s) + " — Python, module hooks, the profiler's bookkeeping"),
            ("without profiler", free),
            (
                "profiler overhead",
                _ms_text(r.overhead_s)
                if r.overhead_s is None or r.overhead_s >= 0
                else f"{_ms_text(r.overhead_s)} — the profiled forward ran faster: other processes moved the timings",
            ),
        )
    )


def _difference_lines(report: ProfileReport) -> tuple[str, ...]:
    lines = []
    first = report.models[0]
    for other in report.models[1:]:
        d = difference(first, other)
        word = "slower" if d.total_s >= 0 else "faster"
        rel = f" ({100 * abs(d.relative):.0f} %)" if d.relative is not None else ""
        lines.append(f"{d.second} is {abs(d.total_s) * 1e3:,.2f} ms {word} than {d.first}{rel} without the profiler.")
        parts = [
            f"{n} {'+' if s >= 0 else '−'}{abs(s) * 1e3:,.2f} ms ({a or '—'} → {b or '—'}-bound)"
            for n, s, a, b in d.largest_rows()
        ]
        if parts:
            lines.append("By row: " + "; ".join(parts) + ".")
        cats = [f"{c} {'+' if s >= 0 else '−'}{abs(s) * 1e3:,.2f} ms" for c, s in d.categories[:3] if s]
        if cats:
            lines.append("By kind: " + "; ".join(cats) + ".")
    return tuple(lines)


def profile_document(report: ProfileReport, drawing=None) -> Document:
    """``drawing``: the terminal roofline (a ``render.emit.Drawing`` callable), when the caller has one."""
    several = len(report.models) > 1
    p = report.peaks
    mode = "training step (forward + backward)" if report.training else "inference forward"
    blocks: list = [
        Heading(
            f"profile: {', '.join(m.model for m in report.models)} — {mode}, batch "
            f"{report.batch_size}, {report.dtype}{', channels-last' if report.channels_last else ''}"
            f"{', compiled (' + report.compile + ')' if report.compile else ''}"
        ),
        Facts(
            (
                (
                    "device",
                    f"{report.device}{' (' + report.device_name + ')' if report.device_name else ''}"
                    f", {report.threads} thread{'s' if report.threads != 1 else ''}",
                ),
                ("matmul peak", f"{p.flops_per_s / 1e9:,.1f} GFLOP/s ({p.flops_kernel}, best sample)"),
                ("bandwidth", f"{p.bytes_per_s / 1e9:,.1f} GB/s ({p.bytes_kernel}, best sample)"),
                ("ridge", f"{p.ridge:,.1f} FLOP/byte: below it a row is memory-bound"),
                ("time", report.models[0].time_source),
            )
        ),
    ]
    columns = ROW_COLUMNS if several else ROW_COLUMNS[1:]
    records = []
    for model in report.models:
        for record in row_records(model):
            records.append({**record, "name": record["name"] + (" ?" if record["uncertain"] else "")})
    blocks.append(Table(columns, tuple(records), "rows"))
    cat_columns = CATEGORY_COLUMNS if several else CATEGORY_COLUMNS[1:]
    blocks.append(
        Table(cat_columns, tuple(r for m in report.models for r in category_records(m)), "by kind of operator")
    )
    for model in report.models:
        blocks.append(Heading(f"reconciliation{': ' + model.model if several else ''}"))
        blocks.append(_reconciliation_facts(model))
    if several:
        blocks.append(Heading("where the difference comes from"))
        blocks.append(Lines(_difference_lines(report)))
    if drawing is not None:
        blocks.append(Heading("roofline (text)"))
        blocks.append(Drawing(drawing))
    legend = [f"bytes: {BYTES_MEANING}.", f"FLOPs: {FLOPS_MEANING}.", f"roofline: {ROOFLINE_MEANING}."]
    if any(r.uncertain for m in report.models for r in m.rows):
        legend.append(
            "?: a row whose attribution is uncertain (time outside every module, compiled code, or costs "
            "with no measured time: operators not matched)."
        )
    if report.training:
        legend.append(
            "training: bytes count the forward operators only (the backward's operand shapes are not "
            "recorded), so the memory term of a row's roofline is a lower bound."
        )
    if report.interrupted:
        legend.append("interrupted: the figures hold the iterations completed before Ctrl-C.")
    blocks.append(Lines(tuple(legend), style="dim"))
    csv = Table(
        (*ROW_COLUMNS, Column("uncertain", "uncertain")), tuple(r for m in report.models for r in row_records(m))
    )
    return Document(profile_data(report), tuple(blocks), csv)


def flat_records(report: ProfileReport) -> list[dict]:
    """One record per row for ``--output``: the row and its run."""
    run = {
        "device": report.device,
        "device_name": report.device_name,
        "dtype": report.dtype,
        "channels_last": report.channels_last,
        "compile": report.compile,
        "training": report.training,
        "depth": report.depth,
        "batch_size": report.batch_size,
        "threads": report.threads,
        "matmul_peak_flops_per_s": report.peaks.flops_per_s,
        "bandwidth_bytes_per_s": report.peaks.bytes_per_s,
    }
    return [{**record, **run} for m in report.models for record in row_records(m)]


RUN_KEYS = (
    "uncertain",
    "device",
    "device_name",
    "dtype",
    "channels_last",
    "compile",
    "training",
    "depth",
    "batch_size",
    "threads",
    "matmul_peak_flops_per_s",
    "bandwidth_bytes_per_s",
)
OUTPUT_COLUMNS = (Column("timestamp", "time", justify="left"), *ROW_COLUMNS, *(Column(k, k) for k in RUN_KEYS))
