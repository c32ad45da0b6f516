"""ExactClient over a MockTransport: paging, headers, writes, errors, 401 refresh, 403 reasons."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from exactlink.api.client import ExactClient, build_query
from exactlink.api.errors import ApiError, ForbiddenError, UnauthorizedKind, unauthorized_reason
from exactlink.api.odata import code_literal
from exactlink.errors import LoginRequired
from exactlink.exitcodes import ExitCode
from tests.api.conftest import BASE, StaticTokens, exact_error, page

MakeClient = Callable[..., ExactClient]

USER_ID = "0b5e5a55-0000-4000-8000-0000000000a1"  # Exact sends GUIDs (upper case); the models lower-case them


def test_paging_follows_next_verbatim_and_sends_select(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []
    next_1 = f"{BASE}/api/v1/42/crm/Accounts?$select=ID,Name&$skiptoken=guid'aaaaaaaa-0000-0000-0000-000000000001'"
    next_2 = f"{BASE}/api/v1/42/crm/Accounts?$select=ID,Name&$skiptoken=guid'aaaaaaaa-0000-0000-0000-000000000002'"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url)
        if url == next_1:
            return page([{"ID": "b"}], next_2)
        if url == next_2:
            return httpx.Response(200, json={"d": [{"ID": "c"}]})
        return page([{"ID": "a"}], next_1)

    client = make_client(handler)
    rows = list(client.get_collection(42, "crm/Accounts", select=["ID", "Name"], filter=f"Code eq {code_literal(7)}"))
    assert [row["ID"] for row in rows] == ["a", "b", "c"]
    assert [str(request.url) for request in seen[1:]] == [next_1, next_2]
    first = seen[0]
    assert first.url.path == "/api/v1/42/crm/Accounts"
    assert first.url.params["$select"] == "ID,Name"
    assert first.url.params["$filter"] == "Code eq '" + "7".rjust(18) + "'"
    assert first.headers["Authorization"] == "Bearer token-1"
    assert first.headers["Accept"] == "application/json"
    assert "Prefer" not in first.headers


def test_pages_come_as_exact_sent_them_and_only_when_asked(make_client: MakeClient) -> None:
    calls: list[str] = []
    next_1 = f"{BASE}/api/v1/42/sync/CRM/Accounts?$skiptoken=1"

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if str(request.url) == next_1:
            return page([{"ID": "c"}])
        return page([{"ID": "a"}, {"ID": "b"}], next_1)

    client = make_client(handler)
    pages = client.get_pages(42, "sync/CRM/Accounts", select="ID", filter="Timestamp gt 1L")
    assert next(pages) == [{"ID": "a"}, {"ID": "b"}]
    assert len(calls) == 1, "the next page is requested only when the caller asks for it"
    assert list(pages) == [[{"ID": "c"}]]
    assert len(calls) == 2
    empty = make_client(lambda request: page([]))
    assert list(empty.get_pages(42, "sync/CRM/Accounts", select="ID")) == [[]], "an empty answer is one page"


def test_query_keeps_odata_readable() -> None:
    query = build_query({"$select": "ID,Code", "$filter": "Name eq 'A&B'"})
    assert query == "$select=ID,Code&$filter=Name%20eq%20'A%26B'"


def test_select_is_mandatory(make_client: MakeClient) -> None:
    client = make_client(lambda request: page([]))
    with pytest.raises(ValueError):
        list(client.get_collection(1, "crm/Accounts", select=""))


def test_get_first_and_me(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v1/current/Me":
            return page([{"UserID": USER_ID.upper(), "FullName": "Anna Admin", "CurrentDivision": 7}])
        return page([{"ID": "x"}])

    client = make_client(handler)
    assert client.get_first(7, "crm/Accounts", select="ID") == {"ID": "x"}
    assert seen[0].url.params["$top"] == "1"
    me = client.me()
    assert me.FullName == "Anna Admin" and me.CurrentDivision == 7 and me.UserID == USER_ID
    client.me()
    assert len(seen) == 2, "current/Me is cached per client"
    assert "$select" in seen[1].url.params


def test_post_and_put(make_client: MakeClient) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, json={"d": {"ID": "new", **json.loads(request.content)}})
        return httpx.Response(204)

    client = make_client(handler)
    created = client.post(9, "accountancy/SolutionLinks", {"Account": "a", "SolutionType": 0})
    assert created["ID"] == "new"
    client.put(9, "accountancy/SolutionLinks(guid'00000000-0000-0000-0000-000000000001')", {"Status": 1})
    assert seen[0].headers["Prefer"] == "return=representation"
    assert seen[0].headers["Content-Type"] == "application/json"
    assert seen[1].method == "PUT" and seen[1].url.path.endswith(
        "SolutionLinks(guid'00000000-0000-0000-0000-000000000001')"
    )


def test_next_link_to_another_host_is_refused(make_client: MakeClient) -> None:
    client = make_client(lambda request: page([{"ID": 1}], "https://evil.example/api/v1/1/crm/Accounts"))
    with pytest.raises(ApiError, match="another host"):
        list(client.get_collection(1, "crm/Accounts", select="ID"))


def test_a_401_refreshes_once_and_retries_once(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    auth_headers: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth_headers.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer token-1":
            return httpx.Response(401)
        return page([{"ID": 1}])

    client = make_client(handler, tokens=tokens)
    assert list(client.get_collection(1, "crm/Accounts", select="ID")) == [{"ID": 1}]
    assert auth_headers == ["Bearer token-1", "Bearer token-2"]
    assert tokens.refreshes == 1


def test_a_second_401_means_login_required(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    client = make_client(lambda request: httpx.Response(401), tokens=tokens)
    with pytest.raises(LoginRequired) as caught:
        list(client.get_collection(1, "crm/Accounts", select="ID"))
    assert caught.value.exit_code == ExitCode.LOGIN_REQUIRED
    assert "exactlink login" in (caught.value.hint or "")
    assert tokens.refreshes == 1


def _unauthorized(reason: str) -> httpx.Response:
    challenge = f'Bearer realm="Exact Online", error="invalid_token", error_description="{quote(reason)}"'
    return httpx.Response(401, headers={"WWW-Authenticate": challenge})


@pytest.mark.parametrize(
    ("header", "kind", "text"),
    [
        (None, UnauthorizedKind.UNSTATED, None),
        ('Bearer realm="Exact Online", error="invalid_token"', UnauthorizedKind.UNSTATED, None),
        ("access%20token%20expired", UnauthorizedKind.EXPIRED, "access token expired"),
        ("Bearer access+token+expired", UnauthorizedKind.EXPIRED, "access token expired"),
        ('Bearer error_description="The%20access%20token%20has%20expired."', UnauthorizedKind.EXPIRED, None),
        ("message%20expired", UnauthorizedKind.OTHER, "message expired"),
        ('Bearer realm="Exact Online", error_description="message%20expired"', UnauthorizedKind.OTHER, None),
        ('Bearer error="invalid_token", error_description="access%20token%20invalid"', UnauthorizedKind.INVALID, None),
        ("Access%20token%20not%20expired", UnauthorizedKind.OTHER, "Access token not expired"),
    ],
)
def test_the_reason_of_a_401_is_read_from_www_authenticate(
    header: str | None, kind: UnauthorizedKind, text: str | None
) -> None:
    reason = unauthorized_reason(header)
    assert reason.kind is kind
    if text is not None:
        assert reason.text == text


def test_an_expired_token_reason_refreshes_once(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return _unauthorized("access token expired") if len(seen) == 1 else page([{"ID": 1}])

    client = make_client(handler, tokens=tokens)
    assert list(client.get_collection(1, "crm/Accounts", select="ID")) == [{"ID": 1}]
    assert seen == ["Bearer token-1", "Bearer token-2"] and tokens.refreshes == 1


def test_still_expired_after_the_refresh_means_login_again_naming_the_reason(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    client = make_client(lambda request: _unauthorized("access token expired"), tokens=tokens)
    with pytest.raises(LoginRequired) as caught:
        list(client.get_collection(1, "crm/Accounts", select="ID"))
    assert "access token expired" in caught.value.message and tokens.refreshes == 1


def test_another_reason_is_one_clear_error_without_refresh_or_login_again(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _unauthorized("message expired")

    client = make_client(handler, tokens=tokens)
    with pytest.raises(ApiError) as caught:
        list(client.get_collection(7, "crm/Accounts", select="ID"))
    assert not isinstance(caught.value, LoginRequired)
    assert caught.value.message == (
        "Exact Online refused the call to crm/Accounts in administration 7 (HTTP 401): message expired"
    )
    assert "login" not in (caught.value.hint or "")
    assert tokens.refreshes == 0 and len(calls) == 1


def test_an_invalid_token_is_not_refreshed_it_means_login_again(make_client: MakeClient) -> None:
    tokens = StaticTokens()
    client = make_client(lambda request: _unauthorized("access token invalid"), tokens=tokens)
    with pytest.raises(LoginRequired) as caught:
        list(client.get_collection(1, "crm/Accounts", select="ID"))
    assert "not valid (access token invalid)" in caught.value.message
    assert "exactlink login" in (caught.value.hint or "")
    assert tokens.refreshes == 0


def test_an_invalid_token_is_retried_once_with_a_newer_stored_one(make_client: MakeClient) -> None:
    tokens = StaticTokens(newer="token-from-another-process")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer token-1":
            return _unauthorized("access token invalid")
        return page([{"ID": 1}])

    client = make_client(handler, tokens=tokens)
    assert list(client.get_collection(1, "crm/Accounts", select="ID")) == [{"ID": 1}]
    assert seen == ["Bearer token-1", "Bearer token-from-another-process"] and tokens.refreshes == 0


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("NoDivisionAccess", "this login has no access to administration 77 (or the app was not given consent for it)"),
        ("LicenseExpired", "licence of administration 77 has expired"),
        ("BlockedUser", "user is blocked"),
        ("InactiveUser", "user is inactive"),
        ("BlockedCustomer", "customer (licence holder) is blocked"),
        ("DivisionBlocked", "administration 77 is blocked"),
        ("TooManyErrors", "too many failed calls"),
        ("SomethingNew", "Forbidden - other"),
    ],
)
def test_403_reasons_become_plain_words(make_client: MakeClient, reason: str, expected: str) -> None:
    client = make_client(lambda request: exact_error(403, "Forbidden - other", {"Reason": reason}))
    with pytest.raises(ForbiddenError) as caught:
        list(client.get_collection(77, "crm/Accounts", select="ID"))
    assert expected in caught.value.message
    assert caught.value.reason == reason and caught.value.division == 77
    assert "Traceback" not in caught.value.message


def test_scope_violation_403_says_what_to_fix(make_client: MakeClient) -> None:
    client = make_client(lambda request: exact_error(403, "Forbidden - Application Scope Violated. Cannot read"))
    with pytest.raises(ForbiddenError, match="scopes in the Exact App Center"):
        list(client.get_collection(5, "read/financial/Returns", select="DocumentID"))


def test_400_shows_exacts_own_message(make_client: MakeClient) -> None:
    client = make_client(
        lambda request: exact_error(400, "Please add a $select or a $top=1 statement to the query string.")
    )
    with pytest.raises(ApiError) as caught:
        list(client.get_collection(5, "crm/Accounts", select="ID"))
    assert "Please add a $select" in caught.value.message
    assert caught.value.status == 400 and caught.value.endpoint == "crm/Accounts"


def test_non_json_answer_is_an_api_error(make_client: MakeClient) -> None:
    client = make_client(lambda request: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(ApiError, match="not JSON"):
        list(client.get_collection(5, "crm/Accounts", select="ID"))
