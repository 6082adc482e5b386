"""Any output encoding works: where stdout or stderr cannot encode a character, the tool writes an ASCII
equivalent (``x`` for ×, ``->`` for →, plain rules for box drawing) in the table, Markdown, CSV and the
drawing, laid out after the replacement (no column or border pushed); JSON stays valid and says every
character (escaped). In-process for every format and encoding, and through the real entry point under
``PYTHONIOENCODING=ascii``, ``latin-1`` and ``LC_ALL=C PYTHONUTF8=0``."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_cli.cli.app import main
from resnet_cli.render.streams import encodable

REPO = Path(__file__).resolve().parents[1]


def _run(encoding: str, *args: str) -> tuple[int, str, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", newline="")
    err = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", newline="")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode(encoding), err.buffer.getvalue().decode(encoding)


def test_fallbacks_by_hand():
    assert encodable("1×3×224×224 · 224 → 112 — ⊕", "ascii") == "1x3x224x224 . 224 -> 112 - (+)"
    assert encodable("─│╭╮╰╯┼", "ascii") == "-|+++++"
    assert encodable("1×3 → 2", "latin-1") == "1×3 -> 2"  # latin-1 has ×, not →
    assert encodable("any ✓ text", "utf-8") == "any ✓ text"
    assert encodable("日本", "ascii") == "??"  # no equivalent: a question mark, never an error


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_text_format_in_a_narrow_encoding(encoding, fmt, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = _run(encoding, "summary", "resnet50", "--format", fmt)
    assert code == 0, err
    assert "1x256x56x56" in out or "1×256×56×56" in out  # × where latin-1 has it, x in ASCII
    assert "2,049,000" in out or "2049000" in out  # the head's parameters
    if encoding == "ascii":
        out.encode("ascii")
    if fmt == "table":
        lines = out.splitlines()
        assert max(len(line) for line in lines) <= 100  # laid out after the replacement: nothing pushed
        assert "->" in out and "→" not in out
        assert all("─" not in line for line in lines)
        rule = next(line for line in lines if set(line.strip()) == {"-"})  # the header rule, plain
        assert len(rule.rstrip()) > 50


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_json_stays_valid_and_says_every_character(encoding):
    code, out, err = _run(encoding, "summary", "resnet18", "--format", "json")
    assert code == 0, err
    code, utf8, _ = _run("utf-8", "summary", "resnet18", "--format", "json")
    assert json.loads(out) == json.loads(utf8)  # escaped, not replaced: the same data
    assert "\\u2192" in out  # →


def test_the_drawing_boxes_stay_closed_in_ascii(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = _run("ascii", "draw", "resnet50")
    assert code == 0, err
    lines = out.splitlines()
    boxes = [line for line in lines if line.startswith(("+", "|"))]
    assert boxes and "-> (+)" in out and "x3  1x1, 64" in out
    widths = {len(line) for line in boxes}
    assert len(widths) == 1, widths  # every border of every box in one column: no line pushed by "->"


def test_messages_on_stderr_fall_back_too():
    code, out, err = _run("ascii", "summary", "résnet50→")
    assert code == 2 and out == ""
    assert err.startswith("resnet-cli: error: unknown model 'resnet50->'; did you mean resnet50"), err


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
    ],
)
def test_the_real_entry_point_in_any_locale(env):
    environment = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120", **env}
    environment = {k: v for k, v in environment.items() if v != "" or k != "PYTHONIOENCODING"}
    entry = str(Path(sys.executable).parent / "resnet-cli")
    runs = {
        what: subprocess.Popen([entry, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
        for what, args in {"draw": ["draw", "resnet18"], "json": ["summary", "resnet18", "--format", "json"]}.items()
    }
    for what, process in runs.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (what, err)
        assert b"unexpected" not in err and b"Traceback" not in err
        if what == "json":
            assert json.loads(out)["total"]["params"] == 11_689_512
        else:
            text = out.decode("latin-1")
            assert "1x64x56x56" in text or "1×64×56×56" in text
            assert "-> (+)" in text  # ⊕ and → have no latin-1 (nor ASCII) character
