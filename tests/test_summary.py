"""`resnet-cli summary` as a user meets it: the table, the JSON document, depths, flags, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from resnet_cli.spec.registry import VARIANTS

RESNET50_STAGE_SHAPES = {  # torchvision's resnet50 at 1x3x224x224, from the ResNet paper's Table 1
    "stem": [1, 64, 56, 56],
    "layer1": [1, 256, 56, 56],
    "layer2": [1, 512, 28, 28],
    "layer3": [1, 1024, 14, 14],
    "layer4": [1, 2048, 7, 7],
    "head": [1, 1000],
}


def _json(cli, *args):
    result = cli("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_resnet50_table(cli):
    result = cli("summary", "resnet50")
    assert result.exit_code == 0
    out = result.stdout
    assert "224 → 112 → 56 → 28 → 14 → 7" in out
    assert "25,557,032" in out and "4,111,512,576" in out and "4,089,184,256" in out
    assert "1 projection + 2 identity bottlenecks" in out
    assert "fvcore" in out and "multiply-accumulates" in out  # says which count is which
    assert result.stderr == ""


def test_resnet50_json_schema_and_stage_shapes(cli):
    doc = _json(cli, "resnet50")
    assert doc["model"] == "resnet50" and doc["input_shape"] == [1, 3, 224, 224]
    assert {s["name"]: s["output_shape"] for s in doc["stages"]} == RESNET50_STAGE_SHAPES
    for stage in doc["stages"]:
        assert {"name", "output_shape", "params", "flops", "macs"} <= stage.keys()
    total = doc["total"]
    assert total["params"] == 25_557_032 and total["trainable_params"] == 25_557_032
    # fvcore's FlopCountAnalysis on torchvision's resnet50 at 224: 4,111,512,576 "flops";
    # torchvision's table: 4.089 GFLOPS of conv+linear multiply-accumulates
    assert total["flops"] == 4_111_512_576 and total["macs"] == 4_089_184_256
    for key in ("params", "flops", "macs"):
        assert sum(stage[key] for stage in doc["stages"]) == total[key]
    assert doc["spatial_path"] == [[224, 224], [112, 112], [56, 56], [28, 28], [14, 14], [7, 7]]


@pytest.mark.parametrize("depth, rows", [("stage", 6), ("block", 2 + 16), ("layer", None)])
def test_depths_sum_to_the_same_totals(cli, depth, rows):
    doc = _json(cli, "resnet50", "--depth", depth)
    if rows:
        assert len(doc["stages"]) == rows
    for key in ("params", "flops", "macs"):
        assert sum(stage[key] for stage in doc["stages"]) == doc["total"][key]
    if depth == "layer":
        names = [s["name"] for s in doc["stages"]]
        assert "layer1.0.conv1" in names and "fc" in names


def test_flags_override_a_named_variant(cli):
    doc = _json(cli, "resnet50", "--num-classes", "10", "--input", "1x3x32x32")
    assert doc["output_shape"] == [1, 10]
    # fc 2048 -> 10 with bias replaces 2048 -> 1000
    assert doc["total"]["params"] == 25_557_032 - 2_049_000 + 2048 * 10 + 10
    assert doc["stages"][-2]["output_shape"] == [1, 2048, 1, 1]


def test_a_variant_described_by_flags_alone(cli):
    # a ResNet-26: bottlenecks [2,2,2,2]; by hand its parameters are resnet50's minus 8 identity
    # bottlenecks (1 of layer1, 2 of layer2, 4 of layer3, 1 of layer4)
    doc = _json(cli, "custom", "--block", "bottleneck", "--layers", "2,2,2,2")
    identity = lambda c, w: c * w + 9 * w * w + w * c + 2 * w + 2 * w + 2 * c
    removed = identity(256, 64) + 2 * identity(512, 128) + 4 * identity(1024, 256) + identity(2048, 512)
    assert doc["total"]["params"] == 25_557_032 - removed
    assert [s["name"] for s in doc["stages"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def test_keras_total_is_reported(cli):
    doc = _json(cli, "resnet50_keras")
    # keras.applications.ResNet50().summary(): Total params: 25,636,712
    assert doc["total"]["keras_total_params"] == 25_636_712
    assert "25,636,712" in cli("summary", "resnet50_keras").stdout


def test_cifar_net_defaults_to_its_own_input(cli):
    doc = _json(cli, "resnet56")
    assert doc["input_shape"] == [1, 3, 32, 32]
    assert doc["spatial_path"] == [[32, 32], [16, 16], [8, 8]]
    assert doc["output_shape"] == [1, 10]


@pytest.mark.parametrize("fmt, marker", [("csv", "name,output_shape,params"), ("markdown", "| stage |")])
def test_other_formats(cli, fmt, marker):
    result = cli("summary", "resnet18", "--format", fmt)
    assert result.exit_code == 0 and marker in result.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["no_such_net"], "unknown model 'no_such_net'"),
        (["resnet51"], "resnet50,"),
        (["resnet50", "--input", "abc"], "--input 'abc'"),
        (["resnet50", "--input", "1x3x224"], "expected 4 as NxCxHxW"),
        (["resnet50", "--input", "0x3x224x224"], "N = 0"),
        (["resnet50", "--input", "1x3x-224x224"], "H = -224"),
        (["resnet50", "--input", "1x3x224x224x1"], "has 5 dimensions"),
        (["resnet50", "--input", "1x3x16x16"], "too small for resnet50"),
        (["resnet50", "--input", "1x4x224x224"], "takes 3"),
        (["resnet18", "--groups", "32"], "--groups 32"),
        (["resnet50", "--stride-at", "v3"], "--stride-at 'v3'"),
        (["resnet50", "--format", "xml"], "--format 'xml' is not accepted; choose one of: table, json, csv, markdown"),
        (["resnet50", "--depth", "deep"], "--depth 'deep' is not accepted; choose one of: stage, block, layer"),
        (["resnet50", "--layers", "3,x"], "--layers '3,x'"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, fragment):
    assert_one_line_error(cli("summary", *args), 2, fragment)


def _entry_point() -> str:
    path = Path(sys.executable).parent / "resnet-cli"
    assert path.exists(), "the package must be installed (pip install -e .) for its entry point"
    return str(path)


def test_installed_entry_point_subprocess():
    done = subprocess.run(
        [_entry_point(), "summary", "resnet50", "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["params"] == 25_557_032
    bad = subprocess.run([_entry_point(), "summary", "--frmat", "json"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "No such option: --frmat" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stdout == ""


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "resnet_cli", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "resnet-cli" in done.stdout


def test_help_does_not_import_torch():
    # `resnet-cli --help` must not pay for torch: the CLI module and the help text load without it
    code = (
        "import sys; from resnet_cli.cli.app import main; "
        "rc = main(['--help']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "summary" in done.stdout


def test_an_unknown_model_is_refused_before_torch_is_imported():
    # bad input answers at once: `summary nosuch` took 2.4 s (importing torch) to say the name is unknown
    code = (
        "import sys; from resnet_cli.cli.app import main\n"
        "codes = [main([c, 'nosuch']) for c in ('summary', 'flops', 'draw')]\n"
        "codes.append(main(['summary', 'resnet18', '--depth', 'stages']))\n"
        "print(codes, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[-2] == "[2, 2, 2, 2] False", (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("resnet-cli: error: ") for line in lines), lines
    assert "unknown model 'nosuch'" in lines[0] and "--depth" in lines[3]


def test_list_shows_the_registry(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = cli("list", "--format", "json")
    assert result.exit_code == 0
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert set(models) == set(VARIANTS)
    assert models["resnet50"]["params"] == 25_557_032 and models["resnet50"]["gmacs"] == 4.089
    assert models["resnet20"]["input"] == [1, 3, 32, 32] and models["resnet20"]["family"] == "cifar"
    # computed in closed form on every call: nothing is cached
    assert not list(tmp_path.iterdir())
