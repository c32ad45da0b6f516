"""Transports, the request log and counters, and a login over a real socket."""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from exactlink.sandbox import Sandbox as LazySandbox
from exactlink.sandbox.app import Sandbox
from tests.sandbox.conftest import BASE, CLIENT_A, OFFICE, api_client, guid, make_sandbox, request_guid

REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/api/v1/current/Me", {"$select": "UserID,CurrentDivision,FullName"}),
    ("GET", f"/api/v1/{OFFICE}/system/Divisions", {"$select": "Code,Description"}),
    ("GET", f"/api/v1/{OFFICE}/crm/Accounts", {"$select": "ID,Code,Created", "$filter": "City eq 'Utrecht'"}),
    ("GET", f"/api/v1/{OFFICE}/crm/Accounts", {"$select": "ID"}),
    ("GET", f"/api/v1/{OFFICE}/sync/CRM/Accounts", {"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}),
    ("GET", "/api/v1/203/crm/BankAccounts", {"$select": "ID"}),
    ("GET", f"/api/v1/{CLIENT_A}/read/financial/Returns", {"$select": "DocumentID,Status", "$filter": "Type eq 32"}),
]


def normalised(response: httpx.Response, base: str) -> tuple[int, Any, dict[str, str]]:
    body = json.loads(response.text.replace(base, "BASE")) if response.content else None
    headers = {
        name: value for name, value in response.headers.items() if name.startswith("x-ratelimit") or name == "reason"
    }
    return response.status_code, body, headers


def test_both_transports_give_the_same_answers() -> None:
    answers: dict[str, list[tuple[int, Any, dict[str, str]]]] = {}
    for mode in ("in-process", "http"):
        sandbox = make_sandbox(accounts=130)
        if mode == "http":
            with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
                answers[mode] = [
                    normalised(api.request(method, path, params=params), server.base_url)
                    for method, path, params in REQUESTS
                ]
        else:
            with api_client(sandbox) as api:
                answers[mode] = [
                    normalised(api.request(method, path, params=params), BASE) for method, path, params in REQUESTS
                ]
    for in_process, http in zip(answers["in-process"], answers["http"], strict=True):
        in_process[2].pop("x-ratelimit-minutely-reset", None)
        http[2].pop("x-ratelimit-minutely-reset", None)
        assert in_process == http


def test_request_log_and_counters(sandbox: Sandbox, api: httpx.Client) -> None:
    api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID", "$filter": "City eq 'Zwolle'"})
    api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID"})
    api.put(f"/api/v1/{OFFICE}/crm/Accounts(guid'{guid('account', 1)}')", json={"Phone": "030-1234567"})
    api.post(f"/api/v1/{CLIENT_A}/financial/ProcessReturn", json={"Request": request_guid(1), "Status": 50})
    api.get("/api/v1/current/Me")
    entry = sandbox.request_log[0]
    assert (entry.method, entry.path, entry.endpoint, entry.division, entry.status) == (
        "GET",
        f"/api/v1/{OFFICE}/crm/Accounts",
        "crm/Accounts",
        OFFICE,
        200,
    )
    assert entry.query == {"$select": "ID", "$filter": "City eq 'Zwolle'"}
    assert entry.client_id == sandbox.default_app.client_id
    assert sandbox.request_log[2].path == f"/api/v1/{OFFICE}/crm/Accounts(guid'{guid('account', 1)}')"
    assert sandbox.request_log[2].endpoint == "crm/Accounts"
    assert sandbox.calls("crm/Accounts") == 3
    assert sandbox.calls("crm/Accounts", method="get") == 2
    assert sandbox.calls(division=CLIENT_A) == 1
    assert sandbox.calls("financial/ProcessReturn", division=CLIENT_A, method="POST") == 1
    assert sandbox.calls("current/Me", division=OFFICE) == 1
    assert sandbox.calls() == 5
    sandbox.reset_counters()
    assert sandbox.calls() == 0 and sandbox.request_log == []


def test_tokens_and_secrets_never_reach_the_log(sandbox: Sandbox) -> None:
    tokens = sandbox.issue_tokens()
    with httpx.Client(base_url=BASE, transport=sandbox.transport()) as web:
        web.post(
            "/api/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": sandbox.default_app.client_id,
                "client_secret": sandbox.default_app.client_secret,
            },
        )
        web.get("/api/v1/current/Me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    logged = repr(sandbox.request_log)
    for secret in (tokens["access_token"], tokens["refresh_token"], sandbox.default_app.client_secret):
        assert secret not in logged
    assert sandbox.calls("oauth2/token") == 1


def test_full_login_over_a_real_socket() -> None:
    sandbox = make_sandbox(accounts=3)
    app = sandbox.default_app
    with sandbox.serve() as server, httpx.Client(base_url=server.base_url) as web:
        query = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "response_type": "code", "state": "abc"}
        page = web.get("/api/oauth2/auth", params=query)
        assert page.status_code == 200
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        assert hidden["client_id"] == app.client_id and hidden["state"] == "abc"
        user = sandbox.default_user
        form = {**hidden, "username": user.username, "password": user.password, "decision": "accept"}
        redirect = web.post("/api/oauth2/auth", data=form)
        assert redirect.status_code == 302
        location = redirect.headers["Location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        tokens = web.post(
            "/api/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": app.redirect_uri,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
            },
        ).json()
        me = web.get(
            "/api/v1/current/Me",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
        )
        assert me.json()["d"]["results"][0]["__metadata"]["uri"].startswith(server.base_url)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/api/oauth2/auth?{urlencode(query)}", timeout=2)


def test_clock_moves_for_the_http_server_too() -> None:
    sandbox = make_sandbox(accounts=3)
    with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
        assert api.get("/api/v1/current/Me").status_code == 200
        sandbox.advance(601)
        assert api.get("/api/v1/current/Me").status_code == 401


def test_concurrent_writers_keep_timestamps_unique() -> None:
    sandbox = make_sandbox(accounts=40)
    errors: list[int] = []
    with sandbox.serve() as server:

        def work(number: int) -> None:
            with api_client(sandbox, base_url=server.base_url) as api:
                for step in range(5):
                    response = api.put(
                        f"/api/v1/{OFFICE}/crm/Accounts(guid'{guid('account', number)}')",
                        json={"Remarks": f"stap {step}"},
                    )
                    if response.status_code != 204:
                        errors.append(response.status_code)

        threads = [threading.Thread(target=work, args=(number,)) for number in range(1, 21)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    stamps = [record["Timestamp"] for record in sandbox.records(OFFICE, "crm/Accounts").values()]
    assert len(set(stamps)) == len(stamps)


def test_package_exports_the_sandbox_lazily() -> None:
    assert LazySandbox is Sandbox
