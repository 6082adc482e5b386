"""The whole family against its references: timm itself (parameters, FlopCounterMode MACs, state_dict names and
shapes, weights and outputs), the follow-up papers' tables (each count derived by hand here), torchvision for
the expansion; the closed form `list` prints against the analysis core for every registered variant; `list`
itself; checkpoints of the new families identified by name."""

import contextlib
import functools
import json
import os
import subprocess
import sys
from unittest import mock

import pytest
import timm
import torch
import torchvision
from conftest import assert_one_line_error
from torch.utils.flop_counter import FlopCounterMode

from resnet_cli.nn.model import build_model
from resnet_cli.report.rows import totals
from resnet_cli.sources.spec_from_weights import identify, spec_of, to_torchvision_names
from resnet_cli.sources.target import analyze_target, resolve_target
from resnet_cli.spec import closed_form
from resnet_cli.spec.fields import Activation, AttentionAt, ResNetSpec
from resnet_cli.spec.registry import FAMILIES, VARIANTS

TIMM = [n for n, v in VARIANTS.items() if v.family == "timm" and not v.sibling_of]
TIMM_SIBLINGS = [n for n, v in VARIANTS.items() if v.family == "timm" and v.sibling_of]
# torchvision's and Keras's variants are analysed at their default input by tests/test_references.py, which
# checks the closed form there, timm's below; every other representative here (a sibling repeats its
# representative's blocks: its closed form is checked against the papers' counts by hand)
CLOSED_FORM_HERE = [
    n for n, v in VARIANTS.items() if v.family not in ("torchvision", "keras", "timm") and not v.sibling_of
]


@functools.cache
def _totals(name: str):
    """The analysis core's totals of a registered variant at its default input (once per session)."""
    return totals(analyze_target(resolve_target(name))[1])


_INITIALISERS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_", "xavier_normal_",
    "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
)  # fmt: skip


@contextlib.contextmanager
def _uninitialised():
    """torch.nn.init's initialisers as no-ops: a model built on the meta device without them has the same modules,
    tensor names and shapes (the counts compared here), minus the second or so that the meta kernels of
    ``normal_`` and friends take in Python for a deep model."""
    with contextlib.ExitStack() as stack:
        for name in _INITIALISERS:
            stack.enter_context(mock.patch.object(torch.nn.init, name, lambda tensor, *_, **__: tensor))
        yield


def _meta_timm(name: str):
    with _uninitialised():
        return timm.create_model(name, device="meta")


def _without_batch_norm(model) -> None:
    for parent in list(model.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(parent, child_name, torch.nn.Identity())


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _shapes(state_dict) -> dict:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def _assert_closed_form(name: str, t) -> None:
    variant = VARIANTS[name]
    figures = closed_form.counts(variant.spec, variant.default_input)
    assert (figures.params, figures.macs, figures.flops) == (t.params, t.macs, t.flops)


# ---- timm: every timm variant, counted on the meta device (nothing allocated) ----


@pytest.mark.parametrize("name", TIMM)
def test_timm_counts_names_and_identification(name):
    reference = _meta_timm(name)
    theirs = to_torchvision_names(reference.state_dict())  # ResNetV2's stem/stages/norm/head read as ours
    # load_state_dict(strict=True) succeeds exactly when the names and shapes agree, both ways
    with _uninitialised():
        assert _shapes(build_model(VARIANTS[name].spec, "meta").state_dict()) == _shapes(theirs)
    t = _totals(name)
    assert t.params == _params(reference)
    # conv + linear work of timm's own model, counted by torch.utils.flop_counter (2 FLOPs per MAC; its
    # BatchNorms, which count nothing, swapped out as below)
    _without_batch_norm(reference)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(torch.empty(VARIANTS[name].default_input, device="meta"))
    assert 2 * t.macs == counter.get_total_flops()
    _assert_closed_form(name, t)
    # a checkpoint of timm's model is identified by name from its tensors' names and shapes alone
    assert identify(spec_of(_shapes(theirs))).name == name


@pytest.mark.parametrize("name", TIMM_SIBLINGS)
def test_timm_siblings_counts_names_and_macs(name):
    # the deeper and wider siblings: timm's own model against the closed form (tested equal to the analysis
    # on every structure above), its tensors' names and shapes, and identification by name. timm's model runs
    # on the meta device at 32x32 (nothing allocated: resnext101_32x32d's 468 M parameters would take 1.9 GB);
    # FlopCounterMode counts its convolutions and linear layers there. Its BatchNorms, which that counter does not
    # count and which change no shape, are swapped for identities first: on the meta device each one runs
    # torch's Python decomposition, two thirds of the forward's time.
    variant = VARIANTS[name]
    reference = _meta_timm(name).eval()
    theirs = _shapes(to_torchvision_names(reference.state_dict()))
    with _uninitialised():
        assert _shapes(build_model(variant.spec, "meta").state_dict()) == theirs
    assert closed_form.counts(variant.spec, variant.default_input).params == _params(reference)
    _without_batch_norm(reference)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(torch.zeros(1, 3, 32, 32, device="meta"))
    assert 2 * closed_form.counts(variant.spec, (1, 3, 32, 32)).macs == counter.get_total_flops()
    assert identify(spec_of(theirs)).name == name


def test_siblings_differ_from_their_representative_only_in_depth_and_width():
    # what lets the per-variant structure checks (fvcore per stage, the receptive field against gradients)
    # run on each representative only: the same fields but blocks per stage, widths and groups
    import dataclasses

    same_code = {"layers", "widths", "groups", "width_per_group"}
    for name, variant in VARIANTS.items():
        if variant.sibling_of:
            representative = VARIANTS[variant.sibling_of]
            assert representative.sibling_of is None, name
            differ = {
                f.name
                for f in dataclasses.fields(ResNetSpec)
                if getattr(variant.spec, f.name) != getattr(representative.spec, f.name)
            }
            assert differ and differ <= same_code, (name, differ)


def _randomized(model):
    """``model`` in eval mode with every weight random and BatchNorm statistics measured on random data (timm
    zero-initialises each block's last BN: left so, half the network would not count in the outputs)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and not name.endswith(("running_mean", "running_var")):
                tensor.copy_(
                    torch.randn_like(tensor) * 0.2 + 1
                    if tensor.dim() == 1
                    else torch.randn_like(tensor) * (2.0 / tensor[0].numel()) ** 0.5
                )
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # the running statistics become this batch's
        model.train()(torch.randn(2, 3, 47, 39))
    return model.eval()


# Outputs on one model of each structure, built by timm's own builder with one block per stage
# (timm.create_model(name, layers=(1, 1, 1, 1)): resnet10t and resnet14t are so already; every full-depth model's
# names and shapes are checked above): the tiered stem with basic and with bottleneck blocks, SE on basic blocks,
# ResNetV2 basic (renamed), ResNet-RS (conv stem pool, SE 1/4), the S stem, ECA on a 7x7-stem net, ResNetV2 tiered
# (renamed), SE-ResNeXt-D, ResNeXt-D.
OUTPUT_CHECKED = [
    "resnet10t",
    "resnet14t",
    "seresnet18",
    "resnetv2_18",
    "resnetrs50",
    "resnet50s",
    "ecaresnetlight",
    "resnetv2_50t",
    "seresnext26d_32x4d",
    "resnext50d_32x4d",
]


@pytest.mark.parametrize("name", OUTPUT_CHECKED)
def test_timm_weights_load_strictly_with_the_same_outputs(name):
    reference = _randomized(timm.create_model(name, layers=(1, 1, 1, 1)))
    ours = build_model(VARIANTS[name].spec.replace(layers=(1, 1, 1, 1)), "meta")
    ours.load_state_dict(to_torchvision_names(reference.state_dict()), strict=True, assign=True)
    x = torch.randn(2, 3, 47, 39)  # odd sizes: every ceil-mode average pool has a partial window
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), reference(x), rtol=1e-5, atol=1e-5)


def test_silu_and_drop_rates_follow_timm():
    # timm builds any of its ResNets with another activation (act_layer) and with stochastic depth
    reference = _randomized(timm.create_model("resnet10t", act_layer="silu", drop_path_rate=0.3, drop_rate=0.2))
    spec = VARIANTS["resnet10t"].spec.replace(activation=Activation.SILU, drop_path_rate=0.3, drop_rate=0.2)
    ours = build_model(spec).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)
    kinds = {type(m).__name__ for m in ours.modules()}
    assert "SiLU" in kinds and "ReLU" not in kinds
    # the linear rule: 0 at the first block, the full rate at the last
    assert [m.rate for m in ours.modules() if type(m).__name__ == "DropPath"] == pytest.approx(
        [m.drop_prob for m in reference.modules() if type(m).__name__ == "DropPath"]
    )
    assert reference.drop_rate == ours.spec.drop_rate
    # metadata: no count changes
    base = closed_form.counts(VARIANTS["resnet10t"].spec, (1, 3, 224, 224))
    assert closed_form.counts(spec, (1, 3, 224, 224)) == base
    assert _params(ours) == _params(reference) == base.params


def test_flops_counts_silu_and_the_drop_masks():
    # a training step with SiLU and both drop rates: every operator has a formula, the MACs are the plain net's,
    # and each SiLU is 5 FLOPs per element (sigmoid's 4 and a product): at 2x3x64x64 the stem's three run on
    # 2·24·32·32, 2·32·32·32 and 2·64·32·32 elements
    import resnet_cli

    doc = resnet_cli.flops(
        "resnet10t", input="2x3x64x64", training=True, activation="silu", drop_path_rate=0.2, drop_rate=0.1
    ).to_dict()
    assert doc["unsupported"] == []
    assert doc["total"]["macs"] == closed_form.counts(VARIANTS["resnet10t"].spec, (2, 3, 64, 64)).macs
    stem = next(r for r in doc["by_module"]["rows"] if r["name"] == "stem")
    assert stem["by_category"]["activation"] == 5 * 2 * 32 * 32 * (24 + 32 + 64)


def test_expansion_against_torchvision_with_another_expansion():
    # torchvision reads the expansion from the block class: a Bottleneck subclass with expansion 2 is the
    # reference for --expansion 2
    class Bottleneck2(torchvision.models.resnet.Bottleneck):
        expansion = 2

    torch.manual_seed(0)
    reference = torchvision.models.resnet.ResNet(Bottleneck2, [3, 4, 6, 3]).eval()
    ours = build_model(VARIANTS["resnet50"].spec.replace(expansion=2)).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
    spec = VARIANTS["resnet50"].spec.replace(expansion=2)
    assert closed_form.counts(spec, (1, 3, 224, 224)).params == _params(reference)
    # from the tensors alone this is also a Wide-style expansion-4 net (width per group 128): the same tensors,
    # so the inference's choice (expansion 4, as every published bottleneck) rebuilds them exactly
    inferred = spec_of(_shapes(reference.state_dict()))
    assert _shapes(build_model(inferred, "meta").state_dict()) == _shapes(reference.state_dict())


# ---- the closed form of `list`, for every other variant ----


@pytest.mark.parametrize("name", CLOSED_FORM_HERE)
def test_closed_form_equals_the_analysis(name):
    _assert_closed_form(name, _totals(name))


def test_closed_form_at_odd_sizes_with_every_new_field():
    # arbitrary specs, non-square inputs (partial pool windows, odd strides), every field at a non-default value
    specs = [
        ResNetSpec(
            stem="deep",
            stem_widths=(24, 40, 64),
            stem_pool="conv",
            se="se",
            se_reduction=3,
            se_at="pre",
            expansion=3,
            groups=4,
            width_per_group=8,
            shortcut="avgpool",
        ),
        ResNetSpec(
            block="preact-basic",
            layers=(1, 2, 1),
            widths=(8, 16, 24),
            stem="cifar",
            stem_width=8,
            stem_pool="none",
            se="eca",
            se_at="identity",
            activation="silu",
            expansion=2,
            dilate=(False, True),
        ),
        ResNetSpec(
            block="preact-bottleneck",
            layers=(2, 1),
            widths=(16, 32),
            se="se",
            se_at="post",
            stride_at="last-block",
            conv_bias="unless-bn",
            drop_path_rate=0.5,
            drop_rate=0.1,
        ),
        ResNetSpec(
            block="basic",
            layers=(1, 1, 1),
            widths=(16, 32, 64),
            stem_width=16,
            shortcut="zero-pad",
            se="eca",
            se_at="post",
            stride_at="v1.5",
            conv_bias="all",
            expansion=2,
        ),
    ]
    from resnet_cli.sources.target import target_of_spec

    for spec in specs:
        for shape in ((2, 3, 61, 45), (1, 3, 33, 97)):
            t = totals(analyze_target(target_of_spec(spec, shape))[1])
            figures = closed_form.counts(spec, shape)
            assert (figures.params, figures.macs, figures.flops) == (t.params, t.macs, t.flops), (spec, shape)


# ---- the papers: counts derived by hand ----


def conv(k, cin, cout, groups=1):  # a bias-free k×k conv
    return k * k * cin // groups * cout


def bn(c):  # γ and β
    return 2 * c


def fc(cin, classes=10):
    return cin * classes + classes


def _assert_paper(name, expected, bn_total, published, unit=1e6):
    # The papers' Torch code has no conv biases and their totals leave out BatchNorm's γ/β: conv and fc weights
    # are what they print (ResNeXt-29 16x64d is 68.16M with BN, 68.05M without; the paper prints 68.1M). So the
    # count by hand must be ours exactly, and without BN it rounds to the paper's figure.
    model = build_model(VARIANTS[name].spec, "meta")  # built once, on meta: nothing allocated
    assert _params(model) == expected
    assert (
        sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters())
        == bn_total
    )
    assert abs((expected - bn_total) / unit - published) <= 0.05 + 1e-9, (expected - bn_total, published)


@pytest.mark.parametrize("name, n, published", [("preact_resnet164", 18, 1.7), ("preact_resnet1001", 111, 10.2)])
def test_identity_mappings_bottleneck_nets_by_hand(name, n, published):
    # He et al. 2016b (Identity Mappings), CIFAR-10: 3x3 conv 3->16; three stages of n pre-activation
    # bottlenecks BN-ReLU-1x1-BN-ReLU-3x3-BN-ReLU-1x1 of width w = 16, 32, 64 and output 4w; each stage's first
    # block projects its pre-activated input with a 1x1 conv (no BN); a final BN-ReLU; fc 256 -> 10.
    def block(cin, w):
        return bn(cin) + conv(1, cin, w) + bn(w) + conv(3, w, w) + bn(w) + conv(1, w, 4 * w)

    expected = conv(3, 3, 16)
    bns = 0
    cin = 16
    for w in (16, 32, 64):
        expected += block(cin, w) + conv(1, cin, 4 * w) + (n - 1) * block(4 * w, w)
        bns += bn(cin) + 2 * bn(w) + (n - 1) * (bn(4 * w) + 2 * bn(w))
        cin = 4 * w
    expected += bn(256) + fc(256)
    bns += bn(256)
    _assert_paper(name, expected, bns, published)


def test_identity_mappings_preact_110_by_hand():
    # the same paper's pre-activation ResNet-110: 18 pre-act basic blocks (BN-ReLU-3x3, twice) per stage of
    # 16, 32, 64 channels; 1.7M, as the original ResNet-110
    def block(cin, w):
        return bn(cin) + conv(3, cin, w) + bn(w) + conv(3, w, w)

    expected = conv(3, 3, 16) + 18 * block(16, 16)
    expected += block(16, 32) + conv(1, 16, 32) + 17 * block(32, 32)
    expected += block(32, 64) + conv(1, 32, 64) + 17 * block(64, 64)
    expected += bn(64) + fc(64)
    bns = 18 * 2 * bn(16) + (bn(16) + bn(32) + 17 * 2 * bn(32)) + (bn(32) + bn(64) + 17 * 2 * bn(64)) + bn(64)
    _assert_paper("preact_resnet110", expected, bns, 1.7)


@pytest.mark.parametrize("depth, k, published", [(28, 10, 36.5), (40, 4, 8.9), (16, 8, 11.0)])
def test_wide_resnets_by_hand(depth, k, published):
    # Zagoruyko & Komodakis 2016, Table 4 (CIFAR): WRN-d-k has n = (d-4)/6 pre-activation basic blocks per stage,
    # widths 16k, 32k, 64k after a 3x3 conv 3->16; the first block of each stage projects with a 1x1 conv
    n = (depth - 4) // 6
    widths = (16 * k, 32 * k, 64 * k)

    def block(cin, w):
        return bn(cin) + conv(3, cin, w) + bn(w) + conv(3, w, w)

    expected, bns, cin = conv(3, 3, 16), 0, 16
    for w in widths:
        expected += block(cin, w) + conv(1, cin, w) + (n - 1) * block(w, w)
        bns += bn(cin) + bn(w) + (n - 1) * 2 * bn(w)
        cin = w
    expected += bn(cin) + fc(cin)
    bns += bn(cin)
    _assert_paper(f"wrn_{depth}_{k}", expected, bns, published)


@pytest.mark.parametrize("cardinality, published", [(8, 34.4), (16, 68.1)])
def test_resnext29_by_hand(cardinality, published):
    # Xie et al. 2017, section 5.2 / Table 7 (CIFAR): 3x3 conv 3->64 + BN; three stages of 3 bottlenecks with
    # C groups of d = 64 channels in stage 1, doubling per stage (width C·d·2^i), outputs 256, 512, 1024; each
    # stage's first block projects with a 1x1 conv + BN; fc 1024 -> 10
    def block(cin, width, out):
        return (
            conv(1, cin, width)
            + bn(width)
            + conv(3, width, width, cardinality)
            + bn(width)
            + conv(1, width, out)
            + bn(out)
        )

    expected, bns, cin = conv(3, 3, 64) + bn(64), bn(64), 64
    for stage, out in enumerate((256, 512, 1024)):
        width = cardinality * 64 * 2**stage
        expected += block(cin, width, out) + conv(1, cin, out) + bn(out) + 2 * block(out, width, out)
        bns += 3 * (2 * bn(width) + bn(out)) + bn(out)
        cin = out
    expected += fc(1024)
    _assert_paper(f"resnext29_{cardinality}x64d", expected, bns, published)


def test_the_paper_v1_nets_against_table_1_and_torchvision():
    # the ResNet paper's Table 1 prints 3.8, 7.6 and 11.3 x10^9 FLOPs (multiply-adds) for 50/101/152 layers: within
    # one unit of the last digit (the paper's 3.8 for 50 layers is 3.858 counted exactly; 7.57 and 11.28 round to
    # its 7.6 and 11.3); v1 moves a stride, not a tensor: torchvision's parameter counts hold
    for name, tv in (("resnet50_v1", 25_557_032), ("resnet101_v1", 44_549_160), ("resnet152_v1", 60_192_808)):
        t = _totals(name)
        assert abs(t.macs / 1e9 - VARIANTS[name].paper_gflops) < 0.1
        assert t.params == tv


# ---- placements of the attention, as the SE paper's Figure 5 draws them ----


@pytest.mark.parametrize("se_at", list(AttentionAt))
def test_attention_sits_where_se_at_says(se_at):
    spec = VARIANTS["seresnet50"].spec.replace(layers=(1, 1, 1, 1), se_at=se_at)
    model = build_model(spec).eval()
    block = model.layer2[0]
    seen = {}
    hooks = [
        block.se.register_forward_hook(lambda m, i, o: seen.update(se_in=i[0], se_out=o)),
        block.bn3.register_forward_hook(lambda m, i, o: seen.update(bn3=o)),
        block.downsample.register_forward_hook(lambda m, i, o: seen.update(shortcut=o)),
        block.register_forward_hook(lambda m, i, o: seen.update(block_in=i[0], block_out=o)),
    ]
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    where = {
        AttentionAt.STANDARD: seen["bn3"],
        AttentionAt.PRE: seen["block_in"],
        AttentionAt.IDENTITY: seen["shortcut"],
    }.get(se_at)
    if se_at is AttentionAt.POST:
        assert seen["se_out"] is seen["block_out"]  # the last thing the block does
    else:
        assert torch.equal(seen["se_in"], where)
    # squeeze-excitation on the block input (256 channels into layer2) instead of its output (512): by hand,
    # fc1/fc2 of 256 -> 16 -> 256 instead of 512 -> 32 -> 512, in each stage's (only) block
    channels = block.se.fc1.in_channels
    assert channels == (256 if se_at is AttentionAt.PRE else 512)


# ---- `list` ----


def test_list_groups_every_variant_under_its_family_and_reference(cli):
    result = cli("list", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [m["name"] for m in data["models"]] == list(VARIANTS)
    assert [f["name"] for f in data["families"]] == list(FAMILIES)
    assert all(f["reference"] for f in data["families"])
    table = cli("list").stdout.splitlines()
    headings = [
        (index, line.split(" — ")[0]) for index, line in enumerate(table) if " — " in line and not line.startswith(" ")
    ]
    assert [family for _, family in headings] == list(FAMILIES)  # grouped, in the registry's order
    timm_at, cifar_at = headings[2][0], headings[3][0]
    assert any(line.split()[0] == "resnetrs50" for line in table[timm_at:cifar_at] if line.strip())
    # torchvision's own figures for resnet50 (its weight metadata: 25,557,032 params, 4.089 GFLOPS)
    resnet50 = next(m for m in data["models"] if m["name"] == "resnet50")
    assert resnet50["params"] == 25_557_032 and resnet50["gmacs"] == 4.089


def test_list_family_filters_and_is_a_validated_choice(cli):
    data = json.loads(cli("list", "--family", "timm", "--format", "json").stdout)
    assert {m["family"] for m in data["models"]} == {"timm"} and len(data["models"]) == len(TIMM + TIMM_SIBLINGS)
    assert [f["name"] for f in data["families"]] == ["timm"]
    csv = cli("list", "--family", "wide-cifar", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("name,family") and [row.split(",")[0] for row in csv[1:]] == [
        "wrn_28_10",
        "wrn_40_4",
        "wrn_16_8",
    ]
    assert_one_line_error(cli("list", "--family", "resnets"), 2, "--family 'resnets'", "timm", "wide-cifar")


def test_list_needs_neither_torch_nor_a_cache(tmp_path):
    code = (
        "import sys; from resnet_cli.cli.app import main; rc = main(['list', '--format', 'json']); "
        "assert rc == 0 and 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["models"]) == len(VARIANTS)
    assert list(tmp_path.iterdir()) == []  # nothing written


# ---- checkpoints of the new families, identified by name ----


def test_a_timm_checkpoint_is_identified_by_name(tmp_path):
    path = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t").state_dict(), path)  # random weights
    target = resolve_target(str(path))
    assert target.identified == "resnet10t"
    assert target.spec == VARIANTS["resnet10t"].spec


def test_the_flags_rebuild_every_new_field(cli):
    # ResNet-RS-50 from flags alone on `custom`: the conv stem pool, SE 1/4, avg-pool shortcut, deep stem
    flags = ["--stem", "deep", "--stem-pool", "conv", "--se", "se", "--se-reduction", "4", "--shortcut", "avgpool"]
    result = cli("summary", "custom", *flags, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"]["params"] == _totals("resnetrs50").params
