"""What `resnet-cli bench` costs beyond what it measures (issue 18, requirement 8): the wall time of the whole
command ÷ the time spent in its warm-up and timing loops, for 1, 2 and 4 configurations, at most 1.5× for
inference and 2× for training on a 2-core machine.

The loops' time is read from the command's own JSON: for each configuration, the first call (untimed warm-up:
oneDNN primitive creation) + ``warmup_s`` + ``measure_s``. Everything else is overhead: starting Python, importing
torch, resolving and analysing each model, building it, the roofline's kernels, writing the results. Each case
is a separate process; the cases alternate over ``--rounds`` rounds (at least 5) and the median is reported, with
the load average at the start and the end (the machine is shared: the figures mean little when the load is well
above the number of cores).

    python benchmarks/bench_overhead.py                      # this checkout (PYTHONPATH=.)
    python benchmarks/bench_overhead.py --baseline ../main   # also another checkout, in the same rounds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["--min-time", "2", "--threads", "2", "-f", "json"]  # --min-time 2: the case; --warmup 1 (default)
CASES = {  # name: (configurations, goal, arguments)
    "inference, 1 configuration": (1, 1.5, ["resnet18", "-b", "1"]),
    "inference, 2 configurations": (2, 1.5, ["resnet18", "resnet50", "-b", "1"]),
    "inference, 4 configurations": (4, 1.5, ["resnet18", "resnet50", "-b", "1,8"]),
    "training, 1 configuration": (1, 2.0, ["resnet18", "--training", "-b", "2"]),
    "training, 2 configurations": (2, 2.0, ["resnet18", "resnet50", "--training", "-b", "2"]),
    "training, 4 configurations": (4, 2.0, ["resnet18", "resnet50", "--training", "-b", "2,4"]),
}


def run_once(arguments: list[str], source: Path) -> tuple[float, float, float]:
    """(wall seconds, seconds in warm-up and timing loops, load average at the end) of one bench process."""
    env = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "120"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "resnet_cli", "bench", *arguments, *COMMON],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench {' '.join(arguments)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    document = json.loads(done.stdout)
    loops = sum(
        (r.get("first_call_ms") or 0.0) / 1e3 + (r.get("warmup_s") or 0.0) + (r.get("measure_s") or 0.0)
        for r in document["results"]
    )
    return wall, loops, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured in the same rounds")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    args = parser.parse_args()
    sources = {"": ROOT} | ({"baseline: ": args.baseline.resolve()} if args.baseline else {})
    cases = [
        (label + name, spec, source)
        for name, spec in CASES.items()
        if args.only in name
        for label, source in sources.items()
    ]
    samples: dict[str, list] = {name: [] for name, _, _ in cases}
    load_start = os.getloadavg()
    for _ in range(max(5, args.rounds)):
        for name, (_, _, arguments), source in cases:
            samples[name].append(run_once(arguments, source))
            wall, loops, load = samples[name][-1]
            print(
                f"  {name}: {wall:.1f} s, loops {loops:.1f} s, ratio {wall / loops:.2f} (load {load:.1f})",
                file=sys.stderr,
            )
    load_end = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
        f"end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}; {os.cpu_count()} CPUs; "
        f"{max(5, args.rounds)} rounds; bench {' '.join(COMMON)}"
    )
    print("| case | arguments | wall (median) | in the loops (median) | overhead ratio (median) | goal |")
    print("|---|---|---:|---:|---:|---|")
    for name, (_, goal, arguments), _ in cases:
        ratios = [wall / loops for wall, loops, _ in samples[name]]
        ratio = statistics.median(ratios)
        verdict = "" if name.startswith("baseline") else f"≤ {goal}: {'met' if ratio <= goal else 'NOT met'}"
        print(
            f"| {name} | `{' '.join(arguments)}` | {statistics.median(w for w, _, _ in samples[name]):.1f} s | "
            f"{statistics.median(lo for _, lo, _ in samples[name]):.1f} s | {ratio:.2f} "
            f"({min(ratios):.2f}–{max(ratios):.2f}) | {verdict} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"load_start": load_start, "load_end": load_end, "samples": samples}))


if __name__ == "__main__":
    main()
