"""Formatting only: one ``Document`` per command result, written by one ``emit(document, fmt)``.

A command's view builds a ``Document``: its JSON data (``--format json``, and ``.to_dict()`` of the Python
API's results), the blocks a person reads (headings, lines, label/value facts, tables) and the one flat table
``--format csv`` writes. ``emit`` turns it into table | json | csv | markdown, so no command has a format
ladder of its own, and the table, its CSV and its Markdown come from the same ``Column`` list.

Tables fit the terminal: a number, a shape or a name is never split across lines. When the width is short,
columns are dropped in the order their ``drop`` rank says (highest first) and a note names them; text
columns marked ``wrap`` wrap at word boundaries; legends wrap at word boundaries.

Text from outside (file, tensor and module names, messages of user code) is escaped on the way out
(``resnet_cli.base.values.shown``: control characters shown as ``\\x1b``) in the table, Markdown and CSV
formats and on stderr, and never read as rich markup; JSON keeps the raw text (JSON escapes it itself).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

from resnet_cli.base.text import shown, si_prefix
from resnet_cli.render.streams import (  # noqa: F401 - results_kept and results_to are used through emit
    encodable,
    results_kept,
    results_stream,
    results_to,
    target_encoding,
)

FORMATS = ("table", "json", "csv", "markdown")
SCHEMA_VERSION = 1
PIPE_WIDTH = 200  # tables written to a file or a pipe (no $COLUMNS): wide enough to keep rows whole
MIN_WIDTH, MAX_WIDTH = 40, 400
WRAP_MIN = 24  # $COLUMNS outside this (0, unset on a terminal, huge) is clamped


@dataclass(frozen=True)
class Column:
    key: str  # JSON / CSV key
    header: str  # table / Markdown header
    kind: str = "text"  # text | count | flops | pct | shape | ms | fixed2 | float | bytes | field
    justify: str = "right"
    drop: int = 0  # 0: always shown; otherwise dropped first (highest rank first) when the width is short
    wrap: bool = False  # text that may wrap at word boundaries (descriptions); never numbers or names


# ---- the blocks of a document ----


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Lines:
    """Sentences for people: wrapped at word boundaries; ``style`` is a rich style for the terminal."""

    lines: tuple[str, ...]
    style: str = ""


@dataclass(frozen=True)
class Facts:
    """Label / text pairs (totals and their meaning): a label column and a wrapped text column."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    records: tuple[dict, ...]
    title: str | None = None


@dataclass(frozen=True)
class Drawing:
    """A picture drawn for the terminal (``draw``'s boxes): ``draw(width)`` returns a rich renderable laid out
    for ``width`` columns. Markdown gets it as plain text in a code block; CSV and JSON read the document's data."""

    draw: Callable[[int], Any]


Block = Union[Heading, Lines, Facts, Table, Drawing]


@dataclass(frozen=True)
class Document:
    data: dict  # the JSON document
    blocks: tuple[Block, ...] = ()
    csv: Table | None = None

    def markdown(self) -> str:
        return to_markdown_document(self)


# ---- numbers as people read them ----


def percent(part: int, whole: int) -> float:
    """part as a percentage of whole, to 4 decimals (0 when whole is 0): every *_pct field."""
    return round(100.0 * part / whole, 4) if whole else 0.0


def human(value: float | int | None, unit: str = "") -> str:
    """4111512576 -> '4.112 G'; 215808 -> '215.8 K'."""
    if value is None:
        return "—"
    scaled, suffix = si_prefix(value)
    if suffix:
        digits = 3 if abs(scaled) < 10 else 2 if abs(scaled) < 100 else 1
        return f"{scaled:.{digits}f} {suffix}{unit}"
    return f"{float_text(value)} {unit}".rstrip() if isinstance(value, float) else f"{value} {unit}".rstrip()


def human_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    for threshold, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= threshold:
            return f"{value / threshold:.2f} {suffix}"
    return f"{value} B"


def shape_text(shape) -> str:
    return "×".join(str(s) for s in shape) if shape else "—"


def cell(value: Any, kind: str) -> str:
    """Human text for one value (table and Markdown)."""
    if value is None:
        return "—"
    if kind == "count":
        return f"{value:,}"
    if kind == "flops":
        return human(value)
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "shape":
        return shape_text(value)
    if kind in ("ms", "fixed2"):
        return f"{value:.2f}"
    if kind == "float":
        return float_text(value)
    if kind == "bytes":
        return human_bytes(value)
    if kind == "field":
        return field_text(value)
    return shown(value, None)  # text: names may come from outside (a file, a checkpoint, a user's modules)


def float_text(value: float) -> str:
    """Three significant digits, trailing zeros kept (1.00, 12.0, 0.500, 123) so a measured figure never reads
    as a bare, exact-looking "1"; from 1,000 up the whole number with separators."""
    text = f"{value:#.3g}"
    if "e" in text:
        return f"{value:,.0f}" if abs(value) >= 1 else text
    return text.rstrip(".")


def field_text(field: dict | None) -> str:
    """A receptive-field record ({"size", "stride", "global"}) as '427 (32)', '427×395 (32×16)' or 'global'."""
    if field is None:
        return "—"

    def axes(values) -> str:
        texts = ["all" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values]
        return texts[0] if len(set(texts)) == 1 else "×".join(texts)

    size = "global" if field["global"] else axes(field["size"])
    stride = field.get("stride")
    return size if stride is None or field["global"] else f"{size} ({axes(stride)})"


# ---- machine formats ----


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(columns: Iterable[Column], records: Iterable[dict]) -> str:
    columns = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for record in records:
        row = []
        for column in columns:
            value = record.get(column.key)
            if column.kind == "shape" and value is not None:
                value = "x".join(str(s) for s in value)
            elif column.kind == "field" and value is not None:
                value = field_text(value).replace("×", "x")
            elif isinstance(value, str):
                value = shown(value, None)  # CSV, unlike JSON, leaves control characters raw
            row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue()


def to_markdown(columns: Iterable[Column], records: Iterable[dict]) -> str:
    columns = list(columns)
    lines = [
        "| " + " | ".join(shown(c.header, None) for c in columns) + " |",
        "|" + "|".join("---:" if c.justify == "right" else "---" for c in columns) + "|",
    ]
    for record in records:
        lines.append("| " + " | ".join(cell(record.get(c.key), c.kind).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines) + "\n"


def to_markdown_document(document: Document) -> str:
    out: list[str] = []
    for block in document.blocks:
        if isinstance(block, Heading):
            out += [f"### {shown(block.text, None)}", ""]
        elif isinstance(block, Lines):
            out += [f"- {shown(line, None)}" for line in block.lines] + [""]
        elif isinstance(block, Facts):
            out += [f"- **{shown(label, None)}** {shown(text, None)}" for label, text in block.pairs] + [""]
        elif isinstance(block, Table):
            if block.title:
                out += [f"#### {shown(block.title, None)}", ""]
            out += [to_markdown(block.columns, block.records)]
        elif isinstance(block, Drawing):
            out += ["```text", _plain_text(block.draw(MARKDOWN_DRAWING_WIDTH)).rstrip(), "```", ""]
    return "\n".join(out).rstrip() + "\n"


MARKDOWN_DRAWING_WIDTH = 100


def _plain_text(renderable) -> str:
    from rich.console import Console

    console = Console(
        file=io.StringIO(), width=MARKDOWN_DRAWING_WIDTH, color_system=None, highlight=False, soft_wrap=False
    )
    console.print(renderable)
    return console.file.getvalue()


# ---- the terminal ----


def plain(text: str) -> str:
    """``text`` as the results' encoding can write it (``render.streams.encodable``): applied before a table
    or a drawing is laid out, so an ASCII fallback (``->`` for →) never pushes a column or a border."""
    return encodable(text, target_encoding())


def terminal_width(is_terminal: bool) -> int:
    """$COLUMNS when it is a sane number; else the terminal's width, or PIPE_WIDTH for a pipe or file."""
    text = os.environ.get("COLUMNS", "").strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return max(MIN_WIDTH, min(MAX_WIDTH, int(text)))
    if not is_terminal:
        return PIPE_WIDTH
    import shutil

    size = shutil.get_terminal_size((80, 24)).columns
    return max(MIN_WIDTH, min(MAX_WIDTH, size if size > 0 else 80))


def _needed_width(column: Column, texts: list[str]) -> int:
    """The narrowest a column can be without splitting a value: its longest cell and header (their longest
    word if the column wraps)."""
    texts = list(texts) + [plain(shown(column.header, None))]
    if not column.wrap:
        return max(len(t) for t in texts)
    # a wrapping column narrower than WRAP_MIN makes rows many lines tall: below it, drop the column instead
    longest_word = max((len(w) for t in texts for w in t.split()), default=1)
    return max(longest_word, min(WRAP_MIN, max(len(t) for t in texts)))


def _rich_table(columns: list[Column], records: tuple[dict, ...], title: str | None):
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    # Text, not str: a name like "[red]" is shown as it is, never read as rich markup
    table = RichTable(
        title=None if title is None else Text(plain(shown(title, None))),
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        title_style="bold",
    )
    cells = [[plain(cell(record.get(c.key), c.kind)) for c in columns] for record in records]
    for index, column in enumerate(columns):
        table.add_column(
            Text(plain(shown(column.header, None))),
            justify=column.justify,
            no_wrap=not column.wrap,
            overflow="fold",
            min_width=_needed_width(column, [row[index] for row in cells]),
        )
    for row in cells:
        table.add_row(*(Text(text) for text in row))
    return table


def table_width(columns: list[Column], records: tuple[dict, ...]) -> int:
    """The narrowest the table can be drawn without splitting a value (box.SIMPLE_HEAD, no edge padding:
    one space at each edge, three between columns)."""
    cells = [[plain(cell(record.get(c.key), c.kind)) for c in columns] for record in records]
    widths = [_needed_width(c, [row[i] for row in cells]) for i, c in enumerate(columns)]
    return sum(widths) + 3 * (len(columns) - 1) + 2


def fit_table(block: Table, width: int) -> tuple[Any, list[Column]]:
    """(rich table, dropped columns): the columns of ``block`` that fit ``width``, dropping the highest
    ``drop`` ranks first; a table that fits whole is returned whole."""
    columns = list(block.columns)
    dropped: list[Column] = []
    while table_width(columns, block.records) > width:
        droppable = [c for c in columns if c.drop]
        if not droppable:
            break
        victim = max(droppable, key=lambda c: (c.drop, columns.index(c)))
        columns.remove(victim)
        dropped.append(victim)
    return _rich_table(columns, block.records, block.title), dropped


def renderables(document: Document, console) -> list:
    """The rich renderables of a document's blocks, fitted to ``console``."""
    from rich.table import Table as RichTable
    from rich.text import Text

    out: list = []
    said: set[str] = set()
    for index, block in enumerate(document.blocks):
        if index and (isinstance(block, Heading) or (isinstance(block, Table) and block.title)):
            out.append(Text(""))  # a section starts after a blank line
        if isinstance(block, Heading):
            out.append(Text(plain(shown(block.text, None)), style="bold"))
        elif isinstance(block, Lines):
            out += [Text(plain(shown(line, None)), style=block.style) for line in block.lines]
        elif isinstance(block, Facts):
            grid = RichTable.grid(padding=(0, 2))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for label, text in block.pairs:
                grid.add_row(Text(plain(shown(label, None))), Text(plain(shown(text, None))))
            out.append(grid)
        elif isinstance(block, Drawing):
            out.append(block.draw(console.width))
        elif isinstance(block, Table):
            table, dropped = fit_table(block, console.width)
            out.append(table)
            if dropped:
                labels = [
                    c.header if c.header != "%" else ("%" if c.key == "pct" else c.key.replace("_pct", " %"))
                    for c in dropped
                ]
                names = ", ".join(dict.fromkeys(labels))  # each name once, in the order dropped
                note = (
                    f"(not shown at this width: {names}; a wider terminal or --format json|csv|markdown "
                    "shows every column)"
                )
                if note not in said:  # tables of one kind in a row (list's families) say it once
                    said.add(note)
                    out.append(Text(shown(note, None), style="dim"))
    return out


# ---- where results go (resnet_cli.render.streams) ----

_CONSOLE: list = []


def _console_class():
    """rich's Console, printing every plain string escaped (``shown``): a note or a "wrote FILE" line that
    names a file, a tensor or a module cannot put control characters on the user's terminal."""
    if not _CONSOLE:
        from rich.console import Console

        class EscapingConsole(Console):
            def print(self, *objects, **kwargs):
                super().print(*(shown(o, None) if isinstance(o, str) else o for o in objects), **kwargs)

        _CONSOLE.append(EscapingConsole)
    return _CONSOLE[0]


def stdout_console(stream=None):
    """The results console: the terminal's width, $COLUMNS if sane, or PIPE_WIDTH for a pipe or file."""
    stream = stream or results_stream()
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    return _console_class()(file=stream, highlight=False, width=terminal_width(is_terminal), soft_wrap=False)


def stderr_console():
    # on a terminal, lines wrap at word boundaries; into a file or a pipe, each message stays one line
    is_terminal = sys.stderr.isatty()
    return _console_class()(
        stderr=True, highlight=False, soft_wrap=not is_terminal, width=terminal_width(True) if is_terminal else None
    )


def say(notes, prefix: str = "note") -> None:
    """Notes for people, on stderr, one "note: …" line each (never on the results stream): each said once, in
    order, escaped (the console escapes every string: a note names files and modules)."""
    console = stderr_console()
    for note in dict.fromkeys(notes):
        console.print(f"{prefix}: {note}", markup=False, highlight=False)


def warn(lines) -> None:
    """Warnings about a measurement, after its results: one "warning: …" line each on stderr, unwrapped; stdout
    is flushed first, so the results come whole even when both streams share a pipe."""
    console = stderr_console()
    for line in lines:
        sys.stdout.flush()
        console.print(f"warning: {line}", markup=False, soft_wrap=True)


def wrote(path: str, details: str = "") -> None:
    """Every file written is announced the same way, on stderr: "wrote FILE" (then what it holds, if said)."""
    stderr_console().print(f"wrote {path}" + (f" ({details})" if details else ""), markup=False, highlight=False)


def write(text: str) -> None:
    """Write machine-readable text to the results stream, exactly as given (one trailing newline)."""
    stream = results_stream()
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def emit(document: Document, fmt: str | None = None) -> None:
    """Write ``document`` to the results stream in ``fmt`` (table | json | csv | markdown)."""
    if fmt == "json":
        text = to_json(document.data)
        if encodable(text, target_encoding()) != text:  # the stream lacks a character: JSON escapes it
            text = json.dumps(document.data, indent=2, ensure_ascii=True)
        write(text)
    elif fmt == "csv":
        table = document.csv or next((b for b in document.blocks if isinstance(b, Table)), None)
        write(to_csv(table.columns, table.records) if table else "")
    elif fmt == "markdown":
        write(to_markdown_document(document))
    else:
        console = stdout_console()
        for renderable in renderables(document, console):
            console.print(renderable)
        results_stream().flush()
