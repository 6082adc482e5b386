"""The ``flops`` command: parse, make one call (``resnet_cli.api.flops``), emit."""

from __future__ import annotations

import typer

from resnet_cli.cli.options import (
    DepthOpt,
    DtypeOpt,
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
    def flops(
        model: ModelArg = None,
        input: InputOpt = None,
        depth: DepthOpt = "stage",
        training: bool = typer.Option(
            False,
            "--training",
            help="Add the backward pass (from the real backward ops) and the activation memory a training step keeps.",
        ),
        dtype: DtypeOpt = "float32",
        weights: WeightsOpt = None,
        stages: StagesOpt = None,
        verify: VerifyOpt = False,
        fmt: FormatOpt = "table",
        *,
        overrides: dict,
    ) -> None:
        """Every operation accounted for: totals under each convention, by operator and module, memory."""
        from resnet_cli import api

        result = api.flops(
            model,
            input,
            training,
            depth,
            dtype,
            weights=weights,
            stages=stage_names(stages),
            verify=verify,
            **overrides,
        )
        emit_result(result, fmt)
