"""The ``draw`` command: parse, make one call (``resnet_cli.api.draw``), emit. torch and matplotlib are imported
inside it only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_cli.base import values
from resnet_cli.cli.options import (
    FormatOpt,
    InputOpt,
    ModelArg,
    StagesOpt,
    WeightsOpt,
    boundary,
    stage_names,
    with_spec_options,
)
from resnet_cli.report.stages import DRAW_DEPTHS

DrawDepthOpt = Annotated[
    str,
    typer.Option(
        "--depth",
        "-d",
        parser=values.bound(values.parse_choice, "--depth", DRAW_DEPTHS),
        metavar="DEPTH",
        help="stage (each stage's repeated block once, ×N) | block (every block).",
    ),
]
OutputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the figure to FILE.svg, FILE.png or FILE.pdf instead of drawing it in the terminal (with "
        "--format json|csv|markdown, the diagram's data still goes to stdout).",
    ),
]


def register(app: typer.Typer) -> None:
    @app.command()
    @with_spec_options
    @boundary
    def draw(
        model: ModelArg = None,
        input: InputOpt = None,
        depth: DrawDepthOpt = "stage",
        output: OutputOpt = None,
        weights: WeightsOpt = None,
        stages: StagesOpt = None,
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """The architecture as the papers draw it: stem, each stage's block ×N, shapes, params, FLOPs, receptive
        field."""
        from resnet_cli import api
        from resnet_cli.render import emit as render

        if output is not None:
            from resnet_cli.render.images import check_image_path

            check_image_path(output, "--output")
        result = api.draw(model, input, depth, weights=weights, stages=stage_names(stages), **overrides)
        render.say(result.notes)
        if output is None or fmt != "table":
            render.emit(result.document, fmt)
        if output is not None:
            from resnet_cli.render.diagram import save_diagram

            save_diagram(result.report, output)
            render.wrote(output)
