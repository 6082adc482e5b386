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

import torch
from torch import nn

from resnet_cli.analysis.failure import explain
from resnet_cli.analysis.recorder import Recorder, Run, unpack
from resnet_cli.analysis.records import Analysis, AnalysisFailure
from resnet_cli.base.errors import first_line
from resnet_cli.base.shapes import numel


def analyze(
    model: nn.Module, input_shape: tuple[int, ...], *, training: bool = False, backward: bool = True
) -> Analysis:
    """Run ``model`` once on an input of ``input_shape`` (on the model's device) and record everything.

    ``training=True, backward=False`` runs the training-mode forward only and records no operator: what autograd
    saves for the backward (``saved_float_elements``, ``saved_other_bytes``), ``no_backward``, the modules and the
    output shape are as with the backward, ``ops`` and ``live_timeline`` are empty — for a caller that reads only
    a training step's memory (``flops`` without ``--training``).

    Raises AnalysisFailure (a RuntimeFailure carrying the module where it happened and the partial
    analysis of what ran before) if the model rejects the input or fails inside its forward.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    if device.type == "meta":
        x = torch.empty(input_shape, device=device, dtype=dtype)
    else:
        x = torch.randn(input_shape, device=device, dtype=dtype, generator=torch.Generator(device).manual_seed(0))
    run = Run(model, x, training)
    was_training = model.training
    restore = _snapshot(model) if training and device.type != "meta" else None
    pre = torch.nn.modules.module.register_module_forward_pre_hook(run.pre_hook)
    post = torch.nn.modules.module.register_module_forward_hook(run.post_hook)
    recorder = Recorder(run)
    output_shape = None
    no_backward = None
    try:
        model.train(training)
        if training:
            with run.functions, recorder, torch.autograd.graph.saved_tensors_hooks(run.pack, unpack):
                run.recording = backward  # what autograd saves is seen by run.pack, recording or not
                out = model(x)
                run.recording = False
                output = out[0] if isinstance(out, (tuple, list)) and out else out
                reduced, no_backward = _to_reduce(model, out)
                if reduced and backward:
                    run.recording = True
                    run.in_backward = True
                    _backward(reduced, [torch.ones_like(t) for t in reduced])
                    run.recording = False
        else:
            with torch.no_grad(), run.functions, recorder:
                run.recording = True
                out = model(x)
                run.recording = False
            output = out[0] if isinstance(out, (tuple, list)) and out else out
        output_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
        del out, output
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        where = run.stack[-1] if run.stack else ""
        place = f"module '{where}' ({run.module_types.get(where, '?')})" if where else "the root module's forward"
        failure = AnalysisFailure(f"{first_line(error)} (in {place})")
        failure.module = where
        failure.module_type = run.module_types.get(where, "")
        failure.reason = first_line(error)
        # the op that raised, unless the model caught that and failed later in its own code
        raised = run.failed_op if run.failed_op and run.failed_op[4] == len(run.ops) else None
        failure.operator, _, shapes, params, _ = raised or (None, "", (), (), 0)
        failure.why = explain(failure.operator, shapes, params, failure.reason)
        # the input is to blame only when nothing with weights ran before the failure (the first layer refused it)
        failure.at_input = not any(op.param_shapes and not op.zero_cost for op in run.ops)
        failure.partial = _result(run, input_shape, training, device, None)
        raise failure from error
    finally:
        run.recording = False
        pre.remove()
        post.remove()
        model.train(was_training)
        if restore is not None:
            restore()
    return _result(run, input_shape, training, device, output_shape, no_backward)


def _backward(outputs: list, grads: list) -> None:
    """``torch.autograd.backward(outputs, grads)`` for gradients made by ``ones_like`` (so of the outputs' own
    shapes and dtypes): the autograd engine is called as ``torch.autograd.backward`` calls it, without its
    argument checks, whose first call imports ``torch.fx.experimental.symbolic_shapes`` and sympy (half a second
    or more of every training analysis). ``tests/test_meta_shortcuts.py`` checks both give the same analysis."""
    run_backward = getattr(torch.autograd.graph, "_engine_run_backward", None)
    if run_backward is None:  # another torch: the public call, slower by its import, same result
        torch.autograd.backward(outputs, grads)
        return
    run_backward(tuple(outputs), tuple(grads), False, False, (), allow_unreachable=True, accumulate_grad=True)


def _to_reduce(model: nn.Module, out) -> tuple[list, str | None]:
    """(the output tensors a training step's loss reduces, why there is no backward when there are none).

    Every floating-point tensor of the output that needs a gradient — a tensor, or any found in the tuples,
    lists and dicts it returns — as a loss summing them would; a forward that returns none (None, a dict of
    numbers, a model with no trainable parameters) is counted, and its missing backward said, not refused."""
    found: list = []
    tensors = 0
    pending = [out]
    while pending and len(found) < 10_000:
        value = pending.pop()
        if isinstance(value, torch.Tensor):
            tensors += 1
            if value.requires_grad and (value.is_floating_point() or value.is_complex()):
                found.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    if found:
        return found[::-1], None
    if not tensors:
        what = "None" if out is None else f"a {type(out).__name__} without tensors"
        return [], f"its forward returns {what}, so there is no output tensor for a loss to reduce"
    if not any(p.requires_grad for p in model.parameters()):
        return [], (
            "it has no trainable parameters (and its input needs no gradient): there is nothing to "
            "compute gradients for"
        )
    return [], "no tensor it returns depends on a trainable parameter, so a loss on it has no gradient"


def _result(run, input_shape, training: bool, device, output_shape, no_backward: str | None = None) -> Analysis:
    saved_floats = sum(v[0] for v in run.saved.values())
    saved_other = sum(v[1] for v in run.saved.values())
    return Analysis(
        input_shape=tuple(input_shape),
        training=training,
        device=device.type,
        ops=tuple(run.ops),
        modules=run.module_records(),
        output_shape=output_shape,
        live_timeline=tuple(run.timeline),
        saved_float_elements=saved_floats,
        saved_other_bytes=saved_other,
        input_elements=numel(input_shape),
        no_backward=no_backward if training else None,
    )


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
