"""Shared fixtures. Reference libraries (torchvision, timm, fvcore) are test dependencies: they must be
installed (`pip install -e '.[test]'`), so these tests run everywhere, never skip."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass

import pytest

from resnet_cli.cli.app import main


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, columns: int | None = None) -> Outcome:
    """Run the real entry point (``resnet_cli.cli.app.main``) in-process, capturing stdout and stderr apart; at a
    terminal width of ``columns`` ($COLUMNS) if given."""
    saved = os.environ.get("COLUMNS")
    if columns:
        os.environ["COLUMNS"] = str(columns)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        if columns:
            os.environ.pop("COLUMNS", None)
            if saved is not None:
                os.environ["COLUMNS"] = saved
    return Outcome(code, out.getvalue(), err.getvalue())


@pytest.fixture()
def cli():
    return run_cli


def assert_one_line_error(result: Outcome, code: int, *fragments: str) -> str:
    """The project's promise for bad input: nothing on stdout, one line on stderr naming the problem, no
    traceback, and the documented exit code. Returns the line."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
