"""Rate limits with Exact's headers, 429s, and the error budget that blocks an endpoint for an hour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from exactlink.sandbox.app import Sandbox
from exactlink.sandbox.clock import Clock
from tests.sandbox.conftest import CLIENT_A, OFFICE, api_client, make_sandbox

START = datetime(2026, 2, 2, 10, 0, 5, tzinfo=UTC)  # five seconds into a minute window
MINUTE_RESET_MS = str(int(datetime(2026, 2, 2, 10, 1, tzinfo=UTC).timestamp() * 1000))
DAY_RESET_MS = str(int(datetime(2026, 2, 3, tzinfo=UTC).timestamp() * 1000))
DAILY = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
MINUTELY = ("X-RateLimit-Minutely-Limit", "X-RateLimit-Minutely-Remaining", "X-RateLimit-Minutely-Reset")
GOOD = {"$select": "ID"}


def limited(**options: Any) -> Sandbox:
    return make_sandbox(accounts=3, clock=Clock(START), **options)


def renew(api: httpx.Client, sandbox: Sandbox) -> None:
    """Give the client a fresh access token (after the clock jumped past the old one's 600 s)."""
    api.headers["Authorization"] = f"Bearer {sandbox.issue_tokens()['access_token']}"


def bank_accounts(api: httpx.Client, division: int = OFFICE, params: dict[str, str] | None = None) -> httpx.Response:
    return api.get(f"/api/v1/{division}/crm/BankAccounts", params=params or GOOD)


def test_every_answer_carries_both_header_sets() -> None:
    sandbox = limited(minutely_limit=60, daily_limit=5000)
    with api_client(sandbox) as api:
        answers = [
            bank_accounts(api),  # 200
            bank_accounts(api, params={"$filter": "Nope eq 1", "$select": "ID"}),  # 400
            bank_accounts(api, division=205),  # 403
            api.get(f"/api/v1/{OFFICE}/crm/Nothing"),  # 404
            api.get("/api/v1/current/Me"),  # 200, counted against the current division
        ]
        assert [answer.status_code for answer in answers] == [200, 400, 403, 404, 200]
        for answer in answers:
            headers = answer.headers
            assert all(name in headers for name in DAILY + MINUTELY)
            assert headers["X-RateLimit-Minutely-Limit"] == "60"
            assert headers["X-RateLimit-Limit"] == "5000"
            assert headers["X-RateLimit-Minutely-Reset"] == MINUTE_RESET_MS
            assert headers["X-RateLimit-Reset"] == DAY_RESET_MS
        # 205 is a division of its own bucket; the other four calls share the office division's
        assert answers[-1].headers["X-RateLimit-Minutely-Remaining"] == "56"
        assert answers[2].headers["X-RateLimit-Minutely-Remaining"] == "59"
        sandbox.advance(3600)
        expired = bank_accounts(api)
        assert expired.status_code == 401
        assert "X-RateLimit-Minutely-Remaining" in expired.headers


def test_minutely_limit_gives_429_with_only_minutely_headers() -> None:
    sandbox = limited(minutely_limit=5, daily_limit=5000)
    with api_client(sandbox) as api:
        remaining = [bank_accounts(api).headers["X-RateLimit-Minutely-Remaining"] for _ in range(5)]
        assert remaining == ["4", "3", "2", "1", "0"]
        refused = bank_accounts(api)
        assert refused.status_code == 429
        assert refused.content == b""
        assert all(name in refused.headers for name in MINUTELY)
        assert not any(name in refused.headers for name in DAILY)
        assert refused.headers["X-RateLimit-Minutely-Reset"] == MINUTE_RESET_MS
        assert bank_accounts(api, division=CLIENT_A).status_code == 200  # another division, another bucket
        other_app = sandbox.register_app("{cccccccc-0000-4000-8000-000000000003}", "x", "https://other.example/cb")
        with api_client(sandbox, token=sandbox.issue_tokens(other_app)["access_token"]) as other:
            assert bank_accounts(other).status_code == 200  # another app, another bucket
        sandbox.advance(55)  # the next minute window
        again = bank_accounts(api)
        assert again.status_code == 200
        assert again.headers["X-RateLimit-Remaining"] == "4994"  # refused calls did not count


def test_daily_limit_gives_429_with_only_daily_headers() -> None:
    sandbox = limited(minutely_limit=60, daily_limit=3)
    with api_client(sandbox) as api:
        assert [bank_accounts(api).status_code for _ in range(3)] == [200, 200, 200]
        refused = bank_accounts(api)
        assert refused.status_code == 429
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["X-RateLimit-Reset"] == DAY_RESET_MS
        assert not any(name in refused.headers for name in MINUTELY)
        sandbox.advance(86_400)
    with api_client(sandbox) as fresh:  # a new day (and a new token: the old one expired meanwhile)
        assert bank_accounts(fresh).status_code == 200


def test_eleventh_failure_blocks_the_endpoint_for_an_hour() -> None:
    sandbox = limited()
    key = (sandbox.default_app.client_id, OFFICE, "crm/BankAccounts")
    with api_client(sandbox) as api:
        failures = [bank_accounts(api, params={"$top": "5"}).status_code for _ in range(10)]
        assert failures == [400] * 10
        assert sandbox.error_counts[key] == 10
        assert bank_accounts(api).status_code == 200  # ten failures are still within the budget
        assert sandbox.blocked_endpoints == {}
        assert bank_accounts(api, params={"$top": "5"}).status_code == 400  # the eleventh
        assert key in sandbox.blocked_endpoints
        blocked = bank_accounts(api)
        assert blocked.status_code == 403
        assert blocked.headers["Reason"] == "TooManyErrors"
        assert "X-RateLimit-Minutely-Remaining" in blocked.headers
        assert "blocked" in blocked.json()["error"]["message"]["value"]
        assert sandbox.error_counts[key] == 11  # the 403s of a blocked endpoint are not new failures
        # other endpoints and other divisions are not affected
        assert (
            api.get(f"/api/v1/{OFFICE}/crm/Contacts", params={"$top": "1", "$filter": "ID ne null"}).status_code == 200
        )
        assert bank_accounts(api, division=CLIENT_A).status_code == 200
        sandbox.advance(3600)
        renew(api, sandbox)
        assert bank_accounts(api).status_code == 200
        assert sandbox.blocked_endpoints == {}


def test_failures_age_out_of_the_rolling_hour() -> None:
    sandbox = limited()
    with api_client(sandbox) as api:
        for _ in range(10):
            bank_accounts(api, params={"$top": "5"})
        sandbox.advance(3601)
        renew(api, sandbox)
        for _ in range(10):
            bank_accounts(api, params={"$top": "5"})
        assert bank_accounts(api).status_code == 200


@pytest.mark.parametrize("status", [401, 403, 404])
def test_every_failure_kind_counts(status: int) -> None:
    sandbox = limited(max_errors=2)
    with api_client(sandbox) as api:

        def fail() -> httpx.Response:
            if status == 401:
                return bank_accounts(api)
            if status == 403:
                return bank_accounts(api, division=203)
            return api.get(f"/api/v1/{OFFICE}/crm/BankAccounts(guid'00000000-0000-4000-8000-000000000000')")

        if status == 401:
            sandbox.advance(600)
        assert [fail().status_code for _ in range(3)] == [status] * 3
        assert fail().headers.get("Reason") == "TooManyErrors"
