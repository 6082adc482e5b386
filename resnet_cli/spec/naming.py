"""A spec named as people name it: the registered variant it differs least from, plus the flags that differ.

One naming for every place a model or checkpoint is identified — ``summary``/``flops`` of a checkpoint, and
``compare`` (``resnet_cli.comparison.identify``) — so a checkpoint is described the same way everywhere
(``resnet18d --in-channels 1``), and ``identified_as`` in JSON holds the same name and flags.
"""

from __future__ import annotations

import dataclasses
import enum

from resnet_cli.spec import registry
from resnet_cli.spec.fields import Flag, ResNetSpec

Flags = tuple[tuple[str, str], ...]  # (option, value), e.g. (("--in-channels", "1"),)
# fields that change no operator, shape or parameter: a model that differs only in them is still that variant
SETTINGS = frozenset({"bn_eps", "bn_momentum", "drop_rate", "drop_path_rate"})


def flag_value(value) -> str:
    """A spec field's value as its flag takes it (enums by value, booleans true/false, tuples comma-separated)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(int(v)) if isinstance(v, bool) else str(v) for v in value)
    return str(value)


def name_spec(spec: ResNetSpec, reference: str | None = None) -> tuple[str, Flags]:
    """The registered variant ``spec`` differs least from (``reference`` first among equals), and the flags."""
    fields = [f.name for f in dataclasses.fields(ResNetSpec) if Flag.of(f) is not None]
    order = ([reference] if reference in registry.VARIANTS else []) + list(registry.VARIANTS)

    def changed(variant):
        return [f for f in fields if getattr(variant.spec, f) != getattr(spec, f)]

    def distance(name):  # a setting (BatchNorm eps, drop rates) weighs less than any structural difference
        differing = changed(registry.VARIANTS[name])
        return sum(f not in SETTINGS for f in differing), len(differing)

    best = min(order, key=distance)
    # settings are not in the name: a checkpoint cannot tell them, and `compare` says them in a row of their own
    flags = tuple(
        (Flag.option_name(f), flag_value(getattr(spec, f)))
        for f in changed(registry.VARIANTS[best])
        if f not in SETTINGS
    )
    return best, flags


def label(name: str, flags: Flags) -> str:
    """``resnet18d --in-channels 1``: the command-line words that build it."""
    return " ".join([name] + [f"{option} {value}" for option, value in flags])


def identified_data(identified: tuple[str, Flags] | None) -> dict | None:
    """The JSON field ``identified_as``: {"name", "flags": {option: value}, "label"}, or None."""
    if identified is None:
        return None
    name, flags = identified
    return {"name": name, "flags": dict(flags), "label": label(name, flags)}
