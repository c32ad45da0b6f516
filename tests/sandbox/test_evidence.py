"""The sandbox follows the public evidence about Exact Online (sandbox/evidence.py), knob by knob.

Each rule is shown both ways: as the lenient sandbox answered before and as the evidence says Exact answers,
so a client test can run against either world.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from exactlink.sandbox import model
from exactlink.sandbox.app import HTTPS_REDIRECT_URI, Sandbox
from exactlink.sandbox.evidence import (
    HTTPS_ONLY,
    NOT_MANUAL_APPROVAL,
    PKCE_REFUSED,
    RULES,
    SETTLED,
    UNSUPPORTED_FILTER,
    Evidence,
    TooEarly,
)
from tests.sandbox.conftest import CLIENT_A, OFFICE, api_client, guid, make_sandbox, request_guid
from tests.sandbox.test_oauth import authorize_url, pkce_pair, refresh
from tests.sandbox.test_rest import message, results

MANDATORY = "This endpoint has mandatory filtering applied."


def strict_sandbox(**uncertain: object) -> Sandbox:
    return make_sandbox(accounts=3, evidence=Evidence.strict(**uncertain))


def test_every_knob_has_its_evidence_and_strict_turns_on_only_what_is_settled() -> None:
    knobs = {field for field in Evidence.__dataclass_fields__}
    documented = {rule.knob for rule in RULES}
    assert knobs <= documented, knobs - documented
    assert all(rule.source and rule.what for rule in RULES)
    strict = Evidence.strict()
    assert all(getattr(strict, name) is True for name in SETTLED)
    assert not strict.refuse_pkce and not strict.refuse_returns_created_filter and strict.too_early_refresh is None
    assert Evidence() == strict, "the default is the evidence, all of it"
    assert not strict.allow_http_loopback, "an http loopback redirect URI is the uncertain case, off by default"
    assert all(getattr(Evidence.lenient(), name) is False for name in SETTLED)
    with pytest.raises(TypeError):
        Evidence().changed(no_such_knob=True)


def test_the_app_center_accepts_only_https_redirect_uris() -> None:
    sandbox = make_sandbox(accounts=3)  # the default sandbox
    assert sandbox.default_app.redirect_uri == HTTPS_REDIRECT_URI
    with pytest.raises(ValueError, match="https"):
        sandbox.register_app("{app-2}", "secret", "http://127.0.0.1:8765/callback")
    with pytest.raises(ValueError, match="https"):
        make_sandbox(accounts=3, redirect_uri="http://127.0.0.1:8765/callback")
    assert HTTPS_ONLY.startswith("The redirect URI must use https")
    app = sandbox.register_app("{app-3}", "secret", "https://kantoor.example/exactlink/callback")
    assert app.redirect_uri.startswith("https://")
    lenient = make_sandbox(accounts=3, redirect_uri="http://kantoor.example/cb", evidence=Evidence.lenient())
    assert lenient.default_app.redirect_uri.startswith("http://")


@pytest.mark.parametrize(
    ("redirect_uri", "accepted"),
    [
        ("http://127.0.0.1:8765/callback", True),
        ("http://[::1]:8765/callback", True),
        ("http://localhost:8765/callback", False),  # a name, not a loopback address
        ("http://127.0.0.1.kantoor.example/callback", False),
        ("http://kantoor.example/callback", False),
    ],
)
def test_the_knob_allows_an_http_loopback_redirect_uri_and_nothing_else(redirect_uri: str, accepted: bool) -> None:
    assert Evidence().refused_redirect_uri(redirect_uri) == HTTPS_ONLY
    loopback = Evidence(allow_http_loopback=True)
    assert loopback.refused_redirect_uri(redirect_uri) == (None if accepted else HTTPS_ONLY)
    assert loopback.refused_redirect_uri("https://kantoor.example/exactlink/callback") is None
    sandbox = make_sandbox(accounts=3, evidence=loopback)
    if accepted:
        assert sandbox.register_app("{app-4}", "secret", redirect_uri).redirect_uri == redirect_uri
    else:
        with pytest.raises(ValueError, match="https"):
            sandbox.register_app("{app-4}", "secret", redirect_uri)


def test_an_http_loopback_app_logs_in_only_while_the_app_center_accepts_it() -> None:
    loopback = "http://127.0.0.1:8765/callback"
    sandbox = make_sandbox(accounts=3, evidence=Evidence(allow_http_loopback=True))
    assert sandbox.default_app.redirect_uri == loopback, "the sandbox's default app uses the loopback address"
    url = authorize_url(sandbox, redirect_uri=loopback)
    assert sandbox.browser_login(url).startswith(loopback + "?code=")
    sandbox.evidence = Evidence()  # the App Center as the evidence says: the authorization page refuses it
    with httpx.Client(transport=sandbox.transport()) as web:
        page = web.get(url)
    assert page.status_code == 400 and "https" in page.text and "Location" not in page.headers


def test_solution_link_status_is_skipped_silently_and_delete_removes_the_link() -> None:
    for evidence, status_after_put in ((Evidence.lenient(), 1), (Evidence.strict(), 0)):
        sandbox = make_sandbox(accounts=3, evidence=evidence)
        url = f"/api/v1/{OFFICE}/accountancy/SolutionLinks"
        with api_client(sandbox) as api:
            link = f"{url}(guid'{guid('link', 1)}')"
            assert api.put(link, json={"Status": 1}).status_code == 204  # answered as if applied
            row = results(api.get(url, params={"$select": "Status", "$filter": f"ID eq guid'{guid('link', 1)}'"}))
            assert row[0]["Status"] == status_after_put
            assert api.delete(link).status_code == 204
            assert results(api.get(url, params={"$select": "ID"})) == []
            created = api.post(
                url, json={"Account": guid("account", 2), "SolutionType": 0, "InternalSolutionDivision": CLIENT_A}
            )
            assert created.status_code == 201 and created.json()["d"]["Status"] == 0


@pytest.mark.parametrize("endpoint", ["financial/GLAccounts", "bulk/Financial/TransactionLines"])
def test_mandatory_filter_where_a_sync_api_exists(endpoint: str) -> None:
    url = f"/api/v1/{CLIENT_A}/{endpoint}"
    for evidence, refused in ((Evidence.lenient(), False), (Evidence.strict(), True)):
        with api_client(make_sandbox(accounts=3, evidence=evidence)) as api:
            answer = api.get(url, params={"$select": "ID"})
            assert (answer.status_code == 400) == refused, answer.text
            if refused:
                assert message(answer).startswith(MANDATORY)
            assert api.get(url, params={"$select": "ID", "$filter": "Modified ge datetime'2026-01-01'"}).is_success


@pytest.mark.parametrize("entity", ["GLAccounts", "TransactionLines"])
def test_the_financial_sync_apis_page_by_timestamp(entity: str) -> None:
    with api_client(strict_sandbox()) as api:
        url = f"/api/v1/{CLIENT_A}/sync/Financial/{entity}"
        rows = results(api.get(url, params={"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}))
        assert rows and [int(row["Timestamp"]) for row in rows] == sorted(int(row["Timestamp"]) for row in rows)
        last = max(int(row["Timestamp"]) for row in rows)
        assert results(api.get(url, params={"$select": "ID", "$filter": f"Timestamp gt {last}L"})) == []
        refused = api.get(url, params={"$select": "ID", "$filter": "Code eq '2300'"})
        assert refused.status_code == 400


def test_the_uncertain_filters_can_be_refused() -> None:
    returns = f"/api/v1/{CLIENT_A}/read/financial/Returns"
    lines = f"/api/v1/{CLIENT_A}/bulk/Financial/TransactionLines"
    created = {"$select": "DocumentID", "$filter": "Created ge datetime'2026-01-01'"}
    by_code = {"$select": "ID", "$filter": "GLAccountCode eq '2300'"}
    with api_client(strict_sandbox()) as api:
        assert api.get(returns, params=created).is_success and api.get(lines, params=by_code).is_success
    sandbox = strict_sandbox(refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True)
    with api_client(sandbox) as api:
        for url, params in ((returns, created), (lines, by_code)):
            refused = api.get(url, params=params)
            assert refused.status_code == 400 and message(refused) == UNSUPPORTED_FILTER
        assert api.get(returns, params={"$select": "DocumentID"}).is_success  # the fallback: no filter
        assert api.get(lines, params={"$select": "ID", "$filter": "GLAccount eq guid'" + guid("gl", 2300) + "'"})


def test_process_return_refuses_a_return_not_sent_manual_with_approval() -> None:
    for evidence, refused in ((Evidence.lenient(), False), (Evidence.strict(), True)):
        sandbox = make_sandbox(accounts=3, evidence=evidence)
        sandbox.send_otherwise(CLIENT_A, guid("return", 1))
        with api_client(sandbox) as api:
            url = f"/api/v1/{CLIENT_A}/financial/ProcessReturn"
            answer = api.post(url, json={"Request": request_guid(1), "Status": 50})
            assert (answer.status_code == 400) == refused, answer.text
            if refused:
                assert message(answer) == NOT_MANUAL_APPROVAL
                assert sandbox.records(CLIENT_A, model.RETURNS)[guid("return", 1)]["Status"] == 40
            assert api.post(url, json={"Request": request_guid(2), "Status": 50}).status_code == 201


def test_sync_deleted_forgets_after_two_months() -> None:
    sandbox = strict_sandbox()
    sandbox.delete(OFFICE, model.ACCOUNTS, guid("account", 2))

    def deleted() -> set[str]:
        with api_client(sandbox) as api:  # a fresh token: the clock moves by months
            url = f"/api/v1/{OFFICE}/sync/Deleted"
            rows = results(api.get(url, params={"$select": "EntityKey", "$filter": "Timestamp gt 1L"}))
            return {row["EntityKey"] for row in rows}

    before = deleted()
    assert guid("account", 2) in before  # with its address, contacts and bank accounts
    sandbox.advance(timedelta(days=60).total_seconds())
    assert deleted() == before
    sandbox.advance(timedelta(days=2).total_seconds())
    assert deleted() == set()


def test_a_moved_division_restarts_its_timestamps_and_says_when() -> None:
    sandbox = strict_sandbox()
    with api_client(sandbox) as api:
        url = f"/api/v1/{OFFICE}/sync/CRM/Accounts"
        before = results(api.get(url, params={"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}))
        cursor = max(int(row["Timestamp"]) for row in before)
        sandbox.move_division(OFFICE)
        assert results(api.get(url, params={"$select": "ID", "$filter": f"Timestamp gt {cursor}L"})) == []
        after = results(api.get(url, params={"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}))
        assert {row["ID"] for row in after} == {row["ID"] for row in before}
        assert max(int(row["Timestamp"]) for row in after) < cursor
        divisions = results(api.get(f"/api/v1/{OFFICE}/system/Divisions", params={"$select": "Code,DivisionMoveDate"}))
        moved = next(row for row in divisions if row["Code"] == OFFICE)
        assert moved["DivisionMoveDate"] is not None


def test_pkce_can_be_refused_and_the_too_early_answer_reworded() -> None:
    sandbox = make_sandbox(accounts=3, evidence=Evidence(refuse_pkce=True))
    with httpx.Client(transport=sandbox.transport()) as web:
        _, challenge = pkce_pair()
        page = web.get(authorize_url(sandbox, challenge))
        assert page.status_code == 400 and PKCE_REFUSED in page.text
        assert web.get(authorize_url(sandbox)).status_code == 200

    other = TooEarly(400, "invalid_grant", "Token can not be refreshed yet.")
    sandbox = make_sandbox(accounts=3, evidence=Evidence(too_early_refresh=other))
    tokens = sandbox.issue_tokens()
    with httpx.Client(base_url="https://start.exactonline.nl", transport=sandbox.transport()) as web:
        early = refresh(web, sandbox, tokens["refresh_token"])
        assert early.status_code == 400 and early.json()["error_description"] == other.description
        sandbox.advance(571)
        assert refresh(web, sandbox, tokens["refresh_token"]).status_code == 200
