"""What one analysis records, as plain immutable data: the operators, the modules, the memory timeline.

Every layer above the analysis reads these records; nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resnet_cli.base.errors import RuntimeFailure

# The two phases of a training step.
FORWARD = "forward"
BACKWARD = "backward"

INPUT_VALUE = 0  # the dataflow value id of the model's input


@dataclass(frozen=True)
class OpRecord:
    """One executed ATen operator."""

    index: int
    op: str  # the ATen overload packet's name, e.g. aten.convolution (its entry: analysis.ops.lookup)
    function: str  # the Python-level call it came from, e.g. "conv2d" ("" in backward)
    module: str  # innermost module's qualified name ("" = the root module's own forward)
    anchor: str  # for root-level ops: the top-level child that ran last before it ("" if none)
    phase: str  # FORWARD or BACKWARD
    category: str  # one of ops.CATEGORIES
    macs: int
    flops: int
    fvcore_flops: int
    fvcore_activations: int  # output elements of conv/linear ops (fvcore's ActivationCountAnalysis)
    supported: bool  # False: no formula covers this operator (it is reported, with its calls)
    zero_cost: bool  # a data-movement operator (0 FLOPs by definition)
    output_shape: tuple[int, ...] | None
    # dataflow (forward ops only; empty in backward): the values this op read and wrote. A value is one
    # activation tensor as produced by one op (an in-place op writes a new value); the model's input is
    # value 0. Parameters and buffers are not values: their shapes are in ``param_shapes``.
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()
    # every non-tensor argument of the ATen schema, defaults filled in: ("stride", (2, 2)), ("groups", 1) …
    attrs: tuple[tuple[str, object], ...] = ()
    param_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (schema argument, shape), e.g. ("weight", …)

    def attr(self, name: str, default=None):
        for key, value in self.attrs:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class Unsupported:
    """An operator no cost formula covers, as every command that reports FLOPs lists it."""

    op: str
    calls: int
    phase: str
    modules: tuple[str, ...]  # the first five modules it ran in ("" = the root module's own forward)


@dataclass(frozen=True)
class ModuleRecord:
    """One named module: its own parameters and what its last forward call produced."""

    name: str
    type_name: str
    params: int  # parameters owned directly (not by children), each shared parameter counted once
    trainable_params: int
    running_stats: int  # BatchNorm running mean + variance elements (Keras counts them as parameters)
    calls: int
    first_call: int | None  # op index when first entered; None if never called
    output_shape: tuple[int, ...] | None
    is_leaf: bool
    output_value: int | None = None  # dataflow value id of that output (None: not a tensor, or never called)


@dataclass(frozen=True)
class Analysis:
    """Everything one run of a model recorded. The model's input is dataflow value ``INPUT_VALUE``."""

    input_shape: tuple[int, ...]
    training: bool
    device: str
    ops: tuple[OpRecord, ...]
    modules: tuple[ModuleRecord, ...]  # called modules in call order, then the uncalled ones
    output_shape: tuple[int, ...] | None
    # memory: (live floating-point elements, live bytes of other dtypes) after every forward op
    live_timeline: tuple[tuple[int, int], ...] = field(repr=False)
    saved_float_elements: int  # training: tensors autograd keeps for the backward (parameters excluded)
    saved_other_bytes: int
    input_elements: int
    # training: why no backward ran (its forward returned no tensor, or none that needs a gradient); None if it ran
    no_backward: str | None = None

    @property
    def params(self) -> int:
        return sum(m.params for m in self.modules)

    @property
    def trainable_params(self) -> int:
        return sum(m.trainable_params for m in self.modules)

    @property
    def running_stats(self) -> int:
        return sum(m.running_stats for m in self.modules)

    def unsupported_ops(self) -> tuple[Unsupported, ...]:
        """Operators no formula covers (counted as 0 FLOPs): each with its calls and the modules it ran in."""
        found: dict[tuple[str, str], list] = {}
        for op in self.ops:
            if op.supported:
                continue
            entry = found.setdefault((op.op, op.phase), [0, []])
            entry[0] += 1
            if op.module not in entry[1]:
                entry[1].append(op.module)
        return tuple(
            Unsupported(op, calls, phase, tuple(modules[:5])) for (op, phase), (calls, modules) in sorted(found.items())
        )

    def fvcore_uncounted(self) -> tuple[tuple[str, int, int], ...]:
        """Multiply-accumulates fvcore's convention does not count (a matmul inside attention, an einsum it
        has no handle for): (the Python call or ATen op, calls, MACs), forward only."""
        found: dict[str, list] = {}
        for op in self.ops:
            if op.phase == FORWARD and (op.macs or op.fvcore_flops):
                # by call: fvcore books a whole matmul or einsum on one of its ops, and counts the others 0
                entry = found.setdefault(op.function or op.op, [0, 0, 0])
                entry[0] += 1 if op.macs else 0
                entry[1] += op.macs
                entry[2] += op.fvcore_flops
        return tuple(
            (name, calls, macs) for name, (calls, macs, counted) in sorted(found.items()) if macs and not counted
        )

    def peak_activation_bytes(self, bytes_per_element: int) -> int:
        """Largest total size of intermediate tensors alive at once in the forward (input excluded)."""
        if not self.live_timeline:
            return 0
        return max(floats * bytes_per_element + other for floats, other in self.live_timeline)

    def saved_activation_bytes(self, bytes_per_element: int) -> int:
        return self.saved_float_elements * bytes_per_element + self.saved_other_bytes


class AnalysisFailure(RuntimeFailure):
    """The model rejected the input or failed inside its forward. ``module`` is where (""  = the root's own
    forward), ``reason`` torch's first line, ``partial`` the Analysis of everything that ran before."""

    module: str = ""
    module_type: str = ""
    reason: str = ""
    operator: str | None = None  # the ATen operator that raised (None: the model's own Python code did)
    why: str = ""  # resnet_cli.analysis.failure.explain: what the operator got and what that means
    at_input: bool = True  # nothing with weights ran before it: the input itself was refused
    partial: Analysis | None = None
