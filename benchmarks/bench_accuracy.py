"""Does `resnet-cli bench` measure what an independent tool measures? (issue 5, requirement 7)

In one process, alternately: bench's own measurement (``resnet_cli.benchmark.bench.run_bench``: first call, time-based
warm-up, per-iteration perf_counter samples) and ``torch.utils.benchmark.Timer(...).blocked_autorange`` with
``num_threads`` set to the same thread count (its default is 1), on the same model at the same input. It
prints each round's medians, their ratio, and the spread (IQR / median) of both, so that the ratio can be
judged against the noise. Alternating rounds spread the machine's drift over both methods.

    .venv/bin/python benchmarks/bench_accuracy.py [--model resnet50] [--batch 1] [--rounds 3] [--min-time 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.utils.benchmark as torch_benchmark

from resnet_cli.benchmark import bench
from resnet_cli.benchmark.records import BenchRequest
from resnet_cli.benchmark.system import cpu_model, load_average
from resnet_cli.sources.target import build_real, resolve_target


def timer_measurement(target, batch: int, threads: int, min_time: float):
    model = build_real(target, "cpu").eval()
    x = torch.randn(batch, *target.input_shape[1:], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        model(x)  # explicit warm-up: Timer's own estimate call is one forward only (oneDNN primitive creation)
        timer = torch_benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads)
        for _ in range(3):
            model(x)
        measurement = timer.blocked_autorange(min_run_time=min_time)
    return measurement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    target = resolve_target(args.model)
    request = BenchRequest(
        targets=(target,),
        device="cpu",
        batch_sizes=(args.batch,),
        threads=args.threads,
        warmup_s=1.0,
        min_time_s=args.min_time,
    )
    print(
        f"{args.model} batch {args.batch}, {args.threads} threads, torch {torch.__version__}, "
        f"cpu {cpu_model()}, load average {load_average()}"
    )
    ratios = []
    for round_index in range(1, args.rounds + 1):
        run = bench.run_bench(request)
        ours = run.results[0]
        theirs = timer_measurement(target, args.batch, args.threads, args.min_time)
        timer_median = theirs.median * 1e3
        timer_rel_iqr = theirs.iqr / theirs.median
        ratio = ours.host.median_ms / timer_median
        ratios.append(ratio)
        print(
            f"round {round_index}: bench median {ours.host.median_ms:.2f} ms (IQR {100 * ours.host.rel_iqr:.1f}% "
            f"of median, n={ours.host.n}, run-queue wait {100 * (ours.rq_wait_frac or 0):.1f}%) | "
            f"torch.utils.benchmark median {timer_median:.2f} ms (IQR {100 * timer_rel_iqr:.1f}%, "
            f"n={len(theirs.times)}) | ratio bench/Timer {ratio:.3f}"
        )
        pct = "unknown (above the roofline)" if ours.pct_of_peak is None else f"{ours.pct_of_peak:.1f}%"
        print(
            f"         roofline {ours.roofline.gflops_per_s:.1f} GFLOP/s ({ours.roofline.kernel}); bench "
            f"{ours.gflops_per_s:.1f} GFLOP/s = {pct} of it; warnings: {list(run.warnings) or 'none'}"
        )
    print(
        f"median ratio over {args.rounds} rounds: {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
