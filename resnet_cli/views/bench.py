"""A bench run as one ``render.Document``: the JSON document, the blocks a person reads, the flat CSV table.

The columns are defined once here and drive the table, Markdown, CSV and the ``--output`` files.
"""

from __future__ import annotations

from resnet_cli.benchmark.records import BenchRun, ConfigResult
from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Heading, Lines, Table
from resnet_cli.spec.naming import identified_data

FLOPS_MEANING = (
    "GFLOP/s counts 2 FLOPs per multiply-accumulate of the conv and linear layers (the convention "
    "a GEMM roofline is measured in; training: forward and backward), divided by the median latency"
)

# drop: when the terminal is narrow, the highest rank goes first; model, batch, median, img/s and % peak stay
RESULT_COLUMNS = [
    Column("model", "model", justify="left"),
    Column("batch_size", "batch", "count"),
    Column("status", "status", justify="left"),
    Column("median_ms", "median", "ms"),
    Column("p10_ms", "p10", "ms", drop=19),
    Column("p90_ms", "p90", "ms", drop=10),
    Column("iqr_ms", "IQR", "ms", drop=17),
    Column("min_ms", "min", "ms", drop=20),
    Column("n", "n", "count", drop=16),
    Column("repeat_spread_pct", "±rep", "pct", drop=7),
    Column("throughput", "img/s", "float"),
    Column("gflops_per_s", "GFLOP/s", "float", drop=6),
    Column("pct_shown", "% peak"),
    Column("gpu_median_ms", "GPU", "ms", drop=9),
    Column("host_bound", "host-bound", drop=15),
    Column("first_call_ms", "1st call", "ms", drop=18),
    Column("compile_s", "compile s", "fixed2", drop=8),
    Column("params", "params", "flops", drop=14),
    Column("flops_per_image", "FLOP/img", "flops", drop=13),
    Column("measured_bytes", "memory", "bytes", drop=5),
    Column("predicted_bytes", "predicted", "bytes", drop=11),
    Column("memory_ratio", "ratio", "fixed2", drop=12),
]
CUDA_ONLY = ("gpu_median_ms", "host_bound")
CONTEXT_COLUMNS = [
    Column("timestamp", "time", justify="left"),
    Column("device", "device", justify="left"),
    Column("device_name", "device name", justify="left"),
    Column("mode", "mode", justify="left"),
    Column("optimizer", "optimizer", justify="left"),
    Column("dtype", "dtype", justify="left"),
    Column("channels_last", "channels-last"),
    Column("compile", "compile"),
    Column("threads", "threads", "count"),
    Column("torch", "torch", justify="left"),
    Column("sample_shape", "input CxHxW", "shape"),
]
CSV_COLUMNS = (
    CONTEXT_COLUMNS
    + [c for c in RESULT_COLUMNS if c.key not in ("pct_shown", "repeat_spread_pct")]
    + [
        Column("pct_of_peak", "% peak", "pct"),
        Column("roofline_gflops_per_s", "roofline GFLOP/s", "float"),
        Column("roofline_kernel", "roofline kernel", justify="left"),
        Column("repeat_spread", "repeat spread", "float"),
        Column("p25_ms", "p25 ms", "ms"),
        Column("p75_ms", "p75 ms", "ms"),
        Column("gpu_p90_ms", "GPU p90 ms", "ms"),
        Column("enqueue_median_ms", "enqueue ms", "ms"),
        Column("rq_wait_frac", "run-queue wait", "float"),
        Column("other_cpu_frac", "other CPU", "float"),
    ]
)


def _r(value, digits: int = 6):
    return None if value is None else round(value, digits)


def result_record(result: ConfigResult, run: BenchRun) -> dict:
    host, gpu, predicted, roofline = result.host, result.gpu, result.predicted, result.roofline
    info = next((m for m in run.models if m.name == result.model), None)
    stat = (lambda name: _r(getattr(host, name))) if host else (lambda name: None)
    gstat = (lambda name: _r(getattr(gpu, name))) if gpu else (lambda name: None)
    spread = result.repeat_spread
    return {
        "model": result.model,
        "batch_size": result.batch_size,
        "status": result.status,
        "message": result.message,
        "median_ms": stat("median_ms"),
        "p10_ms": stat("p10_ms"),
        "p25_ms": stat("p25_ms"),
        "p75_ms": stat("p75_ms"),
        "p90_ms": stat("p90_ms"),
        "iqr_ms": stat("iqr_ms"),
        "min_ms": stat("min_ms"),
        "max_ms": stat("max_ms"),
        "mean_ms": stat("mean_ms"),
        "rel_iqr": stat("rel_iqr"),
        "n": host.n if host else 0,
        "repeat_medians_ms": [round(m, 6) for m in result.repeat_medians_ms],
        "repeat_spread": _r(spread),
        "throughput": _r(result.throughput),
        "gflops_per_s": _r(result.gflops_per_s),
        "pct_of_peak": _r(result.pct_of_peak),
        "above_peak": result.above_peak,
        "roofline_gflops_per_s": _r(result.roofline_gflops_per_s),
        "roofline_kernel": roofline.kernel if roofline else None,
        "gpu_median_ms": gstat("median_ms"),
        "gpu_p10_ms": gstat("p10_ms"),
        "gpu_p90_ms": gstat("p90_ms"),
        "gpu_iqr_ms": gstat("iqr_ms"),
        "gpu_min_ms": gstat("min_ms"),
        "enqueue_median_ms": _r(result.enqueue_median_ms),
        "host_bound": result.host_bound,
        "first_call_ms": _r(result.first_call_ms),
        "compile_s": _r(result.compile_s),
        "cuda_graphs": result.cuda_graphs,
        "warmup_s": _r(result.warmup_s),
        "warmup_iters": result.warmup_iters,
        "measure_s": _r(result.measure_s),
        "params": info.params if info else None,
        "flops_per_image": info.flops_per_image if info else None,
        "flops_per_batch": result.flops_per_batch,
        "all_flops_per_batch": result.all_flops_per_batch,
        "measured_bytes": result.measured_bytes,
        "memory_source": result.memory_source or None,
        "predicted_bytes": predicted.total if predicted else None,
        "predicted_weights_bytes": predicted.weights if predicted else None,
        "predicted_gradient_bytes": predicted.gradients if predicted else None,
        "predicted_optimizer_bytes": predicted.optimizer_state if predicted else None,
        "predicted_activation_bytes": predicted.activations if predicted else None,
        "predicted_input_bytes": predicted.input if predicted else None,
        "memory_ratio": _r(result.memory_ratio),
        "estimated_bytes": result.estimated_bytes,
        "pid": result.pid,
        "rq_wait_frac": _r(result.rq_wait_frac),
        "contended_samples": result.contended_samples,
        "other_cpu_frac": _r(result.other_cpu_frac),
        "samples_ms": [round(s, 6) for s in result.samples_ms],
        "gpu_samples_ms": [round(s, 6) for s in result.gpu_samples_ms],
    }


def context(run: BenchRun) -> dict:
    """The fields every --output line repeats beside its result (the file outlives the run)."""
    request = run.request
    shapes = {m.name: list(m.sample_shape) for m in run.models}
    return {
        "device": request.device,
        "device_name": run.env.get("device_name"),
        "mode": request.mode,
        "optimizer": request.optimizer if request.training else None,
        "dtype": request.dtype,
        "channels_last": request.channels_last,
        "compile": request.compile_mode,
        "threads": request.threads,
        "torch": run.env.get("torch"),
        "_shapes": shapes,
    }


def flat_records(run: BenchRun, only_measured: bool = False) -> list[dict]:
    base = context(run)
    shapes = base.pop("_shapes")
    return [
        {**base, "sample_shape": shapes.get(r.model), **result_record(r, run)}
        for r in run.results
        if r.ok or not only_measured
    ]


def bench_data(run: BenchRun) -> dict:
    request, gemm = run.request, run.gemm
    flags = run.env.get("flags", {})
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "bench",
        "mode": request.mode,
        "optimizer": request.optimizer if request.training else None,
        "device": request.device,
        "device_name": run.env.get("device_name"),
        "dtype": request.dtype,
        "autocast": request.autocast,
        "channels_last": request.channels_last,
        "compile": request.compile_mode,
        "cuda_graphs": flags.get("cuda_graphs", False),
        "threads": request.threads,
        "repeats": request.repeats,
        "isolate": request.isolate,
        "flops_convention": FLOPS_MEANING,
        "models": [
            {
                "model": m.name,
                "description": m.description,
                "identified_as": identified_data(getattr(m, "identified_as", None)),
                "sample_shape": list(m.sample_shape),
                "params": m.params,
                "trainable_params": m.trainable_params,
                "flops_per_image": m.flops_per_image,
                "all_flops_per_image": m.all_flops_per_image,
            }
            for m in run.models
        ],
        "gemm_peak": None
        if gemm is None
        else {
            "kernel": gemm.kernel,
            "gflops_per_s": _r(gemm.gflops_per_s),
            "median_gflops_per_s": _r(gemm.median_gflops_per_s),
            "n": gemm.n,
        },
        "env": run.env,
        "results": [result_record(r, run) for r in run.results],
        "max_batch": [_search_record(s) for s in run.max_batch] or None,
        "distributed": [_distributed_record(d) for d in run.distributed] or None,
        "interrupted": run.interrupted,
        "stopped_by": run.stopped_by,
        "warnings": list(run.warnings),
    }


def _search_record(search) -> dict:
    return {
        "model": search.model,
        "available_bytes": search.available_bytes,
        "source": search.source,
        "usable_bytes": search.usable_bytes,
        "predicted": search.predicted,
        "confirmed": search.confirmed,
        "attempts": [{"batch_size": b, "status": s, "measured_bytes": m} for b, s, m in search.attempts],
    }


def _distributed_record(result) -> dict:
    return {
        "world_size": result.world_size,
        "backend": result.backend,
        "batch_per_device": result.batch_per_device,
        "rank_medians_ms": [_r(m) for m in result.rank_medians_ms],
        "rank_samples": list(result.rank_samples),
        "per_device_throughput": [_r(t) for t in result.per_device_throughput],
        "aggregate_throughput": _r(result.aggregate_throughput),
        "single_device_median_ms": _r(result.single_median_ms),
        "single_device_throughput": _r(result.single_throughput),
        "scaling_efficiency": _r(result.scaling_efficiency),
    }


def _table_records(run: BenchRun) -> list[dict]:
    records = []
    for r in run.results:
        record = result_record(r, run)
        pct = record["pct_of_peak"]
        record["pct_shown"] = "unknown" if r.above_peak else "—" if pct is None else f"{pct:.1f}%"
        spread = record["repeat_spread"]
        record["repeat_spread_pct"] = None if spread is None else 100 * spread
        records.append(record)
    return records


def _columns(run: BenchRun) -> list[Column]:
    request = run.request
    hidden = set()
    if request.device_type != "cuda":
        hidden |= set(CUDA_ONLY)
    if request.compile_mode is None:
        hidden.add("compile_s")
    if request.repeats < 2:
        hidden.add("repeat_spread_pct")
    if len(run.models) < 2:
        hidden |= {"model", "params", "flops_per_image"}
    if all(r.status == "ok" for r in run.results):
        hidden.add("status")
    return [c for c in RESULT_COLUMNS if c.key not in hidden]


def _header(run: BenchRun) -> list[str]:
    request, env = run.request, run.env
    versions = f"torch {env.get('torch')}"
    if request.device_type == "cuda":
        versions += f", CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}"
    compile_text = "eager"
    if request.compile_mode:
        graphs = " with CUDA graphs" if env.get("flags", {}).get("cuda_graphs") else ""
        compile_text = f"torch.compile mode {request.compile_mode}{graphs}"
    mode = f"training step ({request.optimizer})" if request.training else "inference"
    lines = [
        f"{request.device} ({env.get('device_name')}) · {mode} · {request.dtype}"
        f"{' via torch.autocast (weights float32)' if request.autocast else ''} · "
        f"{'channels-last' if request.channels_last else 'NCHW'} · {compile_text} · {request.threads} "
        f"thread{'s' if request.threads != 1 else ''} · {versions}"
    ]
    what = "forward + backward" if request.training else "forward"
    for m in run.models:
        lines.append(
            f"{m.name + ': ' if len(run.models) > 1 else ''}input {render.shape_text(m.sample_shape)} per "
            f"image · {m.params:,} params · {m.flops_per_image / 1e9:.3f} GFLOP per image ({what}, 2 per "
            f"multiply-accumulate of conv + linear; all ops {m.all_flops_per_image / 1e9:.3f})"
        )
    if run.gemm is not None:
        lines.append(f"matmul peak {run.gemm.gflops_per_s:,.1f} GFLOP/s ({run.gemm.kernel}, best of {run.gemm.n})")
    return lines


def _footer(run: BenchRun) -> list[str]:
    cuda = run.request.device_type == "cuda"
    step = (
        "a training step (forward, loss, backward, optimizer step) in train()"
        if run.request.training
        else "model(x) in eval() under torch.inference_mode()"
    )
    return [
        f"times in ms (compile in s); latency: per-iteration samples of {step}"
        + (", host wall time ending in torch.cuda.synchronize(); GPU ms from CUDA events" if cuda else "")
        + "; img/s = batch / median; "
        + FLOPS_MEANING
        + "; % peak = GFLOP/s / the roofline: the best of the matmul and the model's own costliest convolutions, "
        "timed alone in this run ('unknown' where the model beat it: measured under contention)",
        *(
            [
                "distributed: aggregate = devices × batch / the slowest rank's median; efficiency = aggregate / "
                "(devices × the same step on one device)"
            ]
            if run.distributed
            else []
        ),
        "memory: measured peak of the steady-state steps ("
        + ("torch.cuda.max_memory_allocated" if cuda else "process peak RSS")
        + ") above what was allocated before, "
        "plus this configuration's weights and input; predicted: weights + gradients + optimizer state + "
        "activations from the analysis; ratio = memory / predicted (see docs/bench.md)",
    ]


def bench_document(run: BenchRun) -> Document:
    names = [m.name for m in run.models]
    title = f"{names[0]} — {run.models[0].description}" if len(names) == 1 else f"bench: {', '.join(names)}"
    blocks = [Heading(title), Lines(tuple(_header(run))), Table(tuple(_columns(run)), tuple(_table_records(run)))]
    if run.max_batch:
        blocks.append(Table(tuple(SEARCH_COLUMNS), tuple(_search_rows(run)), title="largest batch that fits"))
    if run.distributed:
        first = run.distributed[0]
        blocks.append(
            Table(
                tuple(DISTRIBUTED_COLUMNS),
                tuple(_distributed_rows(run)),
                title=f"DDP over {first.world_size} processes ({first.backend}), launched by torchrun",
            )
        )
    blocks.append(Lines(tuple(_footer(run)), style="dim"))
    return Document(data=bench_data(run), blocks=tuple(blocks), csv=Table(tuple(CSV_COLUMNS), tuple(flat_records(run))))


SEARCH_COLUMNS = [
    Column("model", "model", justify="left"),
    Column("usable_bytes", "usable", "bytes"),
    Column("predicted", "predicted max", "count"),
    Column("confirmed", "confirmed max", "count"),
    Column("attempts", "real steps (batch: result, measured)", justify="left", wrap=True),
]


def _search_rows(run: BenchRun) -> list[dict]:
    rows = []
    for s in run.max_batch:
        tried = "; ".join(
            f"{b}: {status}" + (f", {render.human_bytes(m)}" if m is not None else "") for b, status, m in s.attempts
        )
        rows.append(
            {
                "model": s.model,
                "usable_bytes": s.usable_bytes,
                "predicted": s.predicted,
                "confirmed": s.confirmed,
                "attempts": tried or "—",
            }
        )
    return rows


DISTRIBUTED_COLUMNS = [
    Column("batch_per_device", "batch/dev", "count"),
    Column("per_device", "img/s per device", justify="left"),
    Column("aggregate_throughput", "aggregate img/s", "float"),
    Column("single_device_throughput", "1 device img/s", "float", drop=1),
    Column("scaling_efficiency_pct", "efficiency", "pct"),
]


def _distributed_rows(run: BenchRun) -> list[dict]:
    rows = []
    for result in run.distributed:
        record = _distributed_record(result)
        efficiency = record["scaling_efficiency"]
        rates = result.per_device_throughput  # every rank's figure is in the JSON; here their range
        record["per_device"] = (
            f"{min(rates):,.1f}" if min(rates) == max(rates) else f"{min(rates):,.1f}–{max(rates):,.1f}"
        )
        record["scaling_efficiency_pct"] = None if efficiency is None else 100 * efficiency
        rows.append(record)
    return rows
