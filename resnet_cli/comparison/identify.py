"""Which registered variant, with which architecture flags, a model is — checked operator by operator.

Searching every variant under every combination of flags would build thousands of models. Instead the
search is pruned by what the model's structure already says (``resnet_cli.structure.align``): its block kind, the
blocks per stage, the widths, where the stride sits, the shortcut kind, the stem, the conv biases, the
classifier — each flag near the reference takes the one value the structure shows. That candidate is
built on the meta device, analysed once, and aligned with the model: it is *exact* only when every
operator, shape and parameter matches. It is named by the registered variant it differs least from
(the reference first among equals), plus the flags that differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_cli.base.errors import ResnetCliError
from resnet_cli.spec.fields import (
    Attention,
    BlockKind,
    ConvBias,
    ResNetSpec,
    Shortcut,
    StemKind,
    StemPool,
    StrideAt,
    make_divisible,
)
from resnet_cli.spec.naming import label, name_spec  # one naming for compare and checkpoints (issue 18)


@dataclass(frozen=True)
class Closest:
    name: str  # a registered variant
    flags: tuple[tuple[str, str], ...]  # (option, value) changed from it, e.g. (("--stride-at", "v1"),)
    exact: bool  # every operator, shape and parameter is the same
    spec: ResNetSpec

    @property
    def label(self) -> str:
        return label(self.name, self.flags)


# ---- what the structure says ----


def _main_convs(block) -> list:
    """The block's own convs: those before a global pool (after it: squeeze-excitation)."""
    convs = []
    for layer in block.main:
        if layer.kind == "gap":
            break
        if layer.kind == "conv":
            convs.append(layer)
    return convs


def _block_stride(block, convs) -> int:
    """How much a block downsamples: its largest conv or pool stride, or slice step."""
    strides = [c.stride for c in convs] + [l.stride for l in block.shortcut if l.kind in ("conv", "maxpool", "avgpool")]
    strides += [l.get("step") or 1 for l in block.shortcut if l.kind == "slice"]
    return max(strides, default=1)


def _shortcut_kind(block) -> Shortcut | None:
    kinds = [l.kind for l in block.shortcut]
    if "conv" in kinds:
        return Shortcut.AVGPOOL if "avgpool" in kinds[: kinds.index("conv")] else Shortcut.PROJECTION
    if {"slice", "pad", "cat"} & set(kinds):
        return Shortcut.ZERO_PAD
    return None


def infer_spec(structure, input_shape) -> ResNetSpec | None:
    """The spec whose model would have this structure, or None where no spec can say it."""
    blocks = [s for s in structure.segments if s.kind == "block"]
    if not blocks or structure.failed or structure.segments[0].kind != "glue":
        return None
    convs = [_main_convs(b) for b in blocks]
    if len({len(c) for c in convs}) != 1 or len(convs[0]) not in (2, 3):
        return None
    bottleneck = len(convs[0]) == 3
    first = blocks[0].main
    post_activated = any(l.kind == "bn" for l in first[first.index(convs[0][-1]) :]) if convs[0][-1] in first else False
    block = {
        (True, True): BlockKind.BOTTLENECK,
        (False, True): BlockKind.BASIC,
        (True, False): BlockKind.PREACT_BOTTLENECK,
        (False, False): BlockKind.PREACT_BASIC,
    }[(bottleneck, post_activated)]
    # a stage starts where a shortcut changes the width (a strided projection that keeps it ends a stage:
    # Keras V2's last-block stride)
    starts = [0] + [
        i
        for i, (b, c) in enumerate(zip(blocks, convs))
        if i and _shortcut_kind(b) is not None and c[0].in_channels[0] != c[-1].out_channels
    ]
    stages = [blocks[a:b] for a, b in zip(starts, starts[1:] + [len(blocks)])]
    stage_convs = [convs[a:b] for a, b in zip(starts, starts[1:] + [len(blocks)])]
    widths, groups, width_per_group = [], convs[0][1].get("groups", 1) if bottleneck else 1, 64
    for stage in stage_convs:
        out = stage[0][-1].out_channels
        if bottleneck:
            if out % 4:
                return None
            widths.append(out // 4)
            inner = stage[0][1].out_channels
            width_per_group = round(inner * 64 / (out // 4 * groups))
        else:
            widths.append(out)
    strides = [[_block_stride(b, block_convs) for block_convs, b in zip(c, s)] for c, s in zip(stage_convs, stages)]
    stride_at = StrideAt.CONV3X3
    # Keras V2 strides each stage's last block for the next stage: then the last stage has no stride at all
    if all(s == 1 for s in strides[-1]) and any(s[-1] > 1 for s in strides[:-1]):
        stride_at = StrideAt.LAST_BLOCK
    elif bottleneck:
        strided = [c[0] for c, s in zip(stage_convs, strides) if s[0] > 1]
        if strided and strided[0][0].stride > 1 and strided[0][0].kernel == (1, 1):
            stride_at = StrideAt.FIRST_1X1
    dilate = []
    for index in range(1, len(stages)):
        downsamples = strides[index][0] > 1 or (stride_at is StrideAt.LAST_BLOCK and strides[index - 1][-1] > 1)
        dilated = any(c.get("dilation", (1,))[0] > 1 for block_convs in stage_convs[index] for c in block_convs)
        if not downsamples and not dilated:
            return None
        dilate.append(not downsamples)
    # the kind of a downsampling shortcut (ResNet-D's avg-pool is an identity where nothing is downsampled)
    shortcuts = [b for s in stages for b in s if _shortcut_kind(b) is not None]
    downsampling = [b for b in shortcuts if _block_stride(b, _main_convs(b)) > 1] or shortcuts
    shortcut = _shortcut_kind(downsampling[0]) if downsampling else Shortcut.PROJECTION
    stem = [l for l in structure.segments[0].main if l.kind == "conv"]
    stem_pool = _stem_pool(structure.segments[0].main)
    if (
        stem_pool is StemPool.NONE
        and len(stem) in (2, 4)
        and stem[-1].kernel == (3, 3)
        and stem[-1].stride == 2
        and stem[-1].in_channels[0] == stem[-1].out_channels
    ):
        stem, stem_pool = stem[:-1], StemPool.CONV  # ResNet-RS: a strided 3×3 conv where the max-pool was
    stem_widths = ()
    if len(stem) == 3 and tuple(c.out_channels for c in stem) != (stem[2].out_channels // 2,) * 2 + (
        stem[2].out_channels,
    ):
        stem_widths = tuple(c.out_channels for c in stem)  # a tiered stem (resnet26t: 24, 32, 64)
    if len(stem) == 1 and stem[0].kernel == (7, 7):
        stem_kind = StemKind.CONV7
    elif len(stem) == 3 and all(l.kernel == (3, 3) for l in stem):
        stem_kind = StemKind.DEEP
    elif len(stem) == 1 and stem[0].kernel == (3, 3) and stem[0].stride == 1:
        stem_kind = StemKind.CIFAR
    else:
        return None
    every_conv = (
        stem
        + [c for block_convs in convs for c in block_convs]
        + [l for b in blocks for l in b.shortcut if l.kind == "conv"]
    )
    biased = [bool(c.get("bias")) for c in every_conv]
    conv_bias = ConvBias.ALL if all(biased) else ConvBias.NONE if not any(biased) else ConvBias.UNLESS_NORMALIZED
    attention, reduction = _attention(blocks[0])
    linear = [l for l in structure.layers if l.kind == "linear"]
    if not linear or not linear[-1].out_shape:
        return None
    extra = {}
    first_bn = dict(next((l.settings for l in structure.layers if l.kind == "bn"), ()))
    for setting, field_name in (("eps", "bn_eps"), ("momentum", "bn_momentum")):
        # settings a spec can carry (Keras's eps 1.001e-5, momentum 0.01): read them too
        if field_name in ResNetSpec.__dataclass_fields__ and first_bn.get(setting) is not None:
            extra[field_name] = first_bn[setting]
    try:
        return ResNetSpec(
            **extra,
            block=block,
            layers=tuple(len(s) for s in stages),
            widths=tuple(widths),
            stem=stem_kind,
            stem_width=stem[-1].out_channels,
            stem_widths=stem_widths,
            stem_pool=stem_pool,
            stride_at=stride_at,
            shortcut=shortcut,
            groups=groups,
            width_per_group=width_per_group,
            se=attention,
            se_reduction=reduction,
            dilate=tuple(dilate) if any(dilate) else (),
            conv_bias=conv_bias,
            num_classes=linear[-1].out_shape[-1],
            in_channels=input_shape[1],
        ).validate()
    except ResnetCliError:
        return None


def _attention(block) -> tuple[Attention, int]:
    """The channel attention inside a block's main path, after its global pool: squeeze-excitation (two 1×1 convs,
    linear layers once normalised, and the reduction their width says) or ECA (one 1-D conv across channels)."""
    main = list(block.main)
    pool = next((i for i, l in enumerate(main) if l.kind == "gap"), None)
    if pool is None:
        return Attention.NONE, 16
    after = main[pool + 1 :]
    squeeze = next((l for l in after if l.kind == "linear" or (l.kind == "conv" and l.kernel == (1, 1))), None)
    if squeeze is None:
        return Attention.ECA, 16
    channels = main[pool].in_channels[0] or 0
    reduced = squeeze.out_shape[1] if squeeze.out_shape else 0
    for reduction in (16, 4, 8, 2, 32, 1):
        if channels and make_divisible(channels / reduction, 8) == reduced:
            return Attention.SE, reduction
    return Attention.SE, 16


def _stem_pool(stem) -> StemPool:
    """max, none, or zero-max: a zero pad the normalisation kept before the max-pool (its input may be negative,
    Keras ResNetV2's stem)."""
    pools = [i for i, l in enumerate(stem) if l.kind == "maxpool"]
    if not pools:
        return StemPool.NONE
    return StemPool.ZERO_MAX if pools[0] and stem[pools[0] - 1].kind == "pad" else StemPool.MAX


def _near(spec: ResNetSpec):
    """The inferred spec, then the same with one flag changed where a structure can mislead the inference."""
    yield spec
    for field_name, values in (("conv_bias", ConvBias), ("stride_at", StrideAt), ("shortcut", Shortcut)):
        for value in values:
            if value != getattr(spec, field_name):
                try:
                    yield spec.replace(**{field_name: value})
                except ResnetCliError:
                    continue


def closest(structure, input_shape, reference: str | None = None) -> Closest | None:
    """The variant and flags the model is (``exact``), or is nearest to; None when no spec describes it."""
    from resnet_cli.analysis.analyze import analyze
    from resnet_cli.analysis.records import AnalysisFailure
    from resnet_cli.nn.model import build_model
    from resnet_cli.structure.align import align
    from resnet_cli.structure.align import structure as structure_of

    inferred = spec = infer_spec(structure, input_shape)
    if spec is None:
        return None
    params = sum(layer.params for layer in structure.layers)
    for spec in _near(inferred):
        model = build_model(spec, "meta")
        if sum(p.numel() for p in model.parameters()) != params:
            continue  # the cheap invariant first: another parameter count is another model
        try:
            candidate = structure_of(analyze(model, tuple(input_shape)))
        except AnalysisFailure:  # the candidate rejects this input: then it is not this model (any other
            continue  # exception is a bug of ours, and an error: never "not close to anything")
        if align(candidate, structure).identical:
            return Closest(*name_spec(spec, reference), True, spec)
    return Closest(*name_spec(inferred, reference), False, inferred)
