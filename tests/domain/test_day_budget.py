"""Bulk work leaves a reserve of the office administration's day for match, sync and fetch-returns."""

from __future__ import annotations

from exactlink.domain.day_budget import DayBudget, bulk_may_spend, reserve_calls


def test_the_reserve_is_the_percentage_of_the_day_limit_rounded_up() -> None:
    assert reserve_calls(5000, 20) == 1000
    assert reserve_calls(99, 20) == 20
    assert reserve_calls(5000, 0) == 0


def test_bulk_work_stops_before_a_step_would_eat_into_the_reserve() -> None:
    assert bulk_may_spend(DayBudget(5000, 1003), 3, 20)
    assert not bulk_may_spend(DayBudget(5000, 1002), 3, 20)
    assert not bulk_may_spend(DayBudget(5000, 400), 1, 20)


def test_an_unknown_budget_lets_bulk_work_go_on_until_the_first_answer() -> None:
    assert bulk_may_spend(DayBudget(None, None), 3, 20)
