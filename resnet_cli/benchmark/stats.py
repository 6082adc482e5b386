"""Statistics of timing samples: order statistics per configuration, and the spread between repeats.

Latency distributions are skewed (a sample can only be delayed, never sped up), so bench reports order
statistics — the median and percentiles — never a mean ± standard deviation as the figure. Percentiles are
``statistics.quantiles(method="inclusive")``: linear interpolation between the closest ranks, numpy's
default, so a figure can be checked with either.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Stats:
    """Order statistics of per-iteration samples, in milliseconds."""

    n: int
    median_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    p10_ms: float
    p25_ms: float
    p75_ms: float
    p90_ms: float

    @property
    def iqr_ms(self) -> float:
        return self.p75_ms - self.p25_ms

    @property
    def rel_iqr(self) -> float:
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else 0.0


def sample_stats(samples_ms: Sequence[float]) -> Optional[Stats]:
    """Stats of ``samples_ms`` (None when there are none)."""
    if not samples_ms:
        return None
    data = [float(s) for s in samples_ms]
    if len(data) == 1:  # statistics.quantiles needs two points (before Python 3.13): every figure is the one
        only = data[0]
        return Stats(1, only, only, only, only, only, only, only, only)
    cuts = statistics.quantiles(data, n=100, method="inclusive")  # cuts[k - 1] is the k-th percentile
    return Stats(
        n=len(data),
        median_ms=statistics.median(data),
        mean_ms=statistics.fmean(data),
        min_ms=min(data),
        max_ms=max(data),
        p10_ms=cuts[9],
        p25_ms=cuts[24],
        p75_ms=cuts[74],
        p90_ms=cuts[89],
    )


def repeat_spread(medians_ms: Sequence[float]) -> Optional[float]:
    """(largest − smallest) / middle of the medians of K repeats: how far one figure moved between whole
    sweeps (the honest error bar on a shared machine). None for fewer than two repeats."""
    if len(medians_ms) < 2:
        return None
    middle = statistics.median(medians_ms)
    return (max(medians_ms) - min(medians_ms)) / middle if middle > 0 else None
