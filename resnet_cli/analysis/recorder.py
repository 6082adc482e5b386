"""The recorder behind ``resnet_cli.analysis.analyze.analyze``: the modes and hooks that see every operator.

A ``TorchDispatchMode`` (``Recorder``) sees every ATen operator with its real arguments; a
``TorchFunctionMode`` (``FunctionTracker``) sees the Python-level call each operator came from (which is what
fvcore counts by); global module hooks say which module is running. ``Run`` holds what one run records —
operators with their costs and dataflow, modules, live memory, tensors saved for the backward — and the
analysis turns it into an immutable ``Analysis``.
"""

from __future__ import annotations

import dataclasses
import weakref

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from resnet_cli.analysis import meta_shortcuts
from resnet_cli.analysis import ops as formulas
from resnet_cli.analysis.records import BACKWARD, FORWARD, INPUT_VALUE, ModuleRecord, OpRecord
from resnet_cli.base.shapes import numel

_ORIGIN = "resnet_cli.origin"  # key of our tag in autograd nodes' metadata (nodes die with the graph)


def _storage_key(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage()._cdata


class FunctionTracker(TorchFunctionMode):
    """Remembers the outermost Python-level torch call in progress (nested calls are not seen).

    It sits above autograd, so when a call returns its outputs already carry their autograd node: in a
    training run that node is tagged with the module and category of the call, so the backward ops
    the node runs later are attributed to the same place.
    """

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.current = ""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        previous = self.current
        name = self.current = getattr(func, "__name__", str(func))
        start = len(self.run.ops)
        if func is torch.nn.functional.batch_norm and self.run.training:
            func = _batch_norm_unchecked
        try:
            out = func(*args, **(kwargs or {}))
        finally:
            self.current = previous
        if self.run.recording and not self.run.in_backward and len(self.run.ops) > start:
            # fvcore prices some calls (matmul, einsum) as a whole, from their own arguments (issue 18)
            counted = formulas.fvcore_call(name, args, kwargs, out)
            if counted:
                self.run.book_fvcore_call(start, counted)
        if self.run.training and self.run.recording and len(self.run.ops) > start:
            self.run.tag_autograd_nodes(out, start)
        return out


def _batch_norm_unchecked(
    input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """F.batch_norm without its training-mode check that each channel has more than one value.

    Counting a training step needs no batch statistics (on the meta device there are none), so a batch-1
    input whose last stage is 1×1 must not stop it; this is the operator F.batch_norm itself calls.
    """
    return torch.batch_norm(
        input, weight, bias, running_mean, running_var, training, momentum, eps, torch.backends.cudnn.enabled
    )


class Recorder(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a mode's __torch_dispatch__ in dynamo.disable unless told not to, and importing
        # dynamo costs over a second; we are never compiled, so there is nothing to disable.
        return False

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            out = meta_shortcuts.run(func, args, kwargs) if self.run.on_meta else func(*args, **kwargs)
        except Exception:
            if self.run.recording:
                self.run.failed_op = self.run.failing(func, args, kwargs)
            raise
        if self.run.recording:
            self.run.record(func, args, kwargs, out)
        return out


class Run:
    """Mutable state of one analysis run; turned into an immutable Analysis at the end."""

    def __init__(self, model: nn.Module, x: torch.Tensor, training: bool) -> None:
        self.model = model
        self.training = training
        self.on_meta = x.device.type == "meta"
        self.recording = False
        self.names: dict[int, str] = {}
        for name, module in model.named_modules():
            self.names.setdefault(id(module), name)
        # an adapter's modules whose work another module object does (a Keras layer): its calls are theirs
        for name, module in getattr(model, "module_aliases", lambda: ())():
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
        # the last op that raised: (op, Python call, activation shapes, parameter shapes, ops recorded before it)
        self.failed_op: tuple | None = None
        self.functions = FunctionTracker(self)
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
        self.derived = WeakIdKeyDictionary()  # tensors a data-movement op made from parameters alone
        self.views_are_parameters = bool(getattr(model, "views_are_parameters", False))
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
        entry = formulas.lookup(op)
        formula = entry.cost if entry is not None else None
        zero_cost = entry is not None and entry.moves_data
        if formula is not None:
            cost = formula(args, kwargs, out)
        else:
            cost = formulas.Cost(0, 0, formulas.OTHER)
        if phase == FORWARD:
            module, anchor, function = (self.stack[-1] if self.stack else ""), self.anchor, self.functions.current
            category = cost.category or self.context_category(entry, module, args)
        else:
            # a backward op belongs to the forward op whose autograd node runs it: same module, and
            # (for generic arithmetic) the same category. Gradients of a tensor used twice — the
            # residual fork — meet in an add.
            module, forward_category, anchor = self.backward_origin() or ("", formulas.OTHER, "")
            function = ""
            if cost.category:
                category = cost.category
            elif entry is not None and entry.kind == "add":
                category = formulas.RESIDUAL_ADD
            else:
                category = forward_category
        fv_flops = formulas.fvcore_flops(function, op, args, cost, out) if phase == FORWARD else 0
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        out_shape = tuple(first.shape) if isinstance(first, torch.Tensor) else None
        flow = self.dataflow(func, args, kwargs, out, zero_cost) if phase == FORWARD else ((), (), (), (), ())
        activations = 0
        if phase == FORWARD and category in (formulas.CONVOLUTION, formulas.LINEAR) and cost.macs:
            activations = numel(out_shape)
        self.ops.append(
            OpRecord(
                index=len(self.ops),
                op=op,
                function=function,
                module=module,
                anchor=anchor if module == "" else "",
                phase=phase,
                category=category,
                macs=cost.macs,
                flops=cost.flops,
                fvcore_flops=fv_flops,
                fvcore_activations=activations,
                supported=formula is not None or zero_cost,
                zero_cost=zero_cost and formula is None,
                output_shape=out_shape,
                inputs=flow[0],
                outputs=flow[1],
                input_shapes=flow[2],
                attrs=flow[3],
                param_shapes=flow[4],
            )
        )
        if phase == FORWARD:
            if entry is not None and entry.statistics_outputs and not self.training:
                out = out[:1]  # in inference the real kernels return empty statistics (meta gives C each)
            self.track_outputs(out)

    def dataflow(self, func, args, kwargs, out, moves_data: bool = False):
        """(inputs, outputs, input shapes, attrs, param shapes) of one forward op, from its ATen schema."""
        inputs, shapes, attrs, params = [], [], [], []
        for name, value in _bound_arguments(func, args, kwargs):
            tensors = _tensors(value)
            if tensors is None:
                attrs.append((name, _plain(value)))
                continue
            for tensor in tensors:
                if id(tensor) in self.parameter_ids or tensor in self.derived:
                    params.append((name, tuple(tensor.shape)))
                    continue
                value_id = self.values.get(tensor)
                if value_id is None:  # a tensor made outside any op we saw (a constant): a fresh value
                    value_id = self.new_value(tensor)
                inputs.append(value_id)
                shapes.append(tuple(tensor.shape))
        if moves_data and params and not inputs and self.views_are_parameters:
            # a parameter viewed, copied or transposed (Keras's conv kernel, H×W×Cin×Cout, made Cout×Cin×H×W
            # on every call) is still the parameter, not an activation, for a model that says so
            for tensor in _tensors(out) or ():
                self.derived[tensor] = True
            return (), (), (), tuple(attrs), tuple(params)
        outputs = []
        for tensor in _tensors(out) or ():
            outputs.append(self.new_value(tensor))  # an in-place op's result is a new value too
        return tuple(inputs), tuple(outputs), tuple(shapes), tuple(attrs), tuple(params)

    def failing(self, func, args, kwargs) -> tuple:
        """(op, Python call, its activations' shapes, its parameters' shapes, ops before it): what raised."""
        shapes, params = [], []
        for value in list(args) + list(kwargs.values()):
            for tensor in _tensors(value) or ():
                (params if id(tensor) in self.parameter_ids else shapes).append(tuple(tensor.shape))
        return str(func.overloadpacket), self.functions.current, tuple(shapes), tuple(params), len(self.ops)

    def new_value(self, tensor: torch.Tensor) -> int:
        value_id = self.next_value
        self.next_value += 1
        self.values[tensor] = value_id
        return value_id

    def book_fvcore_call(self, start: int, flops: int) -> None:
        """fvcore's count of a whole call (``ops.fvcore_call``) on the call's first costed op (ops[start:])."""
        ops = self.ops[start:]
        index = start + next((i for i, o in enumerate(ops) if not o.zero_cost), 0)
        self.ops[index] = dataclasses.replace(self.ops[index], fvcore_flops=self.ops[index].fvcore_flops + flops)

    def tag_autograd_nodes(self, out, start: int) -> None:
        """Tag the autograd nodes of a call's outputs with where its ops ran (ops[start:])."""
        ops = self.ops[start:]
        costly = [o for o in ops if not o.zero_cost] or ops
        origin = (costly[0].module, costly[0].category, costly[0].anchor)
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor) and tensor.grad_fn is not None:
                tensor.grad_fn.metadata[_ORIGIN] = origin

    def context_category(self, entry, module, args) -> str:
        module_category = formulas.MODULE_CATEGORIES.get(self.module_types.get(module, ""))
        if module_category and self.leaf.get(module, False):
            return module_category
        if entry is not None and entry.kind == "add":
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
            records.append(
                ModuleRecord(
                    name=name,
                    type_name=type(module).__name__,
                    params=params,
                    trainable_params=trainable,
                    running_stats=stats,
                    calls=self.calls.get(name, 0),
                    first_call=self.first_call.get(name),
                    output_shape=self.outputs.get(name),
                    is_leaf=self.leaf[name],
                    output_value=self.output_values.get(name),
                )
            )
        called = sorted((r for r in records if r.first_call is not None), key=lambda r: r.first_call)
        uncalled = [r for r in records if r.first_call is None]
        return tuple(called + uncalled)


class SchemaUnreadable(Exception):
    """An operator whose ATen schema cannot be read: a bug of ours (or a torch change), never a model's fault.

    Not a RuntimeError, so the analysis does not mistake it for the model failing: it reaches the one line
    kept for our own bugs, naming the operator."""


def _bound_arguments(func, args, kwargs):
    """(schema argument name, value) for every argument of an ATen call, defaults included.

    The names come from the op's schema (``OpOverload._schema``, private but the only source of argument names;
    tests/test_formulas.py pins it). Without them receptive fields and alignment would silently read the wrong
    arguments, so a missing schema fails loudly, naming the op."""
    bound = []
    for index, (name, has_default, default) in enumerate(_schema_arguments(func)):
        if index < len(args):
            bound.append((name, args[index]))
        elif name in kwargs:
            bound.append((name, kwargs[name]))
        elif has_default:
            bound.append((name, default))
    return bound


_SCHEMAS: dict = {}  # op overload -> ((argument name, has a default, the default), ...): read once per op


def _schema_arguments(func) -> tuple:
    found = _SCHEMAS.get(func)
    if found is None:
        schema = getattr(func, "_schema", None)
        arguments = getattr(schema, "arguments", None)
        if arguments is None:
            raise SchemaUnreadable(f"cannot read the ATen schema of {func!r}: its argument names are unknown")
        found = _SCHEMAS[func] = tuple(
            (a.name, a.has_default_value(), a.default_value if a.has_default_value() else None) for a in arguments
        )
    return found


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


def unpack(tensor):
    return tensor
