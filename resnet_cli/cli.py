"""The command line: thin Typer commands over the Python API (``resnet_cli.api``), and the entry point.

Each command takes typed values (``resnet_cli.options``), makes one API call and emits its document.
``main`` is the one boundary of the process: our errors, click's parse errors, Ctrl-C, SIGTERM and a closed
pipe each end in one stderr line (or none, for the pipe) and a documented exit code. (While a command runs,
``sys.stdout`` points at stderr and results go to the real stdout: see ``resnet_cli.options.boundary``.)
torch is imported inside the commands only, so ``resnet-cli --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Annotated, Optional

import typer

from resnet_cli import __version__, render, values
from resnet_cli.errors import (
    BROKEN_PIPE_EXIT,
    INTERRUPTED_EXIT,
    ResnetCliError,
    Terminated,
    error_line,
    first_line,
)
from resnet_cli.options import (
    DepthOpt,
    DtypeOpt,
    FormatOpt,
    InputOpt,
    ModelArg,
    boundary,
    with_spec_options,
)
from resnet_cli.registry import FAMILIES

app = typer.Typer(
    name="resnet-cli",
    help="Build any ResNet variant and see exactly what it costs: shapes, parameters, FLOPs, memory, latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

WeightsOpt = Annotated[Optional[str], typer.Option(
    "--weights", metavar="FILE", help="Load this checkpoint (.pt/.pth/.bin state_dict or .safetensors) into the "
    "model; every missing, unexpected or mis-shaped tensor is listed (exit 1).")]
StagesOpt = Annotated[Optional[str], typer.Option(
    "--stages", metavar="A,B,...", help="Top-level modules that start each stage, e.g. conv1,layer1,layer2,fc "
    "(default: stem/layerN/head for torchvision/timm layouts, else each top-level module).")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resnet-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build any ResNet variant and see exactly what it costs."""


def stage_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        from resnet_cli.errors import UsageError

        raise UsageError(f"--stages '{text}' is empty; give top-level module names, e.g. conv1,layer1,layer2")
    return names


FamilyOpt = Annotated[Optional[str], typer.Option(
    "--family", parser=values.bound(values.parse_choice, "--family", tuple(FAMILIES)), metavar="FAMILY",
    help="Only this family: " + " | ".join(FAMILIES) + ".")]


@app.command("list")
@boundary
def list_models(family: FamilyOpt = None, fmt: FormatOpt = "table") -> None:
    """Every registered variant by family, with the reference it is checked against: block, blocks per stage,
    parameters, GFLOPs and GMACs at its default input."""
    from resnet_cli.catalog import catalog, families
    from resnet_cli.present import list_document

    render.emit(list_document(catalog(family), families(family)), fmt)


@app.command()
@with_spec_options
@boundary
def summary(
    model: ModelArg = None,
    input: InputOpt = None,
    depth: DepthOpt = "stage",
    weights: WeightsOpt = None,
    stages: StagesOpt = None,
    fmt: FormatOpt = "table",
    *,
    overrides: dict,
) -> None:
    """Per-stage output shapes, parameters and FLOPs of a model (default resnet50)."""
    from resnet_cli import api

    result = api.summary(model, input, depth, weights=weights, stages=stage_names(stages), **overrides)
    render.emit(result.document, fmt)


@app.command()
@with_spec_options
@boundary
def flops(
    model: ModelArg = None,
    input: InputOpt = None,
    depth: DepthOpt = "stage",
    training: bool = typer.Option(False, "--training", help="Add the backward pass (from the real backward "
                                  "ops) and the activation memory a training step keeps."),
    dtype: DtypeOpt = "float32",
    weights: WeightsOpt = None,
    stages: StagesOpt = None,
    fmt: FormatOpt = "table",
    *,
    overrides: dict,
) -> None:
    """Every operation accounted for: totals under each convention, by operator and module, memory."""
    from resnet_cli import api

    result = api.flops(model, input, training, depth, dtype, weights=weights, stages=stage_names(stages),
                       **overrides)
    render.emit(result.document, fmt)


# ---- commands defined in their own modules register themselves below (one line each) ----
# (each module must not import torch at import time: `resnet-cli --help` stays instant)
from resnet_cli import compare_cli  # noqa: E402

compare_cli.register(app)
from resnet_cli import bench_cli  # noqa: E402

bench_cli.register(app)


# ---- the entry point ----

def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """After a broken pipe: point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 runtime failure, 2 usage error, 130 Ctrl-C, 143 SIGTERM,
    141 when the reader of stdout went away)."""
    command = typer.main.get_command(app)
    try:
        with _sigterm_as_interrupt():
            result = command.main(args=argv if argv is not None else sys.argv[1:], prog_name="resnet-cli",
                                  standalone_mode=False)
            sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at interpreter exit
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except ResnetCliError as error:
        for line in getattr(error, "details", ()):
            sys.stderr.write(f"  {line}\n")
        error_line(str(error))
        return error.exit_code
    except Terminated:
        error_line("terminated (SIGTERM)")
        return Terminated.exit_code
    except KeyboardInterrupt:
        error_line("interrupted")
        return INTERRUPTED_EXIT
    except SystemExit as exit_:  # only user code could raise it this far, and it is guarded: still one line
        error_line(f"unexpected exit ({exit_.code!r})")
        return 1
    except Exception as error:  # click's UsageError / BadParameter / NoSuchOption and Abort
        format_message = getattr(error, "format_message", None)
        if format_message is None and type(error).__name__ == "Abort":
            error_line("aborted")
            return 1
        if format_message is None:
            error_line(f"unexpected {type(error).__name__}: {first_line(error)}")
            return 1
        error_line(format_message())
        return getattr(error, "exit_code", 2) or 2
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
