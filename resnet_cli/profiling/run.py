"""``profile``'s run: the ceilings, then each model measured in turn, then the ceilings again; one report."""

from __future__ import annotations

from dataclasses import dataclass

from resnet_cli.base.errors import RuntimeFailure
from resnet_cli.base.values import DTYPE_BYTES
from resnet_cli.profiling.measure import PeakMeter, Progress, Settings, measure_model, no_progress, stop_name
from resnet_cli.report.profile import ModelProfile, ProfileReport, model_profile


@dataclass(frozen=True)
class Subject:
    """One model to profile: what the analysis says of it and how to build it for real."""

    name: str
    description: str
    analysis: object  # resnet_cli.analysis.records.Analysis at the profiled input (training: with the backward)
    build: object  # () -> nn.Module on the CPU with its real weights
    owned: bool  # False: the caller's own instance (measured on a copy)
    stages: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


def run_profile(
    subjects: list[Subject],
    settings: Settings,
    gemm,
    depth: str,
    *,
    device_name: str = "",
    env: dict | None = None,
    progress: Progress = no_progress,
) -> ProfileReport:
    """Measure every subject between two rounds of the ceilings; Ctrl-C keeps the models measured so far (and
    the completed iterations of the one cut short)."""
    meter = PeakMeter(gemm, settings)
    measured = []
    interrupted, stopped_by = False, None
    try:
        progress("peak", model="")
        meter.sample(first=True)
        for subject in subjects:
            one = measure_model(
                subject.build(),
                subject.analysis.input_shape,
                settings,
                owned=subject.owned,
                name=subject.name,
                progress=progress,
            )
            measured.append((subject, one))
            if one.interrupted:
                interrupted, stopped_by = True, one.stopped_by
                break
            progress("peak", model=subject.name)
            meter.gemm.sample(first=False)
        if not interrupted:
            meter.final()
    except KeyboardInterrupt as stop:
        interrupted, stopped_by = True, stop_name(stop)
    peaks = meter.peaks()
    if peaks is None:
        raise RuntimeFailure("interrupted before the ceilings were measured: nothing to report")
    models: list[ModelProfile] = []
    warnings: list[str] = []
    for subject, one in measured:
        if not one.iterations:
            warnings.append(f"{subject.name}: interrupted before a profiled iteration completed")
            continue
        profile = model_profile(
            subject.name,
            subject.description,
            subject.analysis,
            one,
            peaks,
            depth,
            DTYPE_BYTES[settings.dtype],
            subject.stages,
            subject.notes,
        )
        models.append(profile)
        warnings += _warnings(profile, settings)
    if not models:
        raise RuntimeFailure("interrupted before any model was profiled: nothing to report")
    warnings += _machine_warnings(env or {})
    if stopped_by:
        what = "interrupted (Ctrl-C)" if stopped_by == "SIGINT" else "terminated (SIGTERM)"
        warnings.append(f"{what}: showing what was measured before")
    return ProfileReport(
        tuple(models),
        peaks,
        settings.device,
        device_name,
        settings.dtype,
        settings.channels_last,
        settings.compile,
        settings.training,
        depth,
        subjects[0].analysis.input_shape[0],
        settings.threads,
        env or {},
        interrupted,
        tuple(warnings),
        stopped_by,
    )


def _machine_warnings(env: dict) -> list[str]:
    load, cpus = env.get("load_average_1m"), env.get("logical_cpus")
    if load is not None and cpus and env.get("device_type") == "cpu" and load >= 0.75 * cpus:
        return [
            f"the machine was busy when the run began (load average {load:.1f} on {cpus} CPUs): other "
            "processes inflate and scatter the times; compare p10 with p90"
        ]
    return []


def _warnings(profile: ModelProfile, settings: Settings) -> list[str]:
    found = []
    above = [r.name for r in profile.rows if r.efficiency is not None and r.efficiency > 1.0]
    if above:
        found.append(
            f"{profile.model}: {', '.join(above[:5])}{' …' if len(above) > 5 else ''} ran faster than the "
            "roofline allows (efficiency above 100 %): a ceiling was measured under contention, or a "
            "kernel beats the matmul (oneDNN's direct convolutions can)"
        )
    r = profile.reconciliation
    if r.free_s and r.free_p10_s is not None and r.free_p90_s - r.free_p10_s > 0.2 * r.free_s:
        found.append(
            f"{profile.model}: the forward's time without the profiler spread from "
            f"{r.free_p10_s * 1e3:,.2f} to {r.free_p90_s * 1e3:,.2f} ms (p10–p90): more than 20 % of "
            "its median; a busy machine, or too few --iterations"
        )
    if r.rows_s is not None and r.profiled_s and r.rows_s < 0.5 * r.profiled_s and not settings.compile:
        found.append(
            f"{profile.model}: the rows hold {100 * r.rows_s / r.profiled_s:.0f} % of the profiled "
            "forward; the rest ran outside the operators (Python, hooks, launch gaps)"
        )
    if settings.compile:
        found.append(
            f"{profile.model}: compiled code fuses operators across modules, so its time is not "
            "attributed to rows (one row: not attributed)"
        )
    return found
