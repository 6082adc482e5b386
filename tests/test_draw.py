"""`resnet-cli draw` and `compare … --draw`: the figure read from the analysis, in the terminal and in files.

Expected structures come from the ResNet paper's Table 1 (conv2_x = [1×1, 64; 3×3, 64; 1×1, 256] × 3 …,
stride 2 at the first block of conv3_x … with a projection shortcut), from the code of the hand-written
models in tests/fixtures/user_models.py, and from torchvision's modules; never from our own output.
"""

import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import run_cli

from resnet_cli.report.draw import diagram
from resnet_cli.sources.target import analyze_target, resolve_target

REPO = Path(__file__).resolve().parents[1]
USER = "tests/fixtures/user_models.py"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


invoke = run_cli


def _resnet50_stage_params():
    # per-stage parameters of torchvision's resnet50 (stem = conv1 + bn1, head = fc)
    with torch.device("meta"):
        reference = torchvision.models.resnet50()
    count = lambda *modules: sum(p.numel() for m in modules for p in m.parameters())
    return {
        "stem": count(reference.conv1, reference.bn1),
        "layer1": count(reference.layer1),
        "layer2": count(reference.layer2),
        "layer3": count(reference.layer3),
        "layer4": count(reference.layer4),
        "head": count(reference.fc),
    }


def _chains(figure):
    return {
        stage.name: [
            ([layer.label for layer in group.main], group.count, group.shortcuts)
            for part in stage.parts
            for group in part.groups
        ]
        for stage in figure.stages
    }


def test_resnet50_is_the_papers_table():
    _, analysis = analyze_target(resolve_target("resnet50"))
    figure = diagram("resnet50", "", analysis)
    chains = _chains(figure)
    # Table 1 of the ResNet paper, with torchvision's v1.5 stride on the 3×3
    assert chains["layer1"] == [(["1×1, 64", "3×3, 64", "1×1, 256"], 3, (("projection 1×1, 256", 1), ("identity", 2)))]
    assert chains["layer2"] == [
        (["1×1, 128", "3×3, 128, /2", "1×1, 512"], 4, (("projection 1×1, 512, /2", 1), ("identity", 3)))
    ]
    assert [c[0][1] for c in (chains["layer3"], chains["layer4"])] == [6, 3]
    stem = [layer.label for part in figure.stages[0].parts for layer in part.layers]
    assert stem == ["7×7, 64, /2", "max-pool 3×3, /2"]
    head = [layer.label for part in figure.stages[-1].parts for layer in part.layers]
    assert head == ["global avg-pool", "fc 1000"]
    assert {s.name: s.params for s in figure.stages} == _resnet50_stage_params()
    assert [s.output_shape for s in figure.stages][1:5] == [
        (1, 256, 56, 56),
        (1, 512, 28, 28),
        (1, 1024, 14, 14),
        (1, 2048, 7, 7),
    ]
    assert figure.stages[4].receptive_field.size == (427, 427)  # hand calculation: tests/test_receptive.py


def test_every_block_at_depth_block():
    _, analysis = analyze_target(resolve_target("resnet18"))
    figure = diagram("resnet18", "", analysis, depth="block")
    blocks = [group for stage in figure.stages for part in stage.parts for group in part.groups]
    assert [g.names for g in blocks] == [(f"layer{s}.{b}",) for s in range(1, 5) for b in range(2)]
    # layer2.0 of torchvision's resnet18: 3×3/2 conv 64→128 and 3×3 conv 128→128, 1×1/2 projection
    assert [layer.label for layer in blocks[2].main] == ["3×3, 128, /2", "3×3, 128"]
    assert blocks[2].shortcuts == (("projection 1×1, 128, /2", 1),)
    with torch.device("meta"):
        reference = torchvision.models.resnet18()
    assert blocks[2].params == sum(p.numel() for p in reference.layer2[0].parameters())


def test_squeeze_excite_option_a_and_keras_v2_blocks():
    def chains(name):
        _, analysis = analyze_target(resolve_target(name))
        return _chains(diagram(name, "", analysis))

    assert chains("seresnet50")["layer1"][0][0][-1] == "SE"
    # option A (ResNet paper, CIFAR nets): subsample by 2 and pad the new channels with zeros
    assert chains("resnet20")["layer2"][0][2][0] == ("subsample /2 → zero-pad, 32", 1)
    # Keras ResNet50V2: stride in the last block, whose shortcut is a 1×1 max-pool of stride 2
    assert chains("resnet50v2_keras")["layer2"][0][2][-1] == ("max-pool 1×1, /2", 1)


def test_a_hand_written_keras_style_model_draws():
    result = invoke("draw", f"{USER}:KerasStyle", columns=100)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # the fixture's stage2: KerasBlock(64, 32, stride 2) then one identity KerasBlock; the stride is on the 1×1
    assert "stage2 · 2 blocks" in out
    assert "×2  1×1, 32, /2 → 3×3, 32 → 1×1, 128 → ⊕" in out
    assert "projection 1×1, 128, /2 (block 1); identity (block 2)" in out
    assert "ZeroPad" not in out and "7×7, 16, /2 → max-pool 3×3, /2" in out


def test_a_model_without_residual_adds_draws_as_its_stages():
    result = invoke("draw", f"{USER}:Plain", "--input", "1x3x32x32")
    assert result.exit_code == 0, result.stderr
    assert "3×3, 16 ×2 → max-pool 2×2, /2 → 3×3, 32 → max-pool 2×2, /2" in result.stdout
    assert "⊕" not in result.stdout and "RF 12 px, stride 4" in result.stdout  # 3, 5, 6 (/2), 10, 12 (/2)


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_terminal_fits_and_keeps_numbers_whole(columns):
    result = invoke("draw", "resnet50", columns=columns)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    text = result.stdout
    for params in _resnet50_stage_params().values():
        assert f"{params:,}" in text
    for shape in ("1×256×56×56", "1×512×28×28", "1×1024×14×14", "1×2048×7×7", "1×1000"):
        assert shape in text
    assert "RF 427 px, stride 32" in text and "1×1, 2048, /2" in text


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _svg_text(path: Path) -> str:
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join("".join(element.itertext()) for element in root.iter() if element.tag.endswith("text"))


def test_files_in_every_format(tmp_path):
    svg, png, pdf = tmp_path / "r50.svg", tmp_path / "r50.png", tmp_path / "r50.pdf"
    for path in (svg, png, pdf):
        result = invoke("draw", "resnet50", "-o", str(path))
        assert result.exit_code == 0, result.stderr
        assert result.stdout == "" and f"wrote {path}" in result.stderr
    text = _svg_text(svg)
    for label in (
        "stem",
        "layer1",
        "layer4",
        "×3",
        "×6",
        "1×1, 64",
        "3×3, 512, /2",
        "1×2048×7×7",
        "14,964,736 params",
        "RF 427 px, stride 32",
        "global avg-pool",
        "fc 1000",
    ):
        assert label in text, label
    width, height = _png_size(png)
    assert 900 < width < 3000 and height > width  # one row per stage, top to bottom, at 150 dpi
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def test_block_depth_file_lists_every_block(tmp_path):
    path = tmp_path / "r18.svg"
    assert invoke("draw", "resnet18", "--depth", "block", "-o", str(path)).exit_code == 0
    text = _svg_text(path)
    assert all(f"layer{s}.{b}" in text for s in range(1, 5) for b in range(2))


def test_compare_blocks_draw_shows_the_formulas(tmp_path):
    path = tmp_path / "blocks.svg"
    result = invoke("compare", "basic", "bottleneck", "--draw", str(path))
    assert result.exit_code == 0, result.stderr
    assert "conv weights" in result.stdout  # the comparison itself is still printed
    text = _svg_text(path)
    # by hand: basic = 2 · 3·3·64·64 = 73,728; bottleneck = 1·1·256·64 + 3·3·64·64 + 1·1·64·256 = 69,632
    for label in (
        "3·3·64·64 = 36,864",
        "1·1·256·64 = 16,384",
        "1·1·64·256 = 16,384",
        "36,864 + 36,864 = 73,728",
        "16,384 + 36,864 + 16,384 = 69,632",
        "BasicBlock 64→64",
        "Bottleneck 256→64→256",
        "identity",
    ):
        assert label in text, label


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["draw", "resnet50", "-o", "r50.jpg"], 2, "--output 'r50.jpg': the file name must end in .svg, .png or .pdf"),
        (["draw", "resnet50", "-o", "no/such/folder/r50.png"], 2, "does not exist"),
        (["draw", "resnet50", "--depth", "layer"], 2, "--depth 'layer' is not accepted; choose one of: stage, block"),
        (["draw", "resnet51"], 2, "unknown model 'resnet51'"),
        (["draw", f"{USER}:Plain", "--layers", "2,2"], 2, "--layers changes registered models"),
        (["compare", "basic", "bottleneck", "--draw", "b.gif"], 2, "--draw 'b.gif'"),
        (["compare", "resnet50", "resnet18", "--draw", "b.png"], 2, "--draw applies to block comparisons"),
    ],
)
def test_bad_input_is_one_line(args, code, words):
    result = invoke(*args)
    assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert result.stdout == ""


def test_a_failing_model_leaves_no_file(tmp_path):
    path = tmp_path / "broken.png"
    result = invoke("draw", "tests/fixtures/bad_models.py:FailsInForward", "-o", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_installed_entry_point_draws_the_tutorial_picture(tmp_path):
    executable = Path(sys.executable).with_name("resnet-cli")
    path = tmp_path / "resnet50.png"
    done = subprocess.run(
        [str(executable), "draw", "resnet50", "-o", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert _png_size(path)[0] > 900
    assert re.fullmatch(r"wrote .*resnet50\.png\n", done.stderr)
