"""Which registered variant a model whose forward fails is closest to, from the part that ran.

``identify.closest`` reads a spec from the whole structure (blocks per stage, the classifier); a forward that
breaks midway has only a prefix. Here every registered variant whose stem and block kind agree with what ran is
built on the meta device — each stage cut to as many blocks as the model ran, which keeps the candidate's first
blocks exactly as they are and its analysis small — and aligned with the prefix (``structure.align``: the
candidate's part after the break is unreached, free). The variant with the fewest differing layers up to the
break is the closest (then the one whose parameter count is nearest to the whole model's; then the reference,
then the registry's order). It is never *exact*: the model's second half never ran. Nothing is close when even
the best candidate differs in more than a quarter of the layers that ran.
"""

from __future__ import annotations

import dataclasses

from resnet_cli.base.errors import ResnetCliError
from resnet_cli.comparison.identify import Closest
from resnet_cli.spec import registry
from resnet_cli.spec.closed_form import counts
from resnet_cli.spec.fields import StemKind, StemPool

CLOSE = 0.25  # at most this share of the layers that ran may differ from the closest variant's


def stem_of(structure) -> tuple[StemKind, bool] | None:
    """The stem's kind and whether it pools (max-pool or a strided conv after it), read from the first glue; None
    where the structure starts otherwise."""
    if not structure.segments or structure.segments[0].kind != "glue":
        return None
    stem = structure.segments[0].main
    convs = [layer for layer in stem if layer.kind == "conv"]
    if not convs:
        return None
    pools = any(layer.kind in ("maxpool", "avgpool") for layer in stem)
    if len(convs) == 1 and convs[0].kernel == (7, 7):
        return StemKind.CONV7, pools
    if len(convs) == 1 and convs[0].kernel == (3, 3) and convs[0].stride == 1:
        return StemKind.CIFAR, pools
    if len(convs) in (3, 4) and all(c.kernel == (3, 3) for c in convs):
        return StemKind.DEEP, pools or len(convs) == 4  # ResNet-RS: a strided 3×3 conv where the max-pool was
    return None


def _block_convs(structure) -> int | None:
    """How many convs the first whole block's main path has before any global pool (2 basic, 3 bottleneck)."""
    for segment in structure.segments:
        if segment.kind == "block":
            convs = 0
            for layer in segment.main:
                if layer.kind == "gap":
                    break
                convs += layer.kind == "conv"
            return convs
    return None


def candidates(structure, input_shape) -> list[str]:
    """The registered variants whose stem kind, pooling, block kind and input channels agree with the prefix."""
    stem = stem_of(structure)
    if stem is None:
        return []
    kind, pools = stem
    convs = _block_convs(structure)
    found = []
    for name, variant in registry.VARIANTS.items():
        spec = variant.spec
        if spec.stem is not kind or (spec.stem_pool is not StemPool.NONE) != pools:
            continue
        if convs is not None and (3 if spec.block.is_bottleneck else 2) != convs:
            continue
        if spec.in_channels != input_shape[1]:
            continue
        found.append(name)
    return found


def _cut(spec, blocks: int):
    """The spec with every stage cut to ``blocks`` blocks at most: its first ``blocks`` blocks are unchanged."""
    layers = tuple(min(n, blocks) for n in spec.layers)
    if layers == tuple(spec.layers):
        return spec
    try:
        return dataclasses.replace(spec, layers=layers).validate()
    except ResnetCliError:
        return spec


def differing(alignment) -> tuple[int, int]:
    """(layers that differ, layers that are the same) up to the break: unreached layers are neither."""
    statuses = [match.status for _, match in alignment.matches()]
    same = statuses.count("same")
    return sum(s not in ("same", "unreached") for s in statuses), same


def closest_prefix(structure, input_shape, params: int | None = None, reference: str | None = None) -> Closest | None:
    """The registered variant closest to the part of a broken model that ran (never exact), or None when no
    variant is close. ``params``: the whole model's parameter count (the part that never ran included)."""
    from resnet_cli.analysis.analyze import analyze
    from resnet_cli.analysis.records import AnalysisFailure
    from resnet_cli.nn.model import build_model
    from resnet_cli.structure.align import align
    from resnet_cli.structure.align import structure as structure_of

    ran = sum(1 for segment in structure.segments if segment.kind != "glue") + 1
    order = ([reference] if reference in registry.VARIANTS else []) + list(registry.VARIANTS)
    best = None
    for name in candidates(structure, input_shape):
        spec = registry.VARIANTS[name].spec
        try:
            candidate = structure_of(analyze(build_model(_cut(spec, ran), "meta"), tuple(input_shape)))
        except AnalysisFailure:  # the candidate rejects this input: then it is not this model
            continue
        differ, same = differing(align(candidate, structure))
        total = counts(spec, tuple(input_shape)).params
        score = (differ, abs(total - params) if params is not None else 0, order.index(name))
        if best is None or score < best[0]:
            best = (score, name, same)
    if best is None:
        return None
    (differ, _, _), name, same = best
    if differ > CLOSE * (differ + same) or not same:
        return None
    return Closest(name, (), False, registry.VARIANTS[name].spec)
