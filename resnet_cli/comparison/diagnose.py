"""An alignment (``resnet_cli.structure.align``) turned into named differences, each with its parameter and FLOP cost.

Recognisers look at each aligned pair of blocks and name what they see the way a person would: a
shortcut of another kind, a stride on another conv, a ReLU before the addition instead of after it, a
missing BatchNorm, another expansion, a missing block, a bias on a conv. Whatever no recogniser names is
still reported, layer by layer. A layer that only differs because an earlier difference changed its
input (a larger map after a forgotten stride, more channels after another expansion) is not a difference
of its own: its cost is added to that earlier one. The same fault in many blocks is folded into one row
with the list of blocks (``resnet_cli.comparison.folding``).

Costs are exact: parameters the layers read, and fvcore's FLOPs — which count no ReLU and no addition,
so a misplaced ReLU costs nothing there although it changes what the network computes.
"""

from __future__ import annotations

from resnet_cli.base.text import and_list
from resnet_cli.comparison.findings import (
    CHANGED_KIND,
    EXTRA_KIND,
    FAILURE_KIND,
    MISSING_KIND,
    BlockPair,
    Finding,
    block_label,
)
from resnet_cli.comparison.recognise import recognise
from resnet_cli.structure.align import CHANGED, EXTRA, MISSING, SHAPE, UNREACHED, Alignment, Match, SegmentMatch

__all__ = ["CHANGED_KIND", "EXTRA_KIND", "FAILURE_KIND", "MISSING_KIND", "Finding", "block_label", "findings"]


# ---- the whole alignment ----


def findings(alignment: Alignment, model_failure: tuple[str, str] | None = None) -> list[Finding]:
    """Every difference of the model from the reference, unfolded, in the reference's order.

    ``model_failure``: (module, torch's message) where the model's forward broke, if it did.
    """
    found: list[Finding] = []
    owner: dict[int, Finding] = {}
    ordered: list[Match] = []
    seen = {"ref": 0, "model": 0}
    previous: dict = {"ref": None, "model": None}
    counterpart: dict[str, str] = {}
    kinds = [(s.ref or s.model).kind for s in alignment.segments]
    first_block = next((i for i, kind in enumerate(kinds) if kind != "glue"), 0)
    last_block = max((i for i, kind in enumerate(kinds) if kind != "glue"), default=-1)
    for index, segment in enumerate(alignment.segments):
        labels = {}
        for side in ("ref", "model"):
            seg = getattr(segment, side)
            if seg is not None and seg.kind != "glue":
                seen[side] += 1
            labels[side] = (
                None
                if seg is None
                else _glue_label(seg, index, first_block, last_block)
                if seg.kind == "glue"
                else block_label(seg, seen[side])
            )
        if labels["model"] and labels["ref"]:
            counterpart[labels["model"]] = labels["ref"]  # where a failure in the model is, in the reference
        matches = sorted(segment.matches, key=lambda m: _match_position(segment, m))
        ordered.extend(matches)
        if segment.status == UNREACHED:
            continue
        if segment.status in (MISSING, EXTRA):
            found.append(_whole_segment(segment, labels, previous, owner))
            continue
        previous = labels
        block = BlockPair(segment, labels["model"], labels["ref"])
        glue = segment.ref.kind == "glue"
        recognise(block, "block" if not glue else "stem" if index < first_block else "glue")
        found.extend(block.findings)
        owner.update(block.owner)
    found.extend(settings_findings(alignment))
    _charge_consequences(ordered, owner, found)
    position = {id(m): i for i, m in enumerate(ordered)}
    first_of: dict[int, int] = {}
    for key, finding in owner.items():
        first_of[id(finding)] = min(first_of.get(id(finding), len(ordered)), position[key])
    for finding in found:
        finding.position = first_of.get(id(finding), len(ordered))
    if model_failure is not None:
        module, message = model_failure
        found.append(
            Finding(
                FAILURE_KIND,
                message,
                module or "forward",  # message: analysis.failure.explain
                model=module or None,
                position=len(ordered) + 1,
                ref_block=counterpart.get(module, ""),
                reference=counterpart.get(module),
                note="the models are compared up to here",
            )
        )
    found.sort(key=lambda f: f.position)
    return found


_LAYER_WORDS = {
    "bn": "BatchNorm",
    "relu": "ReLU",
    "conv": "conv",
    "maxpool": "max-pool",
    "avgpool": "avg-pool",
    "gap": "global average pool",
    "linear": "linear layer",
}


def _glue_label(segment, index: int, first_block: int, last_block: int) -> str:
    """The layers between blocks: by the module holding them, else where they are."""
    if segment.path:
        return segment.path
    return "stem" if index < first_block else "head" if index > last_block else "between blocks"


def _whole_segment(segment: SegmentMatch, labels: dict, previous: dict, owner: dict) -> Finding:
    """A block (or glue) with no counterpart at all: one finding, folded per stage later."""
    seg = segment.ref or segment.model
    missing = segment.model is None
    context = previous["model"] if missing else previous["ref"]
    if seg.kind == "glue":  # layers between blocks: named by kind ("BatchNorm and ReLU"), folded by that
        kinds = list(dict.fromkeys(_LAYER_WORDS.get(l.kind, l.kind) for l in seg.layers))
        words = and_list(kinds)
        what = f"{words} that the reference does not have" if not missing else f"no {words} here (the reference has)"
    else:
        what = "block"
    finding = Finding(
        MISSING_KIND if missing else EXTRA_KIND,
        what,
        labels["model"] or labels["ref"],
        reference=segment.ref.path or None if segment.ref else None,
        model=segment.model.path or None if segment.model else None,
        scope="segment" if seg.kind != "glue" else "block",
        context=context.rpartition(".")[0] if context else "",
    )
    for match in segment.matches:
        finding.charge(match)
        owner[id(match)] = finding
    finding.edits.append((segment, None, None))
    return finding


def _match_position(segment: SegmentMatch, match: Match) -> float:
    """The reference's execution order; a model-only layer right after the reference layer before it."""
    last = -1.0
    for other in segment.matches:
        if other.ref is not None:
            last = float(other.ref.index)
        if other is match:
            return last if match.ref is not None else last + 0.5
    return last


def _charge_consequences(ordered: list[Match], owner: dict[int, Finding], found: list[Finding]) -> None:
    """Layers that differ only because their input did are no difference of their own: what they cost is part of
    the difference that changed the shapes (``resnet_cli.comparison.costs`` applies it to the reference alone) or
    of the combined effect. Only where no named difference came before are they a row of their own."""
    last = None
    for match in ordered:
        taken = owner.get(id(match))
        if taken is not None:
            if taken.shapes:
                last = taken
            continue
        if match.status in (SHAPE, CHANGED):
            if last is None:
                last = Finding(
                    CHANGED_KIND,
                    "the shapes differ from here",
                    match.model.module or "model",
                    reference=match.ref.module or None,
                    model=match.model.module or None,
                )
                found.append(last)
                last.charge(match)
            else:
                last.consequences.append(match)
            owner[id(match)] = last


_KIND_NAMES = {"bn": "BatchNorm"}


def settings_findings(alignment: Alignment) -> list[Finding]:
    """Settings (a BatchNorm's eps, momentum) that differ between aligned layers: one finding per layer, folded
    into one row per setting and value (``scope`` "setting:KIND"); they change no count, shape or parameter."""
    found = []
    for _, match in alignment.matches():
        if match.ref is None or match.model is None:
            continue
        ref, model = dict(match.ref.settings), dict(match.model.settings)
        names = [name for name in sorted(set(ref) | set(model)) if ref.get(name) != model.get(name)]
        if names:  # every setting of one layer in one phrase: "eps 0.001, momentum 0.01 where the reference has …"
            if len(names) == 1:
                what = f"{names[0]} {_value(model.get(names[0]))} where the reference has {_value(ref.get(names[0]))}"
            else:
                what = (
                    ", ".join(f"{n} {_value(model.get(n))}" for n in names)
                    + " where the reference has "
                    + ", ".join(f"{n} {_value(ref.get(n))}" for n in names)
                )
            found.append(
                Finding(
                    CHANGED_KIND,
                    what,
                    match.model.module or "model",
                    reference=match.ref.module or None,
                    model=match.model.module or None,
                    scope="setting:" + match.ref.kind,
                    note="a setting: it changes no operator count, shape or parameter",
                    position=-1.0,
                )
            )
    return found


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
