"""Tables that fit any terminal: at 60, 80, 120 and 200 columns no line is wider than the terminal, every cell of
every row shown is whole and on its row's line, the dropped columns are named, and the numbers of the JSON
document that the table shows appear intact. Legends wrap at word boundaries."""

import json

import pytest
from conftest import run_cli

from resnet_cli import api
from resnet_cli.render import emit as render

WIDTHS = (60, 80, 120, 200)
CASES = {
    "summary": ("summary", "resnet50"),
    "summary-block": ("summary", "resnet50", "--depth", "block"),
    "flops-training": ("flops", "resnet18", "--training", "--input", "2x3x64x64"),
    "compare-3": ("compare", "resnet50", "resnet50_v1", "resnet50d"),
    "compare-blocks": ("compare", "basic", "bottleneck"),
    "user-model": ("summary", "tests/fixtures/student_models.py:keras_resnet50"),
}


@pytest.fixture(scope="module")
def documents():
    """Each case's Document, made once (the API builds exactly what the command emits)."""
    out = {}
    for name, args in CASES.items():
        command, *rest = args
        if command == "compare":
            out[name] = api.compare(*rest).document
        elif command == "flops":
            out[name] = api.flops(rest[0], input="2x3x64x64", training=True).document
        else:
            out[name] = api.summary(rest[0], depth="block" if "--depth" in rest else "stage").document
    return out


def _shown(document, width):
    out = []
    for block in document.blocks:
        if isinstance(block, render.Table):
            _, dropped = render.fit_table(block, width)
            out.append((block, [c for c in block.columns if c not in dropped], dropped))
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_tables_fit_and_keep_every_value_whole(case, width, documents, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.chdir(__import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    result = run_cli(*CASES[case])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    text = "\n".join(lines)
    for block, kept, dropped in _shown(documents[case], width):
        for record in block.records:
            cells = [render.cell(record.get(c.key), c.kind) for c in kept if not c.wrap]
            # the row's cells are whole, in order, on one line
            assert any(_in_order(line, cells) for line in lines), (case, width, cells)
        if dropped:
            assert "not shown at this width" in text
        if width == 200 and case != "compare-3":
            assert not dropped, [c.header for c in dropped]


def _in_order(line: str, cells: list[str]) -> bool:
    position = 0
    for value in cells:
        found = line.find(value, position)
        if found < 0:
            return False
        position = found + len(value)
    return True


@pytest.mark.parametrize("width", WIDTHS)
def test_every_total_of_the_json_document_appears_intact(width, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    document = json.loads(run_cli("summary", "resnet50", "--format", "json").stdout)
    table = run_cli("summary", "resnet50").stdout
    facts = _facts(table)
    total = document["total"]
    assert facts["parameters"].startswith(f"{total['params']:,} (trainable {total['trainable_params']:,}, ")
    assert facts["FLOPs (fvcore)"].startswith(f"{total['flops']:,} = ")
    assert facts["MACs"].startswith(f"{total['macs']:,} = ")
    for stage in document["stages"]:  # never dropped: the stage, its output and its parameters
        assert any(
            stage["name"] in line
            and render.shape_text(stage["output_shape"]) in line
            and f"{stage['params']:,}" in line
            for line in table.splitlines()
        )


def test_three_models_fit_120_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    result = run_cli("compare", "resnet50", "resnet50_v1", "resnet50d")
    assert result.exit_code == 0
    doc = json.loads(run_cli("compare", "resnet50", "resnet50_v1", "resnet50d", "--format", "json").stdout)
    for model in doc["models"]:  # each model's total parameters, whole
        assert (
            f"{model['total']['params']:,}" in result.stdout
            or f"{model['total']['params'] - doc['models'][0]['total']['params']:+,}" in result.stdout
        )


def _facts(table: str) -> dict[str, str]:
    """The label/text pairs under a table: a label at the start of a line, its text wrapped onto the lines below
    (indented), joined back with single spaces."""
    facts: dict[str, str] = {}
    label = None
    for line in table.splitlines():
        if not line.strip():
            label = None
            continue
        head, gap, rest = line.rstrip().partition("  ")
        if head and not line.startswith(" ") and gap:
            label = head.strip()
            facts[label] = rest.strip()
        elif label is not None and line.startswith(" "):
            facts[label] += " " + line.strip()
    return facts


def test_legends_wrap_at_word_boundaries(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    out = run_cli("summary", "resnet50").stdout
    from resnet_cli.views.conventions import FLOPS_MEANING, RF_MEANING

    facts = _facts(out)
    # each legend, in order and whole, once its wrapped lines are joined: no word was split at a line end
    assert FLOPS_MEANING in facts["FLOPs (fvcore)"]
    assert facts["RF (stride)"] == RF_MEANING
    assert all(len(line.rstrip()) <= 60 for line in out.splitlines())


@pytest.mark.parametrize("columns", ["0", "", "huge", "-1", "999999999"])
def test_odd_columns_values_behave_like_a_sane_width(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    assert render.terminal_width(is_terminal=False) in (render.PIPE_WIDTH, render.MAX_WIDTH)
    assert render.MIN_WIDTH <= render.terminal_width(is_terminal=True) <= render.MAX_WIDTH
