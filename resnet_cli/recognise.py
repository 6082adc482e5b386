"""Recognisers: each looks at one aligned pair of blocks (``resnet_cli.align``) and names what it sees.

A recogniser takes the layer matches it explains and turns them into one ``Finding`` with words a person
would use — another kind of shortcut, the stride on another conv, a ReLU before the addition instead of
after it, a missing BatchNorm, another expansion, another stem, a bias on a conv — and the parameter and
FLOP differences of those layers. They run in order; whatever is left is named layer by layer
(``_layer_changes``, ``_missing_and_extra``). ``resnet_cli.diagnose`` runs them over a whole alignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resnet_cli.align import CHANGED, EXTRA, MISSING, SAME, UNREACHED, Match, SegmentMatch
from resnet_cli.layers import Layer, describe

MISSING_KIND, EXTRA_KIND, CHANGED_KIND, FAILURE_KIND = "missing", "extra", "changed", "failure"


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

    def charge(self, match: Match) -> None:
        self.params_delta += (match.model.params if match.model else 0) - (match.ref.params if match.ref else 0)
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


def _relative(path: str | None, block: str) -> str:
    if not path:
        return ""
    if block and path.startswith(block + "."):
        return path[len(block) + 1:]
    return "" if path == block else path


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _name(layer: Layer, segment_path: str, part: str, same_kind: list[Layer]) -> str:
    """A layer as a person names it inside its block: "conv2 (3×3)", "the projection conv" …"""
    relative = _relative(layer.module, segment_path)
    kernel = f" ({'×'.join(map(str, layer.kernel))})" if layer.kind == "conv" and layer.kernel else ""
    if part == "shortcut" and layer.kind == "conv":
        return "the projection conv" + ("" if kernel == " (1×1)" else kernel)
    if relative:
        return relative + kernel
    ordinal = same_kind.index(layer) + 1 if layer in same_kind else 0
    return f"{describe(layer)} #{ordinal}" if ordinal else describe(layer)


class BlockPair:
    """One aligned pair of segments, with the names of its layers on either side."""

    def __init__(self, segment: SegmentMatch, label: str, ref_label: str) -> None:
        self.segment = segment
        self.label = label
        self.ref_label = ref_label
        self.open = [m for m in segment.matches if m.status not in (SAME, UNREACHED)]
        self.findings: list[Finding] = []
        self.owner: dict[int, Finding] = {}  # id(match) -> the finding that took it

    def name(self, layer: Layer, side: str, part: str) -> str:
        segment = self.segment.ref if side == "ref" else self.segment.model
        same = [l for l in segment.part(part) if l.kind == layer.kind] if segment.kind != "glue" else \
            [l for l in segment.main if l.kind == layer.kind]
        return _name(layer, segment.path, part, same)

    def add(self, finding: Finding, matches) -> Finding:
        finding.block = finding.block or self.label
        if self.segment.ref.kind == "glue":  # the stem or head: named by its module
            finding.block, finding.suffix = finding.model or finding.reference or self.label, ""
        for match in matches:
            finding.charge(match)
            self.owner[id(match)] = finding
            if match in self.open:
                self.open.remove(match)
        self.findings.append(finding)
        return finding

    def previous(self, match: Match) -> Layer | None:
        """The model layer just before ``match`` in its part (what a missing layer should follow)."""
        before = None
        for other in self.segment.matches:
            if other is match:
                return before
            if other.part == match.part and other.model is not None:
                before = other.model
        return before


# ---- recognisers: each takes the matches it explains ----

def _shortcut_kind(layers: tuple[Layer, ...]) -> str:
    kinds = [l.kind for l in layers]
    if not kinds:
        return "identity"
    if "conv" in kinds:
        conv = next(l for l in layers if l.kind == "conv")
        pooled = "avgpool" in kinds[:kinds.index("conv")]
        kernel = "×".join(map(str, conv.kernel or ()))
        return f"{'avg-pool projection' if pooled else 'projection'} ({'2×2 avg-pool, then ' if pooled else ''}" \
               f"{kernel} conv{' + BatchNorm' if 'bn' in kinds else ''})"
    if {"slice", "pad", "cat"} & set(kinds):
        return "zero-padding (subsample, pad the new channels with zeros)"
    if kinds == ["maxpool"]:
        return "subsampling (max-pool)"
    return ", ".join(describe(l) for l in layers)


def _shortcuts(block: BlockPair) -> None:
    ref, model = block.segment.ref, block.segment.model
    ref_kind, model_kind = _shortcut_kind(ref.shortcut), _shortcut_kind(model.shortcut)
    if ref_kind.split(" (")[0] == model_kind.split(" (")[0] or ref.kind == "glue":
        return
    names = {"projection": "option B", "zero-padding": "option A"}
    ref_word, model_word = ref_kind.split(" (")[0], model_kind.split(" (")[0]
    model_detail, ref_detail = model_kind.partition(" (")[2].rstrip(")"), ref_kind.partition(" (")[2].rstrip(")")
    what = (f"{model_word} shortcut{' (' + model_detail + ')' if model_detail else ''} where the reference's is "
            f"{'an' if ref_word[0] in 'aeiou' else 'a'} {ref_word}{' (' + ref_detail + ')' if ref_detail else ''}")
    if ref_word in names and model_word in names:
        what = f"{model_word} shortcut ({names[model_word]}) where the reference has {ref_word} ({names[ref_word]})"
    taken = [m for m in block.open if m.part == "shortcut"]
    block.add(Finding(CHANGED_KIND, what, "", reference=ref.path or None, model=model.path or None), taken)


def _strides(block: BlockPair) -> None:
    pairs = [m for m in block.segment.matches if m.ref is not None and m.model is not None and m.ref.kind == "conv"
             and m.part in ("main", "shortcut") and (m in block.open or m.status == SAME)]
    only_stride = [m for m in pairs if m.ref.stride != m.model.stride and _config_changes(m) <= {"stride"}]
    if not only_stride:
        return
    main = [m for m in pairs if m.part == "main"]
    # the shortcut conv is named only where its stride differs: it follows the main path's downsampling
    moved = [m for m in pairs if m.part == "shortcut" and m.ref.stride != m.model.stride]
    ref_on = [block.name(m.ref, "ref", m.part) for m in main + moved if m.ref.stride > 1]
    model_on = [block.name(m.model, "model", m.part) for m in main + moved if m.model.stride > 1]
    stride = max([m.ref.stride for m in pairs] + [m.model.stride for m in pairs])
    if not model_on and ref_on:
        what = f"no stride {stride}: the reference downsamples here with stride {stride} on {_and(ref_on)}"
    elif not ref_on and model_on:
        what = f"stride {stride} on {_and(model_on)} where the reference does not downsample"
    elif set(ref_on) < set(model_on):
        what = f"stride {stride} on {_and(model_on)} where the reference has it on {_and(ref_on)} only"
    else:
        what = f"stride {stride} is on {_and(model_on)} where the reference has it on {_and(ref_on)}"
        first = next((m for m in main if m.model.stride > 1), None)
        if first is not None and first is main[0] and first.model.kernel == (1, 1) and len(main) == 3:
            what += " — this is the v1 placement"
        elif first is not None and len(main) == 3 and first.model.kernel == (3, 3) and main[0].ref.stride > 1:
            what += " — this is the v1.5 placement"
    seg = block.segment
    block.add(Finding(CHANGED_KIND, what, "", reference=seg.ref.path or None, model=seg.model.path or None),
              only_stride)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _config_changes(match: Match) -> set[str]:
    ref, model = dict(match.ref.config), dict(match.model.config)
    return {k for k in set(ref) | set(model) if ref.get(k) != model.get(k)}


def _activations(block: BlockPair) -> None:
    seg = block.segment
    missing_tail = [m for m in block.open if m.part == "tail" and m.status == MISSING and m.ref.is_activation]
    extra_tail = [m for m in block.open if m.part == "tail" and m.status == EXTRA and m.model.is_activation]
    main_end = [m for m in block.open if m.part == "main" and m.status == EXTRA and m.model.is_activation
                and m.model is (seg.model.main[-1] if seg.model.main else None)]
    where = dict(reference=seg.ref.path or None, model=seg.model.path or None)
    for missing in missing_tail:
        act = describe(missing.ref)
        if main_end:
            block.add(Finding(CHANGED_KIND, f"{act} before the residual addition instead of after it", "",
                              note="same parameters and fvcore FLOPs, but the block's output is no longer "
                                   "rectified and its shortcut carries a rectified signal", **where),
                      [missing, main_end.pop()])
        else:
            block.add(Finding(MISSING_KIND, f"no {act} after the residual addition", "",
                              note="fvcore counts no FLOPs for it, but without it the block's output is not "
                                   "rectified: another function with the same parameters", **where), [missing])
    for extra in extra_tail:
        block.add(Finding(EXTRA_KIND, f"a {describe(extra.model)} after the residual addition that the reference "
                                      "does not have", "", note="it changes what the block computes", **where),
                  [extra])


def _expansion(block: BlockPair) -> None:
    seg = block.segment
    ref_convs = [l for l in seg.ref.main if l.kind == "conv"]
    model_convs = [l for l in seg.model.main if l.kind == "conv"]
    if len(ref_convs) != 3 or len(model_convs) != 3 or not ref_convs[1].out_channels or not model_convs[1].out_channels:
        return
    ref_ratio = ref_convs[2].out_channels / ref_convs[1].out_channels
    model_ratio = model_convs[2].out_channels / model_convs[1].out_channels
    if ref_ratio == model_ratio:
        return
    channel_origins = [m for m in block.open if m.status == CHANGED and m.ref.kind in ("conv", "linear")
                       and not _config_changes(m) and m.ref.in_channels == m.model.in_channels]
    what = (f"expansion {_ratio(model_ratio)} where the reference has {_ratio(ref_ratio)}: the block widens "
            f"{model_convs[1].out_channels} to {model_convs[2].out_channels} channels where the reference widens "
            f"{ref_convs[1].out_channels} to {ref_convs[2].out_channels}")
    finding = Finding(CHANGED_KIND, f"expansion {_ratio(model_ratio)} where the reference has {_ratio(ref_ratio)}",
                      "", reference=seg.ref.path or None, model=seg.model.path or None)
    finding.note = what.split(": ", 1)[1]
    block.add(finding, channel_origins)


def _ratio(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _layer_changes(block: BlockPair) -> None:
    for match in list(block.open):
        if match.status != CHANGED:
            continue
        changes = _config_changes(match)
        ref, model = match.ref, match.model
        name = block.name(model, "model", match.part)
        where = dict(reference=ref.module or None, model=model.module or None,
                     suffix=_relative(model.module, block.segment.model.path))
        if changes == {"bias"}:
            if model.get("bias"):
                block.add(Finding(EXTRA_KIND, f"a bias where the reference's {_kind_word(ref)} has none", "",
                                  scope=ref.kind, note="a bias before a BatchNorm is cancelled by its mean",
                                  **where), [match])
            else:
                block.add(Finding(MISSING_KIND, f"no bias where the reference's {_kind_word(ref)} has one", "",
                                  scope=ref.kind, **where), [match])
            continue
        prefix = "" if where["suffix"] or block.segment.ref.kind == "glue" and model.module else f"{name}: "
        if changes:
            model_config, ref_config = dict(model.config), dict(ref.config)
            parts = [_change_words(key, model_config.get(key), ref_config.get(key)) for key in sorted(changes)
                     if key != "kernel"]
            if "kernel" in changes:
                what = (f"{_tuple(model_config['kernel'])} {_kind_word(ref)} where the reference's is "
                        f"{_tuple(ref_config['kernel'])}" + (f" ({', '.join(parts)})" if parts else ""))
            else:
                what = ", ".join(parts)
            if _spatial(ref.out_shape) != _spatial(model.out_shape) and ref.in_shapes == model.in_shapes:
                what += f": output {_spatial(model.out_shape)} instead of {_spatial(ref.out_shape)}"
            what = prefix + what
        elif ref.in_channels == model.in_channels and ref.out_channels != model.out_channels:
            what = f"{prefix}{model.out_channels} output channels where the reference has {ref.out_channels}"
        else:
            continue  # its input changed: the cost of an earlier difference
        block.add(Finding(CHANGED_KIND, what, "", **where), [match])


def _kind_word(layer: Layer) -> str:
    return {"conv": "conv", "linear": "linear layer"}.get(layer.kind, layer.kind)


def _spatial(shape) -> str:
    return "×".join(map(str, shape[2:])) if shape and len(shape) > 2 else "×".join(map(str, shape or ()))


def _tuple(value) -> str:
    return "×".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _change_words(key: str, model_value, ref_value) -> str:
    def show(value):
        if isinstance(value, tuple):
            return "×".join(map(str, value)) if len(set(value)) > 1 or key == "kernel" else str(value[0])
        return str(value)
    if key == "kernel":
        return f"{show(model_value)} kernel where the reference's is {show(ref_value)}"
    if key == "padding":
        word = {"0": ' ("valid")'}.get(show(model_value), "")
        return f"padding {show(model_value)}{word} where the reference pads {show(ref_value)}"
    return f"{key.replace('_', ' ')} {show(model_value)} where the reference has {show(ref_value)}"


def _missing_and_extra(block: BlockPair) -> None:
    seg = block.segment
    for match in list(block.open):
        if match.status == MISSING:
            before = block.previous(match)
            after = f" after {block.name(before, 'model', match.part)}" if before is not None else ""
            ref = match.ref
            model_path = _parent(before.module) if before is not None and before.module else seg.model.path
            detail = f"reference has {describe(ref)}" + (f": {ref.params:,} parameters" if ref.params else "")
            block.add(Finding(MISSING_KIND, f"no {_noun(ref)}{after}", "", reference=ref.module or None,
                              model=model_path or None, suffix=_relative(model_path, seg.model.path),
                              ref_layers=[detail]), [match])
        elif match.status == EXTRA:
            model = match.model
            before = block.previous(match)
            after = f" after {block.name(before, 'model', match.part)}" if before is not None else ""
            block.add(Finding(EXTRA_KIND, f"an extra {describe(model)}{after}", "", model=model.module or None,
                              suffix=_relative(model.module, seg.model.path)), [match])


def _noun(layer: Layer) -> str:
    return "BatchNorm" if layer.kind == "bn" else describe(layer)


def _stem(block: BlockPair) -> None:
    """Another stem (the deep stem of ResNet-C/D, a CIFAR stem): one row, not one per conv."""
    seg = block.segment
    ref_convs = [l for l in seg.ref.main if l.kind == "conv"]
    model_convs = [l for l in seg.model.main if l.kind == "conv"]
    if not ref_convs or not model_convs or [l.kernel for l in ref_convs] == [l.kernel for l in model_convs]:
        return
    taken = [m for m in block.open if (m.ref or m.model).kind in ("conv", "bn", "relu")]
    what = (f"{_count(len(model_convs))} ({', '.join(describe(l) for l in model_convs)}) where the reference has "
            f"{_count(len(ref_convs))} ({', '.join(describe(l) for l in ref_convs)})")
    block.add(Finding(CHANGED_KIND, what, "stem", reference=ref_convs[0].module or None,
                      model=model_convs[0].module or None), taken)
    block.findings[-1].block = "stem"


def _count(convs: int) -> str:
    return {1: "one conv", 2: "two convs", 3: "three convs"}.get(convs, f"{convs} convs")


_RECOGNISERS = {
    "block": (_shortcuts, _strides, _activations, _expansion, _layer_changes, _missing_and_extra),
    "stem": (_stem, _layer_changes, _missing_and_extra),
    "glue": (_layer_changes, _missing_and_extra),
}


def recognise(pair: BlockPair, where: str) -> None:
    """Name every difference of one aligned pair: ``where`` is "block", "stem" or "glue" (between blocks)."""
    for recogniser in _RECOGNISERS[where]:
        recogniser(pair)
