"""Messages say what is true (issue 18, req 6 and the smaller things of req 7).

Special files are named as what they are; checkpoint-derived values meet the flags' bounds; `flops` counts
every forward `summary` accepts and says why a training step has no backward; a checkpoint's notes are said
once; a checkpoint is named the same way by summary, flops and compare (JSON ``identified_as``); no figure
reads as a bare "1"; `flops resnet50` shows the paper's 3.8 G for v1 beside v1.5's count, and why they differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, run_cli
from torch import nn

import resnet_cli
from resnet_cli.render.emit import cell, float_text, human


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small ResNet checkpoint: basic blocks [1,1], widths 4,8, stem 4, 3 classes."""
    model = resnet_cli.build("custom", block="basic", layers="1,1", widths="4,8", stem_width=4, num_classes=3)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def _cli_subprocess(*args, stdin=None, timeout=120):
    """The real entry point in a child process (a FIFO would block an in-process run forever if read)."""
    code = "import sys; from resnet_cli.cli.app import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], stdin=stdin, capture_output=True, text=True, timeout=timeout, env=env
    )


# ---- special files, named as what they are, never read ----


def test_a_fifo_or_a_device_as_a_checkpoint_is_named_as_what_it_is(tmp_path):
    fifo = tmp_path / "weights.pt"
    os.mkfifo(fifo)
    # one child process, several answers: nothing opens the FIFO (it would block) nor reads /dev/zero (endless);
    # the FIFO is named relative to the child's folder, so the message quotes it whole (a long path is shortened)
    script = (
        "import sys; from resnet_cli.cli.app import main\n"
        "for args in (['weights.pt'], ['/dev/zero'], ['/dev/stdin'], ['resnet18', '--weights', '/dev/zero']):\n"
        "    main(['summary', *args])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 4 and "Traceback" not in done.stderr, done.stderr
    assert "MODEL 'weights.pt' is not a readable checkpoint (it is a FIFO (named pipe)" in lines[0]
    assert "MODEL '/dev/zero' is not a readable checkpoint (it is a character device" in lines[1]
    assert "MODEL '/dev/stdin' is not a readable checkpoint (it is a FIFO (named pipe)" in lines[2]  # stdin: a pipe
    assert "--weights '/dev/zero' is not a readable checkpoint (it is a character device" in lines[3]
    assert not any("directory" in line for line in lines)


def test_a_directory_is_said_to_be_one(tmp_path):
    folder = tmp_path / "run.pt"
    folder.mkdir()
    assert_one_line_error(run_cli("summary", str(folder)), 2, "(it is a directory, not a regular file)")


def test_a_dangling_link_is_said_to_be_one(tmp_path):
    link = tmp_path / "gone.pt"
    link.symlink_to(tmp_path / "nothing")
    assert_one_line_error(run_cli("summary", str(link)), 2, "it is a symbolic link to nothing")


# ---- checkpoint-derived values meet the flags' bounds ----


def test_a_checkpoint_beyond_the_class_bound_is_refused_like_the_flag(tmp_path, tiny):
    # 20 M classes: fc.weight [20M, 8] stored as a stride-0 view, so the file stays small
    state = torch.load(tiny, weights_only=True)
    state["fc.weight"] = torch.zeros(1).expand(20_000_000, 8)
    state["fc.bias"] = torch.zeros(1).expand(20_000_000)
    path = tmp_path / "huge.pt"
    torch.save(state, path)
    flag = assert_one_line_error(run_cli("summary", "resnet18", "--num-classes", "20000000"), 2)
    line = assert_one_line_error(run_cli("summary", str(path)), 2, "huge.pt")
    # the same words as the flag's refusal, and no note suggesting flags the command line refuses
    assert "--num-classes 20000000 is out of range; expected an integer from 1 to 10,000,000" in flag
    assert "--num-classes 20000000 is out of range; expected an integer from 1 to 10,000,000" in line


def test_the_api_meets_the_same_bounds():
    from resnet_cli.base.errors import UsageError
    from resnet_cli.spec.fields import ResNetSpec

    # from Python the field is named as Python writes it (the command line says --num-classes)
    with pytest.raises(UsageError, match="num_classes 20000000 is out of range; expected an integer from 1 to "):
        resnet_cli.summary(ResNetSpec(num_classes=20_000_000))
    with pytest.raises(UsageError, match="widths '64,128,256,70000': 70000 is out of range"):
        ResNetSpec(widths=(64, 128, 256, 70_000)).validate()


def test_every_identified_name_and_its_flags_are_accepted_by_the_command_line(tiny):
    # what a checkpoint is named as is runnable as written: summary NAME FLAGS... gives the same model
    doc = json.loads(run_cli("summary", str(tiny), "--format", "json").stdout)
    identified = doc["identified_as"]
    args = [identified["name"]] + [word for option, value in identified["flags"].items() for word in (option, value)]
    assert identified["label"] == " ".join(args)
    again = json.loads(run_cli("summary", *args, "--format", "json").stdout)
    assert again["total"] == doc["total"] and again["spec"] == doc["spec"]


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet50d", "seresnext26t_32x4d", "wrn_28_10", "resnet50v2_keras", "resnetrs50"]
)
def test_rebuild_flags_of_every_kind_parse_back_to_the_spec(name):
    # every flag the naming writes goes through the command line's own parser back to the same spec
    from resnet_cli.spec import registry
    from resnet_cli.spec.naming import name_spec
    from resnet_cli.spec.overrides import typed_overrides

    spec = registry.VARIANTS[name].spec.replace(
        num_classes=7, in_channels=1, layers=(1, 2, 1, 1)[: len(registry.VARIANTS[name].spec.layers)]
    )
    found, flags = name_spec(spec)
    overrides = typed_overrides({option[2:].replace("-", "_"): value for option, value in flags})
    assert registry.VARIANTS[found].spec.replace(**overrides) == spec


# ---- flops accepts every output summary accepts ----


class Conv(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.out = out

    def forward(self, x):
        y = self.conv(x)
        return self.out(y)


CONV_MACS = 4 * 6 * 6 * 3 * 3 * 3  # N=1, Cout 4, 6x6 output, Cin 3, 3x3 kernel


@pytest.mark.parametrize(
    "label, out, backward",
    [
        ("a dict", lambda y: {"logits": y, "n": 3}, True),
        ("a tuple", lambda y: (y, y.detach()), True),
        ("a list in a dict", lambda y: {"all": [y, y * 2]}, True),
        ("None", lambda y: None, False),
        ("a dict of numbers", lambda y: {"score": float(y.shape[1])}, False),
        ("a detached tensor", lambda y: y.detach(), False),
    ],
)
def test_flops_counts_every_forward_and_says_why_there_is_no_backward(label, out, backward):
    model = Conv(out)
    summary = resnet_cli.summary(model, input="1x3x8x8")
    report = resnet_cli.flops(model, input="1x3x8x8", training=True).report
    assert report.totals.macs == summary.report.totals.macs == CONV_MACS, label
    if backward:
        assert report.training.no_backward is None and report.training.backward_macs >= CONV_MACS
    else:
        assert report.training.backward_flops == 0
        assert (
            "no output tensor for a loss" in report.training.no_backward
            or "depends on a trainable parameter" in report.training.no_backward
        )


def test_a_model_without_parameters_is_counted_and_its_training_step_explained():
    from fixtures.parameter_free import Free

    report = resnet_cli.flops(Free(), input="1x3x8x8", training=True).report
    # relu: 1 per element (192); the mean over 8x8: 1 per input element (192)
    assert report.totals.all_flops == 192 + 192 and report.training.backward_flops == 0
    assert "no trainable parameters" in report.training.no_backward
    result = run_cli("flops", "tests/fixtures/parameter_free.py:Free", "--input", "1x3x8x8", "--training")
    assert result.exit_code == 0, result.stderr
    assert "no backward pass: it has no trainable parameters" in result.stdout and "rejects" not in result.stderr


# ---- notes once, one naming everywhere ----


def test_a_checkpoint_named_twice_has_its_note_once(tiny):
    result = run_cli("compare", str(tiny), str(tiny), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("note: tiny.pt") == 1


def test_summary_flops_and_compare_name_a_checkpoint_the_same_way(tiny):
    summary = json.loads(run_cli("summary", str(tiny), "--format", "json").stdout)
    flops = json.loads(run_cli("flops", str(tiny), "--format", "json").stdout)
    compare = json.loads(run_cli("compare", str(tiny), "--format", "json").stdout)
    draw = json.loads(run_cli("draw", str(tiny), "--format", "json").stdout)
    label = "resnet18 --layers 1,1 --widths 4,8 --stem-width 4 --num-classes 3"
    assert summary["identified_as"]["label"] == flops["identified_as"]["label"] == label
    assert draw["identified_as"] == summary["identified_as"] and draw["description"] == summary["description"]
    assert summary["description"] == f"checkpoint identified as {label}"
    checkpoint = next(m for m in compare["models"] if m["name"] == "tiny.pt")
    assert checkpoint["identified_as"] == summary["identified_as"]
    assert checkpoint["description"] == summary["description"]
    text = run_cli("compare", str(tiny)).stdout
    assert f"tiny.pt equals {label}" in text


def test_user_code_identified_exactly_is_named_in_every_json():
    # kuangliu's CIFAR ResNet-18 written with nn.Sequential is resnet18_cifar exactly: every command's JSON names
    # it as compare does; a model only closest to a variant (one that breaks midway) is named by none
    code = "tests/fixtures/sequential_students.py:cifar_resnet18"
    expected = {"name": "resnet18_cifar", "flags": {}, "label": "resnet18_cifar"}
    for command in ("summary", "flops", "draw"):
        result = run_cli(command, code, "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["identified_as"] == expected, command
    compare = json.loads(run_cli("compare", code, "--format", "json").stdout)
    assert next(m for m in compare["models"] if m["name"] == code)["identified_as"] == expected
    broken = "tests/fixtures/sequential_students.py:broken_identity"
    closest = json.loads(run_cli("compare", broken, "--format", "json").stdout)
    assert [m["identified_as"] for m in closest["models"]] == [expected, None]  # the reference chosen, then it


def test_registered_models_are_not_said_to_be_identified():
    doc = json.loads(run_cli("summary", "resnet18", "--input", "1x3x32x32", "--format", "json").stdout)
    assert doc["identified_as"] is None


# ---- numbers never a bare "1" ----


@pytest.mark.parametrize(
    "value, text",
    [
        (1.0, "1.00"),
        (1.0004, "1.00"),
        (0.99996, "1.00"),
        (0.5, "0.500"),
        (12.0, "12.0"),
        (123.4, "123"),
        (999.6, "1,000"),
        (4321.0, "4,321"),
    ],
)
def test_float_cells_keep_three_significant_digits(value, text):
    assert float_text(value) == text == cell(value, "float")


def test_a_gflops_cell_of_one_reads_one_point_zero_zero():
    from resnet_cli.views.bench import RESULT_COLUMNS

    column = next(c for c in RESULT_COLUMNS if c.key == "gflops_per_s")
    assert cell(1.0, column.kind) == "1.00" and human(1.0) == "1.00"


# ---- the paper's 3.8 G beside v1.5's count ----


def _torchvision_macs(stride_on_1x1: bool) -> int:
    """MACs of torchvision's resnet50 (v1.5), or with each downsampling stride moved to the first 1x1 conv (the
    paper's v1), by torch.utils.flop_counter on the meta device: 2 FLOPs per multiply-accumulate."""
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = torchvision.models.resnet50()
    if stride_on_1x1:
        for stage in (model.layer2, model.layer3, model.layer4):
            stage[0].conv1.stride, stage[0].conv2.stride = (2, 2), (1, 1)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    return counter.get_total_flops() // 2


def test_flops_resnet50_shows_the_papers_figure_for_v1_and_why_it_differs():
    v1, v15 = _torchvision_macs(True), _torchvision_macs(False)
    result = run_cli("flops", "resnet50", "--format", "json")
    paper = json.loads(result.stdout)["paper"]
    assert paper["gflops"] == 3.8 and paper["of"] == "resnet50_v1"
    assert paper["of_gmacs_per_sample"] == round(v1 / 1e9, 3) == 3.858
    assert paper["ours_gmacs_per_sample"] == round(v15 / 1e9, 3) == 4.089
    assert f"{(v15 - v1) / 1e9:+.3f} G" in paper["why_they_differ"]
    table = run_cli("flops", "resnet50").stdout
    lines = [line for line in table.splitlines() if line.startswith(("paper", "why"))]
    assert len(lines) == 2 and "3.8 G" in lines[0] and "3.858 G" in lines[0] and "4.089 G" in lines[0]
    assert "v1.5" in lines[1] and "3×3" in lines[1]
    # the v1 itself: its own figure, no "why"
    own = json.loads(run_cli("flops", "resnet50_v1", "--format", "json").stdout)["paper"]
    assert own["of"] == "resnet50_v1" and own["why_they_differ"] is None
