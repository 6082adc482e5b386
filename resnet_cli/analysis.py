"""The one analysis core: run a model once and record every operator it executes.

``analyze`` runs the forward (and, with ``training=True``, the backward) pass of a model under a
``TorchDispatchMode`` that sees every ATen operator with its real shapes, and a ``TorchFunctionMode``
that sees the Python-level call each operator came from (which is what fvcore counts by). By default
the model lives on the *meta* device: shapes are exact, nothing is allocated, and the cost does not grow
with the input (a ResNet-152 at 64x3x224x224 takes well under a second). The result is an immutable
``Analysis`` of plain numbers; ``resnet_cli.report`` aggregates it and ``resnet_cli.render`` prints it.

No side effects on the model: hooks and modes are removed in ``finally``, train/eval mode is restored,
and on a real device the gradients and buffers a training step would touch are restored too.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary
from torch.utils._python_dispatch import TorchDispatchMode

from resnet_cli import formulas
from resnet_cli.errors import RuntimeFailure

INPUT_VALUE = 0  # the dataflow value id of the model's input
_ORIGIN = "resnet_cli.origin"  # key of our tag in autograd nodes' metadata (nodes die with the graph)
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

    def peak_activation_bytes(self, bytes_per_element: int) -> int:
        """Largest total size of intermediate tensors alive at once in the forward (input excluded)."""
        if not self.live_timeline:
            return 0
        return max(floats * bytes_per_element + other for floats, other in self.live_timeline)

    def saved_activation_bytes(self, bytes_per_element: int) -> int:
        return self.saved_float_elements * bytes_per_element + self.saved_other_bytes


def _storage_key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


class _FunctionTracker(TorchFunctionMode):
    """Remembers the outermost Python-level torch call in progress (nested calls are not seen).

    It sits above autograd, so when a call returns its outputs already carry their autograd node: in a
    training run that node is tagged with the module and category of the call, so the backward ops
    the node runs later are attributed to the same place.
    """

    def __init__(self, run: "_Run") -> None:
        super().__init__()
        self.run = run
        self.current = ""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        previous = self.current
        self.current = getattr(func, "__name__", str(func))
        start = len(self.run.ops)
        try:
            out = func(*args, **(kwargs or {}))
        finally:
            self.current = previous
        if self.run.training and self.run.recording and len(self.run.ops) > start:
            self.run.tag_autograd_nodes(out, start)
        return out


class _Recorder(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in dynamo.disable unless told not to, and importing
        # dynamo costs over a second; we are never compiled, so there is nothing to disable.
        return False

    def __init__(self, run: "_Run") -> None:
        super().__init__()
        self.run = run

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shortcut = _META_SHORTCUTS.get(func) if self.run.on_meta else None
        out = shortcut(*args, **kwargs) if shortcut is not None else func(*args, **kwargs)
        if self.run.recording:
            self.run.record(func, args, kwargs, out)
        return out


def _meta_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    channels = x.shape[1] if training else 0
    return (torch.empty_like(x), x.new_empty((channels,)), x.new_empty((channels,)))


def _meta_batch_norm_backward(grad_out, x, weight, running_mean, running_var, save_mean, save_invstd,
                              train, eps, output_mask):
    channels = x.shape[1]
    return (
        torch.empty_like(x) if output_mask[0] else None,
        x.new_empty((channels,)) if output_mask[1] else None,
        x.new_empty((channels,)) if output_mask[2] else None,
    )


def _meta_mean(x, dim=None, keepdim=False, *, dtype=None):
    dims = range(x.dim()) if dim is None or len(dim) == 0 else [d % x.dim() for d in dim]
    shape = [1 if i in dims else size for i, size in enumerate(x.shape)] if keepdim else [
        size for i, size in enumerate(x.shape) if i not in dims]
    return x.new_empty(shape, dtype=dtype or x.dtype)


def _meta_addmm(bias, a, b, *, beta=1, alpha=1):
    return a.new_empty((a.shape[0], b.shape[1]))


def _meta_mm(a, b):
    return a.new_empty((a.shape[0], b.shape[1]))


def _meta_elementwise(a, b, *args, **kwargs):
    shape = torch.broadcast_shapes(a.shape, b.shape) if isinstance(b, torch.Tensor) else a.shape
    return a.new_empty(shape)


def _meta_like_first(grad, *args, **kwargs):
    return torch.empty_like(grad)


def _meta_like_second(grad, x, *args, **kwargs):
    return torch.empty_like(x)


def _meta_sum(x, dim=None, keepdim=False, *, dtype=None):
    return _meta_mean(x, dim, keepdim, dtype=dtype)


# On the meta device these ops' shape functions are Python decompositions whose first call imports
# torch._dynamo (about a second). Their output shapes are those of their inputs, so we give them
# directly; on a real device the real kernels run.
_META_SHORTCUTS = {
    torch.ops.aten.native_batch_norm.default: _meta_batch_norm,
    torch.ops.aten.native_batch_norm_backward.default: _meta_batch_norm_backward,
    torch.ops.aten.mean.dim: _meta_mean,
    torch.ops.aten.addmm.default: _meta_addmm,
    torch.ops.aten.mm.default: _meta_mm,
    torch.ops.aten.div.Scalar: _meta_elementwise,
    torch.ops.aten.div.Tensor: _meta_elementwise,
    torch.ops.aten.add.Tensor: _meta_elementwise,
    torch.ops.aten.mul.Tensor: _meta_elementwise,
    torch.ops.aten.relu.default: _meta_like_first,
    torch.ops.aten.threshold_backward.default: _meta_like_first,
    torch.ops.aten.sigmoid_backward.default: _meta_like_first,
    torch.ops.aten.max_pool2d_with_indices_backward.default: _meta_like_second,
    torch.ops.aten.avg_pool2d_backward.default: _meta_like_second,
    torch.ops.aten.sum.dim_IntList: _meta_sum,
}


class _Run:
    """Mutable state of one analysis run; turned into an immutable Analysis at the end."""

    def __init__(self, model: nn.Module, x: torch.Tensor, training: bool) -> None:
        self.model = model
        self.training = training
        self.on_meta = x.device.type == "meta"
        self.recording = False
        self.names: dict[int, str] = {}
        for name, module in model.named_modules():
            self.names.setdefault(id(module), name)
        self.module_types: dict[str, str] = {}
        self.leaf: dict[str, bool] = {}
        for name, module in model.named_modules():
            self.module_types[name] = type(module).__name__
            self.leaf[name] = len(list(module.children())) == 0
        self.top_level = {name for name in self.module_types if name and "." not in name}
        self.stack: list[str] = []
        self.anchor = ""
        self.calls: dict[str, int] = {}
        self.first_call: dict[str, int] = {}
        self.outputs: dict[str, tuple[int, ...] | None] = {}
        self.output_values: dict[str, int | None] = {}
        self.ops: list[OpRecord] = []
        self.functions = _FunctionTracker(self)
        self.root_type = type(model).__name__
        # memory
        self.excluded = {_storage_key(t) for t in list(model.parameters()) + list(model.buffers())}
        self.excluded.add(_storage_key(x))
        self.parameter_keys = {_storage_key(t) for t in list(model.parameters()) + list(model.buffers())}
        self.live: dict[int, list] = {}  # key -> [float elements, other bytes, references]
        self.live_floats = 0
        self.live_other = 0
        self.timeline: list[tuple[int, int]] = []
        self.saved: dict[int, tuple[int, int]] = {}
        self.in_backward = False
        # dataflow: each activation tensor object -> the id of the value it holds now
        self.values = WeakIdKeyDictionary()
        self.values[x] = INPUT_VALUE
        self.next_value = INPUT_VALUE + 1
        self.parameter_ids = {id(t) for t in list(model.parameters()) + list(model.buffers())}

    # ---- module hooks (global; removed in finally) ----
    def pre_hook(self, module, args):
        name = self.names.get(id(module))
        if name is None:
            return
        self.stack.append(name)
        self.calls[name] = self.calls.get(name, 0) + 1
        self.first_call.setdefault(name, len(self.ops))
        if name in self.top_level:
            self.anchor = name

    def post_hook(self, module, args, output):
        name = self.names.get(id(module))
        if name is None:
            return
        if self.stack and self.stack[-1] == name:
            self.stack.pop()
        first = output[0] if isinstance(output, (tuple, list)) and output else output
        self.outputs[name] = tuple(first.shape) if isinstance(first, torch.Tensor) else None
        self.output_values[name] = self.values.get(first) if isinstance(first, torch.Tensor) else None

    def backward_origin(self) -> tuple[str, str, str] | None:
        """(module, category, anchor) of the forward op whose autograd node is running now."""
        node = torch._C._current_autograd_node()
        if node is None:
            return None
        return node.metadata.get(_ORIGIN)

    # ---- one operator ----
    def record(self, func, args, kwargs, out) -> None:
        op = str(func.overloadpacket)
        phase = BACKWARD if self.in_backward else FORWARD
        formula = formulas.FORMULAS.get(op)
        zero_cost = op in formulas.DATA_MOVEMENT
        if formula is not None:
            cost = formula(args, kwargs, out)
        else:
            cost = formulas.Cost(0, 0, formulas.OTHER)
        if phase == FORWARD:
            module, anchor, function = (self.stack[-1] if self.stack else ""), self.anchor, self.functions.current
            category = cost.category or self.context_category(op, module, args)
        else:
            # a backward op belongs to the forward op whose autograd node runs it: same module, and
            # (for generic arithmetic) the same category. Gradients of a tensor used twice — the
            # residual fork — meet in an add.
            module, forward_category, anchor = self.backward_origin() or ("", formulas.OTHER, "")
            function = ""
            if cost.category:
                category = cost.category
            elif op in ("aten.add", "aten.add_"):
                category = formulas.RESIDUAL_ADD
            else:
                category = forward_category
        fv_flops = formulas.fvcore_flops(function, op, args, cost) if phase == FORWARD else 0
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        out_shape = tuple(first.shape) if isinstance(first, torch.Tensor) else None
        flow = self.dataflow(func, args, kwargs, out) if phase == FORWARD else ((), (), (), (), ())
        activations = 0
        if phase == FORWARD and category in (formulas.CONVOLUTION, formulas.LINEAR) and cost.macs:
            activations = _numel(out_shape)
        self.ops.append(OpRecord(
            index=len(self.ops), op=op, function=function, module=module,
            anchor=anchor if module == "" else "", phase=phase, category=category,
            macs=cost.macs, flops=cost.flops, fvcore_flops=fv_flops, fvcore_activations=activations,
            supported=formula is not None or zero_cost, zero_cost=zero_cost and formula is None,
            output_shape=out_shape, inputs=flow[0], outputs=flow[1], input_shapes=flow[2], attrs=flow[3],
            param_shapes=flow[4],
        ))
        if phase == FORWARD:
            self.track_outputs(out)

    def dataflow(self, func, args, kwargs, out):
        """(inputs, outputs, input shapes, attrs, param shapes) of one forward op, from its ATen schema."""
        inputs, shapes, attrs, params = [], [], [], []
        for name, value in _bound_arguments(func, args, kwargs):
            tensors = _tensors(value)
            if tensors is None:
                attrs.append((name, _plain(value)))
                continue
            for tensor in tensors:
                if id(tensor) in self.parameter_ids:
                    params.append((name, tuple(tensor.shape)))
                    continue
                value_id = self.values.get(tensor)
                if value_id is None:  # a tensor made outside any op we saw (a constant): a fresh value
                    value_id = self.new_value(tensor)
                inputs.append(value_id)
                shapes.append(tuple(tensor.shape))
        outputs = []
        for tensor in _tensors(out) or ():
            outputs.append(self.new_value(tensor))  # an in-place op's result is a new value too
        return tuple(inputs), tuple(outputs), tuple(shapes), tuple(attrs), tuple(params)

    def new_value(self, tensor: torch.Tensor) -> int:
        value_id = self.next_value
        self.next_value += 1
        self.values[tensor] = value_id
        return value_id

    def tag_autograd_nodes(self, out, start: int) -> None:
        """Tag the autograd nodes of a call's outputs with where its ops ran (ops[start:])."""
        ops = self.ops[start:]
        costly = [o for o in ops if not o.zero_cost] or ops
        origin = (costly[0].module, costly[0].category, costly[0].anchor)
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor) and tensor.grad_fn is not None:
                tensor.grad_fn.metadata[_ORIGIN] = origin

    def context_category(self, op, module, args) -> str:
        module_category = formulas.MODULE_CATEGORIES.get(self.module_types.get(module, ""))
        if module_category and self.leaf.get(module, False):
            return module_category
        if op in ("aten.add", "aten.add_"):
            tensors = [a for a in args[:2] if isinstance(a, torch.Tensor)]
            if len(tensors) == 2 and tensors[0].shape == tensors[1].shape and tensors[0].dim() >= 2:
                return formulas.RESIDUAL_ADD
        return formulas.OTHER

    # ---- memory ----
    def track_outputs(self, out) -> None:
        tensors = out if isinstance(out, (tuple, list)) else (out,)
        for tensor in tensors:
            if not isinstance(tensor, torch.Tensor):
                continue
            key = _storage_key(tensor)
            if key in self.excluded:
                continue
            entry = self.live.get(key)
            if entry is None:
                nbytes = tensor.untyped_storage().nbytes()
                if tensor.is_floating_point():
                    entry = [nbytes // tensor.element_size(), 0, 0]
                else:
                    entry = [0, nbytes, 0]
                self.live[key] = entry
                self.live_floats += entry[0]
                self.live_other += entry[1]
            entry[2] += 1
            weakref.finalize(tensor, self.release, key)
        self.timeline.append((self.live_floats, self.live_other))

    def release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[2] -= 1
        if entry[2] <= 0:
            self.live_floats -= entry[0]
            self.live_other -= entry[1]
            del self.live[key]

    def pack(self, tensor: torch.Tensor):
        key = _storage_key(tensor)
        if key not in self.parameter_keys and key not in self.saved:
            nbytes = tensor.untyped_storage().nbytes()
            if tensor.is_floating_point():
                self.saved[key] = (nbytes // tensor.element_size(), 0)
            else:
                self.saved[key] = (0, nbytes)
        return tensor

    def module_records(self) -> tuple[ModuleRecord, ...]:
        seen_params: set[int] = set()
        records = []
        for name, module in self.model.named_modules():
            params = trainable = 0
            for parameter in module.parameters(recurse=False):
                if id(parameter) in seen_params:
                    continue
                seen_params.add(id(parameter))
                params += parameter.numel()
                trainable += parameter.numel() if parameter.requires_grad else 0
            stats = 0
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
                stats = module.running_mean.numel() + module.running_var.numel()
            records.append(ModuleRecord(
                name=name, type_name=type(module).__name__, params=params, trainable_params=trainable,
                running_stats=stats, calls=self.calls.get(name, 0), first_call=self.first_call.get(name),
                output_shape=self.outputs.get(name), is_leaf=self.leaf[name],
                output_value=self.output_values.get(name),
            ))
        called = sorted((r for r in records if r.first_call is not None), key=lambda r: r.first_call)
        uncalled = [r for r in records if r.first_call is None]
        return tuple(called + uncalled)


def _bound_arguments(func, args, kwargs):
    """(schema argument name, value) for every argument of an ATen call, defaults included."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    bound = []
    for index, argument in enumerate(schema.arguments):
        if index < len(args):
            bound.append((argument.name, args[index]))
        elif argument.name in kwargs:
            bound.append((argument.name, kwargs[argument.name]))
        elif argument.has_default_value():
            bound.append((argument.name, argument.default_value))
    return bound


def _tensors(value):
    """The tensors in an argument (a tensor or a list of them), or None if it holds none."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) or v is None for v in value):
        found = [v for v in value if isinstance(v, torch.Tensor)]
        return found or None
    return None


def _plain(value):
    """A hashable, JSON-friendly copy of a non-tensor argument (lists become tuples, dtypes their names)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _numel(shape) -> int:
    if shape is None:
        return 0
    total = 1
    for size in shape:
        total *= size
    return total


def analyze(model: nn.Module, input_shape: tuple[int, ...], *, training: bool = False) -> Analysis:
    """Run ``model`` once on an input of ``input_shape`` (on the model's device) and record everything.

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
        failure = AnalysisFailure(f"{_first_line(error)} (in {where or 'the root module'})")
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


def _result(run: _Run, input_shape, training: bool, device, output_shape) -> Analysis:
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


def _unpack(tensor):
    return tensor


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
