"""Ctrl-C and SIGTERM: they always stop the tool, say where they did, and never undo what was saved.

``handling()`` (set by the entry point) installs one handler for SIGINT and SIGTERM — SIGINT too, because a
shell starts a background job with SIGINT ignored and Python then installs no handler of its own, so user
code in a pure-Python loop could never be stopped. The first signal raises ``KeyboardInterrupt`` (SIGINT) or
``Terminated`` (SIGTERM) wherever the main thread is: our code, the user's builder or forward, or between two
of torch's operators (one operator that is running is never cut; it is the smallest step Python can stop at).

What a stop saves must not be lost to the next signal (two Ctrl-C 50 ms apart, or one from the terminal and
one from a supervisor): while the stop is under way (``GRACE_S`` after the first signal), and inside a
``saving()`` block at any time, a further signal is held instead of raised. A first signal met inside
``saving()`` is raised when the block ends, so a record is written whole and the stop still happens.
After the grace, a further signal raises again: user code that swallowed the first cannot hold the tool.

``where(text)`` names what the tool is doing ("running your code m.py:build (calling it)", "measuring
resnet50 at batch 8"); the stop's one line says the innermost place when the signal came. A ``beacon``
(``resnet_cli.cli.supervisor``) may be told each place, so a parent process can say where its child died.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from typing import Optional

from resnet_cli.base.errors import Terminated

GRACE_S = 1.0  # after the first signal, further ones are held this long: the stop is saving what it measured
NAMES = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}

_places: list[str] = []
_state: dict = {"first": None, "at": 0.0, "where": None, "saving": 0, "held": None}
_beacon: list[Callable[[str], None]] = []


def where_now() -> Optional[str]:
    return _places[-1] if _places else None


@contextlib.contextmanager
def where(text: str):
    """The tool is doing ``text`` while the block runs (innermost wins)."""
    _places.append(text)
    _tell(text)
    try:
        yield
    finally:
        _places.pop()
        _tell(where_now() or "")


def _tell(text: str) -> None:
    for beacon in _beacon:
        beacon(text)


def set_beacon(beacon: Optional[Callable[[str], None]]) -> None:
    _beacon.clear()
    if beacon is not None:
        _beacon.append(beacon)


def stop_line(stop: BaseException) -> str:
    """The one line a stop ends with: what stopped the tool and where it was ("interrupted (Ctrl-C) while
    running your code m.py:build (calling it)")."""
    words = NAMES[signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT]
    place = _state["where"]
    return f"{words} while {place}" if place else words


def stopping() -> bool:
    """A first signal has come (the tool is on its way out)."""
    return _state["first"] is not None


def _raise(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handler(signum, frame) -> None:
    now = time.monotonic()
    if _state["first"] is None:
        _state.update(first=signum, at=now, where=where_now())
        if _state["saving"]:
            _state["held"] = signum  # raised when the record being written is whole
            return
        _raise(signum)
    if _state["saving"] or now - _state["at"] < GRACE_S:
        return  # the stop is under way: this one must not cut what it saves
    _state.update(at=now, where=where_now())  # the first one was swallowed (by user code): stop again
    _raise(signum)


@contextlib.contextmanager
def saving():
    """Signals are held while the block writes; a first signal held is raised when it ends."""
    _state["saving"] += 1
    try:
        yield
    finally:
        _state["saving"] -= 1
        held = _state["held"]
        if not _state["saving"] and held is not None:
            _state["held"] = None
            _raise(held)


def reset() -> None:
    """Forget any stop (a new command in the same process: the Python API, tests)."""
    _state.update(first=None, at=0.0, where=None, saving=0, held=None)
    _places.clear()


@contextlib.contextmanager
def handling():
    """Install the handler for SIGINT and SIGTERM while the block runs (main thread only: an embedding
    application's threads leave signals alone)."""
    reset()
    try:
        previous = {number: signal.signal(number, _handler) for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
