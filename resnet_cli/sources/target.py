"""MODEL, resolved: what every command analyses, builds or benchmarks, from one argument.

``resolve_target`` takes what the user named — in this order: a registered name (or ``custom`` with the
architecture flags), ``path/to/file.py:callable`` or ``package.module:callable``, a checkpoint file
(.pt/.pth/.bin state_dict, .safetensors) — plus typed flag overrides and an input shape, and returns a frozen
``Target``. A name never runs code the user did not name as code: a file that exists (or a name ending in a
checkpoint suffix) is read as a checkpoint, so ``epoch:10.pth`` beside ``epoch.py`` never imports ``epoch``;
a name that reads both as such a file and as code that is there is refused, naming both readings
(``usercode.ambiguous``); code runs only from a ``.py`` path or an importable module so named.

``analyze`` builds its model on the meta device (falling back to the CPU for user code that needs real
tensors) and runs the analysis core once; ``build_real`` builds it with real weights.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from resnet_cli.base.errors import RuntimeFailure, UsageError, UserCodeError
from resnet_cli.base.text import close_matches
from resnet_cli.base.values import shown
from resnet_cli.sources import keras_model, usercode
from resnet_cli.spec import naming, registry
from resnet_cli.spec.fields import Flag, ResNetSpec

DEFAULT_MODEL = "resnet50"
DEFAULT_USER_INPUT = registry.IMAGENET_INPUT
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".h5", ".hdf5", ".keras")
FORMS = (
    "a registered name (`resnet-cli list`) or custom, path/to/file.py:callable or package.module:callable, "
    "a checkpoint file (.pt, .pth, .bin, .safetensors, Keras's .weights.h5 or .h5) or a Keras .keras model"
)


@dataclass(frozen=True)
class Target:
    name: str  # as the user gave it
    source: str  # registry | custom | file | module | checkpoint | instance
    description: str
    family: str
    input_shape: tuple[int, int, int, int]
    spec: ResNetSpec | None = None  # None for user code (its structure is what its code builds)
    variant: registry.Variant | None = None
    changed: tuple[str, ...] = ()  # spec fields the flags changed
    factory: Any = dataclasses.field(default=None, repr=False, compare=False)  # user code: callable or module
    weights: str | None = None  # a checkpoint whose tensors the model takes (the MODEL file, or --weights)
    identified: str | None = None  # a checkpoint's architecture equals this registered variant
    # a checkpoint's architecture as people name it: (the registered variant it differs least from, the flags
    # that differ) — the naming `compare` uses (resnet_cli.spec.naming); JSON's identified_as
    identified_as: tuple[str, tuple[tuple[str, str], ...]] | None = None
    rebuild_flags: tuple[str, ...] = ()  # a checkpoint's architecture as flags on `custom`
    stages: tuple[str, ...] | None = None  # --stages: the modules that start each stage
    notes: tuple[str, ...] = ()  # for people: e.g. what a checkpoint's tensors cannot tell
    # no --input: user code at the 224×224 default, a checkpoint at its identified variant's input
    # (resnet_cli.comparison.made_for chooses user code's and says which was taken)
    default_input: bool = False

    @property
    def is_user_code(self) -> bool:
        return self.spec is None

    @property
    def paper_gflops(self) -> float | None:
        """The ResNet paper's figure, for an unmodified registered variant at 224×224."""
        if self.variant is None or self.changed or self.source != "registry":
            return None
        return self.variant.paper_gflops if tuple(self.input_shape[2:]) == (224, 224) else None


def _spec_target(name: str, variant: registry.Variant, overrides: dict, input_shape) -> Target:
    spec = dataclasses.replace(variant.spec, **overrides)
    # a width list follows the number of stages when only --layers changes it
    if "layers" in overrides and "widths" not in overrides and len(spec.widths) != len(spec.layers):
        base = spec.widths[0] if spec.widths else 64
        spec = dataclasses.replace(spec, widths=tuple(base * 2**i for i in range(len(spec.layers))))
    if len(spec.dilate) and len(spec.dilate) != len(spec.layers) - 1 and "dilate" not in overrides:
        spec = dataclasses.replace(spec, dilate=())
    spec.validate()
    changed = tuple(f for f in overrides if getattr(variant.spec, f) != getattr(spec, f))
    if input_shape is None:
        n, _, h, w = variant.default_input
        input_shape = (n, spec.in_channels, h, w)
    else:
        check_input(spec, input_shape, name)
    custom = variant.name == "custom"
    description = (
        "custom ResNet described by flags"
        if custom
        else f"{variant.description} (modified: {', '.join(changed)})"
        if changed
        else variant.description
    )
    return Target(
        name="custom" if custom else variant.name,
        source="custom" if custom else "registry",
        description=description,
        family=variant.family,
        input_shape=tuple(input_shape),
        spec=spec,
        variant=variant,
        changed=changed,
    )


def resolve_target(
    model: str | None = None,
    overrides: dict[str, Any] | None = None,
    input_shape: tuple[int, int, int, int] | None = None,
    *,
    weights: str | None = None,
    stages: tuple[str, ...] | None = None,
) -> Target:
    """Resolve MODEL (default resnet50) with typed flag overrides (spec field -> value) and an input shape."""
    raw = DEFAULT_MODEL if model is None else str(model)
    name = raw if os.path.lexists(raw) else raw.strip()  # a file's name is exactly its name, spaces and all
    overrides = dict(overrides or {})
    variant = registry.lookup(name)
    refusal = usercode.ambiguous(name, CHECKPOINT_SUFFIXES) if variant is None else None
    if refusal is not None:  # a file and code that is there: never run code the user may not have meant
        raise UsageError(refusal)
    if variant is not None:
        target = _spec_target(name, variant, overrides, input_shape)
    elif usercode.is_reference(name, CHECKPOINT_SUFFIXES):  # code only where no file of that name exists
        _no_overrides(overrides, name, "its structure comes from its code")
        factory = usercode.load_factory(name)
        source = usercode.code_form(name)  # "file" or "module"
        target = Target(
            name=name,
            source=source,
            description=f"{getattr(factory, '__name__', 'model')} from {name}",
            family="user",
            input_shape=tuple(input_shape or DEFAULT_USER_INPUT),
            factory=factory,
            default_input=input_shape is None,
        )
    elif name.endswith(".py"):
        raise UsageError(
            f"MODEL '{shown(name)}' is a Python file: name the function or class in it that builds "
            f"the model, as {shown(name)}:CALLABLE"
        )
    elif name.lower().endswith(".keras"):  # a whole Keras model: Keras's own loader, in safe mode
        from resnet_cli.sources.checkpoint import check_readable

        _no_overrides(overrides, name, "its structure comes from the model the archive holds")
        check_readable(name)  # a missing file, a FIFO or a device named as what it is, never opened
        target = Target(
            name=os.path.basename(name),
            source="keras",
            description=f"Keras model from {name}",
            family="user",
            input_shape=tuple(input_shape or DEFAULT_USER_INPUT),
            factory=keras_model.archive_loader(name),
        )
    elif name.lower().endswith(CHECKPOINT_SUFFIXES) or (os.path.lexists(name) and not os.path.isdir(name)):
        target = _checkpoint_target(name, overrides, input_shape)  # a FIFO or a device is named as what it is
    else:
        raise UsageError(usercode.not_code(name) or _unknown(name))
    if weights is not None:
        target = dataclasses.replace(target, weights=weights)
    if stages:
        target = dataclasses.replace(target, stages=tuple(stages))
    return target


def target_of_module(module, input_shape=None, name: str | None = None) -> Target:
    """A Target for an ``nn.Module`` instance handed to the Python API (analysed where it lives)."""
    return Target(
        name=name or type(module).__name__,
        source="instance",
        description=f"{type(module).__name__} instance",
        family="user",
        input_shape=tuple(input_shape or DEFAULT_USER_INPUT),
        factory=module,
        default_input=input_shape is None,
    )


def target_of_spec(spec: ResNetSpec, input_shape=None) -> Target:
    spec.validate()
    shape = tuple(input_shape or (1, spec.in_channels, 224, 224))
    check_input(spec, shape, "this spec")
    variant = dataclasses.replace(registry.CUSTOM, spec=spec)
    return Target(
        name="custom",
        source="custom",
        description="custom ResNet from a spec",
        family="custom",
        input_shape=shape,
        spec=spec,
        variant=variant,
    )


def _no_overrides(overrides: dict, name: str, why: str) -> None:
    if overrides:
        flags = ", ".join(Flag.option_name(f) for f in overrides)
        raise UsageError(f"{flags} change{'s' if len(overrides) == 1 else ''} registered models; {shown(name)}: {why}")


def _checkpoint_target(path: str, overrides: dict, input_shape) -> Target:
    from resnet_cli.sources import spec_from_weights

    if not os.path.lexists(path):
        raise UsageError(f"MODEL '{shown(path)}': no such file; tried {FORMS}")
    inferred = spec_from_weights.infer(path)  # UsageError if the file is no checkpoint of a ResNet
    # flags change what the tensors cannot tell (stride placement, dilation, the stem pool); a flag that
    # changes a tensor's shape makes the checkpoint not fit, which loading it reports
    spec = dataclasses.replace(inferred.spec, **overrides).validate() if overrides else inferred.spec
    identified = inferred.variant.name if inferred.variant else None
    identified_as = naming.name_spec(spec)  # what `compare` names it too
    default_input = input_shape is None
    if default_input:  # the input the variant it is was made for (224×224 when it is none exactly)
        variant = inferred.variant
        input_shape = (1, spec.in_channels, *(variant.default_input[2:] if variant else (224, 224)))
    else:
        check_input(spec, input_shape, path)
    description = f"checkpoint identified as {naming.label(*identified_as)}"
    variant = inferred.variant or dataclasses.replace(registry.CUSTOM, spec=spec)
    at = ""
    if default_input:  # the input taken, said in the one note a checkpoint has
        size = "×".join(str(s) for s in input_shape)
        at = (
            f"; analysed at {identified}'s input {size}" if identified else f"; analysed at the default input {size}"
        ) + " (--input NxCxHxW changes it)"
    unreadable = "; ".join(spec_from_weights.UNREADABLE)
    if path.lower().endswith((".h5", ".hdf5")):
        unreadable = (
            "the stride placement, the stem pool and the BatchNorm settings (keras.applications' and Keras's assumed)"
        )
    note = (
        f"{os.path.basename(path)}: {description}{at}; its tensors cannot tell {unreadable} — change them "
        "with the flags"
    )
    return Target(
        name=os.path.basename(path),
        source="checkpoint",
        description=description,
        family=variant.family,
        input_shape=tuple(input_shape),
        spec=spec,
        variant=variant,
        weights=path,
        identified=identified,
        identified_as=identified_as,
        rebuild_flags=inferred.flags,
        notes=(note,),
        default_input=default_input,
    )


def _unknown(name: str) -> str:
    close = close_matches(name.lower().replace("-", "_"), registry.VARIANTS)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    here = " (a directory of that name is here: MODEL takes a checkpoint file)" if os.path.isdir(name) else ""
    return f"unknown model '{shown(name)}'{here}; {hint}MODEL is {FORMS}"


def check_input(spec: ResNetSpec, shape: tuple[int, ...], name: str) -> None:
    """Reject inputs the network cannot take: another channel count, or smaller than its total stride."""
    text = "x".join(str(s) for s in shape)
    channels, height, width = shape[1], shape[2], shape[3]
    if channels != spec.in_channels:
        raise UsageError(
            f"--input '{text}' has {channels} channels but {shown(name)} takes {spec.in_channels}; "
            f"use C={spec.in_channels}, or --in-channels {channels} to change the model"
        )
    stride = spec.total_stride()
    if height < stride or width < stride:
        raise UsageError(
            f"--input '{text}' is too small for {shown(name)}: its total stride is {stride}, so H and W "
            f"must be at least {stride} (got {height}x{width})"
        )


# ---- building and analysing ----


@dataclass(frozen=True)
class Analyzed:
    model: Any  # the nn.Module analysed (on meta, or the CPU for user code that needs real tensors)
    analysis: Any  # resnet_cli.analysis.records.Analysis
    device: str
    notes: tuple[str, ...] = ()  # for people (stderr): e.g. why it ran on the CPU
    failure: Any = None  # AnalysisFailure of a forward that broke after some stages ran (allow_partial)


def build(target: Target, device: str | None = "meta"):
    """The target's model on ``device`` (meta: nothing allocated); a checkpoint's tensors are checked against
    it by name and shape (on meta) or loaded into it (elsewhere)."""
    if target.spec is not None:
        from resnet_cli.nn.model import build_model

        model = build_model(target.spec, device)
    else:
        if keras_model.is_keras(target.factory):  # a Keras instance is analysed where it lives, never copied
            model = target.factory
        else:
            with keras_model.device_scope(device):  # Keras places its own variables: on meta too, when asked
                model = usercode.instantiate(target.name, target.factory, device)
        if keras_model.is_keras(model):  # analysed through a module tree in its own layer names
            model = keras_model.adapt(model, target.input_shape)
    if target.weights is not None:
        from resnet_cli.sources import checkpoint

        # our own models take timm ResNetV2's names too; a user's model takes its checkpoint as it is
        checkpoint.load_into(
            model,
            target.weights,
            rename=not target.is_user_code,
            what="MODEL" if target.source == "checkpoint" else "--weights",
        )
    return model


def build_real(target: Target, device: str = "cpu"):
    """The model with real tensors on ``device`` (weights from the checkpoint, if any)."""
    return build(target, device)


def _rejection(target: Target, error) -> Exception:
    cause = error.__cause__
    if target.is_user_code and cause is not None and type(cause) not in (RuntimeError, ValueError, IndexError):
        return UserCodeError(f"{target.name}: running its forward raised {type(cause).__name__}: {error}")
    text = "x".join(str(s) for s in target.input_shape)
    if getattr(error, "at_input", True):  # its first layer refused the input: the input is what to change
        return UsageError(
            f"{shown(target.name)} rejects the input {text}: {error}; if the input is wrong, give one "
            "it takes with --input NxCxHxW"
        )
    broken = (UserCodeError if target.is_user_code else RuntimeFailure)(failure_line(target.name, error))
    broken.breaks_midway = True  # its layers ran, then it broke: comparison.made_for may try another input
    return broken


def failure_place(error) -> str:
    """Where a forward failed: "module '2.0' (Block)", or "ResNet18.forward itself" for the root's own code."""
    module = getattr(error, "module", "")
    kind = getattr(error, "module_type", "")
    if not module:  # the root module's own code (F.* calls in its forward)
        return f"{shown(kind)}.forward itself" if kind else "the model's own forward"
    return f"module '{shown(module)}'" + (f" ({kind})" if kind else "")


def failure_line(name: str, error) -> str:
    """One line for a forward that fails after its first layers ran: where, which operator, why; never the input.
    ``compare`` shows the model up to there."""
    why = getattr(error, "why", "") or getattr(error, "reason", "") or str(error)
    return (
        f"{shown(name)}: its forward fails in {failure_place(error)}: {shown(why, 400)} (the layers before it "
        "ran; `resnet-cli compare REFERENCE MODEL` compares it up to there)"
    )


def analyze(
    target: Target, *, training: bool = False, allow_partial: bool = False, backward: bool = True, model=None
) -> Analyzed:
    analyzed = _analyze(target, training=training, allow_partial=allow_partial, backward=backward, model=model)
    if keras_model.is_adapter(analyzed.model):
        analyzed = dataclasses.replace(analyzed, notes=(keras_model.note(target.name, analyzed.model), *analyzed.notes))
    return analyzed


def _analyze(
    target: Target, *, training: bool = False, allow_partial: bool = False, backward: bool = True, model=None
) -> Analyzed:
    """Build the target and run the analysis core once. User code is built on the meta device when its code
    allows, else on the CPU with a real input. With ``allow_partial``, a forward that breaks after some
    top-level modules ran gives the analysis of what ran (and the failure) instead of an error. ``backward``:
    see ``analysis.analyze.analyze``. ``model``: a meta model of a registered target built before (an analysis
    leaves it as it was), analysed again instead of built again (user code is always built afresh)."""
    from resnet_cli.analysis.analyze import analyze as run
    from resnet_cli.analysis.records import AnalysisFailure

    def attempt(model, notes: tuple[str, ...], final: bool) -> Analyzed:
        device = _device_of(model)
        try:
            with usercode.guard(target.name, "running its forward") if target.is_user_code else _nothing():
                return Analyzed(
                    model, run(model, target.input_shape, training=training, backward=backward), device, notes
                )
        except AnalysisFailure as failure:
            if not final:
                raise
            if allow_partial and failure.partial is not None and not failure.at_input:
                return Analyzed(model, failure.partial, device, notes, failure)
            raise _rejection(target, failure) from None

    if model is not None and not target.is_user_code and _device_of(model) == "meta":
        return attempt(model, (), final=True)
    if not target.is_user_code:
        return attempt(build(target, "meta"), (), final=True)
    try:
        model = build(target, "meta")
        device = _device_of(model)
        if device == "meta" or not any(True for _ in model.parameters()):
            return attempt(model, (), final=False)
        notes = (
            ()
            if keras_model.is_adapter(model)
            else (f"{target.name}: its code puts parameters on the {device}; analysed there with a real input",)
        )
        return attempt(model, notes, final=True)
    except UsageError:
        raise
    except RuntimeFailure as error:
        if target.weights is not None and not isinstance(error, (UserCodeError, AnalysisFailure)):
            raise  # the checkpoint does not fit the model: no second try will change that
        meta_error = error
    # their code made real tensors, or ran ops meta tensors lack: try for real on the CPU
    notes = (
        f"{target.name}: could not run on the meta device ({meta_error}); built on the CPU and run with a "
        "real input instead",
    )
    result = attempt(build(target, None), notes, final=True)
    meta_module = getattr(meta_error, "module", None)
    if result.failure is not None and meta_module is not None and result.failure.module == meta_module:
        result = dataclasses.replace(result, notes=())  # it breaks at the same place for real: the model's own
    return result


def analyze_target(target: Target, *, training: bool = False):
    """(model, Analysis) for the target: the one place every command gets its numbers."""
    analyzed = analyze(target, training=training)
    return analyzed.model, analyzed.analysis


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _device_of(model) -> str:
    """Where the model's tensors live (a model without any is run on the CPU by the analysis)."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return tensor.device.type if tensor is not None else "cpu"
