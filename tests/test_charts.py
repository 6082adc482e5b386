"""Charts: `summary --chart`, `compare … --chart`, the bench plot, and matplotlib staying out of the way.

Expected shares come from torchvision's parameter counts and from hand calculations written out here;
every other bar is checked against the numbers of the same command's JSON document.
"""

import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import run_cli

from resnet_cli.base.errors import UsageError
from resnet_cli.cli.app import main
from resnet_cli.render.charts import bench_figure, chart_flag_argv, save_bench_plot

REPO = Path(__file__).resolve().parents[1]


invoke = run_cli


def _svg_text(path: Path) -> str:
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join("".join(element.itertext()) for element in root.iter() if element.tag.endswith("text"))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _shares(doc, key):
    total = sum(stage[key] for stage in doc["stages"])
    return [f"{100 * stage[key] / total:.1f}%" for stage in doc["stages"]]


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_summary_chart_in_the_terminal(columns):
    result = invoke("summary", "resnet50", "--chart=-", columns=columns)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert max(len(line) for line in out.splitlines()) <= columns
    with torch.device("meta"):
        reference = torchvision.models.resnet50()
    layer4 = sum(p.numel() for p in reference.layer4.parameters())
    total = sum(p.numel() for p in reference.parameters())
    assert f"{100 * layer4 / total:.1f}%" == "58.6%" and "58.6%" in out  # torchvision: 14,964,736 / 25,557,032
    doc = json.loads(invoke("summary", "resnet50", "-f", "json").stdout)
    for share in _shares(doc, "flops") + _shares(doc, "params"):
        assert share in out
    assert "35.7%" in out  # layer3's share of fvcore's FLOPs: "layer3 holds 36 % of the compute"
    assert "stage" in out and "25,557,032" not in out  # the chart replaces the table


def test_activations_by_hand():
    # resnet50's stem at 224: conv1 writes 1×64×112×112 = 802,816 elements, bn1 as many, relu is in place,
    # the max-pool 1×64×56×56 = 200,704: 1,806,336 elements · 4 bytes = 7,225,344 bytes = 6.89 MiB
    from resnet_cli.render.charts import stage_chart
    from resnet_cli.report.rows import build_rows
    from resnet_cli.sources.target import analyze_target, resolve_target

    _, analysis = analyze_target(resolve_target("resnet50"))
    chart = stage_chart("resnet50", build_rows(analysis))
    assert chart.stages[0].activation_bytes == 4 * (2 * 64 * 112 * 112 + 64 * 56 * 56) == 7_225_344
    assert "6.89 MiB" in invoke("summary", "resnet50", "--chart=-", columns=200).stdout


def test_chart_alone_means_the_terminal_and_never_eats_the_model():
    assert chart_flag_argv(["summary", "--chart"]) == ["summary", "--chart=-"]
    assert chart_flag_argv(["summary", "--chart", "resnet18"]) == ["summary", "--chart=-", "resnet18"]
    assert chart_flag_argv(["summary", "--chart", "-f", "table"]) == ["summary", "--chart=-", "-f", "table"]
    assert chart_flag_argv(["summary", "--chart", "out.png"]) == ["summary", "--chart", "out.png"]
    assert chart_flag_argv(["compare", "a", "b", "--chart", "x.jpg"]) == ["compare", "a", "b", "--chart", "x.jpg"]
    assert chart_flag_argv(["compare", "--chart", "m.py:Net"]) == ["compare", "--chart=-", "m.py:Net"]


def test_summary_chart_through_the_entry_point(capsys):
    assert main(["summary", "--chart", "resnet18", "--input", "1x3x64x64"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet18") and "layer4" in out and "%" in out


def test_summary_chart_files(tmp_path):
    svg, png, pdf = tmp_path / "c.svg", tmp_path / "c.png", tmp_path / "c.pdf"
    for path in (svg, png, pdf):
        result = invoke("summary", "resnet50", "--chart", str(path))
        assert result.exit_code == 0, result.stderr
        assert "25,557,032" in result.stdout and f"wrote {path}" in result.stderr  # the table is still printed
    text = _svg_text(svg)
    for label in ("parameters", "FLOPs (fvcore)", "activations (float32)", "layer3", "head", "59%", "36%"):
        assert label in text, label
    assert _png_size(png)[0] > _png_size(png)[1]  # three panels side by side
    assert pdf.read_bytes().startswith(b"%PDF-")
    json_out = invoke("summary", "resnet18", "-f", "json", "--chart", str(tmp_path / "j.png"))
    assert json_out.exit_code == 0 and json.loads(json_out.stdout)["model"] == "resnet18"


def test_compare_chart(tmp_path):
    path = tmp_path / "cmp.svg"
    result = invoke("compare", "resnet50", "resnet18", "--chart", str(path))
    assert result.exit_code == 0, result.stderr
    text = _svg_text(path)
    assert "resnet50" in text and "resnet18" in text and "layer4" in text
    # resnet18's layer4 holds 8,393,728 of its 11,689,512 parameters (torchvision): 72 %
    assert "72%" in text
    terminal = invoke("compare", "resnet50", "resnet18", "--chart=-", columns=100)
    assert terminal.exit_code == 0 and "71.8%" in terminal.stdout
    assert max(len(line) for line in terminal.stdout.splitlines()) <= 100


@pytest.mark.parametrize(
    "args, words",
    [
        (["summary", "resnet50", "--chart=-", "-f", "json"], "--chart without a file draws bars in the terminal"),
        (["summary", "resnet50", "--chart", "c.gif"], "--chart 'c.gif': the file name must end in .svg, .png or .pdf"),
        (["compare", "basic", "bottleneck", "--chart", "c.png"], "--chart applies to model comparisons"),
    ],
)
def test_bad_chart_requests(args, words):
    result = invoke(*args)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def _records(latency_per_image, flops_per_image):
    records = []
    for batch in (1, 4, 16):
        median = latency_per_image * batch + 2.0
        records.append(
            {
                "batch_size": batch,
                "status": "ok",
                "median_ms": median,
                "p10_ms": 0.9 * median,
                "p90_ms": 1.2 * median,
                "throughput": 1000 * batch / median,
                "flops_per_batch": flops_per_image * batch,
            }
        )
    return records + [
        {
            "batch_size": 64,
            "status": "refused",
            "median_ms": None,
            "p10_ms": None,
            "p90_ms": None,
            "throughput": None,
            "flops_per_batch": flops_per_image * 64,
        }
    ]


def test_bench_plot_from_plain_records(tmp_path):
    path = tmp_path / "bench.svg"
    save_bench_plot([("resnet50", _records(9.0, 8.2e9)), ("resnet18 channels-last", _records(4.0, 3.6e9))], str(path))
    text = _svg_text(path)
    for label in (
        "latency: median, p10–p90 band",
        "throughput",
        "latency against FLOPs",
        "resnet50",
        "resnet18 channels-last",
        "batch size",
    ):
        assert label in text, label
    two = bench_figure([("resnet50", _records(9.0, 8.2e9))] * 2)
    # the refused batch size 64 is skipped: the measured ones are the ticks
    assert [label.get_text() for label in two.axes[0].get_xticklabels()] == ["1", "4", "16"]
    assert len(two.axes) == 3
    one = bench_figure([("resnet50", _records(9.0, 8.2e9))])
    assert len(one.axes) == 2  # no FLOPs panel for a single model
    with pytest.raises(UsageError, match="nothing to plot"):
        bench_figure([("resnet50", _records(9.0, 8.2e9)[-1:])])


def test_other_commands_never_import_matplotlib():
    code = (
        "import sys; from resnet_cli.cli.app import main; "
        "assert main(['--help']) == 0; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules; "
        "assert main(['draw', '--help']) == 0 and main(['summary', '--help']) == 0; "
        "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules; "
        "assert main(['summary', 'resnet18', '-f', 'json']) == 0; "
        "assert main(['summary', 'resnet18', '--chart']) == 0; "
        "assert main(['draw', 'resnet18']) == 0; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
