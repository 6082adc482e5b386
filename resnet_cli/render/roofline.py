"""``profile``'s roofline: the device's two measured ceilings and every row as a point (arithmetic intensity,
achieved FLOP/s), one colour per model — as a figure file (matplotlib) and as a compact text chart.

Labels are placed greedily: each tries a few positions around its point and takes the first that overlaps no
label already placed and no point; a label that finds no free place is left out and counted in the caption.
"""

from __future__ import annotations

import math

from resnet_cli.report.profile import ProfileReport

COLOURS = ("#3b6ea8", "#e08a2e", "#4e9a4e", "#b04a7a", "#7a5cb0", "#8c6d31")
MAX_LABELS = 24  # per model: the rows with the most time are labelled first
MARKS = "123456789abcdefghijklmnopqrstuvwxyz"


def _points(report: ProfileReport):
    """(model index, model, row) for every row with a measured time, FLOPs and bytes."""
    found = []
    for index, model in enumerate(report.models):
        for row in model.rows:
            if row.median_s and row.flops and row.bytes and row.achieved_flops_per_s:
                found.append((index, model.model, row))
    return found


def _bounds(report: ProfileReport, points) -> tuple[float, float, float, float]:
    peaks = report.peaks
    xs = [r.intensity for _, _, r in points] + [peaks.ridge]
    ys = [r.achieved_flops_per_s for _, _, r in points] + [peaks.flops_per_s]
    x0, x1 = min(xs) / 3, max(xs) * 3
    y0, y1 = min(ys) / 3, max(ys) * 2.5
    return x0, x1, y0, y1


def roofline_figure(report: ProfileReport):
    from resnet_cli.render.images import pyplot

    plt = pyplot()
    points = _points(report)
    figure, axis = plt.subplots(figsize=(9.5, 6.2), constrained_layout=True)
    peaks = report.peaks
    if not points:
        axis.text(0.5, 0.5, "no row has a measured time, FLOPs and bytes", ha="center", transform=axis.transAxes)
        return figure
    x0, x1, y0, y1 = _bounds(report, points)
    xs = [x0 * (x1 / x0) ** (i / 200) for i in range(201)]
    axis.plot(xs, [min(peaks.flops_per_s, x * peaks.bytes_per_s) for x in xs], color="#333333", linewidth=1.6)
    axis.axvline(peaks.ridge, color="#999999", linewidth=0.8, linestyle=":")
    slope_x = max(x0 * 1.3, min(peaks.ridge / 8, x1))
    axis.text(
        slope_x,
        slope_x * peaks.bytes_per_s * 1.25,
        f"bandwidth {peaks.bytes_per_s / 1e9:,.1f} GB/s",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color="#333333",
        rotation=_slope_angle(axis, figure, x0, x1, y0, y1),
        rotation_mode="anchor",
    )
    for index, model in enumerate(report.models):
        mine = [r for i, _, r in points if i == index]
        axis.scatter(
            [r.intensity for r in mine],
            [r.achieved_flops_per_s for r in mine],
            color=COLOURS[index % len(COLOURS)],
            s=28,
            label=model.model,
            zorder=3,
            edgecolors="white",
            linewidths=0.5,
        )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(x0, x1)
    axis.set_ylim(y0, y1)
    axis.set_xlabel("arithmetic intensity (FLOPs per byte of compulsory traffic)", fontsize=9.5)
    axis.set_ylabel("achieved FLOP/s (FLOPs / measured time)", fontsize=9.5)
    mode = "training step" if report.training else "forward"
    heading = (
        f"roofline — {report.device} {report.device_name}, {report.dtype}, batch {report.batch_size}, "
        f"{mode}, rows at {report.depth} depth"
    )
    # two lines always (the second says what is labelled), so the layout is the same before and after labelling
    title = axis.set_title(heading + "\nevery row a point", fontsize=10.5)
    axis.grid(alpha=0.25, which="both")
    if len(report.models) > 1:
        axis.legend(fontsize=8.5, frameon=False, loc="lower right")
    _peak_label(axis, figure, points, peaks, x1)
    left_out = _label(axis, figure, points, len(report.models) > 1)
    if left_out:
        title.set_text(
            f"{heading}\nevery row a point; {left_out} label{'s' if left_out != 1 else ''} left out where "
            "they would overlap (--format json has every row)"
        )
    return figure


def _peak_label(axis, figure, points, peaks, x1) -> None:
    """The matmul peak's label above its line at the right, or where no point is under it (points above the
    roof exist when a ceiling was measured under contention)."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    marks = [axis.transData.transform((r.intensity, r.achieved_flops_per_s)) for _, _, r in points]
    ridge = peaks.ridge
    places = (
        (x1 / 1.15, 1.12, "right", "bottom"),
        (x1 / 1.15, 1 / 1.12, "right", "top"),
        (ridge * 1.3, 1.12, "left", "bottom"),
        (ridge * 1.3, 1 / 1.12, "left", "top"),
    )
    text = None
    for x, factor, ha, va in places:
        text = axis.text(
            x,
            peaks.flops_per_s * factor,
            f"matmul peak {peaks.flops_per_s / 1e9:,.1f} GFLOP/s",
            ha=ha,
            va=va,
            fontsize=8.5,
            color="#333333",
        )
        box = text.get_window_extent(renderer)
        if not any(box.x0 - 5 <= mx <= box.x1 + 5 and box.y0 - 5 <= my <= box.y1 + 5 for mx, my in marks):
            return
        text.remove()
    axis.text(
        *places[0][:1],
        peaks.flops_per_s * places[0][1],
        f"matmul peak {peaks.flops_per_s / 1e9:,.1f} GFLOP/s",
        ha="right",
        va="bottom",
        fontsize=8.5,
        color="#333333",
    )


def _slope_angle(axis, figure, x0, x1, y0, y1) -> float:
    """The on-screen angle of a line of slope 1 in log-log axes (the bandwidth roof)."""
    width, height = figure.get_size_inches()
    box = axis.get_position()
    dx = math.log10(x1 / x0)
    dy = math.log10(y1 / y0)
    return math.degrees(math.atan((height * box.height / dy) / (width * box.width / dx)))


def _label(axis, figure, points, several: bool) -> int:
    """Place the labels of the rows with most time first; return how many found no free place."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    transform = axis.transData
    taken = []
    for _, _, row in points:  # the points themselves are obstacles
        x, y = transform.transform((row.intensity, row.achieved_flops_per_s))
        taken.append((x - 4, y - 4, x + 4, y + 4))
    for line in axis.lines:  # the roof itself (sampled along its length)
        xs, ys = line.get_xdata(), line.get_ydata()
        if len(xs) > 2:
            for x, y in zip(xs, ys, strict=True):
                px, py = transform.transform((x, y))
                taken.append((px - 2, py - 2, px + 2, py + 2))
    for text in axis.texts:  # and the ceilings' own labels
        box = text.get_window_extent(renderer)
        taken.append((box.x0 - 2, box.y0 - 2, box.x1 + 2, box.y1 + 2))
    frame = axis.get_window_extent(renderer)
    ranked = sorted(points, key=lambda p: -(p[2].median_s or 0))
    per_model: dict[int, int] = {}
    left_out = 0
    offsets = (
        (6, 4),
        (6, -12),
        (-6, 4),
        (-6, -12),
        (8, -4),
        (-8, -4),
        (0, 9),
        (0, -17),
        (12, 12),
        (-12, 12),
        (12, -20),
        (-12, -20),
    )
    for index, _model, row in ranked:
        per_model[index] = per_model.get(index, 0) + 1
        if per_model[index] > MAX_LABELS:
            left_out += 1
            continue
        x, y = transform.transform((row.intensity, row.achieved_flops_per_s))
        placed = False
        for dx, dy in offsets:
            text = axis.annotate(
                row.name,
                (row.intensity, row.achieved_flops_per_s),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=7.5,
                ha="left" if dx >= 0 else "right",
                color=COLOURS[index % len(COLOURS)] if several else "#222222",
            )
            box = text.get_window_extent(renderer)
            rect = (box.x0 - 6, box.y0 - 2, box.x1 + 6, box.y1 + 2)  # air between neighbours on one line
            inside = frame.x0 <= rect[0] and rect[2] <= frame.x1 and frame.y0 <= rect[1] and rect[3] <= frame.y1
            if inside and not any(_overlap(rect, other) for other in taken):
                taken.append(rect)
                placed = True
                break
            text.remove()
        if not placed:
            left_out += 1
    return left_out


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def save_roofline(report: ProfileReport, path: str, option: str = "--plot") -> None:
    from resnet_cli.render.images import save

    save(roofline_figure(report), path, option)


# ---- the text version ----


def terminal_roofline(report: ProfileReport, width: int):
    """A log-log character chart: the roof ('─' compute, '╱' memory), each row a mark, and the marks' legend."""
    from rich.text import Text

    points = _points(report)
    if not points:
        return Text("(no row has a measured time, FLOPs and bytes to place)")
    points = sorted(points, key=lambda p: -(p[2].median_s or 0))[: len(MARKS)]
    peaks = report.peaks
    x0, x1, y0, y1 = _bounds(report, points)
    columns = max(20, min(width - 12, 64))
    rows = 12
    grid = [[" "] * columns for _ in range(rows)]

    def col(x: float) -> int:
        return min(columns - 1, max(0, round((math.log(x) - math.log(x0)) / math.log(x1 / x0) * (columns - 1))))

    def line(y: float) -> int:
        return min(rows - 1, max(0, rows - 1 - round((math.log(y) - math.log(y0)) / math.log(y1 / y0) * (rows - 1))))

    for c in range(columns):
        x = x0 * (x1 / x0) ** (c / (columns - 1))
        roof = min(peaks.flops_per_s, x * peaks.bytes_per_s)
        if y0 <= roof <= y1:
            grid[line(roof)][c] = "─" if x >= peaks.ridge else "╱"
    legend = []
    for number, (_index, model, row) in enumerate(points):
        mark = MARKS[number]
        r, c = line(row.achieved_flops_per_s), col(row.intensity)
        free = [c + d for d in (0, 1, -1, 2, -2, 3, -3) if 0 <= c + d < columns and grid[r][c + d] in " ─╱"]
        if free:  # two rows in one cell: the later one beside it, so every mark stays visible
            grid[r][free[0]] = mark
        who = f"{model}: " if len(report.models) > 1 else ""
        eff = f"{100 * row.efficiency:.0f} %" if row.efficiency is not None else "—"
        legend.append(f"{mark} {who}{row.name} ({row.bound}-bound, {eff} of the roofline)")
    top = f"{y1 / 1e9:,.3g} GFLOP/s"
    bottom = f"{y0 / 1e9:,.3g}"
    label_width = max(len(top), len(bottom)) + 1
    out = []
    for r, cells in enumerate(grid):
        label = top if r == 0 else bottom if r == rows - 1 else ""
        out.append(label.rjust(label_width) + "│" + "".join(cells))
    out.append(" " * label_width + "└" + "─" * columns)
    left, right = f"{x0:.3g}", f"{x1:.3g} FLOP/byte"
    out.append(" " * (label_width + 1) + left + " " * max(1, columns - len(left) - len(right)) + right)
    return Text("\n".join(out + legend), no_wrap=False)
