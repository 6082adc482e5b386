"""The theoretical receptive field of every value a model computes, from the analysis' recorded dataflow.

For each spatial axis of the input (H and W of an NCHW image) a value carries a ``Span``: unit ``i`` along
that axis sees the input pixels ``start + i·jump … start + i·jump + size − 1``. The input itself is
``start 0, size 1, jump 1``. Each forward op maps the spans of the values it reads to the spans of what
it writes (Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019):

* a window (convolution, max/avg pool) of kernel k, stride s, padding p, dilation d:
  ``start −= p·jump``, ``size += (k − 1)·d·jump``, ``jump ·= s``;
* an op that reads several values at the same positions (the residual add, a concatenation of
  channels, a multiply) sees the union of their regions: the largest path through the residual graph;
* a reduction over a spatial axis (global average pool, the squeeze of squeeze-excitation) sees the whole
  input along it (``size None``), and so does everything computed from it;
* views, slices (``x[:, :, ::2]``: a 1×1 window of stride 2), padding and permutes move or relabel axes.

Convs and pools are exact. Transposed convs and upsampling make the jump fractional: a unit's region then
depends on its parity, and its span is the continuous hull (a superset, at most a pixel wider per side).

Padding is counted, as in the papers: a unit at the border "sees" pixels outside the image, so the field
can be larger than the input (resnet50's layer4: 427 pixels at 224×224). The check against autograd —
the support of d(unit)/d(input), clipped to the input — is in tests/test_receptive.py.

It reads the plain records of ``resnet_cli.analysis.records``; which rule an op follows is the operator table's
answer (``resnet_cli.analysis.ops``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from math import ceil, floor, prod
from numbers import Rational
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops

if TYPE_CHECKING:
    from resnet_cli.analysis.records import Analysis, OpRecord


@dataclass(frozen=True)
class Span:
    """What the units along one spatial axis of a value see of that axis of the input."""

    start: Rational  # input coordinate of the first pixel unit 0 sees (negative: it reaches into padding)
    size: Rational | None  # pixels one unit sees; None: the whole input along this axis
    jump: Rational  # input pixels between adjacent units: the effective stride
    dim: int | None  # the tensor dimension that holds this axis; None once it was reduced away


@dataclass(frozen=True)
class ReceptiveField:
    """One value's field: a ``Span`` per spatial axis of the input (H, W)."""

    spans: tuple[Span, ...]

    @property
    def size(self) -> tuple[int | float | None, ...]:
        return tuple(None if s.size is None else _number(s.size) for s in self.spans)

    @property
    def stride(self) -> tuple[int | float, ...] | None:
        """The jump between adjacent units, per axis; None when the value has no spatial axes left."""
        if any(s.dim is None for s in self.spans):
            return None
        return tuple(_number(s.jump) for s in self.spans)

    @property
    def is_global(self) -> bool:
        """Every unit sees the whole input, whatever its size (after a global pool, or gated by one)."""
        return all(s.size is None for s in self.spans)

    def region(self, unit: tuple[int, ...]) -> tuple[tuple[Rational, Rational] | None, ...]:
        """Per axis, the first and last input pixel unit ``unit`` sees (unclipped; None: all of them)."""
        bounds = []
        for span, index in zip(self.spans, unit):
            if span.size is None:
                bounds.append(None)
            else:
                first = span.start + index * span.jump
                bounds.append((first, first + span.size - 1))
        return tuple(bounds)

    def as_dict(self) -> dict:
        return {
            "size": None if self.is_global else list(self.size),
            "stride": list(self.stride) if self.stride is not None else None,
            "global": self.is_global,
        }


def _number(value: Rational) -> int | float:
    return int(value) if value.denominator == 1 else round(float(value), 4)


def receptive_fields(analysis: Analysis) -> dict[int, ReceptiveField]:
    """The field of every value the forward pass computed, by value id (values that depend on no input
    pixel — constants, parameters viewed — are left out)."""
    from resnet_cli.analysis.records import FORWARD, INPUT_VALUE

    rank = len(analysis.input_shape)
    spatial = range(2, rank) if rank >= 3 else range(0)
    # plain ints: only fractional strides (transposed convs, upsampling) turn a span into Fractions
    fields = {INPUT_VALUE: ReceptiveField(tuple(Span(0, 1, 1, d) for d in spatial))}
    if not fields[INPUT_VALUE].spans:
        return {}
    canonical = _canonical(analysis)
    for op in analysis.ops:
        if op.phase != FORWARD or not op.outputs:
            continue
        read = [(fields[v], shape) for v, shape in zip(op.inputs, op.input_shapes) if v in fields]
        if not read:
            continue
        layer = canonical.get(op.index)
        if layer is None and ops.kind_of(op.op) in _FOLDABLE:
            field = read[0][0]  # normalised away: a zero-padding its conv (pool) now holds, a 1×1 pool of stride 1
        elif layer is not None and (ops.kind_of(op.op), layer.kind) in _CANONICAL_RULES:
            field = _CANONICAL_RULES[ops.kind_of(op.op), layer.kind](op, read, layer)
        elif layer is not None and layer.kind in ("conv", "maxpool", "avgpool") and layer.get("padding") is not None:
            field = _canonical_window(op, read, layer)
        else:
            entry = ops.lookup(op.op)
            rule = _RULES[entry.receptive] if entry is not None else _elementwise
            field = rule(op, read)
        for value in op.outputs:
            fields[value] = field
    return fields


_FOLDABLE = ("pad", "maxpool", "avgpool")  # the operators a normalisation rule can leave out


def _canonical(analysis: Analysis) -> dict:
    """Op index -> its layer in the one canonical structure (``resnet_cli.structure.layers``), which every
    reader of the structure shares: what computes the same thing has the same field (issue 16)."""
    from resnet_cli.structure.layers import layers

    return {layer.index: layer for layer in layers(analysis)}


def _canonical_window(op: OpRecord, read, layer) -> ReceptiveField:
    """A conv or pool with the padding the normalisation gave it (its own plus a folded zero-padding's): it
    reads the field of the padding's input, which the folded padding passed on unshifted."""
    padding = layer.get("padding")
    if layer.kind == "conv":
        if layer.kernel is None or layer.get("transposed"):
            return _convolution(op, read)
        return _window(op, read[:1], tuple(layer.kernel), layer.get("stride"), padding, layer.get("dilation"))
    _, shape = read[0]
    kernel = _per_dim(layer.get("kernel_size"), _pool_dims(op.op, shape))
    return _window(op, read[:1], kernel, layer.get("stride"), padding, layer.get("dilation"))


def _as_linear(op: OpRecord, read, layer) -> ReceptiveField:
    """A 1×1 conv on a 1×1 map is a linear layer: its output has no spatial axes left (as after a flatten)."""
    field = _union(read, op.output_shape if op.output_shape is not None else read[0][1])
    return ReceptiveField(tuple(replace(span, dim=None) for span in field.spans))


def _as_global_pool(op: OpRecord, read, layer) -> ReceptiveField:
    """An average pool whose window is the whole map is the global average pool: every unit sees everything."""
    field, shape = read[0]
    spatial = set(range(2, len(shape)))
    return ReceptiveField(tuple(replace(span, size=None) if span.dim in spatial else span for span in field.spans))


# (operator kind, canonical kind): an operator the normalisation reads as another kind of layer (a mean or an
# adaptive pool to 1×1 is a global pool already: their own rules say so)
_CANONICAL_RULES = {("conv", "linear"): _as_linear, ("avgpool", "gap"): _as_global_pool}


def module_fields(analysis: Analysis) -> dict[str, ReceptiveField]:
    """The field of each called module's output, by module name (the last call's output)."""
    fields = receptive_fields(analysis)
    found = {}
    for module in analysis.modules:
        value = getattr(module, "output_value", None)
        if value is not None and value in fields:
            found[module.name] = fields[value]
    return found


# ---- the rules, one per kind of op ----


def _per_dim(value, count: int) -> tuple:
    if isinstance(value, (list, tuple)):
        values = tuple(value) or (None,)
        return values * count if len(values) == 1 else values[-count:]
    return (value,) * count


def _over_trailing_dims(field: ReceptiveField, shape, count: int, rule) -> ReceptiveField:
    """Apply ``rule(span, axis)`` to the spans of the last ``count`` dims of ``shape``; the others pass."""
    first = len(shape) - count
    spans = []
    for span in field.spans:
        axis = None if span.dim is None else span.dim - first
        spans.append(span if axis is None or not 0 <= axis < count else rule(span, axis))
    return ReceptiveField(tuple(spans))


def _window(op: OpRecord, read, kernel, stride, padding, dilation, transposed=False) -> ReceptiveField:
    """A sliding window over the last len(kernel) dims of the first value read."""
    field, shape = read[0]
    count = len(kernel)
    stride = tuple(kernel[i] if s in (None, 0) else s for i, s in enumerate(_per_dim(stride, count)))
    padding = _per_dim(padding if padding is not None else 0, count)
    dilation = _per_dim(dilation if dilation is not None else 1, count)

    def rule(span, axis):
        k, s, p, d = kernel[axis], stride[axis], padding[axis], dilation[axis] or 1
        reach = (k - 1) * d
        if transposed:  # output o reads input (o + p − t·d) / s: the window, scaled down by the stride
            start = span.start + span.jump * Fraction(p - reach, s)
            size = None if span.size is None else span.size + span.jump * Fraction(reach, s)
            return replace(span, start=start, size=size, jump=Fraction(span.jump) / s)
        size = None if span.size is None else span.size + reach * span.jump
        return replace(span, start=span.start - p * span.jump, size=size, jump=span.jump * s)

    return _over_trailing_dims(field, shape, count, rule)


def _convolution(op: OpRecord, read) -> ReceptiveField:
    weight = dict(op.param_shapes).get("weight")
    if weight is None and len(op.input_shapes) > 1:  # a functional conv whose weight is computed
        weight = op.input_shapes[1]
    if weight is None or len(weight) < 3:
        return _elementwise(op, read)
    kernel = tuple(weight[2:])
    return _window(
        op,
        read[:1],
        kernel,
        op.attr("stride"),
        op.attr("padding"),
        op.attr("dilation"),
        transposed=bool(op.attr("transposed", False)),
    )


def _pool(op: OpRecord, read) -> ReceptiveField:
    _, shape = read[0]
    count = _pool_dims(op.op, shape)
    kernel = _per_dim(op.attr("kernel_size"), count)
    return _window(op, read[:1], kernel, op.attr("stride"), op.attr("padding"), op.attr("dilation"))


def _pool_dims(name: str, shape) -> int:
    """The trailing dims a pool slides over: its own (max_pool2d: 2), else every dim after N and C."""
    return ops.lookup(name).spatial_dims or max(len(shape) - 2, 1)


def _adaptive_pool(op: OpRecord, read) -> ReceptiveField:
    """Adaptive pooling: output unit i averages input units floor(i·n/o) … ceil((i+1)·n/o) − 1."""
    field, shape = read[0]
    out = op.output_shape or shape
    count = _pool_dims(op.op, shape)
    first = len(shape) - count

    def rule(span, axis):
        n, o = shape[first + axis], out[first + axis]
        if o == 1:
            return replace(span, size=None)
        window = max(ceil((i + 1) * n / o) - floor(i * n / o) for i in range(o))
        size = None if span.size is None else span.size + (window - 1) * span.jump
        return replace(span, size=size, jump=span.jump * Fraction(n, o))

    return _over_trailing_dims(field, shape, count, rule)


def _reduction(op: OpRecord, read) -> ReceptiveField:
    """mean, sum, amax … over some dims: the units see every position along those axes."""
    field, shape = read[0]
    dims = op.attr("dim")
    if dims is None or dims == ():
        dims = tuple(range(len(shape)))
    dims = {d % len(shape) for d in ((dims,) if isinstance(dims, int) else dims)}
    keep = bool(op.attr("keepdim", False))
    spans = []
    for span in field.spans:
        if span.dim is None:
            spans.append(span)
        elif span.dim in dims:
            spans.append(replace(span, size=None, dim=span.dim if keep else None))
        else:
            shift = 0 if keep else sum(1 for d in dims if d < span.dim)
            spans.append(replace(span, dim=span.dim - shift))
    return _union([(ReceptiveField(tuple(spans)), op.output_shape)] + read[1:], op.output_shape)


def _softmax(op: OpRecord, read) -> ReceptiveField:
    field, shape = read[0]
    dim = op.attr("dim", -1) % len(shape)
    spans = tuple(replace(s, size=None) if s.dim == dim else s for s in field.spans)
    return ReceptiveField(spans)


def _slice(op: OpRecord, read) -> ReceptiveField:
    """x[..., start:end:step] on one dim: a 1×1 window of stride ``step`` starting at ``start``."""
    field, shape = read[0]
    dim = op.attr("dim", 0) % len(shape)
    start = op.attr("start") or 0
    if start < 0:
        start += shape[dim]
    step = op.attr("step", 1) or 1
    spans = tuple(
        replace(s, start=s.start + start * s.jump, jump=s.jump * step) if s.dim == dim else s for s in field.spans
    )
    return ReceptiveField(spans)


def _select(op: OpRecord, read) -> ReceptiveField:
    field, shape = read[0]
    dim = op.attr("dim", 0) % len(shape)
    index = op.attr("index", 0) or 0
    if index < 0:
        index += shape[dim]
    spans = []
    for span in field.spans:
        if span.dim == dim:
            spans.append(replace(span, start=span.start + index * span.jump, dim=None))
        elif span.dim is not None and span.dim > dim:
            spans.append(replace(span, dim=span.dim - 1))
        else:
            spans.append(span)
    return ReceptiveField(tuple(spans))


def _pad(op: OpRecord, read) -> ReceptiveField:
    """Padding (pad = (left of the last dim, right of it, left of the one before, …)) shifts the start."""
    field, shape = read[0]
    pad = op.attr("pad") or op.attr("padding") or ()
    spans = []
    for span in field.spans:
        before = len(shape) - 1 - span.dim if span.dim is not None else None
        if before is not None and 2 * before < len(pad):
            spans.append(replace(span, start=span.start - pad[2 * before] * span.jump))
        else:
            spans.append(span)
    return ReceptiveField(tuple(spans))


def _permute(op: OpRecord, read) -> ReceptiveField:
    field, shape = read[0]
    order = [d % len(shape) for d in (op.attr("dims") or ())]
    spans = tuple(
        replace(s, dim=order.index(s.dim)) if s.dim is not None and s.dim in order else s for s in field.spans
    )
    return ReceptiveField(spans)


def _transpose(op: OpRecord, read) -> ReceptiveField:
    field, shape = read[0]
    if ops.is_transpose_2d(op.op):
        a, b = 0, 1
    else:
        a, b = op.attr("dim0", 0) % len(shape), op.attr("dim1", 1) % len(shape)
    swap = {a: b, b: a}
    spans = tuple(replace(s, dim=swap.get(s.dim, s.dim)) if s.dim is not None else s for s in field.spans)
    return ReceptiveField(spans)


def _reshape(op: OpRecord, read) -> ReceptiveField:
    """view / reshape / flatten / unsqueeze …: a dim that survives whole keeps its axis; one merged with
    others (a flatten of H and W) can no longer be followed, so its units are taken to see everything."""
    field, shape = read[0]
    out = op.output_shape
    if out is None:
        return field
    spans = []
    for span in field.spans:
        if span.dim is None:
            spans.append(span)
            continue
        before = prod(shape[: span.dim])
        spot = next((e for e in range(len(out)) if prod(out[:e]) == before and out[e] == shape[span.dim]), None)
        if spot is None and shape[span.dim] == 1:  # a size-1 axis dropped or moved: nothing mixed in
            spans.append(replace(span, dim=None))
        elif spot is None:
            spans.append(replace(span, size=None, dim=None))
        else:
            spans.append(replace(span, dim=spot))
    return ReceptiveField(tuple(spans))


def _upsample(op: OpRecord, read) -> ReceptiveField:
    """Nearest (one source unit) or linear interpolation (two): the jump shrinks by the scale factor."""
    field, shape = read[0]
    out = op.output_shape or shape
    count = len(shape) - 2
    first = 2
    taps = ops.lookup(op.op).taps
    spans = []
    for span in field.spans:
        axis = None if span.dim is None else span.dim - first
        if axis is None or not 0 <= axis < count or out[span.dim] == 0:
            spans.append(span)
            continue
        jump = span.jump * Fraction(shape[span.dim], out[span.dim])
        size = None if span.size is None else span.size + (taps - 1) * span.jump
        spans.append(replace(span, size=size, jump=jump))
    return ReceptiveField(tuple(spans))


def _elementwise(op: OpRecord, read) -> ReceptiveField:
    """Any other op: its inputs broadcast against its output (aligned from the last dim), and each output
    unit sees the union of what the inputs' units at its position see. An input dim the op changes in a
    way we cannot follow (a matrix product over a spatial dim) makes its axis whole."""
    return _union(read, op.output_shape if op.output_shape is not None else read[0][1])


def _union(read, out) -> ReceptiveField:
    merged: list[Span | None] = [None] * len(read[0][0].spans)
    for field, shape in read:
        for axis, span in enumerate(field.spans):
            span = _aligned(span, shape, out)
            merged[axis] = span if merged[axis] is None else _join(merged[axis], span)
    return ReceptiveField(tuple(merged))


def _aligned(span: Span, shape, out) -> Span:
    if span.dim is None or out is None:
        return span
    dim = span.dim + len(out) - len(shape)
    if 0 <= dim < len(out) and (out[dim] == shape[span.dim] or shape[span.dim] == 1):
        return replace(span, dim=dim)
    return replace(span, size=None, dim=dim if 0 <= dim < len(out) else None)


def _join(a: Span, b: Span) -> Span:
    dim = a.dim if a.dim is not None else b.dim
    jump = max(a.jump, b.jump)
    if a.size is None or b.size is None:
        return Span(min(a.start, b.start), None, jump, dim)
    start = min(a.start, b.start)
    end = max(a.start + a.size, b.start + b.size)
    return Span(start, end - start, jump, dim)


_RULES = {  # the rule names of the operator table (``resnet_cli.analysis.ops.Op.receptive``)
    "conv": _convolution,
    "pool": _pool,
    "adaptive_pool": _adaptive_pool,
    "reduction": _reduction,
    "softmax": _softmax,
    "slice": _slice,
    "select": _select,
    "pad": _pad,
    "permute": _permute,
    "transpose": _transpose,
    "reshape": _reshape,
    "upsample": _upsample,
    "elementwise": _elementwise,
}
