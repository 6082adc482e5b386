"""What the user asked for: a model name, flag overrides and an input, resolved and validated.

``resolve_target`` turns the raw strings of the command line into a ``Target`` (no torch needed);
``analyze_target`` builds its model on the meta device and runs the analysis core once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from resnet_cli import registry
from resnet_cli.errors import UsageError
from resnet_cli.spec import (
    BlockKind,
    ConvBias,
    ResNetSpec,
    Shortcut,
    StemKind,
    StrideAt,
    parse_bool_list,
    parse_enum,
    parse_input_shape,
    parse_int_list,
)


@dataclass(frozen=True)
class Target:
    name: str
    variant: registry.Variant
    spec: ResNetSpec
    input_shape: tuple[int, int, int, int]
    changed: tuple[str, ...] = ()  # spec fields the flags changed

    @property
    def description(self) -> str:
        if self.variant.name == "custom":
            return "custom ResNet described by flags"
        if self.changed:
            return f"{self.variant.description} (modified: {', '.join(self.changed)})"
        return self.variant.description


# option name -> (spec field, parser of the raw string)
def _int(option):
    def parse(text):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{option} '{text}' is not an integer") from None
    return parse


def _bool(option):
    def parse(text):
        values = parse_bool_list(text, option)
        if len(values) != 1:
            raise UsageError(f"{option} '{text}': expected one of true/false")
        return values[0]
    return parse


OVERRIDES = {
    "--block": ("block", lambda t: parse_enum(BlockKind, t, "--block")),
    "--layers": ("layers", lambda t: parse_int_list(t, "--layers")),
    "--widths": ("widths", lambda t: parse_int_list(t, "--widths")),
    "--stem": ("stem", lambda t: parse_enum(StemKind, t, "--stem")),
    "--stem-width": ("stem_width", _int("--stem-width")),
    "--stem-pool": ("stem_pool", _bool("--stem-pool")),
    "--stride-at": ("stride_at", lambda t: parse_enum(StrideAt, t, "--stride-at")),
    "--shortcut": ("shortcut", lambda t: parse_enum(Shortcut, t, "--shortcut")),
    "--groups": ("groups", _int("--groups")),
    "--width-per-group": ("width_per_group", _int("--width-per-group")),
    "--se": ("se", _bool("--se")),
    "--dilate": ("dilate", lambda t: parse_bool_list(t, "--dilate")),
    "--conv-bias": ("conv_bias", lambda t: parse_enum(ConvBias, t, "--conv-bias")),
    "--num-classes": ("num_classes", _int("--num-classes")),
    "--in-channels": ("in_channels", _int("--in-channels")),
}


def resolve_target(model: str | None, overrides: dict[str, str | None] | None = None,
                   input_text: str | None = None) -> Target:
    """Resolve MODEL (default resnet50), apply flag overrides, parse and check the input."""
    variant = registry.resolve(model or "resnet50")
    changes = {}
    for option, raw in (overrides or {}).items():
        if raw is None:
            continue
        field_name, parse = OVERRIDES[option]
        changes[field_name] = parse(str(raw))
    spec = dataclasses.replace(variant.spec, **changes)
    # a width list follows the number of stages when only --layers changes it
    if "layers" in changes and "widths" not in changes and len(spec.widths) != len(spec.layers):
        base = spec.widths[0] if spec.widths else 64
        spec = dataclasses.replace(spec, widths=tuple(base * 2**i for i in range(len(spec.layers))))
    if len(spec.dilate) and len(spec.dilate) != len(spec.layers) - 1 and "dilate" not in changes:
        spec = dataclasses.replace(spec, dilate=())
    spec.validate()
    changed = tuple(f for f in changes if getattr(variant.spec, f) != getattr(spec, f))
    if input_text is None:
        n, _, h, w = variant.default_input
        input_shape = (n, spec.in_channels, h, w)
    else:
        input_shape = parse_input_shape(input_text)
        check_input(spec, input_shape, input_text, model or "resnet50")
    return Target(variant.name if variant.name != "custom" else "custom", variant, spec, input_shape, changed)


def check_input(spec: ResNetSpec, shape: tuple[int, ...], text: str, name: str) -> None:
    """Reject inputs the network cannot take: another channel count, or smaller than its total stride."""
    channels, height, width = shape[1], shape[2], shape[3]
    if channels != spec.in_channels:
        raise UsageError(
            f"--input '{text}' has {channels} channels but {name} takes {spec.in_channels}; "
            f"use C={spec.in_channels}, or --in-channels {channels} to change the model"
        )
    stride = spec.total_stride()
    if height < stride or width < stride:
        raise UsageError(
            f"--input '{text}' is too small for {name}: its total stride is {stride}, so H and W must be "
            f"at least {stride} (got {height}x{width})"
        )


def build_target_model(target: Target, device: str | None = "meta"):
    from resnet_cli.model import build_model

    return build_model(target.spec, device)


def analyze_target(target: Target, *, training: bool = False):
    """(model on meta, Analysis) for the target: the one place every command gets its numbers."""
    from resnet_cli.analysis import analyze

    model = build_target_model(target)
    return model, analyze(model, target.input_shape, training=training)
