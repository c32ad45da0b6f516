"""Retries with backoff, and Exact's error budget counted across client instances (persisted)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from exactlink.api.budget import Backoff, ErrorBudget, endpoint_name, is_retryable
from exactlink.api.client import ExactClient
from exactlink.api.errors import ApiError, ErrorBudgetExhausted, TransientApiError
from tests.api.conftest import FakeTime, exact_error, page

MakeClient = Callable[..., ExactClient]


def test_endpoint_name_strips_prefix_query_and_key() -> None:
    assert endpoint_name("/api/v1/123/crm/Accounts?$select=ID") == "crm/Accounts"
    assert endpoint_name("crm/Accounts(guid'00000000-0000-0000-0000-000000000001')") == "crm/Accounts"
    assert endpoint_name("/api/v1/current/Me") == "current/Me"


def test_retry_policy_for_each_method() -> None:
    assert is_retryable("GET", 503) and is_retryable("PUT", 500) and is_retryable("DELETE", 502)
    assert not is_retryable("POST", 500), "a POST may have been carried out despite the 5xx"
    assert is_retryable("POST", 429)
    assert not is_retryable("GET", 400)
    assert not is_retryable("GET", 501) and not is_retryable("GET", 505), "the same answer on every try"
    assert is_retryable("POST", httpx.ConnectError("refused")), "the request never left"
    assert not is_retryable("POST", httpx.ReadTimeout("slow"))
    assert is_retryable("GET", httpx.ReadTimeout("slow")) and is_retryable("GET", httpx.RemoteProtocolError("gone"))


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = Backoff(rng=lambda: 0.0)
    high = Backoff(rng=lambda: 1.0)
    assert [low.delay(n) for n in range(1, 5)] == [0.25, 0.5, 1.0, 2.0]
    assert [high.delay(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]
    assert high.delay(20) == 10.0


def test_get_is_retried_after_5xx_timeouts_and_dropped_connections(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script: list[Exception | httpx.Response] = [
        exact_error(503, "Service unavailable"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        page([{"ID": 1}]),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    client = make_client(handler)
    assert list(client.get_collection(3, "crm/Accounts", select="ID")) == [{"ID": 1}]
    assert fake_time.sleeps == [0.375, 0.75, 1.5]
    assert client.budget.failures(3, "crm/Accounts") == 3


def test_gives_up_after_max_attempts_with_a_clear_message(make_client: MakeClient) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return exact_error(500, "Internal error")

    client = make_client(handler)
    with pytest.raises(TransientApiError) as caught:
        list(client.get_collection(3, "crm/Accounts", select="ID"))
    assert len(calls) == client.max_attempts
    assert "Exact Online answered HTTP 500: Internal error" in caught.value.message
    assert caught.value.division == 3


def test_post_is_not_retried_after_a_5xx_or_timeout(make_client: MakeClient) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow")
        return exact_error(500, "boom")

    client = make_client(handler)
    with pytest.raises(TransientApiError, match="no answer in time"):
        client.post(3, "accountancy/SolutionLinks", {"Account": "a"})
    with pytest.raises(TransientApiError, match="HTTP 500"):
        client.post(3, "accountancy/SolutionLinks", {"Account": "a"})
    assert len(calls) == 2


def test_post_is_retried_when_the_connection_could_not_be_opened(make_client: MakeClient) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(201, json={"d": {"ID": "x"}})

    assert make_client(handler).post(3, "accountancy/SolutionLinks", {"Account": "a"}) == {"ID": "x"}
    assert len(calls) == 2


def test_error_budget_is_never_exceeded_within_one_client(make_client: MakeClient, fake_time: FakeTime) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return exact_error(502, "Bad gateway")

    client = make_client(handler)
    for _ in range(2):
        with pytest.raises(TransientApiError):
            list(client.get_collection(8, "crm/Accounts", select="ID"))
    with pytest.raises(ErrorBudgetExhausted) as caught:
        list(client.get_collection(8, "crm/Accounts", select="ID"))
    assert len(calls) == 10, "at most 10 failed calls per endpoint per division per hour"
    assert "stopped administration 8" in caught.value.message and "try again after" in caught.value.message
    # Another endpoint and another division still have their own budget.
    with pytest.raises(TransientApiError):
        list(client.get_collection(8, "crm/Contacts", select="ID"))
    with pytest.raises(TransientApiError):
        list(client.get_collection(9, "crm/Accounts", select="ID"))


def test_error_budget_is_shared_across_runs_through_the_state_file(
    tmp_path: Path, make_client: MakeClient, fake_time: FakeTime
) -> None:
    state = tmp_path / "error-budget.json"
    failing_calls = []

    def failing(request: httpx.Request) -> httpx.Response:
        failing_calls.append(request)
        return exact_error(404, "Not found")

    first = make_client(failing, budget=ErrorBudget(state, clock=fake_time.clock))
    for _ in range(7):
        with pytest.raises(ApiError, match="not found"):
            list(first.get_collection(4, "crm/Accounts", select="ID"))

    second_calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        second_calls.append(request)
        return exact_error(500, "boom")

    second = make_client(flaky, budget=ErrorBudget(state, clock=fake_time.clock))
    with pytest.raises(ErrorBudgetExhausted):
        list(second.get_collection(4, "crm/Accounts", select="ID"))
    assert len(failing_calls) + len(second_calls) == 10
    assert first.budget.failures(4, "crm/Accounts") == 10, "the first instance sees the second one's failures"
    assert oct(state.stat().st_mode & 0o777) == "0o600"

    fake_time.now += 3601
    third = make_client(lambda request: page([{"ID": 1}]), budget=ErrorBudget(state, clock=fake_time.clock))
    assert list(third.get_collection(4, "crm/Accounts", select="ID")) == [{"ID": 1}], "the window rolls"


def test_corrupt_budget_file_is_treated_as_empty(tmp_path: Path, fake_time: FakeTime) -> None:
    state = tmp_path / "error-budget.json"
    state.write_text("{not json")
    budget = ErrorBudget(state, clock=fake_time.clock)
    budget.begin(1, "crm/Accounts")
    budget.end(1, "crm/Accounts", failed=True)
    assert budget.failures(1, "crm/Accounts") == 1


def test_calls_in_flight_in_another_run_count_against_the_budget(tmp_path: Path, fake_time: FakeTime) -> None:
    # Two runs (cron and an interactive command) during an outage: with 9 failures recorded and one call of
    # the first run still in flight, the second run must not send a call that could be the 11th failure.
    state = tmp_path / "error-budget.json"
    cron, interactive = ErrorBudget(state, clock=fake_time.clock), ErrorBudget(state, clock=fake_time.clock)
    for _ in range(9):
        cron.begin(4, "crm/Accounts")
        cron.end(4, "crm/Accounts", failed=True)
    cron.begin(4, "crm/Accounts")
    outcome: list[object] = []

    def second_run() -> None:
        try:
            interactive.begin(4, "crm/Accounts")
            outcome.append("sent")
        except ErrorBudgetExhausted as refused:
            outcome.append(refused)

    waiting = threading.Thread(target=second_run)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and outcome == [], "the second run waits while the first one's call is in flight"

    cron.end(4, "crm/Accounts", failed=True)
    waiting.join(timeout=10)

    assert len(outcome) == 1 and isinstance(outcome[0], ErrorBudgetExhausted)
    assert interactive.failures(4, "crm/Accounts") == 10


def test_a_call_in_flight_that_succeeds_lets_the_other_run_go_on(tmp_path: Path, fake_time: FakeTime) -> None:
    state = tmp_path / "error-budget.json"
    first, second = ErrorBudget(state, clock=fake_time.clock), ErrorBudget(state, clock=fake_time.clock)
    for _ in range(9):
        first.begin(4, "crm/Accounts")
        first.end(4, "crm/Accounts", failed=True)
    first.begin(4, "crm/Accounts")
    waiting = threading.Thread(target=second.begin, args=(4, "crm/Accounts"))
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive()

    first.end(4, "crm/Accounts", failed=False)
    waiting.join(timeout=10)

    assert not waiting.is_alive(), "the second run's call goes ahead once the first one's succeeded"


def test_calls_of_another_process_hold_their_places_until_it_is_killed(tmp_path: Path, fake_time: FakeTime) -> None:
    state = tmp_path / "error-budget.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from exactlink.api.budget import ErrorBudget\n"
            "budget = ErrorBudget(Path(sys.argv[1]))\n"
            "for _ in range(10):\n"
            "    budget.begin(4, 'crm/Accounts')\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        budget = ErrorBudget(state, clock=fake_time.clock)
        waiting = threading.Thread(target=budget.begin, args=(4, "crm/Accounts"))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "ten calls of another run are in flight: an eleventh waits"
        assert budget.failures(4, "crm/Accounts") == 0

        holder.kill()  # kill -9: the kernel drops its locks, nothing is left to clean up
        waiting.join(timeout=10)

        assert not waiting.is_alive()
        budget.end(4, "crm/Accounts", failed=False)
    finally:
        holder.kill()
        holder.wait()
