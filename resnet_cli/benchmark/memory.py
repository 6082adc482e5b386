"""Memory: what a configuration is predicted to need (from the analysis), the estimate a batch is refused by
before anything is allocated, and ``--find-max-batch``'s search (predicted first, then confirmed by real
steps whose failures are results, never a crash).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional

from resnet_cli.base.values import DTYPE_BYTES, MAX_BATCH
from resnet_cli.benchmark.records import BenchRequest, MaxBatch, MemoryPrediction

FLOAT32 = 4  # weights, gradients and optimizer state stay float32 under autocast
MEMORY_SAFETY = 2.0  # refusal only: allocator rounding, oneDNN reorders, cuDNN/inductor workspaces
CUDA_WORKSPACE_BYTES = 512 * 2**20  # refusal only: cuDNN / cuBLAS workspaces, autotuning
# --find-max-batch: the share of available memory one batch may take. The CPU's is small because RAM is
# shared with every other process and running out ends in the kernel's OOM killer, not an exception.
FIT_FRACTION = {"cuda": 0.9, "cpu": 0.5}
MAX_ATTEMPTS = 6
TOLERANCE = 0.05  # the search stops when the largest batch that ran is this close to the smallest that failed
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}  # float32 tensors per parameter: momentum; exp_avg + exp_avg_sq


def predict(forward, steps, batch: int, request: BenchRequest) -> MemoryPrediction:
    """Bytes one configuration needs at its peak, from the analyses.

    ``forward``: the inference analysis at batch 1 (its activations are linear in N); ``steps``: training-step
    analyses at batches 1 and 2 (with --training): saved activations are affine in N, because batch norm
    keeps per-channel statistics whatever the batch."""
    act = DTYPE_BYTES[request.dtype]
    weights = (forward.params + forward.running_stats) * FLOAT32 + (forward.params * act if request.autocast else 0)
    if request.training:
        trainable = steps[0].trainable_params
        one, two = (s.saved_activation_bytes(act) for s in steps)
        # the input is among the saved tensors (the first layer keeps it for its weight gradient)
        return MemoryPrediction(
            weights=weights,
            gradients=trainable * FLOAT32,
            optimizer_state=OPTIMIZER_STATES[request.optimizer] * trainable * FLOAT32,
            activations=one + (batch - 1) * (two - one),
            input=0,
        )
    return MemoryPrediction(
        weights=weights,
        gradients=0,
        optimizer_state=0,
        activations=forward.peak_activation_bytes(act) * batch,
        input=forward.input_elements * FLOAT32 * batch,
    )


def refusal_estimate(prediction: MemoryPrediction, request: BenchRequest) -> int:
    """A deliberately generous estimate: a batch above free memory by this measure is refused unallocated."""
    workspace = CUDA_WORKSPACE_BYTES if request.device_type == "cuda" else 0
    persistent = prediction.weights + prediction.gradients + prediction.optimizer_state
    return int(persistent + MEMORY_SAFETY * (prediction.activations + prediction.input) + workspace)


def largest_fitting(total_of: Callable[[int], int], usable: int, scale: float = 1.0) -> int:
    """The largest N with ``scale × total_of(N) ≤ usable`` for a total linear in N (0 when none fits)."""
    fixed = total_of(0)
    per_image = total_of(1) - fixed
    if per_image <= 0:
        return MAX_BATCH
    room = usable / scale - fixed
    return max(0, min(MAX_BATCH, math.floor(room / per_image)))


def search_max_batch(
    model: str,
    total_of: Callable[[int], int],
    available: Optional[int],
    source: str,
    device_type: str,
    try_step: Callable[[int], tuple[str, Optional[int]]],
) -> MaxBatch:
    """Predict the largest batch that fits, then confirm it with real steps (``try_step(N)`` → (status,
    measured peak bytes)). A step that fails for memory (or measures more than the usable memory) lowers the
    batch; a step that measured less than predicted lets the search try the larger batch its measurement
    implies; between a batch that ran and one that failed, the search bisects until they are within
    TOLERANCE. Never more than MAX_ATTEMPTS real steps; a failure is an answer, never a crash."""
    if available is None:
        return MaxBatch(model, None, source, None, None, None)
    usable = int(available * FIT_FRACTION[device_type])
    predicted = largest_fitting(total_of, usable)
    attempts: list[tuple[int, str, Optional[int]]] = []
    best, failed = 0, None
    candidate = predicted
    while candidate >= 1 and len(attempts) < MAX_ATTEMPTS:
        status, measured = try_step(candidate)
        if status == "ok" and measured is not None and measured > usable:
            status = "too big"
        attempts.append((candidate, status, measured))
        if status == "ok":
            best = max(best, candidate)
            if failed is None:
                if not measured:
                    break
                candidate = largest_fitting(total_of, usable, scale=measured / total_of(candidate))
                if candidate <= best * (1 + TOLERANCE):
                    break
                continue
        elif status in ("oom", "too big"):
            failed = candidate if failed is None else min(failed, candidate)
            if not best:
                candidate = (candidate * 3) // 4
                continue
        else:  # a failure that is not about memory: another batch size will not help
            break
        if failed - best <= max(1, best * TOLERANCE):
            break
        candidate = (best + failed) // 2
    return MaxBatch(model, available, source, usable, predicted, best or None, tuple(attempts))
