"""The Python API: what every command does, as functions returning frozen results.

``model`` is anything MODEL accepts on the command line (a registered name, ``custom``, ``file.py:callable``,
``package.module:callable``, a checkpoint path), an ``nn.Module`` instance or a ``ResNetSpec``. Architecture
fields may be given as keywords (``groups=32``, ``block="basic"``). Each function returns a ``Result`` whose
``to_dict()`` is exactly the command's ``--format json`` document, and which renders in Jupyter and in a
terminal as the command prints it. The CLI (``resnet_cli.cli.app``) is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from resnet_cli.base import values
from resnet_cli.base.errors import UsageError
from resnet_cli.views.result import Result
from resnet_cli.report.stages import DEPTHS
from resnet_cli.spec.fields import ResNetSpec
from resnet_cli.spec.overrides import typed_overrides


class SummaryResult(Result):
    """``summary``: rows (stage/block/layer) with shapes, parameters, FLOPs; totals."""


class FlopsResult(Result):
    """``flops``: totals under every convention, by operator and module, memory, training."""


class CompareResult(Result):
    """``compare``: blocks or models side by side."""


class BenchResult(Result):
    """``bench``: latency, throughput and memory of each configuration (``.report`` is the ``BenchRun``;
    ``.warnings`` what the command prints after the results). ``write_files()`` appends to ``output=`` and draws
    ``plot=`` (``bench`` does it itself unless told ``write_files=False``)."""

    __slots__ = ("_files",)

    def __init__(self, run, document, files=(None, None)) -> None:
        super().__init__(run, document)
        object.__setattr__(self, "_files", files)  # (checked history file, plot path), until written

    def write_files(self) -> None:
        """Append the measured configurations to the history and draw the plot, where asked (once)."""
        history, plot = self._files
        object.__setattr__(self, "_files", (None, None))
        run = self.report
        if not any(r.ok for r in run.results):
            return
        if history is not None:
            from resnet_cli.render.history import append
            from resnet_cli.views.bench import CSV_COLUMNS, flat_records

            append(history, flat_records(run, only_measured=True), CSV_COLUMNS, run.env)
        if plot is not None:
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


def summary(model: Any = "resnet50", input=None, depth: str = "stage", *, weights: str | None = None,
            stages=None, verify: bool = False, **overrides) -> SummaryResult:
    """Rows at ``depth`` (stage | block | layer); ``verify`` adds fvcore's count per stage beside ours."""
    from resnet_cli.views.summary import summary_document
    from resnet_cli.report.rows import summarize
    from resnet_cli.sources.target import analyze

    depth = values.parse_choice(depth, "depth", DEPTHS)
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    analyzed = analyze(target)
    report = summarize(target, analyzed.model, analyzed.analysis, depth)
    verification = _verify(target, analyzed) if verify else None
    return SummaryResult(report, summary_document(report, verification), _notes(target, analyzed), verification)


def _verify(target, analyzed):
    from resnet_cli.report.stages import stage_layout
    from resnet_cli.report.verify import verify

    return verify(target, analyzed.analysis, stage_layout(analyzed.analysis, target.stages))


def _notes(target, *analyzed) -> tuple[str, ...]:
    notes = list(target.notes)
    for one in analyzed:
        notes += [n for n in one.notes if n not in notes]
    return tuple(notes)


def flops(model: Any = "resnet50", input=None, training: bool = False, depth: str = "stage",
          dtype: str = "float32", *, weights: str | None = None, stages=None, verify: bool = False,
          **overrides) -> FlopsResult:
    """Totals under every convention, by operator category and module, memory; ``training`` adds the
    backward; ``verify`` adds fvcore's count per stage beside ours."""
    from resnet_cli.report.flops import flops_report
    from resnet_cli.views.flops import flops_document
    from resnet_cli.sources.target import analyze

    depth = values.parse_choice(depth, "depth", DEPTHS)
    dtype = values.parse_dtype(dtype, "dtype")
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    forward = analyze(target)
    # the training step's backward only when its figures are shown; its memory needs the forward alone
    step = analyze(target, training=True, backward=training, model=forward.model)
    report = flops_report(target, forward.model, forward.analysis, step.analysis, depth, dtype, training)
    verification = _verify(target, forward) if verify else None
    return FlopsResult(report, flops_document(report, verification), _notes(target, forward, step), verification)


def draw(model: Any = "resnet50", input=None, depth: str = "stage", *, weights: str | None = None, stages=None,
         **overrides) -> DrawResult:
    """The architecture as the papers draw it: the stem, each stage's block once with ×N (``depth="block"``:
    every block), its shortcut, the shapes between stages, per stage its parameters, FLOPs and receptive field."""
    from resnet_cli.report.draw import diagram
    from resnet_cli.report.stages import DRAW_DEPTHS
    from resnet_cli.sources.target import analyze
    from resnet_cli.views.draw import draw_document

    depth = values.parse_choice(depth, "depth", DRAW_DEPTHS)
    target = target_for(model, input, weights=weights, stages=stages, **overrides)
    analyzed = analyze(target)
    figure = diagram(target.name, target.description, analyzed.analysis, depth=depth, stages=target.stages,
                     identified_as=target.identified_as)
    return DrawResult(figure, draw_document(figure), _notes(target, analyzed))


def compare(*models: Any, input=None, channels: int | None = None, size: int | None = None, stages=None,
            weights: str | None = None, **overrides) -> CompareResult:
    """Block kinds layer by layer (``compare("basic", "bottleneck")``), or models aligned operator by operator:
    every difference named and costed, the closest registered variant (one model alone: compared with it).
    ``weights``: a checkpoint for the first model (the weights ``model_compare.export_weights`` ports)."""
    from resnet_cli.comparison import blocks as comparing
    from resnet_cli.views.compare import models_document
    from resnet_cli.views.compare_blocks import blocks_document
    from resnet_cli.comparison.models import compare_models

    names = [m if isinstance(m, str) else m for m in models]
    if not all(isinstance(n, str) for n in names):
        raise UsageError("compare takes names, paths or code references (path/to/file.py:callable)")
    if comparing.classify(list(names)) == "blocks":
        model_only = [f"{k}=" for k in overrides] + (["input="] if input is not None else []) + \
            (["stages="] if stages else []) + (["weights="] if weights is not None else [])
        if model_only:
            raise UsageError(f"{', '.join(model_only)} apply to model comparisons; blocks take channels= and size=")
        report = comparing.compare_blocks(list(names), comparing.DEFAULT_CHANNELS if channels is None else channels,
                                          comparing.DEFAULT_SIZE if size is None else size)
        return CompareResult(report, blocks_document(report))
    if channels is not None or size is not None:
        raise UsageError("channels= and size= apply to block comparisons; models take input=NxCxHxW")
    shape = values.parse_input_shape(input) if input is not None else None
    report = compare_models(list(names), typed_overrides(overrides), shape,
                            [stages] if isinstance(stages, str) else stages, weights=weights)
    notes = tuple(dict.fromkeys(note for model in report.models for note in model.notes))  # each said once
    return CompareResult(report, models_document(report), notes)


def bench(*models: Any, input=None, batch_sizes=None, device: str = "auto", dtype: str = "float32",
          channels_last: bool = False, compile: str | None = None, training: bool = False,
          optimizer: str | None = None, find_max_batch: bool = False, threads: int | None = None,
          warmup: float = 1.0, min_time: float = 3.0, repeats: int = 1, isolate: bool = False, devices: int = 1,
          weights: str | None = None, output: str | None = None, plot: str | None = None, progress=None,
          write_files: bool = True, **overrides) -> BenchResult:
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
        names, typed_overrides(overrides), shape, weights, batch_sizes=batch_sizes, device=device, dtype=dtype,
        channels_last=channels_last, compile_mode=compile, training=training, optimizer=optimizer,
        find_max_batch=find_max_batch, threads=threads, warmup_s=warmup, min_time_s=min_time, repeats=repeats,
        isolate=isolate, devices=devices)
    from resnet_cli.benchmark import bench as core
    from resnet_cli.views.bench import bench_document

    if progress is not None:  # the number of configurations × repeats, now that the defaults are known
        progress("start", steps=len(request.targets) * (1 if find_max_batch else len(request.batch_sizes)) * repeats)
    run = core.run_bench(request, **({"progress": progress} if progress is not None else {}))
    if not any(r.ok for r in run.results) and not run.interrupted:
        raise RuntimeFailure("nothing could be measured: " + "; ".join(run.warnings or ("no configuration ran",)))
    result = BenchResult(run, bench_document(run), (history, plot_path))
    if write_files:
        result.write_files()
    return result
