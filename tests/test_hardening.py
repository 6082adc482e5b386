"""Every failure an adversarial review found, met with one clean line and its documented exit code.

(The `bench --output` and SIGTERM rows are in tests/test_bench*.py; a user model that prints, sys.exit in
user code and `import this` are in tests/test_models.py.)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error

REPO = Path(__file__).resolve().parents[1]


def _entry_point() -> str:
    return str(Path(sys.executable).parent / "resnet-cli")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--stem-width", str(10**30)], "--stem-width 1000000000000000000000000000000 is out of range"),
        (["--stem-width", str(2**63)], "expected an integer from 1 to 65,536"),
        (["--widths", "1000000000000,1,1,1"], "--widths '1000000000000,1,1,1': 1000000000000 is out of range"),
        (["--num-classes", str(10**18)], "--num-classes 1000000000000000000 is out of range"),
        (["--groups", str(2**31)], "--groups 2147483648 is out of range"),
        (["--layers", "3,4,6,100000"], "--layers '3,4,6,100000': 100000 is out of range"),
        (["--in-channels", "-3"], "--in-channels -3 is out of range"),
        (["--input", "1x3x２２４x２２４"], "H = '２２４' is not an integer"),  # full-width digits
        (["--input", "1x3x2_24x224"], "H = '2_24' is not an integer"),  # int() would take it
        (["--input", "1x3\nx224x224"], "--input '1x3\\nx224x224': C = '3\\n' is not an integer"),  # one line
        (["--layers", "abc\ndef"], "--layers 'abc\\ndef'"),
        (["--stem", "deep\x1b[31m"], "--stem 'deep\\x1b[31m' is not accepted"),
        (["--input", "1x3x" + "9" * 40 + "x224"], "is above the largest accepted dimension"),
    ],
)
def test_bounded_values_refused_before_torch_sees_them(cli, args, fragment):
    assert_one_line_error(cli("summary", "resnet50", *args), 2, fragment)


def test_user_callable_that_exits_in_compare(cli, tmp_path, monkeypatch):
    module = tmp_path / "m.py"
    module.write_text("import sys\ndef exit0():\n    sys.exit(0)\ndef exit3():\n    sys.exit(3)\n")
    monkeypatch.chdir(tmp_path)
    for name, code in (("exit0", 0), ("exit3", 3)):
        result = cli("compare", "resnet18", f"m.py:{name}")
        assert_one_line_error(result, 1, f"m.py:{name}: calling it called sys.exit({code})")


def test_a_directory_named_like_a_python_file(cli, tmp_path, monkeypatch):
    (tmp_path / "adir.py").mkdir()
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("compare", "resnet18", "adir.py:build"), 2, "adir.py is a directory, not a Python file")


@pytest.mark.parametrize("columns", ["0", "", "-5", "abc", "1000000000"])
def test_any_columns_value_gives_a_sane_table(cli, columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    result = cli("summary", "resnet18")
    assert result.exit_code == 0, result.stderr
    assert "11,689,512" in result.stdout and "layer4" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 400


def test_a_closed_pipe_ends_every_format_alike():
    # `resnet-cli summary resnet50 | head -1`: the reader goes away; we exit 141 (128 + SIGPIPE, as `cat`
    # and `seq` do), silently, for every format. (`true` reads nothing and is gone before we write anything,
    # so the pipe is closed for sure; with `head -1` it depends on the pipe's buffer.) The four run at once.
    runs = {
        fmt: subprocess.Popen(
            f"'{_entry_point()}' summary resnet18 --format {fmt} | true; echo \"${{PIPESTATUS[0]}}\"",
            shell=True,
            executable="/bin/bash",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        for fmt in ("table", "json", "csv", "markdown")
    }
    for fmt, process in runs.items():
        out, err = process.communicate(timeout=120)
        assert out.strip() == "141", (fmt, err)
        assert "Traceback" not in err and "error" not in err, (fmt, err)
    helped = subprocess.run(
        f"'{_entry_point()}' summary --help | true; echo \"${{PIPESTATUS[0]}}\"",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.stdout.strip() == "141" and helped.stderr == ""


def test_sigterm_is_met_like_ctrl_c(tmp_path):
    # a long analysis (resnet1202 at a large batch) stopped by SIGTERM: one line saying where, exit 143. The
    # signal is sent once the tool's handler is installed and the command runs (torch loaded: it is imported
    # inside commands only) — not after a fixed sleep, which a loaded machine outlasts before the interpreter
    # has even started (the default action then kills the process).
    import signal

    from conftest import handling_signals

    process = subprocess.Popen(
        [_entry_point(), "flops", "resnet1202", "--training", "--input", "64x3x512x512"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert handling_signals(process.pid, loaded="libtorch"), "the command never started"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1] == "resnet-cli: error: terminated (SIGTERM) while running `flops`"
    assert "Traceback" not in err


def test_click_errors_are_one_line_exit_2(cli):
    assert_one_line_error(cli("summary", "--frmat", "json"), 2, "No such option: --frmat")
    assert_one_line_error(cli("summary", "--input"), 2, "--input")
    assert_one_line_error(cli("no-such-command"), 2, "No such command")


def test_list_reads_and_writes_no_cache(cli, tmp_path, monkeypatch):
    # the reported rows: a tampered cache file was trusted, XDG_CACHE_HOME=relative wrote under the working
    # directory. `list` now computes its figures in closed form on every call and keeps no cache at all.
    home = tmp_path / "home"
    tampered = home / ".cache" / "resnet-cli"
    tampered.mkdir(parents=True)
    for name, text in (
        ("catalog-0000.json", '{"a": 1}'),
        ("catalog-1111.json", "[]"),
        ("catalog-2222.json", '[{"name": "resnet50", "params": 1}]'),
    ):
        (tampered / name).write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    monkeypatch.chdir(work)
    import json

    models = {m["name"]: m for m in json.loads(cli("list", "--format", "json").stdout)["models"]}
    assert models["resnet50"]["params"] == 25_557_032  # torchvision's ResNet50_Weights meta
    assert list(work.iterdir()) == []  # nothing written under the working directory
    assert sorted(p.name for p in tampered.iterdir()) == ["catalog-0000.json", "catalog-1111.json", "catalog-2222.json"]
