"""Forward latency of a ResNet, measured so the number can be trusted: ``resnet-cli bench``.

One run: resolve the device, estimate the memory every batch size needs (and refuse those that cannot
fit, before allocating anything), record the environment, measure the device's GEMM peak at the chosen
dtype, then for each batch size: first call (and compile) timed on its own, a time-based warm-up, and a
timing loop that keeps every per-iteration sample. On CUDA every iteration is bracketed by CUDA events
(GPU time) inside a host wall-clock measurement that ends with ``torch.cuda.synchronize()``.

Everything here returns frozen dataclasses of plain numbers; nothing is printed. Progress is reported
through an optional callback, which is only ever called outside a timed region.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from resnet_cli.errors import RuntimeFailure, UsageError
from resnet_cli.values import DTYPE_BYTES, parse_int_list

# ---- options as the command line gives them (validated without torch by the CLI) ----


MIN_SAMPLES = 10  # blocked_autorange stops on time alone; a 1-block "IQR = 0" is not a measurement
MIN_SAMPLES_SLOW = 5  # when one iteration takes longer than SLOW_ITERATION_S
SLOW_ITERATION_S = 1.0
MIN_WARMUP_ITERS = 3
HIGH_SPREAD = 0.10  # IQR / median above this: torch.utils.benchmark's "system fluctuation" threshold
RQ_WAIT_CONTENDED = 0.02  # our threads waited for a CPU more than 2 % of the measured time
OTHER_CPU_CONTENDED = 0.10  # other processes used more than 10 % of all CPUs during the measurement
HOST_BOUND = 0.8  # enqueue time >= 80 % of GPU time: the GPU waits for the Python thread to launch kernels
MEMORY_SAFETY = 2.0  # activations: allocator rounding, oneDNN reorders, cuDNN/inductor workspaces
CUDA_WORKSPACE_BYTES = 512 * 2**20  # CUDA context left aside: cuDNN / cuBLAS workspaces, autotuning
CPU_GEMM_SIZE = 2048
CUDA_GEMM_SIZE = 8192


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    sizes: list[int] = []
    for value in parse_int_list(text, "--batch-size", 1, 2**20):
        if value not in sizes:
            sizes.append(value)
    return tuple(sizes)


def parse_device(text: str) -> str:
    """Check the syntax: auto | cpu | cuda | cuda:N (availability is checked by ``resolve_device``)."""
    value = text.strip().lower()
    if value in ("auto", "cpu", "cuda"):
        return value
    if value.startswith("cuda:") and value[5:].isdigit():
        return f"cuda:{int(value[5:])}"
    raise UsageError(f"--device '{text}' is not accepted; choose one of: auto, cpu, cuda, cuda:N")


def resolve_device(requested: str) -> str:
    """'cpu' or 'cuda:N'. CUDA asked for but absent is a runtime failure (exit 1), not a usage error."""
    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda:0" if available else "cpu"
    if not available:
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU was found"
        raise RuntimeFailure(f"--device {requested}: CUDA is not available ({why}; torch {torch.__version__}); "
                             "use --device cpu")
    index = int(requested.split(":")[1]) if ":" in requested else 0
    count = torch.cuda.device_count()
    if index >= count:
        available = "cuda:0" if count == 1 else f"cuda:0 … cuda:{count - 1}"
        raise RuntimeFailure(f"--device {requested}: this machine has {count} CUDA device"
                             f"{'s' if count != 1 else ''} ({available})")
    return f"cuda:{index}"


# ---- statistics ----

@dataclass(frozen=True)
class Stats:
    """Order statistics of per-iteration samples, in milliseconds (percentiles interpolate linearly)."""

    n: int
    median_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    p10_ms: float
    p25_ms: float
    p75_ms: float
    p90_ms: float

    @property
    def iqr_ms(self) -> float:
        return self.p75_ms - self.p25_ms

    @property
    def rel_iqr(self) -> float:
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else 0.0


def percentile(ordered: list[float], q: float) -> float:
    """numpy's default ('linear') percentile of sorted data: interpolate between the closest ranks."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sample_stats(samples_ms) -> Optional[Stats]:
    if not samples_ms:
        return None
    ordered = sorted(samples_ms)
    return Stats(n=len(ordered), median_ms=percentile(ordered, 0.5), mean_ms=sum(ordered) / len(ordered),
                 min_ms=ordered[0], max_ms=ordered[-1], p10_ms=percentile(ordered, 0.1),
                 p25_ms=percentile(ordered, 0.25), p75_ms=percentile(ordered, 0.75),
                 p90_ms=percentile(ordered, 0.9))


# ---- the machine: memory, CPU time, run-queue wait (Linux /proc; None elsewhere) ----

def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def available_memory(device: str) -> tuple[Optional[int], str]:
    """(bytes free for a new allocation, where that figure comes from); None when it cannot be known."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), "free CUDA memory (torch.cuda.mem_get_info)"
    text = _read("/proc/meminfo")
    if text:
        for line in text.splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "available RAM (/proc/meminfo MemAvailable)"
    return None, "unknown (no /proc/meminfo)"


def run_queue_wait_ns() -> Optional[int]:
    """Total time this process's threads have waited for a CPU (field 2 of /proc/self/task/*/schedstat)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    total = 0
    for task in tasks:
        text = _read(f"/proc/self/task/{task}/schedstat")
        if text:
            parts = text.split()
            if len(parts) >= 2:
                total += int(parts[1])
    return total


def _cpu_jiffies() -> Optional[tuple[int, int]]:
    """(busy, total) jiffies of all CPUs since boot, from the first line of /proc/stat (steal counts as busy)."""
    text = _read("/proc/stat")
    if not text:
        return None
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


class CpuShare:
    """How much of the machine other processes used from construction to ``other_fraction()``."""

    def __init__(self) -> None:
        self.start_jiffies = _cpu_jiffies()
        self.start_own = _own_cpu_s()

    def other_fraction(self) -> Optional[float]:
        end = _cpu_jiffies()
        if self.start_jiffies is None or end is None:
            return None
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy = end[0] - self.start_jiffies[0]
        total = end[1] - self.start_jiffies[1]
        if total <= 0:
            return None
        own = (_own_cpu_s() - self.start_own) * ticks
        return max(0.0, min(1.0, (busy - own) / total))


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def load_average() -> Optional[float]:
    text = _read("/proc/loadavg")
    return float(text.split()[0]) if text else None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo")
    if text:
        for line in text.splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


# ---- what a run is asked to do, and what it returns ----

@dataclass(frozen=True)
class BenchRequest:
    target: object  # resnet_cli.target.Target
    device: str  # resolved: 'cpu' or 'cuda:N'
    batch_sizes: tuple[int, ...]
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    threads: int = 1
    warmup_s: float = 1.0
    min_time_s: float = 3.0

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def autocast(self) -> bool:
        return self.dtype != "float32"


@dataclass(frozen=True)
class Peak:
    """The device's measured GEMM rate at the chosen dtype: the roofline % of peak is taken against."""

    gflops_per_s: float  # best sample
    median_gflops_per_s: float
    size: int
    dtype: str
    n: int
    method: str


@dataclass(frozen=True)
class MemoryEstimate:
    batch_size: int
    needed_bytes: int
    available_bytes: Optional[int]
    source: str

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.needed_bytes <= self.available_bytes


@dataclass(frozen=True)
class BatchResult:
    batch_size: int
    status: str  # ok | refused | oom | error | interrupted
    message: str = ""
    host: Optional[Stats] = None  # host wall time per forward (synchronized on CUDA)
    gpu: Optional[Stats] = None  # CUDA-event time per forward
    enqueue_median_ms: Optional[float] = None  # CUDA: time for the Python call to return (kernel launches)
    samples_ms: tuple[float, ...] = ()
    gpu_samples_ms: tuple[float, ...] = ()
    first_call_ms: Optional[float] = None
    compile_s: Optional[float] = None
    warmup_s: Optional[float] = None
    warmup_iters: int = 0
    measure_s: Optional[float] = None
    flops_per_batch: int = 0  # 2 x conv+linear multiply-accumulates
    all_flops_per_batch: int = 0  # every op the analysis core counts, 2 per multiply-accumulate
    estimated_bytes: int = 0
    rq_wait_frac: Optional[float] = None
    contended_samples: int = 0
    other_cpu_frac: Optional[float] = None
    peak_gflops_per_s: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.host is not None and self.status in ("ok", "interrupted")

    @property
    def throughput(self) -> Optional[float]:
        return self.batch_size / (self.host.median_ms / 1e3) if self.ok and self.host.median_ms > 0 else None

    @property
    def gflops_per_s(self) -> Optional[float]:
        return self.flops_per_batch / (self.host.median_ms / 1e3) / 1e9 if self.ok and self.host.median_ms else None

    @property
    def pct_of_peak(self) -> Optional[float]:
        rate = self.gflops_per_s
        return 100.0 * rate / self.peak_gflops_per_s if rate is not None and self.peak_gflops_per_s else None

    @property
    def host_bound(self) -> Optional[bool]:
        if self.gpu is None or self.enqueue_median_ms is None:
            return None
        return self.enqueue_median_ms >= HOST_BOUND * self.gpu.median_ms

    @property
    def contended(self) -> bool:
        return bool((self.rq_wait_frac or 0) > RQ_WAIT_CONTENDED or (self.other_cpu_frac or 0) > OTHER_CPU_CONTENDED)


@dataclass(frozen=True)
class BenchRun:
    model: str
    description: str
    sample_shape: tuple[int, ...]  # C, H, W of one image
    request: BenchRequest
    env: dict
    peak: Optional[Peak]
    results: tuple[BatchResult, ...]
    flops_per_image: int
    all_flops_per_image: int
    params: int
    interrupted: bool = False
    warnings: tuple[str, ...] = field(default=())


class _Interrupted(Exception):
    """Ctrl-C inside a batch: carries what that batch measured before it."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("interrupted")
        self.result = result


Progress = Callable[..., None]  # progress(event, **details); never called inside a timed region


def _no_progress(event: str, **details) -> None:
    pass


# ---- memory estimate ----

def estimate_memory(analysis, params: int, batch_size: int, request: BenchRequest) -> int:
    """Bytes a forward at ``batch_size`` needs: fp32 weights (plus autocast's low-precision copies), the
    input, and the largest set of activations alive at once (counted on the meta device at batch 1 and
    scaled: every activation is linear in N) times a safety factor."""
    act_bytes = DTYPE_BYTES[request.dtype]
    weights = params * 4 + (params * act_bytes if request.autocast else 0)
    activations = analysis.peak_activation_bytes(act_bytes) * batch_size
    inputs = analysis.input_elements * 4 * batch_size
    workspace = CUDA_WORKSPACE_BYTES if request.device_type == "cuda" else 0
    return int(weights + MEMORY_SAFETY * (activations + inputs) + workspace)


def memory_plan(analysis, params: int, request: BenchRequest) -> tuple[MemoryEstimate, ...]:
    available, source = available_memory(request.device)
    return tuple(MemoryEstimate(n, estimate_memory(analysis, params, n, request), available, source)
                 for n in request.batch_sizes)


# ---- environment ----

def _flag(read: Callable[[], object]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except Exception:  # an API that moved between torch versions: record nothing rather than fail
            return None


def capture_environment(request: BenchRequest) -> dict:
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device_type": request.device_type,
        "device": request.device,
        "device_name": cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_capability": _flag(torch.backends.cpu.get_cpu_capability),
        "logical_cpus": os.cpu_count(),
        "threads": request.threads,
        "interop_threads": _flag(torch.get_num_interop_threads),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads": os.environ.get("MKL_NUM_THREADS"),
        "load_average_1m": load_average(),
        "cuda": torch.version.cuda,
        "cudnn": _flag(torch.backends.cudnn.version),
        "mkldnn": _flag(torch.backends.mkldnn.is_available),
        "flags": {
            "dtype": request.dtype,
            "autocast": request.autocast,
            "channels_last": request.channels_last,
            "compile": request.compile,
            "inference_mode": True,
            "eval": True,
            "cudnn_benchmark": request.device_type == "cuda",
            "cudnn_allow_tf32": _flag(lambda: torch.backends.cudnn.allow_tf32),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "warmup_s": request.warmup_s,
            "min_time_s": request.min_time_s,
        },
    }
    if request.device_type == "cuda":
        properties = torch.cuda.get_device_properties(torch.device(request.device))
        env.update({
            "device_name": properties.name,
            "gpu_capability": f"{properties.major}.{properties.minor}",
            "gpu_memory_bytes": int(properties.total_memory),
            "gpu_multiprocessors": int(properties.multi_processor_count),
        })
    return env


# ---- timing primitives ----

def _sync(device_type: str) -> None:
    if device_type == "cuda":
        torch.cuda.synchronize()


def _torch_dtype(name: str):
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


@contextlib.contextmanager
def _threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _cuda_flags(request: BenchRequest):
    if request.device_type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # autotunes convolutions in the warm-up, once per input shape
    try:
        with torch.cuda.device(torch.device(request.device)):
            yield
    finally:
        torch.backends.cudnn.benchmark = before


def measured_gemm_peak(device: str, dtype: str, threads: int, *, size: Optional[int] = None,
                       min_time_s: float = 0.3, min_samples: int = 5) -> Peak:
    """The best rate of a large square matmul on this device at ``dtype``, measured now.

    CPU: ``size``³ (default 2048³) with ``threads`` intra-op threads, the same as the model runs with.
    CUDA: 8192³, one CUDA-event pair per matmul. float32 on CUDA runs with TF32 when cuDNN's convolutions
    do (``torch.backends.cudnn.allow_tf32``, True by default), so model and roofline use the same math.
    """
    device_type = device.split(":")[0]
    torch_dtype = _torch_dtype(dtype)
    if size is None:
        size = CUDA_GEMM_SIZE if device_type == "cuda" else _cpu_gemm_size(torch_dtype, threads)
    precision = torch.get_float32_matmul_precision()
    tf32 = device_type == "cuda" and dtype == "float32" and bool(_flag(lambda: torch.backends.cudnn.allow_tf32))
    rates = []
    try:
        if tf32:
            torch.set_float32_matmul_precision("high")
        generator = torch.Generator(device).manual_seed(0)
        a = torch.randn(size, size, device=device, dtype=torch_dtype, generator=generator)
        b = torch.randn(size, size, device=device, dtype=torch_dtype, generator=generator)
        with _threads(threads), torch.inference_mode():
            for _ in range(2):  # warm-up: library initialisation, kernel selection
                torch.mm(a, b)
            _sync(device_type)
            started = time.perf_counter()
            while len(rates) < min_samples or time.perf_counter() - started < min_time_s:
                if device_type == "cuda":
                    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    begin.record()
                    torch.mm(a, b)
                    end.record()
                    end.synchronize()
                    seconds = begin.elapsed_time(end) / 1e3
                else:
                    t0 = time.perf_counter()
                    torch.mm(a, b)
                    seconds = time.perf_counter() - t0
                rates.append(2.0 * size**3 / seconds / 1e9)
                if len(rates) >= 200:
                    break
        del a, b
    finally:
        torch.set_float32_matmul_precision(precision)
    ordered = sorted(rates)
    if device_type == "cuda":
        method = (f"{dtype} matmul {size}³ on {device}, CUDA events" +
                  (" (TF32 tensor cores, as cuDNN convolutions use for float32)" if tf32 else ""))
    else:
        method = f"{dtype} matmul {size}³ on the CPU with {threads} thread{'s' if threads != 1 else ''}"
    return Peak(gflops_per_s=ordered[-1], median_gflops_per_s=percentile(ordered, 0.5), size=size, dtype=dtype,
                n=len(ordered), method=method + f", best of {len(ordered)}, measured in this run")


def _cpu_gemm_size(dtype, threads: int) -> int:
    """The CPU roofline's matrix size: 2048, or smaller where one product already takes 50 ms (a dtype
    without native kernels, e.g. bfloat16 on a CPU without AVX512-BF16, runs at a few GFLOP/s)."""
    size = 256
    with _threads(threads), torch.inference_mode():
        while size < CPU_GEMM_SIZE:
            a = torch.ones(size, size, dtype=dtype)
            torch.mm(a, a)
            t0 = time.perf_counter()
            torch.mm(a, a)
            if time.perf_counter() - t0 >= 0.05:
                break
            size *= 2
    return size


# ---- one batch size ----

def _is_oom(error: BaseException) -> bool:
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "not enough memory" in text or "can't allocate memory" in text
        or isinstance(error, MemoryError))


def make_input(batch_size: int, sample_shape: tuple[int, ...], request: BenchRequest):
    generator = torch.Generator(request.device).manual_seed(0)
    x = torch.randn((batch_size, *sample_shape), device=request.device, generator=generator)
    return x.contiguous(memory_format=torch.channels_last) if request.channels_last else x


def _forward(model, x, request: BenchRequest):
    if not request.autocast:
        return lambda: model(x)
    dtype = _torch_dtype(request.dtype)

    def forward():
        with torch.autocast(request.device_type, dtype=dtype):
            return model(x)
    return forward


@dataclass
class _Samples:
    """What the timing loop has gathered so far (kept when Ctrl-C interrupts it)."""

    host_ms: list = field(default_factory=list)
    gpu_ms: list = field(default_factory=list)
    enqueue_ms: list = field(default_factory=list)
    waits: list = field(default_factory=list)  # per sample: run-queue wait / sample wall time
    first_call_ms: Optional[float] = None
    compile_s: Optional[float] = None
    warmup_s: Optional[float] = None
    warmup_iters: int = 0
    measure_s: Optional[float] = None
    other_cpu: Optional[float] = None


def _timing_loop(forward, request: BenchRequest, samples: _Samples, progress: Progress, batch_size: int) -> None:
    cuda = request.device_type == "cuda"
    # first call: oneDNN primitive creation, cuDNN autotuning, torch.compile
    t0 = time.perf_counter()
    out = forward()
    _sync(request.device_type)
    first = time.perf_counter() - t0
    del out
    samples.first_call_ms = first * 1e3
    if request.compile:
        samples.compile_s = first
    progress("warmup", batch_size=batch_size, seconds=request.warmup_s)
    started = time.perf_counter()
    while samples.warmup_iters < MIN_WARMUP_ITERS or time.perf_counter() - started < request.warmup_s:
        out = forward()
        _sync(request.device_type)
        del out
        samples.warmup_iters += 1
    samples.warmup_s = time.perf_counter() - started
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
            out = forward()
            t_enqueued = time.perf_counter_ns()
            end.record()
            torch.cuda.synchronize()
            t1 = time.perf_counter_ns()
        else:
            t0 = time.perf_counter_ns()
            out = forward()
            t1 = time.perf_counter_ns()
        # ---- outside the timed region from here ----
        wait_after = run_queue_wait_ns()
        del out
        samples.host_ms.append((t1 - t0) / 1e6)
        if cuda:
            samples.gpu_ms.append(begin.elapsed_time(end))
            samples.enqueue_ms.append((t_enqueued - t0) / 1e6)
        if wait_before is not None and wait_after is not None:
            samples.waits.append((wait_after - wait_before) / max(t1 - t0, 1))
        if (t1 - t0) / 1e9 > SLOW_ITERATION_S:
            need = MIN_SAMPLES_SLOW
        elapsed = time.perf_counter() - started
        progress("sample", batch_size=batch_size, elapsed=elapsed, seconds=request.min_time_s,
                 n=len(samples.host_ms))
        if elapsed >= request.min_time_s and len(samples.host_ms) >= need:
            break
    samples.measure_s = time.perf_counter() - started
    samples.other_cpu = share.other_fraction()


def _result_from(samples: _Samples, batch_size: int, status: str, common: dict, message: str = "") -> BatchResult:
    waits = samples.waits
    host_total = sum(samples.host_ms)
    rq = (sum(w * s for w, s in zip(waits, samples.host_ms)) / host_total) if waits and host_total else None
    return BatchResult(
        batch_size=batch_size, status=status, message=message,
        host=sample_stats(samples.host_ms), gpu=sample_stats(samples.gpu_ms),
        enqueue_median_ms=sample_stats(samples.enqueue_ms).median_ms if samples.enqueue_ms else None,
        samples_ms=tuple(samples.host_ms), gpu_samples_ms=tuple(samples.gpu_ms),
        first_call_ms=samples.first_call_ms, compile_s=samples.compile_s, warmup_s=samples.warmup_s,
        warmup_iters=samples.warmup_iters, measure_s=samples.measure_s, rq_wait_frac=rq,
        contended_samples=sum(1 for w in waits if w > RQ_WAIT_CONTENDED), other_cpu_frac=samples.other_cpu,
        **common,
    )


def _free(device_type: str) -> None:
    gc.collect()
    if device_type == "cuda":
        torch.cuda.empty_cache()


def measure_batch(model, request: BenchRequest, sample_shape, batch_size: int, common: dict,
                  progress: Progress = _no_progress) -> BatchResult:
    """Measure one batch size; a CUDA (or CPU) out-of-memory becomes this batch's result, not an exception."""
    samples = _Samples()
    x = None
    try:
        x = make_input(batch_size, sample_shape, request)
        runner = model
        if request.compile:
            torch._dynamo.reset()  # each batch size pays (and reports) its own compile
            runner = torch.compile(model, dynamic=False)
        with torch.inference_mode():
            _timing_loop(_forward(runner, x, request), request, samples, progress, batch_size)
        return _result_from(samples, batch_size, "ok", common)
    except KeyboardInterrupt:
        raise _Interrupted(_result_from(samples, batch_size, "interrupted", common,
                                        "interrupted by Ctrl-C; statistics cover the samples taken so far")) from None
    except Exception as error:  # noqa: BLE001 - one batch's failure is reported and the sweep goes on
        line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if _is_oom(error):
            return _result_from(_Samples(), batch_size, "oom", common, f"out of memory: {line[:300]}")
        return _result_from(_Samples(), batch_size, "error", common, f"{type(error).__name__}: {line[:300]}")
    finally:
        del x
        _free(request.device_type)


# ---- the whole run ----

def run_bench(request: BenchRequest, *, progress: Progress = _no_progress, analysis=None) -> BenchRun:
    """Measure every batch size of ``request``; Ctrl-C returns what was measured so far (interrupted=True).

    Raises RuntimeFailure when no batch size can fit in memory (before allocating anything).
    """
    from resnet_cli.report import totals
    from resnet_cli.target import analyze_target, build_real

    target = request.target
    if analysis is None:  # counted once at batch 1; FLOPs and activations are linear in N
        _meta, analysis = analyze_target(dataclasses.replace(target, input_shape=(1, *target.input_shape[1:])))
    counted = totals(analysis)
    params = analysis.params
    sample_shape = tuple(target.input_shape[1:])
    plan = memory_plan(analysis, params, request)
    if not any(estimate.fits for estimate in plan):
        worst = plan[0]
        raise RuntimeFailure(
            f"batch size{'s' if len(plan) > 1 else ''} {','.join(str(e.batch_size) for e in plan)} cannot fit: "
            f"batch {worst.batch_size} needs about {_gib(worst.needed_bytes)} at {request.dtype} but "
            f"{worst.source} is {_gib(worst.available_bytes)}; use a smaller --batch-size or --input")
    results: list[BatchResult] = []
    interrupted = False
    env: dict = {}
    peak = None
    try:
        with _threads(request.threads), _cuda_flags(request):
            env = capture_environment(request)
            progress("peak", device=request.device)
            peak = measured_gemm_peak(request.device, request.dtype, request.threads)
            model = build_real(target, request.device).eval()
            if request.channels_last:
                model = model.to(memory_format=torch.channels_last)
            for estimate in plan:
                batch = estimate.batch_size
                common = {"flops_per_batch": counted.flops_2x * batch, "all_flops_per_batch": counted.all_flops * batch,
                          "estimated_bytes": estimate.needed_bytes, "peak_gflops_per_s": peak.gflops_per_s}
                progress("batch", batch_size=batch)
                if not estimate.fits:
                    results.append(BatchResult(
                        batch, "refused", f"not run: needs about {_gib(estimate.needed_bytes)} but {estimate.source} "
                        f"is {_gib(estimate.available_bytes)}", **common))
                    continue
                results.append(measure_batch(model, request, sample_shape, batch, common, progress))
            del model
    except _Interrupted as stop:
        interrupted = True
        if stop.result.host is not None:
            results.append(stop.result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _free(request.device_type)
    run = BenchRun(model=target.name, description=target.description, sample_shape=sample_shape, request=request,
                   env=env, peak=peak, results=tuple(results), flops_per_image=counted.flops_2x,
                   all_flops_per_image=counted.all_flops, params=params, interrupted=interrupted)
    return _with_warnings(run)


def _gib(value: Optional[int]) -> str:
    return "unknown" if value is None else f"{value / 2**30:.2f} GiB"


def _with_warnings(run: BenchRun) -> BenchRun:
    notes = []
    for r in run.results:
        tag = f"batch {r.batch_size}"
        if r.status in ("oom", "error", "refused"):
            notes.append(f"{tag}: {r.message}")
            continue
        if r.host is None:
            continue
        if r.host.rel_iqr > HIGH_SPREAD:
            notes.append(f"{tag}: high spread, IQR is {100 * r.host.rel_iqr:.0f}% of the median "
                         f"(n={r.host.n}); treat the figures as approximate and re-run on a quiet machine")
        if (r.rq_wait_frac or 0) > RQ_WAIT_CONTENDED:
            notes.append(f"{tag}: other processes competed for the CPU: our threads waited for a core "
                         f"{100 * r.rq_wait_frac:.0f}% of the measured time ({r.contended_samples} of {r.host.n} "
                         "samples delayed)")
        elif (r.other_cpu_frac or 0) > OTHER_CPU_CONTENDED:
            notes.append(f"{tag}: other processes used {100 * r.other_cpu_frac:.0f}% of the machine's CPU time "
                         "while it was measured; figures may be slow")
        if r.host_bound:
            notes.append(f"{tag}: host-bound: launching kernels took {r.enqueue_median_ms:.2f} ms of the "
                         f"{r.gpu.median_ms:.2f} ms the GPU spent, so the GPU waited for Python; try --compile "
                         "or a larger batch")
        if r.pct_of_peak is not None and r.pct_of_peak > 100:
            notes.append(f"{tag}: {r.pct_of_peak:.0f}% of the measured GEMM peak: at {run.request.dtype} this "
                         "device's matmul is slower than its convolutions (or the peak was measured under "
                         "contention), so % of peak is not meaningful here")
    if run.interrupted:
        notes.append("interrupted: showing what was measured before Ctrl-C")
    return BenchRun(**{**run.__dict__, "warnings": tuple(notes)})
