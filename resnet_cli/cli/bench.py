"""``resnet-cli bench``: the command — typed options, one call, one document — and its progress bar.

Importing this module does not import torch: ``resnet_cli.benchmark.bench`` is loaded inside the command.
Results go to stdout (table | json | csv | markdown); the progress bar and warnings go to stderr.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from resnet_cli.base import signals, values
from resnet_cli.base.errors import INTERRUPTED_EXIT, Terminated
from resnet_cli.cli.options import (
    MODEL_HELP,
    ChannelsLastOpt,
    DeviceOpt,
    DtypeOpt,
    FormatOpt,
    InputOpt,
    ThreadsOpt,
    WeightsOpt,
    boundary,
    with_spec_options,
)
from resnet_cli.render import emit as render

EXIT_CODES = {"SIGINT": INTERRUPTED_EXIT, "SIGTERM": Terminated.exit_code}


ModelsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help=MODEL_HELP + " Several models are measured side by side, interleaved.",
        show_default="resnet50",
        metavar="MODEL",
    ),
]
BatchOpt = Annotated[
    Optional[str],
    typer.Option(
        "--batch-size",
        "-b",
        parser=values.parse_batch_sizes,
        metavar="N,N,...",
        help="Batch sizes to sweep, e.g. 1,8,64 (default: N of --input if given, else 1,8 on CPU and 1,8,64 on CUDA).",
    ),
]
CompileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--compile",
        parser=values.bound(values.parse_choice, "--compile", values.COMPILE_MODES),
        metavar="MODE",
        help="torch.compile mode: default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs (CUDA graphs "
        "where the mode implies them); compile time is reported separately.",
    ),
]
TrainingOpt = Annotated[
    bool,
    typer.Option(
        "--training", help="Time a whole training step (forward, loss, backward, optimizer step) and its memory."
    ),
]
OptimizerOpt = Annotated[
    Optional[str],
    typer.Option(
        "--optimizer",
        parser=values.bound(values.parse_choice, "--optimizer", values.OPTIMIZERS),
        metavar="NAME",
        help="With --training: sgd (momentum 0.9, the default) | adamw.",
    ),
]
FindMaxOpt = Annotated[
    bool,
    typer.Option(
        "--find-max-batch",
        help="Find the largest batch that fits (predicted, then confirmed by real steps) and measure it.",
    ),
]
WarmupOpt = Annotated[
    float,
    typer.Option(
        "--warmup",
        parser=values.bound(values.parse_float, "--warmup", 0.0, values.MAX_SECONDS),
        metavar="SECONDS",
        help="Seconds of warm-up after the first call (at least 3 iterations).",
    ),
]
MinTimeOpt = Annotated[
    float,
    typer.Option(
        "--min-time",
        parser=values.bound(values.parse_float, "--min-time", 0.0, values.MAX_SECONDS, low_open=True),
        metavar="SECONDS",
        help="Seconds of measurement per configuration (at least 10 samples, 5 when one step takes over 1 s).",
    ),
]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        "--repeats",
        parser=values.bound(values.parse_int, "--repeats", 1, values.MAX_REPEATS),
        metavar="K",
        help="Repeat the whole sweep K times and report the spread between the repeats.",
    ),
]
IsolateOpt = Annotated[
    bool,
    typer.Option(
        "--isolate",
        help="Measure each configuration in a fresh subprocess (no allocator, compile cache or warm-up carried over).",
    ),
]
DevicesOpt = Annotated[
    int,
    typer.Option(
        "--devices",
        parser=values.bound(values.parse_int, "--devices", 1, values.MAX_DEVICES),
        metavar="N",
        help="With --training: DDP over N devices launched by torchrun; per-device and aggregate throughput, "
        "scaling efficiency.",
    ),
]
PlotOpt = Annotated[
    Optional[str],
    typer.Option(
        "--plot",
        metavar="FILE",
        help="Also draw latency (median, p10–p90 band) and throughput against batch size, one "
        "line per model (and latency against FLOPs for several models), to FILE.svg|png|pdf.",
    ),
]
OutputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Append the results to FILE for tracking over time: JSON lines "
        "(.jsonl, .json) or CSV (.csv); checked before anything is measured.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


@with_spec_options
@boundary
def bench(
    models: ModelsArg = None,
    input: InputOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLastOpt = False,
    compile: CompileOpt = None,
    training: TrainingOpt = False,
    optimizer: OptimizerOpt = None,
    find_max_batch: FindMaxOpt = False,
    threads: ThreadsOpt = None,
    warmup: WarmupOpt = 1.0,
    min_time: MinTimeOpt = 3.0,
    repeats: RepeatsOpt = 1,
    isolate: IsolateOpt = False,
    devices: DevicesOpt = 1,
    weights: WeightsOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    plot: PlotOpt = None,
    *,
    overrides: dict,
) -> None:
    """Latency, throughput and memory of one or more models (default resnet50), inference or training steps,
    against a roofline measured in the same run: median, p10/p90, IQR, n, img/s, GFLOP/s, % of peak."""
    from resnet_cli import api

    with signals.where("analysing the models before measuring") as doing, _progress_bar(doing) as progress:
        result = api.bench(
            *(models or []),
            input=input,
            batch_sizes=batch_size,
            device=device,
            dtype=dtype,
            channels_last=channels_last,
            compile=compile,
            training=training,
            optimizer=optimizer,
            find_max_batch=find_max_batch,
            threads=threads,
            warmup=warmup,
            min_time=min_time,
            repeats=repeats,
            isolate=isolate,
            devices=devices,
            weights=weights,
            output=output,
            plot=plot,
            progress=progress,
            **overrides,
        )
    # the files are written (each configuration appended as it finished, the plot drawn) before stdout: a closed
    # stdout or a second signal cannot take a measurement away
    render.say(result.notes)
    render.emit(result.document, fmt)
    render.warn(result.report.warnings)
    if result.report.stopped_by:
        signals.mark_said()  # among the warnings, with where it came
        raise typer.Exit(EXIT_CODES[result.report.stopped_by])


# ---- progress (stderr, refreshed only between iterations, never from a background thread) ----


@contextmanager
def _progress_bar(doing=lambda text: None):
    """The progress callback: a bar on a terminal's stderr; ``doing(text)`` names what is measured (the line a
    Ctrl-C ends with says it)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = render.stderr_console()
    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
        disable=not console.is_terminal,
    )
    task = bar.add_task("starting", total=None)
    state = {"done": -1, "last": 0.0, "config": None}

    def progress(event: str, **details) -> None:
        now = time.monotonic()
        where = " ".join(
            values.shown(v, None)
            for v in (details.get("model"), details.get("batch_size") and f"batch {details['batch_size']}")
            if v
        )
        if event == "finished":  # a configuration done (api.bench has appended it to --output)
            return
        if event != "start":
            doing(
                f"timing the roofline kernels{f' ({where})' if where else ''}"
                if event == "peak"
                else f"measuring {where}"
                if where
                else "measuring"
            )
        if event == "start":  # the number of configurations × repeats
            bar.update(task, total=details["steps"])
        elif event == "peak":
            bar.update(task, description=f"{where + ': ' if where else ''}timing the roofline kernels")
        elif event == "search":
            bar.update(task, description=f"{where}: searching the largest batch that fits")
        elif event in ("isolate", "distributed"):
            bar.update(task, description=f"{where}: {details.get('what', event)}")
        elif event == "warmup":
            key = (details.get("model"), details.get("batch_size"), details.get("repeat"))
            if key != state["config"]:
                state["config"] = key
                state["done"] += 1
            bar.update(task, completed=max(0, state["done"]), description=f"{where}: warm-up")
        elif event == "sample":
            if now - state["last"] < 0.25:
                return
            fraction = min(1.0, details["elapsed"] / details["seconds"])
            bar.update(
                task, completed=max(0, state["done"]) + fraction, description=f"{where}: measuring (n={details['n']})"
            )
        state["last"] = now
        bar.refresh()

    with bar:
        yield progress
