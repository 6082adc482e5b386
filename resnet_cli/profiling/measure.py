"""``profile``'s measurement: the ceilings, the profiler-free and the profiled forward of each model, in one run.

Order for each model: warm-up; the forward (or training step) timed without the profiler; the same under
``torch.profiler`` with a range around every module's call (``attribution``); the profiler-free timing again (the
two halves pooled, so contention hits both); then a matmul sample. The ceilings: the matmul peak as ``bench``
measures it (``benchmark.peak.RooflineSampler``, handed in by the API: ``profiling`` and ``benchmark`` are siblings)
and STREAM's copy/triad (``bandwidth``), before the first model and again after the last; the best samples count.
Ctrl-C (or SIGTERM) stops the run and keeps every completed iteration.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from resnet_cli.base import signals
from resnet_cli.base.errors import Terminated
from resnet_cli.profiling.attribution import ITERATION, attribute, module_ranges
from resnet_cli.profiling.bandwidth import measure_bandwidth
from resnet_cli.report.profile import Measured, Peaks

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

Progress = Callable[..., None]


def no_progress(event: str, **details) -> None:
    pass


@dataclass(frozen=True)
class Settings:
    device: str  # cpu | cuda:N
    dtype: str
    channels_last: bool = False
    compile: str | None = None
    training: bool = False
    iterations: int = 10
    warmup: int = 2
    threads: int = 1
    bandwidth_elements: int | None = None  # the STREAM arrays' length (None: the device's default)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


@contextmanager
def threads(count: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class PeakMeter:
    """The two ceilings: ``gemm`` is bench's RooflineSampler (sample(first=…), gemm_rate())."""

    def __init__(self, gemm, settings: Settings) -> None:
        self.gemm, self.settings = gemm, settings
        self.bandwidth: dict[str, float] = {}
        self.samples = 0

    def sample(self, first: bool = False) -> None:
        self.gemm.sample(first=first)
        if first or not self.bandwidth:
            with threads(self.settings.threads):
                for rate in measure_bandwidth(self.settings.device, self.settings.bandwidth_elements):
                    self.bandwidth[rate.kernel] = max(self.bandwidth.get(rate.kernel, 0.0), rate.bytes_per_s)

    def final(self) -> None:
        """The last round, after the models: the matmul once more and the bandwidth again."""
        self.gemm.sample(first=False)
        with threads(self.settings.threads):
            for rate in measure_bandwidth(self.settings.device, self.settings.bandwidth_elements):
                self.bandwidth[rate.kernel] = max(self.bandwidth.get(rate.kernel, 0.0), rate.bytes_per_s)

    def peaks(self) -> Peaks | None:
        gemm = self.gemm.gemm_rate()
        if gemm is None or not self.bandwidth:
            return None
        best = max(self.bandwidth, key=self.bandwidth.get)
        kernels = (
            (gemm.kernel, gemm.gflops_per_s * 1e9, "FLOP/s"),
            *((k, v, "B/s") for k, v in self.bandwidth.items()),
        )
        return Peaks(gemm.gflops_per_s * 1e9, self.bandwidth[best], gemm.kernel, best, kernels)


def _outputs(out) -> list:
    found, pending = [], [out]
    while pending:
        value = pending.pop()
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and value.requires_grad:
                found.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    return found


def prepare(model: torch.nn.Module, settings: Settings, *, owned: bool):
    """The model on the device at the dtype and layout (a copy when it is the caller's own instance)."""
    if not owned:
        model = copy.deepcopy(model)
    model = model.to(device=settings.device, dtype=TORCH_DTYPES[settings.dtype])
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train(settings.training)
    return model


def make_step(model, input_shape, settings: Settings):
    """One forward (inference: under inference_mode) or one training step (forward, sum of the outputs,
    backward; no optimizer), ending with a device synchronisation."""
    generator = torch.Generator(settings.device).manual_seed(0)
    x = torch.randn(input_shape, device=settings.device, dtype=TORCH_DTYPES[settings.dtype], generator=generator)
    if settings.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    runner = (
        torch.compile(model, mode=None if settings.compile == "default" else settings.compile)
        if settings.compile
        else model
    )
    device = settings.device

    if settings.training:

        def step():
            for parameter in model.parameters():
                parameter.grad = None
            reduced = _outputs(runner(x))
            if reduced:
                torch.autograd.backward([t.float().sum() for t in reduced])
            sync(device)
    else:

        def step():
            with torch.inference_mode():
                runner(x)
            sync(device)

    return step


def _timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def measure_model(
    model, input_shape, settings: Settings, *, owned: bool = True, name: str = "", progress: Progress = no_progress
) -> Measured:
    """Warm up, time without the profiler, profile, time again; Ctrl-C keeps what completed (``interrupted``)."""
    cuda = settings.device.startswith("cuda")
    free: list[float] = []
    walls: list[float] = []
    iterations: list[dict] = []
    uncertain: frozenset = frozenset()
    interrupted, stopped_by = False, None
    source = (
        "device time of the CUDA kernels each operator launched (torch.profiler's CUDA activity)"
        if cuda
        else "CPU self time of each operator (torch.profiler), with its intra-op threads"
    )
    benchmark = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = True if cuda else benchmark
        with threads(settings.threads), signals.where(f"profiling {name or 'the model'} at batch {input_shape[0]}"):
            model = prepare(model, settings, owned=owned)
            step = make_step(model, input_shape, settings)
            for index in range(settings.warmup):
                progress("warmup", model=name, done=index, total=settings.warmup)
                step()
            half = max(1, settings.iterations // 2)
            for index in range(half):
                progress("free", model=name, done=index, total=settings.iterations)
                free.append(_timed(step))
            attributed = _profiled(model, step, settings, name, progress)
            iterations, walls, uncertain = attributed.iterations, attributed.walls, frozenset(attributed.uncertain)
            if attributed.stopped_by:
                raise Terminated() if attributed.stopped_by == "SIGTERM" else KeyboardInterrupt()
            for index in range(half, settings.iterations):
                progress("free", model=name, done=index, total=settings.iterations)
                free.append(_timed(step))
    except KeyboardInterrupt as stop:
        interrupted, stopped_by = True, stop_name(stop)
    finally:
        torch.backends.cudnn.benchmark = benchmark
    return Measured(tuple(iterations), tuple(walls), tuple(free), source, uncertain, interrupted, stopped_by)


def stop_name(stop: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"


@dataclass
class _Profiled:
    iterations: list
    walls: list
    uncertain: set
    stopped_by: str | None = None


def _profiled(model, step, settings: Settings, name: str, progress: Progress) -> _Profiled:
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = settings.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    stopped_by, done = None, 0
    ranges = nullcontext() if settings.compile else module_ranges(model)
    prof = profile(activities=activities)
    with _quiet_native_stderr():
        prof.start()
    try:
        with ranges:
            for index in range(settings.iterations):
                progress("profile", model=name, done=index, total=settings.iterations)
                with record_function(f"{ITERATION}{index}"):
                    step()
                done += 1
    except KeyboardInterrupt as stop:  # the iterations that completed are in the trace; the one cut short is dropped
        stopped_by = stop_name(stop)
    finally:
        with _quiet_native_stderr():
            prof.stop()
    found = attribute(prof.events(), cuda=cuda, compiled=bool(settings.compile))
    return _Profiled(found.iterations[:done], found.walls[:done], found.uncertain, stopped_by)


@contextmanager
def _quiet_native_stderr():
    """Kineto (the profiler's C++ side) writes start/stop lines and, without a GPU, a device-count error straight
    to file descriptor 2: silenced while the profiler starts and stops, so stderr keeps only what people read."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
