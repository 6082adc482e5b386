"""``resnet-cli bench``: the command (parse, one call, present) and its presenter.

Importing this module does not import torch: ``resnet_cli.bench`` is loaded inside the command.
Results go to stdout (table | json | csv | markdown); the progress bar and warnings go to stderr.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from resnet_cli import render
from resnet_cli.errors import RuntimeFailure, UsageError
from resnet_cli.options import DtypeOpt, FormatOpt, InputOpt, ModelArg, boundary, with_spec_options
from resnet_cli.render import Column

DEFAULT_BATCH_SIZES = {"cpu": (1, 8), "cuda": (1, 8, 64)}
FLOPS_MEANING = ("GFLOP/s counts 2 FLOPs per multiply-accumulate of the conv and linear layers (the convention "
                 "a GEMM roofline is measured in), divided by the median latency")
OUTPUT_KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}

BatchOpt = Annotated[Optional[str], typer.Option(
    "--batch-size", "-b", help="Batch sizes to sweep, e.g. 1,8,64 (default: N of --input if given, else 1,8 on "
    "CPU and 1,8,64 on CUDA). Replaces N of --input.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N (auto: cuda:0 if available).")]
ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="Model and input in channels-last (NHWC).")]
CompileOpt = Annotated[bool, typer.Option(
    "--compile", help="torch.compile the model (per batch size; the compile time is reported separately).")]
ThreadsOpt = Annotated[Optional[int], typer.Option(
    "--threads", help="CPU intra-op threads (default: torch.get_num_threads()).")]
WarmupOpt = Annotated[float, typer.Option("--warmup", help="Seconds of warm-up after the first call (at least "
                                          "3 iterations).")]
MinTimeOpt = Annotated[float, typer.Option("--min-time", help="Seconds of measurement per batch size (at least "
                                           "10 samples, 5 when one forward takes over 1 s).")]
OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Append the results to FILE for tracking over time: JSON lines (.jsonl, .json) or "
    "CSV (.csv).")]


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


@with_spec_options
@boundary
def bench(
    model: ModelArg = None,
    input: InputOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "float32",
    channels_last: ChannelsLastOpt = False,
    compile: CompileOpt = False,
    threads: ThreadsOpt = None,
    warmup: WarmupOpt = 1.0,
    min_time: MinTimeOpt = 3.0,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    *,
    overrides: dict,
) -> None:
    """Forward latency and throughput of a ResNet (default resnet50) on CPU or CUDA, against the device's
    measured GEMM peak: median, p10/p90, IQR, min, n, img/s, GFLOP/s, % of peak."""
    from resnet_cli import bench as core  # torch is imported here, not when the CLI loads

    device = core.parse_device(device)
    sizes = core.parse_batch_sizes(batch_size) if batch_size is not None else None
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: at least 1 thread is needed")
    if warmup < 0:
        raise UsageError(f"--warmup {warmup}: seconds cannot be negative")
    if min_time <= 0:
        raise UsageError(f"--min-time {min_time}: seconds must be positive")
    output_kind = _output_kind(output) if output else None
    from resnet_cli.target import resolve_target

    target = resolve_target(model, overrides, input)
    resolved = core.resolve_device(device)
    import torch

    if sizes is None:
        sizes = (target.input_shape[0],) if input else DEFAULT_BATCH_SIZES[resolved.split(":")[0]]
    request = core.BenchRequest(
        target=target, device=resolved, batch_sizes=sizes, dtype=dtype, channels_last=channels_last,
        compile=compile, threads=threads or torch.get_num_threads(), warmup_s=warmup, min_time_s=min_time)
    with _progress_bar(len(sizes)) as progress:
        run = core.run_bench(request, progress=progress)
    measured = [r for r in run.results if r.ok]
    if not measured and not run.interrupted:
        raise RuntimeFailure("nothing could be measured: " + "; ".join(run.warnings))
    present_bench(run, fmt)
    if output and measured:
        append_results(run, output, output_kind)
    _warn(run.warnings)
    if run.interrupted:
        raise typer.Exit(130)


def _output_kind(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    if extension not in OUTPUT_KINDS:
        raise UsageError(f"--output '{path}': the extension decides the format; use .jsonl (JSON lines) or .csv")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"--output '{path}': the directory {directory} does not exist")
    return OUTPUT_KINDS[extension]


# ---- progress (stderr, refreshed only between iterations, never from a background thread) ----

@contextmanager
def _progress_bar(batches: int):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = render.stderr_console()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                   transient=True, auto_refresh=False, disable=not console.is_terminal)
    task = bar.add_task("starting", total=batches)
    state = {"done": -1, "last": 0.0}

    def progress(event: str, **details) -> None:
        now = time.monotonic()
        if event == "peak":
            bar.update(task, description=f"measuring the GEMM peak on {details['device']}")
        elif event == "batch":
            state["done"] += 1
            bar.update(task, completed=state["done"], description=f"batch {details['batch_size']}: first call")
        elif event == "warmup":
            bar.update(task, description=f"batch {details['batch_size']}: warm-up")
        elif event == "sample":
            if now - state["last"] < 0.25:
                return
            fraction = min(1.0, details["elapsed"] / details["seconds"])
            bar.update(task, completed=state["done"] + fraction,
                       description=f"batch {details['batch_size']}: measuring (n={details['n']})")
        state["last"] = now
        bar.refresh()

    with bar:
        yield progress


def _warn(lines) -> None:
    console = render.stderr_console()
    for line in lines:
        sys.stdout.flush()  # results first, whole, even when stdout is a pipe shared with stderr
        console.print(f"warning: {line}", markup=False, soft_wrap=True)


# ---- the shape of the output, defined once ----

RESULT_COLUMNS = [
    Column("batch_size", "batch", "count"),
    Column("status", "status", justify="left"),
    Column("median_ms", "median", "ms"),
    Column("p10_ms", "p10", "ms"),
    Column("p90_ms", "p90", "ms"),
    Column("iqr_ms", "IQR", "ms"),
    Column("min_ms", "min", "ms"),
    Column("n", "n", "count"),
    Column("throughput", "img/s", "float"),
    Column("gflops_per_s", "GFLOP/s", "float"),
    Column("pct_of_peak", "% peak", "pct"),
    Column("gpu_median_ms", "GPU", "ms"),
    Column("host_bound", "host-bound"),
    Column("first_call_ms", "1st call", "ms"),
    Column("compile_s", "compile s", "fixed2"),
]
CUDA_ONLY = ("gpu_median_ms", "host_bound")
CONTEXT_COLUMNS = [
    Column("timestamp", "time", justify="left"),
    Column("model", "model", justify="left"),
    Column("device", "device", justify="left"),
    Column("device_name", "device name", justify="left"),
    Column("dtype", "dtype", justify="left"),
    Column("channels_last", "channels-last"),
    Column("compile", "compile"),
    Column("threads", "threads", "count"),
    Column("torch", "torch", justify="left"),
    Column("sample_shape", "input CxHxW", "shape"),
]
CSV_COLUMNS = CONTEXT_COLUMNS + RESULT_COLUMNS + [
    Column("p25_ms", "p25 ms", "ms"), Column("p75_ms", "p75 ms", "ms"),
    Column("gpu_p90_ms", "GPU p90 ms", "ms"), Column("enqueue_median_ms", "enqueue ms", "ms"),
    Column("peak_gflops_per_s", "peak GFLOP/s", "float"), Column("rq_wait_frac", "run-queue wait", "float"),
    Column("other_cpu_frac", "other CPU", "float"),
]


def _r(value, digits: int = 6):
    return None if value is None else round(value, digits)


def result_record(result) -> dict:
    host, gpu = result.host, result.gpu
    stat = (lambda name: _r(getattr(host, name))) if host else (lambda name: None)
    gstat = (lambda name: _r(getattr(gpu, name))) if gpu else (lambda name: None)
    return {
        "batch_size": result.batch_size, "status": result.status, "message": result.message,
        "median_ms": stat("median_ms"), "p10_ms": stat("p10_ms"), "p25_ms": stat("p25_ms"),
        "p75_ms": stat("p75_ms"), "p90_ms": stat("p90_ms"), "iqr_ms": stat("iqr_ms"), "min_ms": stat("min_ms"),
        "max_ms": stat("max_ms"), "mean_ms": stat("mean_ms"), "rel_iqr": stat("rel_iqr"),
        "n": host.n if host else 0,
        "throughput": _r(result.throughput), "gflops_per_s": _r(result.gflops_per_s),
        "pct_of_peak": _r(result.pct_of_peak), "peak_gflops_per_s": _r(result.peak_gflops_per_s),
        "gpu_median_ms": gstat("median_ms"), "gpu_p10_ms": gstat("p10_ms"), "gpu_p90_ms": gstat("p90_ms"),
        "gpu_iqr_ms": gstat("iqr_ms"), "gpu_min_ms": gstat("min_ms"),
        "enqueue_median_ms": _r(result.enqueue_median_ms), "host_bound": result.host_bound,
        "first_call_ms": _r(result.first_call_ms), "compile_s": _r(result.compile_s),
        "warmup_s": _r(result.warmup_s), "warmup_iters": result.warmup_iters, "measure_s": _r(result.measure_s),
        "flops_per_batch": result.flops_per_batch, "all_flops_per_batch": result.all_flops_per_batch,
        "estimated_bytes": result.estimated_bytes, "rq_wait_frac": _r(result.rq_wait_frac),
        "contended_samples": result.contended_samples, "other_cpu_frac": _r(result.other_cpu_frac),
        "samples_ms": [round(s, 6) for s in result.samples_ms],
        "gpu_samples_ms": [round(s, 6) for s in result.gpu_samples_ms],
    }


def _context(run) -> dict:
    request = run.request
    return {
        "model": run.model, "device": request.device, "device_name": run.env.get("device_name"),
        "dtype": request.dtype, "channels_last": request.channels_last, "compile": request.compile,
        "threads": request.threads, "torch": run.env.get("torch"), "sample_shape": list(run.sample_shape),
    }


def bench_document(run) -> dict:
    request, peak = run.request, run.peak
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "bench",
        "model": run.model,
        "description": run.description,
        "device": request.device,
        "device_name": run.env.get("device_name"),
        "sample_shape": list(run.sample_shape),
        "dtype": request.dtype,
        "autocast": request.autocast,
        "channels_last": request.channels_last,
        "compile": request.compile,
        "threads": request.threads,
        "params": run.params,
        "flops_per_image": run.flops_per_image,
        "all_flops_per_image": run.all_flops_per_image,
        "flops_convention": FLOPS_MEANING,
        "peak": None if peak is None else {
            "gflops_per_s": _r(peak.gflops_per_s), "median_gflops_per_s": _r(peak.median_gflops_per_s),
            "size": peak.size, "dtype": peak.dtype, "n": peak.n, "method": peak.method},
        "env": run.env,
        "results": [result_record(r) for r in run.results],
        "interrupted": run.interrupted,
        "warnings": list(run.warnings),
    }


def _header_lines(run) -> list[str]:
    request, env = run.request, run.env
    versions = f"torch {env.get('torch')}"
    if request.device_type == "cuda":
        versions += f", CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}"
    lines = [
        f"{request.device} ({env.get('device_name')}) · {request.dtype}"
        f"{' via torch.autocast (weights float32)' if request.autocast else ''} · "
        f"{'channels-last' if request.channels_last else 'NCHW'} · {'torch.compile' if request.compile else 'eager'}"
        f" · {request.threads} thread{'s' if request.threads != 1 else ''} · {versions}",
        f"input {render.shape_text(run.sample_shape)} per image · {run.flops_per_image / 1e9:.3f} GFLOP per image "
        f"(2 per multiply-accumulate, conv + linear; all ops {run.all_flops_per_image / 1e9:.3f})",
    ]
    if run.peak is not None:
        lines.append(f"peak {run.peak.gflops_per_s:,.1f} GFLOP/s: {run.peak.method}")
    return lines


def _footer_lines(run) -> list[str]:
    cuda = run.request.device_type == "cuda"
    lines = [
        "times in ms (GPU: CUDA-event time; compile in s); latency: per-iteration samples of model(x) in eval() under torch.inference_mode()"
        + (", host wall time ending in torch.cuda.synchronize(); GPU ms from CUDA events" if cuda else "")
        + "; img/s = batch / median; " + FLOPS_MEANING + "; % of peak = GFLOP/s / measured GEMM peak",
    ]
    return lines


def _columns(run) -> list[Column]:
    columns = list(RESULT_COLUMNS)
    if run.request.device_type != "cuda":
        columns = [c for c in columns if c.key not in CUDA_ONLY]
    if not run.request.compile:
        columns = [c for c in columns if c.key != "compile_s"]
    if all(r.status == "ok" for r in run.results):
        columns = [c for c in columns if c.key != "status"]
    return columns


def present_bench(run, fmt: str) -> None:
    records = [result_record(r) for r in run.results]
    if fmt == "json":
        render.emit(render.to_json(bench_document(run)))
        return
    if fmt == "csv":
        context = {**_context(run), "timestamp": None}
        render.emit(render.to_csv([c for c in CSV_COLUMNS if c.key != "timestamp"],
                                  [{**context, **record} for record in records]))
        return
    title = f"{run.model} — {run.description}"
    if fmt == "markdown":
        render.emit("\n".join([f"### bench: {title}", "", *(f"- {line}" for line in _header_lines(run)), "",
                               render.to_markdown(_columns(run), records),
                               *(f"- {line}" for line in _footer_lines(run))]))
        return
    console = render.stdout_console()
    console.print(f"[bold]{title}[/bold]", soft_wrap=True)
    for line in _header_lines(run):
        console.print(line, soft_wrap=True, markup=False)
    console.print(render.to_table(_columns(run), records))
    for line in _footer_lines(run):
        console.print(line, soft_wrap=True, markup=False)


def append_results(run, path: str, kind: str) -> None:
    """Append one line (JSONL) or row (CSV) per measured batch size, each with its context and a timestamp."""
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    context = {"timestamp": stamp, **_context(run)}
    records = [{**context, **result_record(r)} for r in run.results if r.ok]
    if kind == "jsonl":
        with open(path, "a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps({**record, "env": run.env}, ensure_ascii=False) + "\n")
        return
    text = render.to_csv(CSV_COLUMNS, records)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        text = text.split("\n", 1)[1]  # the header is written once, when the file is new
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(text)
