"""The ``summary`` command: parse, make one call (``resnet_cli.api.summary``), emit."""

from __future__ import annotations

from resnet_cli.cli.options import (
    ChartOpt,
    DepthOpt,
    FormatOpt,
    InputOpt,
    ModelArg,
    StagesOpt,
    VerifyOpt,
    WeightsOpt,
    boundary,
    emit_result,
    stage_names,
    with_spec_options,
)


def register(app) -> None:
    @app.command()
    @with_spec_options
    @boundary
    def summary(
        model: ModelArg = None,
        input: InputOpt = None,
        depth: DepthOpt = "stage",
        weights: WeightsOpt = None,
        stages: StagesOpt = None,
        verify: VerifyOpt = False,
        fmt: FormatOpt = "table",
        chart: ChartOpt = None,
        *,
        overrides: dict,
    ) -> None:
        """Per-stage output shapes, parameters, FLOPs and receptive fields of a model (default resnet50)."""
        from resnet_cli import api
        from resnet_cli.render.charts import check_chart_target, stage_chart

        check_chart_target(chart, fmt)
        result = api.summary(
            model, input, depth, weights=weights, stages=stage_names(stages), verify=verify, **overrides
        )
        report = result.report
        emit_result(
            result,
            fmt,
            chart,
            lambda: [stage_chart(report.model, report.rows)],
            f"{report.model} — {report.description}",
        )
