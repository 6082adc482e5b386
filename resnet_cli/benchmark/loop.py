"""The timing loop: one configuration's step (a forward, or a whole training step), timed sample by sample.

First call (and compile) timed on its own; a time-based warm-up; then straight into the loop, which keeps
every per-iteration sample. On CUDA each iteration is bracketed by CUDA events (GPU time) inside a host
wall-clock measurement that ends with ``torch.cuda.synchronize()``. Progress callbacks, run-queue readings
and memory probes happen only between samples, never inside a timed region.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import torch

from resnet_cli.benchmark.records import RQ_WAIT_CONTENDED, BenchRequest
from resnet_cli.benchmark.stats import sample_stats
from resnet_cli.benchmark.system import TORCH_DTYPES, CpuShare, PeakMemory, run_queue_wait_ns, sync

MIN_SAMPLES = 10  # blocked_autorange stops on time alone; a 1-block "IQR = 0" is not a measurement
MIN_SAMPLES_SLOW = 5  # when one iteration takes longer than SLOW_ITERATION_S
SLOW_ITERATION_S = 1.0
MIN_WARMUP_ITERS = 3

Progress = Callable[..., None]  # progress(event, **details); never called inside a timed region


def no_progress(event: str, **details) -> None:
    pass


def alone(done: bool) -> bool:
    """A single process decides for itself when to stop (distributed ranks agree instead)."""
    return done


def is_oom(error: BaseException) -> bool:
    if isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "not enough memory" in text or "can't allocate memory" in text
    )


def uses_cuda_graphs(mode: Optional[str], device: str) -> bool:
    """Whether torch.compile's ``mode`` records CUDA graphs (inductor's own table of mode options)."""
    if mode is None or not device.startswith("cuda"):
        return False
    import torch._inductor

    return bool(torch._inductor.list_mode_options(mode).get("triton.cudagraphs", False))


def make_input(batch_size: int, sample_shape: tuple[int, ...], request: BenchRequest):
    generator = torch.Generator(request.device).manual_seed(0)
    x = torch.randn((batch_size, *sample_shape), device=request.device, generator=generator)
    return x.contiguous(memory_format=torch.channels_last) if request.channels_last and x.dim() == 4 else x


def make_optimizer(model, name: str):
    parameters = [p for p in model.parameters() if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=1e-4)
    return torch.optim.SGD(parameters, lr=1e-4, momentum=0.9)  # the ResNet paper's optimizer


def compiled(model, request: BenchRequest):
    if request.compile_mode is None:
        return model
    torch.compiler.reset()  # each configuration pays (and reports) its own compile
    return torch.compile(model, mode=request.compile_mode, dynamic=False)


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def inference_step(model, x, request: BenchRequest) -> Callable[[], object]:
    graphs = uses_cuda_graphs(request.compile_mode, request.device)
    dtype = TORCH_DTYPES[request.dtype]

    def step():
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(request.device_type, dtype=dtype, enabled=request.autocast):
            return model(x)

    return step


def training_step(model, x, optimizer, request: BenchRequest, classes: Optional[int]) -> Callable[[], object]:
    """Forward, loss, backward, optimizer step (gradients set to None after it, PyTorch's default).
    Cross-entropy against fixed random labels when the output is N × classes, else the mean square."""
    graphs = uses_cuda_graphs(request.compile_mode, request.device)
    dtype = TORCH_DTYPES[request.dtype]
    labels = None
    if classes:
        generator = torch.Generator(request.device).manual_seed(1)
        labels = torch.randint(0, classes, (x.shape[0],), device=request.device, generator=generator)
    scaler = torch.amp.GradScaler(request.device_type) if request.dtype == "float16" else None

    def step():
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(request.device_type, dtype=dtype, enabled=request.autocast):
            out = _first(model(x))
            loss = (
                torch.nn.functional.cross_entropy(out.float(), labels)
                if labels is not None
                else out.float().square().mean()
            )
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


@dataclass
class Samples:
    """What the timing loop has gathered so far (kept when Ctrl-C or SIGTERM interrupts it)."""

    host_ms: list = field(default_factory=list)
    gpu_ms: list = field(default_factory=list)
    enqueue_ms: list = field(default_factory=list)
    waits: list = field(default_factory=list)  # per sample: run-queue wait / sample wall time
    first_call_ms: Optional[float] = None
    warmup_s: Optional[float] = None
    warmup_iters: int = 0
    measure_s: Optional[float] = None
    other_cpu: Optional[float] = None
    memory_growth: Optional[int] = None

    def figures(self) -> dict:
        """The ConfigResult fields these samples give."""
        total = sum(self.host_ms)
        rq = sum(w * s for w, s in zip(self.waits, self.host_ms)) / total if self.waits and total else None
        return {
            "host": sample_stats(self.host_ms),
            "gpu": sample_stats(self.gpu_ms),
            "enqueue_median_ms": sample_stats(self.enqueue_ms).median_ms if self.enqueue_ms else None,
            "samples_ms": tuple(self.host_ms),
            "gpu_samples_ms": tuple(self.gpu_ms),
            "first_call_ms": self.first_call_ms,
            "warmup_s": self.warmup_s,
            "warmup_iters": self.warmup_iters,
            "measure_s": self.measure_s,
            "rq_wait_frac": rq,
            "other_cpu_frac": self.other_cpu,
            "contended_samples": sum(1 for w in self.waits if w > RQ_WAIT_CONTENDED),
        }


def timing_loop(
    step: Callable[[], object],
    request: BenchRequest,
    samples: Samples,
    *,
    progress: Progress = no_progress,
    memory: Optional[PeakMemory] = None,
    agree: Callable[[bool], bool] = alone,
    **tag,
) -> None:
    """Time ``step`` into ``samples``. ``agree(done)`` turns this process's decision to stop into everyone's
    (distributed ranks must run the same number of steps); ``tag`` goes to the progress callback."""
    cuda = request.device_type == "cuda"
    if memory is not None:
        memory.before_first_call()
    t0 = time.perf_counter()
    out = step()  # first call: oneDNN primitive creation, cuDNN autotuning, torch.compile
    sync(request.device_type)
    samples.first_call_ms = (time.perf_counter() - t0) * 1e3
    del out
    if memory is not None:
        memory.after_first_call()
    progress("warmup", **tag)
    started = time.perf_counter()
    while not agree(samples.warmup_iters >= MIN_WARMUP_ITERS and time.perf_counter() - started >= request.warmup_s):
        out = step()
        sync(request.device_type)
        del out
        samples.warmup_iters += 1
    samples.warmup_s = time.perf_counter() - started
    if memory is not None:
        samples.memory_growth = memory.growth()
    # no pause between warm-up and measurement: the first iterations after an idle gap run slow
    share = CpuShare()
    started = time.perf_counter()
    need = MIN_SAMPLES
    while True:
        wait_before = run_queue_wait_ns()
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter_ns()
            begin.record()
            out = step()
            t_enqueued = time.perf_counter_ns()
            end.record()
            torch.cuda.synchronize()
            t1 = time.perf_counter_ns()
        else:
            t0 = time.perf_counter_ns()
            out = step()
            t1 = time.perf_counter_ns()
        # ---- outside the timed region from here ----
        wait_after = run_queue_wait_ns()
        del out
        samples.host_ms.append((t1 - t0) / 1e6)
        if cuda:
            samples.gpu_ms.append(begin.elapsed_time(end))
            samples.enqueue_ms.append((t_enqueued - t0) / 1e6)
        if wait_before is not None and wait_after is not None:
            # per compute thread: the waits of all our threads are summed
            samples.waits.append((wait_after - wait_before) / max(t1 - t0, 1) / max(1, request.threads))
        if (t1 - t0) / 1e9 > SLOW_ITERATION_S:
            need = MIN_SAMPLES_SLOW
        elapsed = time.perf_counter() - started
        progress("sample", elapsed=elapsed, seconds=request.min_time_s, n=len(samples.host_ms), **tag)
        if agree(elapsed >= request.min_time_s and len(samples.host_ms) >= need):
            break
    samples.measure_s = time.perf_counter() - started
    samples.other_cpu = share.other_fraction()
