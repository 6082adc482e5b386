"""``bench --output FILE``: checked before anything is measured, appended to after.

Exit codes of the check: 2 when the value given cannot be a bench history (another extension, a directory,
no such directory, a path no file can be created at, an existing file of another format or CSV header);
1 when the file is right but the system refuses to write it (permission, read-only file system, no space).
"""

from __future__ import annotations

import csv
import datetime
import errno
import json
import os
from dataclasses import dataclass

from resnet_cli.render import emit as render
from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.base.values import shown

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
            raise UsageError(f"--output '{shown(path)}' is not a regular file")
        _check_contents(path, kind, header)
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
                    raise UsageError(f"--output '{shown(path)}' is a CSV file with another header "
                                     f"({shown(shown_columns)}); bench would append {len(header)} columns "
                                     "under it; use a new file")
                return
            for number, line in enumerate(handle, 1):
                if line.strip() and not isinstance(_json(line), dict):
                    raise UsageError(f"--output '{shown(path)}' line {number} is not a JSON object; a JSON lines "
                                     "file holds one JSON object per line; use a new file")
    except UnicodeDecodeError:
        raise UsageError(f"--output '{shown(path)}' is not a text file; use a new file") from None
    except OSError as error:
        raise _refusal(path, error) from None


def _json(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def append(output: OutputFile, records: list[dict], columns, env: dict) -> None:
    """Append one line (JSONL) or row (CSV) per record, each with a UTC timestamp, in one write."""
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    records = [{"timestamp": stamp, **record} for record in records]
    if output.kind == "jsonl":
        text = "".join(json.dumps({**record, "env": env}, ensure_ascii=False) + "\n" for record in records)
    else:
        text = render.to_csv(columns, records)
        if os.path.exists(output.path) and os.path.getsize(output.path) > 0:
            text = text.split("\n", 1)[1]  # the header is written once, when the file is new
    with open(output.path, "a", encoding="utf-8", newline="") as handle:
        handle.write(text)
