"""``resnet-cli profile``: the command — typed options, one API call, one document — and its progress on stderr.

Importing this module does not import torch. Results go to stdout; progress, notes and warnings to stderr.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from resnet_cli.base import values
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

PROFILE_DEPTHS = ("stage", "block", "layer", "op")  # report.profile.PROFILE_DEPTHS (that module imports torch)

ModelsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help=MODEL_HELP + " Several models are measured in turn and compared stage by stage.",
        show_default="resnet50",
        metavar="MODEL",
    ),
]
BatchOpt = Annotated[
    Optional[int],
    typer.Option(
        "--batch-size",
        "-b",
        parser=values.bound(values.parse_int, "--batch-size", 1, values.MAX_BATCH),
        metavar="N",
        help="Images per forward (default: N of --input, else 1).",
    ),
]
CompileOpt = Annotated[
    Optional[str],
    typer.Option(
        "--compile",
        parser=values.bound(values.parse_choice, "--compile", values.COMPILE_MODES),
        metavar="MODE",
        help="torch.compile mode: default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs (compiled code "
        "fuses modules: its time is not attributed to rows).",
    ),
]
TrainingOpt = Annotated[
    bool,
    typer.Option("--training", help="Profile a training step (forward and backward, each attributed to its module)."),
]
DepthOpt = Annotated[
    str,
    typer.Option(
        "--depth",
        "-d",
        parser=values.bound(values.parse_choice, "--depth", PROFILE_DEPTHS),
        metavar="DEPTH",
        help="stage | block | layer | op (op: each layer's operators by kind).",
    ),
]
IterationsOpt = Annotated[
    int,
    typer.Option(
        "--iterations",
        "-n",
        parser=values.bound(values.parse_int, "--iterations", 1, 10_000),
        metavar="N",
        help="Profiled iterations, and as many timed without the profiler.",
    ),
]
WarmupOpt = Annotated[
    int,
    typer.Option(
        "--warmup",
        parser=values.bound(values.parse_int, "--warmup", 0, 10_000),
        metavar="N",
        help="Untimed iterations first.",
    ),
]
PlotOpt = Annotated[
    Optional[str],
    typer.Option(
        "--plot",
        metavar="FILE",
        help="Also draw the roofline (both measured ceilings) with every row as a point, one "
        "colour per model, to FILE.svg|png|pdf.",
    ),
]
OutputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Append one record per row to FILE: JSON lines (.jsonl, .json) or CSV "
        "(.csv); checked before anything is measured.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)


@with_spec_options
@boundary
def profile(
    models: ModelsArg = None,
    input: InputOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLastOpt = False,
    compile: CompileOpt = None,
    training: TrainingOpt = False,
    depth: DepthOpt = "stage",
    iterations: IterationsOpt = 10,
    warmup: WarmupOpt = 2,
    threads: ThreadsOpt = None,
    weights: WeightsOpt = None,
    fmt: FormatOpt = "table",
    plot: PlotOpt = None,
    output: OutputOpt = None,
    *,
    overrides: dict,
) -> None:
    """Where the time goes, row by row (stage, block, layer or operator), against the roofline: measured time
    (torch.profiler, ranges around every module), FLOPs, compulsory bytes, intensity, compute- or memory-bound,
    efficiency; by kind of operator; reconciled with the forward timed without the profiler."""
    from resnet_cli.render.history import append, check_output
    from resnet_cli.views.profile import OUTPUT_COLUMNS, flat_records

    history = check_output(output, [c.key for c in OUTPUT_COLUMNS]) if output else None
    if plot is not None:
        from resnet_cli.render.images import check_image_path

        check_image_path(plot, "--plot")
    from resnet_cli import api

    with _progress() as progress:
        result = api.profile(
            *(models or ()),
            input=input,
            batch_size=batch_size,
            device=device,
            dtype=dtype,
            channels_last=channels_last,
            compile=compile,
            training=training,
            depth=depth,
            iterations=iterations,
            warmup=warmup,
            threads=threads,
            weights=weights,
            progress=progress,
            **overrides,
        )
    render.say(result.notes)
    document = result.document
    if fmt == "table":
        from resnet_cli.render.roofline import terminal_roofline
        from resnet_cli.views.profile import profile_document

        document = profile_document(result.report, lambda width: terminal_roofline(result.report, width))
    report = result.report
    # the files first (a signal held while each is written), then stdout: a closed stdout cannot take them away
    from resnet_cli.base import signals

    with signals.saving():
        if history:
            append(history, flat_records(report), OUTPUT_COLUMNS, report.env)
        if plot is not None:
            result.save_plot(plot)
            render.wrote(plot)
    render.emit(document, fmt)
    render.warn(report.warnings)
    if report.interrupted:
        raise typer.Exit(Terminated.exit_code if report.stopped_by == "SIGTERM" else INTERRUPTED_EXIT)


@contextmanager
def _progress():
    """A transient line on stderr (a terminal only), refreshed between iterations."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = render.stderr_console()
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
        disable=not console.is_terminal,
    )
    task = bar.add_task("starting", total=None)
    last = [0.0]
    words = {"warmup": "warm-up", "free": "timing without the profiler", "profile": "profiling"}

    def progress(event: str, **details) -> None:
        now = time.monotonic()
        if event != "peak" and now - last[0] < 0.2:
            return
        last[0] = now
        model = values.shown(details.get("model") or "", None)
        if event == "peak":
            text = "measuring the matmul peak and the memory bandwidth"
        else:
            text = f"{model}: {words.get(event, event)} {details.get('done', 0) + 1}/{details.get('total', '?')}"
        bar.update(task, description=text)
        bar.refresh()

    with bar:
        yield progress
