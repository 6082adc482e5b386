"""`compare` names what differs: the classic mistakes of hand-written ResNets, each with its row.

Every fixture is a tutorial's model with one mistake (tests/fixtures/tutorial_mistakes.py,
cifar_tutorials.py, wrong_resnet.py) or a correct model under other names (renamed_resnets.py). The
parameter and FLOP costs expected are worked out by hand in each test from the layers involved.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_cli.base.errors import UsageError
from resnet_cli.comparison.models import compare_models
from resnet_cli.spec.fields import BlockKind, ConvBias, ResNetSpec, Shortcut, StemKind, StrideAt

REPO = Path(__file__).resolve().parents[1]
MISTAKES = "tests/fixtures/tutorial_mistakes.py"
CIFAR = "tests/fixtures/cifar_tutorials.py"
RENAMED = "tests/fixtures/renamed_resnets.py"
WIDTHS = (64, 128, 256, 512)  # ResNet-50's bottleneck widths per stage (planes); blocks output 4×


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def _rows(reference, model, input_text=None):
    """The model's rows but the last "combined effect" one, having checked that all of them add up (issue 16)."""
    shape = tuple(int(n) for n in input_text.split("x")) if input_text else None
    comparison = compare_models([reference, model], input_shape=shape)
    first, second = comparison.models
    rows = second.differences
    if second.failure is None and rows:
        assert sum(r.params_delta for r in rows) == second.params - first.params
        assert sum(r.flops_delta for r in rows) == second.flops - first.flops
    return tuple(r for r in rows if r.kind != "combined"), comparison


def _closest(comparison):
    closest = comparison.subject.closest
    return (closest.label, closest.exact) if closest else None


def test_missing_shortcut_batchnorm():
    (row,), comparison = _rows("resnet50", f"{MISTAKES}:no_shortcut_bn")
    assert row.kind == "missing" and row.blocks == ("layer1.0", "layer2.0", "layer3.0", "layer4.0")
    assert (row.reference, row.model) == ("layer1.0.downsample.1", "layer1.0.downsample")
    assert row.message.startswith(
        "downsample of layer1.0, layer2.0, layer3.0 and layer4.0: no BatchNorm after "
        "the projection conv (reference has BatchNorm2d(256), BatchNorm2d(512), "
    )
    # γ and β of each missing BatchNorm; fvcore counts 2 FLOPs per element of its (4p×H×W) input
    assert row.params_delta == -2 * (256 + 512 + 1024 + 2048)
    assert row.flops_delta == -2 * (256 * 56 * 56 + 512 * 28 * 28 + 1024 * 14 * 14 + 2048 * 7 * 7)
    assert _closest(comparison) == ("resnet50", False)


def test_one_block_names_its_own_path():
    (row,), _ = _rows("resnet20", f"{CIFAR}:resnet20_option_b", "1x3x32x32")
    assert row.message.startswith(
        "layer2.0 and layer3.0: projection shortcut (option B) where the reference has zero-padding (option A)"
    )
    # 1×1 convs 16→32 and 32→64 with their BatchNorms
    assert row.params_delta == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.parametrize(
    "name, kind, message",
    [
        ("no_relu_after_add", "missing", "every block of layer1–layer4: no ReLU after the residual addition; "),
        (
            "relu_before_add",
            "changed",
            "every block of layer1–layer4: ReLU before the residual addition instead of after it; ",
        ),
    ],
)
def test_relu_placement_matters_though_it_costs_nothing(name, kind, message):
    (row,), comparison = _rows("resnet50", f"{MISTAKES}:{name}")
    assert row.kind == kind and row.message.startswith(message) and len(row.blocks) == 3 + 4 + 6 + 3
    assert (row.params_delta, row.flops_delta) == (0, 0)  # fvcore counts neither ReLU nor the addition
    assert comparison.first_divergence.stage == "layer1" and comparison.first_divergence.reasons == ("operators",)


def test_stride_on_the_1x1_is_the_v1_placement():
    (row,), comparison = _rows("resnet50", f"{MISTAKES}:stride_on_1x1")
    assert row.message.startswith(
        "layer2.0, layer3.0 and layer4.0: stride 2 is on conv1 (1×1) where the reference "
        "has it on conv2 (3×3) — this is the v1 placement"
    )
    # conv1 and its BatchNorm of layer2.0 … layer4.0 at half the size: (Cin·Cout + 2·Cout)·(H·W − H·W/4)
    saved = (
        (256 * 128 + 2 * 128) * (56 * 56 - 28 * 28)
        + (512 * 256 + 2 * 256) * (28 * 28 - 14 * 14)
        + (1024 * 512 + 2 * 512) * (14 * 14 - 7 * 7)
    )
    assert row.flops_delta == -saved
    assert _closest(comparison) == ("resnet50_v1", True)


def _bottleneck_resnet50_params(expansion: int) -> int:
    """ResNet-50's parameters with another expansion, layer by layer (bias-free convs, 2 per BN channel)."""
    total = 7 * 7 * 3 * 64 + 2 * 64
    cin = 64
    for planes, blocks in zip(WIDTHS, (3, 4, 6, 3)):
        out = planes * expansion
        for index in range(blocks):
            total += cin * planes + 9 * planes * planes + planes * out + 2 * (planes + planes + out)
            if index == 0:
                total += cin * out + 2 * out
            cin = out
    return total + cin * 1000 + 1000


def test_wrong_expansion():
    (row,), comparison = _rows("resnet50", f"{MISTAKES}:expansion_2")
    assert row.kind == "changed" and row.message.startswith(
        "every block of layer1–layer4: expansion 2 where the reference has 4"
    )
    assert _bottleneck_resnet50_params(4) == 25_557_032  # torchvision's published count, as a check of the sum
    # every narrower layer that follows (next block's conv1, the fc) is this row's cost too
    assert row.params_delta == _bottleneck_resnet50_params(2) - _bottleneck_resnet50_params(4)
    assert _closest(comparison)[1] is True  # expansion 2 is a spec: half the widths, twice the inner width


def test_wrong_block_counts():
    rows, comparison = _rows("resnet50", f"{MISTAKES}:block_counts_2222")
    assert [r.message.split(" (")[0] for r in rows] == [
        "layer1: 2 blocks where the reference has 3",
        "layer2: 2 blocks where the reference has 4",
        "layer3: 2 blocks where the reference has 6",
        "layer4: 2 blocks where the reference has 3",
    ]
    assert [r.blocks for r in rows][1] == ("layer2.2", "layer2.3")
    # an identity bottleneck of width p: 4p·p + 9p·p + p·4p conv weights, 2·(p + p + 4p) BN parameters
    identity = [17 * p * p + 12 * p for p in WIDTHS]
    assert [r.params_delta for r in rows] == [-identity[0], -2 * identity[1], -4 * identity[2], -identity[3]]
    assert _closest(comparison) == ("resnet26", True)  # bottlenecks [2,2,2,2]: timm's resnet26, registered


def test_bias_on_every_conv_keras_v1_style():
    (row,), comparison = _rows("resnet50_v1", f"{MISTAKES}:bias_everywhere")
    assert row.kind == "extra" and row.message.startswith("every conv: a bias where the reference's conv has none")
    # one bias per output channel: the stem's 64, then per block p + p + 4p, and 4p for each projection
    biases = 64 + sum(blocks * 6 * p + 4 * p for p, blocks in zip(WIDTHS, (3, 4, 6, 3)))
    assert row.params_delta == biases == 26_560 and row.flops_delta == 0
    assert _closest(comparison) == ("resnet50_keras", True)


def test_valid_padded_stem_of_a_keras_port():
    (row,), comparison = _rows("resnet20", f"{CIFAR}:resnet20_valid_stem", "1x3x32x32")
    assert row.message.startswith(
        'conv1: padding 0 ("valid") where the reference pads 1: output 30×30 instead of 32×32'
    )
    # every later map is smaller: the FLOPs of the whole network drop, and all of it is this row's
    assert row.flops_delta == comparison.models[1].flops - comparison.models[0].flops - _gap_flops_not_counted()
    assert row.params_delta == 0 and _closest(comparison) == ("resnet20", False)


def _gap_flops_not_counted() -> int:
    # fvcore counts 1 FLOP per input element of adaptive_avg_pool2d (the reference's 1×64×8×8 head) but none
    # for F.avg_pool2d, the tutorial's: a fvcore convention, not a difference of the models
    return -64 * 8 * 8


def test_stride_on_every_conv_compared_up_to_the_failure():
    rows, comparison = _rows("resnet50", "tests/fixtures/wrong_resnet.py:stride_on_every_conv")
    assert [r.kind for r in rows] == ["changed", "fails"]
    assert "stride 2 on conv1 (1×1), conv2 (3×3) and conv3 (1×1)" in rows[0].message
    # 56 / 2·2·2 = 7 on the main path, 56 / 2 = 28 on the projection: the addition is where it breaks
    assert rows[1].message.startswith(
        "layer2.0: the residual addition gets 1×512×7×7 and 1×512×28×28: the two paths downsample differently (28 → 7)"
    )
    assert _closest(comparison) is None


@pytest.mark.parametrize(
    "reference, model, input_text, closest",
    [
        ("resnet50_v1", f"{RENAMED}:KerasStyleResNet50", None, "resnet50_v1"),
        ("resnet18", f"{RENAMED}:FeaturesResNet18", None, "resnet18"),
        ("resnet18_cifar", f"{CIFAR}:ResNet18", "1x3x32x32", "resnet18_cifar"),
        ("resnet20", f"{CIFAR}:resnet20", "1x3x32x32", "resnet20"),
    ],
)
def test_correct_models_with_other_names_have_no_difference(reference, model, input_text, closest):
    rows, comparison = _rows(reference, model, input_text)
    assert rows == () and comparison.first_divergence is None
    assert _closest(comparison) == (closest, True)
    # the table's rows are the reference's stages, the model's numbers aligned with them
    assert [s.params for s in comparison.models[1].aligned] == [s.params for s in comparison.models[0].stages]


def test_option_a_against_option_b_the_other_way():
    (row,), _ = _rows(f"{CIFAR}:resnet20_option_b", "resnet20", "1x3x32x32")
    assert row.message.startswith(
        "layer2.0 and layer3.0: zero-padding shortcut (option A) where the reference has projection (option B)"
    )


def test_unused_layers_are_extra_parameters():
    rows, _ = _rows("tests.fixtures.bad_models:Tiny", "tests/fixtures/bad_models.py:TinyWithUnusedHead")
    assert [(r.kind, r.model, r.params_delta) for r in rows] == [("extra", "spare", 8 * 5 + 5)]


# ---- the search for the closest variant, as a property: any spec's model is identified exactly ----


@st.composite
def specs(draw):
    block = draw(st.sampled_from(list(BlockKind)))
    stages = draw(st.integers(2, 3))
    bottleneck = block.is_bottleneck
    spec = ResNetSpec(
        block=block,
        layers=tuple(draw(st.integers(1, 2)) for _ in range(stages)),
        widths=(8, 16, 32)[:stages],
        stem=draw(st.sampled_from(list(StemKind))),
        stem_width=16,
        stem_pool=draw(st.booleans()),
        stride_at=draw(st.sampled_from([StrideAt.CONV3X3, StrideAt.LAST_BLOCK] + ([StrideAt.FIRST_1X1] * bottleneck))),
        shortcut=draw(st.sampled_from(list(Shortcut))),
        groups=draw(st.sampled_from([1, 2])) if bottleneck else 1,
        se=draw(st.booleans()),
        conv_bias=draw(st.sampled_from(list(ConvBias))),
        num_classes=7,
    )
    try:
        return spec.validate()
    except UsageError:  # the drawn fields do not go together: the same structure with the plain ones
        return ResNetSpec(block=block, layers=spec.layers, widths=spec.widths, num_classes=7).validate()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_every_spec_is_identified_exactly(spec):
    from resnet_cli.analysis.analyze import analyze
    from resnet_cli.comparison.identify import closest
    from resnet_cli.nn.model import build_model
    from resnet_cli.structure.align import structure

    shape = (1, 3, 64, 64)
    found = closest(structure(analyze(build_model(spec, "meta"), shape)), shape)
    assert found is not None and found.exact, (spec, found)
