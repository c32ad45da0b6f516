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
