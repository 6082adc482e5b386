"""``profile``: where the measured time goes, row by row, against the roofline — the numbers, from the analysis
and a measurement handed in as plain data (``Measured``; ``resnet_cli.profiling`` takes it).

Bytes are each operator's *compulsory* memory traffic: its input activations and its parameters and buffers read
once, its output written once, every element at the dtype's size (views and allocations move nothing). An
operator that reads a tensor twice, or a cache that spares a read, does not change this figure: it is the least
traffic the operator needs, the one a roofline sets against the memory bandwidth. E.g. ResNet-18's stem conv at
1×3×224×224 in float32 reads 602,112 + 37,632 bytes and writes 3,211,264: 3,851,008 bytes.

The roofline time of a row is max(FLOPs / peak FLOP/s, bytes / peak bytes/s): the row is compute-bound when the
first term is the larger, memory-bound otherwise; its efficiency is roofline time / measured time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from resnet_cli.analysis.ops import (
    ACTIVATION,
    BATCH_NORM,
    CONVOLUTION,
    LINEAR,
    OTHER,
    POOLING,
    RESIDUAL_ADD,
    aliases_storage,
    computing_kind,
)
from resnet_cli.analysis.records import FORWARD, Analysis, OpRecord
from resnet_cli.base.shapes import numel
from resnet_cli.report.stages import StageLayout, row_key, stage_layout

PROFILE_DEPTHS = ("stage", "block", "layer", "op")
# the operator categories profile reports, in order, and the analysis categories each gathers
CATEGORY_NAMES = {
    CONVOLUTION: "conv",
    LINEAR: "matmul",
    BATCH_NORM: "batch norm",
    ACTIVATION: "activation",
    RESIDUAL_ADD: "add",
    POOLING: "pooling",
    OTHER: "other",
}
CATEGORIES = tuple(CATEGORY_NAMES.values())
OTHER_KIND = "other"  # the op-depth kind of an operator that computes nothing the table knows (data movement)
OP_SEPARATOR = " · "
NOT_ATTRIBUTED = "(not attributed)"  # operator time outside every module: a training step's loss, AccumulateGrad
COMPUTE, MEMORY = "compute", "memory"


# ---- bytes ----


def op_bytes(op: OpRecord, dtype_bytes: int) -> int:
    """Compulsory traffic of one forward operator: inputs and parameters read once, its output written once.
    0 for a view or an allocation, and for backward operators (whose operand shapes the analysis does not keep)."""
    if op.phase != FORWARD or aliases_storage(op.op):
        return 0
    elements = sum(numel(shape) for shape in op.input_shapes)
    elements += sum(numel(shape) for _name, shape in op.param_shapes)
    elements += numel(op.output_shape) if op.output_shape else 0
    return elements * dtype_bytes


def op_kind(op: OpRecord) -> str:
    return computing_kind(op.op) or OTHER_KIND


# ---- the roofline ----


@dataclass(frozen=True)
class Peaks:
    """The two ceilings, measured on the device in the same run."""

    flops_per_s: float
    bytes_per_s: float
    flops_kernel: str  # e.g. "float32 matmul 2048³"
    bytes_kernel: str  # e.g. "triad a = b + s·c, 3 × 64 MiB"
    kernels: tuple[tuple[str, float, str], ...] = ()  # (kernel, best rate, unit) of every kernel timed

    @property
    def ridge(self) -> float:
        """The arithmetic intensity (FLOPs per byte) where the two ceilings meet."""
        return self.flops_per_s / self.bytes_per_s if self.bytes_per_s > 0 else float("inf")


def roofline_seconds(flops: int, nbytes: int, peaks: Peaks) -> tuple[float, str]:
    """(the least time the hardware allows, the bound that sets it: "compute" or "memory")."""
    compute = flops / peaks.flops_per_s if peaks.flops_per_s > 0 else 0.0
    memory = nbytes / peaks.bytes_per_s if peaks.bytes_per_s > 0 else 0.0
    return (compute, COMPUTE) if compute >= memory else (memory, MEMORY)


def intensity(flops: int, nbytes: int) -> float | None:
    return flops / nbytes if nbytes else None


# ---- what the measurement hands in ----


@dataclass(frozen=True)
class Measured:
    """One model's measurement, as plain data. An *entry* is (module, anchor, kind): the module whose call ran the
    operator ("" = the root's own forward), for root-level operators the top-level child that ran last before it,
    and the operator's computing kind (``op_kind``)."""

    iterations: tuple[dict, ...]  # per profiled iteration: entry -> seconds of operator time
    profiled_s: tuple[float, ...]  # per profiled iteration: its wall time under the profiler
    free_s: tuple[float, ...]  # the same forward (or step) timed without the profiler
    time_source: str  # what a row's time is, in words
    uncertain: frozenset = frozenset()  # entries whose attribution is a guess (e.g. no module range around them)
    interrupted: bool = False
    stopped_by: str | None = None  # "SIGINT" (Ctrl-C) or "SIGTERM" when interrupted


def _percentiles(samples) -> tuple[float | None, float | None, float | None]:
    if not samples:
        return None, None, None
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    cuts = statistics.quantiles(ordered, n=10, method="inclusive")
    return statistics.median(ordered), cuts[0], cuts[-1]


# ---- the report ----


@dataclass(frozen=True)
class ProfileRow:
    name: str
    category: str  # the category with most FLOPs in the row (else most bytes), in CATEGORIES' words
    median_s: float | None
    p10_s: float | None
    p90_s: float | None
    share: float | None  # of the sum of the rows' medians
    flops: int
    bytes: int
    intensity: float | None
    roofline_s: float
    bound: str
    efficiency: float | None  # roofline time / measured time
    achieved_flops_per_s: float | None
    uncertain: bool = False


@dataclass(frozen=True)
class CategoryShare:
    category: str
    flops: int
    bytes: int
    median_s: float
    flops_pct: float
    bytes_pct: float
    time_pct: float


@dataclass(frozen=True)
class Reconciliation:
    """The rows against the whole forward: medians over iterations."""

    rows_s: float | None  # the sum of the rows (operator time) per profiled iteration
    profiled_s: float | None  # one iteration's wall time under the profiler
    free_s: float | None  # the same, timed without the profiler
    free_p10_s: float | None
    free_p90_s: float | None
    outside_s: float | None  # profiled - rows: Python, module hooks, the profiler's own bookkeeping (CUDA: idle GPU)
    overhead_s: float | None  # profiled - free: what profiling cost
    iterations: int
    free_iterations: int


@dataclass(frozen=True)
class ModelProfile:
    model: str
    description: str
    input_shape: tuple[int, ...]
    rows: tuple[ProfileRow, ...]
    categories: tuple[CategoryShare, ...]
    flops: int
    bytes: int
    roofline_s: float
    reconciliation: Reconciliation
    time_source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProfileReport:
    models: tuple[ModelProfile, ...]
    peaks: Peaks
    device: str
    device_name: str
    dtype: str
    channels_last: bool
    compile: str | None
    training: bool
    depth: str
    batch_size: int
    threads: int
    env: dict = field(default_factory=dict)
    interrupted: bool = False
    warnings: tuple[str, ...] = ()
    stopped_by: str | None = None  # "SIGINT" or "SIGTERM": the run was stopped, what was measured is kept


def _leaves(analysis: Analysis) -> set[str]:
    return {m.name for m in analysis.modules if m.is_leaf}


def entry_row(module: str, anchor: str, kind: str, depth: str, layout: StageLayout, leaves: set[str]) -> str:
    """The row an operator's time and costs belong to at ``depth`` (op: its layer row and its kind); ``module``
    None: outside every module."""
    if module is None:
        return NOT_ATTRIBUTED
    if depth == "op":
        return row_key(module, anchor, "layer", layout, leaves) + OP_SEPARATOR + kind
    return row_key(module, anchor, depth, layout, leaves)


@dataclass
class _Costs:
    flops: int = 0
    bytes: int = 0
    by_category: dict = field(default_factory=dict)  # category name -> [flops, bytes]


def row_costs(analysis: Analysis, depth: str, dtype_bytes: int, stages=None) -> dict[str, _Costs]:
    """FLOPs (every operator the analysis counts, forward and, when it ran, backward) and compulsory bytes of each
    row, in run order."""
    layout = stage_layout(analysis, stages)
    leaves = _leaves(analysis)
    rows: dict[str, _Costs] = {}
    for op in analysis.ops:
        name = entry_row(op.module, op.anchor, op_kind(op), depth, layout, leaves)
        costs = rows.setdefault(name, _Costs())
        nbytes = op_bytes(op, dtype_bytes)
        costs.flops += op.flops
        costs.bytes += nbytes
        pair = costs.by_category.setdefault(CATEGORY_NAMES.get(op.category, "other"), [0, 0])
        pair[0] += op.flops
        pair[1] += nbytes
    return rows


def _row_category(costs: _Costs | None, name: str) -> str:
    if costs is None or not costs.by_category:
        return "other"
    return max(costs.by_category.items(), key=lambda item: (item[1][0], item[1][1]))[0]


def model_profile(
    model: str,
    description: str,
    analysis: Analysis,
    measured: Measured,
    peaks: Peaks,
    depth: str,
    dtype_bytes: int,
    stages=None,
    notes: tuple[str, ...] = (),
) -> ModelProfile:
    """One model's rows at ``depth``, its categories and the reconciliation of its rows with the whole forward."""
    layout = stage_layout(analysis, stages)
    leaves = _leaves(analysis)
    costs = row_costs(analysis, depth, dtype_bytes, stages)
    op_costs = row_costs(analysis, "op", dtype_bytes, stages) if depth != "op" else costs
    samples: dict[str, list[float]] = {}
    op_samples: dict[str, list[float]] = {}
    uncertain_rows: set[str] = set()
    for iteration in measured.iterations:
        per_row: dict[str, float] = dict.fromkeys(costs, 0.0)
        per_op: dict[str, float] = dict.fromkeys(op_costs, 0.0)
        for (module, anchor, kind), seconds in iteration.items():
            name = entry_row(module, anchor, kind, depth, layout, leaves)
            per_row[name] = per_row.get(name, 0.0) + seconds
            op_name = entry_row(module, anchor, kind, "op", layout, leaves)
            per_op[op_name] = per_op.get(op_name, 0.0) + seconds
            if (module, anchor, kind) in measured.uncertain:
                uncertain_rows.add(name)
        for name, seconds in per_row.items():
            samples.setdefault(name, []).append(seconds)
        for name, seconds in per_op.items():
            op_samples.setdefault(name, []).append(seconds)
    names = list(costs) + [n for n in samples if n not in costs]
    medians = {n: _percentiles(samples.get(n, ()))[0] for n in names}
    total_median = sum(m for m in medians.values() if m is not None)
    rows = []
    for name in names:
        c = costs.get(name, _Costs())
        median, p10, p90 = _percentiles(samples.get(name, ()))
        if median is None and not c.flops and not c.bytes:
            continue
        if median is not None and median == 0.0 and not c.flops and not c.bytes:
            continue  # nothing ran there that costs or takes time (an allocation of the analysis)
        roof, bound = roofline_seconds(c.flops, c.bytes, peaks)
        rows.append(
            ProfileRow(
                name=name,
                category=_row_category(costs.get(name), name),
                median_s=median,
                p10_s=p10,
                p90_s=p90,
                share=median / total_median if median is not None and total_median > 0 else None,
                flops=c.flops,
                bytes=c.bytes,
                intensity=intensity(c.flops, c.bytes),
                roofline_s=roof,
                bound=bound,
                efficiency=roof / median if median else None,
                achieved_flops_per_s=c.flops / median if median else None,
                # a row that costs something but got no measured time: its operators were not matched (or ran fused)
                uncertain=(
                    name in uncertain_rows
                    or name == NOT_ATTRIBUTED
                    or (not median and bool(c.flops or c.bytes) and measured.iterations != ())
                ),
            )
        )
    categories = _categories(op_costs, op_samples)
    flops = sum(c.flops for c in costs.values())
    nbytes = sum(c.bytes for c in costs.values())
    roof, _bound = roofline_seconds(flops, nbytes, peaks)
    return ModelProfile(
        model,
        description,
        tuple(analysis.input_shape),
        tuple(rows),
        categories,
        flops,
        nbytes,
        roof,
        reconcile(measured),
        measured.time_source,
        notes,
    )


def _categories(op_costs: dict[str, _Costs], op_samples: dict[str, list[float]]) -> tuple[CategoryShare, ...]:
    """Share of FLOPs, bytes and measured time per category; an op row's time goes to its category."""
    flops = dict.fromkeys(CATEGORIES, 0)
    nbytes = dict.fromkeys(CATEGORIES, 0)
    times = dict.fromkeys(CATEGORIES, 0.0)
    for c in op_costs.values():
        for category, (f, b) in c.by_category.items():
            flops[category] += f
            nbytes[category] += b
    for name, values in op_samples.items():
        median = _percentiles(values)[0]
        if median:
            times[_row_category(op_costs.get(name), name)] += median
    total_f, total_b, total_t = sum(flops.values()), sum(nbytes.values()), sum(times.values())
    return tuple(
        CategoryShare(
            c, flops[c], nbytes[c], times[c], _pct(flops[c], total_f), _pct(nbytes[c], total_b), _pct(times[c], total_t)
        )
        for c in CATEGORIES
        if flops[c] or nbytes[c] or times[c]
    )


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 4) if whole else 0.0


def reconcile(measured: Measured) -> Reconciliation:
    """The rows' sum against the forward's wall time under the profiler and without it (medians)."""
    rows_per_iteration = [sum(iteration.values()) for iteration in measured.iterations]
    rows = _percentiles(rows_per_iteration)[0]
    profiled = _percentiles(measured.profiled_s)[0]
    free, free_p10, free_p90 = _percentiles(measured.free_s)
    outside = None
    if rows_per_iteration and measured.profiled_s:
        outside = statistics.median(p - r for p, r in zip(measured.profiled_s, rows_per_iteration, strict=True))
    overhead = profiled - free if profiled is not None and free is not None else None
    return Reconciliation(
        rows, profiled, free, free_p10, free_p90, outside, overhead, len(measured.iterations), len(measured.free_s)
    )


# ---- several models ----


@dataclass(frozen=True)
class Difference:
    """Where the time between two models differs (the second against the first)."""

    first: str
    second: str
    total_s: float  # second - first, profiler-free medians (rows' sums when those are missing)
    relative: float | None  # total_s / the first model's time
    rows: tuple[tuple[str, float, str, str], ...]  # (aligned row, second - first seconds, bound first, bound second)
    categories: tuple[tuple[str, float], ...]  # (category, second - first seconds), largest change first

    def largest_rows(self, count: int = 3) -> tuple[tuple[str, float, str, str], ...]:
        """The rows whose time changed most (and changed at all), largest first."""
        return tuple(sorted((r for r in self.rows if r[1]), key=lambda r: -abs(r[1]))[:count])


def difference(first: ModelProfile, second: ModelProfile) -> Difference:
    """Align the rows by name (the stages stem, layer1 … head at stage depth) and the categories."""

    def total(m: ModelProfile) -> float:
        r = m.reconciliation
        return r.free_s if r.free_s is not None else (r.rows_s or 0.0)

    a_rows = {r.name: r for r in first.rows}
    b_rows = {r.name: r for r in second.rows}
    names = [r.name for r in first.rows] + [n for n in b_rows if n not in a_rows]
    rows = []
    for name in names:
        a, b = a_rows.get(name), b_rows.get(name)
        delta = ((b.median_s or 0.0) if b else 0.0) - ((a.median_s or 0.0) if a else 0.0)
        rows.append((name, delta, a.bound if a else "", b.bound if b else ""))
    a_cat = {c.category: c.median_s for c in first.categories}
    b_cat = {c.category: c.median_s for c in second.categories}
    cats = [(c, b_cat.get(c, 0.0) - a_cat.get(c, 0.0)) for c in CATEGORIES if c in a_cat or c in b_cat]
    cats.sort(key=lambda item: -abs(item[1]))
    delta = total(second) - total(first)
    return Difference(
        first.model, second.model, delta, delta / total(first) if total(first) else None, tuple(rows), tuple(cats)
    )
