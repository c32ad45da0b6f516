"""How many administrations an hourly run works on at once: modest by default, more only when it must."""

from __future__ import annotations

from exactlink.domain.run_concurrency import divisions_at_once


def test_a_number_always_wins() -> None:
    assert divisions_at_once(2, remaining=20_000, seconds_each=0.6, seconds_left=600) == 2
    assert divisions_at_once(48, remaining=10, seconds_each=0.6, seconds_left=600) == 48


def test_auto_starts_at_four_before_anything_is_measured() -> None:
    assert divisions_at_once("auto", remaining=20_000, seconds_each=None, seconds_left=600) == 4


def test_auto_stays_at_four_when_four_finish_in_time() -> None:
    # 500 administrations at 2 calls of 300 ms: 300 s of calls, 75 s with four at once.
    assert divisions_at_once("auto", remaining=500, seconds_each=0.6, seconds_left=600) == 4


def test_auto_raises_only_as_far_as_the_ten_minutes_need() -> None:
    # 20,000 administrations at 2 calls of 300 ms: 12,000 s of calls in 600 s needs 20 at once.
    assert divisions_at_once("auto", remaining=20_000, seconds_each=0.6, seconds_left=600) == 20
    # Behind schedule (half the time gone, 12,000 left): 24.
    assert divisions_at_once("auto", remaining=12_000, seconds_each=0.6, seconds_left=300) == 24


def test_auto_never_goes_past_the_cap() -> None:
    assert divisions_at_once("auto", remaining=20_000, seconds_each=3.0, seconds_left=600) == 32
    assert divisions_at_once("auto", remaining=5, seconds_each=0.6, seconds_left=0) == 32


def test_the_hourly_run_plans_for_eight_of_its_ten_minutes() -> None:
    from exactlink.services.returns_fetch import Pace

    pace = Pace("auto", 20_000, started=0.0, clock=lambda: 0.0)
    pace.finished(0.6)  # two calls of 300 ms
    assert pace.at_once() == 25, "20,000 × 0.6 s in 480 s, leaving two minutes for slow answers and the tail"
