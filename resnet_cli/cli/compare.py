"""The ``compare`` command: parse, make one call, present. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_cli.base import values
from resnet_cli.cli.options import FormatOpt, InputOpt, WeightsOpt, boundary, with_spec_options

ThingsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        help="Two or more block kinds (basic, bottleneck, preact-basic, preact-bottleneck, resnext[-GxWd], wide, se, "
        "se-basic), or models (registered names, path/to/file.py:callable, package.module:callable): one model "
        "alone is compared with the registered variant closest to it.",
        show_default=False,
        metavar="BLOCK|MODEL",
    ),
]
ChannelsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--channels",
        parser=values.bound(values.parse_int, "--channels"),
        metavar="INT",
        help="Blocks: the equal input/output width they are also compared at (default 256).",
    ),
]
SizeOpt = Annotated[
    Optional[str],
    typer.Option(
        "--size",
        parser=values.bound(values.parse_int, "--size", 1, values.MAX_DIMENSION),
        metavar="INT",
        help="Blocks: spatial size H = W of their input (default 56, ResNet's first stage at 224).",
    ),
]
DrawOpt = Annotated[
    Optional[str],
    typer.Option(
        "--draw",
        metavar="FILE",
        help="Blocks: also draw them side by side with their conv-weight formulas to FILE.svg|png|pdf.",
    ),
]
ChartOpt = Annotated[
    Optional[str],
    typer.Option(
        "--chart",
        metavar="[FILE]",
        help="Models: bars of each stage's share of parameters, FLOPs and activations, model beside model: alone, "
        "in the terminal (instead of the table); --chart FILE.svg|png|pdf writes them to a file.",
    ),
]
StagesOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--stages",
        help="Models: top-level modules that start each stage, e.g. conv1,layer1,layer2,layer3,layer4,fc; "
        "once for every model, or once per model in order ('default' keeps a model's own).",
    ),
]

ExportOpt = Annotated[
    Optional[str],
    typer.Option(
        "--export-weights",
        help="Models: write the first model's weights under the second model's parameter names "
        "(safetensors; .pt/.pth: torch.save), if every tensor has a counterpart.",
        metavar="FILE",
    ),
]
SeedOpt = Annotated[
    Optional[str],
    typer.Option(
        "--seed",
        parser=values.bound(values.parse_int, "--seed", 0, 2**63 - 1),
        metavar="INT",
        help="Models, with --export-weights: the seed the first model's weights are initialised with (default 0).",
    ),
]


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
        export_weights: ExportOpt = None,
        seed: SeedOpt = None,
        weights: WeightsOpt = None,
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """Blocks layer by layer (`compare basic bottleneck`), or models aligned layer by layer: every difference
        named, the closest registered variant found, weights ported (`compare resnet50 my_resnet.py:build`)."""
        from resnet_cli import api
        from resnet_cli.base import signals
        from resnet_cli.base.errors import ResnetCliError, UserCodeError
        from resnet_cli.base.text import shown
        from resnet_cli.render import emit as render

        things = list(things or [])
        from resnet_cli.comparison.rules import check_options
        from resnet_cli.render import charts
        from resnet_cli.render.images import check_image_path

        given = {
            "input": input is not None,
            "stages": bool(stages),
            "chart": chart is not None,
            "export_weights": export_weights is not None,
            "seed": seed is not None,
            "weights": weights is not None,
            "channels": channels is not None,
            "size": size is not None,
            "draw": draw is not None,
        }
        blocks = check_options(things, given, tuple(overrides)) == "blocks"
        if not blocks and export_weights is not None:
            from resnet_cli.comparison.models import check_export

            check_export(things, export_weights)  # before any work
        if draw is not None:
            check_image_path(draw, "--draw")
        charts.check_chart_target(chart, fmt)
        result = api.compare(
            *things, input=input, channels=channels, size=size, stages=stages, weights=weights, **overrides
        )
        render.say(result.notes)  # each once: a checkpoint named twice has one note
        # the files first (a signal held while each is written), then stdout: a closed stdout cannot lose them
        broken = [m for m in getattr(result.report, "models", ()) if m.failure]
        refused = None
        with signals.saving():
            if draw is not None:
                from resnet_cli.render.diagram import save_blocks

                save_blocks(result.report, draw)
                render.wrote(draw)
            if export_weights is not None and not broken:
                from resnet_cli.comparison.models import export_weights as export

                try:
                    written = export(result.report, export_weights, 0 if seed is None else seed)
                except ResnetCliError as error:  # the comparison still goes to stdout, then this line
                    refused = error
                else:
                    same = (
                        ""
                        if written["identical"]
                        else " (the models differ as listed: the weights load, the outputs differ)"
                    )
                    origin = (
                        f"from {weights}" if written["seed"] is None else f"initialised with seed {written['seed']}"
                    )
                    render.wrote(
                        written["path"],
                        f"{written['tensors']} tensors of {written['source']} ({origin}) under "
                        f"{written['target']}'s names, {written['format']}{same}",
                    )
        if chart is None:
            render.emit(result.document, fmt)
        else:
            data = [charts.stage_chart(m.name, m.stages) for m in result.report.models]
            charts.show_chart(chart, data, lambda: render.emit(result.document, fmt))
        if refused is not None:
            raise refused
        if broken:  # the comparison up to the failure is on stdout; the failure is the user's code: exit 1
            first = broken[0]
            place = (
                f"module '{shown(first.failed_in)}' ({first.failed_type})"
                if first.failed_in
                else f"{shown(first.failed_type)}.forward itself"
                if first.failed_type
                else "the model's own forward"
            )
            raise UserCodeError(
                f"{shown(first.name)}: its forward fails in {place}: "
                f"{shown(first.failure_why or first.failure, 400)} (compared up to there above)"
            )
