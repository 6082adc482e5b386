"""The spec type: validation at the boundary, derived strides, input parsing."""

import dataclasses
import json
import re

import pytest
from conftest import assert_one_line_error

from resnet_cli.base.errors import UsageError
from resnet_cli.base.values import parse_input_shape
from resnet_cli.spec.fields import Attention, BlockKind, ResNetSpec, Shortcut, StemKind, StemPool, StrideAt
from resnet_cli.spec.registry import VARIANTS, resolve


def test_spec_is_frozen():
    spec = ResNetSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.groups = 2  # type: ignore[misc]
    assert spec.groups == 1


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"block": BlockKind.BASIC, "groups": 32}, "--groups 32"),
        ({"layers": (3, 0, 6, 3)}, "at least 1 block"),
        ({"widths": (64, 128)}, "one width per stage"),
        ({"block": BlockKind.BASIC, "stride_at": StrideAt.FIRST_1X1}, "--stride-at v1"),
        ({"dilate": (True,)}, "--dilate has 1 values"),
        ({"num_classes": 0}, "--num-classes 0"),
        ({"in_channels": -1}, "--in-channels -1"),
        ({"shortcut": Shortcut.ZERO_PAD, "widths": (64, 32, 16, 8)}, "cannot shrink"),
        ({"stem_widths": (24, 32, 64)}, "the 7x7 stem has one conv"),
        ({"stem": StemKind.DEEP, "stem_widths": (24, 32)}, "--stem-widths 24,32 has 2 values"),
        ({"stem": StemKind.DEEP, "stem_widths": (64, 64, 128)}, "ends in 128 but --stem-width is 64"),
        ({"expansion": 0}, "--expansion 0"),
        ({"se_reduction": 0}, "--se-reduction 0"),
        ({"drop_rate": 1.0}, "--drop-rate 1: must be at least 0 and below 1"),
        ({"drop_path_rate": -0.5}, "--drop-path-rate -0.5"),
        ({"bn_eps": 0.0}, "--bn-eps 0: must be above 0"),
        ({"bn_eps": 2.0}, "--bn-eps 2.0 is out of range"),
        (
            {
                "shortcut": Shortcut.ZERO_PAD,
                "expansion": 1,
                "widths": (64, 64, 64, 64),
                "layers": (1, 1, 1, 1),
                "stem_width": 128,
            },
            "cannot shrink channels (128 -> 64",
        ),
    ],
)
def test_conflicting_fields_are_rejected_with_the_bad_value(changes, fragment):
    with pytest.raises(UsageError) as caught:
        ResNetSpec().replace(**changes)
    # the command line names the flag; a Python caller reads the field's own name
    assert fragment in caught.value.for_command_line()
    python_words = re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), fragment)
    assert python_words in str(caught.value) and "--" not in str(caught.value)


def test_total_stride_by_hand():
    # 7x7/2 conv, 3x3/2 max-pool, then stages with strides 1, 2, 2, 2: 2*2*2*2*2 = 32
    assert VARIANTS["resnet50"].spec.total_stride() == 32
    # CIFAR: 3x3/1 conv, no pool, stages 1, 2, 2
    assert VARIANTS["resnet20"].spec.total_stride() == 4
    # torchvision's replace_stride_with_dilation=[False, True, True]: output stride 8
    assert ResNetSpec(dilate=(False, True, True)).total_stride() == 8


def test_keras_variants_use_keras_batchnorm_eps():
    # keras.applications.resnet / resnet_v2: layers.BatchNormalization(axis=bn_axis, epsilon=1.001e-5, …)
    # and Keras's default momentum=0.99, the old statistics' weight: torch's momentum 0.01
    keras = {(v.spec.bn_eps, v.spec.bn_momentum) for name, v in VARIANTS.items() if name.endswith("_keras")}
    assert keras == {(1.001e-5, 0.01)}
    assert (VARIANTS["resnet50"].spec.bn_eps, VARIANTS["resnet50"].spec.bn_momentum) == (1e-5, 0.1)  # torch's defaults


def test_keras_v2_moves_the_stride_to_the_last_block():
    spec = VARIANTS["resnet50v2_keras"].spec
    assert spec.block_strides(0) == (1, 1, 2)
    assert spec.block_strides(3) == (1, 1, 1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1x3x224x224", (1, 3, 224, 224)),
        ("2X3x231x197", (2, 3, 231, 197)),
        (" 8x3x1024x1024 ", (8, 3, 1024, 1024)),
    ],
)
def test_parse_input(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("abc", "has 1 dimension"),
        ("1x3x224", "has 3 dimensions"),
        ("1x3x224x224x3", "has 5 dimensions"),
        ("0x3x224x224", "N = 0"),
        ("1x3x-5x224", "H = -5"),
        ("1x3xaxb", "H = 'a' is not an integer"),
        ("1x3x1.5x224", "is not an integer"),
        ("100000x3x100000x100000", "overflow"),
    ],
)
def test_malformed_inputs_name_the_bad_value(text, fragment):
    with pytest.raises(UsageError) as error:
        parse_input_shape(text)
    assert fragment in str(error.value)
    assert f"--input '{text}'" in str(error.value)  # the bad value itself, as typed


def test_unknown_model_suggests_close_names():
    with pytest.raises(UsageError) as error:
        resolve("resnet51")
    assert "did you mean" in str(error.value) and "resnet50" in str(error.value)


def test_one_network_has_one_spec():
    # the default deep stem written out, or a bottleneck's own expansion, is the same network: the same spec
    # (so a checkpoint or flags naming it are identified as the registered variant)
    assert (
        ResNetSpec(stem=StemKind.DEEP, stem_widths=(32, 32, 64), shortcut=Shortcut.AVGPOOL)
        == VARIANTS["resnet50d"].spec
    )
    assert ResNetSpec(expansion=4) == ResNetSpec() and ResNetSpec(block=BlockKind.BASIC, expansion=1).expansion is None
    assert ResNetSpec(block=BlockKind.BASIC, expansion=4).expansion == 4


def test_old_booleans_name_the_new_choices():
    # --stem-pool and --se were booleans before they had a third value: true/false still mean max/none, se/none
    assert ResNetSpec(stem_pool=False).stem_pool is StemPool.NONE
    assert ResNetSpec(stem_pool="true").stem_pool is StemPool.MAX
    assert ResNetSpec(se=True).se is Attention.SE and ResNetSpec(se="no").se is Attention.NONE
    assert ResNetSpec(se="eca").se is Attention.ECA


@pytest.mark.parametrize(
    "flags, field, value",
    [
        (["--stem-pool", "false"], "stem_pool", "none"),
        (["--stem-pool", "TRUE"], "stem_pool", "max"),
        (["--stem-pool", "conv"], "stem_pool", "conv"),
        (["--se", "true"], "se", "se"),
        (["--se", "eca", "--se-at", "post"], "se_at", "post"),
        (["--stem", "deep", "--stem-widths", "24,32,64"], "stem_widths", [24, 32, 64]),
        (["--expansion", "2"], "expansion", 2),
        (["--drop-path-rate", "0.1"], "drop_path_rate", 0.1),
        (["--activation", "silu"], "activation", "silu"),
    ],
)
def test_new_flags_reach_the_spec(cli, flags, field, value):
    result = cli("summary", "resnet18", *flags, "--input", "1x3x64x64", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["spec"][field] == value


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--stem-pool", "maybe"], ("--stem-pool 'maybe'", "max, conv, none")),
        (["--se", "cbam"], ("--se 'cbam'", "none, se, eca")),
        (["--se-at", "after"], ("--se-at 'after'", "standard, pre, post, identity")),
        (["--stem-widths", "24,32,64,80"], ("--stem-widths", "at most 3")),
        (["--stem-widths", "24,32,64"], ("--stem-widths 24,32,64", "--stem deep")),
        (["--expansion", "0"], ("--expansion 0", "from 1 to 64")),
        (["--drop-rate", "1.5"], ("--drop-rate 1.5", "from 0 to 1")),
        (["--drop-rate", "1"], ("--drop-rate 1", "below 1")),
        (["--se-reduction", "x"], ("--se-reduction 'x'", "not an integer")),
    ],
)
def test_bad_new_flags_get_one_line(cli, flags, fragments):
    assert_one_line_error(cli("summary", "resnet18", *flags), 2, *fragments)
