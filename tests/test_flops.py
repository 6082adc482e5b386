"""`resnet-cli flops` against the references: fvcore's FlopCountAnalysis and ActivationCountAnalysis run
on the real model, torch.utils.flop_counter forward and backward, torchvision's published figures."""

import json
import logging
import warnings

import pytest
import torch
from conftest import assert_one_line_error
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from torch.utils.flop_counter import FlopCounterMode

from resnet_cli.base.values import parse_input_shape
from resnet_cli.nn.model import build_model
from resnet_cli.report.rows import totals
from resnet_cli.sources.target import analyze_target, resolve_target
from resnet_cli.spec.registry import VARIANTS

logging.getLogger("fvcore").setLevel(logging.ERROR)


def _fvcore(model, x):
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        flops = FlopCountAnalysis(model, (x,))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        activations = ActivationCountAnalysis(model, (x,))
        activations.unsupported_ops_warnings(False)
        return flops.total(), activations.total()


# One variant of each family at odd, non-square sizes (every padding and ceil-mode edge); every variant is
# checked against fvcore stage by stage at a small size in tests/test_verify.py.
ODD_SIZE_VARIANTS = [
    "resnet18",
    "resnext50_32x4d",
    "resnet50_v1",
    "resnet50d",
    "seresnet50",
    "resnetv2_50",
    "resnet56",
    "resnet18_cifar",
    "resnet50v2_keras",
]


@pytest.mark.parametrize("name", ODD_SIZE_VARIANTS)
def test_totals_equal_fvcore_on_the_real_model_at_odd_sizes(name):
    _check_against_fvcore(name, (2, 3, 33, 29) if VARIANTS[name].default_input[2] == 32 else (2, 3, 115, 97))


@pytest.mark.parametrize("name", ["resnet50", "resnet50d"])
def test_totals_equal_fvcore_at_the_issue_odd_size(name):
    _check_against_fvcore(name, (2, 3, 231, 197))


def _check_against_fvcore(name, shape):
    t = totals(analyze_target(resolve_target(name, input_shape=tuple(shape)))[1])
    torch.manual_seed(0)
    model = build_model(VARIANTS[name].spec).eval()
    fv_flops, fv_activations = _fvcore(model, torch.randn(shape))
    assert t.flops == fv_flops
    assert t.fvcore_activations == fv_activations


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet50", "seresnet50", "resnet50d", "resnetv2_50", "resnet50v2_keras", "resnet20"]
)
def test_two_per_mac_and_backward_equal_torch_flop_counter(name):
    # (grouped convs are left out: torch.utils.flop_counter counts a grouped convolution_backward as if it
    # were ungrouped — see test_grouped_backward_is_counted_per_group)
    shape = (2, 3, 32, 32)  # every variant takes it (total stride at most 32); training BN sees 2 values
    text = "x".join(map(str, shape))
    target = resolve_target(name, input_shape=parse_input_shape(text))
    _, inference = analyze_target(target)
    _, step = analyze_target(target, training=True)
    torch.manual_seed(0)
    model = build_model(VARIANTS[name].spec)
    x = torch.randn(shape)
    with torch.no_grad(), FlopCounterMode(display=False) as forward:
        model.eval()(x)
    assert totals(inference).flops_2x == forward.get_total_flops()
    model.train()
    with FlopCounterMode(display=False) as both:
        out = model(x)
        out.backward(torch.ones_like(out))
    t = totals(step)
    assert 2 * (t.macs + t.backward_macs) == both.get_total_flops()


def _flops_json(cli, *args):
    result = cli("flops", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_flops_json_schema_and_torchvision_figures(cli):
    doc = _flops_json(cli, "--input", "1x3x224x224")
    assert doc["model"] == "resnet50" and doc["input_shape"] == [1, 3, 224, 224]
    total = doc["total"]
    # fvcore on torchvision's resnet50 at 224: 4,111,512,576; torchvision's table: 4.089 GMACs;
    # torch's FlopCounterMode: 8,178,368,512
    assert (total["flops"], total["macs"], total["flops_2x_macs"]) == (4_111_512_576, 4_089_184_256, 8_178_368_512)
    assert total["params"] == 25_557_032
    assert set(doc["by_operator"]) == {
        "convolution",
        "linear",
        "batch_norm",
        "activation",
        "pooling",
        "residual_add",
        "other",
    }
    assert sum(c["flops"] for c in doc["by_operator"].values()) == total["all_flops"]
    # the 16 residual additions of resnet50 at 224, by hand: 3x256x56x56 + 4x512x28x28 + 6x1024x14x14
    # + 3x2048x7x7 = 5,519,360 elements
    assert doc["by_operator"]["residual_add"]["flops"] == 5_519_360
    assert doc["by_operator"]["activation"]["calls"] == 49
    assert doc["unsupported"] == []
    rows = doc["by_module"]["rows"]
    assert sum(r["flops"] for r in rows) == total["flops"] and sum(r["macs"] for r in rows) == total["macs"]
    names = [c["name"] for c in doc["conventions"]]
    assert names == ["fvcore", "torchvision (MACs)", "torch.utils.flop_counter", "resnet-cli (every op)"]
    memory = doc["memory"]
    assert memory["param_bytes"] == 4 * 25_557_032
    # fvcore's ActivationCountAnalysis on resnet50 at 224: 11,114,984 (conv outputs + fc outputs)
    assert memory["activations_fvcore"] == 11_114_984


def test_flops_and_summary_totals_against_fvcore_and_torchs_counter(cli):
    import torchvision

    flops = _flops_json(cli, "resnext50_32x4d", "--input", "2x3x80x64")
    summary = json.loads(cli("summary", "resnext50_32x4d", "--input", "2x3x80x64", "--format", "json").stdout)
    model = torchvision.models.resnext50_32x4d().eval()
    x = torch.randn(2, 3, 80, 64)
    with torch.no_grad():
        fvcore = FlopCountAnalysis(model, x)
        fvcore.unsupported_ops_warnings(False)
        fvcore.uncalled_modules_warnings(False)
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
    params = sum(p.numel() for p in model.parameters())
    for document in (flops, summary):
        assert document["total"]["flops"] == fvcore.total()
        assert 2 * document["total"]["macs"] == counter.get_total_flops()
        assert document["total"]["params"] == params


def test_per_sample_is_the_batch_total_divided(cli):
    one = _flops_json(cli, "resnet18", "--input", "1x3x96x96")["total"]
    eight = _flops_json(cli, "resnet18", "--input", "8x3x96x96")["total"]
    assert eight["flops"] == 8 * one["flops"] and eight["per_sample"]["flops"] == one["flops"]


# The ResNet paper (He et al. 2015), Table 1, "FLOPs" row (multiply-adds of one 224x224 image), ×10^9.
PAPER_TABLE_1 = {"resnet18": 1.8, "resnet34": 3.6, "resnet50_v1": 3.8, "resnet101_v1": 7.6, "resnet152_v1": 11.3}


@pytest.mark.parametrize("name, published", sorted(PAPER_TABLE_1.items()))
def test_paper_figure_beside_ours(cli, name, published):
    doc = _flops_json(cli, name)
    assert doc["paper"]["gflops"] == published
    # the paper prints 2-3 significant digits of the same count (its 3.8 is our 3.858): within 2 %
    assert abs(doc["total"]["macs"] / 1e9 - published) / published < 0.02
    assert doc["paper"]["ours_gmacs_per_sample"] == round(doc["total"]["macs"] / 1e9, 3)


def test_paper_figure_only_at_the_papers_size(cli):
    assert _flops_json(cli, "resnet18", "--input", "1x3x256x256")["paper"] is None


def test_training_adds_the_backward(cli):
    doc = _flops_json(cli, "resnet18", "--input", "2x3x64x64", "--training", "--dtype", "bfloat16")
    training = doc["training"]
    assert training["backward_flops"] > training["forward_flops"]
    assert training["step_flops"] == training["forward_flops"] + training["backward_flops"]
    assert doc["memory"]["bytes_per_element"] == 2
    assert doc["memory"]["training_saved_activation_bytes"] > doc["memory"]["inference_peak_activation_bytes"]
    assert "convolution" in training["backward_by_operator"]


@pytest.mark.parametrize(
    "fmt, marker",
    [
        ("table", "Conventions side by side"),
        ("csv", "table,name,metric,value"),
        ("markdown", "#### By operator category"),
    ],
)
def test_other_formats(cli, fmt, marker):
    result = cli("flops", "resnet18", "--format", fmt)
    assert result.exit_code == 0 and marker in result.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--input", "1x3x2e2x224"], "is not an integer"),
        (["--input", "1x3x0x224"], "H = 0"),
        (["--input", "99999x3x99999x99999"], "overflow"),
        (["--dtype", "float64"], "--dtype 'float64' is not accepted; choose one of: float32, float16, bfloat16"),
        (["--dtype", "fp16", "--input", "1x3x2x2"], "too small for resnet50"),
        (["--depth", "x"], "--depth 'x'"),
    ],
)
def test_bad_input(cli, args, fragment):
    assert_one_line_error(cli("flops", *args), 2, fragment)


def test_grouped_backward_is_counted_per_group():
    # a 3x3 conv 8->8 in 4 groups on 1x8x6x6 does 8*6*6*(8/4)*9 = 5,184 MACs forward; its grad_input and
    # grad_weight each do the same 5,184. torch.utils.flop_counter's convolution_backward formula ignores
    # `groups` for grad_weight and reports 4x (groups x) too much there; its forward and grad_input agree.
    from torch import nn

    from resnet_cli.analysis.analyze import analyze

    def build():
        return nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False), nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False)
        )

    with torch.device("meta"):
        meta = build()
    step = analyze(meta, (1, 8, 6, 6), training=True)
    backward = [op.macs for op in step.ops if op.op == "aten.convolution_backward"]
    assert backward == [
        2 * 5_184,
        5_184,
    ]  # the second conv needs grad_input and grad_weight; the first only grad_weight
    model = build()
    x = torch.randn(1, 8, 6, 6)
    with FlopCounterMode(display=False) as counter:
        y = model(x)
        y.backward(torch.ones_like(y))
    counts = counter.get_flop_counts()["Global"]
    assert counts[torch.ops.aten.convolution] == 2 * 2 * 5_184
    grad_input, grad_weight = 5_184, 5_184
    assert counts[torch.ops.aten.convolution_backward] == 2 * (grad_input + 4 * grad_weight + 4 * grad_weight)
