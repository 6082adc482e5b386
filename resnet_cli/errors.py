"""The project's own error types: every expected failure is one of these, with a one-line message.

The CLI's single error boundary (``resnet_cli.cli``) maps them to stderr and an exit code.
"""

from __future__ import annotations


class ResnetCliError(Exception):
    """Base class: a failure the user can understand from one line."""

    exit_code = 1


class UsageError(ResnetCliError):
    """Bad input: an unknown name, a malformed value, conflicting flags (exit code 2)."""

    exit_code = 2


class RuntimeFailure(ResnetCliError):
    """The request was valid but could not be carried out (exit code 1)."""

    exit_code = 1


class UserCodeError(RuntimeFailure):
    """The user's own model code raised; the message carries their exception (exit code 1)."""

    exit_code = 1
