"""``compare`` for models: each analysed once, aligned by structure, its differences named and costed.

Every model after the first is aligned with the first (``resnet_cli.structure.align``): its differences
(``resnet_cli.comparison.diagnose`` → ``resnet_cli.comparison.folding``), the registered variant it is or is closest to
(``resnet_cli.comparison.identify``), and a stage table whose rows are the first model's stages, each model's
numbers coming from the operators aligned with them (``resnet_cli.comparison.stage_alignment``; ``--stages``
falls back to lining up named stages by position). One model alone is compared with its closest
variant. ``export_weights`` ports the first model's weights to the second's names (``resnet_cli.comparison.port``).

Everything returned is frozen plain numbers and text; ``resnet_cli.views.compare`` renders it.
torch is imported by the functions that need it, never at import time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.comparison.folding import Difference
from resnet_cli.comparison.identify import Closest
from resnet_cli.comparison.stage_alignment import StageCount, aligned_stages, own_stages, parse_stages, stage_of_path
from resnet_cli.spec import registry


@dataclass(frozen=True)
class ModelCount:
    name: str  # as given on the command line (the closest variant's label when it was added)
    source: str  # "registry" | "file" | "module" | "closest"
    description: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    device: str  # where it was analysed: "meta", or "cpu" when the user's code needed real tensors
    stages: tuple[StageCount, ...]  # its own stages
    params: int
    flops: int
    macs: int
    notes: tuple[str, ...] = ()  # for people (stderr): e.g. why it ran on the CPU
    # where and why its forward failed after some stages ran ("layer2.0", torch's message)
    failed_in: str | None = None
    failure: str | None = None
    failed_type: str | None = None  # the class of the module it failed in ("Block")
    failed_operator: str | None = None  # the ATen operator that raised (None: the model's own code)
    failure_why: str | None = None  # what that operator got and what it means (analysis.failure.explain)
    differences: tuple[Difference, ...] = ()  # against the first model (none for the first)
    closest: Closest | None = None  # the registered variant (and flags) it is, or is nearest to
    aligned: tuple[StageCount | None, ...] = ()  # its counterpart of each of the first model's stages
    unsupported: tuple = ()  # analysis.Unsupported: operators no formula covers (0 FLOPs), with their calls
    identified_as: tuple | None = None  # (registered name, flags) it equals exactly, as summary names a checkpoint


@dataclass(frozen=True)
class Delta:
    """One model's value against the first model's (``reference``)."""

    reference: int | None
    value: int | None

    @property
    def diff(self) -> int | None:
        return None if self.reference is None or self.value is None else self.value - self.reference

    @property
    def pct(self) -> float | None:
        diff = self.diff
        return None if diff is None or not self.reference else round(100.0 * diff / self.reference, 4)


@dataclass(frozen=True)
class Divergence:
    """A model's first difference from the first model, and the stage (of the first model) it is in."""

    index: int
    stage: str
    model: str
    stage_in_model: str | None  # the model's modules aligned with that stage (None: nothing is)
    reference_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: Delta
    flops: Delta
    difference: Difference

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.stage_in_model is None:
            return ("missing stage",)
        found = []
        if self.reference_shape != self.output_shape:
            found.append("output_shape")
        if self.params.diff:
            found.append("params")
        return tuple(found) or ("operators",)


@dataclass(frozen=True)
class ModelComparison:
    models: tuple[ModelCount, ...]
    stage_names: tuple[str, ...]  # the rows: the first model's stages (or the --stages by position)
    divergences: tuple[Divergence | None, ...]  # per model: its first difference (None for the first)
    by_position: bool = False  # --stages: rows are the named stages lined up by position
    handles: tuple = field(default=(), compare=False, repr=False)  # what export_weights needs

    @property
    def stage_count(self) -> int:
        return len(self.stage_names)

    @property
    def subject(self) -> ModelCount:
        """The model the comparison is about: the second (the only one, when one is compared alone)."""
        return self.models[1] if len(self.models) > 1 else self.models[0]

    @property
    def first_divergence(self) -> Divergence | None:
        found = [d for d in self.divergences if d is not None]
        return min(found, key=lambda d: d.index) if found else None

    @property
    def first_flops_difference(self) -> int | None:
        found = [i for i in (self.flops_difference(m) for m in range(1, len(self.models))) if i is not None]
        return min(found) if found else None

    def flops_difference(self, model_index: int) -> int | None:
        """The first stage index where this model's FLOPs differ from the first model's."""
        for index in range(self.stage_count):
            reference, other = self.stage(0, index), self.stage(model_index, index)
            if reference is None or other is None or reference.flops != other.flops:
                return index
        return None

    def stage(self, model_index: int, stage_index: int) -> StageCount | None:
        stages = self.models[model_index].aligned
        return stages[stage_index] if stage_index < len(stages) else None

    def stage_label(self, stage_index: int) -> str:
        return self.stage_names[stage_index]


@dataclass(frozen=True)
class _Analysed:
    """One model as analysed: what the comparison and the weight export read."""

    target: object  # resnet_cli.sources.target.Target
    name: str
    source: str
    description: str
    model: object
    analysis: object
    structure: object
    device: str
    notes: tuple[str, ...]
    failure: object  # the AnalysisFailure of a forward that broke midway, else None
    closest: Closest | None = None


def _analyse(target, reference: str | None, source: str | None = None) -> _Analysed:
    from resnet_cli.comparison.identify import closest, name_spec
    from resnet_cli.sources.target import analyze
    from resnet_cli.structure.align import structure

    analyzed = analyze(target, allow_partial=target.is_user_code)
    shaped = structure(
        analyzed.analysis,
        analyzed.failure is not None,
        analyzed.failure.module if analyzed.failure is not None else None,
    )
    if target.spec is None:  # user code: which variant it is, the search says
        found = closest(shaped, tuple(analyzed.analysis.input_shape), reference)
    elif target.variant is not None and target.variant.name in registry.VARIANTS and not target.changed:
        found = Closest(target.variant.name, (), True, target.spec)
    else:  # flags or a checkpoint: the registered name it differs least from, and the flags
        found = Closest(*name_spec(target.spec, reference), True, target.spec)
    return _Analysed(
        target,
        target.name,
        source or target.source,
        target.description,
        analyzed.model,
        analyzed.analysis,
        shaped,
        analyzed.device,
        tuple(target.notes) + tuple(analyzed.notes),
        analyzed.failure,
        found,
    )


def check_export(names: list[str], path: str) -> None:
    """``--export-weights`` refused before any work: more than two models, or a path it cannot write."""
    from resnet_cli.comparison.port import check_path

    if len(names) > 2:
        raise UsageError(
            f"--export-weights ports the first model's weights to the second; {len(names)} models were "
            "given (give two, or one to port from its closest variant)"
        )
    check_path(path)
    from resnet_cli.comparison.keras_port import check_path as check_keras_path

    check_keras_path(path)


def compare_models(
    names: list[str],
    overrides: dict | None = None,
    input_shape: tuple[int, ...] | None = None,
    stages: list[str] | None = None,
    weights: str | None = None,
) -> ModelComparison:
    """Analyse every model once, align each with the first, name its differences, identify it.

    ``overrides`` (spec field -> value) change every registered model; ``weights`` is a checkpoint for the
    first model (the weights ``export_weights`` ports)."""
    from resnet_cli.comparison.blocks import is_user_model
    from resnet_cli.sources.target import resolve_target, target_of_spec

    registered = [n for n in names if not is_user_model(n)]
    if overrides and not registered:
        raise UsageError(
            "architecture override flags change registered models, and none is named; "
            "your own model's structure comes from its code"
        )
    reference = names[0] if names[0] in registry.VARIANTS else None
    targets = [
        resolve_target(
            name, None if is_user_model(name) else overrides, input_shape, weights=weights if index == 0 else None
        )
        for index, name in enumerate(names)
    ]
    if input_shape is None:  # every model at one input: the one the first was made for (comparison.made_for)
        targets = _at_one_input(targets, [n for n in names if not is_user_model(n)], overrides)
    analysed = [_analyse(target, reference) for target in targets]
    subject = analysed[0]
    if len(analysed) == 1 and subject.target.is_user_code and subject.closest is None and subject.failure:
        # a broken model alone: the variant closest to the part that ran (comparison.prefix) is its reference
        from resnet_cli.comparison.prefix import closest_prefix

        found = closest_prefix(subject.structure, tuple(subject.analysis.input_shape), _params(subject.model))
        subject = analysed[0] = dataclasses.replace(subject, closest=found)
    if len(analysed) == 1 and subject.target.is_user_code and subject.closest is not None:
        # one model alone: compared with the registered variant closest to it
        found = subject.closest
        description = registry.VARIANTS[found.name].description + (", with the flags shown" if found.flags else "")
        candidate = dataclasses.replace(
            target_of_spec(found.spec, tuple(subject.analysis.input_shape)),
            name=found.label,
            description=f"the registered variant closest to "
            f"{'the part that ran' if subject.failure else 'it'}: "
            f"{description}",
        )
        analysed.insert(0, _analyse(candidate, found.name, source="closest"))
    if analysed[0].failure is not None and not stages and weights is None:
        analysed = _runs_first(analysed)
    elif analysed[0].failure is not None and len(analysed) > 1:
        analysed[0] = _stays_first(analysed[0], stages, weights)
    stage_choices = parse_stages(stages, len(analysed))
    return _comparison(analysed, stage_choices)


def _params(model) -> int | None:
    try:
        return sum(p.numel() for p in model.parameters())
    except Exception:  # noqa: BLE001 — a model without parameters() (Keras): the count only breaks a tie
        return None


def _runs_first(analysed: list[_Analysed]) -> list[_Analysed]:
    """The models with one that runs to the end first: a reference that breaks midway has no second half to
    compare against, so the first model that runs is the reference and the broken one gets its ``fails`` row."""
    whole = next((i for i, item in enumerate(analysed) if item.failure is None), None)
    if whole is None:
        return analysed
    broken, reference = analysed[0], analysed[whole]
    note = (
        f"{broken.name}: its forward fails in {broken.failure.module or 'its own forward'}, so the models are "
        f"compared with {reference.name}, the first that runs to the end"
    )
    reference = dataclasses.replace(reference, notes=(*reference.notes, note))
    return [reference, *analysed[:whole], *analysed[whole + 1 :]]


def _stays_first(broken: _Analysed, stages, weights) -> _Analysed:
    """A broken first model that stays the reference (``_runs_first`` would move it), with the note that says
    why: --stages are given per model in the order of the models, --weights loads into the first model."""
    why = (
        "--stages names each model's stages in the order the models are given"
        if stages
        else f"--weights {weights} is loaded into the first model"
    )
    note = (
        f"{broken.name}: its forward fails in {broken.failure.module or 'its own forward'}, but it stays the "
        f"reference, as {why}; the others are compared with it up to where it breaks (without --stages and "
        "--weights, the first model that runs to the end would be the reference)"
    )
    return dataclasses.replace(broken, notes=(*broken.notes, note))


def _at_one_input(targets: list, registered: list[str], overrides: dict | None) -> list:
    """The targets, each at the input the first was made for: a registered variant's or a checkpoint's own, the
    variant user code is identified as, else the first registered model's (else the default); the first model's
    notes say which input was taken."""
    from resnet_cli.comparison.made_for import choose
    from resnet_cli.sources.target import analyze, check_input, resolve_target

    first, _, note, found = choose(targets[0], lambda target: analyze(target, allow_partial=True))
    if first.default_input and found is None and registered:  # not identified: a named variant's input
        if first.source != "checkpoint":
            shape = resolve_target(registered[0], overrides).input_shape
            first = dataclasses.replace(first, input_shape=(first.input_shape[0], first.input_shape[1], *shape[2:]))
            note = (
                f"{first.name}: not identified as a registered variant; every model analysed at {registered[0]}'s "
                f"input, {'×'.join(map(str, first.input_shape))} (--input NxCxHxW changes it)"
            )
    shape = first.input_shape
    moved = [
        dataclasses.replace(t, input_shape=(t.input_shape[0], t.input_shape[1], *shape[2:]))
        if tuple(t.input_shape[2:]) != tuple(shape[2:])
        else t
        for t in targets[1:]
    ]
    for target in moved:
        if target.spec is not None:
            check_input(target.spec, target.input_shape, target.name)
    if note:
        first = dataclasses.replace(first, notes=(*first.notes, note))
    return [first, *moved]


def _comparison(analysed: list[_Analysed], stage_choices) -> ModelComparison:
    from resnet_cli.comparison.costs import charge, combined
    from resnet_cli.comparison.diagnose import findings
    from resnet_cli.comparison.folding import fold
    from resnet_cli.comparison.stage_alignment import unused_modules
    from resnet_cli.report.rows import totals
    from resnet_cli.structure.align import align

    first = analysed[0]
    first_totals = totals(first.analysis)
    own = [own_stages(a.model, a.analysis, choice, a.name) for a, choice in zip(analysed, stage_choices)]
    by_position = any(choice is not None for choice in stage_choices)
    counts, alignments, divergences = [], [], []
    for index, (item, stages) in enumerate(zip(analysed, own)):
        total = totals(item.analysis)
        differences: tuple[Difference, ...] = ()
        alignment = None
        if index == 0:
            aligned = stages
        else:
            alignment = align(first.structure, item.structure)
            failure = (item.failure.module, item.failure.why or item.failure.reason) if item.failure else None
            rows = fold(findings(alignment, failure), first.structure, item.structure, first_totals.flops)
            rows = charge(rows, first.model, first.analysis, item.model, alignment, item.analysis)
            differences = rows + unused_modules(
                first.model, first.analysis, item.model, item.analysis, item.failure is not None
            )
            remainder = (
                combined(differences, first.analysis, item.analysis, alignment)
                if differences and item.failure is None and first.failure is None
                else None
            )
            if remainder is not None:
                differences += (remainder,)
            aligned = (
                stages
                if by_position
                else aligned_stages(first.analysis, own[0], alignment, item.analysis, item.failure is not None)
            )
        alignments.append(alignment)
        counts.append(
            ModelCount(
                name=item.name,
                source=item.source,
                description=item.description,
                input_shape=tuple(item.analysis.input_shape),
                output_shape=item.analysis.output_shape,
                device=item.device,
                stages=stages,
                params=total.params,
                flops=total.flops,
                macs=total.macs,
                notes=item.notes,
                failed_in=item.failure.module if item.failure is not None else None,
                failure=item.failure.reason if item.failure is not None else None,
                differences=differences,
                failed_type=item.failure.module_type if item.failure else None,
                failed_operator=item.failure.operator if item.failure else None,
                failure_why=item.failure.why if item.failure else None,
                closest=item.closest if index else (item.closest if len(analysed) == 1 else None),
                aligned=aligned,
                unsupported=item.analysis.unsupported_ops(),
                identified_as=(item.closest.name, item.closest.flags) if item.closest and item.closest.exact else None,
            )
        )
    for index, count in enumerate(counts):
        divergences.append(_divergence(counts, index, first) if index and count.differences else None)
    names = (
        tuple(s.name for s in own[0])
        if not by_position
        else tuple(" / ".join(dict.fromkeys(s[i].name for s in own if i < len(s))) for i in range(max(map(len, own))))
    )
    return ModelComparison(tuple(counts), names, tuple(divergences), by_position, (tuple(analysed), tuple(alignments)))


def _divergence(counts: list[ModelCount], index: int, first: _Analysed) -> Divergence:
    difference = counts[index].differences[0]
    reference_stages = counts[0].aligned
    stage_index = stage_of_path(
        first.analysis, difference.reference, reference_stages, counts[index].aligned, difference.model
    )
    ours = reference_stages[stage_index] if stage_index < len(reference_stages) else None
    theirs = counts[index].aligned[stage_index] if stage_index < len(counts[index].aligned) else None
    return Divergence(
        index=stage_index,
        stage=ours.name if ours else "",
        model=counts[index].name,
        stage_in_model=theirs.name if theirs else None,
        reference_shape=ours.output_shape if ours else None,
        output_shape=theirs.output_shape if theirs else None,
        params=Delta(ours.params if ours else None, theirs.params if theirs else None),
        flops=Delta(ours.flops if ours else None, theirs.flops if theirs else None),
        difference=difference,
    )


def export_weights(comparison: ModelComparison, path: str, seed: int = 0, source_state: dict | None = None) -> dict:
    """Write the first model's weights (``source_state``, else initialised under ``seed``) under the second
    model's names to ``path``. Returns what was written; RuntimeFailure (nothing written) if the models'
    tensors do not pair up one to one."""
    from resnet_cli.comparison import port

    analysed, alignments = comparison.handles
    if len(analysed) != 2:
        raise RuntimeFailure(
            f"--export-weights: no registered variant is close to {analysed[0].name}; there is no "
            "model to port weights from (name one: `compare REFERENCE MODEL --export-weights FILE`)"
        )
    source, target = analysed
    plan = port.plan(alignments[1], source.model, target.model)
    if not plan.complete:
        raise RuntimeFailure(port.refuse_message(plan, source.name, target.name))
    state = port.ported_state(plan, source_state if source_state is not None else _seeded_state(source, seed))
    if path.lower().endswith((".h5", ".hdf5")):  # weights a Keras model loads
        from resnet_cli.comparison import keras_port

        written = keras_port.write(state, target.target.spec, path)
    else:
        written = port.write(state, path)
    from_checkpoint = source_state is not None or source.target.weights is not None
    return {
        "path": path,
        "format": written,
        "tensors": len(state),
        "identical": alignments[1].identical,
        "source": source.name,
        "target": target.name,
        "seed": None if from_checkpoint else seed,
        "checkpoint": source.target.weights,
    }


def _seeded_state(source: _Analysed, seed: int) -> dict:
    """The source model built for real (on the CPU), its initialisation under ``seed`` — or its checkpoint's
    tensors when it was given one (``weights``)."""
    import torch

    from resnet_cli.sources.target import build_real

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_real(source.target).state_dict()
