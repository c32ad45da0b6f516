"""Pacing from X-RateLimit headers: no 429 in a normal run, waits on 429, daily limit ends cleanly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from exactlink.api.budget import ErrorBudget
from exactlink.api.client import ExactClient
from exactlink.api.errors import RateLimitExhausted
from exactlink.api.ratelimit import LimitState, RateLimiter, RateLimitLog
from tests.api.conftest import FakeTime, page

MakeClient = Callable[..., ExactClient]


class MinutelyServer:
    """Counts calls per division in fixed minute windows of the fake clock, like Exact Online."""

    def __init__(self, fake_time: FakeTime, limit: int = 60, daily: int = 5000) -> None:
        self.time = fake_time
        self.limit = limit
        self.daily = daily
        self.windows: dict[tuple[str, int], int] = {}
        self.day_calls: dict[str, int] = {}
        self.too_many = 0
        self.ok = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        division = request.url.path.split("/")[3]
        now = self.time.now
        minute = int(now // 60)
        day_reset = str(int((now // 86400 + 1) * 86400 * 1000))
        minute_reset = str((minute + 1) * 60 * 1000)
        if self.day_calls.get(division, 0) >= self.daily:
            self.too_many += 1
            return httpx.Response(
                429,
                headers={
                    "X-RateLimit-Limit": str(self.daily),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": day_reset,
                },
            )
        used = self.windows.get((division, minute), 0)
        if used >= self.limit:
            self.too_many += 1
            return httpx.Response(
                429,
                headers={
                    "X-RateLimit-Minutely-Limit": str(self.limit),
                    "X-RateLimit-Minutely-Remaining": "0",
                    "X-RateLimit-Minutely-Reset": minute_reset,
                },
            )
        self.windows[(division, minute)] = used + 1
        self.day_calls[division] = self.day_calls.get(division, 0) + 1
        self.ok += 1
        return page(
            [{"ID": 1}],
            headers={
                "X-RateLimit-Limit": str(self.daily),
                "X-RateLimit-Remaining": str(self.daily - self.day_calls[division]),
                "X-RateLimit-Reset": day_reset,
                "X-RateLimit-Minutely-Limit": str(self.limit),
                "X-RateLimit-Minutely-Remaining": str(self.limit - used - 1),
                "X-RateLimit-Minutely-Reset": minute_reset,
            },
        )


def test_a_normal_run_never_gets_a_429(make_client: MakeClient, fake_time: FakeTime) -> None:
    fake_time.now = 1_700_000_010.0  # ten seconds into a minute window
    server = MinutelyServer(fake_time)
    client = make_client(server)
    for _ in range(150):
        client.get_first(11, "crm/Accounts", select="ID")
    for _ in range(30):
        client.get_first(12, "crm/Accounts", select="ID")
    assert server.ok == 180
    assert server.too_many == 0
    assert len(fake_time.sleeps) == 2, "division 11 waited twice for its minute to reset; 12 never"
    assert all(wait <= 65 for wait in fake_time.sleeps)


def test_a_429_waits_until_the_reset_the_headers_give(make_client: MakeClient, fake_time: FakeTime) -> None:
    reset_ms = int((fake_time.now + 20) * 1000)
    answers = [
        httpx.Response(
            429,
            headers={
                "X-RateLimit-Minutely-Limit": "60",
                "X-RateLimit-Minutely-Remaining": "0",
                "X-RateLimit-Minutely-Reset": str(reset_ms),
            },
        ),
        page([{"ID": 1}]),
    ]
    client = make_client(lambda request: answers.pop(0))
    assert client.get_first(3, "crm/Accounts", select="ID") == {"ID": 1}
    assert fake_time.sleeps == [21.0]
    assert client.budget.failures(3, "crm/Accounts") == 0, "a 429 is not an error-budget failure"


def test_a_429_wait_is_capped(make_client: MakeClient, fake_time: FakeTime) -> None:
    answers = [
        httpx.Response(
            429,
            headers={
                "X-RateLimit-Minutely-Remaining": "0",
                "X-RateLimit-Minutely-Reset": str(int((fake_time.now + 900) * 1000)),
            },
        ),
        page([]),
    ]
    make_client(lambda request: answers.pop(0)).get_first(3, "crm/Accounts", select="ID")
    assert fake_time.sleeps == [65.0]


def test_daily_limit_used_up_stops_with_when_to_try_again(make_client: MakeClient, fake_time: FakeTime) -> None:
    server = MinutelyServer(fake_time, limit=1000, daily=3)
    client = make_client(server)
    for _ in range(3):
        client.get_first(5, "crm/Accounts", select="ID")
    with pytest.raises(RateLimitExhausted) as caught:
        client.get_first(5, "crm/Accounts", select="ID")
    assert server.too_many == 0, "the limiter stops before Exact has to refuse"
    reset = datetime.fromtimestamp((fake_time.now // 86400 + 1) * 86400, UTC)
    assert caught.value.retry_at == reset
    assert "daily Exact Online API limit for administration 5 is used up; try again after" in caught.value.message


def test_daily_429_from_another_process_also_stops(make_client: MakeClient, fake_time: FakeTime) -> None:
    reset = str(int((fake_time.now + 7200) * 1000))
    client = make_client(
        lambda request: httpx.Response(
            429, headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        )
    )
    with pytest.raises(RateLimitExhausted):
        client.get_first(5, "crm/Accounts", select="ID")
    assert fake_time.sleeps == []


def test_out_of_order_answers_keep_the_lowest_count(fake_time: FakeTime) -> None:
    limiter = RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep)
    reset = str(int((fake_time.now + 30) * 1000))
    limiter.acquire(1)
    limiter.acquire(1)
    limiter.release(1, {"X-RateLimit-Minutely-Remaining": "3", "X-RateLimit-Minutely-Reset": reset})
    limiter.release(1, {"X-RateLimit-Minutely-Remaining": "4", "X-RateLimit-Minutely-Reset": reset})
    assert limiter.states()["1"].minutely_remaining == 3


def test_calls_in_flight_count_against_the_minute(fake_time: FakeTime) -> None:
    limiter = RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep)
    reset = str(int((fake_time.now + 30) * 1000))
    limiter.acquire(1)
    limiter.release(1, {"X-RateLimit-Minutely-Remaining": "2", "X-RateLimit-Minutely-Reset": reset})
    limiter.acquire(1)
    limiter.acquire(1)
    assert fake_time.sleeps == []
    limiter.acquire(1)  # two still in flight use up the two remaining calls
    assert fake_time.sleeps == [31.0]


def test_rate_limit_log_records_the_last_headers_for_status(
    tmp_path: Path, make_client: MakeClient, fake_time: FakeTime
) -> None:
    log = RateLimitLog(tmp_path / "rate-limits.json", tmp_path / "rate.lock")
    client = make_client(MinutelyServer(fake_time))
    client.rate_log = log
    client.get_first(21, "crm/Accounts", select="ID")
    client.get_first(21, "crm/Accounts", select="ID")
    client.close()
    states = log.read()
    assert states["21"].minutely_remaining == 58
    assert states["21"].daily_remaining == 4998
    log.record({"21": LimitState(minutely_remaining=1, seen_at=0.0)})
    assert log.read()["21"].minutely_remaining == 58, "an older observation does not overwrite a newer one"


def test_a_call_the_daily_limit_stopped_does_not_hold_on_to_the_error_budget(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    reset = fake_time.now + 3600
    headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset * 1000))}
    budget = ErrorBudget(limit=1, clock=fake_time.clock)
    client = make_client(lambda request: page([{"ID": 1}], headers=headers), budget=budget)
    assert client.get_first(5, "crm/Accounts", select="ID") == {"ID": 1}
    with pytest.raises(RateLimitExhausted):
        client.get_first(5, "crm/Accounts", select="ID")
    fake_time.now = reset + 1  # a new day: the limit is back
    assert client.get_first(5, "crm/Accounts", select="ID") == {"ID": 1}, "no phantom call left in flight"


def test_the_next_process_starts_from_what_the_last_one_saw(fake_time: FakeTime, tmp_path: Path) -> None:
    """One command uses up the minute; the next command, a new process, waits for the reset instead of a 429."""
    from exactlink.api.budget import Backoff
    from tests.api.conftest import BASE, StaticTokens

    fake_time.now = 1_700_000_010.0
    server = MinutelyServer(fake_time)
    log = RateLimitLog(tmp_path / "rate-limits.json", tmp_path / "rate-limits.lock")

    def process(*, known: bool) -> ExactClient:
        return ExactClient(
            BASE,
            StaticTokens(),
            transport=httpx.MockTransport(server),
            limiter=RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep, known=log.read() if known else None),
            budget=ErrorBudget(clock=fake_time.clock),
            backoff=Backoff(sleep=fake_time.sleep, rng=lambda: 0.5),
            sleep=fake_time.sleep,
            rate_log=log,
        )

    with process(known=True) as first:
        for _ in range(60):
            first.get_first(11, "crm/Accounts", select="ID")
    assert server.too_many == 0 and fake_time.sleeps == []

    reset = (int(fake_time.now // 60) + 1) * 60
    expected_wait = reset - fake_time.now + 1.0  # until the reset the headers gave, plus the skew margin
    with process(known=True) as second:
        second.get_first(11, "crm/Accounts", select="ID")
    assert server.too_many == 0, "the second process knew the minute was used up"
    assert fake_time.sleeps == [pytest.approx(expected_wait)], "it waited for the reset, not a blind minute"

    blind_start = fake_time.now
    for _ in range(59):
        second_again = process(known=True)
        second_again.get_first(11, "crm/Accounts", select="ID")
        second_again.close()
    with process(known=False) as blind:
        blind.get_first(11, "crm/Accounts", select="ID")
    assert server.too_many == 1, "a process that starts blind runs into Exact's 429 (what the log prevents)"
    assert fake_time.now > blind_start
