"""Charts: where a model's parameters, compute and activations sit, stage by stage; and bench curves.

* ``stage_chart`` turns report rows into a ``StageChart`` (plain numbers); ``terminal_chart`` draws one or
  more of them as rich bars, ``save_stage_chart`` as an svg/png/pdf with matplotlib (``summary --chart``,
  ``compare A B --chart``).
* ``save_bench_plot`` draws bench results — latency (median, p10–p90 band) and throughput against batch
  size, one line per model or configuration, and latency against FLOPs when several models are given. It
  takes plain records (the dicts of bench's JSON ``results``), so it does not depend on bench itself.

Every bar is a share of its own model's total, as the percentages of ``summary`` are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from resnet_cli.base.values import shown
from resnet_cli.render import emit as render

FLOAT32_BYTES = 4
MEASURES = (  # (attribute, heading): the three bars of every stage
    ("params", "params"),
    ("flops", "FLOPs (fvcore)"),
    ("activation_bytes", "activations (float32)"),
)
ACTIVATIONS_MEANING = (
    "activations: bytes of the new tensors the stage's forward writes at float32 (views and "
    "in-place results excluded) — what a training step keeps, roughly"
)
_EIGHTHS = " ▏▎▍▌▋▊▉"
_COLOURS = ("#3b6ea8", "#e08a2e", "#4e9a4e", "#b04a7a", "#7a5cb0", "#8c6d31")


@dataclass(frozen=True)
class StageShare:
    name: str
    params: int
    flops: int
    activation_bytes: int


@dataclass(frozen=True)
class StageChart:
    model: str
    stages: tuple[StageShare, ...]

    def total(self, measure: str) -> int:
        return sum(getattr(stage, measure) for stage in self.stages)

    def share(self, stage: StageShare, measure: str) -> float:
        return render.percent(getattr(stage, measure), self.total(measure))


def stage_chart(model: str, rows) -> StageChart:
    """The chart data of report rows (``resnet_cli.report.rows.Row``, or anything with name, params, flops and
    activation_elements)."""
    return StageChart(
        model, tuple(StageShare(r.name, r.params, r.flops, r.activation_elements * FLOAT32_BYTES) for r in rows)
    )


def _amount(value: int, measure: str) -> str:
    return render.human_bytes(value) if measure == "activation_bytes" else render.human(value)


# ---- terminal ----


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` cells filled to ``fraction`` (eighths of a cell)."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(width)


def terminal_chart(charts: Sequence[StageChart], width: int):
    """Rich bars of each stage's share of parameters, FLOPs and activations, fitted to ``width`` columns."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    width = max(width, 40)
    several = len(charts) > 1
    name_width = max(
        len(shown(n, None)) for n in [stage.name for chart in charts for stage in chart.stages] + ["total"]
    )
    model_width = max(len(shown(c.model, None)) for c in charts) if several else 0
    columns = 3 + (2 if several else 1)
    # cells are three columns apart: padding 1 on each side and the (blank) divider of SIMPLE_HEAD
    per_column = (width - name_width - (model_width if several else 0) - 3 * (columns - 1)) // 3
    show_amount = per_column >= 26
    text_width = 6 + (11 if show_amount else 0)
    bar_width = max(3, min(30, per_column - text_width - 1))
    cell_width = bar_width + 1 + text_width
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
    table.add_column("stage", no_wrap=True, min_width=name_width)
    if several:
        table.add_column("model", no_wrap=True, min_width=model_width)
    for _, heading in MEASURES:
        short = heading if len(heading) <= cell_width else heading.split(" ")[0]
        table.add_column(short, no_wrap=True, min_width=cell_width, max_width=cell_width)
    count = max(len(c.stages) for c in charts)
    for index in range(count):
        for number, chart in enumerate(charts):
            if index >= len(chart.stages):
                continue
            stage = chart.stages[index]
            # names are Text, escaped: a user's module named "[red]" or holding ESC is shown as it is
            cells = [Text(shown(stage.name, None)) if number == 0 or stage.name != charts[0].stages[index].name else ""]
            if several:
                cells.append(Text(shown(chart.model, None)))
            for measure, _ in MEASURES:
                share = chart.share(stage, measure)
                text = f"{share:5.1f}%" + (f" {_amount(getattr(stage, measure), measure):>10}" if show_amount else "")
                cells.append(Text(bar(share / 100, bar_width), style=f"color({(number % 6) + 1})") + Text(" " + text))
            table.add_row(*cells, end_section=several and number == len(charts) - 1)
    for number, chart in enumerate(charts):
        cells = ["total" if number == 0 else ""] + ([Text(shown(chart.model, None))] if several else [])
        cells += [_amount(chart.total(m), m).rjust(cell_width) for m, _ in MEASURES]
        table.add_row(*cells, style="bold")
    title = "Share of each stage in the total of " + ", ".join(c.model for c in charts)
    return Group(Text(shown(title, None)), table, Text(ACTIVATIONS_MEANING))


# ---- the --chart option: a file, or the terminal when given alone ----

TERMINAL = "-"  # the value of --chart given without a file


def chart_flag_argv(argv: list[str], option: str = "--chart") -> list[str]:
    """``--chart`` followed by nothing, another option or something that is not a file name (a MODEL)
    means the terminal: it becomes ``--chart=-`` before the command line is parsed."""
    import os

    out = list(argv)
    for index, token in enumerate(out):
        if token != option:
            continue
        following = out[index + 1] if index + 1 < len(out) else None
        is_file = (
            following is not None
            and following != TERMINAL
            and not following.startswith("-")
            and ":" not in following
            and os.path.splitext(following)[1] != ""
        )
        if following != TERMINAL and not is_file:
            out[index] = f"{option}={TERMINAL}"
    return out


def show_chart(chart: str, data: Sequence[StageChart], emit_document, heading: str | None = None) -> None:
    """``--chart``: the bars in the terminal instead of the document (``TERMINAL``), under ``heading``; or the
    document, and the chart written to the file ``chart``."""
    if chart == TERMINAL:
        from rich.text import Text

        console = render.stdout_console()
        if heading:
            console.print(Text(shown(heading, None), style="bold"))
        console.print(terminal_chart(data, console.width))
        return
    save_stage_chart(data, chart)  # the file first: a closed stdout cannot take it away
    render.wrote(chart)
    emit_document()


def check_chart_target(chart: str | None, fmt: str, option: str = "--chart") -> None:
    """Fail before any work: a bad file name, or a terminal chart asked with a machine format."""
    from resnet_cli.base.errors import UsageError
    from resnet_cli.render.images import check_image_path

    if chart is None:
        return
    if chart == TERMINAL:
        if fmt != "table":
            raise UsageError(
                f"{option} without a file draws bars in the terminal, which --format {fmt} does not "
                f"mix with; give {option} FILE.svg|png|pdf to write the chart beside the {fmt} output"
            )
        return
    check_image_path(chart, option)


# ---- files ----


def chart_figure(charts: Sequence[StageChart]):
    """A panel per measure (parameters, FLOPs, activations) with a group of bars per stage, one colour per
    model; each bar labelled with its share of its model's total. One model: the panels side by side;
    several: one above the other."""
    from resnet_cli.render.images import pyplot

    plt = pyplot()
    count = max(len(c.stages) for c in charts)
    labels = []
    for index in range(count):
        names = []
        for chart in charts:
            if index < len(chart.stages) and chart.stages[index].name not in names:
                names.append(chart.stages[index].name)
        labels.append("\n".join(names))
    several = len(charts) > 1
    if several:
        width = max(8.0, 0.32 * count * len(charts) + 2.0)
        figure, axes = plt.subplots(3, 1, figsize=(width, 9.5), constrained_layout=True)
    else:
        figure, axes = plt.subplots(1, 3, figsize=(max(11.0, 3 * (0.55 * count + 1.0)), 4.4), constrained_layout=True)
    slot = 0.8 / len(charts)
    for panel, (measure, heading) in zip(axes, MEASURES):
        largest = max((getattr(stage, measure) for chart in charts for stage in chart.stages), default=0)
        scale, unit = _unit(largest, measure)
        for number, chart in enumerate(charts):
            xs = [i - 0.4 + slot * (number + 0.5) for i in range(len(chart.stages))]
            values = [getattr(stage, measure) / scale for stage in chart.stages]
            bars = panel.bar(xs, values, width=slot * 0.92, color=_COLOURS[number % len(_COLOURS)], label=chart.model)
            if len(charts) <= 3:
                panel.bar_label(
                    bars,
                    labels=[f"{chart.share(s, measure):.0f}%" for s in chart.stages],
                    fontsize=8 if several else 8.5,
                    padding=2,
                )
        panel.set_title("parameters" if measure == "params" else heading, fontsize=11)
        panel.set_ylabel(unit, fontsize=9)
        panel.set_xticks(range(count), labels, fontsize=8.5)
        panel.tick_params(axis="y", labelsize=8)
        panel.spines[["top", "right"]].set_visible(False)
        panel.margins(y=0.14)
    if several:
        axes[0].legend(fontsize=8.5, frameon=False, ncols=min(len(charts), 4), loc="upper left")
    names = [c.model for c in charts]
    who = names[0] + " holds" if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]} hold"
    from resnet_cli.render.images import text_width

    title = f"Where {who} parameters, compute and activations"
    size = 12.0
    while text_width(title, size) > figure.get_figwidth() - 0.4 and size > 7:
        size -= 0.5
    figure.suptitle(title + "\n(labels: share of each model's own total)", fontsize=size)
    return figure


def _unit(largest: int, measure: str) -> tuple[float, str]:
    """(divisor, axis label) that puts ``largest`` between 1 and 1000 of the unit."""
    if measure == "activation_bytes":
        steps = ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"))
        fallback = "bytes"
    else:
        noun = "parameters" if measure == "params" else "FLOPs"
        steps = ((1e9, f"billions of {noun}"), (1e6, f"millions of {noun}"), (1e3, f"thousands of {noun}"))
        fallback = noun
    for divisor, label in steps:
        if largest >= divisor:
            return divisor, label
    return 1.0, fallback


def save_stage_chart(charts: Sequence[StageChart], path: str, option: str = "--chart") -> None:
    from resnet_cli.render.images import save

    save(chart_figure(charts), path, option)


# ---- bench ----


def bench_figure(series: Sequence[tuple[str, Sequence[Mapping]]]):
    """Latency and throughput against batch size, and latency against FLOPs when several models are given.

    ``series``: (label, records) per model or configuration; each record is a dict of bench's JSON
    ``results``: ``batch_size``, ``median_ms``, ``p10_ms``, ``p90_ms``, ``throughput`` and, for the FLOPs
    panel, ``flops_per_batch``. Records without a ``median_ms`` (refused or failed batch sizes) are skipped.
    """
    from resnet_cli.base.errors import UsageError
    from resnet_cli.render.images import pyplot

    measured = [
        (label, sorted((r for r in records if r.get("median_ms") is not None), key=lambda r: r["batch_size"]))
        for label, records in series
    ]
    measured = [(label, records) for label, records in measured if records]
    if not measured:
        raise UsageError("nothing to plot: no batch size was measured")
    with_flops = [(label, records) for label, records in measured if all(r.get("flops_per_batch") for r in records)]
    panels = 3 if len(with_flops) > 1 else 2
    plt = pyplot()
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), constrained_layout=True)
    batches = sorted({r["batch_size"] for _, records in measured for r in records})
    for number, (label, records) in enumerate(measured):
        colour = _COLOURS[number % len(_COLOURS)]
        xs = [r["batch_size"] for r in records]
        axes[0].plot(xs, [r["median_ms"] for r in records], "o-", color=colour, label=label, markersize=4)
        low = [r.get("p10_ms", r["median_ms"]) for r in records]
        high = [r.get("p90_ms", r["median_ms"]) for r in records]
        axes[0].fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)
        axes[1].plot(xs, [r.get("throughput") for r in records], "o-", color=colour, label=label, markersize=4)
    for panel, title, unit in (
        (axes[0], "latency: median, p10–p90 band", "ms per batch"),
        (axes[1], "throughput", "images / s"),
    ):
        panel.set_title(title, fontsize=11)
        panel.set_xlabel("batch size", fontsize=9)
        panel.set_ylabel(unit, fontsize=9)
        if len(batches) > 1:
            panel.set_xscale("log", base=2)
        panel.set_xticks(batches, [str(b) for b in batches])
        panel.grid(alpha=0.3)
    if panels == 3:
        for number, (label, records) in enumerate(with_flops):
            axes[2].scatter(
                [r["flops_per_batch"] for r in records],
                [r["median_ms"] for r in records],
                color=_COLOURS[number % len(_COLOURS)],
                label=label,
                s=22,
            )
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
        axes[2].set_title("latency against FLOPs (one point per batch size)", fontsize=11)
        axes[2].set_xlabel("FLOPs per batch (2 per multiply-accumulate)", fontsize=9)
        axes[2].set_ylabel("median ms per batch", fontsize=9)
        axes[2].grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8.5, frameon=False)
    return figure


def save_bench_plot(series: Sequence[tuple[str, Sequence[Mapping]]], path: str, option: str = "--plot") -> None:
    """Write ``bench_figure(series)`` to ``path`` (.svg, .png or .pdf)."""
    from resnet_cli.render.images import save

    save(bench_figure(series), path, option)
    render.wrote(path)
