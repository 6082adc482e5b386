"""MODEL resolution never runs code the user did not name as code (issue 18, req 1).

An existing file (or a name ending in a checkpoint suffix) is read as a checkpoint, never imported; a name
that reads both as such a file and as code that is there is refused in one line naming both readings; code
runs only from an explicit ``.py`` path or an importable module no checkpoint file shadows. Every module the
tests put beside a checkpoint writes a marker file from its top level, so whether it ran is a fact on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
import torch
from conftest import assert_one_line_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resnet_cli

MARKER = "MARKER"
MODULE = f"open({MARKER!r}, 'w').write('ran')\n\ndef build():\n    import torch\n    return torch.nn.Conv2d(3, 4, 3)\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small ResNet's state_dict (basic blocks [1,1], widths 4,8): read in well under a second."""
    model = resnet_cli.build("custom", block="basic", layers="1,1", widths="4,8", stem_width=4, num_classes=3)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture()
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _module(path: str) -> None:
    with open(path, "w") as handle:
        handle.write(MODULE)


def _ran() -> bool:
    return os.path.exists(MARKER)


def _summary_json(*args):
    result = run_cli("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_checkpoint_named_like_module_colon_name_is_read_not_imported(here, checkpoint):
    # the case: `summary epoch:10.pth` in a folder that holds epoch.py
    _module("epoch.py")
    shutil.copy(checkpoint, "epoch:10.pth")
    doc = _summary_json("epoch:10.pth")
    assert doc["model"] == "epoch:10.pth" and doc["description"].startswith("checkpoint identified as")
    assert not _ran()
    # the Python API resolves the same way
    assert resnet_cli.summary("epoch:10.pth").report.model == "epoch:10.pth"
    assert not _ran()


def test_a_checkpoint_in_a_folder_with_a_colon_is_ordinary(here, checkpoint):
    _module("run.py")
    os.mkdir("run:3")
    shutil.copy(checkpoint, "run:3/best.pt")
    assert _summary_json("run:3/best.pt")["model"] == "best.pt"
    assert not _ran()


def test_a_missing_checkpoint_beside_a_module_is_no_such_file_and_runs_nothing(here):
    _module("epoch.py")
    line = assert_one_line_error(run_cli("summary", "epoch:11.pth"), 2, "'epoch:11.pth'", "no such file")
    assert "epoch.py" not in line
    assert not _ran()


def test_a_name_that_reads_both_ways_is_refused_naming_both(here, checkpoint):
    # a file named models:build, and a module models with (perhaps) a callable build: never guess
    _module("models.py")
    shutil.copy(checkpoint, "models:build")
    line = assert_one_line_error(
        run_cli("summary", "models:build"),
        2,
        "'models:build'",
        "reads two ways",
        "checkpoint file",
        "callable build in the module models",
        "./models:build",
    )
    assert line
    assert not _ran()
    # named as a path, it is the file
    assert _summary_json("./models:build")["model"] == "models:build"
    assert not _ran()


def test_a_checkpoint_suffix_beside_code_that_is_there_is_refused(here):
    # resnet:best.pt could be the callable best.pt of resnet.py (it is not there as a file): refused, not run
    _module("resnet.py")
    assert_one_line_error(run_cli("summary", "resnet:best.pt"), 2, "reads two ways", "(which does not exist)")
    assert not _ran()


def test_a_py_path_beside_a_file_of_the_same_name_is_refused(here, checkpoint):
    _module("net.py")
    shutil.copy(checkpoint, "net.py:build")
    assert_one_line_error(
        run_cli("summary", "net.py:build"), 2, "reads two ways", "the file net.py", "rename the checkpoint file"
    )
    assert not _ran()


def test_code_runs_when_named_as_code_and_no_file_shadows_it(here):
    _module("models.py")
    assert _summary_json("models.py:build", "--input", "1x3x8x8")["model"] == "models.py:build"
    assert _ran()
    os.remove(MARKER)
    sys.modules.pop("models", None)  # an import is cached per process: forget it to see it run again
    try:
        assert _summary_json("models:build", "--input", "1x3x8x8")["model"] == "models:build"
        assert _ran()
    finally:
        sys.modules.pop("models", None)


def test_compare_resolves_the_same_way(here, checkpoint):
    _module("epoch.py")
    shutil.copy(checkpoint, "epoch:10.pth")
    result = run_cli("compare", "epoch:10.pth", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert not _ran()


def test_code_form_is_syntax_only():
    from resnet_cli.sources.usercode import code_form

    assert code_form("models.py:build") == "file" and code_form("dir/models.py:Net.make") == "file"
    assert code_form("pkg.models:build") == "module"
    for name in ("epoch:10.pth", "run:3/best.pt", "C:model.pt", "./models:build", "a:", ":b", "a-b:c", "x:1y"):
        assert code_form(name) is None, name


# ---- property: whatever the name, a file that exists is never imported ----

CONTROL = [chr(c) for c in range(1, 32)] + ["\x7f", "\x85", "\x9b", "\u202e"]
PART = st.text(alphabet=st.sampled_from(CONTROL + list("abcxyz019_.")), min_size=1, max_size=8)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(location=PART, attribute=PART)
def test_an_existing_file_is_never_imported_whatever_its_name(tmp_path, checkpoint, location, attribute):
    # a checkpoint named LOCATION:ATTRIBUTE (any control character, any colon), beside a module that would be
    # imported for LOCATION:ATTRIBUTE if it were code; the result is the checkpoint read, or one line refused
    name = f"m{location}:{attribute}"
    folder = tmp_path / f"case{abs(hash(name))}"
    folder.mkdir(exist_ok=True)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        shutil.copy(checkpoint, name)
        code = name.rpartition(":")[0]
        if code.endswith(".py"):
            _module(code)
        elif code.isidentifier():
            _module(code + ".py")
        result = run_cli("summary", name, "--format", "json")
        assert not _ran(), name
        if result.exit_code == 0:
            assert json.loads(result.stdout)["model"] == name  # JSON keeps the raw name
        else:
            assert_one_line_error(result, 2, "reads two ways")
        # whatever happened, nothing raw from the name reached the terminal
        assert not any(c in result.stderr for c in CONTROL if c != "\n")
        assert result.stderr.count("\n") <= 2  # a note line and nothing else (or one error line)
    finally:
        os.chdir(previous)
