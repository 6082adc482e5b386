"""The one operator table (resnet_cli/analysis/ops.py): keyed by real ATen operators, every rule it names exists,
and the private torch behaviour it relies on (an op's schema gives its argument names) is pinned here."""

from __future__ import annotations

import pytest
import torch

from resnet_cli.analysis import ops
from resnet_cli.analysis.recorder import SchemaUnreadable, _bound_arguments
from resnet_cli.structure import receptive


def test_every_entry_is_a_real_aten_operator_under_its_recorded_name():
    for name, entry in ops.OPS.items():
        assert entry.name == name
        packet = getattr(torch.ops.aten, name.removeprefix("aten."))  # AttributeError for a typo
        assert str(packet) == name  # the name the recorder stores: str(func.overloadpacket)


def test_every_receptive_field_rule_the_table_names_exists():
    assert {entry.receptive for entry in ops.OPS.values()} <= set(receptive._RULES)


def test_pools_and_upsampling_carry_their_dims_and_taps():
    # by the operators' own definitions: max_pool1d slides over 1 dim, avg_pool3d over 3; nearest reads 1 source
    # unit per output unit, bilinear 2 per axis
    assert ops.lookup("aten.max_pool1d").spatial_dims == 1
    assert ops.lookup("aten.avg_pool3d").spatial_dims == 3
    assert ops.lookup("aten._adaptive_avg_pool2d").spatial_dims == 2
    assert ops.lookup("aten.upsample_nearest2d").taps == 1
    assert ops.lookup("aten.upsample_bilinear2d").taps == 2


def test_views_data_movement_and_costed_ops_are_told_apart():
    assert ops.lookup("aten.view").view and ops.lookup("aten.view").moves_data
    assert ops.lookup("aten.clone").moves_data and not ops.lookup("aten.clone").view  # a copy is new memory
    assert ops.lookup("aten.convolution").cost is not None and not ops.lookup("aten.convolution").moves_data
    assert not ops.writes_new_elements("aten.relu_")  # in place
    assert ops.writes_new_elements("aten.relu")
    assert ops.kind_of("aten.upsample_nearest2d") == "upsample_nearest2d"  # not costed: its own short name
    assert ops.lookup("aten.upsample_nearest2d").cost is None


def test_the_schema_names_the_arguments_the_structure_reads():
    # private torch API (OpOverload._schema) pinned: receptive fields and alignment read these names
    names = [a.name for a in torch.ops.aten.convolution.default._schema.arguments]
    assert names == [
        "input",
        "weight",
        "bias",
        "stride",
        "padding",
        "dilation",
        "transposed",
        "output_padding",
        "groups",
    ]
    names = [a.name for a in torch.ops.aten.max_pool2d_with_indices.default._schema.arguments]
    assert names == ["self", "kernel_size", "stride", "padding", "dilation", "ceil_mode"]
    bound = dict(_bound_arguments(torch.ops.aten.max_pool2d_with_indices.default, (torch.empty(1, 1, 4, 4), [3]), {}))
    assert bound["kernel_size"] == [3] and bound["padding"] == [0, 0] and bound["ceil_mode"] is False  # defaults


def test_an_operator_without_a_readable_schema_fails_loudly_naming_it():
    class NoSchema:
        def __repr__(self):
            return "aten.mystery.default"

    with pytest.raises(SchemaUnreadable, match=r"aten\.mystery\.default"):
        _bound_arguments(NoSchema(), (1, 2), {})
    assert not issubclass(
        SchemaUnreadable, (RuntimeError, ValueError, TypeError, IndexError)
    )  # never "the model failed"
