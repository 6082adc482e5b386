"""Command-line options shared by every command, declared once, and the one error boundary.

Values arrive as strings and are validated by the project's own parsers (``resnet_cli.spec``), so a bad
value gets one line naming it and what is accepted, never a usage panel or a traceback.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from typing import Annotated, Optional

import typer

from resnet_cli.errors import ResnetCliError, UsageError
from resnet_cli.render import FORMATS

SPEC = "Architecture overrides (change any field of MODEL)"

ModelArg = Annotated[Optional[str], typer.Argument(
    help="A registered name (see `resnet-cli list`), or `custom` to describe one by flags alone.",
    show_default="resnet50")]
InputOpt = Annotated[Optional[str], typer.Option(
    "--input", "-i", help="Input shape NxCxHxW, e.g. 1x3x224x224 (default: the model's own).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | csv | markdown.")]
DepthOpt = Annotated[str, typer.Option("--depth", "-d", help="stage | block | layer.")]
ChartOpt = Annotated[Optional[str], typer.Option(
    "--chart", help="Bars of each stage's share of parameters, FLOPs and activations: alone, in the terminal "
                    "(instead of the table); --chart FILE.svg|png|pdf writes them to a file.", metavar="[FILE]")]

BlockOpt = Annotated[Optional[str], typer.Option(
    "--block", help="basic | bottleneck | preact-basic | preact-bottleneck.", rich_help_panel=SPEC)]
LayersOpt = Annotated[Optional[str], typer.Option(
    "--layers", help="Blocks per stage, e.g. 3,4,6,3 (any number of stages).", rich_help_panel=SPEC)]
WidthsOpt = Annotated[Optional[str], typer.Option(
    "--widths", help="Base width of each stage, e.g. 64,128,256,512.", rich_help_panel=SPEC)]
StemOpt = Annotated[Optional[str], typer.Option(
    "--stem", help="7x7 | deep (three 3x3 convs, ResNet-C/D) | cifar (one 3x3/1 conv).", rich_help_panel=SPEC)]
StemWidthOpt = Annotated[Optional[str], typer.Option(
    "--stem-width", help="Channels out of the stem (64 for ImageNet nets, 16 for CIFAR).", rich_help_panel=SPEC)]
StemPoolOpt = Annotated[Optional[str], typer.Option(
    "--stem-pool", help="true | false: the 3x3/2 max-pool after the stem.", rich_help_panel=SPEC)]
StrideAtOpt = Annotated[Optional[str], typer.Option(
    "--stride-at", help="v1 (first 1x1, the paper) | v1.5 (3x3, torchvision) | last-block (Keras V2).",
    rich_help_panel=SPEC)]
ShortcutOpt = Annotated[Optional[str], typer.Option(
    "--shortcut", help="projection (option B) | avgpool (ResNet-D) | zero-pad (option A).", rich_help_panel=SPEC)]
GroupsOpt = Annotated[Optional[str], typer.Option(
    "--groups", help="Groups of the 3x3 conv (ResNeXt cardinality).", rich_help_panel=SPEC)]
WidthPerGroupOpt = Annotated[Optional[str], typer.Option(
    "--width-per-group", help="Width per group (64 = ResNet, 4 = ResNeXt 32x4d, 128 = Wide).",
    rich_help_panel=SPEC)]
SeOpt = Annotated[Optional[str], typer.Option(
    "--se", help="true | false: squeeze-and-excitation in every block.", rich_help_panel=SPEC)]
DilateOpt = Annotated[Optional[str], typer.Option(
    "--dilate", help="Per stage after the first: dilation instead of stride, e.g. 0,1,1.", rich_help_panel=SPEC)]
ConvBiasOpt = Annotated[Optional[str], typer.Option(
    "--conv-bias", help="none | all (Keras V1) | unless-bn (Keras V2).", rich_help_panel=SPEC)]
NumClassesOpt = Annotated[Optional[str], typer.Option(
    "--num-classes", help="Outputs of the final fc layer.", rich_help_panel=SPEC)]
InChannelsOpt = Annotated[Optional[str], typer.Option(
    "--in-channels", help="Input channels the stem takes.", rich_help_panel=SPEC)]


SPEC_OPTIONS = {  # parameter name -> its option, in the order --help lists them
    "block": BlockOpt, "layers": LayersOpt, "widths": WidthsOpt, "stem": StemOpt, "stem_width": StemWidthOpt,
    "stem_pool": StemPoolOpt, "stride_at": StrideAtOpt, "shortcut": ShortcutOpt, "groups": GroupsOpt,
    "width_per_group": WidthPerGroupOpt, "se": SeOpt, "dilate": DilateOpt, "conv_bias": ConvBiasOpt,
    "num_classes": NumClassesOpt, "in_channels": InChannelsOpt,
}


def with_spec_options(command):
    """Give a command the 15 architecture override options, declared once here.

    The command takes one keyword ``overrides`` instead: ``{"--block": value or None, …}``, as
    ``resnet_cli.target.resolve_target`` takes them.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "overrides"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
             for name, annotation in SPEC_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        overrides = spec_overrides(**{name: kwargs.pop(name, None) for name in SPEC_OPTIONS})
        return command(*args, overrides=overrides, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)
    return wrapper


def spec_overrides(block=None, layers=None, widths=None, stem=None, stem_width=None, stem_pool=None,
                   stride_at=None, shortcut=None, groups=None, width_per_group=None, se=None, dilate=None,
                   conv_bias=None, num_classes=None, in_channels=None) -> dict[str, Optional[str]]:
    """The override options as ``resnet_cli.target.resolve_target`` takes them."""
    return {
        "--block": block, "--layers": layers, "--widths": widths, "--stem": stem, "--stem-width": stem_width,
        "--stem-pool": stem_pool, "--stride-at": stride_at, "--shortcut": shortcut, "--groups": groups,
        "--width-per-group": width_per_group, "--se": se, "--dilate": dilate, "--conv-bias": conv_bias,
        "--num-classes": num_classes, "--in-channels": in_channels,
    }


def check_choice(value: str, accepted: tuple[str, ...], option: str) -> str:
    lowered = value.strip().lower()
    if lowered not in accepted:
        raise UsageError(f"{option} '{value}' is not accepted; choose one of: {', '.join(accepted)}")
    return lowered


def check_format(value: str) -> str:
    return check_choice(value, FORMATS, "--format")


def error_line(message: str) -> None:
    sys.stderr.write(f"resnet-cli: error: {message}\n")
    sys.stderr.flush()


def boundary(command):
    """The one error boundary: our errors become one stderr line and an exit code, never a traceback.

    Set RESNET_CLI_DEBUG=1 to see the traceback of an unexpected error.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except ResnetCliError as error:
            error_line(str(error))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None
        except Exception as error:  # a bug of ours: still one line, unless debugging
            if os.environ.get("RESNET_CLI_DEBUG"):
                raise
            error_line(f"unexpected {type(error).__name__}: {error} (set RESNET_CLI_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None

    return wrapper
