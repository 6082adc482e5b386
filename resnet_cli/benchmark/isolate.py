"""``bench --isolate``: every configuration measured in a fresh Python process.

A long-lived process carries state from one configuration to the next — the caching allocator's
fragmentation, compiled graphs, cuDNN's autotuning cache, warm caches (timm issue #955: a model measured
differently alone and at the end of a list). Here each configuration (model × batch size × repeat) is one
``python -m resnet_cli.benchmark.isolate`` child, which resolves MODEL again, runs the ordinary in-process
measurement on that one configuration and hands its records back through a pickle file (parent and child
are the same program). Ctrl-C reaches the child too; SIGTERM is passed on to it; either way the finished
configurations and the child's partial samples are kept.
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

from resnet_cli.base.errors import ResnetCliError, Terminated, UsageError
from resnet_cli.benchmark.loop import Progress, no_progress
from resnet_cli.benchmark.records import BenchRequest, BenchRun, ConfigResult
from resnet_cli.benchmark.stats import sample_stats
from resnet_cli.benchmark.warnings import with_warnings


def _child_request(request: BenchRequest, model: int, batch) -> BenchRequest:
    return dataclasses.replace(
        request,
        targets=(),
        refs=(request.refs[model],),
        batch_sizes=request.batch_sizes if batch is None else (batch,),
        repeats=1,
        isolate=False,
    )


def run_isolated(request: BenchRequest, *, progress: Progress = no_progress) -> BenchRun:
    if len(request.refs) != len(request.targets):
        raise UsageError("--isolate needs each MODEL as a name or a path that a fresh process can resolve again")
    batches = [None] if request.find_max_batch else list(request.batch_sizes)
    order = [(model, batch) for batch in batches for model in range(len(request.refs))]
    collected: dict[tuple, list[ConfigResult]] = {}
    models, env, gemm, searches, stopped = {}, {}, None, [], None
    try:
        for repeat in range(request.repeats):
            for model, batch in order:
                name = request.targets[model].name
                progress(
                    "isolate",
                    model=name,
                    batch_size=batch or 0,
                    repeat=repeat,
                    what=f"fresh process{f', repeat {repeat + 1}' if request.repeats > 1 else ''}",
                )
                child = _run_child(_child_request(request, model, batch))
                if child.get("failure"):
                    key = (name, batch)
                    collected.setdefault(key, []).append(ConfigResult(name, batch or 0, "error", child["failure"]))
                    continue
                models.update({m.name: m for m in child["models"]})
                env = env or child["env"]
                if child["gemm"] is not None and (gemm is None or child["gemm"].gflops_per_s > gemm.gflops_per_s):
                    gemm = child["gemm"]
                if repeat == 0:
                    searches += list(child["max_batch"])
                for result in child["results"]:
                    key = (result.model, None if batch is None else result.batch_size)
                    collected.setdefault(key, []).append(result)
                stopped = child["stopped_by"]
                if stopped:
                    break
            if stopped:
                break
    except KeyboardInterrupt as stop:  # between two children: what they measured is kept
        stopped = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
    results = tuple(merge(parts) for parts in collected.values())
    run = BenchRun(
        request=request,
        models=tuple(models[t.name] for t in request.targets if t.name in models),
        env=env,
        gemm=gemm,
        results=results,
        stopped_by=stopped,
        max_batch=tuple(searches),
    )
    return with_warnings(run)


def _run_child(request: BenchRequest) -> dict:
    with tempfile.TemporaryDirectory(prefix="resnet-cli-isolate-") as directory:
        asked, answer = os.path.join(directory, "request.pkl"), os.path.join(directory, "result.pkl")
        with open(asked, "wb") as handle:
            pickle.dump(request, handle)
        child = subprocess.Popen(
            [sys.executable, "-m", "resnet_cli.benchmark.isolate", asked, answer],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stopped = None
        try:
            printed, errors = child.communicate()
        except KeyboardInterrupt as stop:  # Ctrl-C reached the child too; SIGTERM only us: pass it on
            stopped = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
            if stopped == "SIGTERM":
                child.send_signal(signal.SIGTERM)
            printed, errors = child.communicate()
        if printed:  # what the user's model printed: for people, never among the results
            sys.stderr.write(printed)
        if not os.path.exists(answer):
            if stopped:
                return {"models": (), "env": {}, "gemm": None, "results": (), "max_batch": (), "stopped_by": stopped}
            lines = [line for line in (errors or "").splitlines() if line.strip()]
            return {
                "failure": f"the isolated process exited {child.returncode}: "
                f"{lines[-1].strip() if lines else 'no message'}"
            }
        with open(answer, "rb") as handle:
            result = pickle.load(handle)
        if errors:
            sys.stderr.write(errors)
    if "error" in result:
        kind, message = result["error"]
        if kind == "usage":
            raise UsageError(message)
        return {"failure": message}  # e.g. this configuration cannot fit: its row says so, the others run
    if stopped and not result["stopped_by"]:
        result["stopped_by"] = stopped
    return result


def merge(parts: list[ConfigResult]) -> ConfigResult:
    """One configuration's repeats (each from its own process) as one result: samples pooled, one median
    per repeat, the best roofline any of them measured."""
    measured = [p for p in parts if p.host is not None]
    if len(parts) == 1 or not measured:
        return dataclasses.replace(parts[0], repeat_medians_ms=tuple(p.host.median_ms for p in measured))
    first = measured[0]
    samples = tuple(s for p in measured for s in p.samples_ms)
    gpu = tuple(s for p in measured for s in p.gpu_samples_ms)
    rooflines = [p.roofline for p in measured if p.roofline is not None]
    memory = [p.measured_bytes for p in measured if p.measured_bytes is not None]
    total_s = sum(p.measure_s or 0.0 for p in measured)
    waits = [(p.rq_wait_frac, p.measure_s or 0.0) for p in measured if p.rq_wait_frac is not None]
    status = next((p.status for p in parts if p.status != "ok"), "ok")
    return dataclasses.replace(
        first,
        status=status,
        message=next((p.message for p in parts if p.message), ""),
        host=sample_stats(samples),
        gpu=sample_stats(gpu),
        samples_ms=samples,
        gpu_samples_ms=gpu,
        enqueue_median_ms=statistics.median([p.enqueue_median_ms for p in measured])
        if all(p.enqueue_median_ms is not None for p in measured)
        else None,
        repeat_medians_ms=tuple(p.host.median_ms for p in measured),
        measure_s=total_s,
        measured_bytes=max(memory) if memory else None,
        roofline=max(rooflines, key=lambda r: r.gflops_per_s) if rooflines else None,
        rq_wait_frac=sum(w * s for w, s in waits) / total_s if waits and total_s else None,
        contended_samples=sum(p.contended_samples for p in measured),
        other_cpu_frac=max((p.other_cpu_frac for p in measured if p.other_cpu_frac is not None), default=None),
    )


def child_main(asked: str, answer: str) -> int:
    """The fresh process: resolve MODEL again, measure the one configuration, write the records."""
    signal.signal(signal.SIGTERM, _terminate)
    with open(asked, "rb") as handle:
        request: BenchRequest = pickle.load(handle)
    try:
        from resnet_cli.benchmark.measure import measure_in_process
        from resnet_cli.sources.target import resolve_target

        targets = tuple(
            resolve_target(r.text, dict(r.overrides), r.input_shape, weights=r.weights) for r in request.refs
        )
        run = measure_in_process(dataclasses.replace(request, targets=targets))
        result = {
            "models": run.models,
            "env": run.env,
            "gemm": run.gemm,
            "results": run.results,
            "max_batch": run.max_batch,
            "stopped_by": run.stopped_by,
        }
    except ResnetCliError as error:
        result = {"error": ("usage" if isinstance(error, UsageError) else "runtime", error.for_command_line())}
    with open(answer + ".part", "wb") as handle:
        pickle.dump(result, handle)
    os.replace(answer + ".part", answer)  # the parent never reads half a file
    return 0


def _terminate(signum, frame):
    raise Terminated()


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1], sys.argv[2]))
