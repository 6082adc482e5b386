"""The ``list`` command: every registered variant by family. No torch: the figures are computed in closed form."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_cli.base import values
from resnet_cli.cli.options import FormatOpt, boundary
from resnet_cli.spec.registry import FAMILIES

FamilyOpt = Annotated[
    Optional[str],
    typer.Option(
        "--family",
        parser=values.bound(values.parse_choice, "--family", tuple(FAMILIES)),
        metavar="FAMILY",
        help="Only this family: " + " | ".join(FAMILIES) + ".",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("list")
    @boundary
    def list_models(family: FamilyOpt = None, fmt: FormatOpt = "table") -> None:
        """Every registered variant by family, with the reference it is checked against: block, blocks per stage,
        parameters, GFLOPs and GMACs at its default input."""
        from resnet_cli import api
        from resnet_cli.render import emit as render

        render.emit(api.variants(family).document, fmt)
