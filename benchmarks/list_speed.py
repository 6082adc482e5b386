"""How fast is `resnet-cli list`, cold, against `python -c "import torch"`?

The goal (issue 10): with the registry about twice as large, the first `resnet-cli list` (on a cold cache: the
command used to analyse every variant and cache the table under ~/.cache/resnet-cli) stays within 2× the time
of `import torch`, measured in the same run. `list` now computes its figures in closed form from the specs
(resnet_cli/closed_form.py) and imports no torch at all; every run here is a fresh process with a fresh, empty
XDG_CACHE_HOME and HOME, so nothing can be reused between runs.

Every measurement is a separate process (wall time), repeated and reported as a median; the figures that matter
are the ratios to `import torch` in the same run, because the machine is shared and noisy. ``--analysis`` also
times what `list` used to do: one analysis per registered variant (the figures it would print, computed by the
analysis core instead of the closed form), in one fresh interpreter.

    python benchmarks/list_speed.py                   # about half a minute
    python benchmarks/list_speed.py --analysis        # also the per-variant analysis, once
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = str(Path(sys.executable).parent / "resnet-cli")

ANALYSIS_CODE = """
from resnet_cli.spec.registry import VARIANTS
from resnet_cli.report.rows import totals
from resnet_cli.sources.target import analyze_target, resolve_target
print(sum(totals(analyze_target(resolve_target(name))[1]).params for name in VARIANTS))
"""


def measure(command: list[str]) -> tuple[float, str, int]:
    """(wall seconds, stdout, return code) of one process, with an empty cache directory and home of its own."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(home, "cache"), "HOME": home, "COLUMNS": "200"}
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(f"{command[:3]}... exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}\n")
    return wall, done.stdout, done.returncode


def median_of(command: list[str], repeats: int) -> dict:
    runs = [measure(command) for _ in range(repeats)]
    return {
        "wall_s": round(statistics.median(r[0] for r in runs), 3),
        "wall_runs_s": [round(r[0], 3) for r in runs],
        "stdout": runs[-1][1],
        "ok": all(r[2] == 0 for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--analysis", action="store_true", help="also time one analysis per variant (once)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict = {"python": sys.version.split()[0], "repeats": args.repeats}
    baseline = median_of([sys.executable, "-c", "import torch"], args.repeats)
    results["import_torch"] = {k: v for k, v in baseline.items() if k != "stdout"}
    print(f"python -c 'import torch': median {baseline['wall_s']:.3f} s {baseline['wall_runs_s']}")
    for label, command in (("list (table)", [CLI, "list"]), ("list --format json", [CLI, "list", "-f", "json"])):
        run = median_of(command, args.repeats)
        ratio = round(run["wall_s"] / baseline["wall_s"], 3)
        results[label] = {**{k: v for k, v in run.items() if k != "stdout"}, "ratio_to_import_torch": ratio}
        if "json" in label and run["ok"]:
            results["variants"] = len(json.loads(run["stdout"])["models"])
        print(f"resnet-cli {label}: median {run['wall_s']:.3f} s {run['wall_runs_s']} = {ratio}x import torch")
    print(f"variants listed: {results.get('variants')}")
    if args.analysis:
        run = median_of([sys.executable, "-c", ANALYSIS_CODE], 1)
        ratio = round(run["wall_s"] / baseline["wall_s"], 2)
        results["analysis_per_variant"] = {"wall_s": run["wall_s"], "ratio_to_import_torch": ratio, "ok": run["ok"]}
        print(f"one analysis per variant (what list did before): {run['wall_s']:.2f} s = {ratio}x import torch")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
