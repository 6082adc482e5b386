"""Aggregates are computed once per analysis (issue 17, requirement 5): the stage layout, the receptive fields,
the totals and the sums by operator category are kept on the analysis, as fvcore's analysis object keeps its
sums, so a report built from one analysis never recomputes them."""

import dataclasses

import pytest

from resnet_cli.report import rows, stages
from resnet_cli.sources.target import analyze, resolve_target
from resnet_cli.structure import receptive


@pytest.fixture(scope="module")
def analysed():
    return analyze(resolve_target("resnet18"))


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_summary_and_a_flops_report_compute_layout_and_fields_once(monkeypatch, analysed):
    from resnet_cli.report.flops import flops_report

    analysis = dataclasses.replace(analysed.analysis)  # a fresh object: nothing kept on it yet
    layouts = _counting(monkeypatch, stages, "_stage_layout")
    fields = _counting(monkeypatch, receptive, "receptive_fields")
    target = resolve_target("resnet18")
    for depth in ("stage", "block", "layer"):
        rows.summarize(target, analysed.model, analysis, depth)
    flops_report(target, analysed.model, analysis, None, "block")
    assert len(layouts) == 1 and len(fields) == 1
    # what is kept equals what a fresh computation gives
    assert stages.stage_layout(analysis) == stages._stage_layout(analysis, None)
    assert rows.totals(analysis) == rows._totals(analysis)


def test_a_replaced_analysis_keeps_nothing_of_the_original(analysed):
    analysis = dataclasses.replace(analysed.analysis)
    rows.totals(analysis)
    assert "_aggregates" in vars(analysis)
    assert "_aggregates" not in vars(dataclasses.replace(analysis))
    assert dataclasses.replace(analysis) == analysis  # kept values stay outside equality


@pytest.mark.parametrize("name", ["resnet50", "seresnet18", "resnetv2_50", "resnet20"])
def test_a_training_forward_without_backward_saves_what_the_whole_step_saves(name):
    # flops without --training reads only a training step's memory: the forward alone, no operator recorded
    target = resolve_target(name)
    whole = analyze(target, training=True).analysis
    forward = analyze(target, training=True, backward=False).analysis
    assert whole.saved_float_elements > 0 and any(op.phase == "backward" for op in whole.ops)
    assert (forward.saved_float_elements, forward.saved_other_bytes, forward.no_backward, forward.output_shape) == (
        whole.saved_float_elements,
        whole.saved_other_bytes,
        whole.no_backward,
        whole.output_shape,
    )
    assert forward.ops == () and forward.params == whole.params
