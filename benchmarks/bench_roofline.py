"""Is bench's CPU roofline an upper bound? (issue 13, requirement 4)

Runs ``resnet_cli.benchmark.bench.run_bench`` on the CPU ``--rounds`` times in one process and prints, per
configuration:
the model's GFLOP/s, the roofline (the best of the float32 matmul and the model's costliest convolutions, each
timed alone before and after the model's runs), which kernel set it, the % of it (or "unknown" where the model
beat it), and what the old GEMM-only roofline would have printed. The goal: never above 100 %.

    .venv/bin/python benchmarks/bench_roofline.py [--model resnet50] [--batch 1,8] [--rounds 3] [--min-time 3]
"""

from __future__ import annotations

import argparse

import torch

from resnet_cli.base.values import parse_batch_sizes
from resnet_cli.benchmark.bench import run_bench
from resnet_cli.benchmark.records import BenchRequest
from resnet_cli.benchmark.system import cpu_model, load_average
from resnet_cli.sources.target import resolve_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    request = BenchRequest(
        targets=(resolve_target(args.model),),
        device="cpu",
        batch_sizes=parse_batch_sizes(args.batch),
        threads=args.threads,
        warmup_s=1.0,
        min_time_s=args.min_time,
    )
    print(f"{args.model}, {args.threads} threads, torch {torch.__version__}, cpu {cpu_model()}")
    above = unknown = total = 0
    for round_index in range(1, args.rounds + 1):
        run = run_bench(request)
        print(
            f"round {round_index} (load average {load_average():.2f}): matmul {run.gemm.gflops_per_s:.1f} GFLOP/s "
            f"({run.gemm.kernel})"
        )
        for r in run.results:
            total += 1
            gemm_only = 100 * r.gflops_per_s / run.gemm.gflops_per_s
            pct = "unknown" if r.pct_of_peak is None else f"{r.pct_of_peak:.1f}%"
            unknown += r.pct_of_peak is None
            above += r.pct_of_peak is not None and r.pct_of_peak > 100
            print(
                f"  batch {r.batch_size}: {r.gflops_per_s:.1f} GFLOP/s (median {r.host.median_ms:.2f} ms, IQR "
                f"{100 * r.host.rel_iqr:.1f}%, run-queue wait {100 * (r.rq_wait_frac or 0):.1f}%) | roofline "
                f"{r.roofline.gflops_per_s:.1f} GFLOP/s from {r.roofline.kernel} -> {pct} | GEMM only: "
                f"{gemm_only:.1f}%"
            )
    print(f"{total} figures: {above} above 100 % (goal 0), {unknown} shown as unknown")


if __name__ == "__main__":
    main()
