"""Exceptions that carry a user-facing message and an exit code.

Everything a user may see is raised as an ``ExactlinkError``: the CLI prints ``message`` as one line
on stderr (never a traceback) and exits with ``exit_code``. Messages must never contain a token,
a secret, an authorization code or an unmasked BSN.
"""

from __future__ import annotations

from exactlink.exitcodes import ExitCode


class ExactlinkError(Exception):
    """Base class: a failure explained in plain words."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(ExactlinkError):
    """The configuration file or an environment variable is invalid."""

    exit_code = ExitCode.USAGE


class UnsafePermissions(ConfigError):
    """A file or directory exactlink would trust can be changed (or read) by another user: refused, exit 2."""


class UsageError(ExactlinkError):
    """A command was called with arguments that cannot work."""

    exit_code = ExitCode.USAGE


class LoginRequired(ExactlinkError):
    """There is no usable token: the user must run `exactlink login` (again)."""

    exit_code = ExitCode.LOGIN_REQUIRED


class LockHeld(ExactlinkError):
    """Another exactlink run holds the lock this command needs."""

    exit_code = ExitCode.LOCKED


class PartialFailure(ExactlinkError):
    """A bulk run finished, but some of its items failed."""

    exit_code = ExitCode.PARTIAL


class NotConfigured(ExactlinkError):
    """A setting the command needs (e.g. the office administration) is missing."""
