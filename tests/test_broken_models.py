"""Issue 16, as a student meets it: broken models compared up to the break (req. 5), the input a model was made
for (req. 7), several models that stay several (req. 8) — with models written the way students write them
(``tests/fixtures/sequential_students.py``: functions returning ``nn.Sequential``, ``F.relu``; and
``tests/fixtures/issue16_models.py``).

Shapes and counts are worked out by hand in each test: a CIFAR ResNet-18 keeps 32×32 through its 3×3 stem and
stage 1 (64 channels), then halves the map and doubles the width at each stage.
"""

import csv
import io
import json

import pytest
from conftest import assert_one_line_error, run_cli

from resnet_cli.analysis.failure import explain

STUDENTS = "tests/fixtures/sequential_students.py"
ISSUE = "tests/fixtures/issue16_models.py"

# by hand: stem 3·3·3·64 + BN 2·64; stage 1 = 2 blocks of 2 convs 3·3·64·64 and 2 BN of 64
STEM_PARAMS = 3 * 3 * 3 * 64 + 2 * 64
LAYER1_PARAMS = 4 * (3 * 3 * 64 * 64 + 2 * 64)
# MACs of the CIFAR ResNet-18 at 32×32, by hand: stem, stage 1 (4 convs 64→64 on 32×32), stages 2-4 (each: a
# strided conv, three convs at the new width, a 1×1 projection — the same count at every stage, as channels
# double where the area quarters), the classifier 512·10
CIFAR18_MACS = (
    3 * 64 * 9 * 32 * 32
    + 4 * 64 * 64 * 9 * 32 * 32
    + 3 * (64 * 128 * 9 * 16 * 16 + 3 * 128 * 128 * 9 * 16 * 16 + 64 * 128 * 16 * 16)
    + 512 * 10
)


# ---- req. 5: a broken model is told where it breaks, and why ----


@pytest.mark.parametrize("command", ["summary", "flops", "draw", "bench"])
def test_a_model_broken_after_two_stages_fails_where_it_breaks(command):
    result = run_cli(command, f"{STUDENTS}:broken_identity", "--input", "1x3x32x32")
    line = assert_one_line_error(
        result,
        1,
        "its forward fails in module '2.0' (Block)",
        # 2.0's main path: stride 2, 128 channels; its identity shortcut: the block's input
        "the residual addition gets 1×128×16×16 and 1×64×32×32",
        "the shortcut needs a projection (1×1 conv 64→128, stride 2)",
    )
    assert "--input" not in line and "rejects the input" not in line


def test_a_conv_padded_0_breaks_at_the_first_addition():
    # 3×3 conv with padding 0 on 32×32: 30×30, while the identity shortcut stays 32×32
    assert_one_line_error(
        run_cli("summary", f"{STUDENTS}:padding0", "--input", "1x3x32x32"),
        1,
        "fails in module '1.0' (Block)",
        "the residual addition gets 1×64×30×30 and 1×64×32×32",
        "the maps differ by 2 pixels",
    )


def test_only_a_first_layer_that_refuses_the_input_blames_the_input():
    # the stem takes 1 channel: the very first operator refuses the 3-channel input
    assert_one_line_error(
        run_cli("summary", f"{STUDENTS}:broken_at_input", "--input", "1x3x32x32"),
        2,
        "rejects the input 1x3x32x32",
        "give one it takes with --input",
    )


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown"])
def test_compare_prints_the_whole_document_up_to_the_break_and_exits_1(fmt):
    result = run_cli("compare", "resnet18_cifar", f"{ISSUE}:cifar_resnet18_identity_shortcut", "--format", fmt)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "its forward fails in module '2.0'" in lines[0] and "--input" not in lines[0]
    out = result.stdout
    assert out.strip()
    if fmt == "json":
        doc = json.loads(out)
        row = doc["differences"][-1]
        assert (row["kind"], row["model"], row["reference"]) == ("fails", "2.0", "layer2.0")
        assert row["message"].startswith(
            "2.0 (reference: layer2.0): the residual addition gets 1×128×16×16 and "
            "1×64×32×32: the shortcut needs a projection"
        )
        broken = doc["models"][1]
        assert broken["failure"]["module"] == "2.0" and broken["failure"]["operator"] == "aten.add"
        # up to the break, the stem and stage 1 ran and match, counted by hand
        stem, layer1 = doc["stages"][0]["models"][1], doc["stages"][1]["models"][1]
        assert (stem["params"], layer1["params"]) == (STEM_PARAMS, LAYER1_PARAMS)
        assert stem["output_shape"] == [1, 64, 32, 32] and layer1["output_shape"] == [1, 64, 32, 32]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        stem = rows[0]
        assert stem["table"] == "stages"
        assert int(stem["resnet18_cifar_params"]) == int(stem["cifar_resnet18_identity_shortcut_params"]) == STEM_PARAMS
        # the differences follow the stage table: the missing projection (1×1 conv 64→128: 64·128 weights, and
        # BatchNorm's 2·128), then the `fails` row, in both models' words
        changed, fails = rows[-2:]
        assert (changed["table"], changed["kind"], int(changed["params_delta"])) == (
            "differences",
            "changed",
            -(64 * 128 + 2 * 128),
        )
        assert (fails["table"], fails["of"], fails["kind"], fails["model"], fails["reference"]) == (
            "differences",
            "cifar_resnet18_identity_shortcut",
            "fails",
            "2.0",
            "layer2.0",
        )
        assert (
            "the residual addition gets 1×128×16×16 and 1×64×32×32: the shortcut needs a projection" in fails["message"]
        )
    elif fmt == "markdown":
        assert "- **fails** 2.0 (reference: layer2.0): the residual addition gets" in out
    else:
        assert "fails    2.0 (reference: layer2.0): the residual addition" in out


def test_compare_of_a_model_broken_inside_its_only_top_level_module():
    # no top-level module finishes before the failure: the comparison still shows what ran
    result = run_cli("compare", "resnet18_cifar", f"{STUDENTS}:Wrapped", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["differences"][-1]["kind"] == "fails" and doc["differences"][-1]["model"] == "net.2.0"
    assert doc["stages"][1]["models"][1]["params"] == LAYER1_PARAMS


@pytest.mark.parametrize("model", [f"{ISSUE}:cifar_resnet18_identity_shortcut", f"{STUDENTS}:broken_identity"])
def test_a_broken_model_alone_is_compared_with_the_variant_closest_to_what_ran(model):
    # no --input, no reference: the stem (3×3/1, 64, no max-pool) and stage 1 (two basic blocks of 64) ran, so the
    # closest variant up to the break is resnet18_cifar, compared at its 32×32 up to 2.0's addition
    result = run_cli("compare", model, "--format", "json")
    assert result.exit_code == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["reference"] == "resnet18_cifar" and doc["closest"] == {
        "name": "resnet18_cifar",
        "flags": {},
        "exact": False,
    }
    assert [m["input_shape"] for m in doc["models"]] == [[1, 3, 32, 32]] * 2
    changed, fails = doc["differences"]
    # the projection it lacks: a 1×1 conv 64→128 (64·128 weights) and its BatchNorm (2·128)
    assert (changed["kind"], changed["model"], changed["reference"]) == ("changed", "2.0", "layer2.0")
    assert changed["params_delta"] == -(64 * 128 + 2 * 128)
    assert (fails["kind"], fails["model"], fails["reference"]) == ("fails", "2.0", "layer2.0")
    assert "the residual addition gets 1×128×16×16 and 1×64×32×32" in fails["message"]
    stem, layer1 = doc["stages"][0]["models"], doc["stages"][1]["models"]
    assert [m["params"] for m in stem] == [STEM_PARAMS] * 2 and [m["params"] for m in layer1] == [LAYER1_PARAMS] * 2
    assert (
        "up to where it breaks, closest to resnet18_cifar, so analysed at the input it was made for, "
        "1×3×32×32" in result.stderr
    )
    assert "its forward fails in module '2.0'" in result.stderr.strip().splitlines()[-1]


def test_a_broken_torchvision_resnet50_is_closest_to_resnet50_up_to_the_break():
    # torchvision's own ResNet-50 with layer3.0's projection replaced by an identity: it breaks at layer3.0's
    # addition (1024 channels against 512); among the 7×7-stem bottleneck variants, resnet50 agrees with every
    # layer that ran but the missing projection (resnet50_v1 strides the 1×1 conv, resnet101 the same until
    # layer3, but its parameter count is farther from the model's)
    import torchvision
    from torch import nn

    from resnet_cli.comparison.prefix import closest_prefix
    from resnet_cli.sources.target import analyze, target_of_module
    from resnet_cli.structure.align import structure

    model = torchvision.models.resnet50()
    model.layer3[0].downsample = nn.Identity()
    analyzed = analyze(target_of_module(model, (1, 3, 224, 224)), allow_partial=True)
    assert analyzed.failure.module == "layer3.0"
    found = closest_prefix(
        structure(analyzed.analysis, True, "layer3.0"), (1, 3, 224, 224), sum(p.numel() for p in model.parameters())
    )
    assert (found.name, found.flags, found.exact) == ("resnet50", (), False)


def test_a_broken_model_close_to_nothing_is_told_so_in_one_line():
    # a conv and a ReLU, then a conv that takes 16 channels gets 8: no registered variant starts like that
    result = run_cli("compare", "tests/fixtures/bad_models.py:BreaksAfterTwoLayers")
    assert result.exit_code == 1
    said = [line for line in result.stdout.splitlines() if "registered variant" in line]
    assert said == [
        "BreaksAfterTwoLayers is not close to a registered variant up to where its forward fails (name "
        "the model it should be: `resnet-cli compare REFERENCE MODEL`)"
    ]
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert "its forward fails in module 'features.2' (Conv2d)" in result.stderr.strip().splitlines()[-1]


def test_explain_names_what_each_operator_got():
    # a conv of 1 input channel fed 3 channels; a linear layer of 3072 features fed 150,528 (3·224·224)
    conv = explain(
        "aten.convolution",
        [(1, 3, 32, 32)],
        [(64, 1, 3, 3)],
        "expected input[1, 3, 32, 32] to have 1 channels, but got 3 channels instead",
    )
    assert conv.startswith(
        "the convolution (3×3, weight 64×1×3×3) gets 1×3×32×32: it takes 1 channels per group, the tensor has 3"
    )
    linear = explain("aten.addmm", [(1, 150528), (3072, 10)], [(10,)], "mat1 and mat2 shapes cannot be multiplied")
    assert linear.startswith("the linear layer takes 3072 features and gets 150528 (1×150528)")
    # strided differently, same width: 56 / 8 = 7 on one path, 56 / 2 = 28 on the other
    assert "downsample differently (28 → 7)" in explain("aten.add", [(1, 512, 7, 7), (1, 512, 28, 28)])
    assert explain(None, (), (), "boom") == "its own code: boom"


# ---- req. 7: the input the model was made for ----


def test_a_cifar_resnet18_is_summarised_at_32x32():
    result = run_cli("summary", f"{STUDENTS}:cifar_resnet18", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["input_shape"] == [1, 3, 32, 32] and doc["total"]["macs"] == CIFAR18_MACS == 555_422_720
    assert "identified as resnet18_cifar, so analysed at the input it was made for, 1×3×32×32" in result.stderr
    # --input wins, and then nothing needs saying
    given = run_cli("summary", f"{STUDENTS}:cifar_resnet18", "--input", "1x3x64x64", "--format", "json")
    assert json.loads(given.stdout)["input_shape"] == [1, 3, 64, 64] and given.stderr == ""


def test_an_unidentified_model_is_told_how_to_change_the_default():
    result = run_cli("summary", "tests/fixtures/bad_models.py:Tiny", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["input_shape"] == [1, 3, 224, 224]
    assert "analysed at the default input 1×3×224×224; give --input NxCxHxW" in result.stderr


def test_compare_runs_every_model_at_the_input_the_first_was_made_for():
    result = run_cli("compare", f"{ISSUE}:cifar_resnet18", "resnet18", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [m["input_shape"] for m in doc["models"]] == [[1, 3, 32, 32]] * 2
    assert "identified as resnet18_cifar" in result.stderr
    alone = json.loads(run_cli("compare", f"{STUDENTS}:cifar_resnet18", "--format", "json").stdout)
    assert [m["input_shape"] for m in alone["models"]] == [[1, 3, 32, 32]] * 2
    assert alone["closest"] == {"name": "resnet18_cifar", "flags": {}, "exact": True}


# ---- req. 8: several models stay several ----

FOUR = ("resnet50", "resnext50_32x4d", "resnet50d", "wide_resnet50_2")
# total parameters: torchvision's model docs (resnet50, resnext50_32x4d, wide_resnet50_2) and timm's resnet50d
FOUR_PARAMS = {
    "resnet50": 25_557_032,
    "resnext50_32x4d": 25_028_904,
    "resnet50d": 25_576_264,
    "wide_resnet50_2": 68_883_240,
}


@pytest.mark.parametrize("columns", [80, 200])
def test_four_models_each_keep_their_name_and_totals_at_any_width(columns):
    result = run_cli("compare", *FOUR, columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    total = next(i for i, line in enumerate(lines) if line.lstrip().startswith("total "))
    rows = lines[total : total + 4]
    for name, row in zip(FOUR, rows, strict=True):  # one row per model under "total", its name and its count
        assert name in row.split() and f"{FOUR_PARAMS[name]:,}" in row.split(), row


def test_four_models_in_csv_and_markdown_are_named():
    rows = list(csv.DictReader(io.StringIO(run_cli("compare", *FOUR, "--format", "csv").stdout)))
    assert not any(key.startswith("m1_") for key in rows[0])
    total = next(r for r in rows if r["stage"] == "total")
    assert {name: int(total[f"{name}_params"]) for name in FOUR} == FOUR_PARAMS
    assert {r["of"] for r in rows if r["table"] == "differences"} == set(FOUR[1:])  # each model's differences
    markdown = run_cli("compare", *FOUR, "--format", "markdown").stdout
    assert "| stage | model | output | params |" in markdown
    for name, params in FOUR_PARAMS.items():
        assert any(f"| {name} |" in line and f"| {params:,} |" in line for line in markdown.splitlines()), name


def test_a_broken_first_model_is_compared_with_the_first_that_runs():
    # a reference that breaks midway has no second half: the model that runs to the end is the reference
    result = run_cli("compare", f"{ISSUE}:cifar_resnet18_identity_shortcut", "resnet18_cifar", "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["reference"] == "resnet18_cifar"
    assert doc["differences"][-1]["kind"] == "fails" and doc["differences"][-1]["reference"] == "layer2.0"
    assert "compared with resnet18_cifar, the first that runs to the end" in result.stderr


def test_a_broken_first_model_stays_the_reference_with_stages_and_a_note_says_why():
    # --stages is given per model, in order: the broken first model stays the reference, and a note says why
    result = run_cli(
        "compare",
        f"{ISSUE}:cifar_resnet18_identity_shortcut",
        "resnet18_cifar",
        "--stages",
        "default",
        "--format",
        "json",
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reference"] == f"{ISSUE}:cifar_resnet18_identity_shortcut"
    assert (
        "its forward fails in 2.0, but it stays the reference, as --stages names each model's stages in the "
        "order the models are given"
    ) in result.stderr


def test_a_cifar_net_whose_head_only_takes_32x32_is_found_at_its_input():
    # kuangliu's ResNet-18: F.avg_pool2d(out, 4) then Linear(512, 10): at 224×224 the pool leaves 7×7, and the
    # linear layer gets 512·7·7 = 25,088 features; at 32×32 it gets 512 and the model is resnet18_cifar
    result = run_cli("summary", "tests/fixtures/cifar_tutorials.py:ResNet18", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["input_shape"] == [1, 3, 32, 32]
    assert "identified as resnet18_cifar" in result.stderr
    # compare, which analyses what runs of a broken forward, finds it whole at 32×32 (not "closest up to a break")
    compared = run_cli("compare", "tests/fixtures/cifar_tutorials.py:ResNet18", "--format", "json")
    assert compared.exit_code == 0, compared.stderr
    assert json.loads(compared.stdout)["closest"] == {"name": "resnet18_cifar", "flags": {}, "exact": True}
    assert "identified as resnet18_cifar" in compared.stderr and "breaks" not in compared.stderr


def test_a_model_broken_at_the_default_input_is_told_the_input_was_the_default():
    line = assert_one_line_error(
        run_cli("summary", f"{STUDENTS}:broken_identity"),
        1,
        "its forward fails in module '2.0' (Block)",
        "it was analysed at the default input 1×3×224×224: give --input NxCxHxW",
    )
    assert line.count("--input") == 1


def test_a_map_shrunk_below_a_pool_is_said_so():
    # kuangliu's ResNet-18 at 8×8: the stages leave 1×1 (8 / 2·2·2), and F.avg_pool2d(out, 4) has no 4×4 to pool
    assert_one_line_error(
        run_cli("summary", "tests/fixtures/cifar_tutorials.py:ResNet18", "--input", "1x3x8x8"),
        1,
        "the avg-pool gets 1×512×1×1",
        "smaller than its window",
    )
