"""The ``compare`` command: parse, make one call, present. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from resnet_cli.options import FormatOpt, InputOpt, boundary, check_format, with_spec_options

ThingsArg = Annotated[Optional[List[str]], typer.Argument(
    help="Two or more block kinds (basic, bottleneck, preact-basic, preact-bottleneck, resnext[-GxWd], wide, se, "
         "se-basic) or models (registered names, path/to/file.py:callable, package.module:callable).",
    show_default=False, metavar="BLOCK|MODEL")]
ChannelsOpt = Annotated[Optional[str], typer.Option(
    "--channels", help="Blocks: the equal input/output width they are also compared at (default 256).")]
SizeOpt = Annotated[Optional[str], typer.Option(
    "--size", help="Blocks: spatial size H = W of their input (default 56, ResNet's first stage at 224).")]
DrawOpt = Annotated[Optional[str], typer.Option(
    "--draw", help="Blocks: also draw them side by side with their conv-weight formulas to FILE.svg|png|pdf.",
    metavar="FILE")]
ChartOpt = Annotated[Optional[str], typer.Option(
    "--chart", help="Models: bars of each stage's share of parameters, FLOPs and activations, model beside model: "
                    "alone, in the terminal (instead of the table); --chart FILE.svg|png|pdf writes them to a file.",
    metavar="[FILE]")]
StagesOpt = Annotated[Optional[List[str]], typer.Option(
    "--stages", help="Models: top-level modules that start each stage, e.g. conv1,layer1,layer2,layer3,layer4,fc; "
                     "once for every model, or once per model in order ('default' keeps a model's own).")]


def _integer(text: str | None, option: str, default: int) -> int:
    """The option's integer (its range is checked by ``compare_blocks``)."""
    from resnet_cli.errors import UsageError

    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{option} '{text}' is not an integer") from None


def _verb(options: list[str]) -> str:
    return "applies" if len(options) == 1 else "apply"


def register(app: typer.Typer) -> None:
    @app.command()
    @with_spec_options
    @boundary
    def compare(
        things: ThingsArg = None,
        input: InputOpt = None,
        channels: ChannelsOpt = None,
        size: SizeOpt = None,
        stages: StagesOpt = None,
        draw: DrawOpt = None,
        chart: ChartOpt = None,
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """Blocks layer by layer (`compare basic bottleneck`), or models stage by stage, your own included."""
        fmt = check_format(fmt)
        from resnet_cli.compare import DEFAULT_CHANNELS, DEFAULT_SIZE, classify, compare_blocks, compare_models
        from resnet_cli.errors import UsageError

        things = list(things or [])
        given = [option for option, value in overrides.items() if value is not None]
        if classify(things) == "blocks":
            model_only = given + [o for o, v in (("--input", input), ("--stages", stages), ("--chart", chart)) if v]
            if model_only:
                raise UsageError(f"{', '.join(model_only)} {_verb(model_only)} to model comparisons; blocks take --channels and "
                                 "--size")
            from resnet_cli.compare_view import present_blocks

            if draw is not None:
                from resnet_cli.images import check_image_path

                check_image_path(draw, "--draw")
            comparison = compare_blocks(things, _integer(channels, "--channels", DEFAULT_CHANNELS),
                                        _integer(size, "--size", DEFAULT_SIZE))
            present_blocks(comparison, fmt)
            if draw is not None:
                from resnet_cli.draw_image import save_blocks
                from resnet_cli.render import stderr_console

                save_blocks(comparison, draw)
                stderr_console().print(f"wrote {draw}", soft_wrap=True)
            return
        block_only = [o for o, v in (("--channels", channels), ("--size", size), ("--draw", draw))
                      if v is not None]
        if block_only:
            raise UsageError(f"{', '.join(block_only)} {_verb(block_only)} to block comparisons; models take --input NxCxHxW")
        from resnet_cli import charts
        from resnet_cli.compare_view import present_models
        from resnet_cli.render import stderr_console, stdout_console

        charts.check_chart_target(chart, fmt)
        comparison = compare_models(things, overrides, input, stages)
        for model in comparison.models:
            for note in model.notes:
                stderr_console().print(f"note: {note}", soft_wrap=True)
        data = [charts.stage_chart(m.name, m.stages) for m in comparison.models]
        if chart == charts.TERMINAL:
            console = stdout_console()
            console.print(charts.terminal_chart(data, console.width))
        else:
            present_models(comparison, fmt)
        if chart not in (None, charts.TERMINAL):
            charts.save_stage_chart(data, chart)
            stderr_console().print(f"wrote {chart}", soft_wrap=True)
        broken = [m for m in comparison.models if m.failure]
        if broken:  # the comparison up to the failure is on stdout; the failure is the user's code: exit 1
            from resnet_cli.errors import UserCodeError

            first = broken[0]
            raise UserCodeError(f"{first.name}: its forward fails in {first.failed_in or 'its own forward'}: "
                                f"{first.failure} (compared up to there above)")
