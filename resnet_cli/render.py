"""Formatting only: reports in, text out (table | json | csv | markdown).

One ``Column`` list drives every format, so a table, its CSV and its Markdown can never disagree; JSON
carries the same keys with raw values. Tables and Markdown humanise large numbers; JSON and CSV keep
exact integers.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Iterable

FORMATS = ("table", "json", "csv", "markdown")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Column:
    key: str  # JSON / CSV key
    header: str  # table / Markdown header
    kind: str = "text"  # text | count | flops | pct | shape | ms | float
    justify: str = "right"


def percent(part: int, whole: int) -> float:
    """part as a percentage of whole, to 4 decimals (0 when whole is 0): every *_pct field."""
    return round(100.0 * part / whole, 4) if whole else 0.0


def human(value: float | int | None, unit: str = "") -> str:
    """4111512576 -> '4.112 G'; 215808 -> '215.8 K'."""
    if value is None:
        return "—"
    magnitude = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if magnitude >= threshold:
            scaled = value / threshold
            digits = 3 if abs(scaled) < 10 else 2 if abs(scaled) < 100 else 1
            return f"{scaled:.{digits}f} {suffix}{unit}"
    return f"{value:g} {unit}".rstrip() if isinstance(value, float) else f"{value} {unit}".rstrip()


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
    if kind == "ms":
        return f"{value:.2f}"
    if kind == "fixed2":
        return f"{value:.2f}"
    if kind == "float":
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if kind == "bytes":
        return human_bytes(value)
    if kind == "field":
        return field_text(value)
    return str(value)


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


def raw(value: Any, kind: str) -> Any:
    """Machine value for one cell (JSON and CSV): shapes as lists / 'AxB' strings, numbers exact."""
    if kind == "shape" and value is not None:
        return list(value)
    return value


def to_json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def to_csv(columns: list[Column], records: Iterable[dict]) -> str:
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
            row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue()


def to_markdown(columns: list[Column], records: Iterable[dict]) -> str:
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "|" + "|".join("---:" if c.justify == "right" else "---" for c in columns) + "|"]
    for record in records:
        lines.append("| " + " | ".join(cell(record.get(c.key), c.kind).replace("|", "\\|") for c in columns) + " |")
    return "\n".join(lines) + "\n"


def to_table(columns: list[Column], records: Iterable[dict], title: str | None = None):
    from rich.table import Table
    from rich import box

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for column in columns:
        table.add_column(column.header, justify=column.justify, overflow="fold")
    for record in records:
        table.add_row(*(cell(record.get(c.key), c.kind) for c in columns))
    return table


def stdout_console():
    """Results console. Redirected to a file or a pipe, tables get 200 columns (unless $COLUMNS says
    otherwise) instead of rich's 80, so rows stay whole; --format csv/json is the machine interface."""
    import os
    import sys

    from rich.console import Console

    width = None
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(highlight=False, width=width)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit(text: str) -> None:
    """Write a machine-readable result to stdout, exactly as given."""
    import sys

    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
