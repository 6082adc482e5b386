"""Shape arithmetic shared by every layer (no torch: shapes are tuples of ints)."""

from __future__ import annotations

from math import prod


def numel(shape) -> int:
    """Elements of a tensor of ``shape`` (0 for None: no tensor)."""
    return prod(shape) if shape is not None else 0
