"""Findings (``resnet_cli.comparison.diagnose``) folded into the rows a person reads: one row per fault, with its
blocks.

The same fault in many blocks is one row ("every block of layer1–layer4: no ReLU after the residual
addition"); a fault of one kind of layer everywhere is one row ("every conv: …"); blocks missing from a
stage are one row per stage ("layer3: 5 blocks where the reference has 6"). Each row keeps exact
parameter and FLOP differences; its message says where, what, and what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from resnet_cli.base.text import and_list, si_prefix
from resnet_cli.comparison.diagnose import FAILURE_KIND, Finding, block_label


@dataclass(frozen=True)
class Difference:
    """One row: a fault, where it is in each model, and what it costs (model − reference)."""

    kind: str  # missing | extra | changed | fails
    reference: str | None  # module path in the reference (the first place, if folded)
    model: str | None  # module path in the model
    message: str
    blocks: tuple[str, ...]  # every block (or stem/head module) it occurs in, in the model's names
    params_delta: int
    flops_delta: int
    # how its cost was found: "alone" (applied to the reference alone and analysed again), "layers" (the
    # layers it names, where it cannot be applied alone), "remainder" (the combined effect row), "none"
    costed: str = "layers"
    what: str = field(default="", compare=False, repr=False)  # the message before its costs
    note: str = field(default="", compare=False, repr=False)
    edits: tuple = field(default=(), compare=False, repr=False)  # resnet_cli.comparison.costs applies them
    consequences: tuple = field(default=(), compare=False, repr=False)  # later matches changed by it


def with_costs(row: Difference, params: int, flops: int, reference_flops: int, costed: str) -> Difference:
    """The row with other costs (and its message saying them)."""
    return replace(
        row,
        params_delta=params,
        flops_delta=flops,
        costed=costed,
        message=_message(row.what, params, flops, reference_flops, row.note),
    )


def _message(what: str, params: int, flops: int, reference_flops: int, note: str) -> str:
    tail = [cost] if (cost := costs(params, flops, reference_flops)) else []
    if note:
        tail.append(note)
    return what + ("; " + "; ".join(tail) if tail else "")


def compact(value: int) -> str:
    """A signed count with no space inside, so a line never breaks in a number: -1.6M, +411.0M, -512."""
    sign = "+" if value > 0 else "-" if value < 0 else ""
    scaled, suffix = si_prefix(abs(value))
    return f"{sign}{scaled:.1f}{suffix}" if suffix else f"{sign}{abs(value)}"


def _stage(label: str) -> str:
    return label.rpartition(".")[0]


def _range(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{names[0]}–{names[-1]}"


def blocks_phrase(blocks: list[str], all_blocks: list[str]) -> str:
    """ "every block of layer1–layer4", "layer2.0, layer3.0 and layer4.0", "7 blocks (layer1.1 … layer4.2)"."""
    chosen = set(blocks)
    stages = list(dict.fromkeys(_stage(b) for b in all_blocks))
    if chosen >= set(all_blocks) and all_blocks:
        named = [s for s in stages if s]
        return f"every block of {_range(named)}" if len(named) == len(stages) and len(named) > 1 else "every block"
    # a stage counts as "every block" only with two or more: one block is named
    full = [
        s
        for s in stages
        if s
        and {b for b in all_blocks if _stage(b) == s} <= chosen
        and sum(1 for b in all_blocks if _stage(b) == s) > 1
    ]
    covered = {b for b in all_blocks if _stage(b) in full}
    if full and covered == chosen and len(blocks) > 1:
        return f"every block of {_range(full)}" if _consecutive(full, stages) else "every block of " + and_list(full)
    if len(blocks) <= 4:
        return and_list(blocks)
    return f"{len(blocks)} blocks ({blocks[0]} … {blocks[-1]})"


def _consecutive(chosen: list[str], stages: list[str]) -> bool:
    positions = [stages.index(s) for s in chosen]
    return positions == list(range(positions[0], positions[0] + len(positions)))


def costs(params: int, flops: int, reference_flops: int) -> str:
    parts = []
    if params:
        parts.append(f"params {params:+,}")
    if flops:
        pct = f" ({100.0 * flops / reference_flops:+.1f}%)" if reference_flops else ""
        parts.append(f"FLOPs {compact(flops)}{pct}")
    return ", ".join(parts)


def fold(found: list[Finding], ref_structure, model_structure, reference_flops: int) -> tuple[Difference, ...]:
    """The rows, in the order their first occurrence runs in the reference."""
    model_blocks = [block_label(s, i + 1) for i, s in enumerate(model_structure.blocks)]
    ref_blocks = [block_label(s, i + 1) for i, s in enumerate(ref_structure.blocks)]
    groups: dict[tuple, list[Finding]] = {}
    for finding in found:
        if finding.scope == "segment":
            key = (finding.kind, finding.what, _stage(finding.block), finding.context)
        elif finding.scope == "block":
            key = (finding.kind, finding.what, finding.suffix)
        else:
            key = (finding.kind, finding.what, finding.scope)
        groups.setdefault(key, []).append(finding)
    rows = []
    for members in groups.values():
        params = sum(f.params_delta for f in members)
        flops = sum(f.flops_delta for f in members)
        first = members[0]
        blocks = list(dict.fromkeys(f.block for f in members))
        if first.scope == "segment":
            message = _segment_message(first, members, ref_blocks, model_blocks)
        elif first.scope == "block":
            where = blocks_phrase(blocks, model_blocks) if first.kind != FAILURE_KIND else and_list(blocks)
            ref_where = (
                blocks_phrase(list(dict.fromkeys(f.ref_block for f in members if f.ref_block)), ref_blocks)
                if all(f.ref_block for f in members)
                else ""
            )
            if ref_where and ref_where != where and not first.suffix:
                where += f" (reference: {ref_where})"
            if first.suffix:
                where = f"{first.block}.{first.suffix}" if len(blocks) == 1 else f"{first.suffix} of {where}"
                references = list(dict.fromkeys(f.reference for f in members if f.reference))
                if len(blocks) == 1 and len(references) == 1 and references[0] != where:
                    where += f" (reference: {references[0]})"
            message = f"{where}: {first.what}{_reference_detail(members)}"
        elif first.scope.startswith("setting:"):
            kind = first.scope.partition(":")[2]
            noun = _KIND_NOUNS.get(kind, kind)
            total = sum(1 for layer in model_structure.layers if layer.kind == kind)
            paths = list(dict.fromkeys(f.model or f.block for f in members))
            where = (
                f"every {noun}"
                if len(members) == total
                else and_list(paths)
                if len(paths) <= 3
                else f"{len(members)} {noun}s ({paths[0]} … {paths[-1]})"
            )
            message = f"{where}: {first.what}"
        else:
            total = sum(1 for layer in model_structure.layers if layer.kind == first.scope)
            paths = list(dict.fromkeys(f.model or f.block for f in members))
            where = (
                f"every {first.scope}"
                if len(members) == total
                else and_list(paths)
                if len(paths) <= 3
                else f"{len(members)} {first.scope}s in {blocks_phrase(blocks, model_blocks)}"
            )
            message = f"{where}: {first.what}"
        edits = tuple(edit for f in members for edit in f.edits)
        rows.append(
            (
                first.position,
                Difference(
                    first.kind,
                    first.reference,
                    first.model,
                    _message(message, params, flops, reference_flops, first.note),
                    tuple(blocks),
                    params,
                    flops,
                    "none" if first.scope.startswith("setting:") else "layers",
                    message,
                    first.note,
                    edits,
                    tuple(m for f in members for m in f.consequences),
                ),
            )
        )
    rows.sort(key=lambda r: r[0])
    return tuple(row for _, row in rows)


_KIND_NOUNS = {"bn": "BatchNorm", "conv": "conv", "linear": "linear layer"}


def _reference_detail(members: list[Finding]) -> str:
    details = list(dict.fromkeys(f.ref_layers[0] for f in members if f.ref_layers))
    if not details:
        return ""
    if len(details) == 1:
        return f" ({details[0]})"
    return " (reference has " + ", ".join(d.split(": ")[0].removeprefix("reference has ") for d in details) + ")"


def _names(labels: list[str]) -> str:
    return and_list(labels) if len(labels) <= 4 else f"{labels[0]} … {labels[-1]}"


def _segment_message(first: Finding, members: list[Finding], ref_blocks: list[str], model_blocks: list[str]) -> str:
    labels = [f.block for f in members]
    stage = _stage(first.block)
    if first.what == "block" and stage:
        if first.kind == "missing":
            ref_total = sum(1 for b in ref_blocks if _stage(b) == stage)
            model_stage = first.context or stage
            model_total = sum(1 for b in model_blocks if _stage(b) == model_stage)
            where = stage if model_stage == stage else f"{model_stage} (reference {stage})"
            return (
                f"{where}: {model_total} blocks where the reference has {ref_total} "
                f"(no counterpart for {_names(labels)})"
            )
        model_total = sum(1 for b in model_blocks if _stage(b) == stage)
        ref_stage = first.context or stage
        ref_count = sum(1 for b in ref_blocks if _stage(b) == ref_stage)
        where = stage if ref_stage == stage else f"{stage} (reference {ref_stage})"
        return f"{where}: {model_total} blocks where the reference has {ref_count} ({_names(labels)} extra)"
    if first.kind == "missing":
        return f"{and_list(labels)}: the model has nothing that does what these layers of the reference do"
    return f"{and_list(labels)}: layers that the reference does not have"
