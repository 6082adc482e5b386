"""Regenerate the figures README.md and docs/draw.md show: `python docs/images/make.py` from the repository root.

Each figure is what a command writes (shown beside it); they are built through the same functions here so the
script prints nothing else.
"""

from pathlib import Path

from resnet_cli.render.charts import save_stage_chart, stage_chart
from resnet_cli.comparison.blocks import compare_blocks
from resnet_cli.report.draw import diagram
from resnet_cli.render.diagram import save_blocks, save_diagram
from resnet_cli.report.rows import build_rows
from resnet_cli.sources.target import analyze_target, resolve_target

HERE = Path(__file__).resolve().parent


def main() -> None:
    target = resolve_target("resnet50")
    _, analysis = analyze_target(target)
    # resnet-cli draw resnet50 -o docs/images/resnet50.png
    save_diagram(diagram(target.name, target.description, analysis), str(HERE / "resnet50.png"))
    # resnet-cli compare basic bottleneck --draw docs/images/basic_vs_bottleneck.png
    save_blocks(compare_blocks(["basic", "bottleneck"]), str(HERE / "basic_vs_bottleneck.png"))
    # resnet-cli summary resnet50 --chart docs/images/resnet50_stages.png
    save_stage_chart([stage_chart(target.name, build_rows(analysis))], str(HERE / "resnet50_stages.png"))
    for name in ("resnet50.png", "basic_vs_bottleneck.png", "resnet50_stages.png"):
        print(HERE / name)


if __name__ == "__main__":
    main()
