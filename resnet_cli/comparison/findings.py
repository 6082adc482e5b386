"""What a recogniser works with: an aligned pair of segments and the findings it records.

A ``BlockPair`` holds one aligned pair of blocks (or glue) from ``resnet_cli.structure.align``, names its layers as a
person would ("conv2 (3×3)", "the projection conv"), and lets recognisers (``resnet_cli.comparison.recognise``)
*claim* matches for ``Finding``s — a whole match, or some of its changed arguments — so that every
parameter and FLOP difference is charged to exactly one finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resnet_cli.structure.align import SAME, UNREACHED, Match, SegmentMatch
from resnet_cli.structure.layers import Layer, describe

MISSING_KIND, EXTRA_KIND, CHANGED_KIND, FAILURE_KIND = "missing", "extra", "changed", "fails"


@dataclass
class Finding:
    """One difference at one place, before folding."""

    kind: str  # missing | extra | changed | failure
    what: str  # in words, the same wherever it occurs (the folding key)
    block: str  # the block (or stem/head module) it is in, in the model's names where it has one
    suffix: str = ""  # where inside the block: "downsample", "" for the block itself
    reference: str | None = None  # module path in the reference
    model: str | None = None  # module path in the model
    ref_layers: list = field(default_factory=list)  # what the reference has there (for the message)
    scope: str = "block"  # "block": fold over blocks; "conv", "bn" …: fold over every layer of that kind
    position: float = 0.0
    params_delta: int = 0
    flops_delta: int = 0
    shapes: bool = False  # it changes the shapes after it (later shape differences are its cost)
    note: str = ""  # why it matters when it costs nothing by these counts
    context: str = ""  # a missing block: the model's stage it is missing from
    # what it changes, to apply to the reference alone (resnet_cli.comparison.costs): (SegmentMatch, Match or None
    # for the whole segment, the changed arguments it explains or None for all of them)
    edits: list = field(default_factory=list)
    consequences: list = field(default_factory=list)  # later matches that differ only because of it
    ref_block: str = ""  # the block (or stem/head module) in the reference's names

    def charge(self, match: Match, measure: str | None = None) -> None:
        """Add a match's parameter and FLOP differences (or one of them) to this finding."""
        if measure in (None, "params"):
            self.params_delta += (match.model.params if match.model else 0) - (match.ref.params if match.ref else 0)
        if measure == "params":
            return
        self.flops_delta += (match.model.flops if match.model else 0) - (match.ref.flops if match.ref else 0)
        ref_shape = match.ref.out_shape if match.ref else None
        model_shape = match.model.out_shape if match.model else None
        if match.ref is not None and match.model is not None and ref_shape != model_shape:
            self.shapes = True
        elif (match.ref is None) != (match.model is None):
            layer = match.ref or match.model
            if layer.in_shapes and layer.out_shape != layer.in_shapes[0]:
                self.shapes = True


def block_label(segment, ordinal: int) -> str:
    return segment.path or f"block {ordinal}"


def _runs_others(layer: Layer, sequence) -> bool:
    """Whether the module that ran ``layer`` also ran other layers (a block's forward calling ``F.relu``)."""
    return (
        sum(1 for other in sequence if other.module == layer.module) > 1
        and any(other.module.startswith(layer.module + ".") for other in sequence if layer.module)
    ) or not layer.module


def _named_before(layer: Layer, sequence, segment_path: str) -> str:
    """The own module of the closest layer before ``layer`` that has one (relative to the block)."""
    sequence = list(sequence)
    if layer not in sequence:
        return ""
    for other in reversed(sequence[: sequence.index(layer)]):
        if other.module and other.module != layer.module:
            return relative(other.module, segment_path) or other.module
    return ""


def relative(path: str | None, block: str) -> str:
    if not path:
        return ""
    if block and (path.startswith(block + ".") or path.startswith(block + "_")):
        return path[len(block) + 1 :]
    return "" if path == block else path


def parent(path: str) -> str:
    return path.rpartition(".")[0]


def _name(layer: Layer, segment_path: str, part: str, same_kind: list[Layer], sequence=()) -> str:
    """A layer as a person names it inside its block: "conv2 (3×3)", "the projection conv", "the ReLU after
    conv1_bn" (a layer with no module of its own, ``F.relu`` in a forward, named by the module before it) …"""
    inside = relative(layer.module, segment_path)
    kernel = f" ({'×'.join(map(str, layer.kernel))})" if layer.kind == "conv" and layer.kernel else ""
    if part == "shortcut" and layer.kind == "conv":
        return "the projection conv" + ("" if kernel == " (1×1)" else kernel)
    if inside and not (sequence and layer.is_activation and _runs_others(layer, sequence)):
        return inside + kernel
    before = _named_before(layer, sequence, segment_path)
    if before:
        return f"the {describe(layer)} after {before}"
    ordinal = same_kind.index(layer) + 1 if layer in same_kind else 0
    return f"{describe(layer)} #{ordinal}" if ordinal else describe(layer)


# what a changed argument costs: parameters (a bias, a kernel, groups), FLOPs (and the shapes after it)
_PARAMS_ATTRS = frozenset({"bias", "kernel", "groups", "affine"})
_FLOPS_ATTRS = frozenset({"stride", "padding", "dilation", "kernel", "groups", "kernel_size", "ceil_mode"})


class BlockPair:
    """One aligned pair of segments, with the names of its layers on either side.

    A recogniser *claims* matches for a finding: a whole match (a missing layer), or some of its changed
    arguments (the stride of a conv whose bias also differs) — then another finding can claim the rest.
    A match's parameter difference goes to the finding that explains its parameters, its FLOP difference to
    the one that explains its shape; a match is closed when all of it is explained.
    """

    def __init__(self, segment: SegmentMatch, label: str, ref_label: str) -> None:
        self.segment = segment
        self.label = label
        self.ref_label = ref_label
        self.open = [m for m in segment.matches if m.status not in (SAME, UNREACHED)]
        self.findings: list[Finding] = []
        self.owner: dict[int, Finding] = {}  # id(match) -> the finding charged with its FLOPs (or all of it)
        self.explained: dict[int, set[str]] = {}
        self.charged: dict[int, set[str]] = {}

    def name(self, layer: Layer, side: str, part: str) -> str:
        segment = self.segment.ref if side == "ref" else self.segment.model
        sequence = segment.part(part) if segment.kind != "glue" else segment.main
        same = [l for l in sequence if l.kind == layer.kind]
        return _name(layer, segment.path, part, same, sequence)

    def add(self, finding: Finding, matches, attrs: set[str] | None = None) -> Finding:
        """Record ``finding``, claiming ``matches`` whole (``attrs`` None) or the changed ``attrs`` of each."""
        finding.block = finding.block or self.label
        if self.segment.ref.kind != "glue":
            finding.ref_block = finding.ref_block or self.ref_label
        if self.segment.ref.kind == "glue":  # the stem or head: named by its module
            finding.block, finding.suffix = finding.model or finding.reference or self.label, ""
        for match in matches:
            self._claim(finding, match, attrs)
        self.findings.append(finding)
        return finding

    def _claim(self, finding: Finding, match: Match, attrs: set[str] | None) -> None:
        key = id(match)
        remaining = self.unexplained(match)
        explained = remaining if attrs is None else (attrs & remaining)
        self.explained.setdefault(key, set()).update(explained)
        whole = attrs is None or not self.unexplained(match)
        finding.edits.append((self.segment, match, None if attrs is None else frozenset(explained)))
        charged = self.charged.setdefault(key, set())
        for measure, relevant in (("params", _PARAMS_ATTRS), ("flops", _FLOPS_ATTRS)):
            if measure not in charged and (whole or explained & relevant):
                finding.charge(match, measure)
                charged.add(measure)
                if measure == "flops" or key not in self.owner:
                    self.owner[key] = finding
        if whole and match in self.open:
            self.open.remove(match)

    def unexplained(self, match: Match) -> set[str]:
        """The changed arguments of a match no finding has explained yet."""
        if match.ref is None or match.model is None:
            return set() if id(match) in self.charged else {"layer"}
        return config_changes(match) - self.explained.get(id(match), set())

    def previous_reference(self, match: Match) -> Layer | None:
        """The reference layer just before ``match`` in its part."""
        before = None
        for other in self.segment.matches:
            if other is match:
                return before
            if other.part == match.part and other.ref is not None:
                before = other.ref
        return before

    def previous(self, match: Match) -> Layer | None:
        """The model layer just before ``match`` in its part (what a missing layer should follow)."""
        before = None
        for other in self.segment.matches:
            if other is match:
                return before
            if other.part == match.part and other.model is not None:
                before = other.model
        return before


def config_changes(match: Match) -> set[str]:
    ref, model = dict(match.ref.config), dict(match.model.config)
    return {k for k in set(ref) | set(model) if ref.get(k) != model.get(k)}
