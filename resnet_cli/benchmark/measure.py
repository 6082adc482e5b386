"""``resnet-cli bench`` in one process: what a run measures, in which order, and what it returns.

One run: count every model once (the analysis core, at batch 1), predict the memory of every configuration
(model × batch size) and refuse those that cannot fit before allocating anything, record the environment,
time the roofline's kernels, then measure the configurations — interleaved (for each batch size, each model
in turn; the whole sweep ``repeats`` times) so that drift on the machine hits every model alike — sampling
the roofline again before and after each one. Ctrl-C and SIGTERM return what was measured so far.

Statistics: ``stats``; machine facts: ``system``; roofline: ``peak``; the timing loop: ``loop``; memory:
``memory``; ``--isolate``: ``isolate``; ``--devices``: ``distributed`` (both run this in other processes; ``bench``
chooses). Everything returns frozen records (``records``); nothing is printed here.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from resnet_cli.base.errors import RuntimeFailure, Terminated, first_line
from resnet_cli.benchmark import memory as bench_memory
from resnet_cli.benchmark import system as bench_system
from resnet_cli.benchmark.loop import (
    Progress,
    Samples,
    compiled,
    inference_step,
    is_oom,
    make_input,
    make_optimizer,
    no_progress,
    timing_loop,
    training_step,
    uses_cuda_graphs,
)
from resnet_cli.benchmark.peak import RooflineSampler
from resnet_cli.benchmark.records import BenchRequest, BenchRun, ConfigResult, MemoryPrediction, ModelInfo
from resnet_cli.benchmark.warnings import with_warnings


@dataclass
class Prepared:
    """One model of the run: its analyses, its figures, and the module inference shares."""

    target: Any
    forward: Any  # Analysis of the inference forward at batch 1 (every count is linear in N)
    steps: Any  # Analyses of a training step at batches 1 and 2 (None for inference runs): batch norm's
    #             per-channel statistics make a step's counts affine in N, not linear
    info: ModelInfo
    module: Any = None

    def all_flops(self, batch: int) -> int:
        if self.steps is None:
            return self.info.all_flops_per_image * batch
        one, two = (_every(t) for t in self.steps)
        return one + (batch - 1) * (two - one)


def _every(analysis) -> int:
    from resnet_cli.report.rows import totals

    counted = totals(analysis)
    return counted.all_flops + counted.backward_flops


@dataclass
class Config:
    """One model at one batch size, across repeats."""

    model: Prepared
    batch: int
    prediction: MemoryPrediction
    estimate: int
    fits: bool
    refusal: str = ""
    kernels: list = field(default_factory=list)
    runs: list = field(default_factory=list)  # Samples, one per repeat
    status: str = "ok"
    message: str = ""
    compile_s: Optional[float] = None
    own_bytes: int = 0
    memory_source: str = ""


def prepare(target, request: BenchRequest) -> Prepared:
    from resnet_cli.report.rows import totals
    from resnet_cli.sources.target import analyze

    built = {}  # the meta model, built once for every analysis of this model (an analysis leaves it as it was)

    def at(batch: int, training: bool = False):
        analyzed = analyze(
            dataclasses.replace(target, input_shape=(batch, *target.input_shape[1:])),
            training=training,
            model=built.get("model"),
        )
        built.setdefault("model", analyzed.model)
        return analyzed.analysis

    forward = at(1)
    steps = (at(1, True), at(2, True)) if request.training else None
    if steps is not None:
        counted = totals(steps[0])
        flops, every = 2 * (counted.macs + counted.backward_macs), _every(steps[0])
    else:
        counted = totals(forward)
        flops, every = counted.flops_2x, counted.all_flops
    output = (steps[0] if steps else forward).output_shape
    info = ModelInfo(
        name=target.name,
        description=target.description,
        sample_shape=tuple(target.input_shape[1:]),
        params=forward.params,
        trainable_params=forward.trainable_params,
        flops_per_image=flops,
        all_flops_per_image=every,
        classes=output[1] if output and len(output) == 2 else None,
        identified_as=target.identified_as,
    )
    return Prepared(target, forward, steps, info)


def plan(models: list[Prepared], request: BenchRequest, batches: dict) -> list[Config]:
    """Every configuration in measuring order: for each batch position, each model in turn."""
    available, source = bench_system.available_memory(request.device)
    configs = []
    for position in range(max(len(b) for b in batches.values())):
        for model in models:
            sizes = batches[model.info.name]
            if position >= len(sizes):
                continue
            batch = sizes[position]
            prediction = bench_memory.predict(model.forward, model.steps, batch, request)
            estimate = bench_memory.refusal_estimate(prediction, request)
            fits = available is None or estimate <= available
            refusal = "" if fits else (f"not run: needs about {_gib(estimate)} but {source} is {_gib(available)}")
            configs.append(Config(model, batch, prediction, estimate, fits, refusal))
    return configs


def _gib(value: Optional[int]) -> str:
    return "unknown" if value is None else f"{value / 2**30:.2f} GiB"


def setup(model: Prepared, batch: int, request: BenchRequest, wrap=None):
    """(step, bytes this configuration holds before its first call): the input, and for training a fresh
    model and optimizer (a configuration's optimizer state and memory peak are its own)."""
    x = make_input(batch, model.info.sample_shape, request)
    if request.training:
        from resnet_cli.sources.target import build_real

        module = build_real(model.target, request.device).train()
        if request.channels_last:
            module = module.to(memory_format=torch.channels_last)
        held = bench_system.tensor_bytes(*module.parameters(), *module.buffers())
        runner = compiled(wrap(module) if wrap else module, request)
        return training_step(
            runner, x, make_optimizer(module, request.optimizer), request, model.info.classes
        ), held + bench_system.tensor_bytes(x)
    module = model.module
    held = bench_system.tensor_bytes(*module.parameters(), *module.buffers())
    return inference_step(compiled(module, request), x, request), held + bench_system.tensor_bytes(x)


def measure(
    config: Config, request: BenchRequest, sampler: Optional[RooflineSampler], progress: Progress, repeat: int
) -> None:
    """Measure one configuration once, adding a Samples to ``config.runs`` (or recording its failure)."""
    tag = {"model": config.model.info.name, "batch_size": config.batch, "repeat": repeat}
    if sampler is not None and sampler.unsampled(config.kernels):
        progress("peak", **tag)
        sampler.sample(sampler.unsampled(config.kernels))
    samples = Samples()
    memory = bench_system.PeakMemory(request.device)
    try:
        step, config.own_bytes = setup(config.model, config.batch, request)
        context = torch.inference_mode() if not request.training else torch.enable_grad()
        with context:
            timing_loop(step, request, samples, progress=progress, memory=memory, **tag)
        del step
    except KeyboardInterrupt:
        if samples.host_ms:
            config.runs.append(samples)
            config.status, config.message = "interrupted", "interrupted; statistics cover the samples taken so far"
        raise
    except Exception as error:  # noqa: BLE001 - one configuration's failure is reported, the sweep goes on
        line = first_line(error)[:300]
        config.status = "oom" if is_oom(error) else "error"
        config.message = f"out of memory: {line}" if is_oom(error) else f"{type(error).__name__}: {line}"
        return
    finally:
        bench_system.free(request.device_type)
    if request.compile_mode is not None and config.compile_s is None:
        config.compile_s = samples.first_call_ms / 1e3  # the first call is the compile (and one step)
    config.memory_source = memory.source
    config.runs.append(samples)
    if sampler is not None and samples.host_ms and _above(config, samples, sampler):
        # the model ran faster than its kernels alone: the roofline was measured under contention, and the % is
        # unknown; one more sample of its kernels now may lift the roofline above the model (a verdict changes)
        progress("peak", **tag)
        sampler.sample(config.kernels, gemm=True)


def _above(config: Config, samples: Samples, sampler: RooflineSampler) -> bool:
    """Whether this configuration's rate is above its roofline as sampled so far (its % of peak unknown)."""
    roofline = sampler.roofline(config.kernels)
    rate = config.model.info.flops_per_image * config.batch / (statistics.median(samples.host_ms) / 1e3) / 1e9
    return roofline is None or rate > roofline.gflops_per_s


def try_batch(model: Prepared, request: BenchRequest):
    """``--find-max-batch``'s confirmation: two real steps at a batch → (status, measured peak bytes)."""

    def attempt(batch: int):
        memory = bench_system.PeakMemory(request.device)
        try:
            step, held = setup(model, batch, request)
            with torch.inference_mode() if not request.training else torch.enable_grad():
                memory.before_first_call()
                step()
                bench_system.sync(request.device_type)
                memory.after_first_call()
                step()
                bench_system.sync(request.device_type)
            growth = memory.growth()
            return "ok", None if growth is None else growth + held
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - a failed step is the search's answer, not a crash
            return ("oom" if is_oom(error) else "error"), None
        finally:
            bench_system.free(request.device_type)

    return attempt


def measure_in_process(request: BenchRequest, *, progress: Progress = no_progress) -> BenchRun:
    """Measure every configuration of ``request`` in this process; Ctrl-C or SIGTERM return what was measured
    so far. (``resnet_cli.benchmark.bench.run_bench`` chooses between this, --isolate and --devices.)

    Raises RuntimeFailure when no configuration can fit in memory (before allocating anything)."""
    models = [prepare(target, request) for target in request.targets]
    batches = {m.info.name: request.batch_sizes for m in models}
    configs = [] if request.find_max_batch else plan(models, request, batches)
    if configs and not any(c.fits for c in configs):
        worst = configs[0]
        raise RuntimeFailure(
            f"{worst.model.info.name} at batch {worst.batch} cannot fit: it "
            f"{worst.refusal.removeprefix('not run: ')} ({request.dtype}); use a smaller "
            "--batch-size or --input"
        )
    stopped, env, sampler, searches = None, {}, None, []
    try:
        with bench_system.threads(request.threads), bench_system.cuda_flags(request.device):
            env = bench_system.capture_environment(request.device, request.threads, _flags(request))
            progress("peak", model="", batch_size=0, repeat=0)
            sampler = RooflineSampler(
                request.device, request.dtype, request.threads, request.channels_last, request.min_time_s
            )
            sampler.sample(first=True)
            if not request.training:
                for model in models:
                    model.module = _inference_module(model, request)
            if request.find_max_batch:
                searches, batches = _search(models, request, progress)
                configs = plan(models, request, batches)
            for config in configs:
                config.kernels = sampler.conv_kernels(config.model.forward, config.batch)
            for repeat in range(request.repeats):
                for config in configs:
                    if config.fits and config.status == "ok":
                        measure(config, request, sampler, progress, repeat)
                        if repeat == request.repeats - 1:
                            _finished(config, request, models, env, sampler, progress)
    except KeyboardInterrupt as stop:
        stopped = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
    finally:
        for model in models:
            model.module = None
        bench_system.free(request.device_type)
    run = BenchRun(
        request=request,
        models=tuple(m.info for m in models),
        env=env,
        gemm=sampler.gemm_rate() if sampler else None,
        results=tuple(result_of(c, request, sampler) for c in configs if c.runs or c.status != "ok" or not c.fits),
        stopped_by=stopped,
        max_batch=tuple(searches),
    )
    return with_warnings(run)


def _finished(
    config: Config,
    request: BenchRequest,
    models: list[Prepared],
    env: dict,
    sampler: Optional[RooflineSampler],
    progress: Progress,
) -> None:
    """Tell ``progress`` that a configuration is done, with its result as a run of one result: ``bench``
    appends it to --output at once, so nothing measured waits for the end of the sweep."""
    run = BenchRun(
        request=request,
        models=tuple(m.info for m in models),
        env=env,
        gemm=sampler.gemm_rate() if sampler else None,
        results=(result_of(config, request, sampler),),
    )
    progress("finished", model=config.model.info.name, batch_size=config.batch, repeat=request.repeats - 1, run=run)


def _inference_module(model: Prepared, request: BenchRequest):
    from resnet_cli.sources.target import build_real

    module = build_real(model.target, request.device).eval()
    return module.to(memory_format=torch.channels_last) if request.channels_last else module


def _search(models: list[Prepared], request: BenchRequest, progress: Progress):
    searches, batches = [], {}
    available, source = bench_system.available_memory(request.device)
    for model in models:
        progress("search", model=model.info.name, batch_size=0, repeat=0)
        found = bench_memory.search_max_batch(
            model.info.name,
            lambda n, m=model: bench_memory.predict(m.forward, m.steps, n, request).total,
            available,
            source,
            request.device_type,
            try_batch(model, request),
        )
        searches.append(found)
        batches[model.info.name] = (found.confirmed,) if found.confirmed else ()
    return searches, batches


def _flags(request: BenchRequest) -> dict:
    return {
        "mode": request.mode,
        "optimizer": request.optimizer if request.training else None,
        "dtype": request.dtype,
        "autocast": request.autocast,
        "channels_last": request.channels_last,
        "compile": request.compile_mode,
        "cuda_graphs": uses_cuda_graphs(request.compile_mode, request.device),
        "inference_mode": not request.training,
        "eval": not request.training,
        "warmup_s": request.warmup_s,
        "min_time_s": request.min_time_s,
        "repeats": request.repeats,
        "isolate": request.isolate,
    }


def result_of(config: Config, request: BenchRequest, sampler: Optional[RooflineSampler]) -> ConfigResult:
    common = dict(
        model=config.model.info.name,
        batch_size=config.batch,
        flops_per_batch=config.model.info.flops_per_image * config.batch,
        all_flops_per_batch=config.model.all_flops(config.batch),
        estimated_bytes=config.estimate,
        predicted=config.prediction,
        cuda_graphs=uses_cuda_graphs(request.compile_mode, request.device),
    )
    if not config.fits:
        return ConfigResult(status="refused", message=config.refusal, **common)
    if not config.runs:
        return ConfigResult(status=config.status, message=config.message, **common)
    pooled = Samples()
    for run in config.runs:
        for name in ("host_ms", "gpu_ms", "enqueue_ms", "waits"):
            getattr(pooled, name).extend(getattr(run, name))
    first = config.runs[0]
    growths = [r.memory_growth for r in config.runs if r.memory_growth is not None]
    shares = [r.other_cpu for r in config.runs if r.other_cpu is not None]
    pooled.first_call_ms, pooled.warmup_s, pooled.warmup_iters = first.first_call_ms, first.warmup_s, first.warmup_iters
    pooled.measure_s = sum(r.measure_s or 0.0 for r in config.runs)
    pooled.other_cpu = max(shares) if shares else None
    medians = tuple(statistics.median(r.host_ms) for r in config.runs if r.host_ms)
    return ConfigResult(
        status=config.status,
        message=config.message,
        **pooled.figures(),
        repeat_medians_ms=medians,
        compile_s=config.compile_s,
        measured_bytes=max(growths) + config.own_bytes if growths else None,
        memory_source=config.memory_source,
        roofline=sampler.roofline(config.kernels) if sampler else None,
        pid=os.getpid(),
        **common,
    )
