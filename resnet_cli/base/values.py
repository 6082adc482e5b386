"""Command-line values: every text a user types is parsed here, once, into a typed and bounded value.

The parsers are given to Typer (``parser=``) by ``resnet_cli.cli.options``, so the commands and the core
functions only ever see typed values. Each parser raises ``UsageError`` with one line that names the option,
shows the bad value (control characters escaped) and says what is accepted. Nothing here imports torch.

Bounds are real: an integer beyond them would overflow torch's size arithmetic (int64 element counts) or
allocate absurd tensors even on the meta device, so it is refused before torch sees it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import TypeVar

from resnet_cli.base.errors import UsageError
from resnet_cli.base.text import shown

E = TypeVar("E", bound=enum.Enum)

MAX_INPUT_ELEMENTS = 2**48  # beyond this, activation element counts would overflow int64 inside torch
MAX_DIMENSION = 2**20  # one dimension of --input
MAX_CHANNELS = 2**16  # widths, stem widths, groups, input channels
MAX_BLOCKS = 10_000  # blocks in one stage (resnet1202 has 200)
MAX_STAGES = 16
MAX_CLASSES = 10**7

# Element sizes of the floating-point types every command accepts, and the spellings people use for them.
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}


def _ascii_integer(text: str) -> int | None:
    """The integer ``text`` spells with ASCII digits (and an optional sign), else None.

    Python's int() also takes '２２４' and '1_000'; a command line should not.
    """
    body = text.strip()
    digits = body[1:] if body[:1] in "+-" else body
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(body)


def parse_int(text: str, option: str, low: int = 1, high: int = MAX_CHANNELS) -> int:
    value = _ascii_integer(str(text))
    if value is None:
        raise UsageError(f"{option} '{shown(text)}' is not an integer; expected an integer from {low} to {high:,}")
    if not low <= value <= high:
        raise UsageError(
            f"{option} {value if abs(value) < 10**12 else shown(text)} is out of range; expected an "
            f"integer from {low} to {high:,}"
        )
    return value


def parse_float(text: str, option: str, low: float = 0.0, high: float = 1e6, *, low_open: bool = False) -> float:
    body = str(text).strip()
    try:
        if not body.isascii():
            raise ValueError
        value = float(body)
    except ValueError:
        raise UsageError(
            f"{option} '{shown(text)}' is not a number; expected a number from {low:g} to {high:g}"
        ) from None
    too_low = value <= low if low_open else value < low
    if value != value or too_low or value > high:  # NaN never compares
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise UsageError(f"{option} {shown(text)} is out of range; expected a number {bound} to {high:g}")
    return value


def parse_int_list(
    text: str, option: str, low: int = 1, high: int = MAX_CHANNELS, max_items: int = MAX_STAGES
) -> tuple[int, ...]:
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise UsageError(f"{option} '{shown(text)}' is empty; expected comma-separated integers, e.g. 3,4,6,3")
    if len(items) > max_items:
        raise UsageError(f"{option} '{shown(text)}' has {len(items)} values; at most {max_items} are accepted")
    values = []
    for item in items:
        value = _ascii_integer(item)
        if value is None:
            raise UsageError(
                f"{option} '{shown(text)}': '{shown(item)}' is not an integer; expected comma-separated "
                f"integers from {low} to {high:,}"
            )
        if not low <= value <= high:
            raise UsageError(
                f"{option} '{shown(text)}': {value if abs(value) < 10**12 else shown(item)} is out of "
                f"range; expected integers from {low} to {high:,}"
            )
        values.append(value)
    return tuple(values)


_TRUE = ("true", "1", "yes", "y", "t", "on")
_FALSE = ("false", "0", "no", "n", "f", "off")


def parse_bool(text: str, option: str) -> bool:
    key = str(text).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise UsageError(f"{option} '{shown(text)}' is not accepted; choose true or false")


def parse_bool_list(text: str, option: str, max_items: int = MAX_STAGES) -> tuple[bool, ...]:
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise UsageError(f"{option} '{shown(text)}' is empty; expected comma-separated booleans, e.g. 0,1,1")
    if len(items) > max_items:
        raise UsageError(f"{option} '{shown(text)}' has {len(items)} values; at most {max_items} are accepted")
    values = []
    for item in items:
        key = item.lower()
        if key not in _TRUE and key not in _FALSE:
            raise UsageError(f"{option} '{shown(text)}': '{shown(item)}' is not a boolean; expected e.g. 0,1,1")
        values.append(key in _TRUE)
    return tuple(values)


def parse_enum(enum_type: type[E], text: str, option: str) -> E:
    """An enum member by its value (case-insensitive; '_' and '-' alike) or an alias its ``_missing_`` takes."""
    if isinstance(text, enum_type):
        return text
    key = str(text).strip().lower().replace("_", "-")
    for member in enum_type:
        if str(member.value).lower().replace("_", "-") == key:
            return member
    try:  # an alias the enum itself accepts (its _missing_), e.g. --stem-pool true for max
        return enum_type(key)
    except ValueError:
        pass
    raise UsageError(
        f"{option} '{shown(text)}' is not accepted; choose one of: {', '.join(str(m.value) for m in enum_type)}"
    )


def parse_choice(text: str, option: str, choices: Iterable[str], aliases: dict[str, str] | None = None) -> str:
    """One of ``choices`` (case-insensitive), or an alias of one."""
    choices = tuple(choices)
    key = str(text).strip().lower()
    key = (aliases or {}).get(key, key)
    if key not in choices:
        raise UsageError(f"{option} '{shown(text)}' is not accepted; choose one of: {', '.join(choices)}")
    return key


def parse_dtype(text: str, option: str = "--dtype") -> str:
    """float32 | float16 | bfloat16 (also fp32, fp16, half, bf16): the canonical name."""
    return parse_choice(text, option, DTYPE_BYTES, DTYPE_ALIASES)


def parse_input_shape(text: str, option: str = "--input") -> tuple[int, int, int, int]:
    """``NxCxHxW`` (e.g. ``1x3x224x224``; '×' and 'X' accepted) into four positive, bounded integers."""
    if isinstance(text, tuple):
        return text
    raw = str(text).strip().lower().replace("×", "x")
    parts = raw.split("x")
    if len(parts) != 4:
        raise UsageError(
            f"{option} '{shown(text)}' has {len(parts)} dimension{'s' if len(parts) != 1 else ''}; "
            "expected 4 as NxCxHxW, e.g. 1x3x224x224"
        )
    values = []
    for name, part in zip("NCHW", parts):
        value = _ascii_integer(part) if part == part.strip() else None
        if value is None:
            raise UsageError(
                f"{option} '{shown(text)}': {name} = '{shown(part)}' is not an integer; "
                "expected NxCxHxW, e.g. 1x3x224x224"
            )
        if value < 1:
            raise UsageError(f"{option} '{shown(text)}': {name} = {value}; every dimension must be at least 1")
        if value > MAX_DIMENSION:
            raise UsageError(
                f"{option} '{shown(text)}': {name} = {value:,} is above the largest accepted dimension, "
                f"{MAX_DIMENSION:,}"
            )
        values.append(value)
    elements = values[0] * values[1] * values[2] * values[3]
    if elements > MAX_INPUT_ELEMENTS:
        raise UsageError(
            f"{option} '{shown(text)}' has {elements:,} elements; at most 2**48 "
            f"({MAX_INPUT_ELEMENTS:,}) are supported, beyond which tensor element counts overflow"
        )
    return tuple(values)  # type: ignore[return-value]


def bound(parser: Callable, *args, **kwargs) -> Callable[[str], object]:
    """``parser`` with its option name and bounds fixed: the one-argument form Typer calls."""

    def parse(text):
        return parser(text, *args, **kwargs)

    return parse


# ---- bench: devices, batch sizes, threads, seconds, repeats, compile modes, optimizers ----

MAX_BATCH = 2**20  # images per forward; far beyond any device's memory, and refused there with one line
MAX_BATCH_SIZES = 32  # values in one --batch-size sweep
MAX_CUDA_INDEX = 1023
MAX_THREADS = 4096
MAX_SECONDS = 3600.0  # --warmup / --min-time per configuration
MAX_REPEATS = 100
MAX_DEVICES = 1024  # --devices: processes of a torch.distributed run
# torch.compile's modes (torch.compile docstring); CUDA graphs are what the mode implies on CUDA devices
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
OPTIMIZERS = ("sgd", "adamw")


def parse_device(text: str, option: str = "--device") -> str:
    """auto | cpu | cuda | cuda:N, canonical (whether the device exists is a runtime question, checked later)."""
    key = str(text).strip().lower()
    if key in ("auto", "cpu", "cuda"):
        return key
    if key.startswith("cuda:"):
        index = _ascii_integer(key[5:]) if key[5 : 5 + 1] not in "+-" else None
        if index is not None and 0 <= index <= MAX_CUDA_INDEX:
            return f"cuda:{index}"
    raise UsageError(
        f"{option} '{shown(text)}' is not accepted; choose one of: auto, cpu, cuda, cuda:N "
        f"(N from 0 to {MAX_CUDA_INDEX})"
    )


def parse_batch_sizes(text: str, option: str = "--batch-size") -> tuple[int, ...]:
    """Comma-separated batch sizes from 1 to MAX_BATCH, in the order given, each once."""
    sizes: list[int] = []
    for value in parse_int_list(text, option, 1, MAX_BATCH, MAX_BATCH_SIZES):
        if value not in sizes:
            sizes.append(value)
    return tuple(sizes)
