"""The `flops` report: totals under every convention, per operator category, per module, memory.

Built from the same ``Analysis`` as ``summary`` (so the two always agree), plus, for training figures, a
second analysis of a training step (train-mode forward and the real backward ops).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops as formulas
from resnet_cli.base.values import DTYPE_BYTES
from resnet_cli.analysis.ops import BACKWARD, CATEGORIES, FORWARD
from resnet_cli.analysis.records import Unsupported
from resnet_cli.report.describe import describer
from resnet_cli.report.rows import Row, Totals, build_rows, totals
from resnet_cli.report.stages import stage_layout

if TYPE_CHECKING:
    from resnet_cli.analysis.records import Analysis



@dataclass(frozen=True)
class CategoryCount:
    category: str
    flops: int  # every op, 2 FLOPs per multiply-accumulate
    macs: int
    fvcore_flops: int
    calls: int
    ops: tuple[tuple[str, int], ...]  # (ATen op, calls)
    formula: str


@dataclass(frozen=True)
class Convention:
    name: str
    description: str
    total: int
    by_category: tuple[tuple[str, int], ...]  # what this convention counts in each category


@dataclass(frozen=True)
class Memory:
    dtype: str
    bytes_per_element: int
    param_bytes: int
    fvcore_activations: int  # outputs of conv and linear layers (fvcore's ActivationCountAnalysis)
    fvcore_activation_bytes: int
    inference_peak_bytes: int  # largest set of intermediate tensors alive at once in the forward
    training_saved_bytes: int  # tensors autograd keeps from the forward for the backward


@dataclass(frozen=True)
class Training:
    forward_flops: int
    forward_macs: int
    backward_flops: int
    backward_macs: int
    by_category: tuple[CategoryCount, ...]  # backward ops
    rows: tuple[Row, ...]

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    @property
    def flop_counter_flops(self) -> int:
        """torch.utils.flop_counter's forward+backward figure: 2 per multiply-accumulate, nothing else."""
        return 2 * (self.forward_macs + self.backward_macs)


@dataclass(frozen=True)
class FlopsReport:
    model: str
    description: str
    input_shape: tuple[int, ...]
    batch: int
    depth: str
    totals: Totals
    by_category: tuple[CategoryCount, ...]
    conventions: tuple[Convention, ...]
    paper_gflops: float | None
    rows: tuple[Row, ...]
    unsupported: tuple[Unsupported, ...]
    fvcore_uncounted: tuple[tuple[str, int, int], ...]
    zero_cost_ops: tuple[tuple[str, int], ...]  # data-movement ops seen (0 FLOPs by definition), with calls
    memory: Memory
    training: Training | None


def _by_category(analysis: "Analysis", phase: str) -> tuple[CategoryCount, ...]:
    flops: Counter = Counter()
    macs: Counter = Counter()
    fvcore: Counter = Counter()
    calls: Counter = Counter()
    ops: dict[str, Counter] = {c: Counter() for c in CATEGORIES}
    for op in analysis.ops:
        if op.phase != phase:
            continue
        flops[op.category] += op.flops
        macs[op.category] += op.macs
        fvcore[op.category] += op.fvcore_flops
        if not op.zero_cost:
            calls[op.category] += 1
            ops[op.category][op.op] += 1
    return tuple(
        CategoryCount(c, flops[c], macs[c], fvcore[c], calls[c], tuple(sorted(ops[c].items())),
                      formulas.CATEGORY_FORMULAS[c])
        for c in CATEGORIES
    )


def _conventions(categories: tuple[CategoryCount, ...], t: Totals) -> tuple[Convention, ...]:
    def per(getter) -> tuple[tuple[str, int], ...]:
        return tuple((c.category, getter(c)) for c in categories)

    fvcore = per(lambda c: c.fvcore_flops)
    macs = per(lambda c: c.macs)
    double = per(lambda c: 2 * c.macs)
    every = per(lambda c: c.flops)
    return (
        Convention("fvcore", "fvcore FlopCountAnalysis: 1 per multiply-add (conv, linear, no bias), batch norm "
                   "2/element, adaptive avg-pool 1/input element; ReLU, max-pool and adds not counted",
                   t.flops, fvcore),
        Convention("torchvision / papers (MACs)", "conv + linear multiply-accumulates only: torchvision's "
                   "GFLOPS column, the ResNet paper's FLOPs, ptflops' aten backend, calflops MACs",
                   t.macs, macs),
        Convention("torch.utils.flop_counter", "FlopCounterMode: 2 per multiply-accumulate of conv and "
                   "matrix products, nothing else (bias adds ignored)", t.flops_2x, double),
        Convention("resnet-cli (every op)", "every operator executed: 2 per multiply-accumulate, biases, "
                   "batch norm, activations, pooling, residual adds, other elementwise ops",
                   t.all_flops, every),
    )


def flops_report(target, model, analysis: "Analysis", training_analysis: "Analysis | None",
                 depth: str = "stage", dtype: str = "float32", with_training: bool = False) -> FlopsReport:
    size = DTYPE_BYTES[dtype]
    layout = stage_layout(analysis, target.stages)
    describe = describer(model, layout)
    t = totals(analysis)
    categories = _by_category(analysis, FORWARD)
    memory = Memory(
        dtype=dtype, bytes_per_element=size, param_bytes=t.params * size,
        fvcore_activations=t.fvcore_activations, fvcore_activation_bytes=t.fvcore_activations * size,
        inference_peak_bytes=analysis.peak_activation_bytes(size),
        training_saved_bytes=training_analysis.saved_activation_bytes(size) if training_analysis else 0,
    )
    training = None
    if with_training and training_analysis is not None:
        tt = totals(training_analysis)
        training = Training(
            forward_flops=tt.all_flops, forward_macs=tt.macs, backward_flops=tt.backward_flops,
            backward_macs=tt.backward_macs, by_category=_by_category(training_analysis, BACKWARD),
            rows=build_rows(training_analysis, depth, describe=describe, stages=target.stages),
        )
    unsupported = analysis.unsupported_ops()
    if training_analysis is not None and with_training:
        unsupported += training_analysis.unsupported_ops()
    return FlopsReport(
        model=target.name, description=target.description, input_shape=tuple(analysis.input_shape),
        batch=analysis.input_shape[0], depth=depth, totals=t, by_category=categories,
        conventions=_conventions(categories, t),
        paper_gflops=target.paper_gflops,
        rows=build_rows(analysis, depth, describe=describe, stages=target.stages), unsupported=unsupported,
        fvcore_uncounted=analysis.fvcore_uncounted(),
        zero_cost_ops=tuple(sorted(Counter(op.op for op in analysis.ops if op.zero_cost).items())), memory=memory,
        training=training,
    )
