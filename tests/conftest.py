"""Shared fixtures. Reference libraries (torchvision, timm, fvcore) are test dependencies: they must be
installed (`pip install -e '.[test]'`), so these tests run everywhere, never skip."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass

import pytest

from resnet_cli.cli.app import main

# Every test sees the environment of a plain `pytest` run: no terminal size forced on it (pytest-xdist's workers
# inherit COLUMNS=80 and LINES=24; a CI runner may set them too). A test that wants a width passes `columns`.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


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


def handling_signals(pid: int, timeout: float = 120.0, loaded: str | None = None) -> bool:
    """Wait until the tool started as ``pid`` has its SIGINT and SIGTERM handler installed (the process itself,
    or the child its supervisor forked: Linux's /proc shows each process's caught signals): a signal sent
    after that is met by the tool, however slowly a loaded machine starts it. ``loaded``: also wait until a
    shared library whose name holds it is mapped ("libtorch": the command's body runs, torch is imported
    inside commands only). False if it never is."""
    import signal as signals
    import time

    wanted = (1 << (signals.SIGINT - 1)) | (1 << (signals.SIGTERM - 1))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in (pid, *_children(pid)):
            try:
                with open(f"/proc/{process}/status") as handle:
                    caught = next(int(line.split()[1], 16) for line in handle if line.startswith("SigCgt:"))
            except (OSError, StopIteration):
                continue
            if caught & wanted == wanted and (loaded is None or _maps(process, loaded)):
                return True
        time.sleep(0.05)
    return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(part) for part in handle.read().split()]
    except OSError:
        return []


def _maps(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as handle:
            return any(name in line for line in handle)
    except OSError:
        return False


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject's addopts): one worker more than the cores. Many tests wait on processes they start
    (the real entry point, signals, torchrun) while their worker's core idles; a third worker fills it. On the
    2-core VM, whose speed drifted during the day: 2 then 3 workers back to back, 196.5 s and 186.1 s; single runs
    earlier, 2 workers 195-201 s, 3 workers 174.5 s and 222.7 s, 4 workers 224 s."""
    return (os.cpu_count() or 1) + 1


def _share_the_cores() -> None:
    """Under pytest-xdist (``-n auto``: see above), each worker's torch gets its share of the cores (at least one), not
    all of them: two workers with two intra-op threads each on a 2-core machine spend a third of their CPU time
    contending. Processes a test starts are not affected (they get torch's default)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


_share_the_cores()
