"""Small words shared by every layer: "did you mean" suggestions and the K/M/G/T prefix of a large number."""

from __future__ import annotations

import difflib
from typing import Iterable

SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The registered names closest to ``word`` (difflib's ratio ≥ 0.6), closest first: "did you mean …?"."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.6)


def si_prefix(value: float) -> tuple[float, str]:
    """``value`` scaled to its largest prefix: 4111512576 -> (4.111512576, "G"); below 1000 -> (value, "")."""
    for threshold, suffix in SI_PREFIXES:
        if abs(value) >= threshold:
            return value / threshold, suffix
    return value, ""
