"""Every cost charged to its cause, and the rows adding up (issue 16, requirement 3).

A row's cost is what that difference alone does to the reference: for a Keras-style ResNet-50 that forgot the
max-pool, the max-pool's row is every FLOP its larger maps cost; the v1 stride placement alone is −232.3 M (the
three strided 1×1 convs: worked out by hand below); the last "combined effect" row holds the interaction, so
the rows add up exactly to the totals' difference — checked as a property over random pairs of registered
variants with random flag changes.
"""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from resnet_cli.comparison.models import _analyse, _comparison, compare_models
from resnet_cli.sources.target import target_of_spec
from resnet_cli.spec import registry
from resnet_cli.spec.fields import ConvBias, Shortcut, StemPool, StrideAt

REPO = Path(__file__).resolve().parents[1]
STUDENTS = "tests/fixtures/issue16_models.py"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def _adds_up(comparison):
    first, second = comparison.models[0], comparison.models[-1]
    rows = second.differences
    assert sum(r.params_delta for r in rows) == second.params - first.params
    assert sum(r.flops_delta for r in rows) == second.flops - first.flops
    return rows


def _v1_placement_alone():
    """ResNet-50 v1.5 → v1 in one downsampling block of width p at output size s×s (input 2s×2s): conv1 (1×1, Cin→p)
    runs at s² instead of (2s)², conv2 (3×3, p→p) at s² both ways but now on the strided map; only conv1 and its
    BatchNorm and conv2's input change. MACs: conv1 Cin·p·(s² − 4s²); BN1 2 FLOPs per element p·(s² − 4s²); conv2
    p·p·9·s² both (unchanged)."""
    total = 0
    for cin, p, s in ((256, 128, 28), (512, 256, 14), (1024, 512, 7)):
        total += cin * p * (s * s - 4 * s * s) + 2 * p * (s * s - 4 * s * s)
    return total


def test_two_differences_each_charged_alone_and_the_rest_combined():
    comparison = compare_models(["resnet50", f"{STUDENTS}:keras_resnet50_no_maxpool"])
    differences = _adds_up(comparison)
    kinds = [(r.kind, r.message.split(";")[0]) for r in differences]
    assert kinds[0] == ("extra", "every conv: a bias where the reference's conv has none")
    bias = differences[0]
    # a bias on every conv: 53 convs' output channels (the stem's 64, each block's, the 4 projections) — its
    # parameters only, fvcore counts no bias FLOP, whatever the maps' sizes elsewhere
    assert (bias.params_delta, bias.flops_delta) == (26_560, 0)
    stride = next(r for r in differences if "v1 placement" in r.message)
    assert stride.message.startswith(
        "conv3_block1, conv4_block1 and conv5_block1 (reference: layer2.0, layer3.0 and "
        "layer4.0): stride 2 is on 1_conv (1×1)"
    )
    assert stride.flops_delta == _v1_placement_alone() and stride.costed == "alone"
    pool = next(r for r in differences if "max-pool" in r.message)
    assert pool.kind == "missing" and pool.costed == "alone" and pool.flops_delta > 11_000_000_000
    assert differences[-1].kind == "combined" and differences[-1].params_delta == 0


def test_the_max_pool_row_holds_what_it_alone_costs_against_the_keras_variant():
    comparison = compare_models(["resnet50_keras", f"{STUDENTS}:keras_resnet50_no_maxpool"])
    _adds_up(comparison)
    differences = [r for r in comparison.models[1].differences if r.costed != "none"]  # the eps setting aside
    pool, combined = differences
    # the same network with the stem pool off, as the registry builds it: resnet50_keras --stem-pool none
    alone = compare_models(["resnet50_keras", "resnet50_keras"], overrides=None)
    assert alone.models[0].flops == comparison.models[0].flops
    no_pool = compare_models(["resnet50_keras"], overrides={"stem_pool": StemPool.NONE})
    assert pool.flops_delta == no_pool.models[0].flops - comparison.models[0].flops
    # the rest: x.mean is 0 FLOPs to fvcore where AdaptiveAvgPool2d counts its 2048·14·14 input elements
    assert (combined.params_delta, combined.flops_delta) == (0, -2048 * 14 * 14)


def test_identity_shortcut_mistake_costs_the_missing_projection():
    comparison = compare_models(["resnet18_cifar", f"{STUDENTS}:cifar_resnet18_identity_shortcut"])
    row = comparison.models[1].differences[0]
    assert row.message.startswith("2.0 (reference: layer2.0): identity shortcut where the reference's is a projection")
    assert row.params_delta == -(64 * 128 + 2 * 128)  # the 1×1 conv 64→128 and its BatchNorm's γ, β: 8,448


def test_padding_change_named_in_both_models_words():
    comparison = compare_models(["resnet18_cifar", f"{STUDENTS}:cifar_resnet18_valid_conv2"])
    row = comparison.models[1].differences[0]
    assert row.message.startswith(
        '1.0.body.squash_b (reference: layer1.0.conv2): padding 0 ("valid") where the '
        "reference pads 1: output 30×30 instead of 32×32"
    )
    assert not any("stem" in r.message or "bottleneck" in r.message for r in comparison.models[1].differences)


VARIANTS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_v1",
    "resnet50d",
    "resnext50_32x4d",
    "seresnet50",
    "resnet26t",
    "ecaresnet26t",
    "resnetv2_50",
    "resnet50_keras",
    "resnet50v2_keras",
    "resnet18_cifar",
)
FLAGS = st.fixed_dictionaries(
    {},
    optional={
        "stride_at": st.sampled_from([StrideAt.CONV3X3, StrideAt.FIRST_1X1]),
        "shortcut": st.sampled_from([Shortcut.PROJECTION, Shortcut.AVGPOOL]),
        "conv_bias": st.sampled_from(list(ConvBias)),
        "stem_pool": st.sampled_from([StemPool.MAX, StemPool.NONE]),
        "layers": st.sampled_from([(2, 2, 2, 2), (1, 2, 3, 1), (3, 4, 6, 3)]),
    },
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)  # no shrinking: each example analyses ResNets
@given(st.sampled_from(VARIANTS), st.sampled_from(VARIANTS), FLAGS)
def test_rows_add_up_over_random_pairs_and_flags(first, second, flags):
    shape = (1, 3, 64, 64)
    specs = [registry.VARIANTS[first].spec, registry.VARIANTS[second].spec]
    try:
        specs[1] = dataclasses.replace(specs[1], **flags).validate()
    except Exception:  # noqa: BLE001 — a flag this variant refuses (a layer count for a 3-stage net…)
        specs[1] = registry.VARIANTS[second].spec
    analysed = [
        _analyse(dataclasses.replace(target_of_spec(spec, shape), name=f"m{i}"), None) for i, spec in enumerate(specs)
    ]
    comparison = _comparison(analysed, [None, None])
    _adds_up(comparison)
    assert all(r.costed in ("alone", "layers", "none", "remainder") for r in comparison.models[1].differences)


def test_channel_attention_is_applied_alone_as_a_whole_module():
    # timm's SEModule on each BasicBlock of resnet34 (seresnet34): fc1 C→C/16 rounded to 8, fc2 back, both with
    # biases; fvcore counts both 1×1 convs on a 1×1 map (c·r MACs each) and nothing for the x.mean of its squeeze
    comparison = compare_models(["resnet34", "seresnet34"])
    (row,) = comparison.models[1].differences
    widths = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3

    def reduced(c):
        return max(8, int(c / 16 + 4) // 8 * 8)

    params = sum(2 * c * reduced(c) + reduced(c) + c for c in widths)
    flops = sum(2 * c * reduced(c) for c in widths)
    assert row.costed == "alone" and (row.params_delta, row.flops_delta) == (params, flops)
