"""``bench --output FILE``: checked before anything is measured, appended to as each configuration finishes.

Exit codes of the check: 2 when the value given cannot be a bench history (another extension, a directory,
a FIFO, device or socket, no such directory, a path no file can be created at, an existing file of another
format or CSV header, a last line cut short); 1 when the file is right but the system refuses to write it
(permission, read-only file system, no space).

Appends are whole records or nothing: the records of one append are one ``write`` of bytes, and if the
system writes only part of them (a full disk), the file is cut back to its previous size and the failure is
one line (exit 1); every earlier record is kept. A history whose last line has no newline (a crash of
another program, an editor) gets one added before anything is measured when that line is a whole record,
and is refused when it is not (a record cut short), so a new record is never glued onto it. A symbolic link
is followed (the records go to its target); the file keeps its permissions.
"""

from __future__ import annotations

import csv
import datetime
import errno
import json
import os
from dataclasses import dataclass

from resnet_cli.base.atomic import special_kind
from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.base.values import shown
from resnet_cli.render import emit as render

KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}  # the system says no: exit 1


@dataclass(frozen=True)
class OutputFile:
    path: str
    kind: str  # jsonl | csv


def _refusal(path: str, error: OSError) -> Exception:
    reason = error.strerror or type(error).__name__
    if error.errno in REFUSED:
        return RuntimeFailure(f"--output '{shown(path)}' cannot be written: {reason}")
    return UsageError(f"--output '{shown(path)}' cannot be created: {reason}")


def check_output(path: str, header: list[str]) -> OutputFile:
    """The history file ``path``, checked without writing anything: ``header`` is the CSV header bench writes."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in KINDS:
        raise UsageError(f"--output '{shown(path)}': the extension decides the format; use .jsonl (JSON lines) or .csv")
    kind = KINDS[extension]
    if os.path.isdir(path):
        raise UsageError(f"--output '{shown(path)}' is a directory; give a file name ending in {extension}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"--output '{shown(path)}': the directory {shown(directory)} does not exist")
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise UsageError(
                f"--output '{shown(path)}' is {special_kind(path) or 'not a regular file'}; a "
                "history is a regular file (or a new name)"
            )
        _check_contents(path, kind, header)
        _end_with_newline(path, kind, header)
        try:
            with open(path, "a", encoding="utf-8"):
                pass  # opening for append writes nothing
        except OSError as error:
            raise _refusal(path, error) from None
        return OutputFile(path, kind)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _refusal(path, error) from None
    os.close(descriptor)
    os.unlink(path)  # created only to prove it can be: nothing is left behind before the results exist
    return OutputFile(path, kind)


def _check_contents(path: str, kind: str, header: list[str]) -> None:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if kind == "csv":
                first = next(csv.reader(handle), None)
                if first is not None and first != header:
                    shown_columns = ",".join(first[:4]) + (",…" if len(first) > 4 else "")
                    raise UsageError(
                        f"--output '{shown(path)}' is a CSV file with another header "
                        f"({shown(shown_columns)}); bench would append {len(header)} columns "
                        "under it; use a new file"
                    )
                return
            lines = handle.read().split("\n")
            for number, line in enumerate(lines[:-1], 1):  # the last, without its newline: _end_with_newline
                if line.strip() and not isinstance(_json(line), dict):
                    raise UsageError(
                        f"--output '{shown(path)}' line {number} is not a JSON object; a JSON lines "
                        "file holds one JSON object per line; use a new file"
                    )
    except UnicodeDecodeError:
        raise UsageError(f"--output '{shown(path)}' is not a text file; use a new file") from None
    except OSError as error:
        raise _refusal(path, error) from None


def _json(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def _end_with_newline(path: str, kind: str, header: list[str]) -> None:
    """A last line without its newline: add one if that line is a whole record, else refuse the file."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(max(0, size - 65536))
            tail = handle.read()
    except OSError as error:
        raise _refusal(path, error) from None
    if tail.endswith(b"\n"):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    whole = (
        (not last.strip() or isinstance(_json(last), dict))
        if kind == "jsonl"
        else len(next(csv.reader([last]), [])) == len(header)
    )
    if not whole:
        raise UsageError(
            f"--output '{shown(path)}': its last line is cut short (no newline, not a whole "
            f"{'JSON object' if kind == 'jsonl' else 'CSV row'}): a run was stopped while writing it; "
            "remove that line or use a new file"
        )
    try:
        _append_bytes(path, b"\n")
    except OSError as error:
        raise _refusal(path, error) from None


def _append_bytes(path: str, data: bytes) -> None:
    """Append ``data`` in one write, or not at all: a short write is cut back to the previous size."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        before = os.fstat(descriptor).st_size
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            _cut_back(descriptor, before)
            raise
    finally:
        os.close(descriptor)


def _cut_back(descriptor: int, size: int) -> None:
    try:
        if os.fstat(descriptor).st_size > size:
            os.ftruncate(descriptor, size)
    except OSError:
        pass


def append(output: OutputFile, records: list[dict], columns, env: dict) -> None:
    """Append one line (JSONL) or row (CSV) per record, each with a UTC timestamp: all of them or none (one
    write; a failure is one line, exit 1, and leaves the file as it was)."""
    if not records:
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    records = [{"timestamp": stamp, **record} for record in records]
    if output.kind == "jsonl":
        text = "".join(json.dumps({**record, "env": env}, ensure_ascii=False) + "\n" for record in records)
    else:
        text = render.to_csv(columns, records)
        if os.path.exists(output.path) and os.path.getsize(output.path) > 0:
            text = text.split("\n", 1)[1]  # the header is written once, when the file is new
    try:
        _append_bytes(output.path, text.encode("utf-8"))
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RuntimeFailure(
            f"--output '{shown(output.path)}': cannot append {len(records)} record"
            f"{'s' if len(records) != 1 else ''}: {reason}; the records written before are "
            "kept"
        ) from None
