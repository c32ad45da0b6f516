"""Failures of calls to Exact Online, in plain words.

Every exception here is an ``ExactlinkError`` so the CLI prints one line and exits with a code. The
ones derived from ``DivisionError`` concern a single administration: a run over many divisions
reports them per division and goes on with the others (see ``exactlink.api.concurrency``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from exactlink.errors import ExactlinkError

# The 403 ``Reason`` header values Exact Online documents, as sentences. ``{division}`` is filled in.
FORBIDDEN_REASONS: dict[str, str] = {
    "NoDivisionAccess": ("this login has no access to {administration} (or the app was not given consent for it)"),
    "WrongDivision": "{administration} is not accessible to this login",
    "LicenseExpired": "the Exact Online licence of {administration} has expired",
    "BlockedUser": "this Exact Online user is blocked",
    "InactiveUser": "this Exact Online user is inactive",
    "BlockedCustomer": "the Exact Online customer (licence holder) is blocked",
    "DivisionBlocked": "{administration} is blocked in Exact Online",
    "TooManyErrors": (
        "Exact Online blocked this app for {administration} after too many failed calls; "
        "wait an hour before trying again"
    ),
}


def division_label(division: int | None) -> str:
    """A division as a short key (logs, the error-budget file): its code, or ``current`` for ``current/Me``.

    ``current`` is also the key of ``current/Me``'s rate-limit state (``ratelimit.division_key``).
    """
    return "current" if division is None else str(division)


def administration(division: int | None) -> str:
    """A division as messages name it: ``administration 123``, or the current one for ``current/Me``."""
    return "the current administration" if division is None else f"administration {division}"


class ApiError(ExactlinkError):
    """Exact Online answered with an error (the message is Exact's own text when it sent one)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        division: int | None = None,
        endpoint: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.division = division
        self.endpoint = endpoint


class DivisionError(ApiError):
    """A failure that stops work on one division; a multi-division run goes on with the others."""


class ForbiddenError(DivisionError):
    """HTTP 403; ``reason`` is Exact's ``Reason`` header (e.g. ``NoDivisionAccess``)."""

    def __init__(self, message: str, *, reason: str | None, division: int | None, endpoint: str | None) -> None:
        super().__init__(message, status=403, division=division, endpoint=endpoint)
        self.reason = reason


class RateLimitExhausted(DivisionError):
    """The daily call limit of a division is used up; ``retry_at`` says when it resets."""

    def __init__(self, *, division: int | None, endpoint: str | None, retry_at: datetime | None) -> None:
        when = retry_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if retry_at else "tomorrow"
        super().__init__(
            f"the daily Exact Online API limit for {administration(division)} is used up; try again after {when}",
            status=429,
            division=division,
            endpoint=endpoint,
        )
        self.retry_at = retry_at


class ErrorBudgetExhausted(DivisionError):
    """Another failed call could make Exact block the app, so work on this division stops."""

    def __init__(self, *, division: int | None, endpoint: str, failures: int, retry_at: datetime | None) -> None:
        when = retry_at.astimezone(UTC).strftime("%H:%M UTC") if retry_at else "in an hour"
        super().__init__(
            f"stopped {administration(division)}: {failures} failed calls to {endpoint} in the "
            f"last hour (Exact Online blocks an app after 10); try again after {when}",
            division=division,
            endpoint=endpoint,
        )
        self.failures = failures
        self.retry_at = retry_at


class TransientApiError(DivisionError):
    """The call kept failing (5xx, time-outs, dropped connections) after the allowed retries."""


SERVER_TEXT_LIMIT = 300
"""The most of a server's own error text that goes into a message (it can be any length)."""


def server_text(value: object, limit: int = SERVER_TEXT_LIMIT) -> str | None:
    """A server's error text fit for one message line: whitespace runs collapsed, at most ``limit`` characters.

    Control characters are left to the terminal layer (``exactlink.console.neutralise``), which shows them.
    """
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if len(text) > limit:
        text = text[:limit] + f" … ({len(text) - limit} more characters)"
    return text or None


def exact_error_message(body: bytes | str | None) -> str | None:
    """Exact's ``error.message.value`` (or an OAuth ``error_description``) from an error body, if any, shortened
    by :func:`server_text`."""
    if not body:
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        if isinstance(message, dict) and isinstance(message.get("value"), str):
            return server_text(message["value"])
        if isinstance(message, str):
            return server_text(message)
    return server_text(data.get("error_description"))


def forbidden_message(reason: str | None, division: int | None, exact_text: str | None) -> str:
    """The sentence for a 403, from the ``Reason`` header, else Exact's own text."""
    label = administration(division)
    if reason and reason in FORBIDDEN_REASONS:
        return FORBIDDEN_REASONS[reason].format(administration=label)
    if exact_text:
        if "Application Scope Violated" in exact_text:
            return (
                f"the app's scopes in the Exact App Center do not allow this call ({exact_text}); "
                "add the scope to the app registration and log in again"
            )
        return f"Exact Online refused access to {label}: {exact_text}"
    if reason:
        return f"Exact Online refused access to {label} (reason: {reason})"
    return f"Exact Online refused access to {label}"
