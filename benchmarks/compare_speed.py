"""How fast is `resnet-cli compare` on models, against `import torch` in the same run.

The goal (issue 9: "keep it fast"): comparing a hand-written ResNet-50 with the reference — two analyses,
the structural alignment, the named differences and the search for the closest variant (several
candidates built and analysed on the meta device when the model is not exactly a variant) — finishes
within about twice the time of `python -c "import torch"`. Also timed: a model compared alone (identified),
and two deep registered models (resnet152 against resnet101: 50 blocks against 33).

Every measurement is a separate process, repeated, reported as a median; the figure that matters is the
ratio to `import torch` measured in the same run, because the machine is shared and noisy.

    python benchmarks/compare_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "resnet-cli")
CASES = {
    "hand-written ResNet-50 with a mistake vs resnet50": [
        "compare",
        "resnet50",
        "tests/fixtures/tutorial_mistakes.py:no_relu_after_add",
        "-f",
        "json",
    ],
    "Keras-style ResNet-50 alone (identified)": [
        "compare",
        "tests/fixtures/renamed_resnets.py:KerasStyleResNet50",
        "-f",
        "json",
    ],
    "resnet152 vs resnet101": ["compare", "resnet152", "resnet101", "-f", "json"],
}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    baseline = statistics.median(_wall([sys.executable, "-c", "import torch"]) for _ in range(repeats))
    print(f"| | wall (median of {repeats}) | ratio to `import torch` |")
    print("|---|---:|---:|")
    print(f'| `python -c "import torch"` | {baseline:.2f} s | 1 |', flush=True)
    for label, arguments in CASES.items():
        wall = statistics.median(_wall([CLI, *arguments]) for _ in range(repeats))
        print(f"| {label} | {wall:.2f} s | **{wall / baseline:.2f}** |", flush=True)


if __name__ == "__main__":
    main()
