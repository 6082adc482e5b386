"""Each operator category's formula, checked against a hand calculation on a small layer."""

import torch
from torch import nn

from resnet_cli.analysis.analyze import analyze
from resnet_cli.report.rows import totals


def _run(module, shape, training=False):
    with torch.device("meta"):
        model = module()
    return analyze(model, shape, training=training)


def _by(analysis, category, phase="forward"):
    return sum(op.flops for op in analysis.ops if op.category == category and op.phase == phase)


def test_convolution_with_bias():
    # 3x3/2 conv, 3 -> 8 channels, padding 1, on 9x9: output 8x5x5.
    # MACs = Cout*Hout*Wout * Cin*k*k = 8*5*5 * 3*3*3 = 5,400; FLOPs = 2*5,400 + 200 bias adds
    a = _run(lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=True), (1, 3, 9, 9))
    assert totals(a).macs == 5_400
    assert _by(a, "convolution") == 10_800 + 200
    assert totals(a).flops == 5_400  # fvcore: MACs, bias ignored


def test_grouped_convolution():
    # 3x3 conv 8 -> 8 in 4 groups on 6x6 (padding 1): each output sees 8/4 = 2 input channels
    # MACs = 8*6*6 * 2*3*3 = 5,184
    a = _run(lambda: nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False), (1, 8, 6, 6))
    assert totals(a).macs == 5_184 and _by(a, "convolution") == 10_368


def test_linear():
    # [2,16] x [16,4]: 2*16*4 = 128 MACs, + 2*4 bias adds
    a = _run(lambda: nn.Linear(16, 4), (2, 16))
    assert totals(a).macs == 128 and _by(a, "linear") == 256 + 8 and totals(a).flops == 128


def test_batch_norm_inference_and_training():
    # 2x8x4x4 = 256 elements: 2 per element in inference, 5 in training (fvcore's convention)
    a = _run(lambda: nn.BatchNorm2d(8), (2, 8, 4, 4))
    assert _by(a, "batch_norm") == 512 and totals(a).flops == 512
    t = _run(lambda: nn.BatchNorm2d(8), (2, 8, 4, 4), training=True)
    assert _by(t, "batch_norm") == 5 * 256 + 1  # + the num_batches_tracked counter's one addition
    assert _by(t, "batch_norm", "backward") == 9 * 256


def test_activations():
    a = _run(lambda: nn.ReLU(), (2, 3, 5, 5))
    assert _by(a, "activation") == 150
    s = _run(lambda: nn.Sigmoid(), (2, 3, 5, 5))
    assert _by(s, "activation") == 4 * 150


def test_pooling():
    # 3x3/2 max-pool, padding 1, 4x8x8 -> 4x4x4 = 64 outputs, 8 comparisons each
    a = _run(lambda: nn.MaxPool2d(3, 2, 1), (1, 4, 8, 8))
    assert _by(a, "pooling") == 64 * 8
    # 2x2/2 average pool: 64 outputs of a 4-element window: 3 additions + 1 division
    b = _run(lambda: nn.AvgPool2d(2, 2), (1, 4, 8, 8))
    assert _by(b, "pooling") == 64 * 4
    # global average pool: 256 inputs -> 4 outputs: 252 additions + 4 divisions = 256; fvcore 1/input
    c = _run(lambda: nn.AdaptiveAvgPool2d(1), (1, 4, 8, 8))
    assert _by(c, "pooling") == 256 and totals(c).flops == 256


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x):
        return self.conv(x) + x


def test_residual_add_forward_and_backward():
    # 1x4x3x3 = 36 elements added; in the backward the gradients of x (through the conv and the
    # shortcut) meet in one addition of 36 elements
    a = _run(Residual, (1, 4, 3, 3))
    assert _by(a, "residual_add") == 36
    t = _run(Residual, (1, 4, 3, 3), training=True)
    assert _by(t, "residual_add") == 36


def test_convolution_backward_respects_which_gradients_are_needed():
    # the input does not require grad (as an image in training): only grad_weight is computed, with
    # the forward's MACs: 4*3*3 * 4 = 144
    t = _run(lambda: nn.Conv2d(4, 4, 1, bias=False), (1, 4, 3, 3), training=True)
    assert sum(op.macs for op in t.ops if op.phase == "backward") == 144
    # two convs in a row: the second also needs grad_input: 144 + 144 + 144
    t2 = _run(
        lambda: nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.Conv2d(4, 4, 1, bias=False)),
        (1, 4, 3, 3),
        training=True,
    )
    assert sum(op.macs for op in t2.ops if op.phase == "backward") == 3 * 144


class Cumulative(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


def test_an_operator_without_a_formula_is_listed_not_hidden():
    a = _run(Cumulative, (2, 5))
    unsupported = [op for op in a.ops if not op.supported]
    assert [op.op for op in unsupported] == ["aten.cumsum"]


def test_inference_peak_and_training_saved_memory_by_hand():
    # conv 1->4 (1x1) then BN on 1x1x4x4: the conv output (64 floats = 256 B) is alive while BN writes
    # its own output (256 B): peak 512 B
    a = _run(lambda: nn.Sequential(nn.Conv2d(1, 4, 1, bias=False), nn.BatchNorm2d(4)), (1, 1, 4, 4))
    assert a.peak_activation_bytes(4) == 512
    assert a.peak_activation_bytes(2) == 256
    # Linear 4->3 on a 2x4 input: autograd keeps the input (8 floats = 32 B) for the weight gradient;
    # the weight it also keeps is a parameter, not an activation
    t = _run(lambda: nn.Linear(4, 3), (2, 4), training=True)
    assert t.saved_activation_bytes(4) == 32


def test_analysis_leaves_a_real_model_as_it_found_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, (2, 3, 8, 8), training=True)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert not torch.nn.modules.module._global_forward_hooks
