"""``compare`` of blocks as documents and tables, layer by layer (models: ``resnet_cli.views.compare``).

One column list per comparison drives the table, CSV and Markdown; the JSON document carries the same
numbers (and more) raw. Nothing here computes: ``resnet_cli.comparison.blocks`` did.
"""

from __future__ import annotations

from resnet_cli.comparison.blocks import BlockComparison, BlockCount
from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Document, Heading, Lines, Table
from resnet_cli.views.conventions import FLOPS_MEANING

PARAMS_FORMULA = "conv weights = k·k·Cin·Cout/groups (bias-free, as in torchvision)"
MACS_FORMULA = "MACs = conv weights · Hout · Wout (one multiply-accumulate per weight per output position)"
BN_MEANING = "BatchNorm parameters = 2·C (γ and β); its running mean and variance are buffers, not parameters"

# ---- blocks ----

BLOCK_COLUMNS = [  # drop: at a short width the least needed go first (the formulas and weights stay)
    Column("setting", "setting", justify="left"),
    Column("block", "block", justify="left"),
    Column("layer", "layer", justify="left", drop=3),
    Column("what", "what", justify="left", wrap=True),
    Column("kernel", "kernel", justify="left"),
    Column("stride", "stride"),
    Column("in_channels", "Cin"),
    Column("out_channels", "Cout"),
    Column("groups", "groups"),
    Column("output_shape", "output", "shape", drop=4),
    Column("params_formula", "k·k·Cin·Cout/groups", justify="left"),
    Column("conv_weights", "conv weights", "count"),
    Column("bn_params", "BN params", "count", drop=2),
    Column("other_params", "bias", "count", drop=5),
    Column("params", "params", "count"),
    Column("macs_formula", "weights·H·W", justify="left", drop=6),
    Column("macs", "MACs", "count", drop=1),
    Column("flops", "FLOPs (fvcore)", "count", drop=7),
]
_BLOCK_TABLE_KEYS = (
    "layer",
    "what",
    "output_shape",
    "params_formula",
    "conv_weights",
    "bn_params",
    "other_params",
    "macs_formula",
    "macs",
    "flops",
)


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
        "setting": block.setting,
        "block": block.kind,
        "layer": layer.name,
        "what": what,
        "kernel": "x".join(map(str, layer.kernel)) if layer.kernel else None,
        "stride": layer.stride,
        "in_channels": layer.in_channels,
        "out_channels": layer.out_channels,
        "groups": layer.groups,
        "output_shape": layer.output_shape,
        "params_formula": layer.params_formula,
        "conv_weights": layer.conv_weights,
        "bn_params": layer.bn_params,
        "other_params": layer.other_params,
        "params": layer.params,
        "macs_formula": layer.macs_formula,
        "macs": layer.macs,
        "flops": layer.flops,
    }


def _block_records(block: BlockCount) -> list[dict]:
    records = [_layer_record(block, layer) for layer in block.layers]
    base = {key: None for key in (c.key for c in BLOCK_COLUMNS)}
    if block.other_ops_macs or block.other_ops_flops:
        records.append(
            {
                **base,
                "setting": block.setting,
                "block": block.kind,
                "layer": "other ops",
                "what": "outside the layers above (e.g. SE's global mean)",
                "macs": block.other_ops_macs,
                "flops": block.other_ops_flops,
            }
        )
    t = block.totals
    records.append(
        {
            **base,
            "setting": block.setting,
            "block": block.kind,
            "layer": "total",
            "what": block.label,
            "output_shape": block.output_shape,
            "conv_weights": t.conv_weights,
            "bn_params": t.bn_params,
            "other_params": t.other_params,
            "params": t.params,
            "macs": t.macs,
            "flops": t.flops,
        }
    )
    return records


def _block_document(block: BlockCount, reference: BlockCount) -> dict:
    t, r = block.totals, reference.totals
    return {
        "kind": block.kind,
        "label": block.label,
        "used_in": block.used_in,
        "in_channels": block.in_channels,
        "width": block.width,
        "out_channels": block.out_channels,
        "groups": block.groups,
        "input_shape": list(block.input_shape),
        "output_shape": list(block.output_shape) if block.output_shape else None,
        "layers": [
            {
                **{k: v for k, v in _layer_record(block, layer).items() if k not in ("setting", "block")},
                "kernel": list(layer.kernel) if layer.kernel else None,
                "output_shape": list(layer.output_shape) if layer.output_shape else None,
            }
            for layer in block.layers
        ],
        "other_ops": {"macs": block.other_ops_macs, "flops": block.other_ops_flops},
        "total": {
            "params": t.params,
            "conv_weights": t.conv_weights,
            "bn_params": t.bn_params,
            "other_params": t.other_params,
            "macs": t.macs,
            "flops": t.flops,
        },
        "ratio_to_first": {
            "params": _ratio(t.params, r.params),
            "conv_weights": _ratio(t.conv_weights, r.conv_weights),
            "macs": _ratio(t.macs, r.macs),
            "flops": _ratio(t.flops, r.flops),
        },
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
            {
                "setting": section.setting,
                "title": section.title,
                "blocks": [_block_document(block, section.blocks[0]) for block in section.blocks],
            }
            for section in comparison.sections
        ],
        "conventions": {
            "conv_weights": PARAMS_FORMULA,
            "macs": MACS_FORMULA,
            "bn_params": BN_MEANING,
            "flops": FLOPS_MEANING,
        },
    }


def _ratio_lines(blocks: tuple[BlockCount, ...]) -> list[str]:
    first = blocks[0]
    lines = []
    for block in blocks[1:]:
        t, r = block.totals, first.totals
        lines.append(
            f"{block.label} vs {first.label}: conv weights {t.conv_weights:,} / {r.conv_weights:,} = "
            f"{_times(t.conv_weights, r.conv_weights)}; params {t.params:,} / {r.params:,} = "
            f"{_times(t.params, r.params)}; MACs {t.macs:,} / {r.macs:,} = {_times(t.macs, r.macs)}"
        )
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
            blocks.append(
                Table(
                    tuple(columns),
                    tuple(_block_records(block)),
                    f"{block.label}  ({block.kind}, as in {block.used_in})",
                )
            )
        blocks.append(Lines(tuple(_ratio_lines(section.blocks))))
    blocks.append(Lines((PARAMS_FORMULA, MACS_FORMULA, BN_MEANING, f"FLOPs (fvcore): {FLOPS_MEANING}")))
    every = tuple(r for s in comparison.sections for b in s.blocks for r in _block_records(b))
    return Document(data=blocks_data(comparison), blocks=tuple(blocks), csv=Table(tuple(BLOCK_COLUMNS), every))
