"""Every named variant against its reference: torchvision itself, the ResNet paper's CIFAR table, and Keras's
published model summaries (timm and the follow-up papers: tests/test_families.py). Nothing here compares
resnet-cli with its own output; where a variant is analysed at its default input, the closed form `list` prints
is checked against that analysis too."""

import pytest
import torch
import torchvision

from resnet_cli.nn.model import build_model
from resnet_cli.report.rows import totals
from resnet_cli.sources.target import analyze_target, resolve_target
from resnet_cli.spec import closed_form
from resnet_cli.spec.registry import VARIANTS

TORCHVISION = [n for n, v in VARIANTS.items() if v.family == "torchvision"]


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _shapes(state_dict) -> dict:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def _assert_closed_form(name, t) -> None:
    figures = closed_form.counts(VARIANTS[name].spec, VARIANTS[name].default_input)
    assert (figures.params, figures.macs, figures.flops) == (t.params, t.macs, t.flops)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_published_params_and_macs(name):
    # torchvision's own weight metadata: "num_params" and "_ops" (its GFLOPS column, which counts
    # conv + linear multiply-accumulates at 224x224, rounded to 3 decimals)
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    t = totals(analyze_target(resolve_target(name))[1])
    assert t.params == meta["num_params"]
    assert round(t.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)
    _assert_closed_form(name, t)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_checkpoint_loads_strictly_and_gives_identical_outputs(name):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)().eval()
    # ours takes every tensor from torchvision's: no initialisation of its own to pay for
    ours = build_model(VARIANTS[name].spec, "meta").to_empty(device="cpu").eval()
    assert _shapes(ours.state_dict()) == _shapes(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


# The ResNet paper (He et al. 2015), Table 6: CIFAR-10 nets of 6n+2 layers and their parameter counts.
PAPER_CIFAR = {
    "resnet20": 0.27e6,
    "resnet32": 0.46e6,
    "resnet44": 0.66e6,
    "resnet56": 0.85e6,
    "resnet110": 1.7e6,
    "resnet1202": 19.4e6,
}


@pytest.mark.parametrize("name, published", PAPER_CIFAR.items())
def test_cifar_params_match_the_paper(name, published):
    n = (int(name[len("resnet") :]) - 2) // 6
    params = _params(build_model(VARIANTS[name].spec, "meta"))
    # the exact count by hand: 3x3 conv 3->16 + BN; stage 1: n blocks of two 3x3 16->16 convs + 2 BN;
    # stages 2 and 3: the first block widens (option A shortcut: no parameters), then n-1 plain blocks;
    # fc 64->10 with bias
    conv = lambda cin, cout: 9 * cin * cout
    bn = lambda c: 2 * c
    stage1 = n * (2 * conv(16, 16) + 2 * bn(16))
    stage2 = conv(16, 32) + conv(32, 32) + 2 * bn(32) + (n - 1) * (2 * conv(32, 32) + 2 * bn(32))
    stage3 = conv(32, 64) + conv(64, 64) + 2 * bn(64) + (n - 1) * (2 * conv(64, 64) + 2 * bn(64))
    expected = conv(3, 16) + bn(16) + stage1 + stage2 + stage3 + 64 * 10 + 10
    assert params == expected
    # what `list` prints (the closed form) is the same count; and its MACs, by hand at 32x32: each 3x3 conv does
    # 9·Cin·Cout per output position (32², 16², 8² in the three stages), the fc 64·10
    from resnet_cli.spec import closed_form

    figures = closed_form.counts(VARIANTS[name].spec, (1, 3, 32, 32))
    assert figures.params == expected
    macs = (
        (conv(3, 16) + 2 * n * conv(16, 16)) * 32 * 32
        + (conv(16, 32) + (2 * n - 1) * conv(32, 32)) * 16 * 16
        + (conv(32, 64) + (2 * n - 1) * conv(64, 64)) * 8 * 8
        + 64 * 10
    )
    assert figures.macs == macs
    # and the paper's rounded figure (2 significant digits, 3 for 0.27M etc.)
    assert abs(params - published) / published < 0.03


def test_cifar_adaptations_of_imagenet_nets():
    # torchvision's resnet18/34 with the 7x7 stem swapped for a 3x3/1 conv (1,728 weights instead of
    # 9,408) and a 10-class fc (5,130 instead of 513,000); no max-pool
    for name, imagenet in (("resnet18_cifar", 11_689_512), ("resnet34_cifar", 21_797_672)):
        expected = imagenet - 9_408 + 1_728 - 513_000 + 5_130
        assert _params(build_model(VARIANTS[name].spec, "meta")) == expected


# keras.applications model.summary() totals, as Keras prints them: "Total params", "Trainable params",
# "Non-trainable params" (the BatchNorm moving mean and variance).
KERAS = {
    "resnet50_keras": (25_636_712, 25_583_592, 53_120),
    "resnet101_keras": (44_707_176, 44_601_832, 105_344),
    "resnet152_keras": (60_419_944, 60_268_520, 151_424),
    "resnet50v2_keras": (25_613_800, 25_568_360, 45_440),
    "resnet101v2_keras": (44_675_560, 44_577_896, 97_664),
    "resnet152v2_keras": (60_380_648, 60_236_904, 143_744),
}


@pytest.mark.parametrize("name, published", KERAS.items())
def test_keras_summary_totals(name, published):
    total, trainable, non_trainable = published
    t = totals(analyze_target(resolve_target(name))[1])
    assert t.trainable_params == trainable
    assert t.running_stats == non_trainable
    assert t.keras_total_params == total
    _assert_closed_form(name, t)


def test_paper_v1_puts_the_stride_on_the_first_1x1():
    model = build_model(VARIANTS["resnet50_v1"].spec, "meta")
    assert model.layer2[0].conv1.stride == (2, 2) and model.layer2[0].conv2.stride == (1, 1)
    tv = build_model(VARIANTS["resnet50"].spec, "meta")
    assert tv.layer2[0].conv1.stride == (1, 1) and tv.layer2[0].conv2.stride == (2, 2)


@pytest.mark.parametrize("kind", ["basic", "bottleneck", "resnext"])
def test_a_block_built_from_its_config_has_torchvisions_tensors(kind):
    # torchvision.models.resnet's own blocks, built as its _make_layer builds layer2's first block (stride 2,
    # a 1x1 projection shortcut); ours from one BlockConfig: the same tensors, names and outputs
    from torch import nn
    from torchvision.models.resnet import BasicBlock as TvBasic
    from torchvision.models.resnet import Bottleneck as TvBottleneck

    from resnet_cli.nn.model import PROJECTION, BasicBlock, BlockConfig, Bottleneck

    torch.manual_seed(0)
    groups, base_width = (32, 4) if kind == "resnext" else (1, 64)
    tv_block, ours_block = (TvBasic, BasicBlock) if kind == "basic" else (TvBottleneck, Bottleneck)
    cin, planes = 64 * tv_block.expansion, 128
    width = int(planes * base_width / 64) * groups

    def projection():
        return nn.Sequential(
            nn.Conv2d(cin, planes * tv_block.expansion, 1, stride=2, bias=False),
            nn.BatchNorm2d(planes * tv_block.expansion),
        )

    reference = tv_block(cin, planes, 2, projection(), groups, base_width).eval()
    config = BlockConfig(cin=cin, planes=planes, stride=2, shortcut_kind=PROJECTION, width=width, groups=groups)
    ours = ours_block(config, projection()).eval()
    assert _shapes(ours.state_dict()) == _shapes(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, cin, 16, 16)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
