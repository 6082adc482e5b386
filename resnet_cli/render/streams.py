"""Where results and messages go: the results' own stream, and any output encoding.

``results_kept`` runs a command with file descriptor 1 pointing at stderr (``dup2``), so nothing the user's
code writes — ``print``, ``os.write(1, …)``, a child process — reaches the result; results go to the real
stdout through a ``ResultStream``, whose write errors are one true line (a closed pipe: exit 141; a full disk
or ``> /dev/full``: exit 1) and which falls back to ASCII equivalents (``x`` for ×, ``->`` for →, ``-`` and
``|`` for box rules) where the stream's encoding lacks a character (``PYTHONIOENCODING=ascii``, ``LC_ALL=C``,
latin-1). ``fit_encoding`` does the same for stderr. JSON is escaped instead (``emit``).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

_RESULTS: list = []

# what a character becomes where the stream's encoding lacks it (PYTHONIOENCODING=ascii, LC_ALL=C, latin-1)
FALLBACKS = {
    "×": "x",
    "→": "->",
    "←": "<-",
    "↔": "<->",
    "—": "-",
    "–": "-",
    "−": "-",
    "·": ".",
    "…": "...",
    "≈": "~",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "±": "+/-",
    "µ": "u",
    "²": "^2",
    "³": "^3",
    "√": "sqrt",
    "∞": "inf",
    "‖": "||",
    "⊕": "(+)",
    "⊗": "(x)",
    "✓": "ok",
    "✗": "x",
    "•": "*",
    "°": "deg",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "▏": "|",
    "█": "#",
    "▌": "#",
    "░": ".",
    "▒": ":",
    "▓": "#",
    "■": "#",
    "□": ".",
    "▶": ">",
    "▼": "v",
    "▲": "^",
    "◀": "<",
}
_BOX = {**{c: "-" for c in "─━═╌╍┄┅┈┉"}, **{c: "|" for c in "│┃║╎╏┆┇┊┋"}}


def _fallback(character: str) -> str:
    if character in FALLBACKS:
        return FALLBACKS[character]
    if character in _BOX:
        return _BOX[character]
    if "\u2500" <= character <= "\u257f":  # box drawing corners and joints
        return "+"
    import unicodedata

    plain = unicodedata.normalize("NFKD", character).encode("ascii", "ignore").decode()
    return plain or "?"


_TABLES: dict = {}


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can write it: each character it lacks replaced by an ASCII equivalent
    (``x`` for ×, ``->`` for →, ``-`` and ``|`` for box rules), never an error."""
    encoding = (encoding or "utf-8").lower()
    if _unicode(encoding):
        return text
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        pass
    table = _TABLES.setdefault(encoding, {})
    out = []
    for character in text:
        if character not in table:
            try:
                character.encode(encoding)
                table[character] = character
            except (UnicodeEncodeError, LookupError):
                table[character] = "".join(c if _can(c, encoding) else "?" for c in _fallback(character))
        out.append(table[character])
    return "".join(out)


def _can(character: str, encoding: str) -> bool:
    try:
        character.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


class Fallback:
    """A text stream that accepts any text and writes what its encoding can: every ``write`` goes through
    ``encodable``. It says it is UTF-8, so rich lays tables out with its usual rules and the rules' characters
    are replaced here, keeping every width."""

    encoding = "utf-8"

    def __init__(self, stream) -> None:
        self._stream = stream

    @property
    def target_encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        self._stream.write(encodable(text, self.target_encoding))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _unicode(encoding: str | None) -> bool:
    return (encoding or "utf-8").lower().replace("-", "").replace("_", "").startswith("utf")


def fit_encoding(stream):
    """``stream`` itself when it writes Unicode, else wrapped in ``Fallback``."""
    if stream is None or isinstance(stream, Fallback) or _unicode(getattr(stream, "encoding", None)):
        return stream
    return Fallback(stream)


class ResultStream:
    """The results' own stream. Its write errors are one true line: the reader of a pipe gone (``| head``,
    ``| true``) ends the run with 141 for every format and every size, a full disk, ``> /dev/full`` or an I/O
    error is a RuntimeFailure (exit 1). Its text falls back to ASCII equivalents where its encoding lacks a
    character. ``descriptor``: the file descriptor written, every byte (a pipe takes a large write in parts;
    the part after the reader left fails, where a text stream over the raw file would drop it silently).
    ``closed_at_start``: stdout was closed when the tool started (``>&-``): there is nowhere to write."""

    encoding = "utf-8"  # it accepts any text (see Fallback)

    def __init__(
        self,
        stream=None,
        closed_at_start: bool = False,
        descriptor: int | None = None,
        target_encoding: str | None = None,
    ) -> None:
        self._stream = stream
        self._descriptor = descriptor
        self._encoding = target_encoding
        self.closed_at_start = closed_at_start

    @property
    def target_encoding(self) -> str:
        return (
            self._encoding
            or getattr(self._stream, "target_encoding", None)
            or getattr(self._stream, "encoding", None)
            or "utf-8"
        )

    def isatty(self) -> bool:
        try:
            return os.isatty(self._descriptor) if self._descriptor is not None else bool(self._stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def fileno(self) -> int:
        if self._descriptor is None:
            return self._stream.fileno()
        return self._descriptor

    def _failed(self, error: OSError):
        from resnet_cli.base.errors import ClosedPipe, RuntimeFailure

        if isinstance(error, BrokenPipeError):
            return ClosedPipe()
        return RuntimeFailure(f"cannot write the result to stdout: {error.strerror or error}")

    def _check(self) -> None:
        if self.closed_at_start:
            from resnet_cli.base.errors import RuntimeFailure

            raise RuntimeFailure(
                "stdout is closed (started with >&-): there is nowhere to write the result; "
                "redirect it to a file or /dev/null instead"
            )

    def write(self, text: str) -> int:
        self._check()
        text = encodable(text, self.target_encoding)
        try:
            if self._descriptor is None:
                self._stream.write(text)
                return len(text)
            data = memoryview(text.encode(self.target_encoding, "replace"))
            while data:
                data = data[os.write(self._descriptor, data) :]
        except OSError as error:
            raise self._failed(error) from None
        return len(text)

    def flush(self) -> None:
        self._check()
        try:
            if self._descriptor is None:
                self._stream.flush()
        except OSError as error:
            raise self._failed(error) from None
        except ValueError:  # flushed after the stream was closed: nothing left to write
            pass

    def finish(self) -> None:
        """After the last write: a pipe whose reader left before reading it all is a closed pipe (141), as
        when a later write would have failed; the same for every format, however small the result."""
        if self._descriptor is None or self.closed_at_start:
            return
        try:
            import select

            poller = select.poll()
            poller.register(self._descriptor, select.POLLOUT)
            gone = any(events & select.POLLERR for _, events in poller.poll(0))
        except (OSError, AttributeError, ValueError):
            return
        if gone and _is_pipe(self._descriptor):
            from resnet_cli.base.errors import ClosedPipe

            raise ClosedPipe()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _is_pipe(descriptor: int) -> bool:
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(descriptor).st_mode)
    except OSError:
        return False


def _descriptor(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is a ValueError and an OSError
        return None


@contextlib.contextmanager
def results_kept():
    """Run the block with file descriptor 1 pointing at stderr (``dup2``) and results written to the real
    stdout through a ``ResultStream``: nothing the user's code writes — ``print``, ``os.write(1, …)``,
    ``sys.__stdout__``, a child process — can reach the result; fd 1 is restored when the block ends. Where
    stdout is no file descriptor (a test's StringIO, an embedding application) only ``sys.stdout`` is
    redirected."""
    stdout = sys.stdout
    closed = stdout is None or getattr(stdout, "resnet_cli_closed", False)
    if closed or _descriptor(stdout) != 1 or _descriptor(sys.stderr) is None:
        stream = ResultStream(stdout if stdout is not None else io.StringIO(), closed_at_start=closed)
        with results_to(stream), contextlib.redirect_stdout(sys.stderr):
            yield stream
        return
    stdout.flush()
    saved = os.dup(1)
    try:
        os.set_inheritable(saved, False)  # children of the user's code get fd 1 = stderr only
        encoding = getattr(stdout, "target_encoding", None) or stdout.encoding or "utf-8"
        stream = ResultStream(descriptor=saved, target_encoding=encoding)
        os.dup2(sys.stderr.fileno(), 1)
        try:
            with results_to(stream), contextlib.redirect_stdout(sys.stderr):
                yield stream
            stream.finish()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 1)
    finally:
        os.close(saved)


@contextlib.contextmanager
def results_to(stream):
    """Results are written to ``stream`` while the block runs (the entry point points sys.stdout at stderr
    meanwhile, so anything a user's model prints lands there, never inside a JSON document)."""
    _RESULTS.append(stream)
    try:
        yield
    finally:
        _RESULTS.pop()


def results_stream():
    return _RESULTS[-1] if _RESULTS else sys.stdout


def target_encoding() -> str:
    """The encoding the results are finally written in."""
    stream = results_stream()
    return getattr(stream, "target_encoding", None) or getattr(stream, "encoding", None) or "utf-8"
