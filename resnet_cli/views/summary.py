"""``summary`` as a document: the shape of its output, defined once.

A view takes a report (plain numbers) and builds one ``render.Document``: the JSON data, the blocks a person
reads and the CSV table, all from the same column list. ``render.emit`` writes it in any format.
"""

from __future__ import annotations

from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Facts, Heading, Lines, Table
from resnet_cli.report.rows import Row, Summary, format_path
from resnet_cli.spec.naming import identified_data
from resnet_cli.views.conventions import (
    FLOPS_MEANING,
    MACS_MEANING,
    RF_MEANING,
    fvcore_gap_note,
    unsupported_data,
    unsupported_text,
    verification_blocks,
    verification_data,
)

ROW_COLUMNS = (
    Column("name", "stage", justify="left"),
    Column("output_shape", "output", "shape"),
    Column("params", "params", "count"),
    Column("params_pct", "%", "pct", drop=3),
    Column("flops", "FLOPs (fvcore)", "flops"),
    Column("flops_pct", "%", "pct", drop=4),
    Column("macs", "MACs", "flops", drop=6),
    Column("macs_pct", "%", "pct", drop=7),
    Column("receptive_field", "RF (stride)", "field", drop=2),
    Column("kind", "contains", justify="left", drop=5, wrap=True),
)


def row_records(rows: tuple[Row, ...], totals) -> list[dict]:
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "output_shape": list(r.output_shape) if r.output_shape else None,
            "params": r.params,
            "params_pct": render.percent(r.params, totals.params),
            "flops": r.flops,
            "flops_pct": render.percent(r.flops, totals.flops),
            "macs": r.macs,
            "macs_pct": render.percent(r.macs, totals.macs),
            "receptive_field": r.receptive_field.as_dict() if r.receptive_field is not None else None,
        }
        for r in rows
    ]


def summary_data(summary: Summary) -> dict:
    t = summary.totals
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "summary",
        "model": summary.model,
        "description": summary.description,
        "identified_as": identified_data(summary.identified_as),
        "family": summary.family,
        "spec": summary.spec,
        "input_shape": list(summary.input_shape),
        "output_shape": list(summary.output_shape) if summary.output_shape else None,
        "depth": summary.depth,
        "spatial_path": [list(size) for size in summary.spatial_path],
        "stages": row_records(summary.rows, t),
        "total": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "non_trainable_params": t.params - t.trainable_params,
            "keras_total_params": t.keras_total_params,
            "keras_non_trainable_params": t.running_stats + (t.params - t.trainable_params),
            "param_bytes_float32": 4 * t.params,
            "flops": t.flops,
            "macs": t.macs,
            "flops_2x_macs": t.flops_2x,
        },
        "conventions": {"flops": FLOPS_MEANING, "macs": MACS_MEANING, "receptive_field": RF_MEANING},
        "unsupported": unsupported_data(summary.unsupported),
        "fvcore_uncounted": [
            {"call": name, "calls": calls, "macs": macs} for name, calls, macs in summary.fvcore_uncounted
        ],
    }


def summary_document(summary: Summary, verification=None) -> Document:
    records = tuple(row_records(summary.rows, summary.totals))
    columns = (Column("name", summary.depth, justify="left"),) + ROW_COLUMNS[1:]
    data = summary_data(summary)
    blocks = (
        Heading(f"{summary.model} — {summary.description}"),
        Lines(
            (
                f"input {render.shape_text(summary.input_shape)} · output "
                f"{render.shape_text(summary.output_shape)} · spatial path {format_path(summary.spatial_path)}",
            )
        ),
        Table(columns, records),
        Facts(total_facts(summary)),
    )
    if verification is not None:
        data["verify"] = verification_data(verification)
        blocks += verification_blocks(verification)
    return Document(data=data, blocks=blocks, csv=Table(ROW_COLUMNS, records))


def total_facts(summary: Summary) -> tuple[tuple[str, str], ...]:
    t = summary.totals
    non_trainable = t.params - t.trainable_params
    facts = [
        (
            "parameters",
            f"{t.params:,} (trainable {t.trainable_params:,}, non-trainable {non_trainable:,}); "
            f"{render.human_bytes(4 * t.params)} at float32",
        )
    ]
    if summary.family == "keras":
        # what keras.applications' model.summary() prints for this very model
        facts.append(
            (
                "Keras total",
                f"{t.keras_total_params:,} params, as Keras's model.summary() prints it: "
                f"it also counts the {t.running_stats:,} BatchNorm moving mean/variance values "
                "as non-trainable parameters",
            )
        )
    elif t.running_stats:
        facts.append(
            (
                "BN statistics",
                f"{t.running_stats:,} running mean/variance values (buffers, not "
                "parameters; Keras would count them as non-trainable params)",
            )
        )
    facts += [
        (
            "FLOPs (fvcore)",
            f"{t.flops:,} = {render.human(t.flops)} — {FLOPS_MEANING}"
            + fvcore_gap_note(t.flops, t.macs, summary.fvcore_uncounted),
        ),
        ("MACs", f"{t.macs:,} = {render.human(t.macs)} — {MACS_MEANING}; {render.human(t.flops_2x)}FLOPs at 2 per MAC"),
        ("RF (stride)", RF_MEANING),
    ]
    if summary.unsupported:
        facts.append(("unsupported", unsupported_text(summary.unsupported)))
    return tuple(facts)
