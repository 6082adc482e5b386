"""The command line: thin Typer commands over the Python API (``resnet_cli.api``), and the entry point.

Each command takes typed values (``resnet_cli.cli.options``), makes one API call and emits its document.
``main`` is the one boundary of the process: our errors, click's parse errors, Ctrl-C, SIGTERM and a closed
pipe each end in one stderr line (or none, for the pipe) and a documented exit code. (While a command runs,
``sys.stdout`` points at stderr and results go to the real stdout: see ``resnet_cli.cli.options.boundary``.)
torch is imported inside the commands only, so ``resnet-cli --help`` answers at once.
"""

from __future__ import annotations

import os
import sys

import typer

from resnet_cli import __version__
from resnet_cli.base.errors import (
    BROKEN_PIPE_EXIT,
    INTERRUPTED_EXIT,
    ClosedPipe,
    ResnetCliError,
    Terminated,
    error_line,
    first_line,
)
from resnet_cli.base.text import shown

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
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build any ResNet variant and see exactly what it costs."""


# ---- the commands, one module each, registered in the order --help lists them ----
# (no command module imports torch at import time: `resnet-cli --help` stays instant)
from resnet_cli.cli import bench as bench_cli  # noqa: E402
from resnet_cli.cli import compare as compare_cli  # noqa: E402
from resnet_cli.cli import draw as draw_cli  # noqa: E402
from resnet_cli.cli import flops as flops_cli  # noqa: E402
from resnet_cli.cli import list as list_cli  # noqa: E402
from resnet_cli.cli import profile as profile_cli  # noqa: E402
from resnet_cli.cli import summary as summary_cli  # noqa: E402

for _command in (list_cli, summary_cli, flops_cli, compare_cli, bench_cli, draw_cli, profile_cli):
    _command.register(app)


# ---- the entry point ----


def _standard_streams() -> None:
    """Before anything else: a closed fd 0, 1 or 2 (``>&-``) gets /dev/null, so no file we open later takes its
    number (a history appended through fd 1 …); a closed stdout is remembered (results then fail in one line,
    after every file was written). Streams whose encoding lacks characters we print fall back to ASCII."""
    from resnet_cli.render.streams import fit_encoding

    for number in (0, 1, 2):
        try:
            os.fstat(number)
        except OSError:
            try:
                descriptor = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if descriptor != number:
                os.dup2(descriptor, number)
                os.close(descriptor)
            if number == 1:
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
                sys.stdout.resnet_cli_closed = True
            elif number == 2:
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    if sys.stdout is None:  # an embedding application
        return
    sys.stdout = fit_encoding(sys.stdout)
    sys.stderr = fit_encoding(sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe: point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
    except (OSError, AttributeError, ValueError):
        pass


def _closed_pipe(console) -> None:
    # rich's own reaction is exit(1) after pointing fd 1 at /dev/null; ours is the same for every format
    console.quiet = True
    raise ClosedPipe()


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 runtime failure, 2 usage error, 130 Ctrl-C, 143 SIGTERM,
    141 when the reader of stdout went away)."""
    import rich.console  # typer prints help with rich: its broken-pipe reaction must be ours too

    from resnet_cli.base import signals

    rich.console.Console.on_broken_pipe = _closed_pipe
    command = typer.main.get_command(app)
    _standard_streams()
    try:
        with signals.handling(), signals.where("starting (reading the command line)"):
            from resnet_cli.render.charts import chart_flag_argv

            result = command.main(
                args=chart_flag_argv(argv if argv is not None else sys.argv[1:]),
                prog_name="resnet-cli",
                standalone_mode=False,
            )
            sys.stdout.flush()  # a closed pipe shows here, inside the boundary, not at interpreter exit
        if signals.stopping() and not signals.said():  # stopped before a command's boundary (typer: a bare 130)
            error_line(signals.stop_line())
            return signals.exit_code()
    except (BrokenPipeError, ClosedPipe):
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except ResnetCliError as error:
        for line in getattr(error, "details", ()):  # e.g. a checkpoint's tensor names: escaped, as every line
            sys.stderr.write(f"  {shown(line, None)}\n")
        error_line(error.for_command_line())
        return error.exit_code
    except OSError as error:  # outside a command: writing --help or --version to a full or broken stdout
        _silence_stdout()
        reason = error.strerror or type(error).__name__
        place = f" ({shown(error.filename)})" if getattr(error, "filename", None) else " to stdout"
        error_line(f"cannot write{place}: {reason}")
        return 1
    except KeyboardInterrupt as stop:  # met before a command's boundary (parsing its options)
        error_line(signals.stop_line(stop))
        return Terminated.exit_code if isinstance(stop, Terminated) else INTERRUPTED_EXIT
    except SystemExit as exit_:
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # click met a closed pipe while printing
            _silence_stdout()
            return BROKEN_PIPE_EXIT
        error_line(f"unexpected exit ({exit_.code!r})")  # user code is guarded; this is a last resort
        return 1
    except Exception as error:  # noqa: BLE001 - click's UsageError / BadParameter / NoSuchOption and Abort
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
    """The console script: ``main`` in a child process a small parent watches (``resnet_cli.cli.supervisor``),
    so user code that ends the process (``os._exit``, a signal it sends itself) is never read as success."""
    from resnet_cli.cli.supervisor import supervised

    code = supervised(main)
    _quiet_end()
    sys.exit(code)


def _quiet_end() -> None:
    """The command is over and its line said: a Ctrl-C or SIGTERM still arriving (the second of two 50 ms
    apart) must not put a traceback into the interpreter's exit."""
    import signal

    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(number, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
