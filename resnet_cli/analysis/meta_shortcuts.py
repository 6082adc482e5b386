"""Output shapes of a few operators on the meta device, without their Python meta kernels.

On the meta device the shape functions of these operators are Python decompositions whose first call
imports ``torch._dynamo`` (over a second, paid by every analysis), or Python meta kernels whose
``torch._check`` imports ``torch.fx.experimental.symbolic_shapes`` and with it sympy (half a second or more:
convolution, max pooling and matrix products, forward and backward). For the cases a ResNet runs — tensors of
one floating dtype, shapes that broadcast — the output is plain to state, so a shortcut states it. Every
shortcut answers only where it is sure: anything else (mixed dtypes, integer tensors, shapes that do not
fit, unusual arguments) returns ``None`` and the real meta kernel runs, so shapes, dtypes and errors are
always the real kernel's. ``tests/test_meta_shortcuts.py`` checks each shortcut against the real kernel.
"""

from __future__ import annotations

import torch

aten = torch.ops.aten


def _float(*tensors) -> bool:
    """All tensors floating point and of one dtype."""
    dtypes = {t.dtype for t in tensors}
    return len(dtypes) == 1 and next(iter(dtypes)).is_floating_point


def _empty_like(x: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(x)`` for a dense tensor (its strides kept, as ``preserve_format`` keeps them), without
    the Python reference that meta ``empty_like`` runs (and the symbolic-shapes import it starts with)."""
    if x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last):
        return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype, device=x.device)
    return torch.empty_like(x)


def _broadcast_sizes(first, second) -> torch.Size | None:
    """``torch.broadcast_shapes`` of two shapes of plain integers (which, inside a dispatch mode, runs a Python
    reference that imports symbolic shapes); None where they do not broadcast (the real kernel says why)."""
    rank = max(len(first), len(second))
    first, second = (1,) * (rank - len(first)) + tuple(first), (1,) * (rank - len(second)) + tuple(second)
    sizes = []
    for a, b in zip(first, second, strict=True):
        if a != b and a != 1 and b != 1:
            return None
        sizes.append(b if a == 1 else a)
    return torch.Size(sizes)


def _broadcast(a: torch.Tensor, b: torch.Tensor):
    return _broadcast_sizes(a.shape, b.shape)


def _binary(a, b, *rest, **kwargs):
    """add/mul/div with a floating result: the broadcast shape and torch's type promotion (which treats a
    0-dim tensor or a Python number as a scalar), as TensorIterator computes them."""
    if not isinstance(a, torch.Tensor) or isinstance(b, bool) or not isinstance(b, (torch.Tensor, int, float)):
        return None
    dtype = torch.result_type(a, b)
    if not dtype.is_floating_point:
        return None
    if isinstance(b, torch.Tensor):
        shape = _broadcast(a, b)
        if shape is None:
            return None
    else:
        shape = a.shape
    return a.new_empty(shape, dtype=dtype)


def _binary_inplace(a, b, *rest, **kwargs):
    """add_/mul_ of two floating tensors of one dtype where ``b`` broadcasts to ``a``: ``a`` itself, as the
    in-place meta kernel returns it."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and _float(a, b)):
        return None
    return a if _broadcast(a, b) == a.shape else None


def _mean(x, dim=None, keepdim=False, *, dtype=None):
    if not x.dtype.is_floating_point or (dtype is not None and dtype != x.dtype):
        return None
    rank = x.dim()
    if not dim:  # None or []: every dimension
        dims = set(range(rank))
    else:
        if any(d < -rank or d >= rank for d in dim):
            return None
        dims = {d % rank for d in dim}
        if len(dims) != len(dim):
            return None
    shape = (
        [1 if i in dims else size for i, size in enumerate(x.shape)]
        if keepdim
        else [size for i, size in enumerate(x.shape) if i not in dims]
    )
    return x.new_empty(shape)


def _addmm(bias, a, b, *, beta=1, alpha=1):
    if not (isinstance(bias, torch.Tensor) and _float(bias, a, b) and a.dim() == 2 and b.dim() == 2):
        return None
    if a.shape[1] != b.shape[0]:
        return None
    out = (a.shape[0], b.shape[1])
    if _broadcast_sizes(bias.shape, out) != out:
        return None
    return a.new_empty(out)


def _batch_norm_params_fit(x, *params) -> bool:
    channels = x.shape[1]
    return all(p is None or (p.dim() == 1 and p.shape[0] == channels and p.dtype == x.dtype) for p in params)


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if (
        x.dtype != torch.float32
        or x.dim() < 2
        or not _batch_norm_params_fit(x, weight, bias, running_mean, running_var)
    ):
        return None
    if not training and (running_mean is None or running_var is None):
        return None
    channels = x.shape[1]
    return _empty_like(x), x.new_empty((channels,)), x.new_empty((channels,))


def _batch_norm_backward(
    grad_out, x, weight, running_mean, running_var, save_mean, save_invstd, train, eps, output_mask
):
    if x.dtype != torch.float32 or grad_out.dtype != x.dtype or grad_out.shape != x.shape or x.dim() < 2:
        return None
    if weight is None or not _batch_norm_params_fit(x, weight, running_mean, running_var, save_mean, save_invstd):
        return None
    channels = x.shape[1]
    return (
        _empty_like(x) if output_mask[0] else None,
        x.new_empty((channels,)) if output_mask[1] else None,
        x.new_empty((channels,)) if output_mask[2] else None,
    )


def _channels_last_strides(shape, strides) -> bool:
    """torch._prims_common.are_strides_like_channels_last_or_false for plain integers (what
    ``suggest_memory_format`` asks), without the symbolic-shapes import that function starts with."""
    if len(shape) == 4:
        order = (1, 3, 2, 0)
    elif len(shape) == 5:
        order = (1, 4, 3, 2, 0)
    else:
        return False
    if strides[1] == 0:
        return False
    least = 0
    for d in order:
        if shape[d] == 0 or strides[d] < least:
            return False
        if d == 0 and least == strides[1]:
            return False
        least = strides[d] * shape[d]
    return True


def _memory_format(*tensors):
    """The memory format the real meta kernels pick: channels-last if any tensor's strides look so."""
    for t in tensors:
        if _channels_last_strides(t.shape, t.stride()):
            return torch.channels_last if t.dim() == 4 else torch.channels_last_3d
    return torch.contiguous_format


def _ints(values, count: int):
    """A stride/padding/dilation list of ``count`` plain integers (one value repeated), or None."""
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not all(type(v) is int for v in values):
        return None
    if len(values) == 1:
        return values * count
    return values if len(values) == count else None


def _conv_sizes(x, weight, stride, padding, dilation, transposed, groups):
    """The output's spatial sizes of a plain (not transposed) convolution, or None where unsure."""
    if transposed or type(groups) is not int or groups < 1 or x.dim() != weight.dim() or x.dim() < 3:
        return None
    count = x.dim() - 2
    stride, padding, dilation = _ints(stride, count), _ints(padding, count), _ints(dilation, count)
    if stride is None or padding is None or dilation is None:
        return None
    if min(stride) < 1 or min(padding) < 0 or min(dilation) < 1 or x.shape[1] == 0:
        return None
    if weight.shape[1] * groups != x.shape[1] or weight.shape[0] % groups:
        return None
    sizes = []
    for size, kernel, s, p, d in zip(x.shape[2:], weight.shape[2:], stride, padding, dilation, strict=True):
        span = d * (kernel - 1) + 1
        if size + 2 * p < span or kernel < 1:
            return None
        sizes.append((size + 2 * p - span) // s + 1)
    return sizes


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    if not _float(x, weight) or (
        bias is not None and (bias.dtype != x.dtype or tuple(bias.shape) != (weight.shape[0],))
    ):
        return None
    sizes = _conv_sizes(x, weight, stride, padding, dilation, transposed, groups)
    if sizes is None:
        return None
    return x.new_empty((x.shape[0], weight.shape[0], *sizes))  # contiguous, as the meta kernel leaves it


def _convolution_backward(
    grad_out, x, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups, output_mask
):
    if not _float(grad_out, x, weight):
        return None
    sizes = _conv_sizes(x, weight, stride, padding, dilation, transposed, groups)
    if sizes is None or tuple(grad_out.shape) != (x.shape[0], weight.shape[0], *sizes):
        return None
    if output_mask[2] and (bias_sizes is None or list(bias_sizes) != [weight.shape[0]]):
        return None
    memory_format = _memory_format(x, weight)
    return (
        torch.empty(x.shape, dtype=grad_out.dtype, device=x.device, memory_format=memory_format)
        if output_mask[0]
        else None,
        torch.empty(weight.shape, dtype=grad_out.dtype, device=x.device, memory_format=memory_format)
        if output_mask[1]
        else None,
        grad_out.new_empty(bias_sizes) if output_mask[2] else None,
    )


def _pool_sizes(x, kernel_size, stride, padding, dilation, ceil_mode):
    """max_pool2d's output (height, width) where the input is a plain 4-D batch, or None where unsure."""
    if x.dim() != 4 or 0 in x.shape or not isinstance(ceil_mode, bool):
        return None
    kernel = _ints(kernel_size, 2) if len(kernel_size) in (1, 2) else None
    stride = kernel if len(stride) == 0 else (_ints(stride, 2) if len(stride) in (1, 2) else None)
    padding = _ints(padding, 2) if len(padding) in (1, 2) else None
    dilation = _ints(dilation, 2) if len(dilation) in (1, 2) else None
    if kernel is None or stride is None or padding is None or dilation is None:
        return None
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0 or min(dilation) < 1:
        return None
    sizes = []
    for size, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation, strict=True):
        if p > k // 2 or p > ((k - 1) * d + 1) // 2:
            return None
        out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
        if out < 1:
            return None
        sizes.append(out)
    return sizes


def _max_pool2d(x, kernel_size, stride=(), padding=(0,), dilation=(1,), ceil_mode=False):
    if not x.dtype.is_floating_point:
        return None
    sizes = _pool_sizes(x, kernel_size, stride, padding, dilation, ceil_mode)
    if sizes is None:
        return None
    shape, memory_format = (x.shape[0], x.shape[1], *sizes), _memory_format(x)
    return (
        torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=memory_format),
        torch.empty(shape, dtype=torch.int64, device=x.device, memory_format=memory_format),
    )


def _max_pool2d_backward(grad_out, x, kernel_size, stride, padding, dilation, ceil_mode, indices):
    if not _float(grad_out, x) or indices.dtype != torch.int64:
        return None
    sizes = _pool_sizes(x, kernel_size, stride, padding, dilation, ceil_mode)
    shape = None if sizes is None else (x.shape[0], x.shape[1], *sizes)
    if shape is None or tuple(grad_out.shape) != shape or tuple(indices.shape) != shape:
        return None
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_memory_format(x))


def _avg_pool2d(
    x, kernel_size, stride=(), padding=(0,), ceil_mode=False, count_include_pad=True, divisor_override=None
):
    if not x.dtype.is_floating_point or divisor_override == 0:
        return None
    sizes = _pool_sizes(x, kernel_size, stride, padding, (1,), ceil_mode)
    if sizes is None:
        return None
    return torch.empty(
        (x.shape[0], x.shape[1], *sizes), dtype=x.dtype, device=x.device, memory_format=_memory_format(x)
    )


def _avg_pool2d_backward(grad_out, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    if not _float(grad_out, x) or divisor_override == 0:
        return None
    sizes = _pool_sizes(x, kernel_size, stride, padding, (1,), ceil_mode)
    if sizes is None or tuple(grad_out.shape) != (x.shape[0], x.shape[1], *sizes):
        return None
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_memory_format(x))


def _slice_backward(grad_out, input_sizes, dim, start, end, step):
    """The gradient of a slice (option-A shortcuts take every stride-th pixel): zeros of the input's shape."""
    sizes = list(input_sizes)
    if not grad_out.dtype.is_floating_point or not all(type(v) is int for v in (*sizes, dim, start, end, step)):
        return None
    if len(sizes) != grad_out.dim() or not -len(sizes) <= dim < len(sizes) or step < 1:
        return None
    dim %= len(sizes)
    kept = len(range(*slice(start, end, step).indices(sizes[dim])))
    if list(grad_out.shape) != [*sizes[:dim], kept, *sizes[dim + 1 :]]:
        return None
    return grad_out.new_empty(sizes)


def _ones_like(x, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """A tensor shaped like ``x`` (on meta a tensor holds no values, so ones are any tensor of its layout)."""
    if dtype is not None or layout is not None or device is not None or pin_memory or memory_format is not None:
        return None
    if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
        return None
    return _empty_like(x)


def _mm(a, b):
    if not (isinstance(b, torch.Tensor) and _float(a, b) and a.dim() == 2 and b.dim() == 2):
        return None
    if a.shape[1] != b.shape[0]:
        return None
    return a.new_empty((a.shape[0], b.shape[1]))


def _unary(x, *args, **kwargs):
    return _empty_like(x) if x.dtype.is_floating_point else None


def _like_first_same_shape(grad, other, *args, **kwargs):
    """threshold_backward / sigmoid_backward: a gradient of the same shape and dtype as the other tensor."""
    if not _float(grad, other) or grad.shape != other.shape:
        return None
    return _empty_like(grad)


SHORTCUTS = {
    aten.native_batch_norm.default: _batch_norm,
    aten.native_batch_norm_backward.default: _batch_norm_backward,
    aten.mean.dim: _mean,
    aten.sum.dim_IntList: _mean,  # the same reduced shape (a linear layer's bias gradient)
    aten.addmm.default: _addmm,
    aten.mm.default: _mm,
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
    aten.max_pool2d_with_indices.default: _max_pool2d,
    aten.max_pool2d_with_indices_backward.default: _max_pool2d_backward,
    aten.div.Scalar: _binary,
    aten.div.Tensor: _binary,
    aten.add.Tensor: _binary,
    aten.mul.Tensor: _binary,
    aten.add_.Tensor: _binary_inplace,
    aten.relu.default: _unary,
    aten.sigmoid.default: _unary,
    aten.ones_like.default: _ones_like,
    aten.avg_pool2d.default: _avg_pool2d,
    aten.avg_pool2d_backward.default: _avg_pool2d_backward,
    aten.slice_backward.default: _slice_backward,
    aten.threshold_backward.default: _like_first_same_shape,
    aten.sigmoid_backward.default: _like_first_same_shape,
}


def run(func, args, kwargs):
    """The op's output on meta: a shortcut's answer where it is sure, else the real kernel's."""
    shortcut = SHORTCUTS.get(func)
    if shortcut is not None:
        out = shortcut(*args, **kwargs)
        if out is not None:
            return out
    return func(*args, **kwargs)
