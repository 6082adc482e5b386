"""Two models aligned layer by layer, by structure: never by module name or stage position.

Each model's layers (``resnet_cli.structure.layers``) are grouped into residual **blocks** — the operators between
the point where the shortcut forks from the main path and the residual addition that joins them, plus
the activation right after it — and the **glue** between blocks (the stem, the head). A block is split
into its main path, its shortcut, the addition and the tail, found from the dataflow, so the order in
which someone's ``forward`` runs the two branches does not matter.

Then two sequences are aligned as an edit distance, twice: blocks against blocks (deleting a block costs
its number of layers), and inside each aligned pair layers against layers. Layers of different kinds
never pair up; a layer that does the same thing at another spatial size costs a little, one that does
something else (another stride, kernel, channel count) costs 1, a missing or extra layer 1 — so a missing
layer is one deletion, not a cascade. Ties are broken towards putting gaps late (a stage one block short
misses its last block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from resnet_cli.structure.layers import Layer, layers

SAME, SHAPE, CHANGED, MISSING, EXTRA, UNREACHED = "same", "shape", "changed", "missing", "extra", "unreached"
_SHAPE_COST = 0.25  # same layer at another spatial size: cheap, so a shape change never breaks the alignment
_CHANGE_COST = 1.0  # same kind, doing something else: cheaper than deleting and inserting (2)
PARTS = ("main", "shortcut", "add", "tail")


@dataclass(frozen=True)
class Segment:
    """A residual block (``kind`` "block"; "partial" when the forward failed inside it) or glue."""

    kind: str
    main: tuple[Layer, ...]
    shortcut: tuple[Layer, ...] = ()
    add: tuple[Layer, ...] = ()
    tail: tuple[Layer, ...] = ()
    path: str = ""  # the module holding the whole block ("layer1.0"), "" if none does

    def part(self, name: str) -> tuple[Layer, ...]:
        return getattr(self, name)

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self.main + self.shortcut + self.add + self.tail

    @property
    def signature(self) -> tuple:
        return (self.kind,) + tuple(tuple((l.key, l.spatial) for l in self.part(p)) for p in PARTS)


@dataclass(frozen=True)
class Structure:
    layers: tuple[Layer, ...]
    segments: tuple[Segment, ...]
    failed: bool = False  # the forward broke: the last segment is where

    @property
    def blocks(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.kind != "glue")


@dataclass(frozen=True)
class Match:
    ref: Layer | None
    model: Layer | None
    status: str  # SAME | SHAPE | CHANGED | MISSING (reference only) | EXTRA (model only) | UNREACHED
    part: str  # main | shortcut | add | tail


@dataclass(frozen=True)
class SegmentMatch:
    ref: Segment | None
    model: Segment | None
    matches: tuple[Match, ...]

    @property
    def status(self) -> str:
        if self.model is None:
            return UNREACHED if all(m.status == UNREACHED for m in self.matches) else MISSING
        if self.ref is None:
            return EXTRA
        return SAME if all(m.status == SAME for m in self.matches) else CHANGED


@dataclass(frozen=True)
class Alignment:
    ref: Structure
    model: Structure
    segments: tuple[SegmentMatch, ...]
    pairs: dict = field(default_factory=dict, compare=False)  # model layer index -> its reference Layer

    @property
    def identical(self) -> bool:
        return all(s.status == SAME for s in self.segments)

    def matches(self):
        for segment in self.segments:
            yield from ((segment, m) for m in segment.matches)


# ---- blocks from the dataflow ----


def structure(analysis, failed: bool = False, failed_in: str | None = None) -> Structure:
    """The layers of ``analysis`` grouped into blocks and glue (``failed_in``: the module the forward broke in)."""
    found = layers(analysis)
    producer: dict[int, int] = {}
    parents: dict[int, tuple[int, ...]] = {}
    for position, layer in enumerate(found):
        for value in layer.outputs:
            producer[value] = position
            parents[value] = layer.inputs

    def ancestors(value: int, floor: int) -> set[int]:
        """The values ``value`` is computed from, not looking behind the layer at position ``floor``."""
        seen, todo = set(), [value]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                if producer.get(current, -1) >= floor:
                    todo.extend(parents.get(current, ()))
        return seen

    segments: list[Segment] = []
    start = 0
    for position, layer in enumerate(found):
        if not layer.residual or position < start:
            continue
        # the fork is normally at or after the previous block's output: look that far back first
        lineage = [ancestors(v, start) for v in layer.inputs]
        common = lineage[0] & lineage[1]
        if not common:
            lineage = [ancestors(v, -1) for v in layer.inputs]
            common = lineage[0] & lineage[1]
        if not common:
            continue
        fork = max(common, key=lambda v: producer.get(v, -1))
        first = max(producer.get(fork, -1) + 1, start)
        if first > start:
            segments.append(_glue(found[start:first]))
        end = position + 1
        while end < len(found) and found[end].is_activation and found[end].inputs == found[end - 1].outputs:
            end += 1
        branches = [tuple(l for l in found[first:position] if l.outputs and l.outputs[0] in lineage[i]) for i in (0, 1)]
        inside = set().union(*branches)
        stray = tuple(l for l in found[first:position] if l not in inside)
        main, shortcut = _main_and_shortcut(branches[0], branches[1])
        segments.append(_block("block", main + stray, shortcut, (layer,), found[position + 1 : end]))
        start = end
    rest = found[start:]
    if failed and rest:
        segments.extend(_partial(rest, failed_in))
    elif rest:
        segments.append(_glue(rest))
    return Structure(found, tuple(segments), failed)


def _main_and_shortcut(a: tuple[Layer, ...], b: tuple[Layer, ...]):
    """The shortcut is the branch with fewer convs (then fewer layers; then the addition's second input)."""

    def weight(branch):
        return (sum(l.kind == "conv" for l in branch), len(branch))

    return (b, a) if weight(b) > weight(a) else (a, b)


def _block(kind, main, shortcut, add, tail, failed_in: str | None = None) -> Segment:
    modules = [l.module for l in main + shortcut + add + tail]
    path = _common_path(modules)
    if failed_in and (path == failed_in or path.startswith(failed_in + ".")):
        path = failed_in  # the block module whose forward broke ("2.0"), not the part of it that ran ("2.0.body")
    return Segment(kind, tuple(sorted(main, key=lambda l: l.index)), tuple(shortcut), tuple(add), tuple(tail), path)


def _glue(layers: tuple[Layer, ...]) -> Segment:
    return Segment("glue", tuple(layers), path=_common_path([l.module for l in layers], flat=False))


def _common_path(modules: list[str], flat: bool = True) -> str:
    """The module holding all of ``modules`` ("layer1.0"); for flat Keras-style names (``conv2_block1_1_conv``,
    ``conv2_block1_0_bn``) their common name up to a ``_`` ("conv2_block1"). Operators the root's own forward
    runs (``F.relu`` in a flat model: module "") do not count; "" where nothing is common."""
    named = [m for m in modules if m]
    if not named or (len(named) < len(modules) and len(set(named)) < 2):
        return ""
    parts = [m.split(".") for m in named]
    prefix = parts[0]
    for other in parts[1:]:
        length = 0
        while length < min(len(prefix), len(other)) and prefix[length] == other[length]:
            length += 1
        prefix = prefix[:length]
    if prefix:
        return ".".join(prefix)
    return flat_prefix(named) if flat else ""


def flat_prefix(names: list[str]) -> str:
    """The common start of flat names, cut at a ``_`` and never in the middle of a word: "conv2_block1"."""
    first = names[0]
    length = len(first)
    for other in names[1:]:
        length = min(length, len(other))
        for index in range(length):
            if first[index] != other[index]:
                length = index
                break
    common = first[:length]
    if all(len(n) == length or n[length] == "_" for n in names) and length:
        return common.rstrip("_")
    return common.rpartition("_")[0] if "_" in common else ""


def _partial(rest: tuple[Layer, ...], failed_in: str | None = None) -> list[Segment]:
    """Where the forward broke: glue up to the last value read twice (a fork), then the block it started."""
    readers: dict[int, int] = {}
    for layer in rest:
        for value in layer.inputs:
            readers[value] = readers.get(value, 0) + 1
    forks = [v for v, n in readers.items() if n >= 2]
    position_of = {v: i for i, l in enumerate(rest) for v in l.outputs}
    if not forks:
        # no value read twice (an identity shortcut that the failed addition never read): the block is what ran
        # inside the module that broke, the rest is glue before it
        inside = [
            i
            for i, l in enumerate(rest)
            if failed_in and (l.module == failed_in or l.module.startswith(failed_in + "."))
        ]
        cut = inside[0] if inside and inside == list(range(inside[0], len(rest))) else 0
        glue = [_glue(rest[:cut])] if cut else []
        return glue + [_block("partial", rest[cut:], (), (), (), failed_in)]
    fork = max(forks, key=lambda v: position_of.get(v, -1))
    cut = position_of.get(fork, -1) + 1
    chains: list[list[Layer]] = []
    chain_of: dict[int, int] = {}
    for layer in rest[cut:]:
        source = next((chain_of[v] for v in layer.inputs if v in chain_of), None)
        if source is None:
            chains.append([])
            source = len(chains) - 1
        chains[source].append(layer)
        for value in layer.outputs:
            chain_of[value] = source
    chains.sort(key=lambda c: (sum(l.kind == "conv" for l in c), len(c)), reverse=True)
    main = tuple(chains[0]) if chains else ()
    shortcut = tuple(l for c in chains[1:] for l in c)
    glue = [_glue(rest[:cut])] if cut else []
    return glue + [_block("partial", main, shortcut, (), (), failed_in)]


# ---- edit distance ----


def _cost(a: Layer, b: Layer) -> float | None:
    if a.kind != b.kind:
        return None
    if a.key == b.key:
        return 0.0 if a.spatial == b.spatial else _SHAPE_COST
    return _CHANGE_COST


def _status(a: Layer, b: Layer) -> str:
    return SAME if (a.key, a.spatial) == (b.key, b.spatial) else SHAPE if a.key == b.key else CHANGED


def _edit(ref, model, unit_cost, substitute, open_end: bool):
    """Edit-distance table of two sequences and its path: [(i or None, j or None)], gaps as late as possible.

    ``open_end``: the model stopped early (its forward failed): the reference's remaining items are free.
    """
    n, m = len(ref), len(model)
    table = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        table[i][0] = table[i - 1][0] + unit_cost(ref[i - 1])
    for j in range(1, m + 1):
        table[0][j] = table[0][j - 1] + unit_cost(model[j - 1])
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best = min(table[i - 1][j] + unit_cost(ref[i - 1]), table[i][j - 1] + unit_cost(model[j - 1]))
            cost = substitute(ref[i - 1], model[j - 1])
            if cost is not None:
                best = min(best, table[i - 1][j - 1] + cost)
            table[i][j] = best
    i = min(range(n + 1), key=lambda k: (table[k][m], -k)) if open_end else n
    path = [(k, None) for k in range(n - 1, i - 1, -1)] if open_end else []
    path = [("unreached", k) for k in range(n - 1, i - 1, -1)]
    j = m
    while i or j:
        if i and table[i][j] == table[i - 1][j] + unit_cost(ref[i - 1]):
            path.append((i - 1, None))
            i -= 1
        elif j and table[i][j] == table[i][j - 1] + unit_cost(model[j - 1]):
            path.append((None, j - 1))
            j -= 1
        else:
            path.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    path.reverse()
    return table, path


def _align_layers(ref: tuple[Layer, ...], model: tuple[Layer, ...], part: str, open_end: bool):
    _, path = _edit(ref, model, lambda _: 1.0, _cost, open_end)
    matches = []
    for i, j in path:
        if i == "unreached":
            matches.append(Match(ref[j], None, UNREACHED, part))
        elif j is None:
            matches.append(Match(ref[i], None, MISSING, part))
        elif i is None:
            matches.append(Match(None, model[j], EXTRA, part))
        else:
            matches.append(Match(ref[i], model[j], _status(ref[i], model[j]), part))
    return matches


def _parts_of(segment: Segment) -> dict[str, tuple[Layer, ...]]:
    if segment.kind == "glue":
        return {"main": segment.main}
    return {part: segment.part(part) for part in PARTS}


def align_segments(ref: Segment | None, model: Segment | None, open_end: bool = False) -> SegmentMatch:
    parts_ref = _parts_of(ref) if ref else {}
    parts_model = _parts_of(model) if model else {}
    matches = []
    for part in PARTS:
        a, b = parts_ref.get(part, ()), parts_model.get(part, ())
        if model is None and open_end:
            matches += [Match(l, None, UNREACHED, part) for l in a]
        elif part == "shortcut" and open_end and not any(m.status == UNREACHED for m in matches):
            # the main path ran to its end: the forward broke at the addition, so the shortcut is what it is
            matches += _align_layers(a, b, part, False)
        else:
            matches += _align_layers(a, b, part, open_end)
    return SegmentMatch(ref, model, tuple(matches))


@lru_cache(maxsize=4096)
def _segment_cost(ref_signature: tuple, model_signature: tuple) -> float | None:
    ref_kind, model_kind = ref_signature[0], model_signature[0]
    if (ref_kind == "glue") != (model_kind == "glue"):
        return None
    if ref_signature == model_signature:
        return 0.0
    total = 0.0
    open_end = model_kind == "partial"
    for a, b in zip(ref_signature[1:], model_signature[1:]):
        table, _ = _edit(a, b, lambda _: 1.0, _signature_cost, False)
        total += min(table[k][len(b)] for k in range(len(a) + 1)) if open_end else table[len(a)][len(b)]
    return total


def _signature_cost(a, b) -> float | None:
    (key_a, spatial_a), (key_b, spatial_b) = a, b
    if key_a[0] != key_b[0]:
        return None
    if key_a == key_b:
        return 0.0 if spatial_a == spatial_b else _SHAPE_COST
    return _CHANGE_COST


def align(ref: Structure, model: Structure) -> Alignment:
    """Blocks against blocks, then layers against layers inside each aligned pair."""
    a, b = ref.segments, model.segments
    signatures_a = [s.signature for s in a]
    signatures_b = [s.signature for s in b]
    if signatures_a == signatures_b:
        path = [(i, i) for i in range(len(a))]
    else:
        _, path = _edit(
            signatures_a, signatures_b, lambda s: float(sum(len(p) for p in s[1:])), _segment_cost, model.failed
        )
    segments = []
    for i, j in path:
        if i == "unreached":
            segments.append(align_segments(a[j], None, open_end=True))
        elif j is None:
            segments.append(align_segments(a[i], None))
        elif i is None:
            segments.append(align_segments(None, b[j]))
        else:
            segments.append(align_segments(a[i], b[j], open_end=b[j].kind == "partial"))
    pairs = {m.model.index: m.ref for s in segments for m in s.matches if m.model is not None and m.ref is not None}
    return Alignment(ref, model, tuple(segments), pairs)
