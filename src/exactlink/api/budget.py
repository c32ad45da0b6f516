"""Exact Online's error budget, counted across runs, and the retry policy that respects it.

Exact Online blocks an app for an hour (escalating) when it makes more than 10 failed calls per
endpoint per administration within an hour. Retrying blindly after 5xx answers or time-outs can get
the whole office's app blocked, so every failed call is recorded in a JSON file in the state
directory (guarded by a file lock, so cron runs and interactive runs share one count), and before a
call the budget is checked: when one more failure could cross the limit, work on that division stops
with :class:`ErrorBudgetExhausted` and the run goes on with the other divisions.

Retry policy (see :func:`is_retryable`): GET, PUT and DELETE are idempotent and are retried after
5xx answers, time-outs and dropped connections, with exponential backoff and jitter. A POST is
retried only when the request certainly never reached Exact (the connection could not be opened)
or Exact refused it with 429: after a 5xx or a time-out the entity may have been created anyway, and
a blind retry would create it twice. Callers make POSTs idempotent by looking first (e.g. GET the
SolutionLink before creating one).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from exactlink.api.errors import ErrorBudgetExhausted, division_label

EXACT_ERROR_LIMIT = 10
WINDOW_SECONDS = 3600.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})

_KEY_SUFFIX = re.compile(r"\(.*\)$")


def endpoint_name(path: str) -> str:
    """The endpoint a failure counts against: the path without query and without an entity key.

    ``crm/Accounts(guid'…')`` → ``crm/Accounts``; ``/api/v1/123/crm/Accounts?$select=ID`` → ``crm/Accounts``.
    """
    path = path.split("?", 1)[0].strip("/")
    if path.startswith("api/v1/"):
        rest = path[len("api/v1/") :]
        head, _, tail = rest.partition("/")
        path = tail if head.isdigit() else rest
    return _KEY_SUFFIX.sub("", path)


def is_retryable(method: str, failure: BaseException | int) -> bool:
    """Whether a failed call may be repeated (see the module docstring for why POST is different).

    Args:
        method: the HTTP method.
        failure: the transport exception, or the HTTP status of the answer.
    """
    method = method.upper()
    if isinstance(failure, int):
        if failure == 429:
            return True
        return failure >= 500 and method in IDEMPOTENT_METHODS
    if isinstance(failure, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True  # the request never left this machine
    if isinstance(failure, (httpx.TimeoutException, httpx.TransportError)):
        return method in IDEMPOTENT_METHODS
    return False


class Backoff:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4 … seconds, capped."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        cap: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return ceiling / 2 + self._rng() * ceiling / 2

    def wait(self, attempt: int) -> float:
        """Sleep before retry number ``attempt``; returns the seconds slept."""
        seconds = self.delay(attempt)
        self._sleep(seconds)
        return seconds


class ErrorBudget:
    """Failed calls per (division, endpoint) in a rolling hour, persisted across runs.

    Args:
        path: the JSON file shared by all runs; ``None`` keeps the count in memory only.
        lock_path: the file lock guarding ``path``.
        limit: Exact's limit of failed calls per endpoint per division per hour.
        window: the rolling window in seconds.
        clock: epoch seconds now (injectable for tests).
    """

    def __init__(
        self,
        path: Path | None = None,
        lock_path: Path | None = None,
        *,
        limit: int = EXACT_ERROR_LIMIT,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.lock_path = lock_path or (path.with_name(path.name + ".lock") if path else None)
        self.limit = limit
        self.window = window
        self._clock = clock
        self._memory: dict[str, list[float]] = {}
        self._cache_signature: tuple[int, int, int] | None = None
        self._in_flight: dict[str, int] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _key(division: int | None, endpoint: str) -> str:
        return f"{division_label(division)}|{endpoint}"

    def begin(self, division: int | None, endpoint: str) -> None:
        """Before a call: refuse it when one more failure could exceed the limit; else count it in flight.

        Raises:
            ErrorBudgetExhausted: the division has used up its error budget for ``endpoint``.
        """
        key = self._key(division, endpoint)
        with self._guard:
            recent = self._recent(self._load().get(key, []))
            in_flight = self._in_flight.get(key, 0)
            if len(recent) + in_flight >= self.limit:
                retry_at = datetime.fromtimestamp(min(recent) + self.window, UTC) if recent else None
                raise ErrorBudgetExhausted(
                    division=division, endpoint=endpoint, failures=len(recent), retry_at=retry_at
                )
            self._in_flight[key] = in_flight + 1

    def end(self, division: int | None, endpoint: str, *, failed: bool) -> None:
        """After a call: record it as failed (persisted) or just stop counting it in flight."""
        key = self._key(division, endpoint)
        with self._guard:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            if failed:
                self._record(key)

    def failures(self, division: int | None, endpoint: str) -> int:
        """Failed calls to ``endpoint`` of ``division`` within the window (all runs)."""
        with self._guard:
            return len(self._recent(self._load().get(self._key(division, endpoint), [])))

    def snapshot(self) -> dict[str, int]:
        """``{"division|endpoint": failures in the window}`` for every key with a recent failure."""
        with self._guard:
            counts = {key: len(self._recent(times)) for key, times in self._load().items()}
        return {key: count for key, count in counts.items() if count}

    def _recent(self, times: list[float]) -> list[float]:
        cutoff = self._clock() - self.window
        return [moment for moment in times if moment > cutoff]

    def _load(self) -> dict[str, list[float]]:
        if self.path is None:
            return self._memory
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._memory = {}
            self._cache_signature = None
            return self._memory
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature != self._cache_signature:
            self._memory = self._read_file()
            self._cache_signature = signature
        return self._memory

    def _read_file(self) -> dict[str, list[float]]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(key): [float(moment) for moment in value if isinstance(moment, (int, float))]
            for key, value in data.items()
            if isinstance(value, list)
        }

    def _record(self, key: str) -> None:
        now = self._clock()
        if self.path is None:
            self._memory[key] = [*self._recent(self._memory.get(key, [])), now]
            return
        from filelock import FileLock

        from exactlink.paths import write_private_atomically

        assert self.lock_path is not None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with FileLock(str(self.lock_path), timeout=30, mode=0o600):
            data = self._read_file()
            data[key] = [*self._recent(data.get(key, [])), now]
            data = {name: times for name, times in ((k, self._recent(v)) for k, v in data.items()) if times}
            write_private_atomically(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
            self._memory = data
            stat = self.path.stat()
            self._cache_signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
