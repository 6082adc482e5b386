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
    (aten.native_batch_norm_backward.default,
     (m(2, 3, 4, 4), m(2, 3, 4, 4), m(3), m(3), m(3), m(3), m(3), True, 1e-5, [True, True, True]), {}),
    (aten.native_batch_norm_backward.default,
     (m(2, 3, 4, 4, dtype=f16), m(2, 3, 4, 4, dtype=f16), m(3), m(3), m(3), m(3), m(3), True, 1e-5,
      [True, True, True]), {}),
    (aten.native_batch_norm_backward.default,
     (m(2, 3, 4, 4), m(2, 3, 4, 4), None, m(3), m(3), m(3), m(3), True, 1e-5, [True, False, False]), {}),
    (aten.relu.default, (m(2, 3),), {}),
    (aten.relu.default, (m(2, 3, dtype=torch.bool),), {}),
    (aten.threshold_backward.default, (m(2, 3), m(2, 3), 0), {}),
    (aten.threshold_backward.default, (m(2, 3), m(2, 3, dtype=f16), 0), {}),
    (aten.threshold_backward.default, (m(2, 3), m(4), 0), {}),
    (aten.sigmoid_backward.default, (m(2, 3), m(2, 3)), {}),
    (aten.sigmoid_backward.default, (m(2, 3), m(2, 4)), {}),
]


def _outcome(call):
    try:
        out = call()
    except Exception as error:  # noqa: BLE001 - the error itself is what is compared
        return ("raises", type(error))
    outs = out if isinstance(out, tuple) else (out,)
    return tuple(None if o is None else (tuple(o.shape), o.dtype, o.device.type) for o in outs)


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


def test_an_mlp_fed_an_image_is_rejected_as_pytorch_rejects_it(cli):
    # Linear(3072, 10) on 1x3x224x224 flattened to 150,528 features: PyTorch refuses the product
    result = cli("summary", "tests/fixtures/student_models.py:mlp_for_cifar", "--input", "1x3x224x224")
    assert result.exit_code == 2 and result.stdout == ""
    # (the module prints a line when imported: that goes to stderr, before our one error line)
    last = result.stderr.strip().splitlines()[-1]
    assert "rejects the input 1x3x224x224" in last and "(1x150528 and 3072x10)" in last
    assert "module '1' (Linear)" in last
