"""The structural view of one analysis: every executed operator that shapes the computation, as a signature.

``layers(analysis)`` reads the analysis core's forward ``OpRecord``s (their dataflow, schema arguments and
parameter shapes) and keeps the operators that compute something or change a tensor's shape — convs,
batch norms, activations, pools, additions, linear layers, subsampling slices, channel padding — as
``Layer``s. Views, copies and allocations are left out (they compute nothing). Two layers with equal
``key`` do the same thing to the same number of channels; equal ``spatial`` adds the same spatial sizes.
Names never enter a signature: that is what lets differently named models align.

The kind of each operator comes from the one operator table (``resnet_cli.analysis.ops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops as formulas
from resnet_cli.base.shapes import numel
from resnet_cli.structure.normalise import normalise

if TYPE_CHECKING:
    from resnet_cli.analysis.records import Analysis, OpRecord

_IGNORED_ATTRS = frozenset(
    {
        "dtype",
        "layout",
        "device",
        "pin_memory",
        "memory_format",
        "out",
        "training",
        "momentum",
        "cudnn_enabled",
        "transposed",
        "output_padding",
    }
)
_CONFIG = {  # the schema arguments that define each kind (everything else is shape or bookkeeping)
    "conv": ("stride", "padding", "dilation", "groups"),
    "maxpool": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avgpool": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "slice": ("dim", "start", "step"),
    "pad": ("pad", "value"),
    "cat": ("dim",),
    "add": ("alpha",),
}
ACTIVATIONS = frozenset(
    {
        "relu",
        "sigmoid",
        "silu",
        "gelu",
        "hardtanh",
        "leaky_relu",
        "elu",
        "tanh",
        "hardswish",
        "relu6",
        "mish",
        "softplus",
        "prelu",
    }
)


@dataclass(frozen=True)
class Layer:
    """One executed operator that shapes the computation."""

    index: int  # its position in Analysis.ops
    kind: str  # conv, bn, relu, add, maxpool, avgpool, gap, linear, slice, pad, mul, sigmoid …
    module: str  # innermost module that ran it ("" = the root's own forward)
    config: tuple[tuple[str, object], ...]  # what it does: kernel, stride, padding, groups, bias …
    in_shapes: tuple[tuple[int, ...], ...]  # its activation inputs (parameters excluded)
    out_shape: tuple[int, ...] | None
    tensors: tuple[tuple[str, str, tuple[int, ...]], ...]  # (module, schema argument, shape) it reads
    params: int  # parameter elements it reads (BatchNorm running statistics are buffers: not counted)
    flops: int  # fvcore's count
    inputs: tuple[int, ...]  # dataflow values (through views: the value a view was taken of)
    outputs: tuple[int, ...]
    residual: bool = False  # an addition of two activations of one shape
    # what changes no count, shape or parameter (a BatchNorm's eps, momentum): never part of ``key``
    settings: tuple[tuple[str, object], ...] = ()

    def get(self, name: str, default=None):
        for key, value in self.config:
            if key == name:
                return value
        return default

    @property
    def in_channels(self) -> tuple[int | None, ...]:
        return tuple(_channels(s) for s in self.in_shapes)

    @property
    def out_channels(self) -> int | None:
        return _channels(self.out_shape)

    @property
    def key(self) -> tuple:
        """What it does and to how many channels: equal keys are the same layer up to spatial size."""
        return (self.kind, self.config, self.in_channels, self.out_channels)

    @property
    def spatial(self) -> tuple:
        # a global pool's output has no spatial size, kept as 1×1 (adaptive pool) or dropped (a mean)
        out = () if self.kind == "gap" else self.out_shape[2:] if self.out_shape else None
        return (tuple(s[2:] for s in self.in_shapes), out)

    @property
    def kernel(self) -> tuple[int, ...] | None:
        return self.get("kernel")

    @property
    def stride(self) -> int:
        stride = self.get("stride") or (1,)
        return max(stride) if isinstance(stride, tuple) else stride

    @property
    def is_activation(self) -> bool:
        return self.kind in ACTIVATIONS


def _channels(shape) -> int | None:
    return shape[1] if shape is not None and len(shape) >= 2 else None


def _kind(op: OpRecord) -> str | None:
    """The layer kind of a forward op, or None for views, copies and allocations."""
    entry = formulas.lookup(op.op)
    if entry is not None and entry.shaping:
        if entry.kind == "slice" and op.input_shapes and op.output_shape == op.input_shapes[0]:
            return None  # x[:, :] selects everything: a view
        return entry.kind
    if op.zero_cost:
        return None
    kind = formulas.kind_of(op.op)
    spatial_in = op.input_shapes[0][2:] if op.input_shapes and len(op.input_shapes[0]) > 2 else ()
    out = op.output_shape or ()
    if kind == "mean":
        dims = op.attr("dim") or ()
        rank = len(op.input_shapes[0]) if op.input_shapes else 0
        spatial_dims = set(range(2, rank))
        if spatial_dims and {d % rank for d in dims} == spatial_dims:
            return "gap"  # x.mean((2, 3)): a global average pool
    if kind == "adaptive_avgpool" and all(s == 1 for s in out[2:]):
        return "gap"
    if (
        kind == "avgpool"
        and out[2:]
        and all(s == 1 for s in out[2:])
        and tuple(op.attr("kernel_size") or ()) == tuple(spatial_in)
        and not any(op.attr("padding") or ())
    ):
        return "gap"  # F.avg_pool2d(x, 4) on a 4×4 map: the same global average
    if kind == "threshold":
        return "relu"
    return kind


def _config(kind: str, op: OpRecord, weights: list[tuple[str, tuple[int, ...]]]) -> tuple:
    if kind == "conv":
        weight = next((shape for name, shape in weights if name == "weight"), None)
        has_bias = any(name == "bias" for name, _ in weights)
        values = [("kernel", tuple(weight[2:]) if weight else None)]
        values += [(name, op.attr(name)) for name in _CONFIG["conv"]]
        if op.attr("transposed"):
            values.append(("transposed", True))
        return tuple(values + [("bias", has_bias)])
    if kind == "bn":
        return (("affine", any(name == "weight" for name, _ in weights)),)
    if kind == "linear":
        fused = formulas.lookup(op.op).fused_bias  # addmm(bias, x, w^T): the bias is an input, not a parameter
        return (("bias", fused or any(name == "bias" for name, _ in weights)),)
    if kind in ("gap", "relu"):
        return ()
    if kind in _CONFIG:
        values = [(name, op.attr(name)) for name in _CONFIG[kind]]
        if kind == "slice" and op.attr("start") is None:
            values = [(n, 0 if n == "start" else v) for n, v in values]
        return tuple(values)
    return tuple((name, value) for name, value in op.attrs if name not in _IGNORED_ATTRS)


def layers(analysis: Analysis) -> tuple[Layer, ...]:
    """The forward ops of ``analysis`` that shape the computation, in execution order."""
    alias: dict[int, int] = {}  # a view's value -> the value it was taken of
    carried: dict[int, list] = {}  # a value made from a parameter by a view (a linear's transposed weight)
    layouts: dict[int, tuple[int, ...]] = {}  # a permuted value -> its dims' order (see _canonical)
    found = []
    for op in analysis.ops:
        if op.phase != formulas.FORWARD:
            continue
        kind = _kind(op)
        inputs = tuple(alias.get(v, v) for v in op.inputs)
        if kind is None:
            activation = [v for v in inputs if v not in carried]
            first = next((raw for raw, v in zip(op.inputs, inputs) if v not in carried), None)
            for out in op.outputs:
                if activation:
                    alias[out] = activation[0]
                    _follow_layout(layouts, op, first, out)
                elif op.param_shapes:
                    carried[out] = [(op.module, name, shape) for name, shape in op.param_shapes]
            continue
        tensors = [(op.module, name, tuple(shape)) for name, shape in op.param_shapes]
        real_inputs, shapes, layout = [], [], None
        for raw, value, shape in zip(op.inputs, inputs, op.input_shapes, strict=False):
            if value in carried:
                tensors += carried[value]
            else:
                real_inputs.append(value)
                shapes.append(_canonical(shape, layouts.get(raw)))
                layout = layout or layouts.get(raw)
        out_shape = op.output_shape
        if layout and (kind in ACTIVATIONS or kind in _ELEMENTWISE) and op.outputs:
            layouts[op.outputs[0]] = layout  # an elementwise op keeps its input's layout
            out_shape = _canonical(out_shape, layout)
        weights = [(name, shape) for _, name, shape in tensors]
        params = sum(numel(shape) for _, name, shape in tensors if not name.startswith("running_"))
        found.append(
            Layer(
                index=op.index,
                kind=kind,
                module=op.module,
                config=_config(kind, op, weights),
                in_shapes=tuple(shapes),
                out_shape=out_shape,
                tensors=tuple(tensors),
                params=params,
                flops=op.fvcore_flops,
                inputs=tuple(real_inputs),
                outputs=op.outputs[:1],
                residual=kind == "add" and op.category == formulas.RESIDUAL_ADD and len(real_inputs) == 2,
                settings=_settings(kind, op),
            )
        )
    return normalise(tuple(found))


SETTINGS = {"bn": ("eps", "momentum")}  # per kind: the arguments that change no count, shape or parameter


def _settings(kind: str, op: OpRecord) -> tuple:
    return tuple((name, op.attr(name)) for name in SETTINGS.get(kind, ()) if op.attr(name) is not None)


# ---- layouts: a permuted tensor is the same value (Keras's channels-last model between torch's convs) ----

_ELEMENTWISE = frozenset({"add", "mul", "sub", "div"})


def _follow_layout(layouts: dict, op: OpRecord, source: int | None, out: int) -> None:
    """The dims' order of a view's output: a permute composes its dims with its input's; any other view of the
    same rank keeps its input's (a reshape to another rank ends it)."""
    before = layouts.get(source) if source is not None else None
    entry = formulas.lookup(op.op)
    if entry is not None and entry.receptive == "permute" and op.attr("dims"):
        dims = tuple(d % len(op.attr("dims")) for d in op.attr("dims"))
        base = before or tuple(range(len(dims)))
        layout = tuple(base[d] for d in dims)
        if layout != tuple(range(len(dims))):
            layouts[out] = layout
    elif before and op.output_shape and len(op.output_shape) == len(before):
        layouts[out] = before


def _canonical(shape, layout: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` in the order of the dims of the value it was permuted from (N×H×W×C seen as N×C×H×W): a
    layout is not structure."""
    shape = tuple(shape) if shape is not None else shape
    if not layout or shape is None or len(layout) != len(shape):
        return shape
    canonical = [0] * len(shape)
    for position, dim in enumerate(layout):
        canonical[dim] = shape[position]
    return tuple(canonical)


# ---- in words ----


def _pair(value) -> str:
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value) if len(set(value)) > 1 else str(value[0])
    return str(value)


def describe(layer: Layer) -> str:
    """A short description: "1×1/2 conv 256→512", "BatchNorm2d(256)", "ReLU", "3×3/2 max-pool" …"""
    kind = layer.kind
    if kind == "conv":
        kernel = "×".join(str(k) for k in layer.kernel or ())
        stride = f"/{layer.stride}" if layer.stride > 1 else ""
        text = f"{kernel}{stride} conv {layer.in_channels[0]}→{layer.out_channels}"
        if layer.get("groups", 1) > 1:
            text += f", {layer.get('groups')} groups"
        return text + (" with bias" if layer.get("bias") else "")
    if kind == "bn":
        return f"BatchNorm2d({layer.out_channels})"
    if kind == "linear":
        return f"Linear({layer.in_shapes[0][-1] if layer.in_shapes else '?'}→{layer.out_shape[-1]})"
    if kind in ("maxpool", "avgpool"):
        size = _pair(layer.get("kernel_size"))
        return f"{size}×{size}/{_pair(layer.get('stride'))} {kind[:3]}-pool"
    if kind == "gap":
        return "global average pool"
    if kind == "add":
        return "residual addition" if layer.residual else "addition"
    if kind == "slice":
        return f"subsampling (every {layer.get('step')}th along dim {layer.get('dim')})"
    if kind == "pad":
        return _pad_words(layer)
    names = {"relu": "ReLU", "sigmoid": "sigmoid", "mul": "multiplication"}
    return names.get(kind, kind)


def _pad_words(layer: Layer) -> str:
    """ "zero-padding of channels", "zero-padding of height and width (0, 1, 0, 1)" …"""
    pad = tuple(layer.get("pad") or ())
    zero = layer.get("value") in (None, 0, 0.0)
    noun = "zero-padding" if zero else "padding"
    spatial, channels = pad[:4], pad[4:6]
    if any(channels) and not any(spatial):
        return f"{noun} of channels"
    where = (
        "height and width"
        if len(spatial) == 4 and any(spatial[2:4]) and any(spatial[:2])
        else "width"
        if any(spatial[:2])
        else "height"
    )
    sides = f" ({', '.join(map(str, pad))})" if len(set(spatial)) > 1 else f" by {spatial[0]}" if spatial else ""
    return f"{noun} of {where}{sides}" + (" and channels" if any(channels) else "")
