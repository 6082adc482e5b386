"""Recognisers: each looks at one aligned pair of blocks (``resnet_cli.structure.align``) and names what it sees.

A recogniser claims the layer matches it explains (``resnet_cli.comparison.findings.BlockPair``) for one ``Finding``
with words a person would use — another kind of block or shortcut, squeeze-excitation, the stride on
another conv, a bias, a ReLU before the addition instead of after it, another expansion, another stem, a
layer moved — and the parameter and FLOP differences of those layers. They run in order; whatever is left
is named layer by layer (``_layer_changes``, ``_missing_and_extra``). ``resnet_cli.comparison.diagnose`` runs them over
a whole alignment.
"""

from __future__ import annotations

from resnet_cli.base.text import and_list
from resnet_cli.comparison.findings import (
    CHANGED_KIND,
    EXTRA_KIND,
    MISSING_KIND,
    BlockPair,
    Finding,
    config_changes,
    parent,
    relative,
)
from resnet_cli.structure.align import CHANGED, EXTRA, MISSING, SAME
from resnet_cli.structure.layers import Layer, describe

# ---- recognisers: each takes the matches it explains ----


def _main_convs(layers: tuple[Layer, ...]) -> list[Layer]:
    """The block's own convs: those before a global pool (after it: squeeze-excitation)."""
    convs = []
    for layer in layers:
        if layer.kind == "gap":
            break
        if layer.kind == "conv":
            convs.append(layer)
    return convs


def _block_shape(segment) -> str:
    """ "bottleneck (1×1, 3×3, 1×1 convs)", "pre-activation basic block (3×3, 3×3 convs)" …"""
    convs = _main_convs(segment.main)
    kernels = ", ".join("×".join(map(str, c.kernel or ())) for c in convs)
    noun = {2: "basic block", 3: "bottleneck"}.get(len(convs), f"block of {len(convs)} convs")
    own = segment.main[: segment.main.index(convs[-1]) + 2] if convs else segment.main  # up to its last conv's BN
    preact = bool(convs) and not any(l.kind == "bn" for l in own[own.index(convs[-1]) :])
    return f"{'pre-activation ' if preact else ''}{noun} ({kernels} conv{'s' if len(convs) != 1 else ''})"


def _block_kind(block: BlockPair) -> None:
    """Another kind of block (basic for bottleneck, pre-activation for post-activation): one row."""
    seg = block.segment
    ref_shape, model_shape = _block_shape(seg.ref), _block_shape(seg.model)
    if ref_shape == model_shape:
        return
    what = f"{model_shape} where the reference has {'an' if ref_shape[0] in 'aeiou' else 'a'} {ref_shape}"
    taken = [
        m
        for m in block.open
        if m.part in ("main", "tail") and ((m.ref or m.model).kind in ("conv", "bn", "relu") or m.part == "tail")
    ]
    block.add(Finding(CHANGED_KIND, what, "", reference=seg.ref.path or None, model=seg.model.path or None), taken)


def _gate(layers) -> list[Layer]:
    """The channel attention inside a path: from its global pool to the multiplication it gates with."""
    layers = list(layers)
    start = next((i for i, l in enumerate(layers) if l.kind == "gap"), None)
    if start is None:
        return []
    end = next((i for i in range(start, len(layers)) if layers[i].kind == "mul"), None)
    gate = layers[start : end + 1] if end is not None else []
    return gate if any(l.kind == "sigmoid" for l in gate) else []


def _gate_words(gate: list[Layer]) -> str:
    """ "squeeze-and-excitation (global average pool, 1×1 convs 256→16→256, sigmoid gate)", "efficient channel
    attention (global average pool, a 1-D conv of 5 across channels, sigmoid gate)"."""
    one_d = [l for l in gate if l.kind == "conv" and l.in_shapes and len(l.in_shapes[0]) == 3]
    if one_d:
        return (
            f"efficient channel attention (global average pool, a 1-D conv of {_tuple(one_d[0].kernel or ())} "
            "across channels, sigmoid gate)"
        )
    squeeze = [l for l in gate if l.kind in ("linear", "conv")]
    widths = "→".join([str(squeeze[0].in_channels[0])] + [str(l.out_channels) for l in squeeze]) if squeeze else ""
    return (
        f"squeeze-and-excitation (global average pool, 1×1 convs {widths}, sigmoid gate)"
        if widths
        else "squeeze-and-excitation (global average pool, 1×1 convs, sigmoid gate)"
    )


def _squeeze_excitation(block: BlockPair) -> None:
    """Channel attention (squeeze-excitation, ECA) one model has and the other not, or of another kind."""
    seg = block.segment
    ref_gate, model_gate = _gate(seg.ref.main), _gate(seg.model.main)
    where = dict(reference=seg.ref.path or None, model=seg.model.path or None)
    if not ref_gate and not model_gate:
        return
    ref_words = _gate_words(ref_gate) if ref_gate else ""
    model_words = _gate_words(model_gate) if model_gate else ""
    if ref_gate and model_gate and ref_words.split(" (")[0] == model_words.split(" (")[0]:
        return  # the same kind: widths or other changes are named layer by layer
    inside = {id(l) for l in ref_gate + model_gate}
    taken = [m for m in block.open if m.part == "main" and (id(m.ref) in inside or id(m.model) in inside)]
    if not taken:
        return
    if ref_gate and model_gate:
        finding = Finding(
            CHANGED_KIND,
            f"{model_words.split(' (')[0]} where the reference has {ref_words.split(' (')[0]}",
            "",
            note=f"{model_words}; the reference: {ref_words}",
            **where,
        )
    elif model_gate:
        finding = Finding(
            EXTRA_KIND, f"{model_words.split(' (')[0]} that the reference does not have", "", note=model_words, **where
        )
    else:
        finding = Finding(
            MISSING_KIND, f"no {ref_words.split(' (')[0]} where the reference has one", "", note=ref_words, **where
        )
    block.add(finding, taken)


def _shortcut_kind(layers: tuple[Layer, ...]) -> str:
    kinds = [l.kind for l in layers]
    if not kinds:
        return "identity"
    if "conv" in kinds:
        conv = next(l for l in layers if l.kind == "conv")
        pooled = "avgpool" in kinds[: kinds.index("conv")]
        kernel = "×".join(map(str, conv.kernel or ()))
        return (
            f"{'avg-pool projection' if pooled else 'projection'} ({'2×2 avg-pool, then ' if pooled else ''}"
            f"{kernel} conv{' + BatchNorm' if 'bn' in kinds else ''})"
        )
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
    what = (
        f"{model_word} shortcut{' (' + model_detail + ')' if model_detail else ''} where the reference's is "
        f"{'an' if ref_word[0] in 'aeiou' else 'a'} {ref_word}{' (' + ref_detail + ')' if ref_detail else ''}"
    )
    if ref_word in names and model_word in names:
        what = f"{model_word} shortcut ({names[model_word]}) where the reference has {ref_word} ({names[ref_word]})"
    taken = [m for m in block.open if m.part == "shortcut"]
    block.add(Finding(CHANGED_KIND, what, "", reference=ref.path or None, model=model.path or None), taken)


def _strides(block: BlockPair) -> None:
    pairs = [
        m
        for m in block.segment.matches
        if m.ref is not None
        and m.model is not None
        and m.ref.kind == "conv"
        and m.part in ("main", "shortcut")
        and (m in block.open or m.status == SAME)
    ]
    # a stride that is the same number written another way ((1,) for a 1-D conv, (1, 1)) is no difference
    moved_any = [m for m in pairs if "stride" in block.unexplained(m) and m.ref.stride != m.model.stride]
    if not moved_any:
        return
    main = [m for m in pairs if m.part == "main"]
    # the shortcut conv is named only where its stride differs: it follows the main path's downsampling
    moved = [m for m in pairs if m.part == "shortcut" and m.ref.stride != m.model.stride]
    ref_on = [block.name(m.ref, "ref", m.part) for m in main + moved if m.ref.stride > 1]
    model_on = [block.name(m.model, "model", m.part) for m in main + moved if m.model.stride > 1]
    stride = max([m.ref.stride for m in pairs] + [m.model.stride for m in pairs])
    if not model_on and not ref_on:
        return
    if not model_on and ref_on:
        what = f"no stride {stride}: the reference downsamples here with stride {stride} on {and_list(ref_on)}"
    elif not ref_on and model_on:
        what = f"stride {stride} on {and_list(model_on)} where the reference does not downsample"
    elif set(ref_on) < set(model_on):
        what = f"stride {stride} on {and_list(model_on)} where the reference has it on {and_list(ref_on)} only"
    else:
        what = f"stride {stride} is on {and_list(model_on)} where the reference has it on {and_list(ref_on)}"
        first = next((m for m in main if m.model.stride > 1), None)
        if first is not None and first is main[0] and first.model.kernel == (1, 1) and len(main) == 3:
            what += " — this is the v1 placement"
        elif first is not None and len(main) == 3 and first.model.kernel == (3, 3) and main[0].ref.stride > 1:
            what += " — this is the v1.5 placement"
    seg = block.segment
    block.add(
        Finding(CHANGED_KIND, what, "", reference=seg.ref.path or None, model=seg.model.path or None),
        moved_any,
        {"stride"},
    )


def _activations(block: BlockPair) -> None:
    seg = block.segment
    missing_tail = [m for m in block.open if m.part == "tail" and m.status == MISSING and m.ref.is_activation]
    extra_tail = [m for m in block.open if m.part == "tail" and m.status == EXTRA and m.model.is_activation]
    main_end = [
        m
        for m in block.open
        if m.part == "main"
        and m.status == EXTRA
        and m.model.is_activation
        and m.model is (seg.model.main[-1] if seg.model.main else None)
    ]
    where = dict(reference=seg.ref.path or None, model=seg.model.path or None)
    for missing in missing_tail:
        act = describe(missing.ref)
        if main_end:
            block.add(
                Finding(
                    CHANGED_KIND,
                    f"{act} before the residual addition instead of after it",
                    "",
                    note="same parameters and fvcore FLOPs, but the block's output is no longer "
                    "rectified and its shortcut carries a rectified signal",
                    **where,
                ),
                [missing, main_end.pop()],
            )
        else:
            block.add(
                Finding(
                    MISSING_KIND,
                    f"no {act} after the residual addition",
                    "",
                    note="fvcore counts no FLOPs for it, but without it the block's output is not "
                    "rectified: another function with the same parameters",
                    **where,
                ),
                [missing],
            )
    for extra in extra_tail:
        block.add(
            Finding(
                EXTRA_KIND,
                f"a {describe(extra.model)} after the residual addition that the reference does not have",
                "",
                note="it changes what the block computes",
                **where,
            ),
            [extra],
        )


def _expansion(block: BlockPair) -> None:
    seg = block.segment
    ref_convs = [l for l in seg.ref.main if l.kind == "conv"]
    model_convs = [l for l in seg.model.main if l.kind == "conv"]
    if len(ref_convs) != 3 or len(model_convs) != 3 or not ref_convs[1].out_channels or not model_convs[1].out_channels:
        return
    ref_ratio = ref_convs[2].out_channels / ref_convs[1].out_channels
    model_ratio = model_convs[2].out_channels / model_convs[1].out_channels
    if ref_ratio == model_ratio or ref_convs[2].out_channels == model_convs[2].out_channels:
        return  # the same output width with another inner width (ResNeXt, Wide) is not another expansion
    channel_origins = [
        m
        for m in block.open
        if m.status == CHANGED
        and m.ref.kind in ("conv", "linear")
        and not config_changes(m)
        and m.ref.in_channels == m.model.in_channels
    ]
    what = (
        f"expansion {_ratio(model_ratio)} where the reference has {_ratio(ref_ratio)}: the block widens "
        f"{model_convs[1].out_channels} to {model_convs[2].out_channels} channels where the reference widens "
        f"{ref_convs[1].out_channels} to {ref_convs[2].out_channels}"
    )
    finding = Finding(
        CHANGED_KIND,
        f"expansion {_ratio(model_ratio)} where the reference has {_ratio(ref_ratio)}",
        "",
        reference=seg.ref.path or None,
        model=seg.model.path or None,
    )
    finding.note = what.split(": ", 1)[1]
    block.add(finding, channel_origins)


def _ratio(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _biases(block: BlockPair) -> None:
    """A bias added or dropped: one finding per layer, folded over every layer of its kind."""
    for match in list(block.open):
        if match.status != CHANGED or "bias" not in block.unexplained(match):
            continue
        ref, model = match.ref, match.model
        where = dict(
            reference=ref.module or None,
            model=model.module or None,
            suffix=relative(model.module, block.segment.model.path),
            scope=ref.kind,
        )
        if model.get("bias"):
            finding = Finding(
                EXTRA_KIND,
                f"a bias where the reference's {_kind_word(ref)} has none",
                "",
                note="a bias before a BatchNorm is cancelled by its mean" if ref.kind == "conv" else "",
                **where,
            )
        else:
            finding = Finding(MISSING_KIND, f"no bias where the reference's {_kind_word(ref)} has one", "", **where)
        block.add(finding, [match], {"bias"})


def _layer_changes(block: BlockPair) -> None:
    for match in list(block.open):
        if match.status != CHANGED:
            continue
        changes = block.unexplained(match)
        ref, model = match.ref, match.model
        name = block.name(model, "model", match.part)
        where = dict(
            reference=ref.module or None,
            model=model.module or None,
            suffix=relative(model.module, block.segment.model.path),
        )
        prefix = "" if where["suffix"] or (block.segment.ref.kind == "glue" and model.module) else f"{name}: "
        if changes:
            model_config, ref_config = dict(model.config), dict(ref.config)
            parts = [
                _change_words(key, model_config.get(key), ref_config.get(key))
                for key in sorted(changes)
                if key != "kernel"
            ]
            if "kernel" in changes:
                what = (
                    f"{_tuple(model_config['kernel'])} {_kind_word(ref)} where the reference's is "
                    f"{_tuple(ref_config['kernel'])}" + (f" ({', '.join(parts)})" if parts else "")
                )
            else:
                what = ", ".join(parts)
            if _spatial(ref.out_shape) != _spatial(model.out_shape) and ref.in_shapes == model.in_shapes:
                what += f": output {_spatial(model.out_shape)} instead of {_spatial(ref.out_shape)}"
            block.add(Finding(CHANGED_KIND, prefix + what, "", **where), [match], changes)
        elif ref.in_channels == model.in_channels and ref.out_channels != model.out_channels:
            what = f"{prefix}{model.out_channels} output channels where the reference has {ref.out_channels}"
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


def _moved(block: BlockPair) -> None:
    """The same layer missing in one place and extra in another of the same path: moved."""
    for missing in [m for m in block.open if m.status == MISSING]:
        extra = next(
            (m for m in block.open if m.status == EXTRA and m.part == missing.part and m.model.key == missing.ref.key),
            None,
        )
        if extra is None:
            continue
        after_model = block.previous(extra)
        ref_before = block.previous_reference(missing)
        here = f"after {block.name(after_model, 'model', extra.part)}" if after_model is not None else "first"
        there = f"after {block.name(ref_before, 'ref', missing.part)}" if ref_before is not None else "first"
        block.add(
            Finding(
                CHANGED_KIND,
                f"{describe(extra.model)} {here} where the reference has it {there}",
                "",
                reference=missing.ref.module or None,
                model=extra.model.module or None,
                suffix=relative(extra.model.module, block.segment.model.path),
            ),
            [missing, extra],
        )


def _missing_and_extra(block: BlockPair) -> None:
    seg = block.segment
    for match in list(block.open):
        if match.status == MISSING:
            before = block.previous(match)
            after = f" after {block.name(before, 'model', match.part)}" if before is not None else ""
            ref = match.ref
            model_path = parent(before.module) if before is not None and before.module else seg.model.path
            detail = f"reference has {describe(ref)}" + (f": {ref.params:,} parameters" if ref.params else "")
            block.add(
                Finding(
                    MISSING_KIND,
                    f"no {_noun(ref)}{after}",
                    "",
                    reference=ref.module or None,
                    model=model_path or None,
                    suffix=relative(model_path, seg.model.path),
                    ref_layers=[detail],
                ),
                [match],
            )
        elif match.status == EXTRA:
            model = match.model
            before = block.previous(match)
            after = f" after {block.name(before, 'model', match.part)}" if before is not None else ""
            block.add(
                Finding(
                    EXTRA_KIND,
                    f"an extra {describe(model)}{after}",
                    "",
                    model=model.module or None,
                    suffix=relative(model.module, seg.model.path),
                ),
                [match],
            )


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
    what = (
        f"{_count(len(model_convs))} ({', '.join(describe(l) for l in model_convs)}) where the reference has "
        f"{_count(len(ref_convs))} ({', '.join(describe(l) for l in ref_convs)})"
    )
    block.add(
        Finding(CHANGED_KIND, what, "stem", reference=ref_convs[0].module or None, model=model_convs[0].module or None),
        taken,
    )
    block.findings[-1].block = "stem"


def _count(convs: int) -> str:
    return {1: "one conv", 2: "two convs", 3: "three convs"}.get(convs, f"{convs} convs")


_RECOGNISERS = {
    "block": (
        _block_kind,
        _shortcuts,
        _squeeze_excitation,
        _strides,
        _biases,
        _activations,
        _expansion,
        _layer_changes,
        _moved,
        _missing_and_extra,
    ),
    "stem": (_stem, _biases, _layer_changes, _moved, _missing_and_extra),
    "glue": (_biases, _layer_changes, _moved, _missing_and_extra),
}


def recognise(pair: BlockPair, where: str) -> None:
    """Name every difference of one aligned pair: ``where`` is "block", "stem" or "glue" (between blocks)."""
    for recogniser in _RECOGNISERS[where]:
        recogniser(pair)
