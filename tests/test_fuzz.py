"""Property tests (hypothesis): every parser, and the command line as a whole, on generated input.

Any value is either parsed into a typed value within its bounds or refused with one line that names the
option; any argument list ends with exit 0, 1 or 2 (130/141/143 need a signal or a pipe), never a traceback,
one line on stderr when it fails, and stdout that parses in the requested format when it succeeds.
Runs are derandomized (the same examples every time) and bounded so the suite stays fast.
"""

import csv
import enum
import io
import json

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_cli.base import values
from resnet_cli.base.errors import UsageError
from resnet_cli.spec.fields import BlockKind, StemKind

FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)
CLI = settings(
    max_examples=45,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# text people type, and text they do not mean to: other digits, signs, separators, control characters
digits = st.sampled_from(
    [
        "0",
        "1",
        "3",
        "7",
        "64",
        "224",
        "-1",
        "+2",
        "２２４",
        "٣",
        "1_0",
        "1e3",
        "0x10",
        "",
        " 5 ",
        "\n",
        "\x00",
        "9" * 25,
        str(2**63),
        "1.5",
        "nan",
        "inf",
    ]
)
junk = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
texts = st.one_of(
    digits,
    junk,
    st.lists(digits, min_size=1, max_size=6).map(",".join),
    st.lists(digits, min_size=1, max_size=6).map("x".join),
)


def _refusal(call) -> str | None:
    try:
        call()
    except UsageError as error:
        message = str(error)
        assert "\n" not in message and "\r" not in message
        return message
    return None


@FAST
@given(texts)
def test_parse_int(text):
    message = _refusal(lambda: values.parse_int(text, "--x", 1, 4096))
    if message is None:
        value = values.parse_int(text, "--x", 1, 4096)
        assert type(value) is int and 1 <= value <= 4096
        body = text.strip().removeprefix("+")
        assert body.isascii() and body.isdigit() and int(body) == value  # ASCII digits only: no '２', '1_0'
    else:
        assert message.startswith("--x ")


@FAST
@given(texts)
def test_parse_int_list(text):
    message = _refusal(lambda: values.parse_int_list(text, "--layers", 1, 10_000, 16))
    if message is None:
        parsed = values.parse_int_list(text, "--layers", 1, 10_000, 16)
        assert 1 <= len(parsed) <= 16 and all(type(v) is int and 1 <= v <= 10_000 for v in parsed)
    else:
        assert message.startswith("--layers ")


@FAST
@given(texts)
def test_parse_input_shape(text):
    message = _refusal(lambda: values.parse_input_shape(text))
    if message is None:
        shape = values.parse_input_shape(text)
        assert len(shape) == 4 and all(type(v) is int and 1 <= v <= values.MAX_DIMENSION for v in shape)
        assert shape[0] * shape[1] * shape[2] * shape[3] <= values.MAX_INPUT_ELEMENTS
    else:
        assert message.startswith("--input ")


@FAST
@given(st.tuples(*[st.integers(1, 4096)] * 4))
def test_parse_input_shape_round_trip(shape):
    text = "x".join(map(str, shape))
    if shape[0] * shape[1] * shape[2] * shape[3] <= values.MAX_INPUT_ELEMENTS:
        assert values.parse_input_shape(text) == shape
        assert values.parse_input_shape(text.replace("x", "×").upper()) == shape


@FAST
@given(texts, st.sampled_from([BlockKind, StemKind]))
def test_parse_enum(text, kind: type[enum.Enum]):
    message = _refusal(lambda: values.parse_enum(kind, text, "--kind"))
    if message is None:
        assert isinstance(values.parse_enum(kind, text, "--kind"), kind)
    else:
        assert message.startswith("--kind ") and "choose one of" in message


@FAST
@given(texts)
def test_parse_bool_and_lists_and_dtype_and_float(text):
    for call, option in (
        (lambda: values.parse_bool(text, "--se"), "--se"),
        (lambda: values.parse_bool_list(text, "--dilate"), "--dilate"),
        (lambda: values.parse_dtype(text), "--dtype"),
        (lambda: values.parse_float(text, "--min-time", 0.0, 3600.0), "--min-time"),
    ):
        message = _refusal(call)
        if message is not None:
            assert message.startswith(option + " ")
    if _refusal(lambda: values.parse_float(text, "--min-time", 0.0, 3600.0)) is None:
        assert 0.0 <= values.parse_float(text, "--min-time", 0.0, 3600.0) <= 3600.0


# ---- the command line as a whole ----

MODELS = st.sampled_from(
    ["resnet18", "resnet20", "resnet18_cifar", "custom", "basic", "bottleneck", "no_such_model", "x.py:y", "-", ""]
)
OPTIONS = {
    "--input": st.one_of(st.sampled_from(["1x3x32x32", "2x3x33x29", "1x3x64x64", "1x1x32x32", "1x3x2x2"]), texts),
    "--depth": st.one_of(st.sampled_from(["stage", "block", "layer"]), junk),
    "--format": st.one_of(st.sampled_from(["table", "json", "csv", "markdown"]), junk),
    "--layers": st.one_of(st.sampled_from(["1,1,1", "2,2", "1,1,1,1"]), texts),
    "--widths": st.one_of(st.sampled_from(["8,16,32", "16,32", "8,8,8,8"]), texts),
    "--stem": st.one_of(st.sampled_from(["7x7", "deep", "cifar"]), junk),
    "--stem-width": st.one_of(st.sampled_from(["8", "16", "33"]), digits),
    "--groups": st.one_of(st.sampled_from(["1", "2"]), digits),
    "--num-classes": st.one_of(st.sampled_from(["10", "3"]), digits),
    "--dtype": st.one_of(st.sampled_from(["float32", "bf16"]), junk),
    "--stages": st.one_of(st.sampled_from(["conv1,layer1", "stem"]), junk),
    "--se": st.one_of(st.sampled_from(["true", "0"]), junk),
    "--training": st.just(None),
    "--bogus": st.just(None),
}


@st.composite
def argument_lists(draw):
    command = draw(st.sampled_from(["summary", "flops", "compare", "list"]))
    args = [command]
    if command == "compare":
        args += [draw(MODELS), draw(MODELS)]
    elif command != "list" and draw(st.booleans()):
        args.append(draw(MODELS))
    for option in draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=4, unique=True)):
        value = draw(OPTIONS[option])
        args += [option] if value is None else [option, value]
    fmt = draw(st.sampled_from(["table", "json", "csv", "markdown"]))
    if "--format" not in args:
        args += ["--format", fmt]
    return args


def _stdout_parses(fmt: str, out: str) -> None:
    assert out.strip(), "exit 0 with nothing on stdout"
    if fmt == "json":
        json.loads(out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len(rows) >= 2 and len({len(r) for r in rows}) == 1
    elif fmt == "markdown":
        assert "|---" in out or "|---:" in out


@CLI
@given(argument_lists())
def test_any_argument_list_ends_cleanly(args):
    if args[0] == "list":
        args = ["list", "--format", args[args.index("--format") + 1]] if "--format" in args else ["list"]
    result = run_cli(*args)
    from hypothesis import event

    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 0:
        fmt = args[args.index("--format") + 1] if "--format" in args else "table"
        _stdout_parses(fmt, result.stdout)
    else:
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        if result.exit_code == 2:
            assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["summary", "--format", "json"],
        ["flops", "resnet20", "--format", "csv"],
        ["compare", "basic", "bottleneck", "--format", "markdown"],
    ],
)
def test_the_generator_reaches_success(args):
    # the property above is not vacuous: well-formed lists of the same vocabulary succeed
    result = run_cli(*args)
    assert result.exit_code == 0
    _stdout_parses(args[-1], result.stdout)
