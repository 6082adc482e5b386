"""The memory ceiling: STREAM's copy and triad kernels, timed on the device in the same run as the model.

STREAM (McCalpin) times ``a = b`` (copy: one read, one write per element) and ``a = b + s·c`` (triad: two reads,
one write) on arrays far larger than the caches, and counts the bytes the kernel must move — the same
compulsory-traffic convention profile counts the model's operators in. Each kernel is timed as the best of several
samples (``perf_counter`` on the CPU, a CUDA event pair on CUDA); the ceiling is the best of the two.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

CPU_ELEMENTS = 16 * 2**20  # float32: 64 MiB per array, well beyond a CPU's last-level cache
CUDA_ELEMENTS = 256 * 2**20  # 1 GiB per array, beyond any GPU's L2
MIN_SAMPLES, MIN_TIME_S, MAX_SAMPLES = 5, 0.2, 100


@dataclass(frozen=True)
class Bandwidth:
    kernel: str
    bytes_per_s: float  # best sample
    n: int


def _timed(run, cuda: bool) -> float:
    if cuda:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        run()
        end.record()
        end.synchronize()
        return begin.elapsed_time(end) / 1e3
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def measure_bandwidth(device: str, elements: int | None = None, min_time_s: float = MIN_TIME_S) -> list[Bandwidth]:
    """Copy and triad rates (bytes/s) on ``device``, float32 arrays of ``elements`` each."""
    cuda = device.startswith("cuda")
    count = elements or (CUDA_ELEMENTS if cuda else CPU_ELEMENTS)
    size = count * 4
    a = torch.empty(count, device=device)
    b = torch.ones(count, device=device)
    c = torch.full((count,), 2.0, device=device)
    kernels = (
        ("copy a = b", 2 * size, lambda: a.copy_(b)),
        ("triad a = b + s·c", 3 * size, lambda: torch.add(b, c, alpha=3.0, out=a)),
    )
    rates = []
    with torch.inference_mode():
        for name, moved, run in kernels:
            run()  # first touch of the pages, kernel selection: untimed
            best, taken, started = 0.0, 0, time.perf_counter()
            while (taken < MIN_SAMPLES or time.perf_counter() - started < min_time_s) and taken < MAX_SAMPLES:
                best = max(best, moved / max(_timed(run, cuda), 1e-9))
                taken += 1
            rates.append(Bandwidth(f"{name}, {_mib(size)} per array", best, taken))
    return rates


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"
