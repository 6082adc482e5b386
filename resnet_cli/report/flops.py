"""The `flops` report: totals under every convention, per operator category, per module, memory.

Built from the same ``Analysis`` as ``summary`` (so the two always agree), plus, for training figures, a
second analysis of a training step (train-mode forward and the real backward ops).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops as formulas
from resnet_cli.analysis.ops import BACKWARD, CATEGORIES, FORWARD
from resnet_cli.analysis.records import Unsupported
from resnet_cli.base.values import DTYPE_BYTES
from resnet_cli.report.aggregates import once
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
    no_backward: str | None = None  # why a training step has no backward (and so keeps nothing for it)


@dataclass(frozen=True)
class Training:
    forward_flops: int
    forward_macs: int
    backward_flops: int
    backward_macs: int
    by_category: tuple[CategoryCount, ...]  # backward ops
    rows: tuple[Row, ...]
    no_backward: str | None = None  # why there is no backward pass (no output tensor to reduce), else None

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops

    @property
    def flop_counter_flops(self) -> int:
        """torch.utils.flop_counter's forward+backward figure: 2 per multiply-accumulate, nothing else."""
        return 2 * (self.forward_macs + self.backward_macs)


@dataclass(frozen=True)
class Paper:
    """The ResNet paper's Table 1 figure beside ours: for this variant, or for the v1 it is the v1.5 of."""

    gflops: float  # as the paper prints it (multiply-adds of one 224×224 image, ×10^9)
    variant: str  # the registered variant the figure is of (this one, or resnet50_v1 for resnet50)
    variant_macs: int  # that variant's multiply-accumulates per image (closed form: computed, never typed in)
    macs: int  # this model's multiply-accumulates per image
    why: str | None = None  # one line: why this model's count differs from the paper's model (None: the same)


def paper_reference(target, macs_per_image: int) -> Paper | None:
    """The paper's figure for an unmodified registered variant at 224×224: its own (resnet18, resnet50_v1), or,
    for torchvision's v1.5 (resnet50/101/152), the figure of the paper's v1 of the same depth, with v1's MACs
    computed from the registered v1 and one line saying why the two differ."""
    variant = target.variant
    if variant is None or target.changed or target.source != "registry" or tuple(target.input_shape[2:]) != (224, 224):
        return None
    if variant.paper_gflops:
        return Paper(variant.paper_gflops, variant.name, macs_per_image, macs_per_image)
    from resnet_cli.spec import registry
    from resnet_cli.spec.closed_form import counts
    from resnet_cli.spec.fields import StrideAt

    if variant.spec.stride_at is not StrideAt.CONV3X3 or not variant.spec.block.is_bottleneck:
        return None
    v1_spec = variant.spec.replace(stride_at=StrideAt.FIRST_1X1)
    v1 = next((v for v in registry.VARIANTS.values() if v.paper_gflops and v.spec == v1_spec), None)
    if v1 is None:
        return None
    v1_macs = counts(v1.spec, (1, v1.spec.in_channels, 224, 224)).macs
    why = (
        f"{variant.name} is v1.5: a downsampling bottleneck strides its 3×3 conv, not its first 1×1 (v1, "
        f"{v1.name}), so that 1×1 runs at 4× the positions: {(macs_per_image - v1_macs) / 1e9:+.3f} G MACs"
    )
    return Paper(v1.paper_gflops, v1.name, v1_macs, macs_per_image, why)


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
    identified_as: tuple | None = None  # a checkpoint: (registered name, flags) it is (Target.identified_as)
    paper: Paper | None = None  # the paper's figure, for this variant or for the v1 it is the v1.5 of


def _by_category(analysis: Analysis, phase: str) -> tuple[CategoryCount, ...]:
    """FLOPs, MACs and calls by operator category in one phase, computed once per analysis."""
    return once(analysis, ("by_category", phase), lambda: _count_by_category(analysis, phase))


def _count_by_category(analysis: Analysis, phase: str) -> tuple[CategoryCount, ...]:
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
        CategoryCount(
            c, flops[c], macs[c], fvcore[c], calls[c], tuple(sorted(ops[c].items())), formulas.CATEGORY_FORMULAS[c]
        )
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
        Convention(
            "fvcore",
            "fvcore FlopCountAnalysis: 1 per multiply-add (conv, linear, no bias), batch norm "
            "2/element, adaptive avg-pool 1/input element; ReLU, max-pool and adds not counted",
            t.flops,
            fvcore,
        ),
        Convention(
            "torchvision (MACs)",
            "conv + linear multiply-accumulates only: torchvision's GFLOPS column, "
            "ptflops' aten backend, calflops MACs; the ResNet paper's FLOPs count these too (for its v1)",
            t.macs,
            macs,
        ),
        Convention(
            "torch.utils.flop_counter",
            "FlopCounterMode: 2 per multiply-accumulate of conv and matrix products, nothing else (bias adds ignored)",
            t.flops_2x,
            double,
        ),
        Convention(
            "resnet-cli (every op)",
            "every operator executed: 2 per multiply-accumulate, biases, "
            "batch norm, activations, pooling, residual adds, other elementwise ops",
            t.all_flops,
            every,
        ),
    )


def flops_report(
    target,
    model,
    analysis: Analysis,
    training_analysis: Analysis | None,
    depth: str = "stage",
    dtype: str = "float32",
    with_training: bool = False,
) -> FlopsReport:
    size = DTYPE_BYTES[dtype]
    layout = stage_layout(analysis, target.stages)
    describe = describer(model, layout)
    t = totals(analysis)
    categories = _by_category(analysis, FORWARD)
    memory = Memory(
        dtype=dtype,
        bytes_per_element=size,
        param_bytes=t.params * size,
        fvcore_activations=t.fvcore_activations,
        fvcore_activation_bytes=t.fvcore_activations * size,
        inference_peak_bytes=analysis.peak_activation_bytes(size),
        training_saved_bytes=training_analysis.saved_activation_bytes(size) if training_analysis else 0,
        no_backward=training_analysis.no_backward if training_analysis else None,
    )
    training = None
    if with_training and training_analysis is not None:
        tt = totals(training_analysis)
        training = Training(
            forward_flops=tt.all_flops,
            forward_macs=tt.macs,
            backward_flops=tt.backward_flops,
            backward_macs=tt.backward_macs,
            by_category=_by_category(training_analysis, BACKWARD),
            rows=build_rows(training_analysis, depth, describe=describe, stages=target.stages),
            no_backward=training_analysis.no_backward,
        )
    unsupported = analysis.unsupported_ops()
    if training_analysis is not None and with_training:
        unsupported += training_analysis.unsupported_ops()
    return FlopsReport(
        model=target.name,
        description=target.description,
        input_shape=tuple(analysis.input_shape),
        batch=analysis.input_shape[0],
        depth=depth,
        totals=t,
        by_category=categories,
        conventions=_conventions(categories, t),
        paper_gflops=target.paper_gflops,
        rows=build_rows(analysis, depth, describe=describe, stages=target.stages),
        unsupported=unsupported,
        fvcore_uncounted=analysis.fvcore_uncounted(),
        zero_cost_ops=tuple(sorted(Counter(op.op for op in analysis.ops if op.zero_cost).items())),
        memory=memory,
        training=training,
        identified_as=target.identified_as,
        paper=paper_reference(target, t.macs // analysis.input_shape[0]),
    )
