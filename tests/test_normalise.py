"""Code that computes the same thing is the same structure (issue 16, requirements 1 and 2).

Each normalisation rule of ``resnet_cli.structure.normalise`` on a one-layer model, with the layer PyTorch
would build for the same thing beside it; then the issue's student models (tests/fixtures/issue16_models.py):
a faithful Keras port and a TF-slim ResNet-50 V2 equal the Keras variants they port, and a BatchNorm eps of
1.001e-5 is one row for the whole model that costs nothing.
"""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_cli.analysis.analyze import analyze
from resnet_cli.comparison.models import compare_models
from resnet_cli.structure import normalise
from resnet_cli.structure.align import align, structure
from resnet_cli.structure.layers import layers

REPO = Path(__file__).resolve().parents[1]
STUDENTS = "tests/fixtures/issue16_models.py"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def _layers(model, shape=(1, 8, 16, 16)):
    with torch.device("meta"):
        model = model()
    return layers(analyze(model, shape))


def _same(a, b, shape=(1, 8, 16, 16)):
    with torch.device("meta"):
        first, second = a(), b()
    return align(structure(analyze(first, shape)), structure(analyze(second, shape))).identical


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_rules_are_listed_in_order():
    assert normalise.RULES == (
        normalise.drop_no_op_pools,
        normalise.fold_zero_padding,
        normalise.conv_on_one_pixel_as_linear,
    )


def test_zero_padding_then_valid_conv_is_the_padded_conv():
    padded = _layers(lambda: nn.Sequential(nn.ZeroPad2d(2), nn.Conv2d(8, 4, 5, padding=0)))
    assert [l.kind for l in padded] == ["conv"]
    assert padded[0].get("padding") == (2, 2) and padded[0].in_shapes == ((1, 8, 16, 16),)
    assert _same(lambda: nn.Sequential(nn.ZeroPad2d(2), nn.Conv2d(8, 4, 5)), lambda: nn.Conv2d(8, 4, 5, padding=2))
    # F.pad with an explicit zero, and a pad added to a conv's own padding
    assert _same(
        lambda: nn.Sequential(Lambda(lambda x: F.pad(x, (1, 1, 1, 1), value=0.0)), nn.Conv2d(8, 4, 3, 1, 1)),
        lambda: nn.Conv2d(8, 4, 3, padding=2),
    )


def test_asymmetric_padding_stays_a_layer_and_is_named_for_height_and_width():
    found = _layers(lambda: nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 4, 3, stride=2)))
    assert [l.kind for l in found] == ["pad", "conv"]
    from resnet_cli.structure.layers import describe

    assert describe(found[0]) == "zero-padding of height and width (0, 1, 0, 1)"
    assert not _same(
        lambda: nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 4, 3, stride=2)),
        lambda: nn.Conv2d(8, 4, 3, stride=2, padding=1),
    )


def test_zero_padding_then_pool_is_the_padded_pool():
    assert _same(
        lambda: nn.Sequential(nn.ReLU(), nn.ZeroPad2d(1), nn.MaxPool2d(3, 2)),
        lambda: nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, padding=1)),
    )
    assert _same(
        lambda: nn.Sequential(nn.ZeroPad2d(1), nn.AvgPool2d(3, 1)),
        lambda: nn.AvgPool2d(3, 1, padding=1, count_include_pad=True),
    )


def test_a_pad_read_twice_does_not_fold():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.pad, self.a, self.b = nn.ZeroPad2d(1), nn.Conv2d(8, 4, 3), nn.Conv2d(8, 4, 3)

        def forward(self, x):
            x = self.pad(x)
            return self.a(x) + self.b(x)

    assert [l.kind for l in _layers(Twice)][0] == "pad"


def test_no_op_pools_are_nothing():
    for pool in (lambda: nn.MaxPool2d(1), lambda: nn.AvgPool2d(1), lambda: nn.MaxPool2d(1, stride=1)):
        assert _same(
            lambda pool=pool: nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), pool(), nn.ReLU()),
            lambda: nn.Sequential(nn.Conv2d(8, 4, 3, padding=1), nn.Identity(), nn.ReLU()),
        )
    # a 1×1 pool of stride 2 subsamples: it stays
    assert [l.kind for l in _layers(lambda: nn.MaxPool2d(1, stride=2))] == ["maxpool"]


def test_conv_on_one_pixel_is_a_linear_layer_and_global_pools_are_one():
    class ConvHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = nn.Conv2d(8, 10, 1)

        def forward(self, x):
            return self.logits(torch.mean(x, (2, 3), keepdim=True)).squeeze(3).squeeze(2)

    class LinearHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(x), 1))

    found = _layers(ConvHead)
    assert [l.kind for l in found] == ["gap", "linear"]
    assert found[1].params == 8 * 10 + 10 and found[1].in_shapes == ((1, 8),)
    assert _same(ConvHead, LinearHead)
    assert _same(lambda: nn.Sequential(Lambda(lambda x: x.mean((2, 3))), nn.Linear(8, 10)), LinearHead)


def test_relu_forms_are_one():
    assert _same(
        lambda: nn.Sequential(nn.Conv2d(8, 4, 3), nn.ReLU(inplace=True)),
        lambda: nn.Sequential(nn.Conv2d(8, 4, 3), Lambda(F.relu)),
    )
    assert _same(
        lambda: nn.Sequential(nn.Conv2d(8, 4, 3), nn.ReLU()),
        lambda: nn.Sequential(nn.Conv2d(8, 4, 3), Lambda(lambda x: F.relu(x, inplace=True))),
    )


def test_batchnorm_eps_and_momentum_are_settings_not_structure():
    one = _layers(lambda: nn.BatchNorm2d(8, eps=1.001e-5, momentum=0.01))
    assert dict(one[0].settings)["eps"] == pytest.approx(1.001e-5)
    assert _same(lambda: nn.BatchNorm2d(8, eps=1.001e-5, momentum=0.01), lambda: nn.BatchNorm2d(8))


def test_faithful_keras_port_is_resnet50_keras_and_settings_are_zero_cost_rows():
    comparison = compare_models(["resnet50_keras", f"{STUDENTS}:keras_resnet50"])
    rows = comparison.models[1].differences
    # the port's x.mean((2, 3)) is 0 FLOPs to fvcore, the rebuild's AdaptiveAvgPool2d 1 per element (2048·7·7):
    # the registry rebuilds resnet50_keras with Keras's own eps (1.001e-5) and momentum (0.99, PyTorch's 0.01):
    # no row at all; the port's x.mean((2, 3)) is 0 FLOPs to fvcore where AdaptiveAvgPool2d counts 2048·7·7
    assert rows == ()
    assert comparison.models[1].flops - comparison.models[0].flops == -2048 * 49
    # against torchvision's settings, each setting is one zero-cost row for the whole model
    rows = compare_models(["resnet50", f"{STUDENTS}:keras_resnet50"]).models[1].differences
    settings = [r for r in rows if r.costed == "none"]
    assert [r.message.split(";")[0] for r in settings] == [
        "every BatchNorm: eps 1.001e-05, momentum 0.01 where the reference has eps 1e-05, momentum 0.1"
    ]
    assert all((r.params_delta, r.flops_delta) == (0, 0) for r in settings)
    closest = comparison.models[1].closest
    assert (closest.label, closest.exact) == ("resnet50_keras", True)
    # the same parameters as keras.applications.ResNet50's summary: 25,636,712 (23,534,592 + 2,049,000 … counted
    # by Keras: Total params 25,636,712 of which 53,120 non-trainable BatchNorm statistics)
    assert comparison.models[1].params == 25_636_712 - 53_120


def test_tf_slim_v2_is_resnet50v2_keras():
    comparison = compare_models([f"{STUDENTS}:slim_resnet50_v2"])
    subject = comparison.subject
    assert (subject.closest.label, subject.closest.exact) == ("resnet50v2_keras", True)
    assert subject.differences == ()
    # keras.applications.ResNet50V2: Total params 25,613,800, of which 45,440 non-trainable BatchNorm statistics
    assert subject.params == 25_613_800 - 45_440


def test_flat_keras_names_name_their_block():
    from resnet_cli.structure.align import flat_prefix

    assert flat_prefix(["conv3_block1_1_conv", "conv3_block1_0_bn", "conv3_block1_3_bn"]) == "conv3_block1"
    assert flat_prefix(["conv2_block10_1_conv", "conv2_block1_1_conv"]) == "conv2"  # never half a word
    assert flat_prefix(["conv1", "bn1"]) == ""


def test_an_eps_on_some_batchnorms_is_one_row_naming_them():
    class Net(nn.Module):
        def __init__(self, eps):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn_a = nn.BatchNorm2d(8, eps=eps)
            self.bn_b = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            x = F.relu(self.bn_b(self.bn_a(self.conv(x))))
            return self.fc(x.mean((2, 3)))

    from resnet_cli.comparison.diagnose import findings
    from resnet_cli.comparison.folding import fold

    with torch.device("meta"):
        ref, model = Net(1e-5), Net(1e-3)
    a, b = (structure(analyze(m, (1, 3, 8, 8))) for m in (ref, model))
    alignment = align(a, b)
    assert alignment.identical  # a setting never stops two layers from matching
    (row,) = fold(findings(alignment), a, b, 1)
    assert row.message.startswith("bn_a: eps 0.001 where the reference has 1e-05")
    assert (row.params_delta, row.flops_delta) == (0, 0)
