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
from resnet_cli.comparison import compare_blocks, compare_models
from resnet_cli.spec import BlockKind

REPO = Path(__file__).resolve().parents[1]
WRONG = "tests/fixtures/wrong_resnet.py"
BAD = "tests/fixtures/bad_models.py"

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
    assert set(basic["layers"][0]) >= {"layer", "kernel", "in_channels", "out_channels", "groups", "params_formula",
                                       "conv_weights", "bn_params", "macs", "flops", "output_shape"}


def test_cli_blocks_csv_and_markdown():
    result = invoke("basic", "bottleneck", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    totals = [r for r in rows if r["layer"] == "total"]
    assert [(r["setting"], r["block"], r["conv_weights"]) for r in totals] == [
        ("as used", "basic", "73728"), ("as used", "bottleneck", "69632"),
        ("equal width", "basic", "1179648"), ("equal width", "bottleneck", "69632")]
    markdown = invoke("basic", "bottleneck", "--format", "markdown").stdout
    assert "| layer |" in markdown and "1,179,648" in markdown


# ---- models ----

def test_models_side_by_side_with_differences():
    comparison = compare_models(["resnet50", "resnet50_v1", "resnet50d"])
    resnet50, v1, d = comparison.models
    assert resnet50.params == v1.params == RESNET50_PARAMS
    assert [s.name for s in resnet50.stages] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    # v1 moves the stride to the 1×1: same shapes and parameters, so no divergence, but fewer FLOPs
    assert comparison.divergences[1] is None
    assert comparison.flops_difference(1) == 2 and v1.flops < resnet50.flops
    # the "d" deep stem: 3×3 convs 3→32, 32→32, 32→64 with their BNs, against the 7×7 conv 3→64 and its BN
    deep_stem = 9 * 3 * 32 + 9 * 32 * 32 + 9 * 32 * 64 + 2 * (32 + 32 + 64)
    divergence = comparison.divergences[2]
    assert (divergence.stage, divergence.reasons) == ("stem", ("params",))
    assert divergence.params.diff == deep_stem - (7 * 7 * 3 * 64 + 2 * 64)
    assert comparison.first_divergence is divergence


def test_overrides_apply_to_every_registered_model():
    comparison = compare_models(["resnet50", "resnet101"], {"block": BlockKind.BASIC, "layers": (2, 2, 2, 2)})
    assert [m.params for m in comparison.models] == [RESNET18_PARAMS, RESNET18_PARAMS]
    assert comparison.first_divergence is None


def test_cli_models_json_schema():
    result = invoke("resnet50", "resnet50_v1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {"schema_version", "command", "comparison", "reference", "models", "stages",
                             "first_divergence", "first_flops_difference"}
    assert document["comparison"] == "models" and document["first_divergence"] is None
    assert document["first_flops_difference"]["stage"] == "layer2"
    entry = document["stages"][2]["models"][1]
    assert set(entry) >= {"model", "name", "output_shape", "params", "params_diff", "params_pct", "flops",
                          "flops_diff", "flops_pct", "macs", "macs_diff", "macs_pct"}
    assert entry["params_diff"] == 0 and entry["flops_diff"] < 0
    assert document["models"][0]["total"]["params"] == RESNET50_PARAMS


def test_cli_models_csv_has_a_row_per_stage_and_total():
    result = invoke("resnet50", "resnet18", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["stage"] for r in rows] == ["stem", "layer1", "layer2", "layer3", "layer4", "head", "total"]
    assert int(rows[-1]["m1_params"]) == RESNET50_PARAMS and int(rows[-1]["m2_params"]) == RESNET18_PARAMS
    assert int(rows[-1]["m2_params_diff"]) == RESNET18_PARAMS - RESNET50_PARAMS


# ---- your own model ----

def test_correct_hand_written_resnet50_matches():
    comparison = compare_models(["resnet50", f"{WRONG}:correct"])
    assert comparison.models[1].params == RESNET50_PARAMS
    assert comparison.first_divergence is None and comparison.models[1].device == "meta"


def test_forgotten_stride_diverges_at_layer2():
    result = invoke("resnet50", f"{WRONG}:forgot_stride", "--format", "json")
    assert result.exit_code == 0, result.stderr
    divergence = json.loads(result.stdout)["first_divergence"]
    assert divergence["stage"] == "layer2" and divergence["reasons"] == ["output_shape"]
    # 224 / 4 = 56 after the stem; layer2 should halve it to 28
    assert divergence["output_shape"] == {"reference": [1, 512, 28, 28], "model": [1, 512, 56, 56]}
    assert divergence["params"]["diff"] == 0


def test_3x3_projection_shortcut_diverges_at_layer1_by_its_weights():
    comparison = compare_models(["resnet50", f"{WRONG}:shortcut_3x3"])
    divergence = comparison.first_divergence
    assert divergence.stage == "layer1" and divergence.reasons == ("params",)
    # layer1.0's projection 64→256: 3·3·64·256 instead of 1·1·64·256
    assert divergence.params.diff == 9 * 64 * 256 - 64 * 256 == 131_072


def test_stride_on_every_conv_is_compared_up_to_where_it_breaks():
    # the strided 1x1, 3x3 and 1x1 convs take layer2.0's main path from 56 to 7 while the shortcut is at
    # 28: the residual add fails there. The stem and layer1 still ran and match; the first divergence is
    # layer2, where the forward breaks; that is a failure of the user's code: exit 1, one stderr line
    result = invoke("resnet50", f"{WRONG}:stride_on_every_conv", "--format", "json")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "its forward fails in layer2.0" in lines[0] and "must match the size" in lines[0]
    doc = json.loads(result.stdout)
    broken = doc["models"][1]
    assert broken["failure"]["module"] == "layer2.0"
    assert [s["output_shape"] for s in broken["stages"][:2]] == [[1, 64, 56, 56], [1, 256, 56, 56]]
    assert doc["first_divergence"]["stage"] == "layer2"
    assert broken["first_divergence"]["output_shape"]["model"] is None
    # the parameters of every stage are still counted from the module, run or not (resnet50's: by hand
    # the same layers, only strides differ)
    assert broken["total"]["params"] == 25_557_032


def test_cli_table_names_the_first_divergence():
    result = invoke("resnet50", f"{WRONG}:forgot_stride")
    assert result.exit_code == 0, result.stderr
    assert f"first divergence of {WRONG}:forgot_stride: layer2" in result.stdout
    assert "1×512×56×56 instead of 1×512×28×28" in result.stdout


def test_package_module_callable_and_stages_option():
    result = invoke("tests.fixtures.bad_models:Tiny", f"{BAD}:Tiny", "--stages", "features,classifier",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [m["source"] for m in document["models"]] == ["module", "file"]
    # features (conv 3·3·3·8 + BN 2·8), then pool + classifier (8·10 + 10)
    assert [(s["name"], s["params"]) for s in document["models"][0]["stages"]] == [
        ("features", 9 * 3 * 8 + 16), ("classifier", 8 * 10 + 10)]
    assert document["first_divergence"] is None


def test_model_needing_real_tensors_falls_back_to_cpu():
    for name in ("ReadsValuesInForward", "ReadsValuesInInit"):
        result = invoke(f"{BAD}:{name}", "tests.fixtures.bad_models:Tiny", "--format", "json")
        assert result.exit_code == 0, result.stderr
        model = json.loads(result.stdout)["models"][0]
        assert model["device"] == "cpu" and model["total"]["params"] >= 9 * 3 * 8
        assert "meta device" in result.stderr and result.stderr.count("\n") == 1


# ---- bad input: one line, exit 2 for usage, 1 for the user's code ----

@pytest.mark.parametrize("args, code, words", [
    (["basic"], 2, "at least two"),
    ([], 2, "at least two"),
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
    (["resnet50", "resnet18", "--stages", "layer1", "--stages", "layer1", "--stages", "layer1"], 2,
     "--stages given 3 times for 2 models"),
    (["resnet50", "resnet18", "--block", "triple"], 2, "--block 'triple' is not accepted"),
    (["resnet50", "resnet18", "--format", "yaml"], 2, "--format 'yaml' is not accepted"),
    ([f"{BAD}:Tiny", f"{BAD}:Tiny", "--layers", "2,2"], 2, "override flags change registered models"),
    (["resnet50", f"{BAD}:raises"], 1, "calling it raised ValueError: student forgot to set num_classes"),
    (["resnet50", f"{BAD}:FailsInForward"], 1, "raised NotImplementedError: forward is homework"),
    (["resnet50", "tests/fixtures/broken_import.py:model"], 1,
     "importing tests/fixtures/broken_import.py raised ImportError: No module named 'student_helpers'"),
])
def test_bad_input_is_one_line(args, code, words):
    assert words in _one_error_line(invoke(*args), code)


# ---- as a user meets it: the installed entry point ----

def test_installed_entry_point_and_lazy_torch():
    executable = Path(sys.executable).with_name("resnet-cli")
    result = subprocess.run([str(executable), "compare", "basic", "bottleneck", "-f", "json"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    blocks = json.loads(result.stdout)["sections"][0]["blocks"]
    assert [b["total"]["conv_weights"] for b in blocks] == [73_728, 69_632]
    failed = subprocess.run([str(executable), "compare", "resnet50", f"{BAD}:raises"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr and failed.stdout == ""
    probe = "import sys, resnet_cli.compare_cli, resnet_cli.comparison; print('torch' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ}, timeout=120)
    assert imported.stdout.strip() == "False", imported.stderr
