"""Receptive fields: checked against autograd on every registered variant, and against hand calculations.

The gradient-measured field of an output unit is the support of d(unit)/d(input): with every weight
positive, BatchNorm an identity and max-pools replaced by average pools of the same geometry, no path's
contribution can cancel or be switched off, so the support is exactly the set of input pixels the unit
depends on. It must equal the theoretical region (resnet_cli.structure.receptive) clipped to the input.

The hand calculations use the recurrence of Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks" (Distill, 2019): a k×k window of stride s and dilation d at jump j adds
(k − 1)·d·j to the field and multiplies the jump by s.
"""

import dataclasses
import json

import pytest
import torch
from torch import nn

from resnet_cli.analysis.analyze import analyze
from resnet_cli.nn.model import build_model
from resnet_cli.report.rows import build_rows
from resnet_cli.report.stages import stage_layout
from resnet_cli.spec import registry
from resnet_cli.structure.receptive import module_fields


@pytest.fixture(autouse=True)
def _one_thread():
    # thousands of tiny ops (resnet1202: 3,600 convs on 12×16 maps): a second thread only adds hand-offs,
    # and on a busy machine they cost ten times the arithmetic
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


IMAGENET_PROBE = (1, 3, 32, 48)  # the smallest ImageNet-net input (total stride 32), not square
CIFAR_PROBE = (1, 3, 12, 16)


def _make_measurable(model: nn.Module) -> nn.Module:
    """Positive weights, BatchNorm as identity, max-pool → average pool of the same geometry, float64."""
    with torch.no_grad():
        for module in list(model.modules()):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.fill_(1.0 / module.weight[0].numel())  # an average: values stay finite
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
                module.weight.fill_(1.0)
                module.bias.zero_()
            for name, child in list(module.named_children()):
                if isinstance(child, nn.MaxPool2d):
                    setattr(
                        module,
                        name,
                        nn.AvgPool2d(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode),
                    )
    # float64: 600 residual blocks (resnet1202) each double the activations, past float32's range
    return model.double().eval()


def _measured_region(output: torch.Tensor, unit, x: torch.Tensor):
    """(first, last) input row and column where d(output unit, summed over channels)/d(input) ≠ 0."""
    chosen = output[0].sum() if unit is None else output[0, :, unit[0], unit[1]].sum()
    (grad,) = torch.autograd.grad(chosen, x, retain_graph=True)
    support = grad[0].abs().sum(0) > 0
    rows, cols = support.any(1).nonzero().flatten(), support.any(0).nonzero().flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def _theoretical_region(field, unit, input_shape):
    bounds = field.region(unit if unit is not None else (0, 0))
    clipped = []
    for bound, size in zip(bounds, input_shape[2:]):
        clipped.append((0, size - 1) if bound is None else (max(0, int(bound[0])), min(size - 1, int(bound[1]))))
    return tuple(clipped)


def _check_against_gradients(model_factory, input_shape, stages=None):
    """Every stage row's field (from the meta analysis) against the gradient of one unit of its output.

    The unit is (first row, last column): along H its region's end is inside the input and along W its
    start, so both ends of the field are measured (a centred unit of a deep stage sees the whole input).
    """
    with torch.device("meta"):
        meta = model_factory()
    analysis = analyze(meta, input_shape)
    layout = stage_layout(analysis, stages)
    rows = build_rows(analysis, "stage", stages=stages)
    model = _make_measurable(model_factory())
    outputs = {}
    hooks = [
        child.register_forward_hook(lambda module, args, out, name=name: outputs.__setitem__(name, out))
        for name, child in model.named_children()
    ]
    x = torch.ones(input_shape, dtype=torch.float64, requires_grad=True)
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    last_child = {}
    for child in (m.name for m in analysis.modules if m.name in outputs):
        last_child[layout.stage_of(child, "")] = child
    checked = 0
    for row in rows:
        output = outputs[last_child[row.name]]
        unit = (0, output.shape[3] - 1) if output.dim() == 4 else None
        expected = _theoretical_region(row.receptive_field, unit, input_shape)
        assert _measured_region(output, unit, x) == expected, (row.name, row.receptive_field)
        checked += 1
    return rows, checked


def _narrow(spec):
    # The field depends on kernels, strides, paddings, dilations and the wiring, never on channel counts,
    # so each variant is measured at 16 channels per stage: the same geometry at a fraction of the cost
    # (test_width_does_not_change_the_measured_field checks that at full width on resnet18).
    return dataclasses.replace(
        spec, widths=(16,) * len(spec.layers), stem_width=16, stem_widths=(16, 16, 16) if spec.stem_widths else ()
    )


# The deeper or wider siblings of issue 10's families repeat the geometry of one checked here (resnet50d, resnetrs50,
# preact_resnet164, resnext29_8x64d) with more blocks.
# deeper and wider siblings are their representative's structure at other depths and widths (see
# tests/test_families.py::test_siblings_differ_from_their_representative_only_in_depth_and_width)
SIBLINGS = {name for name, variant in registry.VARIANTS.items() if variant.sibling_of}


@pytest.mark.parametrize("name", sorted(set(registry.VARIANTS) - SIBLINGS))
def test_every_variant_matches_its_gradient_measured_field(name):
    variant = registry.VARIANTS[name]
    shape = CIFAR_PROBE if variant.default_input == registry.CIFAR_INPUT else IMAGENET_PROBE
    spec = _narrow(variant.spec)
    rows, checked = _check_against_gradients(lambda: build_model(spec), shape)
    assert checked == len(rows) >= 4


def test_width_does_not_change_the_measured_field():
    spec = registry.VARIANTS["resnet18"].spec
    full, _ = _check_against_gradients(lambda: build_model(spec), IMAGENET_PROBE)
    narrow, _ = _check_against_gradients(lambda: build_model(_narrow(spec)), IMAGENET_PROBE)
    assert [r.receptive_field for r in full] == [r.receptive_field for r in narrow]


def _fields(cli, *args):
    result = cli("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {s["name"]: s["receptive_field"] for s in json.loads(result.stdout)["stages"]}


def _square(size, stride):
    return {"size": [size, size], "stride": [stride, stride], "global": False}


def test_resnet50_by_hand(cli):
    # 7×7/2 conv: 7, jump 2; 3×3/2 max-pool: 7 + 2·2 = 11, jump 4.
    # layer1: three 3×3 convs at jump 4: 11 + 3·8 = 35.
    # layer2 (v1.5: stride on the 3×3): 35 + 2·4 = 43, jump 8; three more: 43 + 3·16 = 91.
    # layer3: 91 + 2·8 = 107, jump 16; five more: 107 + 5·32 = 267.
    # layer4: 267 + 2·16 = 299, jump 32; two more: 299 + 2·64 = 427.
    fields = _fields(cli, "resnet50")
    assert fields["stem"] == _square(11, 4) and fields["layer1"] == _square(35, 4)
    assert fields["layer2"] == _square(91, 8) and fields["layer3"] == _square(267, 16)
    assert fields["layer4"] == _square(427, 32)
    assert fields["head"] == {"size": None, "stride": None, "global": True}
    table = cli("summary", "resnet50").stdout
    assert "427 (32)" in table and "267 (16)" in table


def test_stride_at_v1_differs_from_v1_5(cli):
    # v1 strides the first 1×1, so each stage's 3×3s all run at the new jump:
    # layer2: 35 + 4·2·8 = 99; layer3: 99 + 6·2·16 = 291; layer4: 291 + 3·2·32 = 483 — the figure
    # Araujo et al. (Distill 2019, table of receptive fields) give for ResNet-50 (v1).
    assert _fields(cli, "resnet50_v1")["layer4"] == _square(483, 32)
    assert _fields(cli, "resnet50", "--stride-at", "v1")["layer4"] == _square(483, 32)
    # basic blocks: resnet18 layer4 = 435 (the commonly cited figure): 11 + 4·8 = 43; + 2·4 + 3·2·8 = 99;
    # + 2·8 + 3·2·16 = 211; + 2·16 + 3·2·32 = 435
    assert _fields(cli, "resnet18")["layer4"] == _square(435, 32)


def test_dilation_keeps_the_jump(cli):
    # torchvision's replace_stride_with_dilation=[False, True, True]: layer3 and layer4 keep jump 8; the first
    # block of a dilated stage still uses the previous dilation (torchvision's previous_dilation).
    # layer3: 91 + 2·1·8 + 5·2·2·8 = 267; layer4: 267 + 2·2·8 + 2·2·4·8 = 427 — the same size, stride 8
    fields = _fields(cli, "resnet50", "--dilate", "0,1,1")
    assert fields["layer2"] == _square(91, 8)
    assert fields["layer3"] == _square(267, 8) and fields["layer4"] == _square(427, 8)


def test_deep_stem(cli):
    # three 3×3 convs (the first /2): 3, + 2·2 = 7, + 2·2 = 11; max-pool: 15, jump 4 — four more than
    # the 7×7 stem, all the way down: resnet50c layer4 = 427 + 4
    fields = _fields(cli, "resnet50c")
    assert fields["stem"] == _square(15, 4) and fields["layer4"] == _square(431, 32)


def test_squeeze_excite_sees_the_whole_input(cli):
    fields = _fields(cli, "seresnet50")
    assert fields["stem"] == _square(11, 4)
    assert fields["layer1"] == {"size": None, "stride": [4, 4], "global": True}
    assert "global" in cli("summary", "seresnet50").stdout


class OddKernels(nn.Module):
    """Odd and non-square kernels, an even pool and a dilated conv, on a non-square input."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(4, 4, (1, 7), padding=(0, 3))
        self.pool = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=3, dilation=3)

    def forward(self, x):
        return self.conv3(self.pool(self.conv2(self.conv1(x))))


def test_odd_kernels_by_hand():
    # H: 5 (jump 2); 1×7 adds nothing along H: 5; 2×2/2 pool: 5 + 1·2 = 7, jump 4; dilated 3×3: 7 + 2·3·4 = 31
    # W: 5 (jump 2); + 6·2 = 17; pool: 17 + 2 = 19, jump 4; dilated: 19 + 24 = 43
    rows, checked = _check_against_gradients(OddKernels, (1, 3, 40, 24))
    fields = {r.name: r.receptive_field for r in rows}
    assert fields["conv1"].size == (5, 5) and fields["conv2"].size == (5, 17)
    assert fields["pool"].size == (7, 19) and fields["pool"].stride == (4, 4)
    assert fields["conv3"].size == (31, 43) and fields["conv3"].as_dict()["size"] == [31, 43]
    assert checked == 4


class KerasBlock(nn.Module):
    """Keras ResNet50's conv_block, hand-written: stride on the first 1×1, a 1×1 projection shortcut."""

    def __init__(self, cin, width, stride):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 4 * width, 1),
            nn.BatchNorm2d(4 * width),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride), nn.BatchNorm2d(4 * width))

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


class KerasStyle(nn.Module):
    """Stages named stage0..stage4; the stem pads explicitly (ZeroPadding2D) before valid convs."""

    def __init__(self):
        super().__init__()
        self.stage0 = nn.Sequential(
            nn.ZeroPad2d(3), nn.Conv2d(3, 8, 7, 2), nn.BatchNorm2d(8), nn.ReLU(), nn.ZeroPad2d(1), nn.MaxPool2d(3, 2)
        )
        self.stage1 = KerasBlock(8, 4, 1)
        self.stage2 = KerasBlock(16, 4, 2)
        self.stage3 = KerasBlock(16, 4, 2)
        self.stage4 = KerasBlock(16, 4, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        for stage in (self.stage0, self.stage1, self.stage2, self.stage3, self.stage4):
            x = stage(x)
        return self.classifier(torch.flatten(self.pool(x), 1))


def test_a_hand_written_keras_style_model():
    # stage0: 7×7/2 = 7, jump 2; 3×3/2 pool: 11, jump 4. Each block's only spatial window is its 3×3,
    # after the 1×1 that strides: stage1 11 + 2·4 = 19; stage2 (jump 8) 19 + 16 = 35; stage3 (16) 67;
    # stage4 (32) 131
    rows, checked = _check_against_gradients(KerasStyle, (1, 3, 64, 64))
    fields = {r.name: r.receptive_field for r in rows}
    assert [fields[f"stage{i}"].size for i in range(5)] == [(11, 11), (19, 19), (35, 35), (67, 67), (131, 131)]
    assert fields["stage4"].stride == (32, 32)
    assert fields["classifier"].is_global and checked == len(rows) == 7


class WideShortcut(nn.Module):
    """A residual add whose second input (the shortcut, a 5×5 conv) sees more than its first (a 1×1)."""

    def __init__(self):
        super().__init__()
        self.main = nn.Conv2d(3, 4, 1)
        self.shortcut = nn.Conv2d(3, 4, 5, padding=2)
        self.after = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.after(self.main(x) + self.shortcut(x))


def test_the_residual_add_takes_the_larger_path():
    # main 1, shortcut 5: the sum sees 5; then 3×3/2: 5 + 2 = 7, jump 2
    rows, checked = _check_against_gradients(WideShortcut, (1, 3, 16, 16))
    fields = {r.name: r.receptive_field for r in rows}
    assert fields["main"].size == (1, 1) and fields["after"].size == (7, 7) and checked == 3


class Decoder(nn.Module):
    """A strided conv, then back up: a transposed conv and a nearest upsampling (fractional jumps)."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
        self.nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.nearest(self.up(self.down(x))))


def test_fractional_jumps_give_a_tight_superset():
    # Upsampling makes a unit's region depend on its parity, so the shift-invariant span is the continuous
    # hull: it must contain the measured support, and exceed it by at most one input pixel per side.
    # By hand: down 3 (jump 2); up: 4×4/2 transposed reads (4 − 1)/2 input units: 3 + 1.5·2 = 6 (jump 1);
    # nearest ×2: 6 (jump 1/2); 3×3: 6 + 2·½ = 7
    shape = (1, 3, 16, 16)
    with torch.device("meta"):
        fields = module_fields(analyze(Decoder(), shape))
    assert [fields[n].size for n in ("down", "up", "nearest", "conv")] == [(3, 3), (6, 6), (6, 6), (7, 7)]
    assert fields["nearest"].stride == (0.5, 0.5)
    model = _make_measurable(Decoder())
    outputs = {}
    for name, child in model.named_children():
        child.register_forward_hook(lambda module, args, out, name=name: outputs.__setitem__(name, out))
    x = torch.ones(shape, dtype=torch.float64, requires_grad=True)
    model(x)
    for name, output in outputs.items():
        for unit in (
            (0, output.shape[3] - 1),
            (output.shape[2] // 2, output.shape[3] // 2),
            (output.shape[2] // 2 + 1, 1),
        ):
            measured = _measured_region(output, unit, x)
            theory = _theoretical_region(fields[name], unit, shape)
            for (low, high), (first, last) in zip(measured, theory):
                assert first <= low <= first + 1 and last - 1 <= high <= last, (name, unit, measured, theory)
