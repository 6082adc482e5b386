"""Output shapes of a few operators on the meta device, without their Python meta kernels.

On the meta device the shape functions of these operators are Python decompositions whose first call
imports ``torch._dynamo`` (over a second, paid by every analysis). For the cases a ResNet runs — tensors of
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


def _broadcast(a: torch.Tensor, b: torch.Tensor):
    try:
        return torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        return None  # the real kernel raises its own error


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
    shape = [1 if i in dims else size for i, size in enumerate(x.shape)] if keepdim else \
        [size for i, size in enumerate(x.shape) if i not in dims]
    return x.new_empty(shape)


def _addmm(bias, a, b, *, beta=1, alpha=1):
    if not (isinstance(bias, torch.Tensor) and _float(bias, a, b) and a.dim() == 2 and b.dim() == 2):
        return None
    if a.shape[1] != b.shape[0]:
        return None
    out = (a.shape[0], b.shape[1])
    try:
        if torch.broadcast_shapes(bias.shape, out) != out:
            return None
    except RuntimeError:
        return None
    return a.new_empty(out)


def _batch_norm_params_fit(x, *params) -> bool:
    channels = x.shape[1]
    return all(p is None or (p.dim() == 1 and p.shape[0] == channels and p.dtype == x.dtype) for p in params)


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if x.dtype != torch.float32 or x.dim() < 2 or not _batch_norm_params_fit(x, weight, bias, running_mean,
                                                                              running_var):
        return None
    if not training and (running_mean is None or running_var is None):
        return None
    channels = x.shape[1]
    return torch.empty_like(x), x.new_empty((channels,)), x.new_empty((channels,))


def _batch_norm_backward(grad_out, x, weight, running_mean, running_var, save_mean, save_invstd, train, eps,
                         output_mask):
    if x.dtype != torch.float32 or grad_out.dtype != x.dtype or grad_out.shape != x.shape or x.dim() < 2:
        return None
    if weight is None or not _batch_norm_params_fit(x, weight, running_mean, running_var, save_mean, save_invstd):
        return None
    channels = x.shape[1]
    return (
        torch.empty_like(x) if output_mask[0] else None,
        x.new_empty((channels,)) if output_mask[1] else None,
        x.new_empty((channels,)) if output_mask[2] else None,
    )


def _unary(x, *args, **kwargs):
    return torch.empty_like(x) if x.dtype.is_floating_point else None


def _like_first_same_shape(grad, other, *args, **kwargs):
    """threshold_backward / sigmoid_backward: a gradient of the same shape and dtype as the other tensor."""
    if not _float(grad, other) or grad.shape != other.shape:
        return None
    return torch.empty_like(grad)


SHORTCUTS = {
    aten.native_batch_norm.default: _batch_norm,
    aten.native_batch_norm_backward.default: _batch_norm_backward,
    aten.mean.dim: _mean,
    aten.addmm.default: _addmm,
    aten.div.Scalar: _binary,
    aten.div.Tensor: _binary,
    aten.add.Tensor: _binary,
    aten.mul.Tensor: _binary,
    aten.relu.default: _unary,
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
