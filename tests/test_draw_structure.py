"""`draw` reads the one canonical structure (issue 16, requirement 1): a TF-slim ResNet-50 V2 — a 1×1 conv as the
classifier on ``torch.mean`` in ``forward``, ``MaxPool2d(1)`` as the stride-1 shortcut, zero-padding before valid
convs — is drawn as the network it is: the global pool beside the fc, identity shortcuts, no padding boxes' layers.
"""

import torch

from resnet_cli.analysis.analyze import analyze
from resnet_cli.report.draw import diagram
from resnet_cli.report.rows import build_rows
from tests.fixtures.issue16_models import keras_resnet50, slim_resnet50_v2


def _stages():
    with torch.device("meta"):
        model = slim_resnet50_v2()
    figure = diagram("slim", "TF-slim ResNet-50 V2", analyze(model, (1, 3, 224, 224)))
    return {stage.name: stage for stage in figure.stages}


def _labels(stage):
    return [layer.label for part in stage.parts for layer in part.layers]


def test_slim_v2_draws_its_pool_with_the_classifier_and_identity_shortcuts():
    stages = _stages()
    assert _labels(stages["postnorm"]) == []  # BatchNorm + ReLU: no global pool drawn inside it
    assert _labels(stages["logits"]) == ["global avg-pool", "fc 1000"]  # the 1×1 conv on a 1×1 map is the fc
    assert "conv1_pad" not in stages and _labels(stages["conv1"]) == ["7×7, 64, /2"]
    (group,) = [g for part in stages["block1"].parts for g in part.groups]
    # the stride-1 MaxPool2d(1) computes nothing: an identity; the stride-2 one subsamples
    assert group.shortcuts == (("projection 1×1, 256", 1), ("identity", 1), ("max-pool 1×1, /2", 1))


# ---- a zero-padding module of its own is part of the layer it feeds, not a stage ----


def _figure(build, shape=(1, 3, 224, 224)):
    with torch.device("meta"):
        model = build()
    analysis = analyze(model, shape)
    return diagram("m", "m", analysis), analysis


def test_slim_v2_padding_modules_are_no_stage_in_draw_or_summary():
    figure, analysis = _figure(slim_resnet50_v2)
    names = [stage.name for stage in figure.stages]
    # conv1_pad = ZeroPad2d(3) feeds conv1, pool1_pad = ZeroPad2d(1) feeds pool1 (TF-slim's names)
    assert names == ["conv1", "pool1", "block1", "block2", "block3", "block4", "postnorm", "logits"]
    assert [row.name for row in build_rows(analysis, "stage")] == names  # summary's rows are draw's stages
    stages = {stage.name: stage for stage in figure.stages}
    assert _labels(stages["pool1"]) == ["max-pool 3×3, /2"]
    # the pad's stage is gone, its output is the conv's: (224 + 2·3 − 7) // 2 + 1 = 112
    assert stages["conv1"].output_shape == (1, 64, 112, 112) and stages["conv1"].params == 64 * 3 * 49 + 64


def test_keras_port_stem_is_one_box_with_the_7x7_stride_2_conv():
    figure, _ = _figure(keras_resnet50)
    names = [stage.name for stage in figure.stages]
    assert names == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    stem = figure.stages[0]
    assert _labels(stem) == ["7×7, 64, /2", "max-pool 3×3, /2"]
    assert stem.output_shape == (1, 64, 56, 56)


class _PaddedPlain(torch.nn.Module):
    """Each top-level child a stage: ZeroPad2d(3), conv, ZeroPad2d(1), max-pool, MaxPool2d(1), conv, fc."""

    def __init__(self):
        super().__init__()
        self.pad_a = torch.nn.ZeroPad2d(3)
        self.conv_a = torch.nn.Conv2d(3, 8, 7, stride=2)
        self.relu = torch.nn.ReLU()
        self.pad_b = torch.nn.ZeroPad2d(1)
        self.pool = torch.nn.MaxPool2d(3, stride=2)
        self.nothing = torch.nn.MaxPool2d(1)
        self.conv_b = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.tail_pad = torch.nn.ZeroPad2d((0, 1, 0, 1))  # pads the last map: joins the stage before it

    def forward(self, x):
        x = self.relu(self.conv_a(self.pad_a(x)))
        return self.tail_pad(self.conv_b(self.nothing(self.pool(self.pad_b(x)))))


def test_padding_and_no_op_pool_children_join_the_stage_of_what_they_feed():
    figure, analysis = _figure(_PaddedPlain, (1, 3, 64, 64))
    names = [stage.name for stage in figure.stages]
    assert names == ["conv_a", "relu", "pool", "conv_b"]
    assert [row.name for row in build_rows(analysis, "stage")] == names
    stages = {stage.name: stage for stage in figure.stages}
    assert _labels(stages["conv_a"]) == ["7×7, 8, /2"] and _labels(stages["pool"]) == ["max-pool 3×3, /2"]
    # (64 + 6 − 7) // 2 + 1 = 32; (32 + 2 − 3) // 2 + 1 = 16; conv_b keeps 16, the tail pad makes it 17
    assert stages["pool"].output_shape == (1, 8, 16, 16) and stages["conv_b"].output_shape == (1, 16, 17, 17)


# ---- blocks whose adds the model's own forward runs (a Keras port's flat layers) are drawn as blocks ----


def _drawn(figure):
    """What the figure shows, but the FLOPs (fvcore counts x.mean and AdaptiveAvgPool2d apart)."""
    shown = []
    for stage in figure.stages:
        groups = [
            (
                g.count,
                tuple(layer.label for layer in g.main),
                g.shortcuts,
                g.downsampling,
                g.params,
                g.output_shape,
                g.receptive_field.as_dict() if g.receptive_field else None,
            )
            for part in stage.parts
            for g in part.groups
        ]
        shown.append(
            (stage.name, stage.output_shape, stage.params, stage.receptive_field.as_dict(), _labels(stage), groups)
        )
    return shown


def test_keras_port_draws_its_blocks_as_resnet50_keras_does():
    from resnet_cli.nn.model import build_model
    from resnet_cli.spec import registry

    port, _ = _figure(keras_resnet50)
    registered, _ = _figure(lambda: build_model(registry.VARIANTS["resnet50_keras"].spec))
    assert _drawn(port) == _drawn(registered)
    layer2 = port.stages[2]
    (group,) = [g for part in layer2.parts for g in part.groups]
    # keras.applications' v1 block: the stride on the first 1×1, a projection in block 1. By hand (a bias on every
    # conv, 2 parameters per BatchNorm channel): block 1 = (256·128 + 128) + (9·128·128 + 128) + (128·512 + 512)
    # + (256·512 + 512) + 2·(128 + 128 + 512 + 512) = 380,672; blocks 2–4 = 3 · [(512·128 + 128) + 147,584
    # + 66,048 + 2·(128 + 128 + 512)] = 842,496; 1,223,168 in all
    assert group.names == ("conv3_block1", "conv3_block2", "conv3_block3", "conv3_block4")
    assert [layer.label for layer in group.main] == ["1×1, 128, /2", "3×3, 128", "1×1, 512"]
    assert group.shortcuts == (("projection 1×1, 512, /2", 1), ("identity", 3))
    assert group.output_shape == (1, 512, 28, 28) and group.params == layer2.params == 1_223_168


class _ListOfConvs(torch.nn.Module):
    """A ``nn.ModuleList`` the forward runs one by one: the list itself is never called."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(8, 8, 3, padding=1) for _ in range(2))

    def forward(self, x):
        x = self.stem(x)
        for conv in self.convs:
            x = conv(x)
        return x


def test_a_never_called_stage_has_the_output_and_field_of_the_last_module_run_in_it():
    figure, analysis = _figure(_ListOfConvs, (1, 3, 32, 32))
    rows = {row.name: row for row in build_rows(analysis, "stage")}
    # 3×3/2 pad 1: 3, jump 2; two 3×3 at jump 2: 3 + 2·2·2 = 11, jump 2
    assert rows["convs"].output_shape == (1, 8, 16, 16)
    assert rows["convs"].receptive_field.size == (11, 11) and rows["convs"].receptive_field.stride == (2, 2)
    assert figure.stages[1].output_shape == (1, 8, 16, 16)
