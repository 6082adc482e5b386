"""``summary`` and ``list`` as documents and tables: the shape of their output, defined once.

A presenter takes a report (plain numbers) and a format and writes the result to stdout. The JSON
document and the table rows come from the same column list (see ``resnet_cli.render``).
"""

from __future__ import annotations

from resnet_cli import render
from resnet_cli.render import Column
from resnet_cli.report import Row, Summary, format_path

FLOPS_MEANING = (
    "fvcore's count (FlopCountAnalysis): 1 per multiply-add of conv and linear layers, plus batch norm "
    "(2 per element in inference) and adaptive average pooling (1 per input element); biases, ReLU, "
    "max-pooling and residual additions are not counted"
)
MACS_MEANING = (
    "multiply-accumulates of conv and linear layers only: the convention of torchvision's tables and "
    "the papers (×2 = torch.utils.flop_counter's FLOPs)"
)

ROW_COLUMNS = [
    Column("name", "stage", justify="left"),
    Column("output_shape", "output", "shape"),
    Column("params", "params", "count"),
    Column("params_pct", "%", "pct"),
    Column("flops", "FLOPs (fvcore)", "flops"),
    Column("flops_pct", "%", "pct"),
    Column("macs", "MACs", "flops"),
    Column("macs_pct", "%", "pct"),
    Column("receptive_field", "RF (stride)", "field"),
    Column("kind", "contains", justify="left"),
]
RF_MEANING = (
    "the theoretical receptive field of one output unit, in input pixels, along the largest path through the "
    "residual graph (padding counted, so it can exceed the input); stride: input pixels between adjacent units; "
    "global: every unit sees the whole input (after a global pool or squeeze-excitation)"
)



def row_records(rows: tuple[Row, ...], totals) -> list[dict]:
    return [
        {
            "name": r.name, "kind": r.kind, "output_shape": r.output_shape,
            "params": r.params, "params_pct": render.percent(r.params, totals.params),
            "flops": r.flops, "flops_pct": render.percent(r.flops, totals.flops),
            "macs": r.macs, "macs_pct": render.percent(r.macs, totals.macs),
            "receptive_field": r.receptive_field.as_dict() if r.receptive_field is not None else None,
        }
        for r in rows
    ]


def summary_document(summary: Summary) -> dict:
    t = summary.totals
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "summary",
        "model": summary.model,
        "description": summary.description,
        "family": summary.family,
        "spec": summary.spec,
        "input_shape": list(summary.input_shape),
        "output_shape": list(summary.output_shape) if summary.output_shape else None,
        "depth": summary.depth,
        "spatial_path": [list(size) for size in summary.spatial_path],
        "stages": [
            {**record, "output_shape": list(record["output_shape"]) if record["output_shape"] else None}
            for record in row_records(summary.rows, t)
        ],
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
    }


def present_summary(summary: Summary, fmt: str, chart: str | None = None) -> None:
    """``chart``: None, ``charts.TERMINAL`` (bars instead of the table) or a file to write beside the output."""
    if chart is not None:
        from resnet_cli import charts

        data = [charts.stage_chart(summary.model, summary.rows)]
        if chart == charts.TERMINAL:
            console = render.stdout_console()
            console.print(f"[bold]{summary.model}[/bold] — {summary.description}")
            console.print(charts.terminal_chart(data, console.width))
            return
        _present_summary(summary, fmt)
        charts.save_stage_chart(data, chart)
        render.stderr_console().print(f"wrote {chart}", soft_wrap=True)
        return
    _present_summary(summary, fmt)


def _present_summary(summary: Summary, fmt: str) -> None:
    records = row_records(summary.rows, summary.totals)
    if fmt == "json":
        render.emit(render.to_json(summary_document(summary)))
        return
    if fmt == "csv":
        render.emit(render.to_csv(ROW_COLUMNS, records))
        return
    columns = list(ROW_COLUMNS)
    columns[0] = Column("name", {"stage": "stage", "block": "block", "layer": "layer"}[summary.depth],
                        justify="left")
    if fmt == "markdown":
        lines = [
            f"### {summary.model} — {summary.description}",
            "",
            f"Input {render.shape_text(summary.input_shape)}; spatial path {format_path(summary.spatial_path)}.",
            "",
            render.to_markdown(columns, records),
            *(f"- {line}" for line in _total_lines(summary)),
        ]
        render.emit("\n".join(lines))
        return
    console = render.stdout_console()
    console.print(f"[bold]{summary.model}[/bold] — {summary.description}")
    console.print(f"input {render.shape_text(summary.input_shape)} · output "
                  f"{render.shape_text(summary.output_shape)} · spatial path {format_path(summary.spatial_path)}")
    console.print(render.to_table(columns, records))
    for line in _total_lines(summary):
        console.print(line, soft_wrap=True)


def _total_lines(summary: Summary) -> list[str]:
    t = summary.totals
    non_trainable = t.params - t.trainable_params
    return [
        f"parameters      {t.params:,} (trainable {t.trainable_params:,}, non-trainable {non_trainable:,}); "
        f"{render.human_bytes(4 * t.params)} at float32",
        f"Keras-style     {t.keras_total_params:,} total params: Keras's model.summary() also counts the "
        f"{t.running_stats:,} BatchNorm moving mean/variance values as non-trainable parameters",
        f"FLOPs (fvcore)  {t.flops:,} = {render.human(t.flops)} — {FLOPS_MEANING}",
        f"MACs            {t.macs:,} = {render.human(t.macs)} — {MACS_MEANING}; "
        f"{render.human(t.flops_2x)}FLOPs at 2 per MAC",
        f"RF (stride)     {RF_MEANING}",
    ]


LIST_COLUMNS = [
    Column("name", "name", justify="left"),
    Column("family", "family", justify="left"),
    Column("block", "block", justify="left"),
    Column("layers", "blocks per stage", justify="left"),
    Column("params", "params", "count"),
    Column("gflops", "GFLOPs (fvcore)", "fixed2"),
    Column("gmacs", "GMACs", "fixed2"),
    Column("input", "default input", "shape"),
    Column("description", "what is different", justify="left"),
]


def present_list(entries: list[dict], fmt: str) -> None:
    if fmt == "json":
        render.emit(render.to_json({"schema_version": render.SCHEMA_VERSION, "command": "list",
                                    "models": entries}))
    elif fmt == "csv":
        render.emit(render.to_csv(LIST_COLUMNS, [{**e, "layers": "-".join(map(str, e["layers"]))} for e in entries]))
    elif fmt == "markdown":
        render.emit(render.to_markdown(LIST_COLUMNS, [{**e, "layers": _layers(e)} for e in entries]))
    else:
        console = render.stdout_console()
        console.print(render.to_table(LIST_COLUMNS, [{**e, "layers": _layers(e)} for e in entries]))
        console.print(soft_wrap=True, *["GFLOPs are fvcore's count (1 per multiply-add) at each model's default input; GMACs count "
                      "conv + linear multiply-accumulates only."])


def _layers(entry: dict) -> str:
    return "[" + ",".join(str(n) for n in entry["layers"]) + "]"
