"""Architecture overrides, typed: every spec field that carries a ``Flag`` gets one parser, chosen by its type.

The command line's architecture options (``resnet_cli.cli.options``) and the API's keyword overrides
(``resnet_cli.api``, ``groups="32"`` or ``groups=32``) both go through here, so a value is refused in the
same words whichever way it came.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any

from resnet_cli.base import values
from resnet_cli.base.errors import UsageError
from resnet_cli.spec.fields import Flag, ResNetSpec


def field_parser(name: str, annotation, flag: Flag, option: str | None = None) -> Callable[[str], object]:
    """The parser of one spec field's text, refusing a bad value in one line that names ``option`` (by default the
    flag, ``--field-name``)."""
    option = option or Flag.option_name(name)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # `int | None`: None = not given
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return values.bound(lambda text, opt, kind=annotation: values.parse_enum(kind, text, opt), option)
    if annotation is bool:
        return values.bound(values.parse_bool, option)
    if annotation is int:
        return values.bound(values.parse_int, option, flag.low, flag.high)
    if annotation is float:
        return values.bound(values.parse_float, option, flag.low, flag.high)
    if origin is tuple and typing.get_args(annotation)[0] is int:
        return values.bound(values.parse_int_list, option, flag.low, flag.high, flag.max_items)
    if origin is tuple and typing.get_args(annotation)[0] is bool:
        return values.bound(values.parse_bool_list, option, flag.max_items)
    raise TypeError(f"ResNetSpec.{name}: no command-line parser for {annotation!r}")  # a bug of ours


def flag_fields() -> dict[str, tuple[Any, Flag]]:
    """Spec field name -> (its type, its Flag), for every field that can be overridden, in field order."""
    hints = typing.get_type_hints(ResNetSpec)
    found = {}
    for spec_field in dataclasses.fields(ResNetSpec):
        flag = Flag.of(spec_field)
        if flag is not None:
            found[spec_field.name] = (hints[spec_field.name], flag)
    return found


def typed_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides as typed spec values: strings (and lists) go through the command line's parsers, and a bad
    value is named as the keyword it came in (``layers``), not as a flag."""
    fields = flag_fields()
    typed = {}
    for name, value in overrides.items():
        if name not in fields:
            raise UsageError(f"'{name}' is not an architecture field; accepted: {', '.join(fields)}")
        if value is None:
            continue
        annotation, flag = fields[name]
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and annotation is not bool):
            text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], bool):
                text = ",".join("1" if v else "0" for v in value)
            value = field_parser(name, annotation, flag, option=name)(text)
        typed[name] = value
    return typed
