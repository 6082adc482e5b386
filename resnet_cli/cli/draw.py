"""The ``draw`` command: parse, make one call, render. torch and matplotlib are imported inside it only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_cli.base import values
from resnet_cli.cli.options import InputOpt, ModelArg, boundary, with_spec_options

DrawDepthOpt = Annotated[str, typer.Option(
    "--depth", "-d", parser=values.bound(values.parse_choice, "--depth", ("stage", "block")), metavar="DEPTH",
    help="stage (each stage's repeated block once, ×N) | block (every block).")]
OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="FILE",
    help="Write the figure to FILE.svg, FILE.png or FILE.pdf instead of drawing it in the terminal.")]


def draw_diagram(model, input_shape, depth: str, overrides: dict):
    """(Diagram, notes for people) of MODEL in any form the one resolver takes."""
    from resnet_cli import api
    from resnet_cli.report.draw import diagram
    from resnet_cli.sources.target import analyze

    target = api.target_for(model, input_shape, **overrides)
    analyzed = analyze(target)
    figure = diagram(target.name, target.description, analyzed.analysis, depth=depth, stages=target.stages)
    return figure, tuple(target.notes) + tuple(n for n in analyzed.notes if n not in target.notes)


def register(app: typer.Typer) -> None:
    @app.command()
    @with_spec_options
    @boundary
    def draw(
        model: ModelArg = None,
        input: InputOpt = None,
        depth: DrawDepthOpt = "stage",
        output: OutputOpt = None,
        *,
        overrides: dict,
    ) -> None:
        """The architecture as the papers draw it: stem, each stage's block ×N, shapes, params, FLOPs, receptive field."""
        from resnet_cli.render import emit as render

        if output is not None:
            from resnet_cli.render.images import check_image_path

            check_image_path(output, "--output")
        figure, notes = draw_diagram(model, input, depth, overrides)
        console = render.stderr_console()
        for note in notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        if output is None:
            from resnet_cli.views.draw import terminal

            results = render.stdout_console()
            results.print(terminal(figure, results.width))
            return
        from resnet_cli.render.diagram import save_diagram

        save_diagram(figure, output)
        console.print(f"wrote {output}", markup=False, highlight=False)
