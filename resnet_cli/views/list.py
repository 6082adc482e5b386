"""``list`` as a document: every registered variant, grouped by family under the reference it is checked against."""

from __future__ import annotations

from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Heading, Lines, Table

LIST_COLUMNS = (
    Column("name", "name", justify="left"),
    Column("family", "family", justify="left", drop=3),
    Column("block", "block", justify="left", drop=4),
    Column("layers", "blocks per stage", justify="left", drop=5),
    Column("params", "params", "count"),
    Column("gflops", "GFLOPs (fvcore)", "fixed2", drop=1),
    Column("gmacs", "GMACs", "fixed2"),
    Column("input", "default input", "shape", drop=6),
    Column("description", "what is different", justify="left", drop=2, wrap=True),
)


def list_document(entries: list[dict], families: list[dict]) -> Document:
    """Every variant, grouped by family under the reference its figures are checked against; one flat CSV."""
    shown = [{**e, "layers": "[" + ",".join(str(n) for n in e["layers"]) + "]"} for e in entries]
    flat = tuple({**e, "layers": "-".join(str(n) for n in e["layers"])} for e in entries)
    grouped = tuple(c for c in LIST_COLUMNS if c.key != "family")  # the heading names the family
    blocks: list = []
    for family in families:
        records = tuple(e for e in shown if e["family"] == family["name"])
        blocks += [
            Heading(f"{family['name']} — {family['title']} ({len(records)})"),
            Lines((f"checked against {family['reference']}",), style="dim"),
            Table(grouped, records),
        ]
    return Document(
        data={"schema_version": render.SCHEMA_VERSION, "command": "list", "families": families, "models": entries},
        blocks=tuple(blocks)
        + (
            Lines(
                (
                    "GFLOPs are fvcore's count (1 per multiply-add) at each model's default input; GMACs count "
                    "conv + linear multiply-accumulates only.",
                )
            ),
        ),
        csv=Table(LIST_COLUMNS, flat),
    )
