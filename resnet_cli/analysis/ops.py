"""The one operator table: every ATen operator the project knows, what it costs and what it is.

``OPS`` is keyed by the ATen overload packet (``torch.ops.aten.convolution``; a typo fails at import) and
stored under its name as the analysis records it (``"aten.convolution"``). Each entry (``Op``) carries:

* ``cost``: the formula that prices one call — (args, kwargs, out) -> ``Cost``: multiply-accumulates
  (convolution and matrix products only) and FLOPs, 2 per multiply-accumulate and 1 per elementwise
  arithmetic operation unless the formula says otherwise;
* ``moves_data``: the op only allocates, views, copies or pads data: 0 FLOPs by definition;
* ``kind``: what the op is to the structural reading (``conv``, ``bn``, ``relu``, ``maxpool``, ``linear``,
  ``add``, ``slice``, ``pad`` …; ``resnet_cli.structure``, ``report.draw``), and ``shaping`` for the data
  movement that still changes what a tensor holds (the option-A shortcut's subsampling and channel padding,
  nearest upsampling);
* ``receptive``: the receptive-field rule that maps its input's field to its output's
  (``resnet_cli.structure.receptive``), with ``spatial_dims`` for pools and ``taps`` for upsampling;
* ``view``: the op names existing storage (or allocates without writing): no new activation elements;
* ``fvcore``: fvcore's count of the op, by the Python-level call it ran inside (see below).

An operator that no entry costs and that does not only move data is *unsupported*: it is still recorded and
reported with its call count, never silently dropped. Nothing outside this module spells an ATen name
(tests/test_layout.py checks it).

fvcore's convention (``fvcore_flops``, ``fvcore_call``) follows fvcore's own handles
(``fvcore/nn/jit_handles.py``), which count the operators a ``torch.jit`` trace records: the Python-level call
(``conv2d``, ``linear``, ``layer_norm``, ``interpolate`` …) rather than the ATen ops it decomposes into. So each
entry's ``fvcore`` rule reads the call its op ran inside, and a call fvcore prices from its own arguments
(``matmul``, ``einsum``: ``FVCORE_CALLS``) is priced once, as a whole, by ``fvcore_call``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

import torch

from resnet_cli.analysis.records import BACKWARD, FORWARD  # noqa: F401  (the two phases, re-exported)
from resnet_cli.base.shapes import numel

aten = torch.ops.aten

# Categories, in the order reports list them.
CONVOLUTION = "convolution"
LINEAR = "linear"
BATCH_NORM = "batch_norm"
ACTIVATION = "activation"
POOLING = "pooling"
RESIDUAL_ADD = "residual_add"
OTHER = "other"
CATEGORIES = (CONVOLUTION, LINEAR, BATCH_NORM, ACTIVATION, POOLING, RESIDUAL_ADD, OTHER)


@dataclass(frozen=True)
class Cost:
    macs: int
    flops: int
    category: str | None  # None: take the category from the enclosing module / context


def _shape(value):
    return tuple(value.shape) if hasattr(value, "shape") else None


# ---- formulas: (args, kwargs, out) -> Cost.  Shapes come from the tensors the op really saw. ----


def _convolution(args, kwargs, out) -> Cost:
    # aten.convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    weight, bias, transposed = args[1], args[2], args[6]
    out_shape = _shape(out)
    in_shape = _shape(args[0])
    # weight is [Cout, Cin/groups, k...] (transposed: [Cin, Cout/groups, k...]); one MAC per weight per
    # output position, so MACs = N * Cout * prod(out spatial) * Cin/groups * prod(kernel)
    if transposed:
        macs = numel(in_shape) * numel(weight.shape[1:])
    else:
        macs = numel(out_shape) * numel(weight.shape[1:])
    bias_adds = numel(out_shape) if bias is not None else 0
    return Cost(macs, 2 * macs + bias_adds, CONVOLUTION)


def _convolution_backward(args, kwargs, out) -> Cost:
    # aten.convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    #                           transposed, output_padding, groups, output_mask)
    grad_out, weight, output_mask = args[0], args[2], args[10]
    forward_macs = numel(grad_out.shape) * numel(weight.shape[1:])
    # grad_input is a transposed convolution and grad_weight a correlation of the same size: each has
    # exactly the forward's MACs; they are only computed where output_mask asks for them.
    macs = forward_macs * (int(bool(output_mask[0])) + int(bool(output_mask[1])))
    bias_adds = numel(grad_out.shape) if output_mask[2] else 0
    return Cost(macs, 2 * macs + bias_adds, CONVOLUTION)


def _addmm(args, kwargs, out) -> Cost:
    # aten.addmm(bias, a[M,K], b[K,N]): M*K*N MACs, plus M*N bias additions
    a, b = args[1], args[2]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return Cost(macs, 2 * macs + numel(_shape(out)), LINEAR)


def _mm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return Cost(macs, 2 * macs, LINEAR)


def _bmm(args, kwargs, out) -> Cost:
    a, b = args[0], args[1]
    macs = a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    return Cost(macs, 2 * macs, LINEAR)


def _batch_norm(args, kwargs, out) -> Cost:
    # native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps).
    # Inference folds the statistics into one scale and one shift per channel: 2 FLOPs per element
    # (1 without affine). Training normalises with batch statistics: 5 per element (4 without affine),
    # fvcore's convention (mean, variance, normalise, scale, shift).
    x, weight = args[0], args[1]
    training = _batch_norm_training(args)
    affine = weight is not None
    per_element = (5 if affine else 4) if training else (2 if affine else 1)
    return Cost(0, per_element * numel(x.shape), BATCH_NORM)


def _batch_norm_training(args) -> bool:
    # _native_batch_norm_legit_no_training has no flag; the others carry it at position 5
    # (_native_batch_norm_legit without running stats: position 3).
    for value in args[3:6]:
        if isinstance(value, bool):
            return value
    return False


def _batch_norm_backward(args, kwargs, out) -> Cost:
    # dx = w*invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat)); xhat recomputed (2), sum(dy) (1),
    # sum(dy*xhat) (2), and 4 per element to combine: 9 FLOPs per element. grad_w, grad_b are the sums.
    return Cost(0, 9 * numel(args[0].shape), BATCH_NORM)


def _per_output(flops_per_element: int, category: str | None):
    def formula(args, kwargs, out) -> Cost:
        first = out[0] if isinstance(out, (tuple, list)) else out
        return Cost(0, flops_per_element * numel(_shape(first)), category)

    return formula


def _per_input(category: str | None):
    def formula(args, kwargs, out) -> Cost:
        return Cost(0, numel(_shape(args[0])), category)

    return formula


def _reduction(category: str | None):
    # sum over n elements into one: n-1 additions per output element, so inputs - outputs in total
    def formula(args, kwargs, out) -> Cost:
        return Cost(0, numel(_shape(args[0])) - numel(_shape(out)), category)

    return formula


def _max_pool(args, kwargs, out) -> Cost:
    # kh*kw candidates per output: kh*kw - 1 comparisons
    first = out[0] if isinstance(out, (tuple, list)) else out
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, numel(_shape(first)) * (prod(kernel) - 1), POOLING)


def _avg_pool(args, kwargs, out) -> Cost:
    # kh*kw - 1 additions and 1 division per output (edge windows counted as full windows)
    kernel = args[1]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, numel(_shape(out)) * prod(kernel), POOLING)


def _avg_pool_backward(args, kwargs, out) -> Cost:
    # each output gradient is divided and spread over its kh*kw window
    kernel = args[2]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, numel(_shape(args[0])) * prod(kernel), POOLING)


def _max_pool_backward(args, kwargs, out) -> Cost:
    # each output gradient is added to the input position that won: one addition per output element
    return Cost(0, numel(_shape(args[0])), POOLING)


def _mv(args, kwargs, out) -> Cost:
    # aten.mv(a[M,K], v[K]): M*K MACs (matmul of a matrix and a vector)
    macs = numel(_shape(args[0]))
    return Cost(macs, 2 * macs, LINEAR)


def _dot(args, kwargs, out) -> Cost:
    # aten.dot(u[K], v[K]): K MACs
    macs = numel(_shape(args[0]))
    return Cost(macs, 2 * macs, LINEAR)


def _norm(weight_index: int):
    # layer norm and group norm always normalise with statistics of their input, as batch norm does in
    # training: mean, variance, normalise (3 per element) + scale and shift (2, with affine): 5, or 4 without
    def formula(args, kwargs, out) -> Cost:
        affine = len(args) > weight_index and args[weight_index] is not None
        return Cost(0, (5 if affine else 4) * numel(_shape(args[0])), BATCH_NORM)

    return formula


def _norm_backward(args, kwargs, out) -> Cost:
    # the same sums and combination as batch norm's gradient (over other axes): 9 per element
    return Cost(0, 9 * numel(_shape(args[0])), BATCH_NORM)


def _interpolation_taps(out, linear: bool) -> int:
    """Source values one output element is a weighted sum of: 2 per interpolated dim (linear), 1 (nearest)."""
    return 2 ** (len(_shape(out)) - 2) if linear else 1


def _linear_upsample(args, kwargs, out) -> Cost:
    # (bi/tri)linear interpolation: each output is a weighted sum of T = 2^d source values (d the spatial
    # dims), T multiplications and T-1 additions; the weights depend on the position only (shared by N·C)
    taps = _interpolation_taps(out, True)
    return Cost(0, (2 * taps - 1) * numel(_shape(out)), OTHER)


def _linear_upsample_backward(args, kwargs, out) -> Cost:
    # each output gradient is weighted into its T source positions: T multiplications and T additions
    grad_in = out[0] if isinstance(out, (tuple, list)) else out
    taps = _interpolation_taps(grad_in, True)
    return Cost(0, 2 * taps * numel(_shape(args[0])), OTHER)


def _nearest_upsample_backward(args, kwargs, out) -> Cost:
    # each output gradient is added to the one source position it copied: 1 per output-gradient element
    return Cost(0, numel(_shape(args[0])), OTHER)


# fvcore's convention (its FlopCountAnalysis, fvcore/nn/jit_handles.py and _DEFAULT_SUPPORTED_OPS). fvcore
# prices the ops a torch.jit trace records — the Python-level call, keyed here by the name our FunctionTracker
# sees — and nothing else: relu, max-pool, adds, mean, mul, sigmoid … count 0 there (unsupported or ignored).
FVCORE_CONV = frozenset(
    {
        "conv1d",
        "conv2d",
        "conv3d",
        "convolution",
        "_convolution",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    }
)
# conv_flop_jit, addmm_flop_jit, linear_flop_jit, bmm_flop_jit, matmul_flop_jit (for aten::mm): one per
# multiply-accumulate, biases ignored — our MACs of the ops inside the call
FVCORE_MATMUL = frozenset({"linear", "addmm", "mm", "bmm"})


def _fvcore_matmul(a, b) -> int:
    # matmul_flop_jit: prod(a.shape) * b.shape[-1] — the batch dims of ``a`` only, so [M,K] @ [B,K,N] counts
    # M*K*N, not B*M*K*N. fvcore asserts two operands of 2+ dims; a vector ``b`` ([K]) counts prod(a.shape).
    a_shape, b_shape = _shape(a), _shape(b)
    if a_shape is None or b_shape is None:
        return 0
    return numel(a_shape) * (b_shape[-1] if len(b_shape) >= 2 else 1)


def _fvcore_einsum(args, kwargs, out) -> int:
    """einsum_flop_jit: two equations by hand, else numpy's einsum_path (optimize="optimal") estimate as
    it prints it (4 significant digits), halved and floored — fvcore's own reading, reproduced step by step."""
    from collections import OrderedDict

    equation, operands = args[0], list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    shapes = [_shape(o) for o in operands]
    if not isinstance(equation, str) or any(shape is None for shape in shapes):
        return 0
    equation = equation.replace(" ", "")
    letters = OrderedDict((k, 0) for k in equation if k.isalpha()).keys()
    equation = equation.translate({ord(x): 97 + i for i, x in enumerate(letters)})
    if equation == "abc,abd->acd":
        n, c, t = shapes[0]
        return n * c * t * shapes[-1][-1]
    if equation == "abc,adc->adb":
        n, t, g = shapes[0]
        return n * t * g * shapes[-1][1]
    import numpy as np

    # only the shapes matter: zero-stride views stand for fvcore's np.zeros without allocating them
    arrays = [np.broadcast_to(np.zeros((), dtype=np.float64), shape) for shape in shapes]
    path = np.einsum_path(equation, *arrays, optimize="optimal")[1]
    for line in path.split("\n"):
        if "optimized flop" in line.lower():
            return int(np.floor(float(line.split(":")[-1]) / 2))
    return 0


# Calls fvcore prices as a whole from their own arguments (not from the ATen ops they decompose into): the
# recorder asks ``fvcore_call`` once per call and books the figure on the call's first costed op.
FVCORE_CALLS = {
    "matmul": lambda args, kwargs, out: _fvcore_matmul(args[0], args[1]),
    "__matmul__": lambda args, kwargs, out: _fvcore_matmul(args[0], args[1]),
    "__rmatmul__": lambda args, kwargs, out: _fvcore_matmul(args[1], args[0]),
    "einsum": _fvcore_einsum,
}


def fvcore_call(function: str, args, kwargs, out) -> int | None:
    """fvcore's count of one whole Python-level call it prices from its arguments, or None for other calls."""
    rule = FVCORE_CALLS.get(function)
    if rule is None:
        return None
    try:
        return int(rule(args, kwargs or {}, out))
    except (ValueError, IndexError, TypeError, KeyError):  # arguments fvcore's own handle fails on too
        return 0


def fvcore_flops(function: str, op: str, args, cost: Cost, out=None) -> int:
    """fvcore's count for one ATen op executed inside the Python-level call ``function`` (0 inside a call
    ``fvcore_call`` prices as a whole)."""
    if function in FVCORE_CALLS:
        return 0
    if function in FVCORE_CONV or function in FVCORE_MATMUL:
        return cost.macs  # one "flop" per multiply-accumulate, bias ignored
    entry = OPS.get(op)
    if entry is None or entry.fvcore is None:
        return 0
    return int(entry.fvcore(function, args, out))


# the rules of the table's ``fvcore`` field: (Python-level call, ATen args, ATen out) -> fvcore's count


def _fvcore_batch_norm(function, args, out) -> int:
    # batchnorm_flop_jit: training 5 per element (4 without affine), inference 2 (1); instance_norm (which
    # torch runs as a batch norm over N·C channels) is norm_flop_counter(1): 5 or 4, whatever the mode
    affine = args[1] is not None
    if function == "batch_norm":
        per_element = (5 if affine else 4) if _batch_norm_training(args) else (2 if affine else 1)
    elif function == "instance_norm":
        per_element = 5 if affine else 4
    else:
        return 0
    return per_element * numel(_shape(args[0]))


def _fvcore_norm(fvcore_function: str, weight_index: int):
    # norm_flop_counter(2) for aten::layer_norm and aten::group_norm: 5 per input element with a weight, 4
    # without. fvcore tests its call's weight argument; ours is the ATen op's (native_layer_norm(input,
    # normalized_shape, weight, …): 2; native_group_norm(input, weight, …): 1)
    def rule(function, args, out) -> int:
        if function != fvcore_function:
            return 0
        affine = len(args) > weight_index and args[weight_index] is not None
        return (5 if affine else 4) * numel(_shape(args[0]))

    return rule


def _fvcore_per_output(per_element: int):
    # elementwise_flop_counter(0, k): k per output element, whichever call ran the op
    def rule(function, args, out) -> int:
        first = out[0] if isinstance(out, (tuple, list)) else out
        return per_element * numel(_shape(first))

    return rule


def _fvcore_adaptive_avg_pool(function, args, out) -> int:
    # elementwise_flop_counter(1, 0) for aten::adaptive_avg_pool2d: 1 per input element
    return numel(_shape(args[0])) if function == "adaptive_avg_pool2d" else 0


# Module types whose generic elementwise ops belong to their category.
MODULE_CATEGORIES = {
    "Conv1d": CONVOLUTION,
    "Conv2d": CONVOLUTION,
    "Conv3d": CONVOLUTION,
    "ConvTranspose2d": CONVOLUTION,
    "Linear": LINEAR,
    "BatchNorm1d": BATCH_NORM,
    "BatchNorm2d": BATCH_NORM,
    "BatchNorm3d": BATCH_NORM,
    "SyncBatchNorm": BATCH_NORM,
    "GroupNorm": BATCH_NORM,
    "LayerNorm": BATCH_NORM,
    "ReLU": ACTIVATION,
    "ReLU6": ACTIVATION,
    "Sigmoid": ACTIVATION,
    "SiLU": ACTIVATION,
    "GELU": ACTIVATION,
    "MaxPool2d": POOLING,
    "AvgPool2d": POOLING,
    "AdaptiveAvgPool2d": POOLING,
}


# What each category counts, in the words reports print (FLOPs: 2 per multiply-accumulate).
CATEGORY_FORMULAS = {
    CONVOLUTION: "2·N·Cout·Hout·Wout·(Cin/groups)·kh·kw (+ N·Cout·Hout·Wout bias adds); backward: the same "
    "per gradient computed (input, weight), + bias sums",
    LINEAR: "2·M·K·N for an [M,K]×[K,N] product (+ M·N bias adds); backward: 2·M·K·N per gradient, + bias sum",
    BATCH_NORM: "2 per element in inference (one scale, one shift), 5 in training (fvcore's convention); "
    "backward 9 per element",
    ACTIVATION: "ReLU 1 per element (one comparison); sigmoid 4; SiLU 5; their gradients 1, 3 and 9",
    POOLING: "max-pool kh·kw−1 comparisons per output; avg-pool kh·kw per output; global mean 1 per input "
    "element; gradients 1 per routed element (max) or kh·kw per output (avg)",
    RESIDUAL_ADD: "1 per output element of an add of two same-shape tensors (forward), and of the gradient "
    "additions where a tensor feeds two branches (backward)",
    OTHER: "elementwise arithmetic outside the above (the squeeze-excitation scaling, a counter update): 1 per "
    "output element; data movement (views, copies, padding, concatenation): 0",
}


# ---- the table ----

Formula = Callable[..., Cost]


@dataclass(frozen=True)
class Op:
    """One ATen operator: its name as recorded, its cost formula, and what it is (see the module docstring)."""

    name: str
    kind: str
    cost: Formula | None = None
    moves_data: bool = False
    shaping: bool = False
    view: bool = False
    receptive: str = "elementwise"
    spatial_dims: int = 0  # pools: the trailing dims the window slides over (1, 2, 3); 0: all but N, C
    taps: int = 1  # upsampling: source units one output unit interpolates (nearest 1, linear 2)
    statistics_outputs: bool = False  # returns batch statistics after the result (empty in inference)
    fused_bias: bool = False  # adds a bias it reads as an input (addmm: the Linear's bias)
    # fvcore's count of the op, by the Python-level call it ran inside: (function, args, out) -> int
    fvcore: Callable[..., int] | None = None


OPS: dict[str, Op] = {}


def _short(name: str) -> str:
    return name.removeprefix("aten.").rstrip("_")


def _add(packets, kind: str | None = None, cost: Formula | None = None, **fields) -> None:
    for packet in packets:
        name = str(packet)
        previous = OPS.get(name)
        values = dict(previous.__dict__) if previous is not None else {"name": name, "kind": kind or _short(name)}
        if kind is not None:
            values["kind"] = kind
        if cost is not None:
            values["cost"] = cost
        values.update(fields)
        OPS[name] = Op(**values)


# convolution and matrix products
_add([aten.convolution, aten._convolution], "conv", _convolution, receptive="conv")
_add([aten.convolution_backward], None, _convolution_backward)
_add([aten.addmm], "linear", _addmm, fused_bias=True)
_add([aten.mm], "linear", _mm)
_add([aten.linear], "linear")
_add([aten.bmm], None, _bmm)
_add([aten.mv], None, _mv)
_add([aten.dot], None, _dot)
_add([aten.matmul])
# normalisation
_add([aten.native_batch_norm], "bn", _batch_norm, statistics_outputs=True, fvcore=_fvcore_batch_norm)
_add(
    [
        aten._native_batch_norm_legit,
        aten._native_batch_norm_legit_no_training,
        aten._native_batch_norm_legit_functional,
        aten.cudnn_batch_norm,
    ],
    "bn",
    _batch_norm,
    fvcore=_fvcore_batch_norm,
)
_add([aten.native_batch_norm_backward, aten.cudnn_batch_norm_backward], None, _batch_norm_backward)
_add([aten.native_layer_norm], "layer_norm", _norm(2), fvcore=_fvcore_norm("layer_norm", 2))
_add([aten.native_group_norm], "group_norm", _norm(1), fvcore=_fvcore_norm("group_norm", 1))
_add([aten.native_layer_norm_backward, aten.native_group_norm_backward], None, _norm_backward)
# activations: ReLU is one comparison per element
_add([aten.relu, aten.relu_, aten.threshold], "relu", _per_output(1, ACTIVATION))
_add([aten.threshold_backward], None, _per_output(1, ACTIVATION))
# sigmoid = 1 / (1 + exp(-x)): negate, exp, add, divide; its gradient dy * y * (1 - y): 3
_add([aten.sigmoid, aten.sigmoid_], None, _per_output(4, ACTIVATION))
_add([aten.sigmoid_backward], None, _per_output(3, ACTIVATION))
# silu = x * sigmoid(x): the sigmoid's 4 and a product; its gradient dy * s * (1 + x * (1 - s)) recomputes s (4)
# and takes 5 more
_add([aten.silu, aten.silu_], None, _per_output(5, ACTIVATION))
_add([aten.silu_backward], None, _per_output(9, ACTIVATION))
# the random masks of dropout and stochastic depth (training only): drawn, not computed from the data; 0, as
# fvcore and torch.utils.flop_counter count them (the mask's multiplication is counted where it happens)
_add([aten.bernoulli_, aten.bernoulli], None, _per_output(0, OTHER))
# pooling
_add([aten.max_pool2d, aten.max_pool2d_with_indices], "maxpool", _max_pool, receptive="pool", spatial_dims=2)
_add([aten.max_pool1d, aten.max_pool1d_with_indices], "maxpool", receptive="pool", spatial_dims=1)
_add([aten.max_pool3d, aten.max_pool3d_with_indices], "maxpool", receptive="pool", spatial_dims=3)
_add([aten.max_pool2d_with_indices_backward], None, _max_pool_backward)
_add([aten.avg_pool2d], "avgpool", _avg_pool, receptive="pool", spatial_dims=2)
_add([aten.avg_pool1d], "avgpool", receptive="pool", spatial_dims=1)
_add([aten.avg_pool3d], "avgpool", receptive="pool", spatial_dims=3)
_add([aten.avg_pool2d_backward], None, _avg_pool_backward)
# a mean over n elements: n-1 additions and 1 division per output, i.e. 1 FLOP per input element
_add([aten.mean], "mean", _per_input(POOLING), receptive="reduction", fvcore=_fvcore_adaptive_avg_pool)
_add(
    [aten._adaptive_avg_pool2d],
    "adaptive_avgpool",
    _per_input(POOLING),
    receptive="adaptive_pool",
    spatial_dims=2,
    fvcore=_fvcore_adaptive_avg_pool,
)
_add([aten._adaptive_avg_pool3d], "adaptive_avgpool", receptive="adaptive_pool", spatial_dims=3)
_add([aten.adaptive_avg_pool1d], "adaptive_avgpool", receptive="adaptive_pool", spatial_dims=1)
_add([aten.adaptive_max_pool1d], "adaptive_maxpool", receptive="adaptive_pool", spatial_dims=1)
_add([aten.adaptive_max_pool2d], "adaptive_maxpool", receptive="adaptive_pool", spatial_dims=2)
_add([aten.adaptive_max_pool3d], "adaptive_maxpool", receptive="adaptive_pool", spatial_dims=3)
_add([aten._adaptive_avg_pool2d_backward], None, _per_output(1, POOLING))
# reductions
_add([aten.sum], None, _reduction(None), receptive="reduction")
_add(
    [
        aten.amax,
        aten.amin,
        aten.var,
        aten.std,
        aten.var_mean,
        aten.logsumexp,
        aten.linalg_vector_norm,
        aten.norm,
        aten.prod,
    ],
    receptive="reduction",
)
_add([aten._softmax, aten._log_softmax], receptive="softmax")
# elementwise arithmetic: 1 FLOP per output element; the category comes from the context
_add([aten.add, aten.add_], "add", _per_output(1, None))
_add([aten.sub, aten.sub_, aten.mul, aten.mul_, aten.div, aten.div_], None, _per_output(1, None))
# upsampling: nearest copies (0 FLOPs, data movement); (bi/tri)linear is a weighted sum of 2^d source values.
# fvcore counts aten::upsample_nearest2d 1 and aten::upsample_bilinear2d 4 per output element, no other mode.
_add(
    [
        aten.upsample_nearest1d,
        aten.upsample_nearest2d,
        aten.upsample_nearest3d,
        aten._upsample_nearest_exact1d,
        aten._upsample_nearest_exact2d,
        aten._upsample_nearest_exact3d,
    ],
    moves_data=True,
    shaping=True,
    receptive="upsample",
    taps=1,
)
_add([aten.upsample_nearest2d], fvcore=_fvcore_per_output(1))
_add(
    [aten.upsample_linear1d, aten.upsample_bilinear2d, aten.upsample_trilinear3d],
    None,
    _linear_upsample,
    receptive="upsample",
    taps=2,
)
_add([aten.upsample_bilinear2d], fvcore=_fvcore_per_output(4))
_add([aten._upsample_bilinear2d_aa], receptive="upsample", taps=2)  # antialiased: taps grow with the scale
_add(
    [
        aten.upsample_nearest1d_backward,
        aten.upsample_nearest2d_backward,
        aten.upsample_nearest3d_backward,
        aten._upsample_nearest_exact1d_backward,
        aten._upsample_nearest_exact2d_backward,
        aten._upsample_nearest_exact3d_backward,
    ],
    None,
    _nearest_upsample_backward,
)
_add(
    [aten.upsample_linear1d_backward, aten.upsample_bilinear2d_backward, aten.upsample_trilinear3d_backward],
    None,
    _linear_upsample_backward,
)
# grid sampling: fvcore counts aten::grid_sampler 4 per output element ("assume bilinear"); our own count has
# no formula for it (the coordinates' arithmetic besides the taps): it is reported as unsupported
_add([aten.grid_sampler_2d, aten.grid_sampler_3d], fvcore=_fvcore_per_output(4))
# operators that allocate, view, copy or pad data and do no arithmetic: 0 FLOPs, by definition
_add(
    [aten.view, aten._unsafe_view, aten._reshape_alias, aten.unsqueeze, aten.squeeze, aten.reshape, aten.flatten],
    moves_data=True,
    receptive="reshape",
)
_add([aten.t, aten.transpose], moves_data=True, receptive="transpose")
_add([aten.permute], moves_data=True, receptive="permute")
_add([aten.slice], "slice", moves_data=True, shaping=True, receptive="slice")
_add([aten.select], moves_data=True, receptive="select")
_add([aten.constant_pad_nd], "pad", moves_data=True, shaping=True, receptive="pad")
_add([aten.reflection_pad1d, aten.reflection_pad2d, aten.replication_pad1d, aten.replication_pad2d], receptive="pad")
_add([aten.cat], "cat", moves_data=True, shaping=True)
_add(
    [
        aten.expand,
        aten.expand_as,
        aten.detach,
        aten.alias,
        aten.clone,
        aten.copy_,
        aten._to_copy,
        aten.to,
        aten.pad,
        aten.stack,
        aten.empty,
        aten.empty_like,
        aten.empty_strided,
        aten.new_empty,
        aten.new_empty_strided,
        aten.zeros,
        aten.zeros_like,
        aten.new_zeros,
        aten.ones,
        aten.ones_like,
        aten.new_ones,
        aten.full,
        aten.full_like,
        aten.fill_,
        aten.zero_,
        aten.as_strided,
        aten.contiguous,
        aten.split,
        aten.split_with_sizes,
        aten.unbind,
        aten.lift_fresh,
        aten.index_select,
        aten._local_scalar_dense,
        aten.clamp_min_,
        aten.masked_fill_,
        aten._has_compatible_shallow_copy_type,
        aten.set_,
        aten.resize_,
        aten._unsafe_index,
        aten.squeeze_,
        aten.unsqueeze_,
        aten._foreach_zero_,
        aten.scalar_tensor,
        aten.slice_backward,
        aten.select_backward,
        aten.repeat,
        aten.as_strided_,
    ],
    moves_data=True,
)
# ops that give a new name to existing storage (or allocate without writing): no new activation elements
_add(
    [
        aten.view,
        aten._unsafe_view,
        aten._reshape_alias,
        aten.t,
        aten.transpose,
        aten.permute,
        aten.expand,
        aten.expand_as,
        aten.slice,
        aten.select,
        aten.unsqueeze,
        aten.squeeze,
        aten.detach,
        aten.alias,
        aten.as_strided,
        aten.as_strided_,
        aten.split,
        aten.split_with_sizes,
        aten.unbind,
        aten.empty,
    ],
    view=True,
)

CONV_OPS = frozenset(name for name, op in OPS.items() if op.kind == "conv")


def lookup(name: str) -> Op | None:
    """The table's entry for an op as the analysis records it ("aten.convolution"), or None."""
    return OPS.get(name)


def kind_of(name: str) -> str:
    """The structural kind of an op: the table's, else its short name ("aten.upsample_nearest2d" ->
    "upsample_nearest2d")."""
    entry = OPS.get(name)
    return entry.kind if entry is not None else _short(name)


def writes_new_elements(name: str) -> bool:
    """Whether an op's output is new memory (not a view, not written in place)."""
    entry = OPS.get(name)
    return not (entry is not None and entry.view) and not name.endswith("_")


def is_transpose_2d(name: str) -> bool:
    """``aten.t``: the transpose of a matrix (dims 0 and 1, no arguments)."""
    return name == str(aten.t)


# ---- the names torch.profiler gives operators ("aten::convolution"): profile attributes its times by kind ----

POOL_KINDS = frozenset({"maxpool", "avgpool", "mean", "adaptive_avgpool", "adaptive_maxpool"})


def computing_kind(name: str) -> str | None:
    """The kind of an operator that computes (conv, bn, relu, add, pool …), named as the analysis records it
    ("aten.relu_") or as torch.profiler does ("aten::relu_"); None for data movement and for names the table
    does not know. The pooling kinds are one ("pool"): a global mean may run as a mean or an adaptive pool."""
    entry = OPS.get(name.replace("::", ".", 1) if name.startswith("aten::") else name)
    if entry is None or entry.moves_data:
        return None
    return "pool" if entry.kind in POOL_KINDS else entry.kind


def aliases_storage(name: str) -> bool:
    """The op names existing storage (a view) or allocates without writing: it moves no bytes."""
    entry = OPS.get(name)
    return entry is not None and entry.view
