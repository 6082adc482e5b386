"""The one analysis core: run a model once and record every operator it executes.

``analyze`` runs the forward (and, with ``training=True``, the backward) pass of a model under a
``TorchDispatchMode`` that sees every ATen operator with its real shapes, and a ``TorchFunctionMode``
that sees the Python-level call each operator came from (which is what fvcore counts by). By default
the model lives on the *meta* device: shapes are exact, nothing is allocated, and the cost does not grow
with the input (a ResNet-152 at 64x3x224x224 takes well under a second). The result is an immutable
``Analysis`` of plain numbers; ``resnet_cli.report.rows`` aggregates it and ``resnet_cli.render.emit`` prints it.

No side effects on the model: hooks and modes are removed in ``finally``, train/eval mode is restored,
and on a real device the gradients and buffers a training step would touch are restored too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from resnet_cli.analysis import ops as formulas
from resnet_cli.base.errors import RuntimeFailure

INPUT_VALUE = 0  # the dataflow value id of the model's input
FORWARD = formulas.FORWARD
BACKWARD = formulas.BACKWARD


@dataclass(frozen=True)
class OpRecord:
    """One executed ATen operator."""

    index: int
    op: str  # ATen overload packet, e.g. "aten.convolution"
    function: str  # the Python-level call it came from, e.g. "conv2d" ("" in backward)
    module: str  # innermost module's qualified name ("" = the root module's own forward)
    anchor: str  # for root-level ops: the top-level child that ran last before it ("" if none)
    phase: str  # FORWARD or BACKWARD
    category: str  # one of formulas.CATEGORIES
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

    @property
    def params(self) -> int:
        return sum(m.params for m in self.modules)

    @property
    def trainable_params(self) -> int:
        return sum(m.trainable_params for m in self.modules)

    @property
    def running_stats(self) -> int:
        return sum(m.running_stats for m in self.modules)

    def unsupported_ops(self) -> tuple["Unsupported", ...]:
        """Operators no formula covers (counted as 0 FLOPs): each with its calls and the modules it ran in."""
        found: dict[tuple[str, str], list] = {}
        for op in self.ops:
            if op.supported:
                continue
            entry = found.setdefault((op.op, op.phase), [0, []])
            entry[0] += 1
            if op.module not in entry[1]:
                entry[1].append(op.module)
        return tuple(Unsupported(op, calls, phase, tuple(modules[:5]))
                     for (op, phase), (calls, modules) in sorted(found.items()))

    def fvcore_uncounted(self) -> tuple[tuple[str, int, int], ...]:
        """Multiply-accumulates fvcore's convention does not count (a matmul inside attention, an einsum it
        has no handle for): (the Python call or ATen op, calls, MACs), forward only."""
        found: dict[str, list] = {}
        for op in self.ops:
            if op.phase == FORWARD and op.macs and not op.fvcore_flops:
                entry = found.setdefault(op.function or op.op, [0, 0])
                entry[0] += 1
                entry[1] += op.macs
        return tuple((name, calls, macs) for name, (calls, macs) in sorted(found.items()))

    def peak_activation_bytes(self, bytes_per_element: int) -> int:
        """Largest total size of intermediate tensors alive at once in the forward (input excluded)."""
        if not self.live_timeline:
            return 0
        return max(floats * bytes_per_element + other for floats, other in self.live_timeline)

    def saved_activation_bytes(self, bytes_per_element: int) -> int:
        return self.saved_float_elements * bytes_per_element + self.saved_other_bytes


def analyze(model: nn.Module, input_shape: tuple[int, ...], *, training: bool = False) -> Analysis:
    """Run ``model`` once on an input of ``input_shape`` (on the model's device) and record everything.

    Raises AnalysisFailure (a RuntimeFailure carrying the module where it happened and the partial
    analysis of what ran before) if the model rejects the input or fails inside its forward.
    """
    from resnet_cli.analysis.recorder import _Recorder, _Run, _unpack

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    if device.type == "meta":
        x = torch.empty(input_shape, device=device, dtype=dtype)
    else:
        x = torch.randn(input_shape, device=device, dtype=dtype, generator=torch.Generator(device).manual_seed(0))
    run = _Run(model, x, training)
    was_training = model.training
    restore = _snapshot(model) if training and device.type != "meta" else None
    pre = torch.nn.modules.module.register_module_forward_pre_hook(run.pre_hook)
    post = torch.nn.modules.module.register_module_forward_hook(run.post_hook)
    recorder = _Recorder(run)
    output_shape = None
    try:
        model.train(training)
        if training:
            with run.functions, recorder, torch.autograd.graph.saved_tensors_hooks(run.pack, _unpack):
                run.recording = True
                out = model(x)
                run.recording = False
                output = out[0] if isinstance(out, (tuple, list)) else out
                grad = torch.ones_like(output)
                run.recording = True
                run.in_backward = True
                output.backward(grad)
                run.recording = False
        else:
            with torch.no_grad(), run.functions, recorder:
                run.recording = True
                out = model(x)
                run.recording = False
            output = out[0] if isinstance(out, (tuple, list)) else out
        output_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        del out, output
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        where = run.stack[-1] if run.stack else ""
        place = f"module '{where}' ({run.module_types.get(where, '?')})" if where else "the root module's forward"
        failure = AnalysisFailure(f"{_first_line(error)} (in {place})")
        failure.module = where
        failure.reason = _first_line(error)
        failure.partial = _result(run, input_shape, training, device, None)
        raise failure from error
    finally:
        run.recording = False
        pre.remove()
        post.remove()
        model.train(was_training)
        if restore is not None:
            restore()
    return _result(run, input_shape, training, device, output_shape)


def _result(run, input_shape, training: bool, device, output_shape) -> Analysis:
    from resnet_cli.analysis.recorder import _numel

    saved_floats = sum(v[0] for v in run.saved.values())
    saved_other = sum(v[1] for v in run.saved.values())
    return Analysis(
        input_shape=tuple(input_shape), training=training, device=device.type, ops=tuple(run.ops),
        modules=run.module_records(), output_shape=output_shape, live_timeline=tuple(run.timeline),
        saved_float_elements=saved_floats, saved_other_bytes=saved_other, input_elements=_numel(input_shape),
    )


class AnalysisFailure(RuntimeFailure):
    """The model rejected the input or failed inside its forward. ``module`` is where (""  = the root's own
    forward), ``reason`` torch's first line, ``partial`` the Analysis of everything that ran before."""

    module: str = ""
    reason: str = ""
    partial: Analysis | None = None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _snapshot(model: nn.Module):
    """Save what a training step on a real device changes (grads, BN statistics) and return a restorer."""
    grads = [(p, None if p.grad is None else p.grad.clone()) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]

    def restore() -> None:
        with torch.no_grad():
            for parameter, grad in grads:
                parameter.grad = grad
            for buffer, value in buffers:
                buffer.copy_(value)
    return restore
