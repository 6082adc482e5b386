"""The ``compare`` command: parse, make one call, present. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from resnet_cli.options import FormatOpt, InputOpt, boundary, check_format, with_spec_options

ThingsArg = Annotated[Optional[List[str]], typer.Argument(
    help="Two or more block kinds (basic, bottleneck, preact-basic, preact-bottleneck, resnext[-GxWd], wide, se, "
         "se-basic), or models (registered names, path/to/file.py:callable, package.module:callable): one model "
         "alone is compared with the registered variant closest to it.",
    show_default=False, metavar="BLOCK|MODEL")]
ChannelsOpt = Annotated[Optional[str], typer.Option(
    "--channels", help="Blocks: the equal input/output width they are also compared at (default 256).")]
SizeOpt = Annotated[Optional[str], typer.Option(
    "--size", help="Blocks: spatial size H = W of their input (default 56, ResNet's first stage at 224).")]
StagesOpt = Annotated[Optional[List[str]], typer.Option(
    "--stages", help="Models: top-level modules that start each stage, e.g. conv1,layer1,layer2,layer3,layer4,fc; "
                     "once for every model, or once per model in order ('default' keeps a model's own).")]

ExportOpt = Annotated[Optional[str], typer.Option(
    "--export-weights", help="Models: write the first model's weights under the second model's parameter names "
                             "(safetensors; .pt/.pth: torch.save), if every tensor has a counterpart.",
    metavar="FILE")]
SeedOpt = Annotated[Optional[str], typer.Option(
    "--seed", help="Models, with --export-weights: the seed the first model's weights are initialised with "
                   "(default 0).")]


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
        export_weights: ExportOpt = None,
        seed: SeedOpt = None,
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """Blocks layer by layer (`compare basic bottleneck`), or models aligned layer by layer: every difference
        named, the closest registered variant found, weights ported (`compare resnet50 my_resnet.py:build`)."""
        fmt = check_format(fmt)
        from resnet_cli.compare import DEFAULT_CHANNELS, DEFAULT_SIZE, classify, compare_blocks
        from resnet_cli.errors import UsageError

        things = list(things or [])
        given = [option for option, value in overrides.items() if value is not None]
        if classify(things) == "blocks":
            model_only = given + [o for o, v in (("--input", input), ("--stages", stages),
                                                 ("--export-weights", export_weights), ("--seed", seed)) if v]
            if model_only:
                raise UsageError(f"{', '.join(model_only)} {_verb(model_only)} to model comparisons; blocks take --channels and "
                                 "--size")
            from resnet_cli.compare_view import present_blocks

            present_blocks(compare_blocks(things, _integer(channels, "--channels", DEFAULT_CHANNELS),
                                          _integer(size, "--size", DEFAULT_SIZE)), fmt)
            return
        block_only = [o for o, v in (("--channels", channels), ("--size", size)) if v is not None]
        if block_only:
            raise UsageError(f"{', '.join(block_only)} {_verb(block_only)} to block comparisons; models take --input NxCxHxW")
        if seed is not None and export_weights is None:
            raise UsageError("--seed applies to --export-weights (the seed of the weights it ports)")
        from resnet_cli.compare_models_view import present_models
        from resnet_cli.model_compare import compare_models, export_weights as export
        from resnet_cli.render import stderr_console

        seed_value = _integer(seed, "--seed", 0)
        if not 0 <= seed_value < 2**63:
            raise UsageError(f"--seed {seed_value}: must be from 0 to 2**63 - 1")
        comparison = compare_models(things, overrides, input, stages, export=export_weights)
        for model in comparison.models:
            for note in model.notes:
                stderr_console().print(f"note: {note}", soft_wrap=True)
        present_models(comparison, fmt)
        broken = [m for m in comparison.models if m.failure]
        if broken:  # the comparison up to the failure is on stdout; the failure is the user's code: exit 1
            from resnet_cli.errors import UserCodeError

            first = broken[0]
            raise UserCodeError(f"{first.name}: its forward fails in {first.failed_in or 'its own forward'}: "
                                f"{first.failure} (compared up to there above)")
        if export_weights is not None:
            written = export(comparison, export_weights, seed_value)
            same = "" if written["identical"] else " (the models differ as listed: the weights load, the outputs differ)"
            stderr_console().print(
                f"wrote {written['tensors']} tensors of {written['source']} (initialised with seed {written['seed']}) "
                f"under {written['target']}'s names to {written['path']} ({written['format']}){same}", soft_wrap=True)
