"""Command-line options, declared once, typed at the edge; and the one error boundary.

Every option's text goes through a parser of ``resnet_cli.base.values`` (given to Typer as ``parser=``), so the
commands receive typed, bounded values and a bad value gets one line naming it and what is accepted.
The architecture options are not written here at all: they are generated from the fields of
``resnet_cli.spec.fields.ResNetSpec`` that carry a ``Flag``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Optional

import typer

from resnet_cli.base import values
from resnet_cli.base.errors import ResnetCliError
from resnet_cli.render.emit import FORMATS
from resnet_cli.report.stages import DEPTHS
from resnet_cli.spec.fields import Flag
from resnet_cli.spec.overrides import field_parser, flag_fields

SPEC_PANEL = "Architecture overrides (change any field of MODEL)"

MODEL_HELP = (
    "What to analyse, resolved in this order: a registered name (see `resnet-cli list`) or `custom` with the "
    "architecture flags; path/to/file.py:callable or package.module:callable (a function or class returning "
    "an nn.Module); a checkpoint file (.pt, .pth, .bin: a state_dict; .safetensors), whose architecture is "
    "inferred from its tensor names and shapes."
)

ModelArg = Annotated[Optional[str], typer.Argument(help=MODEL_HELP, show_default="resnet50", metavar="MODEL")]
InputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--input",
        "-i",
        parser=values.parse_input_shape,
        metavar="NxCxHxW",
        help="Input shape NxCxHxW, e.g. 1x3x224x224 (default: the model's own).",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        parser=values.bound(values.parse_choice, "--format", FORMATS),
        metavar="FORMAT",
        help="table | json | csv | markdown.",
    ),
]
DepthOpt = Annotated[
    str,
    typer.Option(
        "--depth",
        "-d",
        parser=values.bound(values.parse_choice, "--depth", DEPTHS),
        metavar="DEPTH",
        help="stage | block | layer.",
    ),
]
ChartOpt = Annotated[
    Optional[str],
    typer.Option(
        "--chart",
        metavar="[FILE]",
        help="Bars of each stage's share of parameters, FLOPs and activations: alone, in the terminal (instead of "
        "the table); --chart FILE.svg|png|pdf writes them to a file beside the usual output.",
    ),
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        parser=values.parse_dtype,
        metavar="DTYPE",
        help="float32 | float16 | bfloat16 (also fp32, fp16, half, bf16).",
    ),
]

# bench and profile: where and how a model runs
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        parser=values.parse_device,
        metavar="DEVICE",
        help="auto | cpu | cuda | cuda:N (auto: cuda:0 if available).",
    ),
]

ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="Model and input in channels-last (NHWC).")]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        parser=values.bound(values.parse_int, "--threads", 1, values.MAX_THREADS),
        metavar="N",
        help="CPU intra-op threads (default: torch.get_num_threads()).",
    ),
]

WeightsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--weights",
        metavar="FILE",
        help="Load this checkpoint (.pt/.pth/.bin state_dict or .safetensors) into the "
        "model; every missing, unexpected or mis-shaped tensor is listed (exit 1).",
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Also run fvcore's FlopCountAnalysis on a real CPU copy of the model (at the same input) and "
        "show its count beside ours, stage by stage; any disagreement exits 1.",
    ),
]
StagesOpt = Annotated[
    Optional[str],
    typer.Option(
        "--stages",
        metavar="A,B,...",
        help="Top-level modules that start each stage, e.g. conv1,layer1,layer2,fc "
        "(default: stem/layerN/head for torchvision/timm layouts, else each top-level module).",
    ),
]


def stage_names(text: str | None) -> tuple[str, ...] | None:
    """--stages a,b,c as names (None: not given)."""
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        from resnet_cli.base.errors import UsageError

        raise UsageError(f"--stages '{text}' is empty; give top-level module names, e.g. conv1,layer1,layer2")
    return names


def emit_result(result, fmt: str, chart: str | None = None, chart_data=None, heading: str | None = None) -> None:
    """Notes for people on stderr, the result on stdout, then the verdict of --verify (exit 1 if it failed).

    ``chart`` (summary --chart): "-" draws ``chart_data()``'s bars in the terminal instead of the document;
    a file name writes them there, beside the document."""
    from resnet_cli.base.errors import RuntimeFailure
    from resnet_cli.render import emit as render

    render.say(result.notes)
    if chart is None:
        render.emit(result.document, fmt)
    else:
        from resnet_cli.render.charts import show_chart

        show_chart(chart, chart_data(), lambda: render.emit(result.document, fmt), heading)
    verification = result.verification
    if verification is not None and verification.error:
        raise RuntimeFailure(f"--verify: {verification.error}")
    if verification is not None and not verification.agrees:
        raise RuntimeFailure(f"--verify: fvcore disagrees with our count at {', '.join(verification.disagreeing)}")


# ---- the architecture options, generated from the spec's fields ----


def _spec_options() -> dict[str, Any]:
    options = {}
    for name, (annotation, flag) in flag_fields().items():
        metavar = flag.metavar
        if metavar is None:
            metavar = "BOOL" if annotation is bool else "INT" if annotation is int else "CHOICE"
        options[name] = Annotated[
            Optional[str],
            typer.Option(
                Flag.option_name(name),
                parser=field_parser(name, annotation, flag),
                help=flag.help,
                metavar=metavar,
                rich_help_panel=SPEC_PANEL,
                show_default=False,
            ),
        ]
    return options


SPEC_OPTIONS = _spec_options()  # spec field -> its Typer option, in the order of the fields


def with_spec_options(command):
    """Give a command every architecture option. The command takes one keyword ``overrides`` instead: the
    typed values of the options given, keyed by spec field (``{"stem_width": 32}``)."""
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "overrides"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in SPEC_OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        overrides = {name: kwargs.pop(name) for name in SPEC_OPTIONS if kwargs.get(name) is not None}
        for name in SPEC_OPTIONS:
            kwargs.pop(name, None)
        return command(*args, overrides=overrides, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)
    return wrapper


# ---- the one error boundary ----


def boundary(command):
    """Run a command's body: file descriptor 1 points at stderr while it runs and results go to the real stdout
    (``render.streams.results_kept``: nothing the user's model writes, at any level, can corrupt a JSON
    document); Ctrl-C and SIGTERM end with one line saying where they came and their exit codes
    (``base.signals``); an OS error is one line naming what failed; a bug of ours becomes one line (set
    RESNET_CLI_DEBUG=1 to see its traceback). Our own errors go up to the entry point, which prints them
    (``resnet_cli.cli.app.main``).
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from resnet_cli.base import signals
        from resnet_cli.base.errors import INTERRUPTED_EXIT, ClosedPipe, Terminated, error_line, report_unexpected
        from resnet_cli.render.emit import results_kept

        name = command.__name__.rstrip("_")
        try:
            with signals.where(f"running `{name}`"), results_kept():
                return command(*args, **kwargs)
        except typer.Exit:
            if signals.stopping():  # a command that met the stop and said so (bench's, profile's warning)
                signals.mark_said()
            raise
        except (ResnetCliError, ClosedPipe):
            raise
        except BrokenPipeError:
            raise ClosedPipe() from None
        except KeyboardInterrupt as stop:  # click would turn these into a bare "Aborted!": end them here
            with signals.saving():  # a second Ctrl-C cannot cut this line
                error_line(signals.stop_line(stop))
            raise typer.Exit(Terminated.exit_code if isinstance(stop, Terminated) else INTERRUPTED_EXIT) from None
        except OSError as error:  # the system refused something we did not name a path for
            raise os_failure(error) from None
        except Exception as error:  # a bug of ours: still one line, unless debugging
            raise report_unexpected(error) from error

    return wrapper


def os_failure(error: OSError):
    """An OSError no layer named: one true line, exit 1 (the file it concerns, when the system says)."""
    from resnet_cli.base.errors import RuntimeFailure
    from resnet_cli.base.values import shown

    reason = error.strerror or type(error).__name__
    where = f" ({shown(error.filename)})" if getattr(error, "filename", None) else ""
    return RuntimeFailure(f"the system refused an operation{where}: {reason}")
