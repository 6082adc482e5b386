"""`resnet-cli compare`: blocks, models and a user's own model against a reference.

Every expected number is computed here from the formula (conv weights = k·k·Cin·Cout/groups, MACs = conv
weights · Hout · Wout) or taken from torchvision's published parameter counts; none is our own output
captured once.
"""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from resnet_cli.comparison.blocks import compare_blocks
from resnet_cli.comparison.models import compare_models
from resnet_cli.spec.fields import BlockKind

REPO = Path(__file__).resolve().parents[1]
WRONG = "tests/fixtures/wrong_resnet.py"
BAD = "tests/fixtures/bad_models.py"
MISTAKES = "tests/fixtures/tutorial_mistakes.py"

# torchvision's published "num_params" of its ResNet-50 and ResNet-18 weights (models.ResNet50_Weights /
# ResNet18_Weights meta)
RESNET50_PARAMS = 25_557_032
RESNET18_PARAMS = 11_689_512


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    # user model paths are relative to the working directory, as a user types them
    monkeypatch.chdir(REPO)


def invoke(*args):
    return run_cli("compare", *args)


def _one_error_line(result, code):
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("resnet-cli: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _block(comparison, setting, kind):
    section = next(s for s in comparison.sections if s.setting == setting)
    return next(b for b in section.blocks if b.kind == kind)


# ---- blocks: the figures of the issue, by hand ----


def test_basic_and_bottleneck_where_resnet_uses_them():
    comparison = compare_blocks(["basic", "bottleneck"])
    basic = _block(comparison, "as used", "basic")
    bottleneck = _block(comparison, "as used", "bottleneck")
    assert basic.totals.conv_weights == 2 * 3 * 3 * 64 * 64 == 73_728
    assert bottleneck.totals.conv_weights == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
    # BatchNorm shown separately: γ and β per channel
    assert basic.totals.bn_params == 2 * 64 + 2 * 64
    assert bottleneck.totals.bn_params == 2 * 64 + 2 * 64 + 2 * 256
    assert basic.totals.params == 73_728 + 256
    # MACs at 56×56: every weight once per output position
    assert basic.totals.macs == 73_728 * 56 * 56 == 231_211_008
    assert bottleneck.totals.macs == 69_632 * 56 * 56 == 218_365_952
    # fvcore FLOPs: the MACs plus 2 per element for each (inference) batch norm
    assert basic.totals.flops == 231_211_008 + 2 * (2 * 64 * 56 * 56)
    assert bottleneck.totals.flops == 218_365_952 + 2 * (64 + 64 + 256) * 56 * 56
    assert basic.output_shape == (1, 64, 56, 56) and bottleneck.output_shape == (1, 256, 56, 56)


def test_basic_block_at_equal_width_256():
    comparison = compare_blocks(["basic", "bottleneck"])
    basic = _block(comparison, "equal width", "basic")
    bottleneck = _block(comparison, "equal width", "bottleneck")
    assert basic.totals.conv_weights == 2 * 9 * 256 * 256 == 1_179_648
    assert basic.totals.macs == 1_179_648 * 56 * 56
    assert bottleneck.totals.conv_weights == 69_632


def test_every_layer_with_its_formula():
    basic = _block(compare_blocks(["basic", "bottleneck"]), "as used", "basic")
    assert [layer.name for layer in basic.layers] == ["conv1", "bn1", "conv2", "bn2"]
    conv1 = basic.layers[0]
    assert (conv1.kernel, conv1.in_channels, conv1.out_channels, conv1.groups) == ((3, 3), 64, 64, 1)
    assert conv1.params_formula == "3·3·64·64" and conv1.conv_weights == 36_864
    assert conv1.macs_formula == "36,864·56·56" and conv1.macs == 36_864 * 3136
    assert basic.layers[1].bn_params == 128 and basic.layers[1].conv_weights == 0


def test_channels_and_size_options():
    comparison = compare_blocks(["basic", "bottleneck"], channels=128, size=28)
    basic = _block(comparison, "equal width", "basic")
    bottleneck = _block(comparison, "equal width", "bottleneck")
    assert basic.totals.conv_weights == 2 * 9 * 128 * 128
    # a bottleneck at 128 in/out squeezes to 128/4 = 32
    assert bottleneck.totals.conv_weights == 128 * 32 + 9 * 32 * 32 + 32 * 128
    assert bottleneck.totals.macs == bottleneck.totals.conv_weights * 28 * 28


def test_other_block_kinds():
    comparison = compare_blocks(["resnext", "wide", "se", "preact-bottleneck", "resnext-64x4d", "preact-basic"])
    resnext = _block(comparison, "as used", "resnext")
    # resnext50_32x4d layer1: width = 64·4/64·32 = 128, the 3×3 split into 32 groups
    assert resnext.width == 128 and resnext.groups == 32
    assert resnext.layers[2].params_formula == "3·3·128·128/32"
    assert resnext.totals.conv_weights == 256 * 128 + 9 * 128 * 128 // 32 + 128 * 256
    wide = _block(comparison, "as used", "wide")  # wide_resnet50_2 layer1: width_per_group 128 → 128
    assert wide.totals.conv_weights == 256 * 128 + 9 * 128 * 128 + 128 * 256
    se = _block(comparison, "as used", "se")  # SE reduces 256 by 16 to 16 channels, both 1×1 convs biased
    assert se.totals.conv_weights == 69_632 + 256 * 16 + 16 * 256
    assert se.totals.other_params == 16 + 256
    preact = _block(comparison, "as used", "preact-bottleneck")  # BN before each conv: 256, 64, 64
    assert preact.totals.conv_weights == 69_632 and preact.totals.bn_params == 2 * (256 + 64 + 64)
    resnext64 = _block(comparison, "as used", "resnext-64x4d")
    assert resnext64.width == 256 and resnext64.layers[2].params_formula == "3·3·256·256/64"
    assert _block(comparison, "as used", "preact-basic").totals.conv_weights == 73_728


def test_cli_flagship_screen():
    result = invoke("basic", "bottleneck")
    assert result.exit_code == 0, result.stderr
    for figure in ("73,728", "69,632", "1,179,648", "3·3·64·64", "1·1·256·64"):
        assert figure in result.stdout
    assert result.stderr == ""


def test_cli_blocks_json_schema():
    result = invoke("basic", "bottleneck", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["command"] == "compare" and document["comparison"] == "blocks"
    assert (document["channels"], document["size"]) == (256, 56)
    assert [s["setting"] for s in document["sections"]] == ["as used", "equal width"]
    basic, bottleneck = document["sections"][1]["blocks"]
    assert set(basic) >= {"kind", "label", "in_channels", "width", "out_channels", "layers", "total", "ratio_to_first"}
    assert basic["total"]["conv_weights"] == 1_179_648
    assert bottleneck["ratio_to_first"]["conv_weights"] == pytest.approx(69_632 / 1_179_648, abs=1e-6)
    assert set(basic["layers"][0]) >= {
        "layer",
        "kernel",
        "in_channels",
        "out_channels",
        "groups",
        "params_formula",
        "conv_weights",
        "bn_params",
        "macs",
        "flops",
        "output_shape",
    }


def test_cli_blocks_csv_and_markdown():
    result = invoke("basic", "bottleneck", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    totals = [r for r in rows if r["layer"] == "total"]
    assert [(r["setting"], r["block"], r["conv_weights"]) for r in totals] == [
        ("as used", "basic", "73728"),
        ("as used", "bottleneck", "69632"),
        ("equal width", "basic", "1179648"),
        ("equal width", "bottleneck", "69632"),
    ]
    markdown = invoke("basic", "bottleneck", "--format", "markdown").stdout
    assert "| layer |" in markdown and "1,179,648" in markdown


# ---- models ----

# v1 moves layer2.0's stride from the 3×3 conv2 to the 1×1 conv1 (and likewise in layer3.0, layer4.0): conv1
# and its BatchNorm then run at the half size. By hand, per stage (conv1 Cin·Cout weights + BN's 2 fvcore FLOPs
# per element, times the spatial positions saved):
V1_FLOPS_SAVED = (
    (256 * 128 + 2 * 128) * (56 * 56 - 28 * 28)
    + (512 * 256 + 2 * 256) * (28 * 28 - 14 * 14)
    + (1024 * 512 + 2 * 512) * (14 * 14 - 7 * 7)
)


def test_models_side_by_side_with_differences():
    comparison = compare_models(["resnet50", "resnet50_v1", "resnet50d"])
    resnet50, v1, d = comparison.models
    assert resnet50.params == v1.params == RESNET50_PARAMS
    assert [s.name for s in resnet50.stages] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    # v1: same shapes and parameters, the stride on another conv: one row, named, with what it saves
    (stride,) = v1.differences
    assert stride.kind == "changed" and stride.blocks == ("layer2.0", "layer3.0", "layer4.0")
    assert (
        "stride 2 is on conv1 (1×1) where the reference has it on conv2 (3×3) — this is the v1 placement"
        in stride.message
    )
    assert (stride.params_delta, stride.flops_delta) == (0, -V1_FLOPS_SAVED) == (0, v1.flops - resnet50.flops)
    assert comparison.divergences[1].stage == "layer2" and comparison.divergences[1].reasons == ("operators",)
    # the "d" deep stem: 3×3 convs 3→32, 32→32, 32→64 with their BNs, against the 7×7 conv 3→64 and its BN
    deep_stem = 9 * 3 * 32 + 9 * 32 * 32 + 9 * 32 * 64 + 2 * (32 + 32 + 64)
    stem, shortcut = d.differences
    assert stem.message.startswith("stem: three convs") and stem.params_delta == deep_stem - (7 * 7 * 3 * 64 + 2 * 64)
    assert "avg-pool projection shortcut" in shortcut.message and shortcut.params_delta == 0
    divergence = comparison.divergences[2]
    assert (divergence.stage, divergence.reasons) == ("stem", ("params",))
    assert comparison.first_divergence is divergence


def test_overrides_apply_to_every_registered_model():
    comparison = compare_models(["resnet50", "resnet101"], {"block": BlockKind.BASIC, "layers": (2, 2, 2, 2)})
    assert [m.params for m in comparison.models] == [RESNET18_PARAMS, RESNET18_PARAMS]
    assert comparison.first_divergence is None and comparison.models[1].differences == ()


def test_cli_models_json_schema():
    result = invoke("resnet50", "resnet50_v1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {
        "schema_version",
        "command",
        "comparison",
        "reference",
        "models",
        "stages",
        "differences",
        "closest",
        "first_divergence",
        "first_flops_difference",
    }
    assert document["comparison"] == "models" and document["stages_aligned_by"] == "structure"
    (row,) = document["differences"]
    assert set(row) >= {"kind", "reference", "model", "message", "blocks", "params_delta", "flops_delta"}
    assert (row["reference"], row["model"], row["flops_delta"]) == ("layer2.0", "layer2.0", -V1_FLOPS_SAVED)
    assert document["closest"] == {"name": "resnet50_v1", "flags": {}, "exact": True}
    divergence = document["first_divergence"]
    assert divergence["stage"] == "layer2" and divergence["message"] == row["message"]
    assert document["first_flops_difference"]["stage"] == "layer2"
    entry = document["stages"][2]["models"][1]
    assert set(entry) >= {
        "model",
        "name",
        "output_shape",
        "params",
        "params_diff",
        "params_pct",
        "flops",
        "flops_diff",
        "flops_pct",
        "macs",
        "macs_diff",
        "macs_pct",
    }
    assert entry["params_diff"] == 0 and entry["flops_diff"] < 0
    assert document["models"][0]["total"]["params"] == RESNET50_PARAMS


def test_cli_models_csv_has_a_row_per_stage_and_total():
    result = invoke("resnet50", "resnet18", "--format", "csv")
    every = list(csv.DictReader(io.StringIO(result.stdout)))
    rows = [r for r in every if r["table"] == "stages"]
    assert [r["stage"] for r in rows] == ["stem", "layer1", "layer2", "layer3", "layer4", "head", "total"]
    # the differences follow the stage table, as in JSON: the same rows, in the same order
    differences = json.loads(invoke("resnet50", "resnet18", "--format", "json").stdout)["differences"]
    assert [r["table"] for r in every[len(rows) :]] == ["differences"] * len(differences) and differences
    assert [(r["of"], r["kind"], r["message"], int(r["params_delta"])) for r in every[len(rows) :]] == [
        ("resnet18", d["kind"], d["message"], d["params_delta"]) for d in differences
    ]
    assert int(rows[-1]["resnet50_params"]) == RESNET50_PARAMS and int(rows[-1]["resnet18_params"]) == RESNET18_PARAMS
    assert int(rows[-1]["resnet18_params_diff"]) == RESNET18_PARAMS - RESNET50_PARAMS


# ---- your own model ----


def test_correct_hand_written_resnet50_matches():
    comparison = compare_models(["resnet50", f"{WRONG}:correct"])
    assert comparison.models[1].params == RESNET50_PARAMS and comparison.models[1].differences == ()
    assert comparison.first_divergence is None and comparison.models[1].device == "meta"
    assert (comparison.subject.closest.name, comparison.subject.closest.exact) == ("resnet50", True)


def test_forgotten_stride_is_named_with_its_cost():
    result = invoke("resnet50", f"{WRONG}:forgot_stride", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    (row,) = document["differences"]
    assert row["message"].startswith(
        "layer2.0, layer3.0 and layer4.0: no stride 2: the reference downsamples here "
        "with stride 2 on conv2 (3×3) and the projection conv"
    )
    # every later map is larger: the whole FLOPs difference is this row's
    model = document["models"][1]
    assert row["flops_delta"] == model["vs_reference"]["flops"]["diff"] and row["params_delta"] == 0
    divergence = document["first_divergence"]
    assert divergence["stage"] == "layer2" and divergence["reasons"] == ["output_shape"]
    # 224 / 4 = 56 after the stem; layer2 should halve it to 28
    assert divergence["output_shape"] == {"reference": [1, 512, 28, 28], "model": [1, 512, 56, 56]}
    assert document["closest"] is None  # no stride anywhere after the stem: no spec says that


def test_3x3_projection_shortcut_is_one_row_for_four_blocks():
    comparison = compare_models(["resnet50", f"{WRONG}:shortcut_3x3"])
    (row,) = comparison.models[1].differences
    assert row.blocks == ("layer1.0", "layer2.0", "layer3.0", "layer4.0")
    assert "3×3 conv where the reference's is 1×1" in row.message
    # each projection Cin→Cout: 3·3·Cin·Cout instead of 1·1·Cin·Cout
    assert row.params_delta == 8 * (64 * 256 + 256 * 512 + 512 * 1024 + 1024 * 2048) == 22_151_168
    divergence = comparison.first_divergence
    assert divergence.stage == "layer1" and divergence.params.diff == 8 * 64 * 256


def test_stride_on_every_conv_is_compared_up_to_where_it_breaks():
    # the strided 1x1, 3x3 and 1x1 convs take layer2.0's main path from 56 to 7 while the shortcut is at
    # 28: the residual add fails there. The stem and layer1 still ran and match; the differences are the
    # strides of layer2.0, then the failure; that is a failure of the user's code: exit 1, one stderr line
    result = invoke("resnet50", f"{WRONG}:stride_on_every_conv", "--format", "json")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "its forward fails in module 'layer2.0' (Bottleneck)" in lines[0]
    assert "the residual addition gets 1×512×7×7 and 1×512×28×28" in lines[0]
    doc = json.loads(result.stdout)
    broken = doc["models"][1]
    assert broken["failure"]["module"] == "layer2.0"
    assert [s["output_shape"] for s in broken["stages"][:2]] == [[1, 64, 56, 56], [1, 256, 56, 56]]
    stride, failure = doc["differences"]
    assert stride["message"].startswith(
        "layer2.0: stride 2 on conv1 (1×1), conv2 (3×3) and conv3 (1×1) where the reference has it on conv2 (3×3) only"
    )
    assert failure["kind"] == "fails" and "the residual addition gets" in failure["message"]
    assert broken["failure"]["operator"] == "aten.add" and "must match the size" in broken["failure"]["message"]
    assert doc["first_divergence"]["stage"] == "layer2"
    assert broken["first_divergence"]["output_shape"]["model"] is None  # layer2 never finished
    assert [s["models"][1]["name"] for s in doc["stages"]][3:] == [None, None, None]  # never reached
    # the parameters of every stage are still counted from the module, run or not (resnet50's: by hand
    # the same layers, only strides differ)
    assert broken["total"]["params"] == 25_557_032


def test_cli_table_puts_the_differences_first_and_fits_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("resnet50", f"{WRONG}:forgot_stride")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("no stride 2") < out.index("stage ")  # the answer, then the table
    assert all(len(line) <= 80 for line in out.splitlines())
    # no number split: every cell of the table is whole — layer3's output and its FLOPs change, as the JSON
    # document has them, each on layer3's line
    doc = json.loads(invoke("resnet50", f"{WRONG}:forgot_stride", "--format", "json").stdout)
    layer3 = next(s["models"][1] for s in doc["stages"] if s["stage"] == "layer3")
    shape = "×".join(str(n) for n in layer3["output_shape"])
    # one row per stage and model: the model's row of layer3 is the one after the stage's first
    lines = out.splitlines()
    line = lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith("layer3 ")) + 1]
    assert line.split()[0] == "forgot_stride"
    assert shape == "1×1024×56×56"  # by hand: no stride anywhere after the stem's 56×56
    assert shape in line and f"{layer3['flops_pct']:+.1f}%" in line and "…" not in out
    assert "not shown at this width" in out


def test_one_model_alone_is_identified():
    result = invoke(f"{MISTAKES}:stride_on_1x1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["closest"] == {"name": "resnet50_v1", "flags": {}, "exact": True}
    assert document["reference"] == "resnet50_v1" and document["differences"] == []
    table = invoke(f"{MISTAKES}:stride_on_1x1").stdout
    assert "stride_on_1x1 equals resnet50_v1 (every operator, shape and parameter)" in table
    # not exact: compared with the closest variant, the difference named
    alone = json.loads(invoke(f"{MISTAKES}:no_relu_after_add", "-f", "json").stdout)
    assert alone["closest"] == {"name": "resnet50", "flags": {}, "exact": False}
    assert [d["message"].split(";")[0] for d in alone["differences"]] == [
        "every block of layer1–layer4: no ReLU after the residual addition"
    ]


def test_package_module_callable_and_stages_option():
    result = invoke(
        "tests.fixtures.bad_models:Tiny", f"{BAD}:Tiny", "--stages", "features,classifier", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [m["source"] for m in document["models"]] == ["module", "file"]
    assert document["stages_aligned_by"] == "position"
    # features (conv 3·3·3·8 + BN 2·8), then pool + classifier (8·10 + 10)
    assert [(s["name"], s["params"]) for s in document["models"][0]["stages"]] == [
        ("features", 9 * 3 * 8 + 16),
        ("classifier", 8 * 10 + 10),
    ]
    assert document["first_divergence"] is None and document["differences"] == []


def test_model_needing_real_tensors_falls_back_to_cpu():
    for name in ("ReadsValuesInForward", "ReadsValuesInInit"):
        result = invoke(f"{BAD}:{name}", "tests.fixtures.bad_models:Tiny", "--format", "json")
        assert result.exit_code == 0, result.stderr
        model = json.loads(result.stdout)["models"][0]
        assert model["device"] == "cpu" and model["total"]["params"] >= 9 * 3 * 8
        # two notes: the CPU fallback, and the input taken (neither model is a registered variant)
        assert "meta device" in result.stderr and result.stderr.count("\n") == 2
        assert "analysed at the default input 1×3×224×224" in result.stderr


# ---- bad input: one line, exit 2 for usage, 1 for the user's code ----


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["basic"], 2, "two block kinds or at least one model"),
        ([], 2, "two block kinds or at least one model"),
        (["basic", "bottlenek"], 2, "did you mean bottleneck"),
        (["resnet50", "resnet5O"], 2, "unknown block kind or model 'resnet5O'"),
        (["basic", "resnet50"], 2, "cannot compare block kinds"),
        (["resnet50", "no/such/file.py:model"], 2, "file not found: no/such/file.py"),
        (["resnet50", "no_such_package.models:resnet"], 2, "no module named 'no_such_package'"),
        (["resnet50", f"{BAD}:missing"], 2, "has no callable 'missing'; it defines: "),
        (["resnet50", f"{BAD}:NOT_CALLABLE"], 2, "is not callable"),
        (["resnet50", f"{BAD}:returns_a_dict"], 2, "returned a dict, not a torch.nn.Module"),
        (["resnet50", f"{BAD}:TakesOneChannel"], 2, "rejects the input 1x3x224x224"),
        (["resnet50", "resnet18", "--input", "1x3x16x16"], 2, "too small for resnet50"),
        (["resnet50", "resnet18", "--input", "1x3x224"], 2, "expected 4 as NxCxHxW"),
        (["basic", "bottleneck", "--channels", "10"], 2, "multiple of 4"),
        (["basic", "bottleneck", "--size", "zero"], 2, "--size 'zero' is not an integer"),
        (["basic", "bottleneck", "--input", "1x3x224x224"], 2, "--input applies to model comparisons"),
        (["resnet50", "resnet18", "--channels", "64"], 2, "--channels applies to block comparisons"),
        (["resnet50", "resnet18", "--stages", "layer1,nope"], 2, "no top-level module 'nope'"),
        (
            ["resnet50", "resnet18", "--stages", "layer1", "--stages", "layer1", "--stages", "layer1"],
            2,
            "--stages given 3 times for 2 models",
        ),
        (["resnet50", "resnet18", "--block", "triple"], 2, "--block 'triple' is not accepted"),
        (["resnet50", "resnet18", "--format", "yaml"], 2, "--format 'yaml' is not accepted"),
        ([f"{BAD}:Tiny", f"{BAD}:Tiny", "--layers", "2,2"], 2, "override flags change registered models"),
        (["resnet18", "resnet34", "resnet50", "--export-weights", "w.safetensors"], 2, "3 models were given"),
        (["resnet18", "resnet34", "--seed", "1"], 2, "--seed applies to --export-weights"),
        (["resnet18", "resnet34", "--export-weights", "w.safetensors", "--seed", "-1"], 2, "--seed -1 is out of range"),
        (["resnet18", "resnet34", "--export-weights", "no/such/dir/w.safetensors"], 2, "folder no/such/dir does not"),
        (["basic", "bottleneck", "--export-weights", "w.pt"], 2, "--export-weights applies to model comparisons"),
        (["resnet50", f"{BAD}:raises"], 1, "calling it raised ValueError: student forgot to set num_classes"),
        (["resnet50", f"{BAD}:FailsInForward"], 1, "raised NotImplementedError: forward is homework"),
        (
            ["resnet50", "tests/fixtures/broken_import.py:model"],
            1,
            "importing tests/fixtures/broken_import.py raised ImportError: No module named 'student_helpers'",
        ),
    ],
)
def test_bad_input_is_one_line(args, code, words):
    assert words in _one_error_line(invoke(*args), code)


# ---- as a user meets it: the installed entry point ----


def test_compare_does_not_import_torch_until_it_runs():
    probe = "import sys, resnet_cli.cli.compare, resnet_cli.comparison.blocks; print('torch' in sys.modules)"
    imported = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, env={**os.environ}, timeout=120
    )
    assert imported.stdout.strip() == "False", imported.stderr


def test_compare_option_rules_name_options_as_each_caller_wrote_them():
    """One set of rules (comparison/rules.py) behind the command line and the API: `--input` there, `input` here."""
    import resnet_cli
    from resnet_cli.base.errors import UsageError

    with pytest.raises(UsageError, match=r"^input applies to model comparisons; blocks take channels and size$"):
        resnet_cli.compare("basic", "bottleneck", input="1x3x32x32")
    with pytest.raises(UsageError, match=r"^groups applies to model comparisons"):
        resnet_cli.compare("basic", "bottleneck", groups=2)
    with pytest.raises(UsageError, match=r"^channels, size apply to block comparisons; models take input NxCxHxW$"):
        resnet_cli.compare("resnet18", "resnet34", channels=8, size=8)
    result = run_cli("compare", "basic", "bottleneck", "--groups", "2")
    assert result.exit_code == 2 and "--groups applies to model comparisons" in result.stderr
