"""``--verify``: fvcore's own count, stage by stage, beside ours.

fvcore's ``FlopCountAnalysis`` traces a real copy of the model (on the CPU, under ``torch.no_grad()`` so it
keeps no activations) with ``torch.jit`` at the very input our count saw — the batch included, since a
forward may depend on the batch size (a reshape by N, a loop over the samples, an op whose cost is not
linear in N); our count runs on the meta device. The two must be equal exactly, for every stage and for the
root module's own operators. This is how a user gains trust in the meta-device count on their own model.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from resnet_cli.analysis.ops import FORWARD

ROOT_OPS = "(root's own ops)"


@dataclass(frozen=True)
class StageCheck:
    name: str
    ours: int
    fvcore: int

    @property
    def agrees(self) -> bool:
        return self.ours == self.fvcore


@dataclass(frozen=True)
class Verification:
    batch: int  # the batch of the input fvcore traced (the one our count saw)
    stages: tuple[StageCheck, ...]
    error: str | None = None  # fvcore itself failed on this model: why

    @property
    def agrees(self) -> bool:
        return self.error is None and all(s.agrees for s in self.stages)

    @property
    def disagreeing(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if not s.agrees)


def verify(target, analysis, layout) -> Verification:
    """fvcore's count of ``target`` per stage of ``layout`` (from ``analysis``, our count) beside ours."""
    import torch

    batch = analysis.input_shape[0]
    try:
        model = _real_copy(target).eval()
        x = torch.randn(tuple(analysis.input_shape), generator=torch.Generator().manual_seed(0))
        by_module = _fvcore_by_module(model, x)
    except Exception as error:  # noqa: BLE001 - fvcore's tracer can fail in many ways; say which, in one line
        text = " ".join(str(error).split())
        text = text if len(text) <= 200 else text[:197] + "..."
        return Verification(batch, (), f"fvcore could not count this model: {type(error).__name__}: {text}")
    ours: dict[str, int] = {}
    for op in analysis.ops:
        if op.phase != FORWARD:
            continue
        key = layout.stage_of(op.module, "") if op.module else ROOT_OPS
        ours[key] = ours.get(key, 0) + op.fvcore_flops
    checks = []
    units_total = 0
    for stage in layout.stages:
        counted = sum(by_module.get(unit, 0) for unit in layout.units_of(stage))
        units_total += counted
        checks.append(StageCheck(stage, ours.get(stage, 0), counted))
    root = by_module.get("", 0) - units_total
    if root or ours.get(ROOT_OPS):
        checks.append(StageCheck(ROOT_OPS, ours.get(ROOT_OPS, 0), root))
    return Verification(batch, tuple(checks))


def _real_copy(target):
    """The model with real tensors on the CPU. FLOPs do not depend on the values, so a model this project
    builds gets zeros (no initialisation to pay for: a second for the widest variants); a user's code, whose
    forward may branch on values, and a checkpoint's weights are built for real."""
    from resnet_cli.sources.target import build, build_real

    if target.spec is None or target.weights is not None:
        return build_real(target, "cpu")
    import torch

    model = build(target, "meta").to_empty(device="cpu")
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            tensor.zero_()
    return model


def _fvcore_by_module(model, x) -> dict[str, int]:
    import torch

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # fvcore's import and its tracer warn about torch.jit's deprecation
        from fvcore.nn import FlopCountAnalysis

        counter = FlopCountAnalysis(model, (x,))
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        counter.tracer_warnings("none")
        return {name: int(value) for name, value in counter.by_module().items()}
