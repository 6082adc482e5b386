"""``resnet-cli bench``: one entry, ``run_bench``, that measures in this process, in a fresh process per
configuration (``--isolate``) or over several processes (``--devices``)."""

from __future__ import annotations

from resnet_cli.benchmark.loop import Progress, no_progress
from resnet_cli.benchmark.records import BenchRequest, BenchRun


def run_bench(request: BenchRequest, *, progress: Progress = no_progress) -> BenchRun:
    """Measure every configuration of ``request``; Ctrl-C or SIGTERM return what was measured so far.

    Raises RuntimeFailure when no configuration can fit in memory (before allocating anything)."""
    if request.isolate:
        from resnet_cli.benchmark.isolate import run_isolated

        return run_isolated(request, progress=progress)
    if request.devices > 1:
        from resnet_cli.benchmark.distributed import run_distributed

        return run_distributed(request, progress=progress)
    from resnet_cli.benchmark.measure import measure_in_process

    return measure_in_process(request, progress=progress)
