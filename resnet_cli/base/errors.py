"""The project's own error types: every expected failure is one of these, with a one-line message.

The entry point (``resnet_cli.cli.app.main``) maps them to one stderr line and their exit code.
"""

from __future__ import annotations

import os
import sys

from resnet_cli.base.text import shown


class ResnetCliError(Exception):
    """Base class: a failure the user can understand from one line."""

    exit_code = 1

    def for_command_line(self) -> str:
        """The message as the command line says it (options named as flags)."""
        return str(self)


class UsageError(ResnetCliError):
    """Bad input: an unknown name, a malformed value, conflicting flags (exit code 2)."""

    exit_code = 2


class OptionError(UsageError):
    """A bad value of a named option or field. The message names it as the caller wrote it: ``--stem-width`` on
    the command line, ``stem_width`` from Python. ``template`` spells each name as a placeholder: "{stem_width}"."""

    def __init__(self, template: str) -> None:
        self.template = template
        super().__init__(self.in_words(flags=False))

    def in_words(self, flags: bool) -> str:
        return self.template.format_map(_OptionNames(flags))

    def for_command_line(self) -> str:
        return self.in_words(flags=True)

    @staticmethod
    def literal(text: str) -> str:
        """Outside text (a module name) put into a template as it is, braces and all."""
        return text.replace("{", "{{").replace("}", "}}")


class _OptionNames(dict):
    def __init__(self, flags: bool) -> None:
        super().__init__()
        self.flags = flags

    def __missing__(self, name: str) -> str:
        return "--" + name.replace("_", "-") if self.flags else name


class RuntimeFailure(ResnetCliError):
    """The request was valid but could not be carried out (exit code 1)."""

    exit_code = 1


class UserCodeError(RuntimeFailure):
    """The user's own model code raised (or exited); the message carries what it did (exit code 1)."""

    exit_code = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a CI cancel, ``docker stop``), met like Ctrl-C: finished results are kept."""

    exit_code = 143


class ClosedPipe(Exception):
    """The reader of stdout went away (``resnet-cli … | head -1``): end silently, with BROKEN_PIPE_EXIT.

    Not an OSError on purpose: click turns an EPIPE OSError into a bare exit(1) of its own.
    """


INTERRUPTED_EXIT = 130  # 128 + SIGINT
BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE: what `cat` or `seq` give when the reader of the pipe goes away


def one_line(message: str) -> str:
    """A message as one line: newlines and other control characters escaped (``text.shown``, uncapped)."""
    return shown(str(message).strip(), None)


def error_line(message: str) -> None:
    sys.stderr.write(f"resnet-cli: error: {one_line(message)}\n")
    sys.stderr.flush()


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def report_unexpected(error: BaseException) -> ResnetCliError:
    """A bug of ours as a one-line runtime failure (RESNET_CLI_DEBUG=1 re-raises it with its traceback)."""
    if os.environ.get("RESNET_CLI_DEBUG"):
        raise error
    return RuntimeFailure(
        f"unexpected {type(error).__name__}: {first_line(error)} (set RESNET_CLI_DEBUG=1 for the traceback)"
    )
