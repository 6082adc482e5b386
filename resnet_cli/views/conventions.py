"""The words every view shares: what each FLOPs convention counts, the unsupported operators, --verify's verdict."""

from __future__ import annotations

from resnet_cli.render import emit as render
from resnet_cli.render.emit import Column, Heading, Lines, Table

FLOPS_MEANING = (
    "fvcore's count (FlopCountAnalysis): 1 per multiply-add of conv and linear layers, plus batch norm "
    "(2 per element in inference) and adaptive average pooling (1 per input element); biases, ReLU, "
    "max-pooling and residual additions are not counted"
)
MACS_MEANING = (
    "multiply-accumulates of conv and linear layers only: the convention of torchvision's tables and "
    "the papers (×2 = torch.utils.flop_counter's FLOPs)"
)

RF_MEANING = (
    "the theoretical receptive field of one output unit, in input pixels, along the largest path through the "
    "residual graph (padding counted, so it can exceed the input); stride: input pixels between adjacent units; "
    "global: every unit sees the whole input (after a global pool or squeeze-excitation)"
)


VERIFY_COLUMNS = (
    Column("name", "stage", justify="left"),
    Column("ours", "ours (fvcore convention)", "count"),
    Column("fvcore", "fvcore FlopCountAnalysis", "count"),
    Column("agrees", "agrees", justify="left"),
)


def verification_data(verification) -> dict:
    return {
        "method": "fvcore FlopCountAnalysis on a real CPU copy of the model, at the input our count saw",
        "batch": verification.batch,
        "agrees": verification.agrees,
        "error": verification.error,
        "stages": [
            {"name": s.name, "ours": s.ours, "fvcore": s.fvcore, "agrees": s.agrees} for s in verification.stages
        ],
    }


def verification_blocks(verification) -> tuple:
    title = "--verify: fvcore beside ours"
    method = (
        f"fvcore's FlopCountAnalysis traced a real CPU copy of the model at the same input (batch {verification.batch})"
    )
    if verification.error:
        return (Heading(title), Lines((method, verification.error)))
    records = tuple(
        {"name": s.name, "ours": s.ours, "fvcore": s.fvcore, "agrees": "yes" if s.agrees else "NO"}
        for s in verification.stages
    )
    verdict = (
        "fvcore agrees with every stage."
        if verification.agrees
        else f"fvcore disagrees at: {', '.join(verification.disagreeing)}."
    )
    return (Heading(title), Lines((method,)), Table(VERIFY_COLUMNS, records), Lines((verdict,)))


def fvcore_gap_note(flops: int, macs: int, uncounted) -> str:
    """Said next to fvcore's figure when it comes out below the MACs: which calls fvcore leaves out."""
    if flops >= macs or not uncounted:
        return ""
    listed = ", ".join(f"{name} ×{calls} ({render.human(m)}MACs)" for name, calls, m in uncounted)
    return f". NOTE: below the MACs, because fvcore has no handle for {listed}"


def unsupported_text(unsupported) -> str:
    listed = ", ".join(
        f"{u.op.removeprefix('aten.')} ×{u.calls}" + (f" ({u.phase})" if u.phase != "forward" else "")
        for u in unsupported
    )
    return f"operators no formula covers, counted as 0 FLOPs: {listed}"


def unsupported_data(unsupported) -> list[dict]:
    return [{"op": u.op, "calls": u.calls, "phase": u.phase, "modules": list(u.modules)} for u in unsupported]
