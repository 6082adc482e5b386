"""A ``Diagram`` as an image file (svg, png, pdf) with matplotlib, in the style of the papers' figures.

One row per stage, top to bottom: the stage's name and "×N" on the left, its block drawn once as a chain
of layer boxes with the shortcut arching over it into the ⊕, its numbers on the right, and the output
shape on the arrow to the next stage. Every box is sized from its measured text, so labels never overlap.
The same drawing helpers draw ``compare basic bottleneck --draw`` (``save_blocks``).
"""

from __future__ import annotations

from resnet_cli.render import emit as render
from resnet_cli.render.images import pyplot, save, text_width
from resnet_cli.render.words import block_numbers, field_words
from resnet_cli.report.draw import BlockGroup, Diagram, Layer, Stage

LEFT = 0.25  # inches from the left edge to the stage names
FONT = 9.0
BOX_HEIGHT = 0.36
ARROW = 0.26
FILL = {
    "conv": "#dbe8f6",
    "pool": "#fbe3c8",
    "linear": "#d9efd9",
    "gate": "#eadcf3",
    "subsample": "#eeeeee",
    "pad": "#eeeeee",
}
EDGE = "#4a4a4a"
STAGE_FILL = "#f7f7f7"


def _box_width(label: str) -> float:
    return max(0.7, text_width(label) + 0.24)


def chain_lines(layers: tuple[Layer, ...], room: float, tail: float = 0.0) -> list[list[Layer]]:
    """Layers split into lines that fit ``room`` inches (the last line also holds ``tail`` more)."""
    lines: list[list[Layer]] = [[]]
    used = 0.0
    for layer in layers:
        width = _box_width(layer.label) + ARROW
        if lines[-1] and used + width > room:
            lines.append([])
            used = 0.0
        lines[-1].append(layer)
        used += width
    if lines[-1] and used + tail > room and len(lines[-1]) > 1:
        lines.append([lines[-1].pop()])
    return lines


class _Canvas:
    """An axes whose data units are inches, y growing downwards."""

    def __init__(self, width: float, height: float) -> None:
        plt = pyplot()
        self.figure = plt.figure(figsize=(width, height))
        self.axes = self.figure.add_axes((0, 0, 1, 1))
        self.axes.set_xlim(0, width)
        self.axes.set_ylim(height, 0)
        self.axes.axis("off")

    def text(self, x, y, text, size=FONT, bold=False, ha="left", va="center", color="#1a1a1a", **kwargs):
        self.axes.text(
            x, y, text, fontsize=size, fontweight="bold" if bold else "normal", ha=ha, va=va, color=color, **kwargs
        )

    def box(self, x, y, width, label, kind):
        from matplotlib.patches import FancyBboxPatch

        self.axes.add_patch(
            FancyBboxPatch(
                (x, y - BOX_HEIGHT / 2),
                width,
                BOX_HEIGHT,
                boxstyle="round,pad=0,rounding_size=0.06",
                linewidth=0.9,
                edgecolor=EDGE,
                facecolor=FILL.get(kind, "#ffffff"),
            )
        )
        self.text(x + width / 2, y, label, ha="center")

    def frame(self, x, y, width, height, fill=STAGE_FILL):
        from matplotlib.patches import FancyBboxPatch

        self.axes.add_patch(
            FancyBboxPatch(
                (x, y),
                width,
                height,
                boxstyle="round,pad=0,rounding_size=0.1",
                linewidth=0.8,
                edgecolor="#b0b0b0",
                facecolor=fill,
            )
        )

    def arrow(self, x0, y0, x1, y1):
        self.axes.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": EDGE, "lw": 0.9, "shrinkA": 0, "shrinkB": 0},
        )

    def line(self, xs, ys):
        self.axes.plot(xs, ys, color=EDGE, linewidth=0.9, solid_capstyle="butt")

    def plus(self, x, y, radius=0.11):
        from matplotlib.patches import Circle

        self.axes.add_patch(Circle((x, y), radius, facecolor="white", edgecolor=EDGE, linewidth=0.9))
        self.line([x - radius * 0.6, x + radius * 0.6], [y, y])
        self.line([x, x], [y - radius * 0.6, y + radius * 0.6])

    def chain(self, x, y, layers, with_sum: bool) -> float:
        """Boxes joined by arrows from (x, y); returns the x where the chain (and its ⊕) ends."""
        for index, layer in enumerate(layers):
            width = _box_width(layer.label)
            self.box(x, y, width, layer.label, layer.kind)
            x += width
            if index < len(layers) - 1 or with_sum:
                self.arrow(x, y, x + ARROW, y)
                x += ARROW
        if with_sum:
            self.plus(x + 0.11, y)
            x += 0.22
        return x


# ---- the diagram of a model ----

_LINE = 0.62  # height of one chain line
_SHORTCUT = 0.5  # room above a block's chain for its shortcut
_HEADER = 0.34
_GAP = 0.5
_MAX_CHAIN = 7.0  # inches of boxes on one line before it wraps
_BLOCK_INSET = 0.3  # the shortcut forks this far before a block's first box
_SUM = 0.22 + ARROW  # the ⊕ and the arrow out of it


def _chain_width(layers, group) -> float:
    width = sum(_box_width(layer.label) for layer in layers) + ARROW * max(len(layers) - 1, 0)
    return width + (_BLOCK_INSET + ARROW + _SUM if group is not None else 0.0)


def _stage_lines(stage: Stage, per_block: bool):
    """(left label, layers, group or None) for every chain line of a stage."""
    lines = []
    for part in stage.parts:
        for layers in chain_lines(part.layers, _MAX_CHAIN) if part.layers else []:
            lines.append(("", layers, None))
        for group in part.groups:
            split = chain_lines(group.main, _MAX_CHAIN - _BLOCK_INSET, tail=ARROW + _SUM)
            left = group.names[0] if per_block else f"×{group.count}"
            for index, layers in enumerate(split):
                lines.append((left if index == 0 else "", layers, group if index == len(split) - 1 else None))
    return lines


def _stage_height(lines) -> float:
    return _HEADER + sum(_LINE + (_SHORTCUT if g is not None else 0.0) for _, _, g in lines) + (0.1 if lines else 0.45)


def _numbers_lines(params: int, flops: int, field) -> list[str]:
    flops_text = render.human(flops)
    lines = [f"{params:,} params", flops_text + ("FLOPs" if flops_text[-1].isalpha() else " FLOPs")]
    rf = field_words(field)
    return lines + ([rf] if rf else [])


class _Layout:
    """Column positions of one diagram, from its widest chain and widest label."""

    def __init__(self, diagram: Diagram) -> None:
        self.per_block = diagram.depth == "block"
        self.lines = [_stage_lines(stage, self.per_block) for stage in diagram.stages]
        labels = [left for lines in self.lines for left, _, _ in lines if left]
        label_width = max(
            [text_width(t, 9 if self.per_block else 13, bold=not self.per_block) for t in labels], default=0.0
        )
        self.chain = LEFT + max(1.0, label_width + 0.35)
        widest = max([_chain_width(layers, g) for lines in self.lines for _, layers, g in lines], default=1.0)
        self.numbers = self.chain + widest + 0.45
        texts = [
            t for stage in diagram.stages for t in _numbers_lines(stage.params, stage.flops, stage.receptive_field)
        ]
        if self.per_block:
            texts += [
                t
                for lines in self.lines
                for _, _, g in lines
                if g is not None
                for t in _numbers_lines(g.params, g.flops, g.receptive_field)
            ]
        self.width = max(self.numbers + max(text_width(t, 8.5) for t in texts) + 0.35, 7.5)


def _draw_stage(canvas: _Canvas, layout: _Layout, top: float, stage: Stage, lines) -> float:
    per_block = layout.per_block
    height = _stage_height(lines)
    canvas.frame(0.12, top, layout.width - 0.24, height)
    title = stage.name + (f"  ·  {stage.blocks} blocks" if stage.blocks > 1 else "")
    canvas.text(LEFT, top + _HEADER / 2 + 0.04, title, size=10.5, bold=True)
    if per_block:
        canvas.text(
            layout.width - 0.3,
            top + _HEADER / 2 + 0.04,
            "   ·   ".join(_numbers_lines(stage.params, stage.flops, stage.receptive_field)),
            size=8,
            ha="right",
            color="#555555",
        )
    y = top + _HEADER
    numbers_at = []
    for left, layers, group in lines:
        line_top = y
        y += _SHORTCUT if group is not None else 0.0
        centre = y + _LINE / 2
        if left:
            canvas.text(LEFT + (0 if per_block else 0.1), centre, left, size=9 if per_block else 13, bold=not per_block)
        start = layout.chain + (_BLOCK_INSET if group is not None else 0.0)
        end = canvas.chain(start, centre, layers, with_sum=group is not None)
        if group is not None:
            _shortcut(canvas, layout.chain + 0.1, start, end - 0.11, line_top + 0.2, centre, group, per_block)
            canvas.arrow(end, centre, end + ARROW, centre)
            numbers_at.append(centre)
        y += _LINE
    if per_block:
        groups = [g for _, _, g in lines if g is not None]
        for centre, group in zip(numbers_at, groups):
            _numbers(canvas, layout.numbers, centre, _numbers_lines(group.params, group.flops, group.receptive_field))
    else:
        _numbers(
            canvas,
            layout.numbers,
            top + height / 2 + 0.08,
            _numbers_lines(stage.params, stage.flops, stage.receptive_field),
        )
    return top + height


def _numbers(canvas, x, middle, lines):
    for index, line in enumerate(lines):
        canvas.text(x, middle + (index - (len(lines) - 1) / 2) * 0.2, line, size=8.5)


def _shortcut(canvas, x_fork, x_start, x_sum, y_top, y_chain, group: BlockGroup, per_block: bool):
    """The shortcut: from the block's input, over the chain, down into the ⊕; its layers as a label."""
    canvas.line([x_fork - 0.12, x_start], [y_chain, y_chain])
    canvas.line([x_fork, x_fork, x_sum, x_sum], [y_chain, y_top, y_top, y_chain - 0.11])
    label = " → ".join(g for g, _ in group.shortcuts) if per_block else block_numbers(group)
    label = label.replace("; ", "  ·  ")
    room = x_sum - x_fork - 0.2
    size = FONT - 0.5
    while text_width(label, size) > room and size > 6:
        size -= 0.5
    canvas.text(
        (x_fork + x_sum) / 2,
        y_top,
        label,
        size=size,
        ha="center",
        bbox={"boxstyle": "square,pad=0.15", "facecolor": STAGE_FILL, "edgecolor": "none"},
    )


def diagram_figure(diagram: Diagram):
    layout = _Layout(diagram)
    heights = [_stage_height(lines) for lines in layout.lines]
    total = 1.15 + 0.35 + sum(heights) + _GAP * len(heights) + 0.1
    canvas = _Canvas(layout.width, total)
    _fitted(canvas, LEFT, 0.3, diagram.model, layout.width - 0.5, 13.0, bold=True)
    _fitted(canvas, LEFT, 0.58, diagram.description, layout.width - 0.5, 10.0)
    flops = render.human(diagram.flops)
    _fitted(
        canvas,
        LEFT,
        0.84,
        f"input {render.shape_text(diagram.input_shape)}  ·  {diagram.params:,} parameters"
        f"  ·  {flops}FLOPs (fvcore)  ·  RF: theoretical receptive field",
        layout.width - 0.5,
        9.0,
        color="#444444",
    )
    y = 1.15
    x_flow = 0.75
    canvas.text(x_flow + 0.12, y + 0.17, f"input {render.shape_text(diagram.input_shape)}", size=8.5)
    canvas.arrow(x_flow, y, x_flow, y + 0.35)
    y += 0.35
    for stage, lines in zip(diagram.stages, layout.lines):
        y = _draw_stage(canvas, layout, y, stage, lines)
        canvas.arrow(x_flow, y, x_flow, y + _GAP)
        if stage.output_shape:
            canvas.text(x_flow + 0.12, y + _GAP / 2, render.shape_text(stage.output_shape), size=8.5)
        y += _GAP
    return canvas.figure


def _fitted(canvas, x, y, text, room, size, bold=False, **kwargs):
    """Text shrunk (down to 7 points) until it fits ``room`` inches."""
    while text_width(text, size, bold) > room and size > 7:
        size -= 0.5
    canvas.text(x, y, text, size=size, bold=bold, **kwargs)


def save_diagram(diagram: Diagram, path: str) -> None:
    save(diagram_figure(diagram), path)


# ---- compare basic bottleneck --draw: blocks side by side, with their conv-weight formulas ----


def blocks_figure(comparison):
    """The blocks of ``compare`` where ResNet uses them, drawn as the ResNet paper's Figure 5, with the
    k·k·Cin·Cout formula of every conv and the sum of the block's conv weights."""
    section = comparison.sections[0]
    blocks = section.blocks
    formula_width = max(
        text_width(f"{layer.params_formula} = {layer.conv_weights:,}", 9.0)
        for block in blocks
        for layer in block.layers
        if layer.kernel
    )
    sum_width = max(text_width(_weights_sum(block), 9.5, bold=True) for block in blocks)
    column = max(3.4, 1.6 + 0.8 + 0.15 + formula_width + 0.3, sum_width + 0.6)
    convs = max(sum(1 for layer in block.layers if layer.kernel) for block in blocks)
    height = 1.1 + 1.05 + convs * (BOX_HEIGHT + 0.44) + 0.5 + 1.3
    canvas = _Canvas(column * len(blocks) + 0.3, height)
    first = blocks[0].totals.conv_weights
    ratios = "  ·  ".join(
        f"{b.kind}: {b.totals.conv_weights:,}" + (f" ({b.totals.conv_weights / first:.3f}×)" if i else "")
        for i, b in enumerate(blocks)
    )
    _fitted(
        canvas,
        LEFT,
        0.32,
        "Conv weights per block, " + section.title,
        canvas.figure.get_figwidth() - 0.5,
        12.0,
        bold=True,
    )
    _fitted(canvas, LEFT, 0.62, ratios, canvas.figure.get_figwidth() - 0.5, 10.0, color="#444444")
    bottom = height - 1.0
    for index, block in enumerate(blocks):
        _draw_block(canvas, 0.15 + index * column, 1.1, column, bottom, block)
    return canvas.figure


def _weights_sum(block) -> str:
    convs = [layer for layer in block.layers if layer.kernel]
    return " + ".join(f"{layer.conv_weights:,}" for layer in convs) + f" = {block.totals.conv_weights:,}"


def _draw_block(canvas, x0, y0, width, bottom, block):
    side = x0 + 0.25  # the identity shortcut runs down here, left of the boxes
    centre = x0 + 1.6
    canvas.frame(x0 + 0.05, y0, width - 0.1, bottom + 0.9 - y0)
    canvas.text(x0 + 0.25, y0 + 0.25, block.label, size=10.5, bold=True)
    canvas.text(x0 + 0.25, y0 + 0.5, f"as in {block.used_in}", size=8.5, color="#555555")
    y = y0 + 0.75
    canvas.text(centre + 0.1, y + 0.05, f"{block.in_channels}-d in", size=8.5)
    canvas.arrow(centre, y - 0.05, centre, y + 0.3)
    fork = y + 0.1
    y += 0.3
    convs = [layer for layer in block.layers if layer.kernel]
    for layer in convs:
        box_y = y + BOX_HEIGHT / 2
        label = f"{'×'.join(map(str, layer.kernel))}, {layer.out_channels}" + (
            f", C={layer.groups}" if layer.groups and layer.groups > 1 else ""
        )
        canvas.box(centre - 0.8, box_y, 1.6, label, "conv")
        canvas.text(centre - 0.88, box_y, layer.name, size=7.5, ha="right", color="#555555")
        canvas.text(centre + 0.95, box_y, f"{layer.params_formula} = {layer.conv_weights:,}", size=9.0)
        y += BOX_HEIGHT
        canvas.arrow(centre, y, centre, y + 0.44)
        y += 0.44
    canvas.plus(centre, y + 0.11)
    canvas.line([centre, side, side, centre - 0.11], [fork, fork, y + 0.11, y + 0.11])
    canvas.text(side + 0.08, y + 0.01, "identity", size=8, color="#444444")
    canvas.arrow(centre, y + 0.22, centre, y + 0.5)
    canvas.text(centre + 0.1, y + 0.4, f"{block.out_channels}-d out", size=8.5)
    total = block.totals
    canvas.text(x0 + 0.25, bottom, "conv weights", size=9.5, bold=True)
    canvas.text(x0 + 0.25, bottom + 0.25, _weights_sum(block), size=9.5, bold=True)
    canvas.text(
        x0 + 0.25,
        bottom + 0.5,
        f"+ {total.bn_params:,} BatchNorm γ, β = {total.params:,} parameters",
        size=8.5,
        color="#444444",
    )


def save_blocks(comparison, path: str) -> None:
    save(blocks_figure(comparison), path, option="--draw")
