"""Files we write: whole or not at all, only where a file belongs, and every refusal one true line.

- a bench history (``--output``): appends are whole records or nothing, even when the disk fills mid-write
  (``os.write`` patched to fail or to write half: the file is cut back, every earlier record is kept); a last
  line without its newline is repaired or refused before anything is measured, for any trailing bytes
  (a hypothesis property);
- outputs (``-o``, ``--chart``, ``--plot``, ``--export-weights``): a FIFO, a device or a socket is refused in
  one line (exit 2) and left alone; a symbolic link is followed to its target, which keeps its permissions;
  a full disk or a read-only file system is one line, exit 1, and leaves the previous file as it was;
- every OS error of the issue's list ends in one line with its exit code, none in the "unexpected … (a bug of
  ours)" line (the closed and full stdout cases, which need a real process, are in tests/test_signals.py).
"""

import errno
import json
import os
import socket
import stat

import pytest
from conftest import assert_one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_cli.base import atomic
from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.render import history

HEADER = ["timestamp", "model", "batch_size"]
EARLIER = '{"model": "resnet18", "batch_size": 1}\n{"model": "resnet18", "batch_size": 2}\n'
NEW = [{"model": "resnet50", "batch_size": 8}]


def _append(path) -> None:
    output = history.check_output(str(path), HEADER)
    history.append(output, NEW, [], {"torch": "x"})


# ---- a history: whole records, whatever its last bytes ----

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(
    tail=st.one_of(
        st.binary(max_size=24),
        st.sampled_from(
            [
                b"",
                b"\n",
                b"{",
                b'{"a": 1}',
                b'{"a": 1',
                b"\r",
                b" ",
                b"\n\n{}",
                b"\xff\xfe",
                b'{"a": "\xc3"}',
                b"\x00",
                b"[1]",
                b"\r\n",
                b"null",
            ]
        ),
    )
)
def test_a_history_with_any_trailing_bytes_keeps_every_record(tmp_path_factory, tail):
    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    original = EARLIER.encode() + tail
    path.write_bytes(original)
    try:
        _append(path)
    except UsageError as error:  # refused before measuring: one line, the file untouched
        assert "\n" not in str(error)
        assert path.read_bytes() == original
        return
    content = path.read_bytes()
    assert content.startswith(original)  # nothing earlier is changed: at most a newline is added after it
    assert content.endswith(b"\n")
    added = content[len(original) :]
    assert added.lstrip(b"\n").count(b"\n") == 1  # the one new record, on a line of its own
    lines = content.decode("utf-8").split("\n")[:-1]
    assert [json.loads(line) for line in lines[:2]] == [
        {"model": "resnet18", "batch_size": 1},
        {"model": "resnet18", "batch_size": 2},
    ]
    record = json.loads(lines[-1])
    assert record["model"] == "resnet50" and record["batch_size"] == 8 and record["env"] == {"torch": "x"}
    for line in lines:  # every line is a record or blank: nothing was glued onto a cut line
        assert not line.strip() or isinstance(json.loads(line), dict)


def test_a_last_line_without_newline_is_repaired_or_refused(tmp_path):
    whole = tmp_path / "whole.jsonl"
    whole.write_text(EARLIER.rstrip("\n"))  # an editor saved it without the final newline
    _append(whole)
    assert [json.loads(line)["batch_size"] for line in whole.read_text().splitlines()] == [1, 2, 8]
    cut = tmp_path / "cut.jsonl"
    cut.write_text(EARLIER + '{"model": "resnet18", "bat')  # a run stopped while writing
    with pytest.raises(UsageError, match="its last line is cut short"):
        history.check_output(str(cut), HEADER)
    rows = tmp_path / "h.csv"
    rows.write_text("timestamp,model,batch_size\n2026,resnet18,1")
    history.check_output(str(rows), HEADER)
    assert rows.read_text() == "timestamp,model,batch_size\n2026,resnet18,1\n"
    half = tmp_path / "half.csv"
    half.write_text("timestamp,model,batch_size\n2026,resn")
    with pytest.raises(UsageError, match="cut short"):
        history.check_output(str(half), HEADER)


@pytest.mark.parametrize("failure", ["raises", "half"])
def test_a_full_disk_loses_no_earlier_record(tmp_path, monkeypatch, failure):
    # the disk fills during an append: os.write refuses (ENOSPC), or writes only part and says so (a short
    # write): the file is cut back to what it held, one line says so (exit 1), every earlier record is kept
    path = tmp_path / "history.jsonl"
    path.write_text(EARLIER)
    output = history.check_output(str(path), HEADER)
    real_write = os.write

    def full(descriptor, data):
        if failure == "raises":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, bytes(data[: len(data) // 2]))

    monkeypatch.setattr(history.os, "write", full)
    with pytest.raises(
        RuntimeFailure, match="cannot append 2 records: No space left on device; the records written before are kept"
    ):
        history.append(output, NEW * 2, [], {})
    monkeypatch.undo()
    assert path.read_text() == EARLIER
    history.append(output, NEW, [], {})  # the next append, once there is room, lands on a line of its own
    assert [json.loads(line)["batch_size"] for line in path.read_text().splitlines()] == [1, 2, 8]


def test_bench_appends_each_configuration_as_it_finishes(cli, tmp_path, monkeypatch):
    # the second configuration's append meets a full disk: the first one's record is already in the file
    # (appended when it finished, not at the end), the failure is one line, exit 1
    from test_bench import TINY, FixedRoofline

    from resnet_cli.benchmark import measure

    monkeypatch.setattr(measure, "RooflineSampler", FixedRoofline)
    path = tmp_path / "history.jsonl"
    real_append, calls = history.append, []

    def append(output, records, columns, env):
        calls.append([r["batch_size"] for r in records])
        if len(calls) == 2:
            raise RuntimeFailure("--output: cannot append 1 record: No space left on device")
        return real_append(output, records, columns, env)

    monkeypatch.setattr(history, "append", append)
    result = cli("bench", *TINY, "-b", "1,2", "-o", str(path), "-f", "json")
    assert_one_line_error(result, 1, "No space left on device")
    assert calls == [[1], [2]]  # one append per configuration, in the order they finished
    assert [json.loads(line)["batch_size"] for line in path.read_text().splitlines()] == [1]


# ---- outputs: only a regular file or a new name ----


def _fifo(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _socket(tmp_path, name):
    path = tmp_path / name
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return path


def _device_link(tmp_path, name):
    path = tmp_path / name
    path.symlink_to("/dev/null")
    return path


@pytest.mark.parametrize(
    "make, kind",
    [
        (_fifo, "a FIFO (named pipe)"),
        (_socket, "a socket"),
        (_device_link, "a character device (the link points to /dev/null)"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["draw", "resnet18", "-o"],
        ["summary", "resnet18", "--chart"],
        ["compare", "resnet18", "resnet18", "--export-weights"],
    ],
)
def test_special_files_are_refused_and_left_alone(cli, tmp_path, make, kind, command):
    suffix = ".safetensors" if command[0] == "compare" else ".svg"
    path = make(tmp_path, "out" + suffix)
    before = os.lstat(path)
    line = assert_one_line_error(cli(*command, str(path)), 2, f"is {kind}", "not a regular file")
    assert "unexpected" not in line
    after = os.lstat(path)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_history_on_a_fifo_is_refused(cli, tmp_path):
    path = _fifo(tmp_path, "h.jsonl")
    assert_one_line_error(cli("bench", "resnet20", "-o", str(path)), 2, "is a FIFO (named pipe)")


def test_a_symlink_is_followed_and_its_target_keeps_its_permissions(cli, tmp_path):
    target = tmp_path / "private.svg"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "link.svg"
    link.symlink_to(target.name)
    result = cli("draw", "resnet18", "-o", str(link))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"wrote {link}\n"
    assert link.is_symlink() and os.readlink(link) == target.name  # the link stays a link …
    assert target.read_text().startswith("<?xml")  # … and its target is the file written
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "private.svg"]  # no temporary left


# ---- the system refuses: one line, exit 1, the previous file intact ----


@pytest.mark.parametrize(
    "number, words",
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
    ],
)
def test_a_refused_write_leaves_the_previous_file(cli, tmp_path, monkeypatch, number, words):
    path = tmp_path / "r18.svg"
    path.write_text("previous")

    def refuse(*args, **kwargs):
        raise OSError(number, os.strerror(number))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    line = assert_one_line_error(cli("draw", "resnet18", "-o", str(path)), 1, words, "the file there is unchanged")
    assert "unexpected" not in line
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r18.svg"]  # the temporary file is gone


def test_a_folder_we_may_not_write_in_is_refused_before_any_work(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    monkeypatch.setattr(atomic, "_read_only", lambda folder: True)
    assert_one_line_error(
        cli("summary", "resnet18", "--chart", str(tmp_path / "c.svg")),
        1,
        "cannot write in the folder",
        "read-only file system",
    )
    monkeypatch.setattr(atomic, "_read_only", lambda folder: False)
    assert_one_line_error(cli("draw", "resnet18", "-o", str(tmp_path / "d.png")), 1, "permission denied")


# ---- every OS error of the issue: one true line, never the line for our own bugs ----


def _no_space(monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))


def _read_only(monkeypatch):
    monkeypatch.setattr(
        atomic.tempfile, "mkstemp", lambda **k: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only file system"))
    )


def _denied(monkeypatch):
    monkeypatch.setattr(history.os, "open", lambda *a: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))


@pytest.mark.parametrize(
    "args, patch, code",
    [
        (["draw", "resnet18", "-o", "{tmp}/no/such/folder/d.svg"], None, 2),
        (["summary", "resnet18", "--chart", "{tmp}/no/such/folder/c.svg"], None, 2),
        (["compare", "resnet18", "resnet18", "--export-weights", "{tmp}/none/w.safetensors"], None, 2),
        (["bench", "resnet20", "-o", "{tmp}/none/h.jsonl"], None, 2),
        (["bench", "resnet20", "--plot", "{tmp}/none/p.svg"], None, 2),
        (["draw", "resnet18", "-o", "{tmp}/d.svg"], _no_space, 1),
        (["summary", "resnet18", "--chart", "{tmp}/c.png"], _read_only, 1),
        (["bench", "resnet20", "-o", "{tmp}/h.jsonl"], _denied, 1),
        (["summary", "/etc/passwd"], None, 2),
        (["summary", "/dev/null"], None, 2),
        (["summary", "{tmp}"], None, 2),
    ],
)
def test_no_os_error_reaches_the_line_for_our_bugs(cli, tmp_path, monkeypatch, args, patch, code):
    if patch is not None:
        patch(monkeypatch)
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    line = assert_one_line_error(result, code)
    assert "unexpected" not in line and "a bug of ours" not in line and "RESNET_CLI_DEBUG" not in line


def test_etc_passwd_is_not_a_checkpoint(cli):
    assert_one_line_error(
        cli("summary", "/etc/passwd"),
        2,
        "MODEL '/etc/passwd' is not a readable checkpoint",
        "starts neither as a zip archive nor as a pickle",
    )


def test_one_test_for_special_files_read_and_written():
    from resnet_cli.sources import checkpoint

    assert checkpoint.special_kind is atomic.special_kind  # the duplicate is gone
    assert atomic.special_kind("/dev/null") == "a character device"
    assert atomic.special_kind("/no/such/file") is None
