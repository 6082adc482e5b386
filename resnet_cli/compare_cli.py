"""The ``compare`` command: parse, make one call, present. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from resnet_cli import values
from resnet_cli.options import FormatOpt, InputOpt, boundary, with_spec_options
from resnet_cli.spec import Flag

ThingsArg = Annotated[Optional[List[str]], typer.Argument(
    help="Two or more block kinds (basic, bottleneck, preact-basic, preact-bottleneck, resnext[-GxWd], wide, se, "
         "se-basic) or models (registered names, path/to/file.py:callable, package.module:callable).",
    show_default=False, metavar="BLOCK|MODEL")]
ChannelsOpt = Annotated[Optional[str], typer.Option(
    "--channels", parser=values.bound(values.parse_int, "--channels"), metavar="INT", help="Blocks: the equal input/output width they are also compared at (default 256).")]
SizeOpt = Annotated[Optional[str], typer.Option(
    "--size", parser=values.bound(values.parse_int, "--size", 1, values.MAX_DIMENSION), metavar="INT", help="Blocks: spatial size H = W of their input (default 56, ResNet's first stage at 224).")]
StagesOpt = Annotated[Optional[List[str]], typer.Option(
    "--stages", help="Models: top-level modules that start each stage, e.g. conv1,layer1,layer2,layer3,layer4,fc; "
                     "once for every model, or once per model in order ('default' keeps a model's own).")]


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
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """Blocks layer by layer (`compare basic bottleneck`), or models stage by stage, your own included."""
        from resnet_cli import api, render
        from resnet_cli.errors import UsageError, UserCodeError

        things = list(things or [])
        given = [Flag.option_name(name) for name in overrides]
        from resnet_cli.comparison import classify

        if classify(things) == "blocks":
            model_only = given + [o for o, v in (("--input", input), ("--stages", stages)) if v]
            if model_only:
                raise UsageError(f"{', '.join(model_only)} {_verb(model_only)} to model comparisons; blocks take "
                                 "--channels and --size")
        else:
            block_only = [o for o, v in (("--channels", channels), ("--size", size)) if v is not None]
            if block_only:
                raise UsageError(f"{', '.join(block_only)} {_verb(block_only)} to block comparisons; models take "
                                 "--input NxCxHxW")
        result = api.compare(*things, input=input, channels=channels, size=size, stages=stages, **overrides)
        console = render.stderr_console()
        for note in result.notes:
            console.print(f"note: {note}", markup=False)
        render.emit(result.document, fmt)
        broken = [m for m in getattr(result.report, "models", ()) if m.failure]
        if broken:  # the comparison up to the failure is on stdout; the failure is the user's code: exit 1
            first = broken[0]
            raise UserCodeError(f"{first.name}: its forward fails in {first.failed_in or 'its own forward'}: "
                                f"{first.failure} (compared up to there above)")
