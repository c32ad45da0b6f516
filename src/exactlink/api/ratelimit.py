"""Per-division pacing from Exact Online's rate-limit headers.

Exact Online allows an app 60 calls a minute and (usually) 5,000 a day per administration, and tells
after every call how many are left (``X-RateLimit-Minutely-Remaining``, ``X-RateLimit-Remaining``)
and when the window resets (``…-Reset``, UTC epoch **milliseconds**). Before each call the limiter
checks what is left for that division, counting the calls still in flight: when the minute is used
up it waits until the reset, so a normal run never receives a 429. When the daily limit is used up
it raises :class:`RateLimitExhausted` with the time to try again.

The last headers seen per division are written to a small JSON file in the state directory, so
``exactlink status`` can show the budget left without calling Exact, and so the next exactlink process starts
from what is known (``RateLimiter(known=…)``) instead of blind: a command right after another one waits for
the minute the other used up instead of running into Exact's 429.

Processes that run *at the same time* share the budget of the administrations named ``live`` (the office
administration, whose 60 calls a minute every command spends) through :class:`SharedWindows`: one small file per
administration under a file lock, holding what is left of its minute and day. A call takes one from it before
it is sent (so calls in flight in any process count), and the answer's headers bring it back to what Exact
says. Two processes together therefore stay within the minute, and neither waits for a window the other
already knows has reset. Client administrations are not shared live: the hourly run works them under its run
lock, alone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exactlink.api.errors import RateLimitExhausted

log = logging.getLogger(__name__)

# Seconds added after a reset moment, against clock skew between us and Exact.
RESET_MARGIN = 1.0


@dataclass
class LimitState:
    """What the headers said about one division's limits (reset times in epoch seconds)."""

    minutely_limit: int | None = None
    minutely_remaining: int | None = None
    minutely_reset: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset: float | None = None
    seen_at: float | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _epoch_ms_header(headers: Mapping[str, str], name: str) -> float | None:
    value = _int_header(headers, name)
    return None if value is None else value / 1000.0


def division_key(division: int | None) -> str:
    """The key a division's state is kept under (``current`` for calls without a division)."""
    return "current" if division is None else str(division)


class RateLimiter:
    """Keeps each division under its minutely and daily limits.

    Args:
        clock: epoch seconds now (injectable for tests).
        sleep: how to wait (injectable for tests).
        max_wait: the longest single wait for a minutely reset, in seconds.
        known: the last states other runs recorded (``RateLimitLog.read()``); windows that have reset since
            are forgotten on first use, as the limiter's own are.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 65.0,
        known: Mapping[str, LimitState] | None = None,
        shared: SharedWindows | None = None,
        live: Iterable[int] = (),
    ) -> None:
        self._shared = shared
        self._live = {division_key(division) for division in live} if shared is not None else set()
        # What kind of work the calls are (``bulk``, ``hourly``, ``interactive``): counted per day in the live
        # windows, so ``status`` can show who spent the office administration's day.
        self.kind = "interactive"
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._states: dict[str, LimitState] = {key: LimitState(**asdict(state)) for key, state in (known or {}).items()}
        self._in_flight: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.waited_seconds = 0.0

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def acquire(self, division: int | None, endpoint: str | None = None) -> None:
        """Wait, if needed, until one more call to ``division`` fits in its limits; count it as in flight.

        Raises:
            RateLimitExhausted: the division's daily limit is used up.
        """
        key = division_key(division)
        if key in self._live:
            self._acquire_shared(key, division, endpoint)
            return
        with self._lock_for(key):
            state = self._states.get(key)
            in_flight = self._in_flight.get(key, 0)
            if state is not None:
                now = self._clock()
                if (
                    state.daily_remaining is not None
                    and state.daily_remaining - in_flight <= 0
                    and state.daily_reset is not None
                    and state.daily_reset > now
                ):
                    raise RateLimitExhausted(
                        division=division, endpoint=endpoint, retry_at=datetime.fromtimestamp(state.daily_reset, UTC)
                    )
                if state.minutely_reset is not None and now >= state.minutely_reset:
                    # A new minute has started; its budget is unknown until the next answer.
                    state.minutely_remaining = None
                    state.minutely_reset = None
                if state.minutely_remaining is not None and state.minutely_remaining - in_flight <= 0:
                    reset = state.minutely_reset if state.minutely_reset is not None else now + 60.0
                    self._wait(reset + RESET_MARGIN - now, key)
                    state.minutely_remaining = None
                    state.minutely_reset = None
            self._in_flight[key] = in_flight + 1

    def _acquire_shared(self, key: str, division: int | None, endpoint: str | None) -> None:
        """:meth:`acquire` for a division whose budget all processes share: take one call from the shared window."""
        assert self._shared is not None
        while True:
            with self._lock_for(key), self._shared.locked(key) as window:
                now = self._clock()
                state = window.state
                if (
                    state.daily_remaining is not None
                    and state.daily_remaining <= 0
                    and state.daily_reset is not None
                    and state.daily_reset > now
                ):
                    raise RateLimitExhausted(
                        division=division, endpoint=endpoint, retry_at=datetime.fromtimestamp(state.daily_reset, UTC)
                    )
                if state.minutely_reset is not None and now >= state.minutely_reset:
                    # A new minute: the whole limit, less the calls any process takes before Exact's next answer.
                    state.minutely_remaining = state.minutely_limit
                    state.minutely_reset = None
                if state.minutely_remaining is not None and state.minutely_remaining <= 0:
                    reset = state.minutely_reset if state.minutely_reset is not None else now + 60.0
                    wait = reset + RESET_MARGIN - now
                else:
                    if state.minutely_remaining is not None:
                        state.minutely_remaining -= 1
                    if state.daily_remaining is not None:
                        state.daily_remaining -= 1
                    window.count(self.kind, now)
                    window.changed = True
                    self._states[key] = LimitState(**asdict(state))
                    return
            self._wait(wait, key)  # outside the locks: the other processes go on meanwhile

    def release(self, division: int | None, headers: Mapping[str, str] | None = None) -> None:
        """The call to ``division`` finished; take the rate-limit headers of its answer into account."""
        key = division_key(division)
        if key in self._live:
            if headers is not None:
                self._release_shared(key, headers)
            return
        with self._lock_for(key):
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            if headers is not None:
                self._update(key, headers)

    def _release_shared(self, key: str, headers: Mapping[str, str]) -> None:
        """Bring the shared window to what Exact's answer says (the lower count within one window: calls other
        processes took since are in the stored one)."""
        assert self._shared is not None
        with self._lock_for(key), self._shared.locked(key) as window:
            state = window.state
            # Counts taken from an assumed fresh window (its reset not known yet) are compared with Exact's first
            # answer in it like any other count of the same window: the lower one wins.
            if state.minutely_reset is None and state.minutely_remaining is not None:
                state.minutely_reset = _epoch_ms_header(headers, "X-RateLimit-Minutely-Reset")
            self._states[key] = state
            self._update(key, headers)
            window.state = self._states[key]
            window.changed = True
            self._states[key] = LimitState(**asdict(window.state))

    def _update(self, key: str, headers: Mapping[str, str]) -> None:
        minutely_remaining = _int_header(headers, "X-RateLimit-Minutely-Remaining")
        daily_remaining = _int_header(headers, "X-RateLimit-Remaining")
        if minutely_remaining is None and daily_remaining is None:
            return
        state = self._states.setdefault(key, LimitState())
        state.seen_at = self._clock()
        if minutely_remaining is not None:
            reset = _epoch_ms_header(headers, "X-RateLimit-Minutely-Reset")
            if reset is not None and reset == state.minutely_reset and state.minutely_remaining is not None:
                # Answers within one window can arrive out of order; the lowest count is the newest.
                minutely_remaining = min(minutely_remaining, state.minutely_remaining)
            state.minutely_remaining = minutely_remaining
            state.minutely_reset = reset
            state.minutely_limit = _int_header(headers, "X-RateLimit-Minutely-Limit") or state.minutely_limit
        if daily_remaining is not None:
            reset = _epoch_ms_header(headers, "X-RateLimit-Reset")
            if reset is not None and reset == state.daily_reset and state.daily_remaining is not None:
                daily_remaining = min(daily_remaining, state.daily_remaining)
            state.daily_remaining = daily_remaining
            state.daily_reset = reset
            state.daily_limit = _int_header(headers, "X-RateLimit-Limit") or state.daily_limit

    def after_429(self, division: int | None, headers: Mapping[str, str], endpoint: str | None = None) -> None:
        """Exact answered 429: wait until the reset its headers give, or stop when the day is used up.

        Call this instead of :meth:`release` for a 429 answer; the caller then retries the call.

        Raises:
            RateLimitExhausted: the daily limit is used up.
        """
        key = division_key(division)
        if key in self._live:
            self._release_shared(key, headers)
        with self._lock_for(key):
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            if key not in self._live:
                self._update(key, headers)
            state = self._states.setdefault(key, LimitState())
            now = self._clock()
            daily_out = state.daily_remaining is not None and state.daily_remaining <= 0
            if daily_out and state.daily_reset is not None and state.daily_reset > now + self._max_wait:
                raise RateLimitExhausted(
                    division=division, endpoint=endpoint, retry_at=datetime.fromtimestamp(state.daily_reset, UTC)
                )
            reset = state.minutely_reset if state.minutely_remaining is not None else None
            if daily_out and state.daily_reset is not None:
                reset = state.daily_reset
            if reset is None:
                retry_after = _int_header(headers, "Retry-After")
                reset = now + (retry_after if retry_after is not None else 60.0)
            self._wait(reset + RESET_MARGIN - now, key)
            state.minutely_remaining = None
            state.minutely_reset = None

    def _wait(self, seconds: float, key: str) -> None:
        seconds = min(max(seconds, 0.5), self._max_wait)
        log.info("pacing division %s: waiting %.1f s for the rate limit to reset", key, seconds)
        self.waited_seconds += seconds
        self._sleep(seconds)

    def states(self) -> dict[str, LimitState]:
        """A copy of the last state seen per division key."""
        with self._guard:
            return {key: LimitState(**asdict(state)) for key, state in self._states.items()}


@dataclass
class _Window:
    state: LimitState
    used: dict[str, Any]
    changed: bool = False

    def count(self, kind: str, now: float) -> None:
        """One call of ``kind`` today (UTC day, as Exact's day limit counts)."""
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        if self.used.get("day") != day:
            self.used = {"day": day, "by_kind": {}}
        by_kind = self.used.setdefault("by_kind", {})
        by_kind[kind] = int(by_kind.get(kind, 0)) + 1


class SharedWindows:
    """The live minute and day of some administrations, shared by every exactlink process on the machine.

    One small JSON file per administration in ``directory``, read and written under a file lock, so taking a
    call is one short critical section.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def locked(self, key: str) -> Iterator[_Window]:
        """The administration's window, locked against every other process; written back when changed."""
        from filelock import FileLock

        from exactlink.paths import write_private_atomically

        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{key}.json"
        with FileLock(str(self.directory / f"{key}.lock"), timeout=30, mode=0o600):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            data = data if isinstance(data, dict) else {}
            known = {name: data.get(name) for name in LimitState.__dataclass_fields__}
            used = data.get("used")
            window = _Window(LimitState(**known), dict(used) if isinstance(used, dict) else {})
            yield window
            if window.changed:
                payload = {**asdict(window.state), "used": window.used}
                write_private_atomically(path, json.dumps(payload).encode("utf-8"))

    def used_today(self, key: str, now: float) -> dict[str, int]:
        """Calls per kind of work made today on the administration (empty when none or not shared)."""
        try:
            data = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        used = data.get("used") if isinstance(data, dict) else None
        if not isinstance(used, dict) or used.get("day") != datetime.fromtimestamp(now, UTC).date().isoformat():
            return {}
        return {str(kind): int(count) for kind, count in (used.get("by_kind") or {}).items()}


class RateLimitLog:
    """The last rate-limit headers seen per division, shared by all runs (a JSON file + a file lock)."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path

    def read(self) -> dict[str, LimitState]:
        """Every division's last known state (empty when nothing was recorded)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        states: dict[str, LimitState] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                known = {name: value.get(name) for name in LimitState.__dataclass_fields__}
                states[str(key)] = LimitState(**known)
        return states

    def record(self, states: Mapping[str, LimitState]) -> None:
        """Merge ``states`` into the file (newer ``seen_at`` wins), atomically and under the lock."""
        if not states:
            return
        from filelock import FileLock

        from exactlink.paths import write_private_atomically

        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(str(self.lock_path), timeout=30, mode=0o600):
            merged = self.read()
            for key, state in states.items():
                previous = merged.get(key)
                if previous is None or (previous.seen_at or 0) <= (state.seen_at or 0):
                    merged[key] = state
            payload: dict[str, Any] = {key: asdict(state) for key, state in sorted(merged.items())}
            write_private_atomically(self.path, json.dumps(payload, indent=1).encode("utf-8"))
