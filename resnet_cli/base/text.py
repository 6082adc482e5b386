"""Small words shared by every layer: "did you mean" suggestions, the K/M/G/T prefix of a large number, and
outside text made safe for a terminal (``shown``, the one escaping helper).

File names, tensor names, module names and the messages of user code come from outside: any of them may hold
ESC and other control characters that would recolour or rewrite the user's terminal. Every message and every
table for people passes such text through ``shown`` (the renderer does it for every cell, heading, line and
note; ``resnet_cli.render.emit``); JSON keeps the raw text, which it escapes itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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


def shown(text, limit: int | None = 80) -> str:
    """``text`` as it may reach a terminal: every character that is not printable — control characters such as
    ESC, newlines, bidirectional overrides — is shown as Python writes it (``\\x1b``, ``\\n``, ``\\u202e``).
    Messages cap the text at ``limit`` characters; tables and notes pass ``limit=None`` to keep it whole.
    Escaping an escaped text changes nothing."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if limit is None or len(escaped) <= limit:
        return escaped
    return escaped[: limit - 3] + "..."


def and_list(names) -> str:
    """ "a", "a and b", "a, b and c": names listed as a sentence says them."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
