"""The Python API: what every command does, as functions returning frozen results.

``model`` is anything MODEL accepts on the command line (a registered name, ``custom``, ``file.py:callable``,
``package.module:callable``, a checkpoint path), an ``nn.Module`` instance or a ``ResNetSpec``. Architecture
fields may be given as keywords (``groups=32``, ``block="basic"``). Each function returns a ``Result`` whose
``to_dict()`` is exactly the command's ``--format json`` document, and which renders in Jupyter and in a
terminal as the command prints it. The CLI (``resnet_cli.cli.app``) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resnet_cli.base import values
from resnet_cli.base.errors import UsageError
from resnet_cli.report.stages import DEPTHS
from resnet_cli.spec.fields import ResNetSpec
from resnet_cli.spec.overrides import typed_overrides
from resnet_cli.views.result import Result


class SummaryResult(Result):
    """``summary``: rows (stage/block/layer) with shapes, parameters, FLOPs; totals."""


class FlopsResult(Result):
    """``flops``: totals under every convention, by operator and module, memory, training."""


class CompareResult(Result):
    """``compare``: blocks or models side by side."""


class BenchResult(Result):
    """``bench``: latency, throughput and memory of each configuration (``.report`` is the ``BenchRun``;
    ``.warnings`` what the command prints after the results). The history file (``output=``) is appended to as
    each configuration finishes; ``write_files()`` draws ``plot=`` (``bench`` does it itself unless told
    ``write_files=False``)."""

    __slots__ = ("_plot",)

    def __init__(self, run, document, plot=None, notes: tuple[str, ...] = ()) -> None:
        super().__init__(run, document, notes)
        object.__setattr__(self, "_plot", plot)  # the checked plot path, until drawn

    def write_files(self) -> None:
        """Draw the plot, where asked (once)."""
        plot = self._plot
        object.__setattr__(self, "_plot", None)
        run = self.report
        if plot is None or not any(r.ok for r in run.results):
            return
        from resnet_cli.render.charts import save_bench_plot
        from resnet_cli.views.bench import result_record

        records = [result_record(r, run) for r in run.results]
        save_bench_plot([(m.name, [r for r in records if r["model"] == m.name]) for m in run.models], plot)


class VariantsResult(Result):
    """``list``: every registered variant by family (``.report`` is the list of records, one per variant)."""


class DrawResult(Result):
    """``draw``: the architecture as the papers draw it (``.report`` is the ``Diagram``); ``save(path)`` writes
    the figure to an .svg, .png or .pdf file."""

    def save(self, path: str) -> None:
        from resnet_cli.render.diagram import save_diagram
        from resnet_cli.render.images import check_image_path

        check_image_path(path, "path")
        save_diagram(self.report, path)


def target_for(model=None, input=None, *, weights: str | None = None, stages=None, **overrides):
    """The ``Target`` of anything MODEL accepts, an nn.Module or a ResNetSpec."""
    from resnet_cli.sources import target as targets

    shape = values.parse_input_shape(input) if input is not None else None
    typed = typed_overrides(overrides)
    if isinstance(model, ResNetSpec):
        result = targets.target_of_spec(dataclasses.replace(model, **typed), shape)
    elif model is not None and not isinstance(model, str):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"model must be a name, a path, an nn.Module or a ResNetSpec, not {type(model).__name__}")
        if typed:
            raise UsageError("architecture fields change registered models; an nn.Module's structure is its code")
        result = targets.target_of_module(model, shape)
    else:
        result = targets.resolve_target(model, typed, shape)
    if weights is not None:
        result = dataclasses.replace(result, weights=weights)
    if stages:
        result = dataclasses.replace(result, stages=tuple(stages))
    return result


def build(name_or_spec: Any = "resnet50", *, weights: str | None = None, **overrides):
    """The model as an ``nn.Module`` with real (initialised, or the checkpoint's) weights, on the CPU."""
    from resnet_cli.sources.target import build_real

    target = target_for(name_or_spec, weights=weights, **overrides)
    if target.source == "instance":
        return target.factory
    return build_real(target)


def variants(family: str | None = None) -> VariantsResult:
    """Every registered variant (of ``family``, or all) with its block, blocks per stage, parameters, GFLOPs and
    GMACs at its default input, grouped by family under the reference it is checked against: ``resnet-cli list``.
    Computed in closed form: no torch."""
    from resnet_cli.spec.catalog import catalog, families
    from resnet_cli.spec.registry import FAMILIES
    from resnet_cli.views.list import list_document

    if family is not None:
        family = values.parse_choice(family, "family", tuple(FAMILIES))
    entries = catalog(family)
    return VariantsResult(tuple(entries), list_document(entries, families(family)))


def summary(
    model: Any = "resnet50",
    input=None,
    depth: str = "stage",
    *,
    weights: str | None = None,
    stages=None,
    verify: bool = False,
    **overrides,
) -> SummaryResult:
    """Rows at ``depth`` (stage | block | layer); ``verify`` adds fvcore's count per stage beside ours."""
    depth = values.parse_choice(depth, "depth", DEPTHS)
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    # torch only now: an unknown name or a bad value is refused at once (the line below imports it)
    from resnet_cli.report.rows import summarize
    from resnet_cli.sources.target import analyze
    from resnet_cli.views.summary import summary_document

    target, analyzed, said = _at_its_input(target)
    analyzed = analyzed or analyze(target)
    report = summarize(target, analyzed.model, analyzed.analysis, depth)
    verification = _verify(target, analyzed) if verify else None
    return SummaryResult(report, summary_document(report, verification), _notes(target, analyzed) + said, verification)


def _at_its_input(target):
    """(target, its analysis if already made, the note): without --input, user code is analysed at the input of
    the registered variant it is identified as (``comparison.made_for``), and a note says which input."""
    from resnet_cli.comparison.made_for import at_its_input
    from resnet_cli.sources.target import analyze

    target, analyzed, note = at_its_input(target, analyze)
    return target, analyzed, (note,) if note else ()


def _bench_made_for(request):
    """The request with each target (and the ref a fresh process resolves again) at the input it was made for,
    chosen as summary, flops and compare choose it; the notes that say so."""
    moved, notes = [], []
    for target, ref in zip(request.targets, request.refs, strict=True):
        chosen, said = input_made_for(target)
        notes += [n for n in said if n not in notes]
        if tuple(chosen.input_shape) != tuple(target.input_shape):
            ref = dataclasses.replace(ref, input_shape=tuple(chosen.input_shape))
        moved.append((chosen, ref))
    return (
        dataclasses.replace(request, targets=tuple(t for t, _ in moved), refs=tuple(r for _, r in moved)),
        tuple(notes),
    )


def input_made_for(target):
    """(target, notes): the target moved to the input it was made for where no --input was given (user code
    identified as a registered variant, ``comparison.made_for``), and the note that says so. ``bench`` measures
    at that input; what summary, flops, draw and compare analyse is chosen by the same function."""
    target, _, said = _at_its_input(target)
    return target, said


def _verify(target, analyzed):
    from resnet_cli.report.stages import stage_layout
    from resnet_cli.report.verify import verify

    return verify(target, analyzed.analysis, stage_layout(analyzed.analysis, target.stages))


def _notes(target, *analyzed) -> tuple[str, ...]:
    notes = list(target.notes)
    for one in analyzed:
        notes += [n for n in one.notes if n not in notes]
    return tuple(notes)


def flops(
    model: Any = "resnet50",
    input=None,
    training: bool = False,
    depth: str = "stage",
    dtype: str = "float32",
    *,
    weights: str | None = None,
    stages=None,
    verify: bool = False,
    **overrides,
) -> FlopsResult:
    """Totals under every convention, by operator category and module, memory; ``training`` adds the
    backward; ``verify`` adds fvcore's count per stage beside ours."""
    depth = values.parse_choice(depth, "depth", DEPTHS)
    dtype = values.parse_dtype(dtype, "dtype")
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    # torch only now: an unknown name or a bad value is refused at once
    from resnet_cli.report.flops import flops_report
    from resnet_cli.sources.target import analyze
    from resnet_cli.views.flops import flops_document

    target, forward, said = _at_its_input(target)
    forward = forward or analyze(target)
    # the training step's backward only when its figures are shown; its memory needs the forward alone
    step = analyze(target, training=True, backward=training, model=forward.model)
    report = flops_report(target, forward.model, forward.analysis, step.analysis, depth, dtype, training)
    verification = _verify(target, forward) if verify else None
    return FlopsResult(report, flops_document(report, verification), _notes(target, forward, step) + said, verification)


def draw(
    model: Any = "resnet50", input=None, depth: str = "stage", *, weights: str | None = None, stages=None, **overrides
) -> DrawResult:
    """The architecture as the papers draw it: the stem, each stage's block once with ×N (``depth="block"``:
    every block), its shortcut, the shapes between stages, per stage its parameters, FLOPs and receptive field."""
    from resnet_cli.report.stages import DRAW_DEPTHS

    depth = values.parse_choice(depth, "depth", DRAW_DEPTHS)
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    # torch only now: an unknown name or a bad value is refused at once
    from resnet_cli.report.draw import diagram
    from resnet_cli.sources.target import analyze
    from resnet_cli.views.draw import draw_document

    target, analyzed, said = _at_its_input(target)
    analyzed = analyzed or analyze(target)
    figure = diagram(
        target.name,
        target.description,
        analyzed.analysis,
        depth=depth,
        stages=target.stages,
        identified_as=target.identified_as,
    )
    return DrawResult(figure, draw_document(figure), _notes(target, analyzed) + said)


def compare(
    *models: Any,
    input=None,
    channels: int | None = None,
    size: int | None = None,
    stages=None,
    weights: str | None = None,
    **overrides,
) -> CompareResult:
    """Block kinds layer by layer (``compare("basic", "bottleneck")``), or models aligned operator by operator:
    every difference named and costed, the closest registered variant (one model alone: compared with it).
    ``weights``: a checkpoint for the first model (the weights ``model_compare.export_weights`` ports)."""
    from resnet_cli.comparison import blocks as comparing
    from resnet_cli.comparison.models import compare_models
    from resnet_cli.comparison.rules import check_options
    from resnet_cli.views.compare import models_document
    from resnet_cli.views.compare_blocks import blocks_document

    names = list(models)
    if not all(isinstance(n, str) for n in names):
        raise UsageError("compare takes names, paths or code references (path/to/file.py:callable)")
    given = {
        "input": input is not None,
        "stages": bool(stages),
        "weights": weights is not None,
        "channels": channels is not None,
        "size": size is not None,
    }
    if check_options(list(names), given, tuple(overrides)) == "blocks":
        report = comparing.compare_blocks(
            list(names),
            comparing.DEFAULT_CHANNELS if channels is None else channels,
            comparing.DEFAULT_SIZE if size is None else size,
        )
        return CompareResult(report, blocks_document(report))
    shape = values.parse_input_shape(input) if input is not None else None
    report = compare_models(
        list(names), typed_overrides(overrides), shape, [stages] if isinstance(stages, str) else stages, weights=weights
    )
    notes = tuple(dict.fromkeys(note for model in report.models for note in model.notes))  # each said once
    return CompareResult(report, models_document(report), notes)


class ProfileResult(Result):
    """``profile``: measured time per row against the roofline, by category, reconciled with the whole forward;
    ``save_plot(path)`` draws the roofline with every row to an .svg, .png or .pdf file."""

    def save_plot(self, path: str) -> None:
        from resnet_cli.render.images import check_image_path
        from resnet_cli.render.roofline import save_roofline

        check_image_path(path, "path")
        save_roofline(self.report, path)


def profile(
    *models: Any,
    input=None,
    batch_size: int | None = None,
    device: str = "auto",
    dtype: str = "float32",
    channels_last: bool = False,
    compile: str | None = None,
    training: bool = False,
    depth: str = "stage",
    iterations: int = 10,
    warmup: int = 2,
    threads: int | None = None,
    weights: str | None = None,
    stages=None,
    progress=None,
    **overrides,
) -> ProfileResult:
    """Where the time of a forward (``training``: forward and backward) goes, row by row at ``depth`` (stage |
    block | layer | op): measured with torch.profiler (ranges around every module's call), FLOPs and compulsory
    bytes from the analysis, against a roofline of the matmul peak and the STREAM bandwidth measured in the same
    run. Several models are measured in turn and compared stage by stage. ``progress(event, **details)`` hears
    the run's steps."""
    from resnet_cli.benchmark.peak import FULL_BUDGET_S, RooflineSampler
    from resnet_cli.benchmark.system import capture_environment, resolve_device
    from resnet_cli.profiling.measure import Settings, no_progress
    from resnet_cli.profiling.run import Subject, run_profile
    from resnet_cli.report.profile import PROFILE_DEPTHS
    from resnet_cli.sources.target import analyze, build_real
    from resnet_cli.views.profile import profile_document

    depth = values.parse_choice(depth, "depth", PROFILE_DEPTHS)
    dtype = values.parse_dtype(dtype, "dtype")
    device = values.parse_device(device, "device")
    if compile is not None:
        compile = values.parse_choice(compile, "compile", values.COMPILE_MODES)
    iterations = values.parse_int(str(iterations), "iterations", 1, 10_000)
    warmup = values.parse_int(str(warmup), "warmup", 0, 10_000)
    if batch_size is not None:
        batch_size = values.parse_int(str(batch_size), "batch_size", 1, values.MAX_BATCH)
    if threads is not None:
        threads = values.parse_int(str(threads), "threads", 1, values.MAX_THREADS)
    if weights is not None and len(models) > 1:
        raise UsageError("weights= loads one checkpoint into one model; give one model (or a checkpoint as model)")
    subjects, seen = [], set()
    for model in models or (None,):
        target = target_for(model, input, weights=weights, stages=stages, **overrides)
        if batch_size is not None:
            target = dataclasses.replace(target, input_shape=(batch_size, *target.input_shape[1:]))
        if target.name in seen:
            raise UsageError(f"model {target.name} is given twice; each model is profiled once")
        seen.add(target.name)
        analyzed = analyze(target, training=training)
        owned = target.source != "instance"
        subjects.append(
            Subject(
                target.name,
                target.description,
                analyzed.analysis,
                (lambda t=target: build_real(t)) if owned else (lambda t=target: t.factory),
                owned,
                target.stages,
                _notes(target, analyzed),
            )
        )
    resolved = resolve_device(device)
    import torch

    count = threads or torch.get_num_threads()
    settings = Settings(resolved, dtype, channels_last, compile, training, iterations, warmup, count)
    budget = min(FULL_BUDGET_S, 0.3 * iterations)  # a quick run spends little on the matmul peak
    # on the CPU a fixed matmul size (bench grows its own until one product takes 50 ms, which on a busy machine
    # stops at 256³ and measures the scheduler: 0.6 GFLOP/s seen on this project's shared VM); a quick run (fewer
    # than 5 iterations) halves it: an eighth of the time
    cpu_size = PROFILE_CPU_GEMM[dtype] // (2 if iterations < 5 else 1)
    gemm = RooflineSampler(resolved, dtype, count, channels_last, min_time_s=budget, cpu_gemm_size=cpu_size)
    flags = {
        "mode": "training" if training else "inference",
        "dtype": dtype,
        "channels_last": channels_last,
        "compile": compile,
        "iterations": iterations,
        "warmup": warmup,
        "depth": depth,
    }
    env = capture_environment(resolved, count, flags)
    report = run_profile(
        subjects,
        settings,
        gemm,
        depth,
        device_name=env.get("device_name", ""),
        env=env,
        progress=progress or no_progress,
    )
    notes = tuple(dict.fromkeys(n for s in subjects for n in s.notes))
    return ProfileResult(report, profile_document(report), notes)


#: profile's CPU matmul, best of its samples: a peak contention can lower only if it hits every sample (16-bit
#: types are slow without native kernels: half the size)
PROFILE_CPU_GEMM = {"float32": 2048, "float16": 1024, "bfloat16": 1024}


def bench(
    *models: Any,
    input=None,
    batch_sizes=None,
    device: str = "auto",
    dtype: str = "float32",
    channels_last: bool = False,
    compile: str | None = None,
    training: bool = False,
    optimizer: str | None = None,
    find_max_batch: bool = False,
    threads: int | None = None,
    warmup: float = 1.0,
    min_time: float = 3.0,
    repeats: int = 1,
    isolate: bool = False,
    devices: int = 1,
    weights: str | None = None,
    output: str | None = None,
    plot: str | None = None,
    progress=None,
    write_files: bool = True,
    **overrides,
) -> BenchResult:
    """Latency, throughput and memory of each model (default resnet50) at each batch size, inference or training
    steps, against a roofline measured in the same run: ``resnet-cli bench``. ``batch_sizes`` as ``"1,8"`` or a
    sequence; ``output=`` a history file (.jsonl, .csv) checked before anything is measured and appended to after;
    ``plot=`` a figure (.svg, .png, .pdf); ``progress(event, **details)`` is called between iterations. Ctrl-C
    returns what was measured so far (``.stopped_by``). Raises RuntimeFailure when nothing could be measured."""
    from resnet_cli.base.errors import RuntimeFailure
    from resnet_cli.benchmark.request import bench_request, check_combinations, check_weights

    names = list(models)
    if not all(isinstance(m, str) for m in names):
        raise UsageError("bench takes names, paths or code references (path/to/file.py:callable)")
    if batch_sizes is not None:
        text = ",".join(str(b) for b in batch_sizes) if isinstance(batch_sizes, (list, tuple)) else batch_sizes
        batch_sizes = values.parse_batch_sizes(text, "batch_sizes")
    device = values.parse_device(device, "device")
    dtype = values.parse_dtype(dtype, "dtype")
    if compile is not None:
        compile = values.parse_choice(compile, "compile", values.COMPILE_MODES)
    if optimizer is not None:
        optimizer = values.parse_choice(optimizer, "optimizer", values.OPTIMIZERS)
    check_combinations(names, batch_sizes, training, optimizer, find_max_batch, isolate, devices, weights)
    history = plot_path = None
    if output is not None:
        from resnet_cli.render.history import check_output
        from resnet_cli.views.bench import CSV_COLUMNS

        history = check_output(output, [c.key for c in CSV_COLUMNS])
    if plot is not None:
        from resnet_cli.render.images import check_image_path

        check_image_path(plot, "--plot")
        plot_path = plot
    check_weights(names, weights)
    shape = values.parse_input_shape(input) if input is not None else None
    request = bench_request(
        names,
        typed_overrides(overrides),
        shape,
        weights,
        batch_sizes=batch_sizes,
        device=device,
        dtype=dtype,
        channels_last=channels_last,
        compile_mode=compile,
        training=training,
        optimizer=optimizer,
        find_max_batch=find_max_batch,
        threads=threads,
        warmup_s=warmup,
        min_time_s=min_time,
        repeats=repeats,
        isolate=isolate,
        devices=devices,
    )
    notes: tuple[str, ...] = ()
    if shape is None:  # user code identified as a registered variant: measured at the input it was made for
        request, notes = _bench_made_for(request)
    from resnet_cli.base import signals
    from resnet_cli.benchmark import bench as core
    from resnet_cli.views.bench import bench_document

    saved: set = set()  # (model, batch size) already appended to the history

    def save(part) -> None:
        # each finished configuration is appended at once, whole, a signal held meanwhile (base.signals)
        fresh = [r for r in part.results if r.ok and (r.model, r.batch_size) not in saved]
        if history is not None and fresh:
            from resnet_cli.render.history import append
            from resnet_cli.views.bench import CSV_COLUMNS, flat_records

            with signals.saving():
                append(history, flat_records(dataclasses.replace(part, results=tuple(fresh))), CSV_COLUMNS, part.env)
        saved.update((r.model, r.batch_size) for r in fresh)

    def heard(event: str, **details) -> None:
        if event == "finished":
            save(details["run"])
        if progress is not None:
            progress(event, **details)

    # the number of configurations × repeats, now that the defaults are known
    heard("start", steps=len(request.targets) * (1 if find_max_batch else len(request.batch_sizes)) * repeats)
    run = core.run_bench(request, progress=heard)
    # what --isolate and --devices measured, and the configuration a stop cut short (marked interrupted)
    with signals.saving():
        save(run)
    if not any(r.ok for r in run.results) and not run.interrupted:
        raise RuntimeFailure("nothing could be measured: " + "; ".join(run.warnings or ("no configuration ran",)))
    result = BenchResult(run, bench_document(run), plot_path, notes)
    if write_files:
        result.write_files()
    return result
