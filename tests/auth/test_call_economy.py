"""Onboarding costs what it needs, not one call per 60 administrations: `login` and `tenant select CODE` read
`current/Me` and one filtered `system/Divisions` page, whatever the size of the office (issue: large offices)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exactlink.sandbox import Sandbox
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, HTTPS_REDIRECT, Browser
from tests.cli import run_cli, set_workspace

CLIENTS = 300  # five pages of system/Divisions if they were listed


@pytest.fixture
def big_office(monkeypatch: pytest.MonkeyPatch, browser: Browser) -> Iterator[Sandbox]:
    sandbox = Sandbox(clients=CLIENTS, seed=4)
    redirect_uri = HTTPS_REDIRECT  # as the App Center insists; the test browser relays
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    with sandbox.serve() as server:
        for name, value in {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": redirect_uri,
        }.items():
            monkeypatch.setenv(name, value)
        yield sandbox


def api_calls(sandbox: Sandbox) -> list[str]:
    """REST calls (what the 60-a-minute limit counts), not the OAuth pages and token endpoint."""
    return [
        entry.endpoint for entry in sandbox.request_log if entry.endpoint and not entry.endpoint.startswith("oauth2")
    ]


def test_login_reads_who_logged_in_and_the_practice_administration_only(big_office: Sandbox) -> None:
    result = run_cli("login", "--json")

    assert result.exit_code == 0, result.stderr
    assert api_calls(big_office) == ["current/Me", "system/Divisions"]
    assert f'"code": {big_office.data.office_division}' in result.stdout


def test_tenant_select_by_code_costs_two_calls(big_office: Sandbox) -> None:
    assert run_cli("login").exit_code == 0
    big_office.reset_counters()

    result = run_cli("tenant", "select", str(big_office.data.office_division), "--yes")

    assert result.exit_code == 0, result.stderr
    assert len(api_calls(big_office)) <= 2, api_calls(big_office)
    unconsented = sorted(big_office.data.unconsented_divisions)[0]
    refused = run_cli("tenant", "select", str(unconsented), "--yes")
    assert refused.exit_code == 2 and "consent" in refused.stderr
    unknown = run_cli("tenant", "select", "999999999", "--yes")
    assert unknown.exit_code == 2 and "not among" in unknown.stderr
    by_name = run_cli("tenant", "select", "Administratiekantoor", "--yes", "--dry-run")
    assert by_name.exit_code in (0, 2), by_name.stderr  # a name is looked up in the full list (ambiguous is 2)


class RefusingDivisionFilters(httpx.BaseTransport):
    """Answers like a tenant that does not take a $filter on system/Divisions."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/system/" in request.url.path and "$filter" in request.url.params:
            body = {
                "error": {"code": "", "message": {"lang": "", "value": "Filtering on these fields is not supported."}}
            }
            return httpx.Response(400, json=body, request=request)
        return self.inner.handle_request(request)


def test_without_division_filters_it_lists_as_before(big_office: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_workspace(monkeypatch, transport=RefusingDivisionFilters(big_office.transport()))
    assert run_cli("login").exit_code == 0
    selected = run_cli("tenant", "select", str(big_office.data.office_division), "--yes")
    assert selected.exit_code == 0, selected.stderr
    assert big_office.calls("system/Divisions") > 2, "the full list was read"


def test_a_new_login_or_a_logout_forgets_the_stored_listing_of_administrations(big_office: Sandbox) -> None:
    from exactlink.store.db import open_db
    from exactlink.store.divisions import stored_division_list

    def stored() -> bool:
        db = open_db()
        try:
            return stored_division_list(db) is not None
        finally:
            db.close()

    assert run_cli("login").exit_code == 0
    assert run_cli("tenant", "select", str(big_office.data.office_division), "--yes").exit_code == 0
    assert run_cli("tenant", "list", "--json").exit_code == 0
    assert stored(), "tenant list keeps what it read for link-admin"
    assert run_cli("login").exit_code == 0
    assert not stored(), "another login may see other administrations"
    assert run_cli("tenant", "list", "--json").exit_code == 0 and stored()
    assert run_cli("logout").exit_code == 0
    assert not stored()
