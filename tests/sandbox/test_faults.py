"""Fault knobs: latency (really concurrent), 5xx, dropped connections, hangs, 429 bursts — reproducible by seed."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import httpx
import pytest

from exactlink.sandbox import model
from exactlink.sandbox.app import Sandbox
from exactlink.sandbox.faults import Faults
from tests.sandbox.conftest import BASE, CLIENT_A, OFFICE, api_client, guid, make_sandbox

GOOD = {"$select": "ID"}
GL = {"$select": "ID", "$filter": "Code eq '2300'"}  # G/L accounts need a filter: a sync API exists for them
BANK_URL = f"/api/v1/{OFFICE}/crm/BankAccounts"


def test_latency_is_added_without_serialising_concurrent_callers() -> None:
    sandbox = make_sandbox(accounts=3, faults=Faults(latency_ms=300))
    with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
        started = time.monotonic()
        assert api.get(BANK_URL, params=GOOD).status_code == 200
        assert time.monotonic() - started >= 0.3
        statuses: list[int] = []

        def call() -> None:
            statuses.append(api.get(BANK_URL, params=GOOD).status_code)

        threads = [threading.Thread(target=call) for _ in range(8)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert statuses == [200] * 8
        assert elapsed < 1.5, elapsed  # eight one-at-a-time calls would take 2.4 s


def test_error_rate_gives_exact_style_5xx_that_count_as_failures() -> None:
    sandbox = make_sandbox(accounts=3, faults=Faults(error_rate=1.0), max_errors=3)
    with api_client(sandbox) as api:
        answers = [api.get(BANK_URL, params=GOOD) for _ in range(5)]
        assert all(answer.status_code in (500, 502, 503) for answer in answers[:4])
        assert answers[0].json()["error"]["message"]["value"]
        assert "X-RateLimit-Minutely-Remaining" in answers[0].headers
        # more than max_errors (3) failures: the fourth blocks the endpoint
        assert answers[4].status_code == 403 and answers[4].headers["Reason"] == "TooManyErrors"


def test_faults_are_reproducible_with_the_same_seed() -> None:
    def statuses(seed: int) -> list[int]:
        sandbox = make_sandbox(accounts=3, faults=Faults(error_rate=0.5, seed=seed), max_errors=1000)
        with api_client(sandbox) as api:
            return [api.get(BANK_URL, params=GOOD).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert 200 in first and any(status >= 500 for status in first)
    assert first != statuses(8)


def test_dropped_connection_over_real_http_is_not_processed() -> None:
    sandbox = make_sandbox(accounts=3)
    with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
        sandbox.faults.drop_rate = 1.0
        with pytest.raises(httpx.RemoteProtocolError):
            api.post(f"/api/v1/{OFFICE}/crm/Accounts", json={"Name": "Verloren B.V."})
        sandbox.faults.drop_rate = 0.0
        names = {record["Name"] for record in sandbox.records(OFFICE, model.ACCOUNTS).values()}
        assert "Verloren B.V." not in names
        dropped = sandbox.request_log[-1]
        assert (dropped.status, dropped.endpoint, dropped.division) == (0, "crm/Accounts", OFFICE)
        assert api.get(BANK_URL, params=GOOD).status_code == 200  # the client reconnects and goes on


def test_dropped_connection_in_process() -> None:
    sandbox = make_sandbox(accounts=3, faults=Faults(drop_rate=1.0))
    with api_client(sandbox) as api, pytest.raises(httpx.RemoteProtocolError):
        api.get(BANK_URL, params=GOOD)


def test_hang_is_processed_but_answered_late() -> None:
    sandbox = make_sandbox(accounts=3, faults=Faults(timeout_rate=1.0, hang_seconds=0.4))
    account = guid("account", 2)
    with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
        with pytest.raises(httpx.ReadTimeout):
            api.put(f"/api/v1/{OFFICE}/crm/Accounts(guid'{account}')", json={"Name": "Traag B.V."}, timeout=0.15)
        # the write was applied although the client gave up: retries must be idempotent
        assert sandbox.records(OFFICE, model.ACCOUNTS)[account]["Name"] == "Traag B.V."
        started = time.monotonic()
        assert api.get(BANK_URL, params=GOOD, timeout=2).status_code == 200
        assert time.monotonic() - started >= 0.4
    with api_client(sandbox) as in_process, pytest.raises(httpx.ReadTimeout):
        in_process.get(BANK_URL, params=GOOD, timeout=0.1)


def test_burst_of_429s_then_normal_service() -> None:
    sandbox = make_sandbox(accounts=3)
    sandbox.faults.burst_429 = 3
    sandbox.faults.burst_reset_seconds = 2
    with api_client(sandbox) as api:
        answers = [api.get(BANK_URL, params=GOOD) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [429, 429, 429, 200]
        burst = answers[0]
        assert "X-RateLimit-Limit" not in burst.headers
        reset = int(burst.headers["X-RateLimit-Minutely-Reset"])
        assert burst.headers["X-RateLimit-Minutely-Remaining"] == "0"
        assert 1000 <= reset - sandbox.clock.now() * 1000 <= 2100
        assert sandbox.faults.burst_429 == 0
        assert answers[3].headers["X-RateLimit-Minutely-Remaining"] == str(100_000 - 1)  # bursts did not count


def test_login_pages_are_never_faulted_and_the_token_endpoint_only_on_request() -> None:
    sandbox = make_sandbox(accounts=3, faults=Faults(error_rate=1.0))
    app = sandbox.default_app
    params = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "response_type": "code", "state": "s"}
    assert sandbox.browser_login(f"{BASE}/api/oauth2/auth?{urlencode(params)}").startswith(app.redirect_uri)
    with httpx.Client(base_url=BASE, transport=sandbox.transport()) as web:
        form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": app.client_id, "client_secret": "y"}
        assert web.post("/api/oauth2/token", data=form).status_code == 401
        sandbox.faults.include_token_endpoint = True
        assert web.post("/api/oauth2/token", data=form).status_code >= 500


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    faults = Faults()
    with pytest.raises(ValueError, match="latency_ms"):
        faults.latency_ms = -1
    with pytest.raises(ValueError, match="drop_rate"):
        faults.drop_rate = -0.1


def test_faults_can_be_replaced_at_runtime(sandbox: Sandbox) -> None:
    with api_client(sandbox) as api:
        sandbox.faults = Faults(error_rate=1.0)
        assert api.get(f"/api/v1/{CLIENT_A}/financial/GLAccounts", params=GL).status_code >= 500
        sandbox.faults = Faults()
        assert api.get(f"/api/v1/{CLIENT_A}/financial/GLAccounts", params=GL).status_code == 200


def test_scripted_faults_hit_exactly_the_next_calls(sandbox: Sandbox) -> None:
    sandbox.faults.hang_seconds = 0.3
    sandbox.faults.script("burst", "error", "ok", "hang", "drop")
    with api_client(sandbox) as api:
        url = f"/api/v1/{CLIENT_A}/financial/GLAccounts"
        assert api.get(url, params=GL).status_code == 429
        assert api.get(url, params=GL).status_code in (500, 502, 503)
        assert api.get(url, params=GL).status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            api.get(url, params=GL, timeout=0.1)
        with pytest.raises(httpx.RemoteProtocolError):
            api.get(url, params=GL)
        assert api.get(url, params=GL).status_code == 200, "the script is used up: no more faults"
    assert not sandbox.faults.active
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.faults.script("explode")
