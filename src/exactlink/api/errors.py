"""Failures of calls to Exact Online, in plain words.

Every exception here is an ``ExactlinkError`` so the CLI prints one line and exits with a code. The
ones derived from ``DivisionError`` concern a single administration: a run over many divisions
reports them per division and goes on with the others (see ``exactlink.api.concurrency``).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
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


class UnauthorizedKind(StrEnum):
    """What a 401's ``WWW-Authenticate`` reason says, as far as exactlink acts on it."""

    EXPIRED = "expired"
    """The access token expired: refresh it (once) and try again."""
    INVALID = "invalid"
    """The access token is not (or no longer) valid: only a newer stored token or a new login helps."""
    OTHER = "other"
    """Any other reason (e.g. "message expired"): not a login problem, so no refresh and no "log in again"."""
    UNSTATED = "unstated"
    """No reason given (or only RFC 6750's catch-all ``invalid_token``): treated as an expired token."""


@dataclass(frozen=True)
class UnauthorizedReason:
    """A 401's reason: its kind and Exact's own words (decoded, one line), when it gave any."""

    kind: UnauthorizedKind
    text: str | None = None


_AUTH_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_NOT_A_REASON = frozenset({"realm", "error", "scope", "error_uri"})
_INVALID_WORDS = ("invalid", "not valid", "revoked", "unknown")


def unauthorized_reason(header: str | None) -> UnauthorizedReason:
    """Read the reason Exact Online puts in a 401's ``WWW-Authenticate`` header (URL-encoded).

    Exact's exact header layout is not documented (exact-evidence.md §7), so both forms are read: a bare
    URL-encoded text (``access%20token%20expired``, optionally after ``Bearer``) and an RFC 6750 challenge
    whose ``error_description`` (or another non-standard parameter) carries the text.
    """
    if not header or not header.strip():
        return UnauthorizedReason(UnauthorizedKind.UNSTATED)
    value = header.strip()
    if value.lower().startswith("bearer"):
        value = value[len("bearer") :].strip()
    params = {match.group(1).lower(): match.group(2) or match.group(3) or "" for match in _AUTH_PARAM.finditer(value)}
    if params:
        raw = params.get("error_description") or next(
            (text for name, text in params.items() if name not in _NOT_A_REASON and text), ""
        )
    else:
        raw = value
    text = server_text(urllib.parse.unquote_plus(raw), limit=120)
    if not text:
        return UnauthorizedReason(UnauthorizedKind.UNSTATED)
    lowered = text.lower()
    if "token" in lowered and "expired" in lowered and "not expired" not in lowered:
        return UnauthorizedReason(UnauthorizedKind.EXPIRED, text)
    if "token" in lowered and any(word in lowered for word in _INVALID_WORDS):
        return UnauthorizedReason(UnauthorizedKind.INVALID, text)
    return UnauthorizedReason(UnauthorizedKind.OTHER, text)
