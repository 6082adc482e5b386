"""Text from outside never reaches the terminal raw (issue 18, req 2).

File names, tensor names, module names and the messages of user code are escaped (control characters shown
as ``\\x1b``) in every message and every table — table, Markdown and CSV formats, notes, error lines and the
details before them — and are never read as rich markup; JSON keeps the raw text (it escapes it itself).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from conftest import assert_one_line_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

import resnet_cli
from resnet_cli.base.values import shown
from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Facts, Heading, Lines, Table

FIXTURE = "tests/fixtures/outside_text.py"
NAME = "evil\x1b[31m[/x]\x07"
# every C0 control character, DEL, every C1 control character (0x9b is a one-byte CSI), bidi overrides
CONTROLS = [chr(c) for c in range(1, 32)] + [chr(c) for c in range(0x7F, 0xA0)] + ["\u202e", "\u2066", "\u200f"]


def raw_controls(text: str) -> list[str]:
    """The control characters (other than the newlines between lines) present raw in ``text``."""
    return sorted({c for c in text if not c.isprintable() and c != "\n"})


# ---- the one helper ----


@settings(max_examples=50)
@given(st.text())
def test_shown_leaves_nothing_unprintable_and_is_idempotent(text):
    escaped = shown(text, None)
    assert escaped.isprintable()
    assert shown(escaped, None) == escaped
    # printable text is untouched; every other character becomes Python's escape of it
    assert escaped == "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@given(st.text(min_size=81))
def test_shown_caps_messages_at_80(text):
    assert len(shown(text)) <= 80


def test_shown_spells_escapes_as_python_does():
    assert shown("a\x1b[31mb") == "a\\x1b[31mb"
    assert shown("x\ny\tz\x9b\u202e") == "x\\ny\\tz\\x9b\\u202e"


# ---- the renderer: every format for people, every block ----

TEXT = st.text(alphabet=st.sampled_from(CONTROLS + list('ab[]/|," ')), min_size=1, max_size=12)


def _document(text: str) -> Document:
    columns = (Column("name", "name " + text, justify="left"), Column("value", "value", "count"))
    table = Table(columns, ({"name": text, "value": 1}, {"name": "plain", "value": 2}), "title " + text)
    blocks = (Heading("heading " + text), Lines(("line " + text,)), Facts((("label " + text, "fact " + text),)), table)
    return Document(data={"name": text}, blocks=blocks, csv=table)


def _emitted(document: Document, fmt: str) -> str:
    import io

    stream = io.StringIO()
    with render.results_to(stream):
        render.emit(document, fmt)
    return stream.getvalue()


@settings(max_examples=30, deadline=None)
@given(TEXT)
def test_no_format_for_people_writes_a_control_character(text):
    document = _document(text)
    for fmt in ("table", "markdown", "csv"):
        out = _emitted(document, fmt)
        assert raw_controls(out) == [], (fmt, out)
    # JSON keeps the text itself
    assert json.loads(_emitted(document, "json"))["name"] == text


def test_a_name_is_never_read_as_markup():
    document = _document("[red]x[/red] [/x] [bold]")
    out = _emitted(document, "table")
    assert "[red]x[/red] [/x] [bold]" in out  # shown as it is, not styled, and rich raised nothing


def test_notes_on_stderr_are_escaped_and_said_once(capsys):
    render.say([f"{NAME}: a note", f"{NAME}: a note", "second"])
    err = capsys.readouterr().err
    assert raw_controls(err) == []
    assert err.count("a note") == 1 and "evil\\x1b[31m[/x]\\x07" in err and "second" in err


# ---- the commands: module names in every table, user code's messages, checkpoint names ----


@pytest.mark.parametrize("command", ["summary", "flops"])
@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_module_names_are_escaped_in_every_table(command, fmt):
    result = run_cli(command, f"{FIXTURE}:named", "--input", "1x3x8x8", "--depth", "layer", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert raw_controls(result.stdout + result.stderr) == []
    assert "evil\\x1b[31m[/x]\\x07" in result.stdout


@pytest.mark.parametrize("command", ["summary", "flops"])
def test_json_keeps_module_names_raw(command):
    result = run_cli(command, f"{FIXTURE}:named", "--input", "1x3x8x8", "--depth", "layer", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    rows = doc["stages"] if command == "summary" else doc["by_module"]["rows"]
    assert NAME in [row["name"] for row in rows]


def test_draw_and_the_terminal_chart_escape_module_names():
    for args in (
        ("draw", f"{FIXTURE}:named", "--input", "1x3x8x8"),
        ("summary", f"{FIXTURE}:named", "--input", "1x3x8x8", "--chart"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, result.stderr
        assert raw_controls(result.stdout + result.stderr) == [], args
        assert "evil\\x1b[31m[/x]\\x07" in result.stdout, args


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_compare_tables_escape_module_names(fmt):
    # the stage rows of compare are the first model's top-level modules
    result = run_cli("compare", f"{FIXTURE}:named", f"{FIXTURE}:named", "--input", "1x3x8x8", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert raw_controls(result.stdout + result.stderr) == []
    assert "evil\\x1b[31m[/x]\\x07" in result.stdout and "tail\\x1b]0;title\\x07" in result.stdout


@pytest.mark.parametrize("reference", ["raises", "FailsInForward"])
def test_messages_of_user_code_are_escaped(reference):
    line = assert_one_line_error(run_cli("summary", f"{FIXTURE}:{reference}", "--input", "1x3x8x8"), 1)
    assert "boom\\x1b[2J\\x1b[H" in line and raw_controls(line) == []


@pytest.fixture(scope="module")
def tiny_state():
    model = resnet_cli.build("custom", block="basic", layers="1,1", widths="4,8", stem_width=4, num_classes=3)
    return model.state_dict()


TINY = ("custom", "--block", "basic", "--layers", "1,1", "--widths", "4,8", "--stem-width", "4", "--num-classes", "3")


def test_tensor_names_of_a_checkpoint_are_escaped(tmp_path, tiny_state):
    # the details listed before the error line name every tensor: a downloaded file must not rewrite the terminal
    path = tmp_path / "evil.pt"
    torch.save({**tiny_state, "x\x1b[2J\x1b]0;pwned\x07": torch.zeros(1)}, path)
    result = run_cli("summary", *TINY, "--weights", str(path))
    assert result.exit_code == 1
    assert raw_controls(result.stderr) == []
    assert "unexpected in the checkpoint: x\\x1b[2J\\x1b]0;pwned\\x07" in result.stderr


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(CONTROLS), st.sampled_from(["table", "markdown", "csv"]))
def test_checkpoint_file_names_with_any_control_character_are_escaped(tmp_path_factory, tiny_state, control, fmt):
    folder = tmp_path_factory.mktemp("names")
    name = f"ck{control}pt:{control}.pt"
    torch.save(tiny_state, folder / name)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        result = run_cli("summary", name, "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert raw_controls(result.stdout + result.stderr) == [], (repr(control), fmt)
        assert shown(name, None) in result.stdout + result.stderr
        missing = run_cli("summary", "x" + name)  # a message about it too
        assert missing.exit_code == 2 and raw_controls(missing.stderr) == []
    finally:
        os.chdir(previous)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_checkpoint_named_with_every_control_character_at_once(tmp_path, tiny_state, monkeypatch):
    # every C0 and C1 control character, DEL and the bidi overrides in one file name (a file name can hold
    # any byte but '/' and NUL), and a colon: read as the checkpoint, and shown escaped in every format
    name = "all" + "".join(CONTROLS) + ":1.pt"
    torch.save(tiny_state, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for fmt in ("table", "markdown", "csv"):
        result = run_cli("summary", name, "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert raw_controls(result.stdout + result.stderr) == [], fmt
    doc = json.loads(run_cli("summary", name, "--format", "json").stdout)
    assert doc["model"] == name
