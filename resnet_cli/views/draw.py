"""A ``Diagram`` in the terminal: one box per stage (rich box drawing), the shapes between them.

Every line is laid out here, breaking only between whole pieces (a layer label, "9,536 params"), so a
number, a shape or a name is never split whatever the width; rich only draws the borders.
"""

from __future__ import annotations

from resnet_cli.base.values import shown
from resnet_cli.render import emit as render
from resnet_cli.render.words import block_numbers, field_words
from resnet_cli.report.draw import BlockGroup, Diagram, Stage
from resnet_cli.spec.naming import identified_data

MIN_WIDTH = 40  # narrower than this, boxes are drawn at this width (the terminal wraps them)


def _flops(value: int) -> str:
    text = render.human(value)
    return f"{text}FLOPs" if text[-1].isalpha() else f"{text} FLOPs"


def _numbers(params: int, flops: int, field) -> list[str]:
    pieces = [f"{params:,} params", _flops(flops)]
    rf = field_words(field)
    return pieces + ([rf] if rf else [])


def wrap(pieces: list[str], separator: str, width: int, indent: str = "") -> list[str]:
    """Join ``pieces`` with ``separator`` into lines of at most ``width``, breaking only between pieces."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        candidate = piece if not current else current + separator + piece
        if current and len(candidate) > width:
            lines.append(current)
            current = indent + piece
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _group_lines(group: BlockGroup, width: int, per_block: bool) -> list[str]:
    lead = shown(group.names[0], None) + ": " if per_block else f"×{group.count}  "
    pad = " " * len(lead)
    chain = [shown(layer.label, None) for layer in group.main] + ["⊕"]
    lines = wrap(chain, " → ", width - len(lead), "")
    out = [(lead if i == 0 else pad) + line for i, line in enumerate(lines)]
    shortcut = "shortcut: " + block_numbers(group)
    out += [pad + line for line in wrap(shortcut.split("; "), "; ", width - len(pad), "  ")]
    later = [(n, s) for n, s in group.downsampling if n > 1 or len(group.downsampling) > 1]
    if later and not per_block:
        out.append(pad + "; ".join(f"stride {s} in block {n}" for n, s in later))
    if per_block:
        out += [
            pad + line
            for line in wrap(_numbers(group.params, group.flops, group.receptive_field), " · ", width - len(pad))
        ]
    return out


def stage_lines(stage: Stage, width: int, per_block: bool) -> list[str]:
    lines: list[str] = []
    for part in stage.parts:
        if part.layers:
            lines += wrap([shown(layer.label, None) for layer in part.layers], " → ", width)
        for group in part.groups:
            lines += _group_lines(group, width, per_block)
    if not lines:
        lines.append("(no conv, pool or linear layer)")
    numbers = _numbers(stage.params, stage.flops, stage.receptive_field)
    if per_block and any(part.groups for part in stage.parts):
        numbers[0] = "stage: " + numbers[0]
    lines += wrap(numbers, " · ", width)
    return lines


def terminal(diagram: Diagram, width: int):
    """A rich renderable of the whole diagram, drawn for a terminal ``width`` columns wide."""
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    width = max(width, MIN_WIDTH)
    inner = width - 4  # borders and one space of padding each side
    items = []
    # names (a file, a user's modules) are escaped and every piece is Text: never raw control characters or markup
    heading = shown(f"{diagram.model} — {diagram.description}" if diagram.description else diagram.model, None)
    for line in wrap(heading.split(" "), " ", width):
        items.append(Text(line, style="bold", no_wrap=True))
    summary = [
        f"input {render.shape_text(diagram.input_shape)}",
        f"{diagram.params:,} params",
        _flops(diagram.flops) + " (fvcore)",
    ]
    items += [Text(line, no_wrap=True) for line in wrap(summary, " · ", width)]
    items.append(Text(f"  │ {render.shape_text(diagram.input_shape)}", no_wrap=True))
    # in the encoding the drawing is written in (ASCII fallbacks before the boxes are sized)
    bodies = [
        [render.plain(line) for line in stage_lines(stage, inner, diagram.depth == "block")] for stage in diagram.stages
    ]
    titles = [
        render.plain(shown(stage.name, None) + (f" · {stage.blocks} blocks" if stage.blocks > 1 else ""))
        for stage in diagram.stages
    ]
    # every box as wide as the widest (the terminal at most): the stages line up like a figure's column
    box_width = min(
        width, max(max(len(line) for body in bodies for line in body), max(len(title) + 4 for title in titles)) + 4
    )
    for stage, body, title in zip(diagram.stages, bodies, titles):
        items.append(
            Panel(
                Text("\n".join(body), no_wrap=True, overflow="ignore"),
                title=Text(title),
                title_align="left",
                box=box.ROUNDED,
                width=box_width,
                padding=(0, 1),
            )
        )
        if stage.output_shape:
            items.append(Text(f"  │ {render.shape_text(stage.output_shape)}", no_wrap=True))
    return Group(*items)


# ---- the document: the drawing for people, the diagram's data for JSON, one row per stage for CSV ----

STAGE_COLUMNS = (
    render.Column("name", "stage", justify="left"),
    render.Column("output_shape", "output", "shape"),
    render.Column("blocks", "blocks", "count"),
    render.Column("params", "params", "count"),
    render.Column("flops", "FLOPs (fvcore)", "flops"),
    render.Column("macs", "MACs", "flops"),
    render.Column("receptive_field", "RF (stride)", "field"),
    render.Column("layers", "layers", justify="left", wrap=True),
)


def _layer_data(layer) -> dict:
    return {"label": layer.label, "kind": layer.kind, "module": layer.module, "stride": layer.stride}


def _field(field) -> dict | None:
    return field.as_dict() if field is not None else None


def _group_data(group) -> dict:
    return {
        "blocks": list(group.names),
        "count": group.count,
        "main": [_layer_data(layer) for layer in group.main],
        "shortcuts": [{"shortcut": text, "blocks": count} for text, count in group.shortcuts],
        "downsampling": [{"block": number, "stride": stride} for number, stride in group.downsampling],
        "params": group.params,
        "flops": group.flops,
        "output_shape": list(group.output_shape) if group.output_shape else None,
        "receptive_field": _field(group.receptive_field),
    }


def _stage_labels(stage: Stage) -> str:
    labels = []
    for part in stage.parts:
        labels += [layer.label for layer in part.layers]
        labels += [f"[{' → '.join(layer.label for layer in group.main)}] ×{group.count}" for group in part.groups]
    return " → ".join(labels)


def diagram_data(diagram: Diagram) -> dict:
    stages = []
    for stage in diagram.stages:
        stages.append(
            {
                "name": stage.name,
                "output_shape": list(stage.output_shape) if stage.output_shape else None,
                "blocks": stage.blocks,
                "params": stage.params,
                "flops": stage.flops,
                "macs": stage.macs,
                "activation_elements": stage.activation_elements,
                "receptive_field": _field(stage.receptive_field),
                "parts": [
                    {"layers": [_layer_data(layer) for layer in part.layers]}
                    if part.layers
                    else {"groups": [_group_data(group) for group in part.groups]}
                    for part in stage.parts
                ],
            }
        )
    return {
        "schema_version": render.SCHEMA_VERSION,
        "command": "draw",
        "model": diagram.model,
        "description": diagram.description,
        "identified_as": identified_data(diagram.identified_as),
        "input_shape": list(diagram.input_shape),
        "output_shape": list(diagram.output_shape) if diagram.output_shape else None,
        "depth": diagram.depth,
        "stages": stages,
        "total": {"params": diagram.params, "flops": diagram.flops, "macs": diagram.macs},
    }


def draw_document(diagram: Diagram) -> render.Document:
    data = diagram_data(diagram)
    records = tuple(
        {
            "name": s["name"],
            "output_shape": s["output_shape"],
            "blocks": s["blocks"],
            "params": s["params"],
            "flops": s["flops"],
            "macs": s["macs"],
            "receptive_field": s["receptive_field"],
            "layers": _stage_labels(stage),
        }
        for s, stage in zip(data["stages"], diagram.stages)
    )
    return render.Document(
        data, (render.Drawing(lambda width: terminal(diagram, width)),), render.Table(STAGE_COLUMNS, records)
    )
