"""Exact Online's error budget, counted across runs, and the retry policy that respects it.

Exact Online blocks an app for an hour (escalating) when it makes more than 10 failed calls per
endpoint per administration within an hour. Retrying blindly after 5xx answers or time-outs can get
the whole office's app blocked, so every failed call is recorded in a JSON file in the state
directory (guarded by a file lock, so cron runs and interactive runs share one count), and before a
call the budget is checked: when one more failure could cross the limit, work on that division stops
with :class:`ErrorBudgetExhausted` and the run goes on with the other divisions.

Calls still in flight count too, in every process: several runs at once during an outage (cron, an
interactive command, a direct sync) would otherwise each see room for one more failure and together
overshoot, and Exact would block the app for everyone. So a call holds a *slot* of its (division,
endpoint) from before it is sent until its outcome is recorded: a byte-range lock in a shared file, which
the kernel drops the moment a process dies (kill -9 included). A call waits while failures plus the slots
held by every run fill the budget, and is refused once failures alone do. Without POSIX record locks
(Windows) only the calls of the own process are counted.

Retry policy (see :func:`is_retryable`): GET, PUT and DELETE are idempotent and are retried after
5xx answers, time-outs and dropped connections, with exponential backoff and jitter. A POST is
retried only when the request certainly never reached Exact (the connection could not be opened)
or Exact refused it with 429: after a 5xx or a time-out the entity may have been created anyway, and
a blind retry would create it twice. Callers make POSTs idempotent by looking first (e.g. GET the
SolutionLink before creating one).
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx

from exactlink.api.errors import ErrorBudgetExhausted, division_label

try:
    import fcntl
except ImportError:  # Windows: no POSIX record locks
    fcntl = None  # type: ignore[assignment]

EXACT_ERROR_LIMIT = 10
WINDOW_SECONDS = 3600.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# How long a call waits for other runs' calls to the same endpoint to finish, and how often it looks.
SLOT_WAIT_SECONDS = 120.0
SLOT_POLL_SECONDS = 0.05

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


# 501 Not Implemented and 505 HTTP Version Not Supported answer the same on every try: repeating them only spends
# calls of the minute and errors of the hour.
_PERMANENT_SERVER_ANSWERS = frozenset({501, 505})


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
        return failure >= 500 and failure not in _PERMANENT_SERVER_ANSWERS and method in IDEMPOTENT_METHODS
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
        path: the JSON file shared by all runs; ``None`` keeps the count (and the calls in flight) in this
            process only. The slots of the calls in flight live next to it (``error-budget.slots``).
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
        self._slots: dict[str, list[int]] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _key(division: int | None, endpoint: str) -> str:
        return f"{division_label(division)}|{endpoint}"

    def begin(self, division: int | None, endpoint: str) -> None:
        """Before a call: refuse it when one more failure could exceed the limit; else count it in flight.

        With a shared file the call also takes a slot that other runs see; while failures plus the calls
        in flight of every run fill the budget, this waits (up to ``SLOT_WAIT_SECONDS``) for those calls.

        Raises:
            ErrorBudgetExhausted: the division has used up its error budget for ``endpoint``.
        """
        key = self._key(division, endpoint)
        with self._guard:
            recent = self._recent(self._load().get(key, []))
            in_flight = self._in_flight.get(key, 0)
            if len(recent) + in_flight >= self.limit:
                raise self._exhausted(division, endpoint, recent)
            self._in_flight[key] = in_flight + 1
        slots = _SharedSlots.for_file(self.path.with_suffix(".slots")) if self.path else None
        if slots is None:
            return
        try:
            slot = self._take_slot(slots, key, division, endpoint)
        except _SlotsUnavailable:
            return  # the file system has no record locks: count this process's calls only, as without a file
        except BaseException:
            with self._guard:
                self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            raise
        with self._guard:
            self._slots.setdefault(key, []).append(slot)

    def end(self, division: int | None, endpoint: str, *, failed: bool) -> None:
        """After a call: record it as failed (persisted) or just stop counting it in flight."""
        key = self._key(division, endpoint)
        with self._guard:
            self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
            held = self._slots.get(key)
            slot = held.pop() if held else None
            if failed:
                self._record(key)
        if slot is not None and self.path is not None:
            # Only now, with the failure on file: a run that finds the slot free also finds the failure.
            slots = _SharedSlots.for_file(self.path.with_suffix(".slots"))
            if slots is not None:
                slots.release(key, slot, self.limit)

    def _take_slot(self, slots: _SharedSlots, key: str, division: int | None, endpoint: str) -> int:
        deadline = time.monotonic() + SLOT_WAIT_SECONDS
        while True:
            slot, busy = slots.take(key, self.limit)
            # Read after taking the slot: a run that freed a slot had recorded its failure before.
            recent = self._recent(self._read_file().get(key, []))
            if slot is not None and len(recent) + busy <= self.limit:
                return slot
            if slot is not None:
                slots.release(key, slot, self.limit)
            if len(recent) >= self.limit or time.monotonic() > deadline:
                raise self._exhausted(division, endpoint, recent)
            time.sleep(SLOT_POLL_SECONDS)

    def _exhausted(self, division: int | None, endpoint: str, recent: list[float]) -> ErrorBudgetExhausted:
        retry_at = datetime.fromtimestamp(min(recent) + self.window, UTC) if recent else None
        return ErrorBudgetExhausted(division=division, endpoint=endpoint, failures=len(recent), retry_at=retry_at)

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


class _SlotsUnavailable(Exception):
    """The slots file cannot be locked here (e.g. a network file system without lock support)."""


class _SharedSlots:
    """Per key, numbered slots (0 … limit-1) that processes hold with POSIX byte-range locks on one file.

    A held slot is a call in flight. The kernel drops a process's locks when it dies, so a killed run
    never keeps a slot. POSIX locks belong to a process, not to a thread: which slots this process's
    threads hold is tracked here, and there is one instance per file and process, because closing any
    descriptor of the file would drop every lock the process holds on it.
    """

    _instances: ClassVar[dict[tuple[int, str], _SharedSlots]] = {}
    _instances_lock = threading.Lock()
    BUCKETS = 1 << 16  # keys hash into buckets; two keys sharing one only makes both more careful

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held: set[int] = set()  # byte offsets this process has locked
        self._lock = threading.Lock()

    @classmethod
    def for_file(cls, path: Path) -> _SharedSlots | None:
        """The process's instance for ``path`` (``None`` where POSIX record locks do not exist)."""
        if fcntl is None:
            return None
        key = (os.getpid(), str(path))  # a forked child holds none of its parent's locks: its own instance
        with cls._instances_lock:
            instance = cls._instances.get(key)
            if instance is None:
                try:
                    instance = cls._instances[key] = cls(path)
                except OSError:
                    return None
            return instance

    def _offset(self, key: str, slot: int, limit: int) -> int:
        return (zlib.crc32(key.encode("utf-8")) % self.BUCKETS) * limit + slot

    def take(self, key: str, limit: int) -> tuple[int | None, int]:
        """Take a free slot of ``key``; returns it (or ``None``) and how many slots are busy with it counted."""
        with self._lock:
            taken: int | None = None
            busy = 0
            for slot in range(limit):
                offset = self._offset(key, slot, limit)
                if offset in self._held:
                    busy += 1  # a call of this process
                    continue
                try:
                    fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
                except OSError as problem:
                    if problem.errno not in (errno.EAGAIN, errno.EACCES):
                        raise _SlotsUnavailable(str(problem)) from None
                    busy += 1  # a call of another process
                    continue
                if taken is None:
                    taken = slot
                    self._held.add(offset)
                    busy += 1
                else:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)
            return taken, busy

    def release(self, key: str, slot: int, limit: int) -> None:
        """Give a slot back (its call has ended and its outcome is recorded)."""
        offset = self._offset(key, slot, limit)
        with self._lock:
            self._held.discard(offset)
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)
