"""What ``bench`` is asked to measure, checked once: the rules about its options (for the command line and the
Python API alike) and the ``BenchRequest`` they make. Torch is imported only for the default thread count."""

from __future__ import annotations

from typing import Optional

from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.benchmark.records import BenchRequest, ModelRef

DEFAULT_BATCH_SIZES = {"cpu": (1, 8), "cuda": (1, 8, 64)}


def check_combinations(
    models,
    batch_sizes,
    training: bool,
    optimizer: Optional[str],
    find_max_batch: bool,
    isolate: bool,
    devices: int,
    weights: Optional[str],
) -> None:
    """The options that do not go together, refused before anything is resolved or measured."""
    if optimizer is not None and not training:
        raise UsageError(f"--optimizer {optimizer} applies to training steps; add --training")
    if find_max_batch and batch_sizes is not None:
        raise UsageError("--find-max-batch chooses the batch size itself; drop --batch-size")
    if devices > 1:
        if not training:
            raise UsageError(f"--devices {devices} runs distributed training steps; add --training")
        if len(models) > 1 or isolate or find_max_batch:
            raise UsageError(f"--devices {devices} measures one model, without --isolate or --find-max-batch")


def check_weights(models, weights: Optional[str]) -> None:
    if weights is not None and len(models) > 1:
        raise UsageError("--weights loads one checkpoint into one model; give one MODEL (or a checkpoint as MODEL)")


def _distinct(targets) -> None:
    seen = set()
    for target in targets:
        if target.name in seen:
            raise UsageError(f"MODEL {target.name} is given twice; each model is measured once per batch size")
        seen.add(target.name)


def bench_request(
    models,
    overrides: dict,
    input_shape,
    weights: Optional[str],
    *,
    batch_sizes,
    device: str,
    dtype: str,
    channels_last: bool,
    compile_mode: Optional[str],
    training: bool,
    optimizer: Optional[str],
    find_max_batch: bool,
    threads: Optional[int],
    warmup_s: float,
    min_time_s: float,
    repeats: int,
    isolate: bool,
    devices: int,
) -> BenchRequest:
    """The request for typed values (parsed at the edge): targets resolved, the device resolved, defaults filled
    in (batch sizes: N of the input if given, else 1,8 on CPU and 1,8,64 on CUDA; threads: torch's)."""
    from resnet_cli.benchmark.system import resolve_device
    from resnet_cli.sources.target import resolve_target

    refs = tuple(ModelRef(name, tuple(overrides.items()), input_shape, weights) for name in (models or [None]))
    targets = tuple(resolve_target(ref.text, overrides, input_shape, weights=weights) for ref in refs)
    _distinct(targets)
    resolved = resolve_device(device)
    if devices > 1 and device == "auto" and resolved == "cpu":
        raise RuntimeFailure(
            f"--devices {devices}: this machine has no CUDA device; a distributed run needs "
            f"{devices} (--device cpu runs {devices} CPU processes with gloo instead)"
        )
    import torch

    if batch_sizes is None:
        batch_sizes = (targets[0].input_shape[0],) if input_shape else DEFAULT_BATCH_SIZES[resolved.split(":")[0]]
    return BenchRequest(
        targets=targets,
        device=resolved,
        batch_sizes=tuple(batch_sizes),
        dtype=dtype,
        channels_last=channels_last,
        compile_mode=compile_mode,
        training=training,
        optimizer=optimizer or "sgd",
        threads=threads or torch.get_num_threads(),
        warmup_s=warmup_s,
        min_time_s=min_time_s,
        repeats=repeats,
        isolate=isolate,
        find_max_batch=find_max_batch,
        devices=devices,
        refs=refs,
    )
