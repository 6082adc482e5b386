"""The GPU goals of issue 13, measured with the CLI exactly as a user runs it (one process per command).

    .venv/bin/python benchmarks/bench_gpu_goals.py [--model resnet50] [--out results.jsonl]

Goals (H100, bfloat16 autocast, channels-last): batch-1 latency under 1.5 ms, and batch 256 at or above 30 % of
the bfloat16 GEMM peak bench measures in the same run. Also run: the training sweep of several backbones with
measured against predicted memory, --find-max-batch, and --devices N when the machine has N ≥ 2 GPUs.
Each command's JSON document is appended to --out; the script prints one line per figure and whether each goal
was met. It needs CUDA; on a machine without it, it says so and exits 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

LATENCY_GOAL_MS = 1.5
PEAK_GOAL = 0.30


def run(args: list[str], out: str | None) -> dict:
    command = [shutil.which("resnet-cli") or "resnet-cli", "bench", *args, "--format", "json"]
    print("$", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
        return {}
    doc = json.loads(done.stdout)
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"command": command[1:], "document": doc}) + "\n")
    return doc


def show(doc: dict) -> None:
    gemm = (doc.get("gemm_peak") or {}).get("gflops_per_s")
    for r in doc.get("results", []):
        if r["median_ms"] is None:
            print(f"  {r['model']} batch {r['batch_size']}: {r['status']} {r['message']}")
            continue
        of_gemm = f"{100 * r['gflops_per_s'] / gemm:.1f}% of the GEMM peak" if gemm else "no GEMM peak"
        memory = (
            f"memory {r['measured_bytes'] / 2**30:.2f} GiB vs predicted {r['predicted_bytes'] / 2**30:.2f} GiB "
            f"(ratio {r['memory_ratio']})"
            if r["measured_bytes"]
            else "memory unknown"
        )
        print(
            f"  {r['model']} batch {r['batch_size']}: median {r['median_ms']:.3f} ms, GPU {r['gpu_median_ms']} ms, "
            f"{r['throughput']:,.0f} img/s, {r['gflops_per_s'] / 1e3:,.1f} TFLOP/s = {of_gemm}, "
            f"host-bound {r['host_bound']}, compile {r['compile_s']} s; {memory}"
        )
    for d in doc.get("distributed") or []:
        print(
            f"  DDP x{d['world_size']} ({d['backend']}) batch {d['batch_per_device']}/device: per device "
            f"{d['per_device_throughput']} img/s, aggregate {d['aggregate_throughput']:,.0f} img/s, one device "
            f"{d['single_device_throughput']} img/s, scaling efficiency {d['scaling_efficiency']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: the GPU goals cannot be measured here")
        return 1
    fast = ["--device", "cuda", "--dtype", "bfloat16", "--channels-last"]
    goals = []
    for mode in ("reduce-overhead", "max-autotune"):
        doc = run([args.model, *fast, "-b", "1,256", "--compile", mode], args.out)
        show(doc)
        rows = {r["batch_size"]: r for r in doc.get("results", []) if r["median_ms"] is not None}
        gemm = (doc.get("gemm_peak") or {}).get("gflops_per_s")
        if 1 in rows:
            goals.append(
                (
                    f"batch 1 < {LATENCY_GOAL_MS} ms ({mode})",
                    rows[1]["median_ms"] < LATENCY_GOAL_MS,
                    f"{rows[1]['median_ms']:.3f} ms",
                )
            )
        if 256 in rows and gemm:
            share = rows[256]["gflops_per_s"] / gemm
            goals.append(
                (
                    f"batch 256 >= {PEAK_GOAL:.0%} of the bf16 GEMM peak ({mode})",
                    share >= PEAK_GOAL,
                    f"{share:.1%}, {rows[256]['throughput']:,.0f} img/s",
                )
            )
    show(
        run(["resnet18", "resnet34", "resnet50", "resnext50_32x4d", *fast, "--training", "-b", "32,128,256"], args.out)
    )
    show(run([args.model, *fast, "--training", "--find-max-batch"], args.out))
    devices = torch.cuda.device_count()
    if devices >= 2:
        show(run([args.model, *fast, "--training", "-b", "128", "--devices", str(devices)], args.out))
    print("\ngoals:")
    for name, met, figure in goals:
        print(f"  {'met    ' if met else 'NOT met'}  {name}: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
