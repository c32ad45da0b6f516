"""for_each_division: concurrent, per-division failures collected, LoginRequired aborts the rest."""

from __future__ import annotations

import threading
import time

import pytest

from exactlink.api.concurrency import for_each_division
from exactlink.api.errors import ErrorBudgetExhausted, ForbiddenError
from exactlink.errors import LoginRequired


def test_results_and_failures_per_division() -> None:
    seen: list[tuple[int, object, object]] = []

    def work(division: int) -> int:
        if division == 3:
            raise ForbiddenError("no access to 3", reason="NoDivisionAccess", division=3, endpoint="crm/Accounts")
        if division == 4:
            raise ErrorBudgetExhausted(division=4, endpoint="crm/Accounts", failures=10, retry_at=None)
        return division * 10

    outcomes = for_each_division([1, 2, 3, 4, 2], work, max_workers=3, on_done=lambda d, v, e: seen.append((d, v, e)))
    assert outcomes.results == {1: 10, 2: 20}
    assert set(outcomes.failures) == {3, 4}
    assert not outcomes.ok
    assert outcomes.failure_lines()[0] == "administration 3: no access to 3"
    assert len(seen) == 4


def test_divisions_run_concurrently_up_to_the_limit() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(division: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    for_each_division(range(20), work, max_workers=5)
    assert peak == 5


def test_login_required_stops_everything() -> None:
    started: list[int] = []

    def work(division: int) -> None:
        started.append(division)
        if division == 0:
            raise LoginRequired("not logged in", hint="run `exactlink login`")
        time.sleep(0.01)

    with pytest.raises(LoginRequired):
        for_each_division(range(50), work, max_workers=2)
    assert len(started) < 50


def test_a_programming_error_is_not_swallowed() -> None:
    def work(division: int) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        for_each_division([1], work)


def test_each_division_done_yields_in_the_calling_thread_and_widens_when_asked() -> None:
    from exactlink.api.concurrency import each_division_done

    caller = threading.get_ident()
    running = 0
    peak = 0
    lock = threading.Lock()
    limit = {"now": 1}

    def work(division: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return division

    seen = []
    for division, value, error in each_division_done(range(12), work, max_workers=lambda: limit["now"], most=6):
        assert threading.get_ident() == caller and error is None and value == division
        seen.append(division)
        if len(seen) == 3:
            assert peak == 1, "the limit holds while it is 1"
            limit["now"] = 4
    assert sorted(seen) == list(range(12))
    assert peak == 4
