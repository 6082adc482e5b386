"""Facts about the machine a measurement ran on: memory, CPU time of others, run-queue wait, the environment,
and the peak memory of a step. Linux ``/proc`` where it is the only source; ``None`` where a fact cannot be
known (another OS), never a guess.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import warnings
from collections.abc import Callable
from typing import Optional

import torch

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(requested: str) -> str:
    """'cpu' or 'cuda:N'. CUDA asked for but absent is a runtime failure (exit 1), not a usage error."""
    from resnet_cli.base.errors import RuntimeFailure

    if requested == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda:0" if available else "cpu"
    if not available:
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU was found"
        raise RuntimeFailure(
            f"--device {requested}: CUDA is not available ({why}; torch {torch.__version__}); use --device cpu"
        )
    index = int(requested.split(":")[1]) if ":" in requested else 0
    count = torch.cuda.device_count()
    if index >= count:
        names = "cuda:0" if count == 1 else f"cuda:0 … cuda:{count - 1}"
        raise RuntimeFailure(
            f"--device {requested}: this machine has {count} CUDA device{'s' if count != 1 else ''} ({names})"
        )
    return f"cuda:{index}"


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _status_kib(field: str) -> Optional[int]:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM)."""
    text = _read("/proc/self/status")
    for line in (text or "").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def available_memory(device: str) -> tuple[Optional[int], str]:
    """(bytes free for a new allocation, where that figure comes from); None when it cannot be known."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), "free CUDA memory (torch.cuda.mem_get_info)"
    text = _read("/proc/meminfo")
    for line in (text or "").splitlines():
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
        parts = (_read(f"/proc/self/task/{task}/schedstat") or "").split()
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


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


class CpuShare:
    """How much of the machine other processes used from construction to ``other_fraction()``."""

    def __init__(self) -> None:
        self.start_jiffies = _cpu_jiffies()
        self.start_own = _own_cpu_s()

    def other_fraction(self) -> Optional[float]:
        end = _cpu_jiffies()
        if self.start_jiffies is None or end is None:
            return None
        busy = end[0] - self.start_jiffies[0]
        total = end[1] - self.start_jiffies[1]
        if total <= 0:
            return None
        own = (_own_cpu_s() - self.start_own) * os.sysconf("SC_CLK_TCK")
        return max(0.0, min(1.0, (busy - own) / total))


def load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except OSError:  # not available on this platform
        return None


def cpu_model() -> str:
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _quietly(read: Callable[[], object]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read()
        except (AttributeError, RuntimeError, TypeError):  # an API that moved between torch versions, or a
            # backend this build lacks: record nothing rather than fail
            return None


def cudnn_allow_tf32() -> bool:
    return bool(_quietly(lambda: torch.backends.cudnn.allow_tf32))


def capture_environment(device: str, threads: int, flags: dict) -> dict:
    """What a reader needs to reproduce or compare a figure (the facts of `python -m torch.utils.collect_env`
    that matter for speed), plus the run's own ``flags``."""
    device_type = device.split(":")[0]
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device_type": device_type,
        "device": device,
        "device_name": cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_capability": _quietly(torch.backends.cpu.get_cpu_capability),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "interop_threads": _quietly(torch.get_num_interop_threads),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads": os.environ.get("MKL_NUM_THREADS"),
        "load_average_1m": load_average(),
        "pid": os.getpid(),
        "cuda": torch.version.cuda,
        "cudnn": _quietly(torch.backends.cudnn.version),
        "mkldnn": _quietly(torch.backends.mkldnn.is_available),
        "flags": {
            **flags,
            "cudnn_benchmark": device_type == "cuda",
            "cudnn_allow_tf32": cudnn_allow_tf32(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        },
    }
    if device_type == "cuda":
        properties = torch.cuda.get_device_properties(torch.device(device))
        env.update(
            {
                "device_name": properties.name,
                "gpu_capability": f"{properties.major}.{properties.minor}",
                "gpu_memory_bytes": int(properties.total_memory),
                "gpu_multiprocessors": int(properties.multi_processor_count),
            }
        )
    return env


# ---- the process's state while measuring ----


def sync(device_type: str) -> None:
    if device_type == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def threads(count: int):
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def cuda_flags(device: str):
    if not device.startswith("cuda"):
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # autotunes convolutions in the warm-up, once per input shape
    try:
        with torch.cuda.device(torch.device(device)):
            yield
    finally:
        torch.backends.cudnn.benchmark = before


def free(device_type: str) -> None:
    import gc

    gc.collect(1)  # what one configuration dropped is young; a full collection of torch's objects takes 0.3 s
    if device_type == "cuda":
        torch.cuda.empty_cache()


def tensor_bytes(*tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _release_free_heap() -> None:
    """Hand memory that malloc keeps after free() back to the system (glibc's malloc_trim), so that the next
    configuration's allocations fault fresh pages and show in the resident set instead of silently reusing
    the last one's. Elsewhere (another C library) nothing happens and the CPU figure may read low."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """How much memory a configuration's steady-state steps took above what was allocated before its first
    call: the allocator's peak on CUDA (``torch.cuda.max_memory_allocated``), the process's peak resident
    set on the CPU (VmHWM, reset through /proc/self/clear_refs; ``getrusage`` where that is refused). The
    peak is reset after the first call, so compilation, cuDNN autotuning workspaces and one-off
    initialisation are not counted; what the first call leaves behind (optimizer state) is."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        self.baseline: Optional[int] = None
        self.mode = ""
        self.maxrss_before = 0

    @property
    def source(self) -> str:
        if self.cuda:
            return "torch.cuda.max_memory_allocated"
        return {
            "hwm": "process peak RSS (VmHWM, reset via /proc/self/clear_refs)",
            "rusage": "process peak RSS (getrusage ru_maxrss)",
        }.get(self.mode, "unavailable")

    def before_first_call(self) -> None:
        if self.cuda:
            self.baseline = int(torch.cuda.memory_allocated(torch.device(self.device)))
            return
        _release_free_heap()
        rss = _status_kib("VmRSS")
        self.baseline = None if rss is None else rss * 1024

    def after_first_call(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
            return
        _release_free_heap()  # what the first call freed must not sit resident, hiding the steady-state peak
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")  # Linux >= 4.0: resets VmHWM to the current RSS
            self.mode = "hwm"
        except OSError:
            self.mode = "rusage"
            self.maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def growth(self) -> Optional[int]:
        """Peak bytes above the baseline (None when it cannot be known)."""
        if self.baseline is None:
            return None
        if self.cuda:
            return max(0, int(torch.cuda.max_memory_allocated(torch.device(self.device))) - self.baseline)
        if self.mode == "hwm":
            peak = _status_kib("VmHWM")
            return None if peak is None else max(0, peak * 1024 - self.baseline)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if maxrss <= self.maxrss_before:  # the process had been bigger before: this peak is hidden
            self.mode = ""
            return None
        return max(0, maxrss * 1024 - self.baseline)
