"""How fast and how lean is `resnet-cli flops` at large inputs, against `import torch` and other counters
(and how cheap `resnet-cli --help` is).

The goal (issue 3): `resnet-cli flops resnet152 --input 64x3x224x224` and
`resnet-cli flops resnet50 --input 8x3x1024x1024` each finish within about twice the time of
`python -c "import torch"` on the same machine in the same run, with peak RSS under 1 GB, and still
report fvcore's exact total.

Every measurement is a separate process (wall time and its own peak RSS from wait4), repeated and
reported as a median; the figures that matter are the ratios to `import torch` measured in the same run,
because the machine is shared and noisy.

    python benchmarks/flops_speed.py                 # resnet-cli and import torch only (about a minute)
    python benchmarks/flops_speed.py --competitors   # also fvcore, FlopCounterMode, torchinfo (minutes)

torchinfo is not a dependency of resnet-cli: `pip install torchinfo` to include it.
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

CASES = [("resnet152", (64, 3, 224, 224)), ("resnet50", (8, 3, 1024, 1024))]
CLI = str(Path(sys.executable).parent / "resnet-cli")

# Each competitor runs one analysis of the real model in a fresh interpreter, as its users call it.
COMPETITOR_CODE = {
    "fvcore (no_grad)": """
import torch, warnings, logging; warnings.simplefilter('ignore'); logging.disable(logging.WARNING)
from fvcore.nn import FlopCountAnalysis
from resnet_cli.nn.model import build_model; from resnet_cli.spec.registry import VARIANTS
m = build_model(VARIANTS[{name!r}].spec).eval(); x = torch.randn({shape})
with torch.no_grad():
    a = FlopCountAnalysis(m, (x,)); a.unsupported_ops_warnings(False); print(a.total())
""",
    "FlopCounterMode (no_grad)": """
import torch
from torch.utils.flop_counter import FlopCounterMode
from resnet_cli.nn.model import build_model; from resnet_cli.spec.registry import VARIANTS
m = build_model(VARIANTS[{name!r}].spec).eval(); x = torch.randn({shape})
with torch.no_grad(), FlopCounterMode(display=False) as c:
    m(x)
print(c.get_total_flops() // 2)
""",
    "torchinfo": """
import torch
from torchinfo import summary
from resnet_cli.nn.model import build_model; from resnet_cli.spec.registry import VARIANTS
m = build_model(VARIANTS[{name!r}].spec).eval()
s = summary(m, input_size={shape}, verbose=0, device='cpu')
print(s.total_mult_adds)
""",
}


def measure(command: list[str]) -> tuple[float, float, str, int]:
    """(wall seconds, peak RSS MiB, stdout, return code) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = "", ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(f"{command[:3]}... exited {code}: {stderr.strip().splitlines()[-1:]}\n")
    return wall, usage.ru_maxrss / 1024, stdout, code


def median_of(command: list[str], repeats: int) -> dict:
    runs = [measure(command) for _ in range(repeats)]
    return {
        "wall_s": statistics.median(r[0] for r in runs),
        "wall_runs_s": [round(r[0], 3) for r in runs],
        "peak_rss_mib": max(r[1] for r in runs),
        "stdout": runs[-1][2],
        "ok": all(r[3] == 0 for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--competitors", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict = {"python": sys.version.split()[0], "repeats": args.repeats, "cases": []}
    baseline = median_of([sys.executable, "-c", "import torch"], args.repeats)
    results["import_torch"] = {k: v for k, v in baseline.items() if k != "stdout"}
    print(
        f"python -c 'import torch': median {baseline['wall_s']:.2f} s {baseline['wall_runs_s']}, "
        f"peak RSS {baseline['peak_rss_mib']:.0f} MiB"
    )
    # issue 2: `resnet-cli --help` must not import torch, so it costs a small fraction of that
    help_run = median_of([CLI, "--help"], args.repeats)
    results["help"] = {k: v for k, v in help_run.items() if k != "stdout"}
    results["help"]["ratio_to_import_torch"] = round(help_run["wall_s"] / baseline["wall_s"], 3)
    print(
        f"resnet-cli --help: median {help_run['wall_s']:.3f} s = {results['help']['ratio_to_import_torch']}x "
        f"import torch, peak RSS {help_run['peak_rss_mib']:.0f} MiB"
    )

    for name, shape in CASES:
        text = "x".join(map(str, shape))
        ours = median_of([CLI, "flops", name, "--input", text, "--format", "json"], args.repeats)
        total = json.loads(ours["stdout"])["total"]["flops"] if ours["ok"] else None
        case = {
            "model": name,
            "input": text,
            "fvcore_total_reported": total,
            "resnet-cli": {k: v for k, v in ours.items() if k != "stdout"},
        }
        case["resnet-cli"]["ratio_to_import_torch"] = round(ours["wall_s"] / baseline["wall_s"], 2)
        print(
            f"resnet-cli flops {name} --input {text}: median {ours['wall_s']:.2f} s {ours['wall_runs_s']} "
            f"= {case['resnet-cli']['ratio_to_import_torch']}x import torch, peak RSS "
            f"{ours['peak_rss_mib']:.0f} MiB, fvcore total {total:,}"
        )
        if args.competitors:
            for tool, code in COMPETITOR_CODE.items():
                if tool == "torchinfo":
                    try:
                        import torchinfo  # noqa: F401
                    except ImportError:
                        print(f"  {tool}: not installed (pip install torchinfo)")
                        continue
                run = median_of([sys.executable, "-c", code.format(name=name, shape=shape)], 1)
                reported = run["stdout"].strip().splitlines()[-1] if run["ok"] and run["stdout"].strip() else None
                case[tool] = {
                    "wall_s": round(run["wall_s"], 2),
                    "peak_rss_mib": round(run["peak_rss_mib"]),
                    "ratio_to_import_torch": round(run["wall_s"] / baseline["wall_s"], 2),
                    "reported_total": reported,
                    "ok": run["ok"],
                }
                print(
                    f"  {tool}: {run['wall_s']:.1f} s = {case[tool]['ratio_to_import_torch']}x import torch, "
                    f"peak RSS {run['peak_rss_mib']:.0f} MiB, reported {reported}"
                )
        results["cases"].append(case)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
