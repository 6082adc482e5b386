"""The roofline a figure is set against: the best rate this device reaches, right now, on the kernels the model
runs — a large matmul and the model's own costliest convolutions at the configuration's batch size.

A GEMM alone is no upper bound on a CPU: oneDNN's direct convolutions can beat ``torch.mm`` (a quiet 2-core
VM showed 123 % of the GEMM peak), and a peak measured while another process ran is too low. So each kernel
is timed as the best of several samples over a minimum time, and sampled again before and after every
configuration's timing loop, so that contention hits the peak and the model alike. A model can only beat
this roofline if its kernels ran faster inside the model than alone, i.e. the roofline was measured under
contention: such a figure is reported as unknown, never above 100 %.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

from resnet_cli.analysis.ops import CONV_OPS, FORWARD
from resnet_cli.benchmark.system import TORCH_DTYPES, cudnn_allow_tf32, sync, threads

CPU_GEMM_MAX = 2048
CPU_GEMM_TARGET_S = 0.05  # the CPU matmul grows until one product takes this long (or reaches CPU_GEMM_MAX)
CUDA_GEMM_SIZE = 8192
CONV_KERNELS = 3  # the model's costliest convolution shapes that are timed alone
FIRST_SAMPLES, FIRST_TIME_S = 5, 0.3  # the GEMM, once at the start of a run
ROUND_SAMPLES, ROUND_TIME_S = 3, 0.05  # each kernel: a configuration's before its first measurement
FULL_BUDGET_S = 3.0  # at --min-time 3 s (the default) and above the times above hold; below, they shrink with it
MAX_SAMPLES = 200


@dataclass(frozen=True)
class KernelRate:
    kernel: str  # what was timed, e.g. "matmul 2048³" or "conv 8×64×56×56 ⊛ 64×64×3×3 stride 1"
    flops: int  # per call, 2 per multiply-accumulate
    gflops_per_s: float  # best sample
    median_gflops_per_s: float
    n: int


@dataclass(frozen=True)
class Roofline:
    """The best rate among the kernels timed for one configuration."""

    gflops_per_s: float
    kernel: str
    kernels: tuple[KernelRate, ...]
    method: str

    def percent(self, rate: Optional[float]) -> Optional[float]:
        """``rate`` as a percentage of the roofline; None above it (the roofline was measured under
        contention, so it is no bound: the figure is unknown rather than above 100 %)."""
        if rate is None or self.gflops_per_s <= 0 or rate > self.gflops_per_s:
            return None
        return 100.0 * rate / self.gflops_per_s


class KernelBench:
    """One kernel, timed alone; its tensors live only while it is sampled."""

    def __init__(
        self,
        kernel: str,
        flops: int,
        make: Callable[[], Callable[[], object]],
        device: str,
        initialised: bool = False,
    ) -> None:
        """``initialised``: the library has already run this kind of kernel at this dtype and thread count (the
        CPU matmul's size search), so the first call needs no untimed run before it."""
        self.kernel, self.flops, self.make, self.device = kernel, flops, make, device
        self.initialised = initialised
        self.rates: list[float] = []

    def sample(self, min_samples: int, min_time_s: float) -> None:
        cuda = self.device.startswith("cuda")
        run = self.make()
        if not self.initialised:  # library initialisation and kernel selection (oneDNN primitives), untimed
            run()
            sync("cuda" if cuda else "cpu")
            self.initialised = True
        taken, started = 0, time.perf_counter()
        while (taken < min_samples or time.perf_counter() - started < min_time_s) and taken < MAX_SAMPLES:
            if cuda:
                begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                begin.record()
                run()
                end.record()
                end.synchronize()
                seconds = begin.elapsed_time(end) / 1e3
            else:
                t0 = time.perf_counter()
                run()
                seconds = time.perf_counter() - t0
            self.rates.append(self.flops / max(seconds, 1e-9) / 1e9)
            taken += 1
        del run

    def rate(self) -> Optional[KernelRate]:
        if not self.rates:
            return None
        return KernelRate(self.kernel, self.flops, max(self.rates), statistics.median(self.rates), len(self.rates))


def _randn(shape, device: str, dtype, channels_last: bool = False):
    generator = torch.Generator(device).manual_seed(0)
    x = torch.randn(shape, device=device, dtype=dtype, generator=generator)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def _cpu_gemm_size(dtype, count: int, scale: float = 1.0) -> int:
    """The CPU matmul's size: grown until one product takes CPU_GEMM_TARGET_S × scale (a dtype without native
    kernels, e.g. bfloat16 on a CPU without AVX512-BF16, runs at a few GFLOP/s) or reaches CPU_GEMM_MAX."""
    size = 256
    with threads(count), torch.inference_mode():
        while size < CPU_GEMM_MAX:
            a = torch.ones(size, size, dtype=dtype)
            torch.mm(a, a)
            t0 = time.perf_counter()
            torch.mm(a, a)
            if time.perf_counter() - t0 >= CPU_GEMM_TARGET_S * scale:
                break
            size *= 2
    return size


def conv_shapes(analysis, limit: int = CONV_KERNELS) -> list[tuple[tuple, int]]:
    """The model's costliest convolution shapes, from the analysis (batch 1): [((input C,H,W…, weight shape,
    stride, padding, dilation, transposed, output padding, groups), multiply-accumulates per image)]."""
    totals: dict[tuple, list[int]] = {}
    for op in analysis.ops:
        if op.op not in CONV_OPS or op.phase != FORWARD or not op.macs or not op.input_shapes:
            continue
        weight = dict(op.param_shapes).get("weight")
        if weight is None:
            continue
        key = (
            tuple(op.input_shapes[0][1:]),
            tuple(weight),
            tuple(op.attr("stride", ())),
            tuple(op.attr("padding", ())),
            tuple(op.attr("dilation", ())),
            bool(op.attr("transposed", False)),
            tuple(op.attr("output_padding", ())),
            int(op.attr("groups", 1)),
        )
        entry = totals.setdefault(key, [0, op.macs])
        entry[0] += op.macs
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])
    return [(key, per_call) for key, (_total, per_call) in ranked[:limit]]


class RooflineSampler:
    """Times the GEMM and each configuration's convolutions in the run, keeping every sample."""

    def __init__(
        self,
        device: str,
        dtype: str,
        count: int,
        channels_last: bool = False,
        min_time_s: float = FULL_BUDGET_S,
        cpu_gemm_size: Optional[int] = None,
    ) -> None:
        """``cpu_gemm_size``: a fixed size for the CPU matmul (``profile``), instead of growing it until one product
        takes long enough to time."""
        self.device, self.dtype, self.count, self.channels_last = device, dtype, count, channels_last
        self.cpu_gemm_size = cpu_gemm_size
        # the roofline costs time in proportion to the measurement asked for (a quick run gets a smaller matmul)
        self.scale = min(1.0, min_time_s / FULL_BUDGET_S)
        self.cuda = device.startswith("cuda")
        self.torch_dtype = TORCH_DTYPES[dtype]
        self.tf32 = self.cuda and dtype == "float32" and cudnn_allow_tf32()
        self.gemm: Optional[KernelBench] = None
        self.convs: dict[tuple, KernelBench] = {}

    def _gemm(self) -> KernelBench:
        if self.gemm is None:
            searched = not self.cuda and not self.cpu_gemm_size
            size = (
                CUDA_GEMM_SIZE
                if self.cuda
                else self.cpu_gemm_size or _cpu_gemm_size(self.torch_dtype, self.count, self.scale)
            )

            def make():
                a = _randn((size, size), self.device, self.torch_dtype)
                b = _randn((size, size), self.device, self.torch_dtype)
                return lambda: torch.mm(a, b)

            # the size search has just run torch.mm at this dtype and thread count: a quiet 2-core VM's first
            # 2048³ product after it was as fast as the next four (170, 166, 150, 128, 127 GFLOP/s)
            self.gemm = KernelBench(f"{self.dtype} matmul {size}³", 2 * size**3, make, self.device, searched)
        return self.gemm

    def conv_kernels(self, analysis, batch: int) -> list[KernelBench]:
        kernels = []
        for key, macs in conv_shapes(analysis):
            full = (batch, *key)
            if full not in self.convs:
                self.convs[full] = self._conv(full, macs * batch)
            kernels.append(self.convs[full])
        return kernels

    def _conv(self, full: tuple, macs: int) -> KernelBench:
        batch, sample, weight, stride, padding, dilation, transposed, output_padding, groups = full

        def make():
            x = _randn((batch, *sample), self.device, self.torch_dtype, self.channels_last)
            w = _randn(weight, self.device, self.torch_dtype, self.channels_last)
            return lambda: torch.convolution(x, w, None, stride, padding, dilation, transposed, output_padding, groups)

        shape = "×".join(str(s) for s in (batch, *sample))
        name = (
            f"{self.dtype} conv {shape} ⊛ {'×'.join(str(s) for s in weight)} stride "
            f"{'×'.join(str(s) for s in stride)}{f' groups {groups}' if groups != 1 else ''}"
        )
        return KernelBench(name, 2 * macs, make, self.device)

    def unsampled(self, kernels: list[KernelBench]) -> list[KernelBench]:
        """The kernels not timed yet in this run (a roofline needs each kernel once; more samples matter only
        where the model beat the roofline, ``measure``'s rule)."""
        return [kernel for kernel in kernels if not kernel.rates]

    def sample(self, kernels: list[KernelBench] = (), first: bool = False, gemm: bool = False) -> None:
        precision = torch.get_float32_matmul_precision()
        try:
            if self.tf32:  # cuDNN's float32 convolutions use TF32 by default: so does the roofline's matmul
                torch.set_float32_matmul_precision("high")
            with threads(self.count), torch.inference_mode():
                if first:
                    self._gemm().sample(FIRST_SAMPLES, FIRST_TIME_S * self.scale)
                elif gemm:
                    self._gemm().sample(1, 0.0)
                for kernel in kernels:
                    kernel.sample(ROUND_SAMPLES, ROUND_TIME_S * self.scale)
        finally:
            torch.set_float32_matmul_precision(precision)

    def gemm_rate(self) -> Optional[KernelRate]:
        return self.gemm.rate() if self.gemm else None

    def roofline(self, kernels: list[KernelBench] = ()) -> Optional[Roofline]:
        rates = [r for r in [self.gemm_rate(), *(k.rate() for k in kernels)] if r is not None]
        if not rates:
            return None
        best = max(rates, key=lambda r: r.gflops_per_s)
        where = "CUDA events" if self.cuda else f"{self.count} thread{'s' if self.count != 1 else ''}"
        tf32 = ", matmul with TF32 as cuDNN's float32 convolutions" if self.tf32 else ""
        method = (
            f"best sample of each kernel alone on {self.device} ({where}{tf32}), sampled before and after "
            f"the model's runs: {', '.join(f'{r.kernel} {r.gflops_per_s:,.1f} GFLOP/s (n={r.n})' for r in rates)}"
        )
        return Roofline(best.gflops_per_s, best.kernel, tuple(rates), method)
