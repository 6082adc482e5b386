"""The ``draw`` command: parse, make one call, render. torch and matplotlib are imported inside it only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_cli.options import InputOpt, boundary, check_choice, with_spec_options

DrawModelArg = Annotated[Optional[str], typer.Argument(
    help="A registered name (see `resnet-cli list`), `custom`, or your own model: path/to/file.py:callable, "
         "package.module:callable.", show_default="resnet50", metavar="MODEL")]
DrawDepthOpt = Annotated[str, typer.Option("--depth", "-d", help="stage (each stage's repeated block once, ×N) "
                                           "| block (every block).")]
OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Write the figure to FILE.svg, FILE.png or FILE.pdf instead of drawing it in the "
                           "terminal.", metavar="FILE")]


def analyzed(model: str | None, overrides: dict, input_text: str | None):
    """(name, description, Analysis) of MODEL, however it is named."""
    from resnet_cli.compare import DEFAULT_USER_INPUT, analyze_user_model, is_user_model

    if model and is_user_model(model):
        from resnet_cli.errors import UsageError
        from resnet_cli.spec import parse_input_shape

        given = [option for option, value in overrides.items() if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: architecture flags change registered models; your own model's "
                             "structure comes from its code")
        shape = parse_input_shape(input_text) if input_text else DEFAULT_USER_INPUT
        built, analysis, _, _, failure = analyze_user_model(model, shape)
        if failure is not None:
            from resnet_cli.errors import UserCodeError

            raise UserCodeError(f"{model}: its forward fails in {failure.module or 'its own forward'}: "
                                f"{failure.reason}")
        return model, f"your model: {type(built).__name__}", analysis
    from resnet_cli.target import analyze_target, resolve_target

    target = resolve_target(model, overrides, input_text)
    _, analysis = analyze_target(target)
    return target.name, target.description, analysis


def register(app: typer.Typer) -> None:
    @app.command()
    @with_spec_options
    @boundary
    def draw(
        model: DrawModelArg = None,
        input: InputOpt = None,
        depth: DrawDepthOpt = "stage",
        output: OutputOpt = None,
        *,
        overrides: dict,
    ) -> None:
        """The architecture as the papers draw it: stem, each stage's block ×N, shapes, params, FLOPs, receptive field."""
        from resnet_cli.draw import DEPTHS

        depth = check_choice(depth, DEPTHS, "--depth")
        if output is not None:
            from resnet_cli.images import check_image_path

            check_image_path(output, "--output")
        from resnet_cli.draw import diagram

        figure = diagram(*analyzed(model, overrides, input), depth=depth)
        from resnet_cli import render

        if output is None:
            from resnet_cli.draw_view import terminal

            console = render.stdout_console()
            console.print(terminal(figure, console.width))
            return
        from resnet_cli.draw_image import save_diagram

        save_diagram(figure, output)
        render.stderr_console().print(f"wrote {output}", soft_wrap=True)
