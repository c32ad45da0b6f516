"""Work on many divisions at once, each within its own limits, collecting per-division failures.

The hourly run touches hundreds of client administrations. Each has its own 60 calls/minute, so
they are worked on concurrently in a thread pool (``exact.max_concurrent_divisions``), while the
shared ``ExactClient`` paces every division separately. A failure that concerns one division (an
``ExactlinkError`` such as no access, budget used up, Exact kept failing) is collected and the others
go on; ``LoginRequired`` concerns all of them, so it cancels the rest and is raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from exactlink.errors import ExactlinkError, LoginRequired

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class DivisionOutcomes(Generic[T]):
    """What happened per division: ``results`` for the ones that worked, ``failures`` for the others."""

    results: dict[int, T] = field(default_factory=dict)
    failures: dict[int, ExactlinkError] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no division failed."""
        return not self.failures

    def failure_lines(self) -> list[str]:
        """One line per failed division, for the run summary."""
        return [f"administration {division}: {error.message}" for division, error in sorted(self.failures.items())]


class _NotStarted(Exception):
    """A division left alone because the run is stopping."""


class _Gate:
    """Lets at most ``limit()`` divisions run at once; ``limit`` is asked again each time one wants to start."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._running = 0
        self._changed = threading.Condition()

    @contextmanager
    def slot(self, stop: threading.Event) -> Iterator[None]:
        with self._changed:
            while self._running >= max(1, self._limit()) and not stop.is_set():
                self._changed.wait(0.05)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()


def each_division_done(
    divisions: Iterable[int], work: Callable[[int], T], *, max_workers: int | Callable[[], int] = 8, most: int = 32
) -> Iterator[tuple[int, T | None, ExactlinkError | None]]:
    """Run ``work(division)`` in a thread pool and yield ``(division, value, error)`` in the calling thread.

    Results arrive as they finish, so the caller can write each one to its database connection (which
    belongs to its thread) while the others are still being read. A failure that concerns one division (an
    ``ExactlinkError``) is yielded as its ``error``; ``LoginRequired`` and programming errors are raised. When
    the caller stops early (an exception, Ctrl-C, closing the generator) the divisions not started yet are
    not started, and the running ones are waited for.

    Args:
        divisions: the division codes (duplicates are worked on once).
        work: the per-division job (runs in a worker thread; no database).
        max_workers: how many divisions at once: a number, or a function asked each time a division is about to
            start (so a run can widen as it measures its pace), at most ``most``.
    """
    unique = list(dict.fromkeys(divisions))
    if not unique:
        return
    stop = threading.Event()
    gate = _Gate(max_workers) if callable(max_workers) else None
    threads = most if gate is not None else int(max_workers)  # type: ignore[arg-type]

    def run(division: int) -> T:
        if stop.is_set():
            raise _NotStarted
        if gate is None:
            return work(division)
        with gate.slot(stop):
            if stop.is_set():
                raise _NotStarted
            return work(division)

    pool = ThreadPoolExecutor(max_workers=max(1, min(threads, len(unique))), thread_name_prefix="division")
    futures = {pool.submit(run, division): division for division in unique}
    try:
        for future in as_completed(futures):
            division = futures[future]
            try:
                value = future.result()
            except _NotStarted:
                continue
            except LoginRequired:
                stop.set()
                raise
            except ExactlinkError as error:
                log.warning("administration %s failed: %s", division, error.message)
                yield division, None, error
                continue
            except BaseException:
                stop.set()
                raise
            yield division, value, None
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def for_each_division(
    divisions: Iterable[int],
    work: Callable[[int], T],
    *,
    max_workers: int = 8,
    on_done: Callable[[int, T | None, ExactlinkError | None], None] | None = None,
) -> DivisionOutcomes[T]:
    """Run ``work(division)`` for every division, at most ``max_workers`` at a time (see :func:`each_division_done`).

    Args:
        divisions: the division codes (duplicates are worked on once).
        work: the per-division job; it raises an ``ExactlinkError`` to report a failure for its division.
        max_workers: how many divisions at once (``settings.exact.max_concurrent_divisions``).
        on_done: called in the calling thread after each division, e.g. to advance a progress bar.

    Raises:
        LoginRequired: the login stopped working; the remaining divisions were not started.
        Exception: a programming error in ``work`` is not swallowed.
    """
    outcomes: DivisionOutcomes[T] = DivisionOutcomes()
    for division, value, error in each_division_done(divisions, work, max_workers=max_workers):
        if error is not None:
            outcomes.failures[division] = error
        else:
            outcomes.results[division] = value  # type: ignore[assignment]
        if on_done is not None:
            on_done(division, value, error)
    return outcomes
