"""Ctrl-C, SIGTERM, closed streams and user code that ends the process, met through the real entry point.

- Ctrl-C and SIGTERM stop the tool wherever it is — in the user's builder or forward looping in pure
  Python, even when the shell started it with SIGINT ignored (a background job) — with exit 130/143 and one
  line saying where; a second Ctrl-C while the first is handled loses nothing; user code that swallows the
  first Ctrl-C is stopped by the next.
- bench loses nothing measured: every finished configuration (and the one in progress, marked interrupted)
  is in --output after SIGINT, SIGTERM or a double SIGINT at two moments of a run, after ``| true`` (exit
  141) and with a closed or full stdout (exit 1, one line).
- user code that writes to file descriptor 1 (``os.write``, ``sys.__stdout__``, a child process) cannot reach
  the result; user code that ends the process (``os._exit(0)``, SIGKILL to itself) is never a silent success.

Every process is sent its signal only once its handler is installed (``conftest.handling_signals``) and the
moment is reached (a file the model writes); no test asserts a duration.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import handling_signals

REPO = Path(__file__).resolve().parents[1]
ENTRY = str(Path(sys.executable).parent / "resnet-cli")
FAST = ("--warmup", "0", "--min-time", "0.05", "--threads", "1")

MODELS = """
import os, pathlib, signal, subprocess, sys, time
import torch.nn as nn

MARKER = pathlib.Path(os.environ.get("MARKER", os.devnull))


def spin():  # a builder that never returns, in pure Python
    MARKER.touch()
    while True:
        pass


class Loops(nn.Module):  # a forward that never returns, in pure Python
    def forward(self, x):
        MARKER.touch()
        total = 0
        while True:
            total += 1


def loops():
    return Loops()


def swallow():  # catches Ctrl-C and goes on
    MARKER.touch()
    while True:
        try:
            while True:
                pass
        except KeyboardInterrupt:
            pathlib.Path(str(MARKER) + ".swallowed").touch()


def exits():
    os._exit(0)


def kills():
    os.kill(os.getpid(), signal.SIGKILL)


class Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        os.write(1, b"RAW FD 1\\n")
        sys.__stdout__.write("DUNDER STDOUT\\n")
        sys.__stdout__.flush()
        print("PRINTED")
        subprocess.run(["echo", "CHILD PROCESS"])
        return self.fc(x.mean(dim=(2, 3)))


def noisy():
    os.write(1, b"BUILD RAW\\n")
    return Noisy()


class Counted(nn.Module):
    # bench's model: each real forward is one line "batch" in $MARKER; the forward $HOLD_AT names ("2:7",
    # the 7th at batch 2) says so ($MARKER.held) and waits there for the test's signal
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        if x.device.type == "cpu":
            with open(MARKER, "a") as handle:
                handle.write(f"{x.shape[0]}\\n")
            hold = os.environ.get("HOLD_AT")
            if hold:
                batch, count = map(int, hold.split(":"))
                if x.shape[0] == batch and MARKER.read_text().split().count(str(batch)) == count:
                    pathlib.Path(str(MARKER) + ".held").touch()
                    while True:
                        time.sleep(0.01)
        return self.fc(self.features(x))


def counted():
    return Counted()
"""


@pytest.fixture()
def place(tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    return tmp_path


def _start(place, *args, ignore_sigint=False, stdout=subprocess.PIPE, env=None, marker="marker"):
    environment = {**os.environ, "PYTHONPATH": str(REPO), "MARKER": str(place / marker), **(env or {})}

    def ignored():  # what a shell does to a background job: SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = subprocess.Popen(
        [ENTRY, *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=place,
        env=environment,
        preexec_fn=ignored if ignore_sigint else None,
    )
    assert handling_signals(process.pid), "the tool never installed its signal handler"
    return process


def _wait_for(condition, process, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, (what, process.communicate())
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _finish(process, timeout: float = 120):
    try:
        return process.communicate(timeout=timeout)
    finally:
        process.kill()


# ---- Ctrl-C and SIGTERM in the user's code ----


@pytest.mark.parametrize(
    "reference, doing, number, code, words",
    [
        ("models.py:spin", "calling it", signal.SIGINT, 130, "interrupted (Ctrl-C)"),
        ("models.py:loops", "running its forward", signal.SIGTERM, 143, "terminated (SIGTERM)"),
    ],
)
def test_a_stop_in_user_code_in_a_pure_python_loop(place, reference, doing, number, code, words):
    # started as a shell starts a background job (SIGINT ignored): Python would install no handler of its own
    process = _start(place, "summary", reference, ignore_sigint=True)
    _wait_for((place / "marker").exists, process, "the user's code never ran")
    process.send_signal(number)
    out, err = _finish(process)
    assert process.returncode == code, err
    assert out == ""
    assert err.strip().splitlines() == [f"resnet-cli: error: {words} while running your code {reference} ({doing})"]


def test_user_code_that_swallows_ctrl_c_is_stopped_by_the_next(place):
    process = _start(place, "summary", "models.py:swallow")
    _wait_for((place / "marker").exists, process, "the user's code never ran")
    process.send_signal(signal.SIGINT)
    _wait_for((place / "marker.swallowed").exists, process, "the first Ctrl-C never reached the code")
    time.sleep(1.2)  # past the grace in which a second signal is taken as part of the first stop
    process.send_signal(signal.SIGINT)
    _, err = _finish(process)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("resnet-cli: error: interrupted (Ctrl-C) while running your code")


def test_a_child_whose_parent_is_killed_ends_even_if_its_code_swallows_the_stop(place):
    from conftest import _children

    process = _start(place, "summary", "models.py:swallow")
    _wait_for((place / "marker").exists, process, "the user's code never ran")
    (child,) = _children(process.pid)
    process.kill()  # the watching parent dies outright: the child is told by SIGTERM, which its code swallows
    process.communicate(timeout=60)
    deadline = time.monotonic() + 120  # a liveness bound, not a measured duration
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _running(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the orphaned child kept running"
    assert (place / "marker.swallowed").exists()  # it did swallow the SIGTERM


def _running(pid: int) -> bool:
    try:  # an ended process is gone, or a zombie until its new parent reaps it
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


# ---- user code that ends the process: never a silent success ----


@pytest.mark.parametrize(
    "callable_, code, words",
    [
        ("exits", 1, "the process exited with status 0"),
        ("kills", 137, "the run was killed by SIGKILL"),
    ],
)
def test_user_code_that_ends_the_process(place, callable_, code, words):
    process = _start(place, "summary", f"models.py:{callable_}", "--format", "json")
    out, err = _finish(process)
    assert process.returncode == code, err
    assert out == ""
    (line,) = err.strip().splitlines()
    assert words in line and f"running your code models.py:{callable_} (calling it)" in line


def test_user_code_writing_to_fd_1_cannot_reach_the_result(place):
    process = _start(place, "summary", "models.py:noisy", "--input", "1x3x8x8", "--format", "json")
    out, err = _finish(process)
    assert process.returncode == 0, err
    assert json.loads(out)["total"]["params"] == 3 * 2 + 2  # nn.Linear(3, 2): stdout is the result only
    for text in ("BUILD RAW", "RAW FD 1", "DUNDER STDOUT", "PRINTED", "CHILD PROCESS"):
        assert text in err and text not in out


# ---- bench: nothing measured is lost ----


def _history(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(r["batch_size"], r["status"]) for r in map(json.loads, path.read_text().splitlines())]


# (signals, at batch, at that batch's n-th forward, what --output then holds). The first call and three
# warm-up iterations come first, so the 7th forward at batch 2 is inside its timing loop (2 samples taken),
# and the 2nd at batch 4 inside its warm-up (no sample yet). The forward waits there for the signal.
MOMENTS = [
    ([signal.SIGINT], "2:7", 130, [(1, "ok"), (2, "interrupted")]),
    ([signal.SIGTERM], "2:7", 143, [(1, "ok"), (2, "interrupted")]),
    ([signal.SIGINT, signal.SIGINT], "2:7", 130, [(1, "ok"), (2, "interrupted")]),
    ([signal.SIGINT], "4:2", 130, [(1, "ok"), (2, "ok")]),
    ([signal.SIGTERM, signal.SIGTERM], "4:2", 143, [(1, "ok"), (2, "ok")]),
]


def test_bench_keeps_every_measurement_through_signals(place):
    # the five runs at once, each held at its own moment until signalled
    runs = []
    for index, (numbers, hold, code, expected) in enumerate(MOMENTS):
        history = place / f"h{index}.jsonl"
        process = _start(
            place,
            "bench",
            "models.py:counted",
            "-i",
            "1x3x16x16",
            "-b",
            "1,2,4",
            *FAST,
            "-o",
            str(history),
            "-f",
            "json",
            marker=f"forwards{index}",
            env={"HOLD_AT": hold},
        )
        runs.append((process, place / f"forwards{index}.held", history, numbers, code, expected))
    for process, held, _, numbers, _, _ in runs:
        _wait_for(held.exists, process, "the moment never came")
        for number in numbers:
            process.send_signal(number)
            time.sleep(0.05)  # two signals 50 ms apart
    for process, _, history, numbers, code, expected in runs:
        out, err = _finish(process)
        assert process.returncode == code, err
        assert _history(history) == expected, (numbers, err)
        doc = json.loads(out)  # the result is still printed, after the file
        assert doc["stopped_by"] == signal.Signals(numbers[0]).name
        assert [(r["batch_size"], r["status"]) for r in doc["results"]] == expected
        assert "Traceback" not in err and "unexpected" not in err, err
        stop = "interrupted (Ctrl-C)" if numbers[0] == signal.SIGINT else "terminated (SIGTERM)"
        assert f"warning: {stop} while measuring models.py:counted batch " in err


def _closed_reader():
    read, write = os.pipe()
    os.close(read)  # `| true`: the reader is gone before anything is written
    return write


@pytest.mark.parametrize(
    "stdout, code, line",
    [
        ("closed reader", 141, None),
        ("full", 1, "resnet-cli: error: cannot write the result to stdout: No space left on device"),
        ("closed", 1, "stdout is closed (started with >&-)"),
    ],
)
def test_bench_appends_before_stdout_fails(place, stdout, code, line):
    history = place / "h.jsonl"
    args = ["bench", "models.py:counted", "-i", "1x3x16x16", "-b", "1,2", *FAST, "-o", str(history)]
    if stdout == "closed":  # `>&-`
        process = subprocess.Popen(
            ["bash", "-c", f"exec '{ENTRY}' \"$@\" >&-", "bash", *args],
            cwd=place,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    else:
        target = _closed_reader() if stdout == "closed reader" else os.open("/dev/full", os.O_WRONLY)
        process = _start(place, *args, stdout=target)
        os.close(target)
    _, err = _finish(process)
    assert process.returncode == code, err
    assert _history(history) == [(1, "ok"), (2, "ok")]
    lines = [x for x in err.strip().splitlines() if not x.startswith("warning: ") and not x.startswith(" ")]
    assert lines == ([] if line is None else [lines[-1]]) and (line is None or line in lines[-1]), err


@pytest.mark.parametrize(
    "command, stdout, code, words",
    [
        ("summary resnet18", "full", 1, "cannot write the result to stdout: No space left on device"),
        ("summary resnet18", "closed", 1, "stdout is closed"),
        ("list", "full", 1, "cannot write the result to stdout: No space left on device"),
        ("--help", "full", 1, "cannot write to stdout: No space left on device"),
    ],
)
def test_a_full_or_closed_stdout_is_one_line(command, stdout, code, words):
    redirect = "> /dev/full" if stdout == "full" else ">&-"
    done = subprocess.run(
        ["bash", "-c", f"'{ENTRY}' {command} {redirect}"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert done.returncode == code
    (line,) = done.stderr.strip().splitlines()
    assert words in line and "unexpected" not in line


def test_every_format_exits_141_when_the_reader_leaves_whatever_the_size():
    # the reported rows: `summary resnet1202 --depth layer | head -c 10` gave 141 for the table, 0 for the rest
    runs = {
        fmt: subprocess.Popen(
            f"'{ENTRY}' summary resnet1202 --depth layer --format {fmt} | head -c 10 "
            '> /dev/null; echo "${PIPESTATUS[0]}"',
            shell=True,
            executable="/bin/bash",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for fmt in ("table", "json", "csv", "markdown")
    }
    for fmt, process in runs.items():
        out, err = process.communicate(timeout=600)
        assert out.strip() == "141", (fmt, err)
        assert err == "", (fmt, err)
