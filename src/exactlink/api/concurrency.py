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
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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


def for_each_division(
    divisions: Iterable[int],
    work: Callable[[int], T],
    *,
    max_workers: int = 8,
    on_done: Callable[[int, T | None, ExactlinkError | None], None] | None = None,
) -> DivisionOutcomes[T]:
    """Run ``work(division)`` for every division, at most ``max_workers`` at a time.

    Args:
        divisions: the division codes (duplicates are worked on once).
        work: the per-division job; it raises an ``ExactlinkError`` to report a failure for its division.
        max_workers: how many divisions at once (``settings.exact.max_concurrent_divisions``).
        on_done: called (from a worker thread, serialised) after each division, e.g. to advance a progress bar.

    Raises:
        LoginRequired: the login stopped working; the remaining divisions were not started.
        Exception: a programming error in ``work`` is not swallowed.
    """
    unique = list(dict.fromkeys(divisions))
    outcomes: DivisionOutcomes[T] = DivisionOutcomes()
    if not unique:
        return outcomes
    stop = threading.Event()
    report_lock = threading.Lock()

    def run(division: int) -> None:
        if stop.is_set():
            return
        try:
            value = work(division)
        except LoginRequired:
            stop.set()
            raise
        except ExactlinkError as error:
            log.warning("administration %s failed: %s", division, error.message)
            with report_lock:
                outcomes.failures[division] = error
                if on_done is not None:
                    on_done(division, None, error)
            return
        except BaseException:
            stop.set()
            raise
        with report_lock:
            outcomes.results[division] = value
            if on_done is not None:
                on_done(division, value, None)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(unique))), thread_name_prefix="division") as pool:
        futures: list[Future[None]] = [pool.submit(run, division) for division in unique]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        wait(futures)
    errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    if errors:
        login_errors = [error for error in errors if isinstance(error, LoginRequired)]
        raise (login_errors or errors)[0]  # type: ignore[misc]
    return outcomes
