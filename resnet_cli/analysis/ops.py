"""How much each ATen operator costs: one formula per operator, in one table.

Every operator a model runs is looked up here by its ATen name. A formula returns the op's
multiply-accumulates (convolution and matrix products only) and its FLOPs, counting 2 per
multiply-accumulate and 1 per elementwise arithmetic operation unless the table says otherwise.
Operators that only move or view data are listed in ``DATA_MOVEMENT`` and cost 0. Anything else is
*unsupported*: it is still recorded and reported with its call count, never silently dropped.

The fvcore convention is not here: fvcore decides by the Python-level call (``conv2d``, ``linear``,
``batch_norm``, ``adaptive_avg_pool2d``), so it lives in ``FVCORE_FUNCTIONS`` below, keyed that way.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from resnet_cli.analysis.records import BACKWARD, FORWARD  # noqa: F401  (the two phases, re-exported)

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


def _numel(shape) -> int:
    return prod(shape) if shape is not None else 0


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
        macs = _numel(in_shape) * _numel(weight.shape[1:])
    else:
        macs = _numel(out_shape) * _numel(weight.shape[1:])
    bias_adds = _numel(out_shape) if bias is not None else 0
    return Cost(macs, 2 * macs + bias_adds, CONVOLUTION)


def _convolution_backward(args, kwargs, out) -> Cost:
    # aten.convolution_backward(grad_out, input, weight, bias_sizes, stride, padding, dilation,
    #                           transposed, output_padding, groups, output_mask)
    grad_out, weight, output_mask = args[0], args[2], args[10]
    forward_macs = _numel(grad_out.shape) * _numel(weight.shape[1:])
    # grad_input is a transposed convolution and grad_weight a correlation of the same size: each has
    # exactly the forward's MACs; they are only computed where output_mask asks for them.
    macs = forward_macs * (int(bool(output_mask[0])) + int(bool(output_mask[1])))
    bias_adds = _numel(grad_out.shape) if output_mask[2] else 0
    return Cost(macs, 2 * macs + bias_adds, CONVOLUTION)


def _addmm(args, kwargs, out) -> Cost:
    # aten.addmm(bias, a[M,K], b[K,N]): M*K*N MACs, plus M*N bias additions
    a, b = args[1], args[2]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return Cost(macs, 2 * macs + _numel(_shape(out)), LINEAR)


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
    return Cost(0, per_element * _numel(x.shape), BATCH_NORM)


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
    return Cost(0, 9 * _numel(args[0].shape), BATCH_NORM)


def _per_output(flops_per_element: int, category: str | None):
    def formula(args, kwargs, out) -> Cost:
        first = out[0] if isinstance(out, (tuple, list)) else out
        return Cost(0, flops_per_element * _numel(_shape(first)), category)
    return formula


def _per_input(category: str | None):
    def formula(args, kwargs, out) -> Cost:
        return Cost(0, _numel(_shape(args[0])), category)
    return formula


def _reduction(category: str | None):
    # sum over n elements into one: n-1 additions per output element, so inputs - outputs in total
    def formula(args, kwargs, out) -> Cost:
        return Cost(0, _numel(_shape(args[0])) - _numel(_shape(out)), category)
    return formula


def _max_pool(args, kwargs, out) -> Cost:
    # kh*kw candidates per output: kh*kw - 1 comparisons
    first = out[0] if isinstance(out, (tuple, list)) else out
    kernel = args[1] if len(args) > 1 else kwargs["kernel_size"]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, _numel(_shape(first)) * (prod(kernel) - 1), POOLING)


def _avg_pool(args, kwargs, out) -> Cost:
    # kh*kw - 1 additions and 1 division per output (edge windows counted as full windows)
    kernel = args[1]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, _numel(_shape(out)) * prod(kernel), POOLING)


def _avg_pool_backward(args, kwargs, out) -> Cost:
    # each output gradient is divided and spread over its kh*kw window
    kernel = args[2]
    kernel = tuple(kernel) if isinstance(kernel, (list, tuple)) else (kernel, kernel)
    if len(kernel) == 1:
        kernel = (kernel[0], kernel[0])
    return Cost(0, _numel(_shape(args[0])) * prod(kernel), POOLING)


def _max_pool_backward(args, kwargs, out) -> Cost:
    # each output gradient is added to the input position that won: one addition per output element
    return Cost(0, _numel(_shape(args[0])), POOLING)


FORMULAS: dict[str, Callable] = {
    "aten.convolution": _convolution,
    "aten._convolution": _convolution,
    "aten.convolution_backward": _convolution_backward,
    "aten.addmm": _addmm,
    "aten.mm": _mm,
    "aten.bmm": _bmm,
    "aten.native_batch_norm": _batch_norm,
    "aten._native_batch_norm_legit": _batch_norm,
    "aten._native_batch_norm_legit_no_training": _batch_norm,
    "aten._native_batch_norm_legit_functional": _batch_norm,
    "aten.cudnn_batch_norm": _batch_norm,
    "aten.native_batch_norm_backward": _batch_norm_backward,
    "aten.cudnn_batch_norm_backward": _batch_norm_backward,
    # activations: ReLU is one comparison per element
    "aten.relu": _per_output(1, ACTIVATION),
    "aten.relu_": _per_output(1, ACTIVATION),
    "aten.threshold": _per_output(1, ACTIVATION),
    "aten.threshold_backward": _per_output(1, ACTIVATION),
    # sigmoid = 1 / (1 + exp(-x)): negate, exp, add, divide; its gradient dy * y * (1 - y): 3
    "aten.sigmoid": _per_output(4, ACTIVATION),
    "aten.sigmoid_": _per_output(4, ACTIVATION),
    "aten.sigmoid_backward": _per_output(3, ACTIVATION),
    # silu = x * sigmoid(x): the sigmoid's 4 and a product; its gradient dy * s * (1 + x * (1 - s)) recomputes s
    # (4) and takes 5 more
    "aten.silu": _per_output(5, ACTIVATION),
    "aten.silu_": _per_output(5, ACTIVATION),
    "aten.silu_backward": _per_output(9, ACTIVATION),
    # the random masks of dropout and stochastic depth (training only): drawn, not computed from the data; 0, as
    # fvcore and torch.utils.flop_counter count them (the mask's multiplication is counted where it happens)
    "aten.bernoulli_": _per_output(0, OTHER),
    "aten.bernoulli": _per_output(0, OTHER),
    # pooling
    "aten.max_pool2d": _max_pool,
    "aten.max_pool2d_with_indices": _max_pool,
    "aten.max_pool2d_with_indices_backward": _max_pool_backward,
    "aten.avg_pool2d": _avg_pool,
    "aten.avg_pool2d_backward": _avg_pool_backward,
    # a mean over n elements: n-1 additions and 1 division per output, i.e. 1 FLOP per input element
    "aten.mean": _per_input(POOLING),
    "aten._adaptive_avg_pool2d": _per_input(POOLING),
    "aten._adaptive_avg_pool2d_backward": _per_output(1, POOLING),
    "aten.sum": _reduction(None),
    # elementwise arithmetic: 1 FLOP per output element; the category comes from the context
    "aten.add": _per_output(1, None),
    "aten.add_": _per_output(1, None),
    "aten.sub": _per_output(1, None),
    "aten.sub_": _per_output(1, None),
    "aten.mul": _per_output(1, None),
    "aten.mul_": _per_output(1, None),
    "aten.div": _per_output(1, None),
    "aten.div_": _per_output(1, None),
}

# Operators that allocate, view, copy or pad data and do no arithmetic: 0 FLOPs, by definition.
DATA_MOVEMENT = frozenset(
    "aten." + name
    for name in (
        "view _unsafe_view reshape _reshape_alias t transpose permute expand expand_as slice select "
        "unsqueeze squeeze flatten detach alias clone copy_ _to_copy to constant_pad_nd pad cat stack "
        "empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like new_zeros ones "
        "ones_like new_ones full full_like fill_ zero_ as_strided contiguous split split_with_sizes "
        "unbind lift_fresh index_select _local_scalar_dense clamp_min_ masked_fill_ "
        "_has_compatible_shallow_copy_type set_ resize_ _unsafe_index squeeze_ unsqueeze_ "
        "_foreach_zero_ scalar_tensor slice_backward select_backward"
    ).split()
)

# fvcore's handles, keyed by the Python-level call it sees in a torch.jit trace. Anything else fvcore
# either ignores (relu, views, …) or reports as unsupported (max_pool2d, add_, mean, mul, sigmoid …):
# both count 0 there.
FVCORE_CONV = frozenset({"conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d",
                         "conv_transpose2d", "conv_transpose3d"})
FVCORE_MATMUL = frozenset({"linear", "addmm", "mm", "matmul", "bmm", "einsum", "__matmul__"})
FVCORE_BATCH_NORM = frozenset({"batch_norm"})
FVCORE_NORM = frozenset({"group_norm", "layer_norm", "instance_norm"})
FVCORE_INPUT_ELEMENTWISE = frozenset({"adaptive_avg_pool2d"})


def fvcore_flops(function: str, op: str, args, cost: Cost) -> int:
    """fvcore's count for one ATen op executed inside the Python-level call ``function``."""
    if function in FVCORE_CONV or function in FVCORE_MATMUL:
        return cost.macs  # one "flop" per multiply-accumulate, bias ignored
    if function in FVCORE_BATCH_NORM and op in FORMULAS and FORMULAS[op] is _batch_norm:
        training = _batch_norm_training(args)
        affine = args[1] is not None
        per_element = (5 if affine else 4) if training else (2 if affine else 1)
        return per_element * _numel(args[0].shape)
    if function in FVCORE_NORM and op.startswith("aten.native_"):
        return (5 if args[1] is not None else 4) * _numel(args[0].shape)
    if function in FVCORE_INPUT_ELEMENTWISE and op in ("aten.mean", "aten._adaptive_avg_pool2d"):
        return _numel(args[0].shape)  # 1 per input element
    return 0


# Module types whose generic elementwise ops belong to their category.
MODULE_CATEGORIES = {
    "Conv1d": CONVOLUTION, "Conv2d": CONVOLUTION, "Conv3d": CONVOLUTION,
    "ConvTranspose2d": CONVOLUTION, "Linear": LINEAR,
    "BatchNorm1d": BATCH_NORM, "BatchNorm2d": BATCH_NORM, "BatchNorm3d": BATCH_NORM,
    "SyncBatchNorm": BATCH_NORM, "GroupNorm": BATCH_NORM, "LayerNorm": BATCH_NORM,
    "ReLU": ACTIVATION, "ReLU6": ACTIVATION, "Sigmoid": ACTIVATION, "SiLU": ACTIVATION, "GELU": ACTIVATION,
    "MaxPool2d": POOLING, "AvgPool2d": POOLING, "AdaptiveAvgPool2d": POOLING,
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
