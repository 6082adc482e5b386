"""The input a model was made for: a user's model identified as a registered variant is analysed at that variant's
input (a CIFAR ResNet-18 at 32×32, not 224×224) unless ``--input`` says otherwise, and a note says which input
was taken and why.

A checkpoint's input is chosen when it is resolved (``sources.target``: its tensors name the variant); user code
shows what it is only when it runs, so it is analysed once at the default input, identified
(``resnet_cli.comparison.identify.closest``), and analysed again at the variant's input where that differs.
"""

from __future__ import annotations

import dataclasses

from resnet_cli.base.errors import ResnetCliError
from resnet_cli.spec import registry

DEFAULT_NOTE = "give --input NxCxHxW if it was made for another input"


def _shape(shape) -> str:
    return "×".join(str(s) for s in shape)


def variant_input(name: str, channels: int, batch: int = 1) -> tuple[int, int, int, int] | None:
    """The input of a registered variant (its default H×W), with the model's channels and the batch size."""
    variant = registry.VARIANTS.get(name)
    if variant is None:
        return None
    return (batch, channels, *variant.default_input[2:])


def input_note(who: str, shape, identified: str | None, exact: bool = True) -> str:
    """The note said when no --input was given: the input taken, and how to change it. ``exact`` False: the
    variant is only the closest to the part of a broken model that ran (``comparison.prefix``)."""
    if identified is None:
        return f"{who}: analysed at the default input {_shape(shape)}; {DEFAULT_NOTE}"
    said = f"identified as {identified}" if exact else f"up to where it breaks, closest to {identified}"
    return f"{who}: {said}, so analysed at the input it was made for, {_shape(shape)} (--input NxCxHxW changes it)"


def identify(target, analyzed):
    """The registered variant (``identify.Closest``) a user's analysed model is or is nearest to, or None."""
    from resnet_cli.comparison.identify import closest
    from resnet_cli.structure.align import structure

    try:
        if analyzed.failure is not None:  # a forward that broke midway: the variant closest to what ran
            from resnet_cli.comparison.prefix import closest_prefix

            shaped = structure(analyzed.analysis, True, analyzed.failure.module)
            return closest_prefix(shaped, tuple(analyzed.analysis.input_shape), _params(analyzed.model))
        return closest(structure(analyzed.analysis), tuple(analyzed.analysis.input_shape))
    except Exception:  # noqa: BLE001 — only the input depends on it here: the default stands, and its note says so
        return None  # (compare identifies the model again, and there a failure is an error)


def _params(model) -> int | None:
    try:
        return sum(p.numel() for p in model.parameters())
    except Exception:  # noqa: BLE001 — a model without parameters() (Keras): the count only breaks a tie
        return None


def at_its_input(target, analyze):
    """(target, analyzed or None, note) for a target analysed without --input.

    ``analyze(target) -> Analyzed`` is the caller's analysis. User code is analysed at the default input and
    identified; where the variant it is (or is nearest to) was made for another input, the target is moved to
    that input and the analysis left for the caller to run again (None). Other targets are returned as they are,
    with the note a checkpoint or a user model gets."""
    target, analyzed, note, _ = choose(target, analyze)
    return target, analyzed, note


def choose(target, analyze):
    """``at_its_input``, and the registered name (with flags) the input was taken from, or None."""
    if not getattr(target, "default_input", False):
        return target, None, None, None
    who = target.name
    if target.source == "checkpoint":  # its input was chosen from its tensors, and its note says so (sources.target)
        return target, None, None, target.identified
    try:
        analyzed = analyze(target)
    except ResnetCliError as error:  # it breaks at the default: maybe it was made for another registered input
        made_for = _other_inputs(target, analyze)
        if made_for is not None:
            return made_for
        raise _with_default_note(error, target) from None
    if analyzed.failure is not None:  # broken here, maybe whole at another registered input (its head's)
        made_for = _other_inputs(target, analyze)
        if made_for is not None:
            return made_for
    found = identify(target, analyzed)  # a model broken at every input: the variant closest to what ran
    if found is None:
        return target, analyzed, input_note(who, target.input_shape, None), None
    target = _identified(target, found)
    shape = variant_input(found.name, target.input_shape[1], target.input_shape[0])
    if shape is None or tuple(shape) == tuple(target.input_shape):
        return target, analyzed, input_note(who, target.input_shape, found.label, found.exact), found.label
    return (
        dataclasses.replace(target, input_shape=shape),
        None,
        input_note(who, shape, found.label, found.exact),
        found.label,
    )


def _identified(target, found):
    """``target`` carrying the registered name and flags it is exactly (JSON's ``identified_as``, as a checkpoint
    identified by its tensors carries them); a model only close to a variant carries none."""
    if not found.exact or getattr(target, "identified_as", None) is not None:
        return target
    return dataclasses.replace(target, identified_as=(found.name, tuple(found.flags)))


def _other_inputs(target, analyze):
    """``choose``'s answer at another registered variant's input (a CIFAR net whose head only takes 32×32), when
    the model runs there and is identified as a variant made for it; else None."""
    sizes = dict.fromkeys(tuple(v.default_input[2:]) for v in registry.VARIANTS.values())
    for size in sizes:
        if size == tuple(target.input_shape[2:]):
            continue
        moved = dataclasses.replace(target, input_shape=(*target.input_shape[:2], *size))
        try:
            analyzed = analyze(moved)
        except ResnetCliError:
            continue
        found = identify(moved, analyzed)
        batch, channels = moved.input_shape[:2]
        if found is not None and variant_input(found.name, channels, batch) == moved.input_shape:
            moved = _identified(moved, found)
            return moved, analyzed, input_note(target.name, moved.input_shape, found.label, found.exact), found.label
    return None


def _with_default_note(error, target):
    """The error of a model that fails at the default input, saying that the input was the default (nobody
    chose it, so it may be what is wrong)."""
    if not getattr(error, "breaks_midway", False):  # its own exception, or the input refused (said already)
        return error
    try:
        return type(error)(
            f"{error}; it was analysed at the default input {_shape(target.input_shape)}: {DEFAULT_NOTE}"
        )
    except TypeError:  # an error type built otherwise: as it is
        return error
