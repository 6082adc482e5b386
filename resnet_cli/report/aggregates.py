"""Aggregates of one analysis computed once and kept on it, as fvcore's analysis object keeps its by-module and
by-operator sums: the stage layout, the receptive fields, the totals, the sums by operator category.

An ``Analysis`` is frozen (its fields never change), so what is derived from it never changes either; the
derived values live in the instance's ``__dict__`` beside the fields, outside equality, ``repr`` and
``dataclasses.replace`` (a replaced analysis starts with none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_KEY = "_aggregates"


def once(analysis: Any, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` the first time ``key`` is asked of ``analysis``, the kept value after."""
    kept = analysis.__dict__.setdefault(_KEY, {})
    if key not in kept:
        kept[key] = compute()
    return kept[key]
