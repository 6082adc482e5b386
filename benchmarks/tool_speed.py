"""The tool's own time (issue 18, requirement 8): `resnet-cli summary resnet50` within 1.2× and
`resnet-cli flops resnet152 --input 64x3x224x224` within 1.3× of `python -c "import torch"`, in one run.

Each figure is a separate process. The cases alternate (one run of each per round, ``--rounds`` rounds, at least
5), so that a burst of load from other processes hits every case alike; the ratio reported is the median over
rounds of (the case's wall time ÷ the wall time of `import torch` in the same round), beside the ratio of the
medians. CPU time (user + system of the process, from ``wait4``) is reported too: on a shared machine it moves
less than wall time. The load average is printed at the start and the end: the figures mean little when it is
well above the number of cores.

    python benchmarks/tool_speed.py                      # this checkout (PYTHONPATH=.)
    python benchmarks/tool_speed.py --baseline ../main   # also a second checkout, in the same rounds
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
CASES = {
    "import torch": ["-c", "import torch"],
    "summary resnet50": ["-m", "resnet_cli", "summary", "resnet50"],
    "flops resnet152 --input 64x3x224x224": ["-m", "resnet_cli", "flops", "resnet152", "--input", "64x3x224x224"],
}
GOALS = {"summary resnet50": 1.2, "flops resnet152 --input 64x3x224x224": 1.3}


def run_once(arguments: list[str], source: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process running ``python ARGUMENTS`` with ``source`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "120"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *arguments], cwd=source, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(arguments)} failed ({process.returncode}): {error.strip()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured in the same rounds")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    sources = {"": ROOT}
    if args.baseline:
        sources["baseline: "] = args.baseline.resolve()
    names = [
        (label + name, arguments, source)
        for label, source in sources.items()
        for name, arguments in CASES.items()
        if not (label and name == "import torch")
    ]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in names}
    load_start = os.getloadavg()
    run_once(CASES["summary resnet50"], ROOT)  # compile bytecode, fill the page cache: not counted
    for _ in range(rounds):
        for name, arguments, source in names:
            samples[name].append(run_once(arguments, source))
            print(f"  {name}: {samples[name][-1][0]:.2f} s", file=sys.stderr)
    load_end = os.getloadavg()

    torch_wall = [w for w, _ in samples["import torch"]]
    torch_cpu = [c for _, c in samples["import torch"]]
    print(
        f"load average (1, 5, 15 min): start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}, "
        f"end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}; {os.cpu_count()} CPUs; {rounds} rounds"
    )
    print(
        "| case | wall median | ratio (median of per-round ratios) | ratio of medians | CPU median | CPU ratio | goal |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, _, _ in names:
        wall = [w for w, _ in samples[name]]
        cpu = [c for _, c in samples[name]]
        paired = statistics.median(w / t for w, t in zip(wall, torch_wall, strict=True))
        goal = GOALS.get(name.removeprefix("baseline: "))
        verdict = (
            ""
            if goal is None or name.startswith("baseline")
            else (f"≤ {goal}: {'met' if paired <= goal else 'NOT met'}")
        )
        print(
            f"| {name} | {statistics.median(wall):.2f} s | {paired:.2f} | "
            f"{statistics.median(wall) / statistics.median(torch_wall):.2f} | {statistics.median(cpu):.2f} s | "
            f"{statistics.median(cpu) / statistics.median(torch_cpu):.2f} | {verdict} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"load_start": load_start, "load_end": load_end, "samples": samples}, indent=1))


if __name__ == "__main__":
    main()
