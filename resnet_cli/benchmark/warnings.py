"""What a reader of a bench run must be told beside the figures: spread, contention, host-bound GPUs, a
throughput above the roofline, configurations that did not run, an interrupted run. One sentence each."""

from __future__ import annotations

import dataclasses

from resnet_cli.base import signals
from resnet_cli.benchmark.records import HIGH_SPREAD, OTHER_CPU_CONTENDED, RQ_WAIT_CONTENDED, BenchRun

STOPS = {"SIGINT": "interrupted (Ctrl-C)", "SIGTERM": "terminated (SIGTERM)"}


def with_warnings(run: BenchRun) -> BenchRun:
    several = len(run.models) > 1
    notes = []
    for r in run.results:
        tag = f"{r.model} batch {r.batch_size}" if several else f"batch {r.batch_size}"
        if r.status in ("oom", "error", "refused"):
            notes.append(f"{tag}: {r.message}")
            continue
        if r.host is None:
            continue
        if r.host.rel_iqr > HIGH_SPREAD:
            notes.append(
                f"{tag}: high spread, IQR is {100 * r.host.rel_iqr:.0f}% of the median (n={r.host.n}); "
                "treat the figures as approximate and re-run on a quiet machine"
            )
        if (r.rq_wait_frac or 0) > RQ_WAIT_CONTENDED:
            notes.append(
                f"{tag}: other processes competed for the CPU: each of our threads waited for a "
                f"core {100 * r.rq_wait_frac:.0f}% of the measured time on average "
                f"({r.contended_samples} of {r.host.n} "
                "samples delayed)"
            )
        elif (r.other_cpu_frac or 0) > OTHER_CPU_CONTENDED:
            notes.append(
                f"{tag}: other processes used {100 * r.other_cpu_frac:.0f}% of the machine's CPU time "
                "while it was measured; figures may be slow"
            )
        if r.host_bound:
            notes.append(
                f"{tag}: host-bound: launching kernels took {r.enqueue_median_ms:.2f} ms of the "
                f"{r.gpu.median_ms:.2f} ms the GPU spent, so the GPU waited for Python; try --compile "
                "reduce-overhead (CUDA graphs) or a larger batch"
            )
        if r.above_peak:
            notes.append(
                f"{tag}: {r.gflops_per_s:,.1f} GFLOP/s is above the roofline measured in this run "
                f"({r.roofline.gflops_per_s:,.1f} GFLOP/s, {r.roofline.kernel}): the roofline was "
                "measured under contention, so % of peak is unknown for this row"
            )
        spread = r.repeat_spread
        if spread is not None and spread > HIGH_SPREAD:
            notes.append(
                f"{tag}: the median moved {100 * spread:.0f}% between the {len(r.repeat_medians_ms)} "
                "repeats; differences smaller than that are noise on this machine"
            )
    for search in run.max_batch:
        if search.available_bytes is None:
            notes.append(f"{search.model}: --find-max-batch needs the free memory, which is unknown here")
        elif not search.confirmed:
            notes.append(
                f"{search.model}: no batch size fits in {search.usable_bytes / 2**30:.2f} GiB "
                f"(the usable share of {search.source})"
            )
    if run.stopped_by:
        place = signals.stopped_at()  # the one line a stop ends with says where it came
        notes.append(f"{STOPS[run.stopped_by]}{f' while {place}' if place else ''}: showing what was measured before")
    return dataclasses.replace(run, warnings=tuple(notes))
