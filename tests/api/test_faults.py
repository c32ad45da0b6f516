"""Faults injected by the sandbox (5xx, time-outs, dropped connections, 429 bursts) over real HTTP.

The same read-only workload runs once against a clean sandbox and once with faults: the results must be
identical, no call may be refused for exceeding the rate limit twice in a row, and no endpoint of any
division may get near Exact's error budget (the sandbox would block it after 10 failures an hour).

Waits (backoff, rate-limit resets) advance the sandbox clock instead of sleeping, so the test is fast.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exactlink.api.budget import Backoff, ErrorBudget
from exactlink.api.client import ExactClient
from exactlink.api.concurrency import for_each_division
from exactlink.api.errors import ErrorBudgetExhausted, TransientApiError
from exactlink.api.models import Account, Division, Return
from exactlink.api.ratelimit import RateLimiter
from exactlink.auth.oauth import OAuthApp, OAuthClient, TokenSet
from exactlink.auth.session import TokenProvider
from exactlink.auth.tokens import TokenStore
from exactlink.sandbox import RunningServer, Sandbox


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, RunningServer]]:
    sandbox = Sandbox(clients=70, seed=11)
    with sandbox.serve() as server:
        yield sandbox, server


def build_client(sandbox: Sandbox, base_url: str, state: Path, *, timeout: float = 5.0) -> ExactClient:
    store = TokenStore(base_url, "app", mode="file", token_file=state / "tokens.json")
    if store.load() is None:
        issued = sandbox.issue_tokens()
        now = sandbox.clock.now()
        store.save(TokenSet(issued["access_token"], issued["refresh_token"], now + 600, now))
    app = sandbox.default_app
    oauth = OAuthClient(OAuthApp(base_url, app.client_id, app.client_secret, app.redirect_uri), clock=sandbox.clock.now)
    tokens = TokenProvider(store, oauth, clock=sandbox.clock.now, lock_path=state / "refresh.lock")
    return ExactClient(
        base_url,
        tokens,
        timeout=timeout,
        limiter=RateLimiter(clock=sandbox.clock.now, sleep=sandbox.advance),
        budget=ErrorBudget(state / "error-budget.json", clock=sandbox.clock.now),
        backoff=Backoff(sleep=sandbox.advance),
    )


def workload(client: ExactClient, office: int, *, workers: int) -> dict[str, Any]:
    """What a run reads: the divisions, the office's accounts (two pages) and every client's returns."""
    divisions = sorted(
        (division.Code, division.Description)
        for division in Division.parse_all(client.get_collection(office, "system/Divisions", select=Division.select()))
    )
    accounts = sorted(
        (account.Code, account.Name)
        for account in Account.parse_all(
            client.get_collection(office, "crm/Accounts", select=Account.select(), filter="Blocked eq false")
        )
    )

    def returns(division: int) -> list[tuple[str | None, int | None]]:
        rows = client.get_collection(division, "read/financial/Returns", select=Return.select())
        return sorted((ret.DocumentID, ret.Status) for ret in Return.parse_all(rows))

    outcomes = for_each_division([code for code, _ in divisions if code != office], returns, max_workers=workers)
    return {
        "divisions": divisions,
        "accounts": accounts,
        "returns": outcomes.results,
        "failures": {code: error.message for code, error in outcomes.failures.items()},
    }


@pytest.mark.slow
def test_faults_give_the_same_result_as_a_clean_run_within_the_error_budget(
    served: tuple[Sandbox, RunningServer], tmp_path: Path
) -> None:
    sandbox, server = served
    office = sandbox.data.office_division
    with build_client(sandbox, server.base_url, tmp_path / "clean") as client:
        clean = workload(client, office, workers=4)
    assert len(clean["accounts"]) > 60, "the office's accounts span more than one page"
    assert all("is blocked in Exact Online" in message for message in clean["failures"].values())
    clean_calls = len(sandbox.request_log)

    sandbox.reset_counters()
    sandbox.reset_limits()
    sandbox.faults.seed = 7
    sandbox.faults.error_rate = 0.05
    sandbox.faults.timeout_rate = 0.04
    sandbox.faults.drop_rate = 0.04
    sandbox.faults.hang_seconds = 1.0
    sandbox.faults.burst_429 = 6
    sandbox.faults.burst_reset_seconds = 20
    with build_client(sandbox, server.base_url, tmp_path / "faulty", timeout=0.3) as client:
        faulty = workload(client, office, workers=1)
        budget_seen = client.budget.snapshot()
    sandbox.faults.error_rate = sandbox.faults.timeout_rate = sandbox.faults.drop_rate = 0

    assert faulty == clean
    statuses = [entry.status for entry in sandbox.request_log]
    assert statuses.count(429) == 6, "only the injected burst; pacing avoided every real 429"
    assert any(status >= 500 for status in statuses) and 0 in statuses, "errors and dropped connections happened"
    assert len(sandbox.request_log) > clean_calls, "the failed calls were retried"
    assert sandbox.blocked_endpoints == {}
    assert max(sandbox.error_counts.values()) <= 10
    assert budget_seen and max(budget_seen.values()) <= 10


def test_a_division_out_of_error_budget_is_stopped_before_exact_blocks_it(
    served: tuple[Sandbox, RunningServer], tmp_path: Path
) -> None:
    sandbox, server = served
    office = sandbox.data.office_division
    sandbox.faults.error_rate = 1.0

    def keep_trying(division: int) -> None:
        # A caller that shrugs off failed calls and goes on with the next one.
        for _ in range(5):
            with contextlib.suppress(TransientApiError):
                list(client.get_collection(division, "system/Divisions", select="Code"))

    with build_client(sandbox, server.base_url, tmp_path) as client:
        outcomes = for_each_division([office], keep_trying)
    assert isinstance(outcomes.failures[office], ErrorBudgetExhausted)
    assert "stopped administration" in outcomes.failures[office].message
    assert sandbox.calls("system/Divisions") == 10, "exactly Exact's limit, never an 11th failed call"
    assert sandbox.blocked_endpoints == {}
