"""The command line runs in a child process that a small parent watches, so the end of the process can
never be read as success unless the tool itself finished.

A user's builder or forward may end the whole process — ``os._exit(0)``, ``os.kill(os.getpid(), SIGKILL)``,
a native crash in an extension — and nothing inside a process survives that (no ``finally``, no atexit).
So ``supervised`` forks before torch is imported (a fork of a small interpreter: a few milliseconds), the
child runs the command, and a page of memory shared by both says what the child was doing
(``base.signals.where``) and, as the child's very last act, that it finished and with which exit code. When
the child ends without that mark the parent prints one line — "the run ended inside your code m.py:build
(calling it): the process exited with status 0 (os._exit?) before finishing" — and exits 1 (or 128 + the
signal that killed it).

Signals: the terminal sends Ctrl-C to both processes; the parent passes on what was sent to it alone (``kill
-INT``/``-TERM`` PID, ``timeout``), and never dies of them itself. If the parent is killed outright, the child
gets SIGTERM (Linux's parent-death signal) and ends within ``signals.ORPHAN_WAIT_S`` even if its user code
swallows the stop. Where ``fork`` or ``sigtimedwait`` are missing (Windows, macOS)
the command runs in-process, unwatched, as documented in docs/usage.md.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
import sys
from typing import NoReturn

FINISHED = 0x5E  # the child's last write: it finished, with this exit code
_HEADER = struct.Struct("<BxxxiI")  # finished mark, exit code, length of the place's text
_SIZE = 4096
_WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)
SI_KERNEL = 0x80  # the terminal's Ctrl-C (sent to the whole foreground group): the child has it already


def available() -> bool:
    return (
        hasattr(os, "fork")
        and hasattr(signal, "sigtimedwait")
        and hasattr(signal, "pthread_sigmask")
        and not os.environ.get("RESNET_CLI_UNSUPERVISED")
    )


def supervised(main) -> int:
    """Run ``main()`` (returns an exit code) in a watched child; return the exit code to end with."""
    if not available():
        return main()
    page = mmap.mmap(-1, _SIZE)  # MAP_SHARED | MAP_ANONYMOUS: the same page in parent and child
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        child = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return main()
    if child == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        _die_with_parent()
        return _child(main, page, os.getppid())
    return _parent(child, page)


def _child(main, page, parent: int) -> NoReturn:
    """Run ``main`` and leave with ``os._exit``: by then the result is written (unbuffered, on its own file
    descriptor), every file the command wrote is closed and renamed into place, and stdout and stderr are
    flushed. What ``sys.exit`` would add is Python's finalisation — with torch imported, 0.3–0.5 s of freeing
    modules and tensors one by one on a 2-core machine, a delay before the shell's prompt and nothing else —
    and the atexit handlers of the user's own code, which would run after file descriptor 1 is the result
    stream again (``render.streams.results_kept``)."""
    from resnet_cli.base import signals

    signals.set_orphan_check(lambda: os.getppid() != parent)

    def tell(text: str) -> None:
        data = text.encode("utf-8", "replace")[: _SIZE - _HEADER.size]
        page[_HEADER.size : _HEADER.size + len(data)] = data
        page[: _HEADER.size] = _HEADER.pack(0, 0, len(data))

    def finished(code: int) -> None:
        page[: _HEADER.size] = _HEADER.pack(FINISHED, code, 0)

    signals.set_beacon(tell)
    signals.on_exit_now(finished)
    code = main()
    for number in (signal.SIGINT, signal.SIGTERM):  # over: a late signal must not reach the exit as a traceback
        signal.signal(number, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    page[: _HEADER.size] = _HEADER.pack(FINISHED, code, 0)
    os._exit(code)  # see _child's docstring


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _parent(child: int, page) -> int:
    while True:
        try:
            info = signal.sigtimedwait(_WATCHED, 0.5)
        except InterruptedError:
            info = None
        if info is not None and info.si_signo != signal.SIGCHLD:
            if not (info.si_signo == signal.SIGINT and info.si_code == SI_KERNEL):
                try:
                    os.kill(child, info.si_signo)
                except ProcessLookupError:
                    pass
            continue
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            return 1
        if pid == child:
            return _verdict(status, page)


def _verdict(status: int, page) -> int:
    mark, code, length = _HEADER.unpack(page[: _HEADER.size])
    if mark == FINISHED:
        return code
    place = page[_HEADER.size : _HEADER.size + length].decode("utf-8", "replace")
    where = f" while {place}" if place else ""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        _line(f"the run was killed by {name}{where}, before it finished; no result was written")
        return 128 + number
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
    _line(
        f"the run ended{where} before it finished: the process exited with status {exit_code} (os._exit or "
        "a crash in that code); the result is incomplete"
    )
    return exit_code or 1


def _line(message: str) -> None:
    from resnet_cli.base.errors import error_line

    try:
        error_line(message)
    except (OSError, ValueError):
        pass
