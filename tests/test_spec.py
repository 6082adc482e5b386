"""The spec type: validation at the boundary, derived strides, input parsing."""

import dataclasses

import pytest

from resnet_cli.errors import UsageError
from resnet_cli.registry import VARIANTS, resolve
from resnet_cli.spec import BlockKind, ResNetSpec, Shortcut, StrideAt
from resnet_cli.values import parse_input_shape


def test_spec_is_frozen():
    spec = ResNetSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.groups = 2  # type: ignore[misc]
    assert spec.groups == 1


@pytest.mark.parametrize("changes, fragment", [
    ({"block": BlockKind.BASIC, "groups": 32}, "--groups 32"),
    ({"layers": (3, 0, 6, 3)}, "at least 1 block"),
    ({"widths": (64, 128)}, "one width per stage"),
    ({"block": BlockKind.BASIC, "stride_at": StrideAt.FIRST_1X1}, "--stride-at v1"),
    ({"dilate": (True,)}, "--dilate has 1 values"),
    ({"num_classes": 0}, "--num-classes 0"),
    ({"in_channels": -1}, "--in-channels -1"),
    ({"shortcut": Shortcut.ZERO_PAD, "widths": (64, 32, 16, 8)}, "cannot shrink"),
])
def test_conflicting_fields_are_rejected_with_the_bad_value(changes, fragment):
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(")):
        ResNetSpec().replace(**changes)


def test_total_stride_by_hand():
    # 7x7/2 conv, 3x3/2 max-pool, then stages with strides 1, 2, 2, 2: 2*2*2*2*2 = 32
    assert VARIANTS["resnet50"].spec.total_stride() == 32
    # CIFAR: 3x3/1 conv, no pool, stages 1, 2, 2
    assert VARIANTS["resnet20"].spec.total_stride() == 4
    # torchvision's replace_stride_with_dilation=[False, True, True]: output stride 8
    assert ResNetSpec(dilate=(False, True, True)).total_stride() == 8


def test_keras_v2_moves_the_stride_to_the_last_block():
    spec = VARIANTS["resnet50v2_keras"].spec
    assert spec.block_strides(0) == (1, 1, 2)
    assert spec.block_strides(3) == (1, 1, 1)


@pytest.mark.parametrize("text, expected", [
    ("1x3x224x224", (1, 3, 224, 224)),
    ("2X3x231x197", (2, 3, 231, 197)),
    (" 8x3x1024x1024 ", (8, 3, 1024, 1024)),
])
def test_parse_input(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("abc", "has 1 dimension"),
    ("1x3x224", "has 3 dimensions"),
    ("1x3x224x224x3", "has 5 dimensions"),
    ("0x3x224x224", "N = 0"),
    ("1x3x-5x224", "H = -5"),
    ("1x3xaxb", "H = 'a' is not an integer"),
    ("1x3x1.5x224", "is not an integer"),
    ("100000x3x100000x100000", "overflow"),
])
def test_malformed_inputs_name_the_bad_value(text, fragment):
    with pytest.raises(UsageError) as error:
        parse_input_shape(text)
    assert fragment in str(error.value)
    assert f"--input '{text}'" in str(error.value)  # the bad value itself, as typed


def test_unknown_model_suggests_close_names():
    with pytest.raises(UsageError) as error:
        resolve("resnet51")
    assert "did you mean" in str(error.value) and "resnet50" in str(error.value)
