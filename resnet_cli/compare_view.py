"""``compare`` as documents and tables: block comparisons layer by layer, model comparisons stage by stage.

One column list per comparison drives the table, CSV and Markdown; the JSON document carries the same
numbers (and more) raw. Nothing here computes: ``resnet_cli.comparison`` did.
"""

from __future__ import annotations

from resnet_cli import render
from resnet_cli.comparison import BlockComparison, BlockCount, Difference, Divergence, ModelComparison
from resnet_cli.present import FLOPS_MEANING, MACS_MEANING
from resnet_cli.render import Column, Document, Heading, Lines, Table

PARAMS_FORMULA = "conv weights = k·k·Cin·Cout/groups (bias-free, as in torchvision)"
MACS_FORMULA = "MACs = conv weights · Hout · Wout (one multiply-accumulate per weight per output position)"
BN_MEANING = "BatchNorm parameters = 2·C (γ and β); its running mean and variance are buffers, not parameters"

# ---- blocks ----

BLOCK_COLUMNS = [
    Column("setting", "setting", justify="left"),
    Column("block", "block", justify="left"),
    Column("layer", "layer", justify="left"),
    Column("what", "what", justify="left"),
    Column("kernel", "kernel", justify="left"),
    Column("stride", "stride"),
    Column("in_channels", "Cin"),
    Column("out_channels", "Cout"),
    Column("groups", "groups"),
    Column("output_shape", "output", "shape"),
    Column("params_formula", "k·k·Cin·Cout/groups", justify="left"),
    Column("conv_weights", "conv weights", "count"),
    Column("bn_params", "BN params", "count"),
    Column("other_params", "bias", "count"),
    Column("params", "params", "count"),
    Column("macs_formula", "weights·H·W", justify="left"),
    Column("macs", "MACs", "count"),
    Column("flops", "FLOPs (fvcore)", "count"),
]
_BLOCK_TABLE_KEYS = ("layer", "what", "output_shape", "params_formula", "conv_weights", "bn_params", "other_params",
                     "macs_formula", "macs", "flops")


def _ratio(value: int, reference: int) -> float | None:
    return round(value / reference, 6) if reference else None


def _layer_record(block: BlockCount, layer) -> dict:
    what = layer.layer
    if layer.kernel is not None:
        what = f"{layer.layer} {layer.in_channels}→{layer.out_channels}"
        if layer.groups and layer.groups > 1:
            what += f", {layer.groups} groups"
    elif layer.in_channels is not None:
        what = f"{layer.layer} {layer.in_channels}"
    return {
        "setting": block.setting, "block": block.kind, "layer": layer.name, "what": what,
        "kernel": "x".join(map(str, layer.kernel)) if layer.kernel else None, "stride": layer.stride,
        "in_channels": layer.in_channels, "out_channels": layer.out_channels, "groups": layer.groups,
        "output_shape": layer.output_shape, "params_formula": layer.params_formula,
        "conv_weights": layer.conv_weights, "bn_params": layer.bn_params, "other_params": layer.other_params,
        "params": layer.params, "macs_formula": layer.macs_formula, "macs": layer.macs, "flops": layer.flops,
    }


def _block_records(block: BlockCount) -> list[dict]:
    records = [_layer_record(block, layer) for layer in block.layers]
    base = {key: None for key in (c.key for c in BLOCK_COLUMNS)}
    if block.other_ops_macs or block.other_ops_flops:
        records.append({**base, "setting": block.setting, "block": block.kind, "layer": "other ops",
                        "what": "outside the layers above (e.g. SE's global mean)", "macs": block.other_ops_macs,
                        "flops": block.other_ops_flops})
    t = block.totals
    records.append({**base, "setting": block.setting, "block": block.kind, "layer": "total", "what": block.label,
                    "output_shape": block.output_shape, "conv_weights": t.conv_weights, "bn_params": t.bn_params,
                    "other_params": t.other_params, "params": t.params, "macs": t.macs, "flops": t.flops})
    return records


def _block_document(block: BlockCount, reference: BlockCount) -> dict:
    t, r = block.totals, reference.totals
    return {
        "kind": block.kind, "label": block.label, "used_in": block.used_in,
        "in_channels": block.in_channels, "width": block.width, "out_channels": block.out_channels,
        "groups": block.groups, "input_shape": list(block.input_shape),
        "output_shape": list(block.output_shape) if block.output_shape else None,
        "layers": [{**{k: v for k, v in _layer_record(block, layer).items() if k not in ("setting", "block")},
                    "kernel": list(layer.kernel) if layer.kernel else None,
                    "output_shape": list(layer.output_shape) if layer.output_shape else None}
                   for layer in block.layers],
        "other_ops": {"macs": block.other_ops_macs, "flops": block.other_ops_flops},
        "total": {"params": t.params, "conv_weights": t.conv_weights, "bn_params": t.bn_params,
                  "other_params": t.other_params, "macs": t.macs, "flops": t.flops},
        "ratio_to_first": {"params": _ratio(t.params, r.params), "conv_weights": _ratio(t.conv_weights, r.conv_weights),
                           "macs": _ratio(t.macs, r.macs), "flops": _ratio(t.flops, r.flops)},
    }


def blocks_data(comparison: BlockComparison) -> dict:
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "compare",
        "comparison": "blocks",
        "kinds": list(comparison.kinds),
        "channels": comparison.channels,
        "size": comparison.size,
        "sections": [
            {"setting": section.setting, "title": section.title,
             "blocks": [_block_document(block, section.blocks[0]) for block in section.blocks]}
            for section in comparison.sections
        ],
        "conventions": {"conv_weights": PARAMS_FORMULA, "macs": MACS_FORMULA, "bn_params": BN_MEANING,
                        "flops": FLOPS_MEANING},
    }


def _ratio_lines(blocks: tuple[BlockCount, ...]) -> list[str]:
    first = blocks[0]
    lines = []
    for block in blocks[1:]:
        t, r = block.totals, first.totals
        lines.append(
            f"{block.label} vs {first.label}: conv weights {t.conv_weights:,} / {r.conv_weights:,} = "
            f"{_times(t.conv_weights, r.conv_weights)}; params {t.params:,} / {r.params:,} = "
            f"{_times(t.params, r.params)}; MACs {t.macs:,} / {r.macs:,} = {_times(t.macs, r.macs)}")
    return lines


def _times(value: int, reference: int) -> str:
    return f"{value / reference:.3f}×" if reference else "—"


def blocks_document(comparison: BlockComparison) -> Document:
    columns = [c for c in BLOCK_COLUMNS if c.key in _BLOCK_TABLE_KEYS]
    if not any(b.totals.other_params for s in comparison.sections for b in s.blocks):
        columns = [c for c in columns if c.key != "other_params"]
    blocks: list = []
    for section in comparison.sections:
        blocks.append(Heading(f"Blocks {section.title}"))
        for block in section.blocks:
            blocks.append(Table(tuple(columns), tuple(_block_records(block)),
                                f"{block.label}  ({block.kind}, as in {block.used_in})"))
        blocks.append(Lines(tuple(_ratio_lines(section.blocks))))
    blocks.append(Lines((PARAMS_FORMULA, MACS_FORMULA, BN_MEANING, f"FLOPs (fvcore): {FLOPS_MEANING}")))
    every = tuple(r for s in comparison.sections for b in s.blocks for r in _block_records(b))
    return Document(data=blocks_data(comparison), blocks=tuple(blocks), csv=Table(tuple(BLOCK_COLUMNS), every))


# ---- models ----

def short_labels(comparison: ModelComparison) -> list[str]:
    """Column labels: a registered name as is, a user's model by its callable's name; repeats numbered."""
    labels = []
    for model in comparison.models:
        label = model.name.rpartition(":")[2] or model.name
        labels.append(label if label not in labels else f"{label}#{len(labels) + 1}")
    return labels


def _model_columns(comparison: ModelComparison) -> list[Column]:
    """stage, then per model: output, params, FLOPs (fvcore), MACs; after the first, each with Δ and Δ%."""
    columns = [Column("stage", "stage", justify="left")]
    for index, label in enumerate(short_labels(comparison)):
        key = f"m{index + 1}"
        columns.append(Column(f"{key}_output", f"{label} output", "shape"))
        for measure, header, kind in (("params", "params", "count"), ("flops", "FLOPs", "flops"),
                                      ("macs", "MACs", "flops")):
            columns.append(Column(f"{key}_{measure}", header, kind))
            if index:
                columns.append(Column(f"{key}_{measure}_diff", "Δ", kind))
                columns.append(Column(f"{key}_{measure}_pct", "Δ%", "pct"))
    return columns


def _difference_fields(prefix: str, measure: str, difference: Difference) -> dict:
    return {f"{prefix}_{measure}": difference.value, f"{prefix}_{measure}_diff": difference.diff,
            f"{prefix}_{measure}_pct": difference.pct}


def _model_records(comparison: ModelComparison) -> list[dict]:
    records = []
    for stage_index in range(comparison.stage_count):
        record = {"stage": comparison.stage_label(stage_index)}
        reference = comparison.stage(0, stage_index)
        for index in range(len(comparison.models)):
            stage = comparison.stage(index, stage_index)
            prefix = f"m{index + 1}"
            record[f"{prefix}_output"] = stage.output_shape if stage else None
            for measure in ("params", "flops", "macs"):
                record.update(_difference_fields(prefix, measure, Difference(
                    getattr(reference, measure) if reference else None, getattr(stage, measure) if stage else None)))
        records.append(record)
    total = {"stage": "total"}
    first = comparison.models[0]
    for index, model in enumerate(comparison.models):
        prefix = f"m{index + 1}"
        total[f"{prefix}_output"] = model.output_shape
        for measure in ("params", "flops", "macs"):
            total.update(_difference_fields(prefix, measure, Difference(getattr(first, measure),
                                                                         getattr(model, measure))))
    records.append(total)
    return records


def _signed(records: list[dict], columns: list[Column]) -> list[dict]:
    """Table and Markdown cells for the Δ columns carry their sign (+1,234 / +12.5%)."""
    signed = []
    for record in records:
        record = dict(record)
        for column in columns:
            value = record.get(column.key)
            if column.key.endswith("_diff") and value is not None:
                record[column.key] = "0" if value == 0 else f"{value:+,}" if column.kind == "count" else \
                    ("+" if value > 0 else "") + render.human(value)
            elif column.key.endswith("_pct") and value is not None:
                record[column.key] = "0.0%" if value == 0 else f"{value:+.1f}%"
        signed.append(record)
    return signed


def _display_columns(columns: list[Column]) -> list[Column]:
    return [Column(c.key, c.header, "text", c.justify) if c.key.endswith(("_diff", "_pct")) else c for c in columns]


def _divergence_document(divergence: Divergence | None) -> dict | None:
    if divergence is None:
        return None
    return {
        "stage": divergence.stage or None, "index": divergence.index, "model": divergence.model,
        "stage_in_model": divergence.stage_in_model, "reasons": list(divergence.reasons),
        "output_shape": {"reference": _shape_list(divergence.reference_shape),
                         "model": _shape_list(divergence.output_shape)},
        "params": {"reference": divergence.params.reference, "model": divergence.params.value,
                   "diff": divergence.params.diff, "pct": divergence.params.pct},
        "flops": {"reference": divergence.flops.reference, "model": divergence.flops.value,
                  "diff": divergence.flops.diff, "pct": divergence.flops.pct},
    }


def _shape_list(shape) -> list[int] | None:
    return list(shape) if shape else None


def models_data(comparison: ModelComparison) -> dict:
    first = comparison.models[0]
    flops_index = comparison.first_flops_difference
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "compare",
        "comparison": "models",
        "reference": first.name,
        "models": [
            {"name": m.name, "source": m.source, "description": m.description, "device": m.device, "notes": list(m.notes),
             "failure": {"module": m.failed_in, "message": m.failure} if m.failure else None,
             "input_shape": list(m.input_shape), "output_shape": _shape_list(m.output_shape),
             "stages": [{"name": s.name, "kind": s.kind, "output_shape": _shape_list(s.output_shape),
                         "params": s.params, "flops": s.flops, "macs": s.macs} for s in m.stages],
             "total": {"params": m.params, "flops": m.flops, "macs": m.macs},
             "vs_reference": {measure: {"diff": d.diff, "pct": d.pct} for measure, d in (
                 (measure, Difference(getattr(first, measure), getattr(m, measure)))
                 for measure in ("params", "flops", "macs"))},
             "first_divergence": _divergence_document(d) if index else None}
            for index, (m, d) in enumerate(zip(comparison.models, comparison.divergences))
        ],
        "stages": [
            {"index": stage_index, "stage": comparison.stage_label(stage_index),
             "models": [_stage_entry(comparison, index, stage_index) for index in range(len(comparison.models))]}
            for stage_index in range(comparison.stage_count)
        ],
        "first_divergence": _divergence_document(comparison.first_divergence),
        "first_flops_difference": None if flops_index is None else {
            "stage": comparison.stage_label(flops_index), "index": flops_index},
        "conventions": {"flops": FLOPS_MEANING, "macs": MACS_MEANING,
                        "diff": "model − first model; pct = 100·diff / first model's value",
                        "first_divergence": "the first stage, by position, where a model's output shape or "
                                            "parameter count differs from the first model's"},
    }


def _stage_entry(comparison: ModelComparison, index: int, stage_index: int) -> dict:
    stage, reference = comparison.stage(index, stage_index), comparison.stage(0, stage_index)
    entry = {"model": comparison.models[index].name, "name": stage.name if stage else None,
             "output_shape": _shape_list(stage.output_shape) if stage else None}
    for measure in ("params", "flops", "macs"):
        difference = Difference(getattr(reference, measure) if reference else None,
                                getattr(stage, measure) if stage else None)
        entry.update({measure: difference.value, f"{measure}_diff": difference.diff, f"{measure}_pct": difference.pct})
    return entry


def divergence_lines(comparison: ModelComparison) -> list[str]:
    """One line per model after the first: where it first leaves the first model, and by how much."""
    reference = comparison.models[0].name
    lines = []
    for index, divergence in enumerate(comparison.divergences[1:], start=1):
        model = comparison.models[index].name
        if divergence is None:
            flops_at = comparison.flops_difference(index)
            flops = "; FLOPs equal everywhere" if flops_at is None else \
                f"; FLOPs first differ at {comparison.stage_label(flops_at)}"
            lines.append(f"first divergence of {model}: none — every stage's output shape and parameters match "
                         f"{reference}{flops}")
            continue
        where = divergence.stage or divergence.stage_in_model
        if divergence.reasons == ("missing stage",):
            which = model if divergence.stage_in_model is None else reference
            lines.append(f"first divergence of {model}: stage {divergence.index + 1} ({where}) — {which} has no "
                         "such stage")
            continue
        parts = []
        failed = comparison.models[index]
        if failed.failure and divergence.output_shape is None:
            parts.append(f"its forward fails in {failed.failed_in or 'its own forward'}: {failed.failure}")
        elif "output_shape" in divergence.reasons:
            parts.append(f"output {render.shape_text(divergence.output_shape)} instead of "
                         f"{render.shape_text(divergence.reference_shape)}")
        if "params" in divergence.reasons:
            parts.append(f"params {divergence.params.value:,} instead of {divergence.params.reference:,} "
                         f"({divergence.params.diff:+,}, {divergence.params.pct:+.1f}%)")
        if divergence.flops.diff:
            parts.append(f"FLOPs {render.human(divergence.flops.value)} instead of "
                         f"{render.human(divergence.flops.reference)} ({divergence.flops.pct:+.1f}%)")
        name = where if divergence.stage_in_model in (None, divergence.stage) else \
            f"{where} (its {divergence.stage_in_model})"
        lines.append(f"first divergence of {model}: {name} — " + "; ".join(parts))
    return lines


def models_document(comparison: ModelComparison) -> Document:
    columns = _model_columns(comparison)
    records = _model_records(comparison)
    # MACs stay in CSV and JSON: the table keeps to shapes, parameters and FLOPs so two models fit a screen
    display = _display_columns([c for c in columns if not c.key.endswith(("_macs", "_macs_diff", "_macs_pct"))])
    shown = _signed(records, columns)
    labels = short_labels(comparison)
    inputs = tuple(f"{label} = {m.name} ({m.description}), input {render.shape_text(m.input_shape)}"
                   for label, m in zip(labels, comparison.models))
    footer = (*divergence_lines(comparison),
              f"Δ = model − {comparison.models[0].name}; FLOPs (fvcore): {FLOPS_MEANING}; MACs: {MACS_MEANING}")
    return Document(
        data=models_data(comparison),
        blocks=(Heading(f"compare {' vs '.join(labels)}"), Lines(inputs), Table(tuple(display), tuple(shown)),
                Lines(footer)),
        csv=Table(tuple(columns), tuple(records)),
    )
