"""``bench --training --devices N``: the training step under ``torch.distributed`` (DDP), launched by torchrun.

The parent measures the same step on one device (the ordinary in-process run: the baseline of the scaling
efficiency), then starts ``torchrun --standalone --nproc-per-node N -m resnet_cli.benchmark.distributed DIR``.
Each rank resolves MODEL again, wraps a fresh model in ``DistributedDataParallel`` and runs the ordinary
timing loop; after every warm-up step and sample the ranks agree (an all-reduce of "done", outside the timed
region) so that all of them run the same number of steps. Rank 0 writes every rank's samples to DIR.
Backend: NCCL on CUDA (one GPU per rank), gloo on the CPU (which is how the launcher is tested).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile

from resnet_cli.base.errors import RuntimeFailure, Terminated, UsageError
from resnet_cli.benchmark.loop import Progress, no_progress
from resnet_cli.benchmark.records import BenchRequest, BenchRun, DistributedResult
from resnet_cli.benchmark.warnings import STOPS


def torchrun_command(devices: int, directory: str) -> list[str]:
    """The launch: torchrun (``python -m torch.distributed.run``) with a local rendezvous on a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(devices),
        "-m",
        "resnet_cli.benchmark.distributed",
        directory,
    ]


def check_devices(request: BenchRequest) -> str:
    """The backend for ``request``; one line (exit 1) when the machine has fewer devices than asked for."""
    import torch

    if request.device_type != "cuda":
        return "gloo"
    count = torch.cuda.device_count()
    if count < request.devices:
        raise RuntimeFailure(
            f"--devices {request.devices}: this machine has {count} CUDA device"
            f"{'s' if count != 1 else ''}; a distributed run needs {request.devices}"
        )
    return "nccl"


def run_distributed(request: BenchRequest, *, progress: Progress = no_progress) -> BenchRun:
    from resnet_cli.benchmark.measure import measure_in_process

    backend = check_devices(request)
    if len(request.refs) != 1:
        raise UsageError(f"--devices {request.devices} measures one model given by name or path")
    single = measure_in_process(dataclasses.replace(request, devices=1), progress=progress)  # the one-device baseline
    if single.stopped_by:
        return single
    progress(
        "distributed",
        model=single.models[0].name if single.models else "",
        batch_size=0,
        repeat=0,
        what=f"DDP over {request.devices} processes ({backend})",
    )
    ranks, stopped = launch(request, single.models[0])
    baseline = {r.batch_size: r.host.median_ms for r in single.results if r.ok}
    results = tuple(
        DistributedResult(
            world_size=request.devices,
            backend=backend,
            batch_per_device=batch,
            rank_medians_ms=tuple(statistics.median(samples) for samples in per_rank),
            rank_samples=tuple(len(samples) for samples in per_rank),
            single_median_ms=baseline.get(batch),
        )
        for batch, per_rank in ranks
    )
    warnings = single.warnings + ((f"{STOPS[stopped]}: the distributed run was stopped",) if stopped else ())
    return dataclasses.replace(single, distributed=results, stopped_by=stopped, warnings=warnings)


def launch(request: BenchRequest, info):
    """Run the ranks; ([(batch, [samples of each rank])], what stopped them or None)."""
    with tempfile.TemporaryDirectory(prefix="resnet-cli-ddp-") as directory:
        with open(os.path.join(directory, "request.pkl"), "wb") as handle:
            pickle.dump((dataclasses.replace(request, targets=()), info), handle)
        log = open(os.path.join(directory, "torchrun.log"), "w+", encoding="utf-8")
        process = subprocess.Popen(
            torchrun_command(request.devices, directory), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        stopped = None
        try:
            code = process.wait()
        except KeyboardInterrupt as stop:  # torchrun passes SIGTERM on to its workers
            stopped = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
            process.send_signal(signal.SIGTERM)
            code = process.wait()
        answer = os.path.join(directory, "result.pkl")
        if stopped:
            return [], stopped
        if code != 0 or not os.path.exists(answer):
            log.seek(0)
            raise RuntimeFailure(
                f"the distributed run (torchrun, {request.devices} processes) failed: {_reason(log.read())}"
            )
        log.close()
        with open(answer, "rb") as handle:
            return pickle.load(handle), None


def _reason(text: str) -> str:
    """The line of torchrun's log that says what went wrong (a worker's exception, else the last line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or line.startswith(("RuntimeError", "resnet-cli")):
            return line
    return lines[-1] if lines else "no message"


# ---- one rank (run by torchrun) ----


def rank_main(directory: str) -> int:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from resnet_cli.benchmark.loop import Samples, timing_loop
    from resnet_cli.benchmark.measure import Prepared, setup
    from resnet_cli.benchmark.system import free, threads
    from resnet_cli.sources.target import resolve_target

    with open(os.path.join(directory, "request.pkl"), "rb") as handle:
        request, info = pickle.load(handle)
    rank, local, world = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    cuda = request.device_type == "cuda"
    device = f"cuda:{local}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(local)
        torch.backends.cudnn.benchmark = True
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        ref = request.refs[0]
        target = resolve_target(ref.text, dict(ref.overrides), ref.input_shape, weights=ref.weights)
        request = dataclasses.replace(request, targets=(target,), device=device, devices=1)

        def agree(done: bool) -> bool:
            flag = torch.tensor([1 if done else 0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            return bool(flag.item())

        def wrap(module):
            return DistributedDataParallel(module, device_ids=[local] if cuda else None)

        collected = []
        with threads(request.threads):
            # what setup needs, without analysing the model again in every rank
            model = Prepared(target, None, None, info)
            for batch in request.batch_sizes:
                step, _held = setup(model, batch, request, wrap=wrap)
                samples = Samples()
                timing_loop(step, request, samples, agree=agree)
                gathered = [None] * world
                dist.all_gather_object(gathered, samples.host_ms)
                collected.append((batch, gathered))
                del step
                free(request.device_type)
        if rank == 0:
            with open(os.path.join(directory, "result.pkl.part"), "wb") as handle:
                pickle.dump(collected, handle)
            os.replace(os.path.join(directory, "result.pkl.part"), os.path.join(directory, "result.pkl"))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1]))
