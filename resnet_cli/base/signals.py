"""Ctrl-C and SIGTERM: they always stop the tool, say where they did, and never undo what was saved.

``handling()`` (set by the entry point) installs one handler for SIGINT and SIGTERM — SIGINT too, because a
shell starts a background job with SIGINT ignored and Python then installs no handler of its own, so user
code in a pure-Python loop could never be stopped. The first signal raises ``KeyboardInterrupt`` (SIGINT) or
``Terminated`` (SIGTERM) wherever the main thread is: our code, the user's builder or forward, or between two
of torch's operators (one operator that is running is never cut; it is the smallest step Python can stop at).
A signal that comes while a module is being imported is raised when the import ends (looked at every
``RETRY_S``; torch's import runs Python under C++ that aborts the process on an exception); an import that
goes on past ``IMPORT_WAIT_S`` is not waited for: the process ends there with the stop's line (nothing is
measured or written while the modules load).

What a stop saves must not be lost to the next signal (two Ctrl-C 50 ms apart, or one from the terminal and
one from a supervisor): while the stop is under way (``GRACE_S`` after the first signal), and inside a
``saving()`` block at any time, a further signal is held instead of raised. A first signal met inside
``saving()`` is raised when the block ends, so a record is written whole and the stop still happens.
After the grace, a further signal ends the process at once, with the same line: user code that swallowed
the first (``except KeyboardInterrupt``, ``except BaseException``) cannot hold the tool.

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
RETRY_S = 0.02  # a stop that came during an import is raised this soon after the import ends
IMPORT_WAIT_S = 0.5  # … unless the import goes on longer: then the process ends there, at once
ORPHAN_WAIT_S = 3.0  # a stop told by a parent's death ends the process by then, swallowed or not
NAMES = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}

_places: list[str] = []
_state: dict = {
    "first": None,
    "at": 0.0,
    "where": None,
    "saving": 0,
    "held": None,
    "pending": None,
    "deadline": 0.0,
    "said": False,
    "end_by": 0.0,
}
_orphaned: list[Callable[[], bool]] = []  # whether the supervising parent has died
_at_exit: list[Callable[[int], None]] = []  # told the exit code before the process ends at once
_beacon: list[Callable[[str], None]] = []


def where_now() -> Optional[str]:
    return _places[-1] if _places else None


@contextlib.contextmanager
def where(text: str):
    """The tool is doing ``text`` while the block runs (innermost wins). Yields a function that renames what
    it is doing (``bench``: "measuring resnet50 at batch 8", then the next configuration)."""
    index = len(_places)
    _places.append(text)
    _tell(text)

    def now(text: str) -> None:
        if index < len(_places):
            _places[index] = text
            if index == len(_places) - 1:
                _tell(text)

    try:
        yield now
    finally:
        del _places[index:]
        _tell(where_now() or "")


def _tell(text: str) -> None:
    for beacon in _beacon:
        beacon(text)


def set_beacon(beacon: Optional[Callable[[str], None]]) -> None:
    _beacon.clear()
    if beacon is not None:
        _beacon.append(beacon)


def stop_line(stop: BaseException | None = None) -> str:
    """The one line a stop ends with: what stopped the tool and where it was ("interrupted (Ctrl-C) while
    running your code m.py:build (calling it)"). Saying it marks the stop as said (``said``)."""
    if stop is None:
        term = _state["first"] == signal.SIGTERM
    else:
        term = isinstance(stop, Terminated)
    _state["said"] = True
    words = NAMES[signal.SIGTERM if term else signal.SIGINT]
    place = _state["where"]
    return f"{words} while {place}" if place else words


def said() -> bool:
    """Whether the stop's line was said (bench says it among its warnings)."""
    return bool(_state["said"])


def mark_said() -> None:
    _state["said"] = True


def exit_code() -> int:
    """130 for Ctrl-C, 143 for SIGTERM: the code a stop ends with."""
    return Terminated.exit_code if _state["first"] == signal.SIGTERM else 130


def stopped_at() -> Optional[str]:
    """Where the tool was when the first signal came (None: no signal, or nowhere named)."""
    return _state["where"]


def stopping() -> bool:
    """A first signal has come (the tool is on its way out)."""
    return _state["first"] is not None


def _raise(signum: int) -> None:
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _importing(frame) -> bool:
    """Whether the main thread is importing a module: torch's import runs Python under C++ that cannot pass
    an exception on (it aborts the process), so a stop waits until the import is done."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _raise_when_safe(signum: int, frame) -> None:
    if _importing(frame) and hasattr(signal, "setitimer"):
        _state["pending"] = signum
        _state["deadline"] = time.monotonic() + IMPORT_WAIT_S
        signal.setitimer(signal.ITIMER_REAL, RETRY_S)  # look again soon (SIGALRM: _retry)
        return
    _raise(signum)


def _retry(signum, frame) -> None:
    if _state["end_by"] and time.monotonic() >= _state["end_by"]:
        _exit_now()  # orphaned and still running: the stop was swallowed
        return
    pending = _state["pending"]
    if pending is None:
        if _state["end_by"]:
            signal.setitimer(signal.ITIMER_REAL, max(RETRY_S, _state["end_by"] - time.monotonic()))
        return
    if _importing(frame):
        if time.monotonic() < _state["deadline"]:
            signal.setitimer(signal.ITIMER_REAL, RETRY_S)
            return
        _exit_now()  # a long import (torch's): nothing is measured or written yet that a stop would save
        return
    _state["pending"] = None
    if _state["saving"]:
        _state["held"] = pending
        return
    _raise(pending)


def _exit_now() -> None:
    import os
    import sys

    code = exit_code()
    try:
        sys.stderr.write(f"resnet-cli: error: {stop_line()}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    for tell in _at_exit:
        tell(code)
    os._exit(code)


def set_orphan_check(check: Optional[Callable[[], bool]]) -> None:
    """``check()`` says whether the parent that watches this process has died (``cli.supervisor``)."""
    _orphaned.clear()
    if check is not None:
        _orphaned.append(check)


def on_exit_now(tell: Optional[Callable[[int], None]]) -> None:
    """``tell(code)`` is called when a stop ends the process at once (the supervisor's finished mark)."""
    _at_exit.clear()
    if tell is not None:
        _at_exit.append(tell)


def _handler(signum, frame) -> None:
    now = time.monotonic()
    if _orphaned and _orphaned[0]() and not _state["end_by"] and hasattr(signal, "setitimer"):
        # the parent that watched us is gone (it sent this SIGTERM as it died): nobody can send a second
        # signal, so this stop ends the process itself if it has not ended by then
        _state["end_by"] = now + ORPHAN_WAIT_S
        if _state["pending"] is None:
            signal.setitimer(signal.ITIMER_REAL, ORPHAN_WAIT_S)
    if _state["first"] is None:
        _state.update(first=signum, at=now, where=where_now())
        if _state["saving"]:
            _state["held"] = signum  # raised when the record being written is whole
            return
        _raise_when_safe(signum, frame)
        return
    if _state["saving"] or _state["pending"] is not None or now - _state["at"] < GRACE_S:
        return  # the stop is under way: this one must not cut what it saves
    # the first stop was swallowed (user code that catches KeyboardInterrupt): end the process here; what
    # was saved is on disk (a record being written holds this signal until it is whole)
    _state.update(where=where_now())
    _exit_now()


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
    _state.update(
        first=None, at=0.0, where=None, saving=0, held=None, pending=None, deadline=0.0, said=False, end_by=0.0
    )
    _places.clear()


@contextlib.contextmanager
def handling():
    """Install the handler for SIGINT and SIGTERM while the block runs (main thread only: an embedding
    application's threads leave signals alone)."""
    reset()
    handlers = {signal.SIGINT: _handler, signal.SIGTERM: _handler}
    if hasattr(signal, "SIGALRM"):
        handlers[signal.SIGALRM] = _retry
    try:
        previous = {number: signal.signal(number, handler) for number, handler in handlers.items()}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        if _state["pending"] is not None or _state["end_by"]:  # a timer armed must not outlive its handler
            signal.setitimer(signal.ITIMER_REAL, 0)
            _state.update(pending=None, end_by=0.0)
        for number, handler in previous.items():
            if stopping() and number in (signal.SIGINT, signal.SIGTERM):
                # a stop ends the process: a late second signal (50 ms after the first) is ignored, never
                # raised by the handler restored here into the interpreter's exit as a traceback
                handler = signal.SIG_IGN
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
