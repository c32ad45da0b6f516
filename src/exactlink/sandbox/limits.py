"""Exact Online's API limits, per app (client ID) and division, on the sandbox clock.

Rate limits (exact-api.md §2): ``minutely_limit`` calls (60) in fixed minute windows and ``daily_limit``
calls (5,000) per UTC day. Every answer carries ``X-RateLimit-Limit/-Remaining/-Reset`` (daily) and
``X-RateLimit-Minutely-Limit/-Remaining/-Reset``; resets are UTC epoch milliseconds. A call past a limit
is answered 429 and does not count; a minutely 429 carries only the minutely headers, a daily 429 only
the daily ones (as Exact does).

Error budget: more than ``max_errors`` (10) failed calls (400/401/403/404 and 5xx) to one endpoint of
one division by one app within a rolling hour block that endpoint for an hour from the failure that
crossed the line. The sandbox answers a blocked endpoint with 403, header ``Reason: TooManyErrors`` and
an Exact-style error body; those 403s do not count as new failures.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

LimitKey = tuple[str, int]  # (client_id, division)
BudgetKey = tuple[str, int, str]  # (client_id, division, endpoint)

_DAY = 86_400
_MINUTE = 60


@dataclass
class _Usage:
    minute_start: float = -1.0
    minute_calls: int = 0
    day_start: float = -1.0
    day_calls: int = 0


@dataclass(frozen=True)
class Admission:
    """The outcome of one call against the rate limits, with the headers to send."""

    allowed: bool
    headers: dict[str, str]
    exceeded: str | None = None  # "minutely" or "daily" when refused


class RateLimiter:
    """Fixed-window minutely and daily call counters per (client_id, division)."""

    def __init__(self, minutely_limit: int = 60, daily_limit: int = 5000) -> None:
        self.minutely_limit = minutely_limit
        self.daily_limit = daily_limit
        self._usage: dict[LimitKey, _Usage] = {}

    def _current(self, key: LimitKey, now: float) -> _Usage:
        usage = self._usage.setdefault(key, _Usage())
        minute_start = now - now % _MINUTE
        if usage.minute_start != minute_start:
            usage.minute_start, usage.minute_calls = minute_start, 0
        day_start = now - now % _DAY
        if usage.day_start != day_start:
            usage.day_start, usage.day_calls = day_start, 0
        return usage

    def admit(self, key: LimitKey, now: float) -> Admission:
        """Count one call if both limits allow it; otherwise refuse it (uncounted) with 429 headers."""
        usage = self._current(key, now)
        if usage.day_calls >= self.daily_limit:
            return Admission(False, self._daily_headers(usage), "daily")
        if usage.minute_calls >= self.minutely_limit:
            return Admission(False, self._minutely_headers(usage), "minutely")
        usage.minute_calls += 1
        usage.day_calls += 1
        return Admission(True, {**self._daily_headers(usage), **self._minutely_headers(usage)})

    def peek(self, key: LimitKey, now: float) -> dict[str, str]:
        """The current headers without counting a call."""
        usage = self._current(key, now)
        return {**self._daily_headers(usage), **self._minutely_headers(usage)}

    def burst_headers(self, now: float, reset_seconds: float) -> dict[str, str]:
        """Minutely headers of an injected 429 burst: nothing left, reset ``reset_seconds`` from now."""
        return {
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Remaining": "0",
            "X-RateLimit-Minutely-Reset": str(int((now + reset_seconds) * 1000)),
        }

    def calls_this_minute(self, client_id: str, division: int, now: float) -> int:
        """Calls counted in the current minute window (for tests and benchmarks)."""
        return self._current((client_id, division), now).minute_calls

    def reset(self) -> None:
        """Forget all usage."""
        self._usage.clear()

    def _daily_headers(self, usage: _Usage) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(self.daily_limit - usage.day_calls, 0)),
            "X-RateLimit-Reset": str(int((usage.day_start + _DAY) * 1000)),
        }

    def _minutely_headers(self, usage: _Usage) -> dict[str, str]:
        return {
            "X-RateLimit-Minutely-Limit": str(self.minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(max(self.minutely_limit - usage.minute_calls, 0)),
            "X-RateLimit-Minutely-Reset": str(int((usage.minute_start + _MINUTE) * 1000)),
        }


class ErrorBudget:
    """Failed calls per (client_id, division, endpoint) in a rolling hour, and the endpoints they blocked."""

    def __init__(self, max_errors: int = 10, window_seconds: float = 3600.0, block_seconds: float = 3600.0) -> None:
        self.max_errors = max_errors
        self.window_seconds = window_seconds
        self.block_seconds = block_seconds
        self._failures: dict[BudgetKey, deque[float]] = {}
        self._blocked_until: dict[BudgetKey, float] = {}

    def blocked_until(self, key: BudgetKey, now: float) -> float | None:
        """When the block on ``key`` ends, or None when it is not blocked."""
        until = self._blocked_until.get(key)
        if until is None:
            return None
        if now >= until:
            del self._blocked_until[key]
            return None
        return until

    def record_failure(self, key: BudgetKey, now: float) -> None:
        """Count a failed call; the one that makes it more than ``max_errors`` in the window blocks the endpoint."""
        failures = self._failures.setdefault(key, deque())
        failures.append(now)
        self._expire(failures, now)
        if len(failures) > self.max_errors:
            self._blocked_until[key] = now + self.block_seconds

    def counts(self, now: float) -> dict[BudgetKey, int]:
        """Failed calls per key within the rolling window (keys with none are left out)."""
        result: dict[BudgetKey, int] = {}
        for key, failures in self._failures.items():
            self._expire(failures, now)
            if failures:
                result[key] = len(failures)
        return result

    def blocked(self, now: float) -> dict[BudgetKey, float]:
        """Currently blocked keys and the epoch second each block ends."""
        return {key: until for key, until in list(self._blocked_until.items()) if self.blocked_until(key, now)}

    def reset(self) -> None:
        """Forget all failures and blocks."""
        self._failures.clear()
        self._blocked_until.clear()

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
