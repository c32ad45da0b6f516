"""OAuth as Exact does it: login page, exact redirect URI, single-use codes, PKCE, rotating refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from exactlink.sandbox.app import Sandbox
from tests.sandbox.conftest import BASE, make_sandbox

REDIRECT = "https://kantoor.example/exactlink/callback"  # the App Center takes only https


@pytest.fixture
def sandbox() -> Sandbox:
    return make_sandbox(accounts=3, redirect_uri=REDIRECT)


@pytest.fixture
def web(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE, transport=sandbox.transport()) as client:
        yield client


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(sandbox: Sandbox, challenge: str | None = None, **overrides: str) -> str:
    params = {
        "client_id": sandbox.default_app.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st-123",
        "force_login": "0",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(overrides)
    return f"{BASE}/api/oauth2/auth?{urlencode(params)}"


def code_from(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-123"]
    return query["code"][0]


def exchange(web: httpx.Client, sandbox: Sandbox, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": sandbox.default_app.client_id,
        "client_secret": sandbox.default_app.client_secret,
        **extra,
    }
    return web.post("/api/oauth2/token", data=form)


def refresh(web: httpx.Client, sandbox: Sandbox, token: str, secret: str | None = None) -> httpx.Response:
    return web.post(
        "/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": sandbox.default_app.client_id,
            "client_secret": secret or sandbox.default_app.client_secret,
        },
    )


def login(web: httpx.Client, sandbox: Sandbox) -> dict[str, str]:
    verifier, challenge = pkce_pair()
    location = sandbox.browser_login(authorize_url(sandbox, challenge))
    response = exchange(web, sandbox, code_from(location), code_verifier=verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def test_authorize_page_is_a_login_and_consent_form(web: httpx.Client, sandbox: Sandbox) -> None:
    page = web.get(authorize_url(sandbox))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert "Accept for all current and future administrations" in page.text
    assert 'value="deny"' in page.text
    assert f'name="redirect_uri" value="{REDIRECT}"' in page.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "{00000000-0000-4000-8000-000000000000}"},
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": "http://kantoor.example/exactlink/callback"},
        {"redirect_uri": "https://KANTOOR.example/exactlink/callback"},
        {"response_type": "token"},
        {"code_challenge": "abc", "code_challenge_method": "plain"},
    ],
)
def test_bad_authorize_requests_get_an_error_page_and_no_redirect(
    web: httpx.Client, sandbox: Sandbox, overrides: dict[str, str]
) -> None:
    page = web.get(authorize_url(sandbox, **overrides))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")


def test_code_flow_with_pkce_gives_exact_shaped_tokens(web: httpx.Client, sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    location = sandbox.browser_login(authorize_url(sandbox, challenge))
    assert location.startswith(REDIRECT + "?")
    assert "%21" in location and "%2A" in location  # the code needs URL-decoding once
    code = code_from(location)
    assert "!" in code and "*" in code
    response = exchange(web, sandbox, code, code_verifier=verifier)
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == "600"  # a string, as Exact sends it
    me = web.get(
        "/api/v1/current/Me",
        headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
    )
    assert me.status_code == 200
    assert sandbox.token_calls["authorization_code"] == 1


def test_wrong_or_missing_verifier_is_refused_and_burns_the_code(web: httpx.Client, sandbox: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    code = code_from(sandbox.browser_login(authorize_url(sandbox, challenge)))
    wrong = exchange(web, sandbox, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert exchange(web, sandbox, code, code_verifier=verifier).status_code == 400  # single use

    code = code_from(sandbox.browser_login(authorize_url(sandbox, challenge)))
    missing = exchange(web, sandbox, code)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"


def test_codes_are_single_use_and_expire_after_three_minutes(web: httpx.Client, sandbox: Sandbox) -> None:
    code = code_from(sandbox.browser_login(authorize_url(sandbox)))
    assert exchange(web, sandbox, code).status_code == 200
    again = exchange(web, sandbox, code)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has already been used.",
    }

    code = code_from(sandbox.browser_login(authorize_url(sandbox)))
    sandbox.advance(181)
    late = exchange(web, sandbox, code)
    assert late.status_code == 400
    assert late.json()["error_description"] == "The authorization code has expired."


def test_token_exchange_needs_the_same_redirect_uri_and_the_right_secret(web: httpx.Client, sandbox: Sandbox) -> None:
    code = code_from(sandbox.browser_login(authorize_url(sandbox)))
    other = exchange(web, sandbox, code, redirect_uri=REDIRECT + "/")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"

    code = code_from(sandbox.browser_login(authorize_url(sandbox)))
    bad_secret = exchange(web, sandbox, code, client_secret="wrong")
    assert bad_secret.status_code == 401
    assert bad_secret.json() == {"error": "invalid_client", "error_description": "Invalid client credentials."}


def test_deny_and_wrong_password(web: httpx.Client, sandbox: Sandbox) -> None:
    location = sandbox.browser_login(authorize_url(sandbox), decision="deny")
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["st-123"]}
    with pytest.raises(RuntimeError, match="login was not accepted"):
        sandbox.browser_login(authorize_url(sandbox), password="wrong")
    form = dict(parse_qs(urlsplit(authorize_url(sandbox)).query, keep_blank_values=True))
    flat = {key: values[0] for key, values in form.items()} | {"username": "x", "password": "y", "decision": "accept"}
    page = web.post("/api/oauth2/auth", data=flat)
    assert page.status_code == 200
    assert "The username or password is incorrect." in page.text


def test_refresh_rotates_and_the_old_refresh_token_stops_working(web: httpx.Client, sandbox: Sandbox) -> None:
    first = login(web, sandbox)
    sandbox.advance(571)
    second = refresh(web, sandbox, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert rotated["expires_in"] == "600"

    reused = refresh(web, sandbox, first["refresh_token"])
    assert reused.status_code == 401
    assert reused.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    assert sandbox.token_calls["refresh_token"] == 2


def test_too_early_refresh_is_refused_without_rotating(web: httpx.Client, sandbox: Sandbox) -> None:
    tokens = login(web, sandbox)
    sandbox.advance(300)
    early = refresh(web, sandbox, tokens["refresh_token"])
    assert early.status_code == 401, "Exact: 'rejected with response code 401 and reason Access Token not expired'"
    assert early.json() == {
        "error": "invalid_request",
        "error_description": "Access token not expired yet. You can only request a new access token after 570 seconds.",
    }
    sandbox.advance(271)  # 571 s after issue: allowed, and the same refresh token still works
    assert refresh(web, sandbox, tokens["refresh_token"]).status_code == 200


def test_access_tokens_live_600_seconds(web: httpx.Client, sandbox: Sandbox) -> None:
    tokens = login(web, sandbox)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
    sandbox.advance(599)
    assert web.get("/api/v1/current/Me", headers=headers).status_code == 200
    sandbox.advance(1)
    expired = web.get("/api/v1/current/Me", headers=headers)
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    assert "expired" in expired.json()["error"]["message"]["value"]


def test_refresh_tokens_expire_after_30_days_unused(web: httpx.Client, sandbox: Sandbox) -> None:
    tokens = login(web, sandbox)
    sandbox.advance(30 * 86_400 + 1)
    response = refresh(web, sandbox, tokens["refresh_token"])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("The refresh token expired at ")
    assert " and it is now " in body["error_description"]


def test_token_endpoint_refuses_unknown_tokens_grants_and_encodings(web: httpx.Client, sandbox: Sandbox) -> None:
    unknown = refresh(web, sandbox, "no-such-token")
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token."}
    grant = web.post("/api/oauth2/token", data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    as_json = web.post("/api/oauth2/token", json={"grant_type": "refresh_token"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


def test_client_credentials_may_come_as_http_basic(web: httpx.Client, sandbox: Sandbox) -> None:
    tokens = login(web, sandbox)
    sandbox.advance(575)
    app = sandbox.default_app
    response = web.post(
        "/api/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(app.client_id, app.client_secret),
    )
    assert response.status_code == 200


def test_registered_apps_use_their_own_redirect_uri(web: httpx.Client, sandbox: Sandbox) -> None:
    app = sandbox.register_app("{bbbbbbbb-0000-4000-8000-000000000002}", "s3cret", "https://other.example/cb")
    url = authorize_url(sandbox, client_id=app.client_id, redirect_uri=app.redirect_uri)
    location = sandbox.browser_login(url)
    assert location.startswith("https://other.example/cb?code=")
