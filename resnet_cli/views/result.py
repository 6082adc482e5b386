"""What the Python API returns: a frozen report and its document, rendered where it is shown.

``to_dict()`` is the command's ``--format json`` document; a result renders in Jupyter (Markdown) and in a
terminal (the rich protocol) exactly as the command prints it.
"""

from __future__ import annotations

import json

from resnet_cli.render.emit import Document, renderables, to_json


class Result:
    """What the Python API returns: a frozen report and its document.

    ``to_dict()`` is the command's ``--format json`` document; it renders in Jupyter (Markdown) and in a
    terminal (the rich protocol) exactly as the command prints it.
    """

    __slots__ = ("_document", "notes", "report", "verification")

    def __init__(self, report, document: Document, notes: tuple[str, ...] = (), verification=None) -> None:
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "_document", document)
        object.__setattr__(self, "notes", tuple(notes))  # for people: why a model ran on the CPU, assumptions
        object.__setattr__(self, "verification", verification)  # --verify: resnet_cli.report.verify.Verification

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    @property
    def document(self) -> Document:
        return self._document

    def to_dict(self) -> dict:
        return json.loads(to_json(self._document.data))  # a deep copy, exactly as --format json prints it

    def _repr_markdown_(self) -> str:
        return self._document.markdown()

    def __rich_console__(self, console, options):
        yield from renderables(self._document, console)

    def __repr__(self) -> str:
        data = self._document.data
        return f"<{type(self).__name__} {data.get('command', '')} {data.get('model', '')}>"

    def __getattr__(self, name):  # the report's fields read through: result.totals, result.rows …
        report = object.__getattribute__(self, "report")
        return getattr(report, name)
