"""The command line: thin Typer commands that parse, make one call and render.

torch is imported inside the commands only, so ``resnet-cli --help`` answers at once.
"""

from __future__ import annotations

import sys

import typer

from resnet_cli import __version__
from resnet_cli.options import (
    ChartOpt,
    DepthOpt,
    FormatOpt,
    InputOpt,
    ModelArg,
    boundary,
    check_choice,
    check_format,
    error_line,
    with_spec_options,
)

app = typer.Typer(
    name="resnet-cli",
    help="Build any ResNet variant and see exactly what it costs: shapes, parameters, FLOPs, memory, latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resnet-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build any ResNet variant and see exactly what it costs."""


@app.command("list")
@boundary
def list_models(fmt: FormatOpt = "table") -> None:
    """Every registered variant: family, block, blocks per stage, parameters, GFLOPs at its default input."""
    fmt = check_format(fmt)
    from resnet_cli.catalog import catalog
    from resnet_cli.present import present_list

    present_list(catalog(), fmt)


@app.command()
@with_spec_options
@boundary
def summary(
    model: ModelArg = None,
    input: InputOpt = None,
    depth: DepthOpt = "stage",
    fmt: FormatOpt = "table",
    chart: ChartOpt = None,
    *,
    overrides: dict,
) -> None:
    """Per-stage output shapes, parameters, FLOPs and receptive fields of a ResNet (default resnet50)."""
    fmt = check_format(fmt)
    depth = check_choice(depth, ("stage", "block", "layer"), "--depth")
    from resnet_cli.charts import check_chart_target

    check_chart_target(chart, fmt)
    from resnet_cli.report import summarize
    from resnet_cli.target import analyze_target, resolve_target
    from resnet_cli.present import present_summary

    target = resolve_target(model, overrides, input)
    built, analysis = analyze_target(target)
    present_summary(summarize(target, built, analysis, depth), fmt, chart)


@app.command()
@with_spec_options
@boundary
def flops(
    model: ModelArg = None,
    input: InputOpt = None,
    depth: DepthOpt = "stage",
    training: bool = typer.Option(False, "--training", help="Add the backward pass (from the real backward "
                                  "ops) and the activation memory a training step keeps."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | float16 | bfloat16: element size for "
                              "the memory figures."),
    fmt: FormatOpt = "table",
    *,
    overrides: dict,
) -> None:
    """Every operation accounted for: totals under each convention, by operator and module, memory."""
    fmt = check_format(fmt)
    depth = check_choice(depth, ("stage", "block", "layer"), "--depth")
    from resnet_cli.flops import dtype_bytes, flops_report
    from resnet_cli.flops_view import present_flops
    from resnet_cli.target import analyze_target, resolve_target

    dtype_bytes(dtype)
    target = resolve_target(model, overrides, input)
    built, analysis = analyze_target(target)
    _, step = analyze_target(target, training=True)
    present_flops(flops_report(target, built, analysis, step, depth, dtype.strip().lower(), training), fmt)


# ---- commands defined in their own modules register themselves below (one line each) ----
# (each module must not import torch at import time: `resnet-cli --help` stays instant)
from resnet_cli import compare_cli  # noqa: E402
compare_cli.register(app)
from resnet_cli import bench_cli  # noqa: E402
bench_cli.register(app)
from resnet_cli import draw_cli  # noqa: E402
draw_cli.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse errors become one stderr line with exit code 2, like our own usage errors."""
    command = typer.main.get_command(app)
    try:
        from resnet_cli.charts import chart_flag_argv

        result = command.main(args=chart_flag_argv(argv if argv is not None else sys.argv[1:]),
                              prog_name="resnet-cli", standalone_mode=False)
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except Exception as error:  # click's UsageError / BadParameter / NoSuchOption and Abort
        format_message = getattr(error, "format_message", None)
        if format_message is None and type(error).__name__ == "Abort":
            error_line("aborted")
            return 1
        if format_message is None:
            raise
        error_line(format_message().replace("\n", " "))
        return getattr(error, "exit_code", 2) or 2
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
