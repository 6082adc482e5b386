"""The meta-device shortcuts agree with the real meta kernels on shapes, dtypes and errors, and spare an
analysis the ``torch._dynamo`` import the real kernels' Python decompositions pay for."""

import subprocess
import sys

import pytest
import torch

from resnet_cli.analysis import meta_shortcuts

aten = torch.ops.aten
f16, f32, f64, i64 = torch.float16, torch.float32, torch.float64, torch.int64


def m(*shape, dtype=f32):
    return torch.empty(shape, device="meta", dtype=dtype)


def cl(*shape, dtype=f32):
    """A channels-last tensor."""
    return torch.empty(shape, device="meta", dtype=dtype).to(memory_format=torch.channels_last)


CASES = [
    # (op, args, kwargs): the cases a ResNet runs, and the ones a shortcut must hand to the real kernel
    (aten.add.Tensor, (m(1, 3, 7, 7), m(1, 3, 7, 7)), {}),
    (aten.add.Tensor, (m(1, 3, 7, 7), m(1, 3, 14, 14)), {}),  # no broadcast: the real error
    (aten.add.Tensor, (m(2, 3, dtype=i64), m(2, 3, dtype=i64)), {}),  # integer result
    (aten.add.Tensor, (m(2, 3, dtype=f16), m(2, 3)), {}),  # promotion
    (aten.add.Tensor, (m(2, 3, dtype=f16), torch.tensor(2.0, device="meta")), {}),  # 0-dim: a scalar
    (aten.add.Tensor, (m(2, 3), m(2, 3)), {"alpha": 2}),
    (aten.mul.Tensor, (m(2, 8, 5, 5), m(2, 8, 1, 1)), {}),  # squeeze-excitation's scaling
    (aten.mul.Tensor, (m(2, 3, dtype=f16), m(3)), {}),
    (aten.div.Tensor, (m(2, 3, dtype=i64), m(2, 3, dtype=i64)), {}),  # true division of integers
    (aten.div.Tensor, (m(4, 5), m(4, 5)), {}),
    (aten.div.Scalar, (m(2, 3), 2), {}),
    (aten.div.Scalar, (m(2, 3, dtype=i64), 2), {}),
    (aten.mean.dim, (m(2, 3, 4, 5), [2, 3], True), {}),
    (aten.mean.dim, (m(2, 3, 4, 5), [-1], False), {}),
    (aten.mean.dim, (m(2, 3, 4, 5), [5]), {}),  # out of range
    (aten.mean.dim, (m(2, 3, 4, 5), [1, 1]), {}),  # duplicate
    (aten.mean.dim, (m(2, 3, 4, 5, dtype=i64), [1]), {}),  # no integer mean
    (aten.mean.dim, (m(2, 3, 4, 5, dtype=i64), [1]), {"dtype": f32}),
    (aten.mean.dim, (m(2, 3, 4, 5), None), {}),
    (aten.sum.dim_IntList, (m(1, 1000), [0], True), {}),
    (aten.sum.dim_IntList, (m(2, 3, 4, 5), [1, -1]), {}),
    (aten.sum.dim_IntList, (m(2, 3, dtype=i64), [0]), {}),  # an integer sum: the real kernel's int64
    (aten.addmm.default, (m(10), m(2, 3072), m(3072, 10)), {}),
    (aten.addmm.default, (m(10), m(1, 150528), m(3072, 10)), {}),  # the MLP fed an image: the real error
    (aten.addmm.default, (m(10, dtype=f16), m(2, 4), m(4, 10)), {}),
    (aten.addmm.default, (m(3), m(2, 4), m(4, 10)), {}),  # bias that does not broadcast
    (aten.addmm.default, (m(2, 4), m(2, 4, 5), m(4, 10)), {}),  # not 2-D
    (aten.native_batch_norm.default, (m(2, 3, 4, 4), m(3), m(3), m(3), m(3), False, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(2, 3, 4, 4), m(3), m(3), m(3), m(3), True, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(2, 3, 4, 4), m(4), m(4), m(4), m(4), False, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(2, 3, 4, 4, dtype=f16), m(3), m(3), m(3), m(3), True, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(2, 3, 4, 4), None, None, None, None, True, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(3), m(3), m(3), m(3), m(3), False, 0.1, 1e-5), {}),
    (
        aten.native_batch_norm_backward.default,
        (m(2, 3, 4, 4), m(2, 3, 4, 4), m(3), m(3), m(3), m(3), m(3), True, 1e-5, [True, True, True]),
        {},
    ),
    (
        aten.native_batch_norm_backward.default,
        (
            m(2, 3, 4, 4, dtype=f16),
            m(2, 3, 4, 4, dtype=f16),
            m(3),
            m(3),
            m(3),
            m(3),
            m(3),
            True,
            1e-5,
            [True, True, True],
        ),
        {},
    ),
    (
        aten.native_batch_norm_backward.default,
        (m(2, 3, 4, 4), m(2, 3, 4, 4), None, m(3), m(3), m(3), m(3), True, 1e-5, [True, False, False]),
        {},
    ),
    (aten.relu.default, (m(2, 3),), {}),
    (aten.relu.default, (m(2, 3, dtype=torch.bool),), {}),
    (aten.threshold_backward.default, (m(2, 3), m(2, 3), 0), {}),
    (aten.threshold_backward.default, (m(2, 3), m(2, 3, dtype=f16), 0), {}),
    (aten.threshold_backward.default, (m(2, 3), m(4), 0), {}),
    (aten.sigmoid_backward.default, (m(2, 3), m(2, 3)), {}),
    (aten.sigmoid_backward.default, (m(2, 3), m(2, 4)), {}),
    (aten.relu.default, (cl(2, 3, 4, 4),), {}),  # strides kept
    (aten.sigmoid.default, (m(2, 3, 1, 1),), {}),
    (aten.sigmoid.default, (m(2, 3, dtype=i64),), {}),  # an integer input: the real kernel's float result
    (aten.add_.Tensor, (m(2, 8, 5, 5), m(2, 8, 5, 5)), {}),
    (aten.add_.Tensor, (m(2, 8, 5, 5), m(8, 1, 1)), {}),
    (aten.add_.Tensor, (m(2, 8, 1, 1), m(2, 8, 5, 5)), {}),  # does not broadcast to self: the real error
    (aten.add_.Tensor, (m(2, 3, dtype=f16), m(2, 3)), {}),
    (aten.add_.Tensor, (m(2, 3), m(2, 3)), {"alpha": 2}),
    (aten.ones_like.default, (m(2, 3, 4, 4),), {}),
    (aten.ones_like.default, (cl(2, 3, 4, 4),), {}),
    (aten.ones_like.default, (m(2, 3),), {"dtype": f16}),
    (aten.mm.default, (m(4, 2048), m(2048, 1000)), {}),
    (aten.mm.default, (m(4, 2048), m(1024, 1000)), {}),  # the real error
    (aten.mm.default, (m(4, 8, dtype=f16), m(8, 2)), {}),
    # convolution: (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    (aten.convolution.default, (m(2, 3, 224, 224), m(64, 3, 7, 7), None, [2, 2], [3, 3], [1, 1], False, [0, 0], 1), {}),
    (aten.convolution.default, (m(2, 64, 56, 56), m(64, 2, 3, 3), m(64), [1], [2], [2], False, [0], 32), {}),
    (aten.convolution.default, (m(1, 8, 9, 7), m(16, 8, 3, 2), None, [2, 3], [0, 1], [1, 2], False, [0, 0], 1), {}),
    (aten.convolution.default, (m(1, 1, 12), m(1, 1, 5), None, [1], [2], [1], False, [0], 1), {}),  # ECA's 1-D
    (
        aten.convolution.default,
        (m(1, 8, 2, 2), m(4, 8, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
        {},
    ),  # a kernel larger than the input: the real error
    (
        aten.convolution.default,
        (m(1, 6, 8, 8), m(4, 4, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        {},
    ),  # channels that do not fit
    (
        aten.convolution.default,
        (m(1, 8, 8, 8), m(8, 4, 3, 3), None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1),
        {},
    ),  # transposed: the real kernel
    (aten.convolution.default, (cl(1, 8, 8, 8), m(8, 8, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1), {}),
    (
        aten.convolution.default,
        (m(1, 8, 8, 8, dtype=f16), m(8, 8, 1, 1), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
        {},
    ),  # mixed dtypes
    # convolution_backward: (grad, input, weight, bias sizes, stride, padding, dilation, transposed,
    # output_padding, groups, output mask)
    (
        aten.convolution_backward.default,
        (
            m(2, 64, 112, 112),
            m(2, 3, 224, 224),
            m(64, 3, 7, 7),
            None,
            [2, 2],
            [3, 3],
            [1, 1],
            False,
            [0, 0],
            1,
            [False, True, False],
        ),
        {},
    ),
    (
        aten.convolution_backward.default,
        (
            m(2, 64, 56, 56),
            m(2, 64, 56, 56),
            m(64, 2, 3, 3),
            [64],
            [1, 1],
            [1, 1],
            [1, 1],
            False,
            [0, 0],
            32,
            [True, True, True],
        ),
        {},
    ),
    (
        aten.convolution_backward.default,
        (
            cl(2, 8, 8, 8),
            cl(2, 8, 8, 8),
            m(8, 8, 3, 3),
            None,
            [1, 1],
            [1, 1],
            [1, 1],
            False,
            [0, 0],
            1,
            [True, True, False],
        ),
        {},
    ),
    (
        aten.convolution_backward.default,
        (
            m(2, 8, 4, 4),
            m(2, 8, 8, 8),
            m(8, 8, 3, 3),
            None,
            [1, 1],
            [1, 1],
            [1, 1],
            False,
            [0, 0],
            1,
            [True, True, False],
        ),
        {},
    ),  # grad of another shape
    # max_pool2d_with_indices: (input, kernel, stride, padding, dilation, ceil_mode)
    (aten.max_pool2d_with_indices.default, (m(2, 64, 112, 112), [3, 3], [2, 2], [1, 1]), {}),
    (aten.max_pool2d_with_indices.default, (m(2, 64, 7, 7), [3], [], [1], [1], True), {}),
    (aten.max_pool2d_with_indices.default, (m(2, 4, 6, 5), [2, 3], [2, 1], [0, 1], [2, 1], True), {}),
    (aten.max_pool2d_with_indices.default, (cl(2, 4, 8, 8), [2, 2], [2, 2]), {}),
    (aten.max_pool2d_with_indices.default, (m(2, 4, 8, 8), [2, 2], [2, 2], [2, 2]), {}),  # too much padding
    (aten.max_pool2d_with_indices.default, (m(4, 8, 8), [2, 2], [2, 2]), {}),  # 3-D: the real kernel
    (
        aten.max_pool2d_with_indices_backward.default,
        (m(2, 64, 56, 56), m(2, 64, 112, 112), [3, 3], [2, 2], [1, 1], [1, 1], False, m(2, 64, 56, 56, dtype=i64)),
        {},
    ),
    (
        aten.max_pool2d_with_indices_backward.default,
        (m(2, 64, 55, 56), m(2, 64, 112, 112), [3, 3], [2, 2], [1, 1], [1, 1], False, m(2, 64, 56, 56, dtype=i64)),
        {},
    ),
    # avg_pool2d: (input, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    (aten.avg_pool2d.default, (m(2, 64, 56, 56), [2, 2], [2, 2], [0, 0], True, False), {}),
    (aten.avg_pool2d.default, (m(2, 64, 7, 7), [2, 2], [2, 2], [0, 0], True, False), {}),
    (aten.avg_pool2d.default, (m(2, 64, 7, 7), [3], [], [1], False, True, 0), {}),  # a zero divisor
    (aten.avg_pool2d_backward.default, (m(2, 64, 4, 4), m(2, 64, 7, 7), [2, 2], [2, 2], [0, 0], True, False, None), {}),
    (
        aten.avg_pool2d_backward.default,
        (m(2, 64, 3, 3), m(2, 64, 7, 7), [2, 2], [2, 2], [0, 0], True, False, None),
        {},
    ),  # a gradient of the wrong shape
    # slice_backward: (grad, input sizes, dim, start, end, step)
    (aten.slice_backward.default, (m(2, 16, 16, 32), [2, 16, 32, 32], 2, 0, 9223372036854775807, 2), {}),
    (aten.slice_backward.default, (m(2, 16, 16, 16), [2, 16, 32, 32], -1, 1, 32, 2), {}),
    (aten.slice_backward.default, (m(2, 16, 3, 32), [2, 16, 32, 32], 2, 5, 8, 1), {}),
    (aten.slice_backward.default, (m(2, 16, 15, 32), [2, 16, 32, 32], 2, 0, 32, 2), {}),  # a wrong slice
]


def _outcome(call):
    try:
        out = call()
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return ("raises", type(error))
    outs = out if isinstance(out, tuple) else (out,)
    return tuple(None if o is None else (tuple(o.shape), o.stride(), o.dtype, o.device.type) for o in outs)


@pytest.mark.parametrize("op, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shortcut_agrees_with_the_real_meta_kernel(op, args, kwargs):
    assert op in meta_shortcuts.SHORTCUTS
    real = _outcome(lambda: op(*args, **kwargs))
    assert _outcome(lambda: meta_shortcuts.run(op, args, kwargs)) == real
    answer = meta_shortcuts.SHORTCUTS[op](*args, **kwargs)
    if answer is not None:  # where a shortcut answers, the real kernel gives exactly that and does not raise
        assert real[0] != "raises"
        assert _outcome(lambda: answer) == real


def test_every_shortcut_is_exercised():
    assert {case[0] for case in CASES} == set(meta_shortcuts.SHORTCUTS)


def test_an_analysis_does_not_import_dynamo():
    code = (
        "import sys\n"
        "from resnet_cli.sources.target import analyze, resolve_target\n"
        "for name in ('resnet50', 'seresnet50', 'resnetv2_50'):\n"
        "    analyze(resolve_target(name))\n"
        "    analyze(resolve_target(name), training=True)\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_an_analysis_does_not_import_sympy():
    # the real meta kernels of convolution, pooling and mm, torch's broadcasting and empty_like references, and
    # torch.autograd.backward's argument checks each import torch.fx.experimental.symbolic_shapes (and sympy)
    code = (
        "import sys\n"
        "from resnet_cli.sources.target import analyze, resolve_target\n"
        "for name in ('resnet50', 'resnet152', 'seresnet50', 'resnet50d', 'resnetv2_50', 'resnet56'):\n"
        "    analyze(resolve_target(name))\n"
        "    analyze(resolve_target(name), training=True)\n"
        "assert 'sympy' not in sys.modules, 'sympy was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_backward_through_the_engine_records_what_autograd_backward_records(monkeypatch):
    from resnet_cli.analysis import analyze as analyze_module
    from resnet_cli.nn.model import build_model
    from resnet_cli.spec.registry import VARIANTS

    def analysis():
        result = analyze_module.analyze(build_model(VARIANTS["seresnet18"].spec, "meta"), (2, 3, 64, 64), training=True)
        return result.ops, result.live_timeline, result.saved_float_elements

    engine = analysis()
    monkeypatch.setattr(analyze_module, "_backward", lambda outputs, grads: torch.autograd.backward(outputs, grads))
    assert analysis() == engine


def test_an_mlp_fed_an_image_is_rejected_as_pytorch_rejects_it(cli):
    # Linear(3072, 10) on 1x3x224x224 flattened to 150,528 features: PyTorch refuses the product
    result = cli("summary", "tests/fixtures/student_models.py:mlp_for_cifar", "--input", "1x3x224x224")
    assert result.exit_code == 2 and result.stdout == ""
    # (the module prints a line when imported: that goes to stderr, before our one error line)
    last = result.stderr.strip().splitlines()[-1]
    assert "rejects the input 1x3x224x224" in last and "(1x150528 and 3072x10)" in last
    assert "module '1' (Linear)" in last
