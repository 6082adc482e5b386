"""The receptive field reads the one canonical structure (issue 16, requirement 1): code that computes the same
thing — a zero-padding before an unpadded conv, ``MaxPool2d(1)``, a 1×1 conv on a 1×1 map as the classifier, an
average pool over the whole map — has the field, jump and offset of the registered model it is equivalent to.

The numbers are worked by hand with the recurrence of Araujo, Norris & Sim (Distill, 2019): a k×k window of stride
s and padding p at jump j adds (k − 1)·j to the size, moves the start by −p·j and multiplies the jump by s.
"""

import torch
import torch.nn.functional as F
from torch import nn

from resnet_cli.analysis.analyze import analyze
from resnet_cli.nn.model import build_model
from resnet_cli.report.rows import build_rows, spatial_path
from resnet_cli.spec import registry
from resnet_cli.structure.receptive import receptive_fields
from tests.fixtures.issue16_models import keras_resnet50, slim_resnet50_v2


def _analysis(factory, shape=(1, 3, 224, 224)):
    with torch.device("meta"):
        model = factory()
    return analyze(model, shape)


def _stage_fields(factory):
    """(stage name, size, stride, offset of unit 0) per stage row, as summary and draw show them."""
    found = []
    for row in build_rows(_analysis(factory), "stage"):
        field = row.receptive_field
        found.append((row.name, field.size, field.stride, tuple(span.start for span in field.spans)))
    return found


def _registered(name):
    return lambda: build_model(registry.VARIANTS[name].spec)


def test_keras_port_has_the_field_of_resnet50_keras():
    port, registered = _stage_fields(keras_resnet50), _stage_fields(_registered("resnet50_keras"))
    assert port == registered
    # by hand (v1: the stride on each stage's first 1×1): 7×7/2 pad 3 → 7, jump 2, start −3; 3×3/2 pad 1 → 11,
    # jump 4, start −5; layer1: three 3×3 at jump 4 → 35; layer2: jump 8, four 3×3 → 99; layer3: jump 16, six
    # → 291; layer4: jump 32, three → 483, start −241 (each 3×3 of padding 1 moves it by −jump)
    assert [(name, size, stride) for name, size, stride, _ in port] == [
        ("stem", (11, 11), (4, 4)),
        ("layer1", (35, 35), (4, 4)),
        ("layer2", (99, 99), (8, 8)),
        ("layer3", (291, 291), (16, 16)),
        ("layer4", (483, 483), (32, 32)),
        ("head", (None, None), None),
    ]
    assert port[0][3] == (-5, -5) and port[4][3] == (-241, -241)


def test_slim_v2_has_the_field_of_resnet50v2_keras():
    slim = _stage_fields(slim_resnet50_v2)
    registered = _stage_fields(_registered("resnet50v2_keras"))
    # TF-slim's stages are its own modules: conv1 and pool1 are the registered stem, block1..4 its layer1..4,
    # postnorm + logits (a 1×1 conv on the pooled 1×1 map: the fc) its head
    assert slim[0][1:] == ((7, 7), (2, 2), (-3, -3))  # ZeroPad2d(3) + unpadded 7×7/2: the padded conv
    paired = dict(
        zip(
            ["pool1", "block1", "block2", "block3", "block4", "logits"],
            ["stem", "layer1", "layer2", "layer3", "layer4", "head"],
            strict=True,
        )
    )
    slim_by_name = {name: rest for name, *rest in slim}
    registered_by_name = {name: rest for name, *rest in registered}
    for mine, theirs in paired.items():
        assert slim_by_name[mine] == registered_by_name[theirs], (mine, theirs)
    # V2 strides in each stage's last unit: layer1 ends at jump 8, layer3 at 32, and layer4 stays at 32
    assert [slim_by_name[f"block{i}"][1] for i in range(1, 5)] == [(8, 8), (16, 16), (32, 32), (32, 32)]
    assert slim_by_name["logits"][:2] == [(None, None), None]  # a linear's output has no spatial axes


def _module_fields(module, shape=(1, 3, 16, 16)):
    """Module name -> the field of its output ("": the model's)."""
    analysis = _analysis(lambda: module, shape)
    fields = receptive_fields(analysis)
    return {m.name: fields[m.output_value] for m in analysis.modules if m.output_value in fields}


def _output_field(module, shape=(1, 3, 16, 16)):
    return _module_fields(module, shape)[""]


class _Forward(nn.Module):
    def __init__(self, forward, **children):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


def test_padding_folded_into_the_conv_and_no_op_pools_change_nothing():
    padded = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1))
    explicit = nn.Sequential(
        nn.ZeroPad2d(1), nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.MaxPool2d(1), nn.ZeroPad2d(1), nn.MaxPool2d(3, 2)
    )
    # 3×3/2 pad 1: 3, jump 2, start −1; 3×3/2 pad 1 at jump 2: 3 + 4 = 7, jump 4, start −3
    assert _output_field(explicit) == _output_field(padded)
    assert _output_field(padded).size == (7, 7) and _output_field(padded).stride == (4, 4)
    assert tuple(span.start for span in _output_field(explicit).spans) == (-3, -3)
    # TF's "same" at stride 2 pads (0, 1): not a conv's padding, so it stays a padding — and moves nothing
    same = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, 4, 3, stride=2))
    assert tuple(span.start for span in _output_field(same).spans) == (0, 0) and _output_field(same).size == (3, 3)


def test_a_1x1_conv_classifier_and_a_whole_map_average_pool_read_as_the_fc_and_the_global_pool():
    def conv_head(self, x):
        return self.logits(self.conv(x).mean((2, 3), keepdim=True)).flatten(1)

    def fc_head(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))

    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    as_conv = _Forward(conv_head, conv=conv, logits=nn.Conv2d(8, 10, 1))
    as_fc = _Forward(fc_head, conv=conv, fc=nn.Linear(8, 10))
    logits = _module_fields(as_conv)["logits"]
    assert logits.is_global and logits.stride is None  # like a Linear's output: no spatial axis left
    assert _module_fields(as_fc)["fc"].as_dict() == logits.as_dict() == {"size": None, "stride": None, "global": True}

    def avg_pool_head(self, x):  # the CIFAR tutorials' F.avg_pool2d(out, 4), here on an 8×8 map
        return F.avg_pool2d(self.conv(x), 8)

    def adaptive_head(self, x):
        return F.adaptive_avg_pool2d(self.conv(x), 1)

    out = _output_field(_Forward(avg_pool_head, conv=conv))
    # the window over the whole map is the global pool: as AdaptiveAvgPool2d(1)'s, every unit sees everything
    # (read as a 8×8 window at jump 2 it would be 3 + 7·2 = 17 pixels, start −1: not "global")
    assert out == _output_field(_Forward(adaptive_head, conv=conv)) and out.is_global


def test_slim_v2_spatial_path_ends_at_7_like_resnet50v2_keras():
    # 224 → 112 (7×7/2) → 56 (max-pool) → 28 → 14 → 7 (the last unit of block1..3 strides); the 1×1 logits conv
    # on the pooled 1×1 map is the classifier, not a resolution of the main path
    slim = spatial_path(_analysis(slim_resnet50_v2))
    assert slim == spatial_path(_analysis(_registered("resnet50v2_keras")))
    assert [h for h, _ in slim] == [224, 112, 56, 28, 14, 7]
