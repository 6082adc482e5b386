"""What a bench run is asked to do and what it returns: frozen dataclasses of plain numbers (no torch).

A *configuration* is one model at one batch size; a run measures every configuration of its models × batch
sizes, ``repeats`` times. Derived figures (img/s, GFLOP/s, % of the roofline, memory ratio, the spread
between repeats) are properties, computed from the stored numbers and never stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from resnet_cli.benchmark.stats import Stats, repeat_spread

HIGH_SPREAD = 0.10  # IQR / median above this: torch.utils.benchmark's "system fluctuation" threshold
RQ_WAIT_CONTENDED = 0.02  # our threads waited for a CPU more than 2 % of the measured time
OTHER_CPU_CONTENDED = 0.10  # other processes used more than 10 % of all CPUs during the measurement
HOST_BOUND = 0.8  # enqueue time >= 80 % of GPU time: the GPU waits for the Python thread to launch kernels


@dataclass(frozen=True)
class ModelRef:
    """MODEL as the user gave it, which a fresh process (``--isolate``, ``--devices``) resolves again."""

    text: Optional[str]
    overrides: tuple[tuple[str, Any], ...] = ()  # typed architecture overrides (spec field, value)
    input_shape: Optional[tuple[int, int, int, int]] = None
    weights: Optional[str] = None


@dataclass(frozen=True)
class BenchRequest:
    targets: tuple  # resnet_cli.sources.target.Target, one per model, measured side by side
    device: str  # resolved: 'cpu' or 'cuda:N'
    batch_sizes: tuple[int, ...]
    dtype: str = "float32"
    channels_last: bool = False
    compile_mode: Optional[str] = None  # one of values.COMPILE_MODES, or None (eager)
    training: bool = False
    optimizer: str = "sgd"
    threads: int = 1
    warmup_s: float = 1.0
    min_time_s: float = 3.0
    repeats: int = 1
    isolate: bool = False
    find_max_batch: bool = False
    devices: int = 1
    refs: tuple[ModelRef, ...] = ()  # one per target; needed by --isolate and --devices

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def autocast(self) -> bool:
        return self.dtype != "float32"

    @property
    def mode(self) -> str:
        return "training" if self.training else "inference"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    sample_shape: tuple[int, ...]  # C, H, W of one image
    params: int
    trainable_params: int
    flops_per_image: int  # 2 × conv+linear multiply-accumulates of what is timed (training: forward + backward)
    all_flops_per_image: int  # every op the analysis counts (training: forward + backward)
    classes: Optional[int] = None  # an N × classes output: the training loss is cross-entropy over these
    identified_as: Optional[tuple] = None  # a checkpoint: the (registered name, flags) it is (Target.identified_as)


@dataclass(frozen=True)
class MemoryPrediction:
    """Bytes the analysis predicts one configuration needs at its peak."""

    weights: int  # parameters and buffers at float32 (+ autocast's half-precision copies)
    gradients: int  # training: one per trainable parameter, float32
    optimizer_state: int  # SGD momentum: 1 × trainable parameters; AdamW: 2 × (exp_avg, exp_avg_sq)
    activations: int  # inference: the most intermediate tensors alive at once; training: those saved for backward
    input: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state + self.activations + self.input


@dataclass(frozen=True)
class ConfigResult:
    model: str
    batch_size: int
    status: str  # ok | refused | oom | error | interrupted
    message: str = ""
    host: Optional[Stats] = None  # host wall time per step (synchronized on CUDA)
    gpu: Optional[Stats] = None  # CUDA-event time per step
    enqueue_median_ms: Optional[float] = None  # CUDA: time for the Python call to return (kernel launches)
    samples_ms: tuple[float, ...] = ()
    gpu_samples_ms: tuple[float, ...] = ()
    repeat_medians_ms: tuple[float, ...] = ()  # one per repeat that measured this configuration
    first_call_ms: Optional[float] = None
    compile_s: Optional[float] = None
    cuda_graphs: bool = False
    warmup_s: Optional[float] = None
    warmup_iters: int = 0
    measure_s: Optional[float] = None
    flops_per_batch: int = 0
    all_flops_per_batch: int = 0
    estimated_bytes: int = 0  # the safety estimate a batch is refused by before allocating
    predicted: Optional[MemoryPrediction] = None
    measured_bytes: Optional[int] = None  # peak of the steady-state steps (see bench_system.PeakMemory)
    memory_source: str = ""
    rq_wait_frac: Optional[float] = None
    contended_samples: int = 0
    other_cpu_frac: Optional[float] = None
    roofline: Any = None  # bench_peak.Roofline of this configuration
    pid: Optional[int] = None  # the process that measured it (--isolate: a fresh one per configuration)

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
    def roofline_gflops_per_s(self) -> Optional[float]:
        return self.roofline.gflops_per_s if self.roofline is not None else None

    @property
    def pct_of_peak(self) -> Optional[float]:
        return self.roofline.percent(self.gflops_per_s) if self.roofline is not None else None

    @property
    def above_peak(self) -> bool:
        rate, peak = self.gflops_per_s, self.roofline_gflops_per_s
        return rate is not None and peak is not None and rate > peak

    @property
    def memory_ratio(self) -> Optional[float]:
        if self.measured_bytes is None or self.predicted is None or not self.predicted.total:
            return None
        return self.measured_bytes / self.predicted.total

    @property
    def repeat_spread(self) -> Optional[float]:
        return repeat_spread(self.repeat_medians_ms)

    @property
    def host_bound(self) -> Optional[bool]:
        if self.gpu is None or self.enqueue_median_ms is None:
            return None
        return self.enqueue_median_ms >= HOST_BOUND * self.gpu.median_ms


@dataclass(frozen=True)
class MaxBatch:
    """``--find-max-batch`` for one model: the prediction, then the real steps that confirmed it."""

    model: str
    available_bytes: Optional[int]
    source: str
    usable_bytes: Optional[int]  # the share of available memory a batch may take
    predicted: Optional[int]  # the largest batch predicted to fit
    confirmed: Optional[int]  # the largest batch whose real step ran within usable memory
    attempts: tuple[tuple[int, str, Optional[int]], ...] = ()  # (batch, ok | oom | too big | error, measured bytes)


@dataclass(frozen=True)
class DistributedResult:
    """``--devices N``: the same training step under DDP on N processes, against one device alone."""

    world_size: int
    backend: str
    batch_per_device: int
    rank_medians_ms: tuple[float, ...]
    rank_samples: tuple[int, ...]
    single_median_ms: Optional[float]  # the same step on one device, measured in the same run

    @property
    def per_device_throughput(self) -> tuple[float, ...]:
        return tuple(self.batch_per_device / (m / 1e3) for m in self.rank_medians_ms)

    @property
    def aggregate_throughput(self) -> float:
        # the ranks step together (gradients are all-reduced every step): the slowest rank sets the pace
        return self.world_size * self.batch_per_device / (max(self.rank_medians_ms) / 1e3)

    @property
    def single_throughput(self) -> Optional[float]:
        return self.batch_per_device / (self.single_median_ms / 1e3) if self.single_median_ms else None

    @property
    def scaling_efficiency(self) -> Optional[float]:
        single = self.single_throughput
        return self.aggregate_throughput / (self.world_size * single) if single else None


@dataclass(frozen=True)
class BenchRun:
    request: BenchRequest
    models: tuple[ModelInfo, ...]
    env: dict
    gemm: Any  # bench_peak.KernelRate of the run's matmul (None if never measured)
    results: tuple[ConfigResult, ...]
    stopped_by: Optional[str] = None  # "SIGINT" (Ctrl-C) or "SIGTERM": what was measured before is kept
    max_batch: tuple[MaxBatch, ...] = ()
    distributed: tuple[DistributedResult, ...] = ()  # --devices: one per batch size
    warnings: tuple[str, ...] = field(default=())

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None
