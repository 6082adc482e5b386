"""Turn one ``Analysis`` into rows and totals: plain numbers, no formatting.

Every command reads these: ``summary`` and ``flops`` show rows at a depth, ``compare`` lines rows of two
models up. Rows at any depth sum exactly to the totals, because every op and every parameter is given
to exactly one row. Which row an op belongs to is ``resnet_cli.report.stages``'s answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_cli.analysis import ops as formulas
from resnet_cli.analysis.ops import BACKWARD, FORWARD
from resnet_cli.base.shapes import numel
from resnet_cli.report.aggregates import once
from resnet_cli.report.describe import describer
from resnet_cli.report.stages import OWN_OPS, StageLayout, row_key, stage_layout

if TYPE_CHECKING:  # the analysis module imports torch; reports only read its plain records
    from resnet_cli.analysis.records import Analysis
    from resnet_cli.structure.receptive import ReceptiveField


@dataclass(frozen=True)
class Row:
    name: str
    stage: str
    kind: str
    output_shape: tuple[int, ...] | None
    params: int
    flops: int  # fvcore's count (forward)
    macs: int  # conv + linear multiply-accumulates (forward)
    all_flops: int  # every forward op, 2 FLOPs per multiply-accumulate
    backward_macs: int = 0
    backward_flops: int = 0
    by_category: tuple[tuple[str, int], ...] = ()  # forward FLOPs per category
    # theoretical receptive field of one unit of the row's output (None: the row has no output of its own)
    receptive_field: ReceptiveField | None = None
    activation_elements: int = 0  # elements of the new tensors the row's forward ops write (views excluded)


@dataclass(frozen=True)
class Totals:
    params: int
    trainable_params: int
    running_stats: int  # BN running mean+var elements: Keras's "non-trainable params"
    flops: int  # fvcore convention
    macs: int
    all_flops: int
    backward_macs: int
    backward_flops: int
    fvcore_activations: int

    @property
    def keras_total_params(self) -> int:
        return self.params + self.running_stats

    @property
    def flops_2x(self) -> int:
        """torch.utils.flop_counter's convention: 2 FLOPs per multiply-accumulate, nothing else."""
        return 2 * self.macs


def build_rows(
    analysis: Analysis, depth: str = "stage", *, describe=None, stages: tuple[str, ...] | None = None
) -> tuple[Row, ...]:
    """Rows at ``depth`` (stage|block|layer) in run order; ``describe(name)`` gives each row's kind."""
    layout = stage_layout(analysis, stages)
    leaves = {m.name for m in analysis.modules if m.is_leaf}
    order: dict[str, int] = {}
    acc: dict[str, dict] = {}
    stage_of_row: dict[str, str] = {}

    def slot(key: str, position: int, stage: str) -> dict:
        if key not in acc:
            acc[key] = {"params": 0, "flops": 0, "macs": 0, "all": 0, "bmacs": 0, "bflops": 0, "cat": {}, "written": 0}
            order[key] = position
            stage_of_row[key] = stage
        else:
            order[key] = min(order[key], position)
        return acc[key]

    for op in analysis.ops:
        key = row_key(op.module, op.anchor, depth, layout, leaves)
        entry = slot(key, op.index, layout.stage_of(op.module, op.anchor))
        if op.phase == FORWARD:
            entry["flops"] += op.fvcore_flops
            entry["macs"] += op.macs
            entry["all"] += op.flops
            entry["cat"][op.category] = entry["cat"].get(op.category, 0) + op.flops
            entry["written"] += _written_elements(op)
        else:
            entry["bmacs"] += op.macs
            entry["bflops"] += op.flops
    big = len(analysis.ops) + 1
    for module in analysis.modules:
        if not module.params:
            continue
        name = module.name
        key = row_key(name, "", depth, layout, leaves) if name else layout.stages[0]
        position = module.first_call if module.first_call is not None else big
        slot(key, position, layout.stage_of(name, "") if name else layout.stages[0])["params"] += module.params

    sources = _row_sources(analysis, depth, layout, leaves)
    outputs = {key: module.output_shape for key, module in sources.items()}
    fields = _row_fields(analysis, sources)
    rows = []
    for key in sorted(acc, key=lambda k: order[k]):
        entry = acc[key]
        if key.endswith(OWN_OPS) and not any(entry[k] for k in ("params", "all", "bflops")):
            continue  # a module's own data-movement ops only (a flatten): nothing to show
        rows.append(
            Row(
                name=key,
                stage=stage_of_row[key],
                kind=describe(key) if describe else "",
                output_shape=outputs.get(key),
                params=entry["params"],
                flops=entry["flops"],
                macs=entry["macs"],
                all_flops=entry["all"],
                backward_macs=entry["bmacs"],
                backward_flops=entry["bflops"],
                by_category=tuple((c, entry["cat"].get(c, 0)) for c in formulas.CATEGORIES if entry["cat"].get(c)),
                receptive_field=fields.get(key),
                activation_elements=entry["written"],
            )
        )
    # stages that ran no op and own no parameter (an nn.Identity child) still get their row
    if depth == "stage":
        present = {r.name for r in rows}
        for stage in layout.stages:
            if stage not in present:
                rows.append(
                    Row(
                        stage,
                        stage,
                        describe(stage) if describe else "",
                        outputs.get(stage),
                        0,
                        0,
                        0,
                        0,
                        receptive_field=fields.get(stage),
                    )
                )
    return tuple(rows)


def _written_elements(op) -> int:
    if not formulas.writes_new_elements(op.op) or not op.output_shape:
        return 0
    return numel(op.output_shape)


def _row_fields(analysis: Analysis, sources: dict) -> dict:
    """Each row's receptive field: that of the value its output module returned."""
    from resnet_cli.structure.receptive import receptive_fields

    fields = once(analysis, ("receptive_fields",), lambda: receptive_fields(analysis))
    return {
        key: fields[module.output_value]
        for key, module in sources.items()
        if module.output_value is not None and module.output_value in fields
    }


def _row_sources(analysis: Analysis, depth: str, layout: StageLayout, leaves: set[str]) -> dict:
    """The module whose output is each row's output: the row's own module, or a group's last top-level child."""
    outputs: dict = {}
    for module in analysis.modules:  # called modules come first, in run order
        name = module.name
        if module.first_call is None or not name:
            continue
        key = row_key(name, "", depth, layout, leaves)
        is_unit = name in layout.stage_of_child
        if key == name or (is_unit and key in (layout.stage_of(name, ""), layout.block_of.get(name))):
            outputs[key] = module
    # a unit that is never called itself (TF-slim's ``block1``, a plain ``nn.Module`` whose blocks the root's
    # forward runs one by one): its output is that of the last outermost module called inside it
    called = {m.name for m in analysis.modules if m.first_call is not None}
    late: dict = {}
    for module in analysis.modules:
        name = module.name
        if module.first_call is None or not name or name.rpartition(".")[0] in called:
            continue
        key = row_key(name, "", depth, layout, leaves)
        if key not in outputs and key not in called and layout.unit_of(name) not in called:
            late[key] = module
    return {**outputs, **late}


def totals(analysis: Analysis) -> Totals:
    """Every total of the analysis, computed once per analysis."""
    return once(analysis, ("totals",), lambda: _totals(analysis))


def _totals(analysis: Analysis) -> Totals:
    forward = [op for op in analysis.ops if op.phase == FORWARD]
    backward = [op for op in analysis.ops if op.phase == BACKWARD]
    return Totals(
        params=analysis.params,
        trainable_params=analysis.trainable_params,
        running_stats=analysis.running_stats,
        flops=sum(op.fvcore_flops for op in forward),
        macs=sum(op.macs for op in forward),
        all_flops=sum(op.flops for op in forward),
        backward_macs=sum(op.macs for op in backward),
        backward_flops=sum(op.flops for op in backward),
        fvcore_activations=sum(op.fvcore_activations for op in forward),
    )


def spatial_path(analysis: Analysis) -> tuple[tuple[int, int], ...]:
    """Spatial sizes along the main path: the input, then each new size a conv or pool produces.

    Global pools (a mean) and the 1×1 maps inside squeeze-excitation are left out: they are not the main
    path's resolution.
    """
    if len(analysis.input_shape) != 4:
        return ()
    path = [tuple(analysis.input_shape[2:])]
    for op in analysis.ops:
        if op.phase != FORWARD or op.category not in (formulas.CONVOLUTION, formulas.POOLING):
            continue
        if formulas.kind_of(op.op) in ("mean", "adaptive_avgpool") or not op.output_shape:
            continue
        if len(op.output_shape) != 4:
            continue
        if op.input_shapes and len(op.input_shapes[0]) == 4 and all(s == 1 for s in op.input_shapes[0][2:]):
            continue  # a conv on a 1×1 map is a linear layer (TF-slim's logits): no resolution of the main path
        size = tuple(op.output_shape[2:])
        if ".se." in f".{op.module}.":
            continue
        # the main path only shrinks; a larger size is a branch reading the block's input
        if size != path[-1] and size[0] <= path[-1][0] and size[1] <= path[-1][1]:
            path.append(size)
    return tuple(path)


def format_path(path) -> str:
    if all(h == w for h, w in path):
        return " → ".join(str(h) for h, _ in path)
    return " → ".join(f"{h}×{w}" for h, w in path)


@dataclass(frozen=True)
class Summary:
    model: str
    description: str
    family: str
    spec: dict | None  # None for a user's model (its structure is its code)
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...] | None
    depth: str
    spatial_path: tuple[tuple[int, int], ...]
    rows: tuple[Row, ...]
    totals: Totals
    unsupported: tuple = ()  # analysis.Unsupported: operators no formula covers, with their calls
    fvcore_uncounted: tuple[tuple[str, int, int], ...] = ()  # (call, calls, MACs) fvcore does not count
    identified_as: tuple | None = None  # a checkpoint: (registered name, flags) it is (Target.identified_as)


def summarize(target, model, analysis: Analysis, depth: str = "stage") -> Summary:
    layout = stage_layout(analysis, target.stages)
    rows = build_rows(analysis, depth, describe=describer(model, layout), stages=target.stages)
    # a module's own ops that neither fvcore nor the MAC count sees (a residual add) make an all-zero row
    # here; `flops` shows them, with the FLOPs only it counts
    rows = tuple(r for r in rows if not (r.name.endswith(OWN_OPS) and not (r.params or r.flops or r.macs)))
    return Summary(
        model=target.name,
        description=target.description,
        family=target.family,
        spec=target.spec.as_dict() if target.spec is not None else None,
        input_shape=tuple(analysis.input_shape),
        output_shape=analysis.output_shape,
        depth=depth,
        spatial_path=spatial_path(analysis),
        rows=rows,
        totals=totals(analysis),
        unsupported=analysis.unsupported_ops(),
        fvcore_uncounted=analysis.fvcore_uncounted(),
        identified_as=getattr(target, "identified_as", None),
    )
