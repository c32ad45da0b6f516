"""Token refresh against the sandbox's token endpoint: when, how often, in which order, and how it fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import httpx
import pytest

from exactlink.api.client import ExactClient
from exactlink.api.errors import ApiError
from exactlink.auth.oauth import OAuthApp, OAuthClient, TokenSet
from exactlink.auth.session import TokenProvider
from exactlink.auth.tokens import TokenStore
from exactlink.errors import LoginRequired
from exactlink.exitcodes import ExitCode
from exactlink.sandbox import Sandbox
from exactlink.sandbox.evidence import Evidence, TooEarly
from tests.auth.conftest import Exact
from tests.cli import run_cli

BASE = "https://exact.test"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(clients=3, seed=5)


def token_file_store(tmp_path: Path, name: str = "tokens.json") -> TokenStore:
    return TokenStore(BASE, "app", mode="file", token_file=tmp_path / name)


def seed_login(sandbox: Sandbox, store: TokenStore) -> TokenSet:
    issued = sandbox.issue_tokens()
    now = sandbox.clock.now()
    tokens = TokenSet(issued["access_token"], issued["refresh_token"], expires_at=now + 600, refreshed_at=now)
    store.save(tokens)
    return tokens


def provider_for(
    sandbox: Sandbox,
    store: TokenStore,
    tmp_path: Path,
    *,
    transport: httpx.BaseTransport | None = None,
    warn: Callable[[str], None] | None = None,
) -> TokenProvider:
    app = sandbox.default_app
    oauth = OAuthClient(
        OAuthApp(BASE, app.client_id, app.client_secret, app.redirect_uri),
        transport=transport or sandbox.transport(),
        clock=sandbox.clock.now,
    )
    return TokenProvider(
        store, oauth, clock=sandbox.clock.now, lock_path=tmp_path / "refresh.lock", warn=warn or (lambda m: None)
    )


def client_for(sandbox: Sandbox, provider: TokenProvider, transport: httpx.BaseTransport | None = None) -> ExactClient:
    return ExactClient(BASE, provider, transport=transport or sandbox.transport())


def test_a_valid_token_is_used_without_refreshing(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.advance(500)
    assert provider.access_token() == seed.access_token
    assert sandbox.token_calls["refresh_token"] == 0


def test_an_expired_token_is_refreshed_once_and_the_rotation_stored(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.advance(601)
    token = provider.access_token()
    assert token != seed.access_token
    assert provider.access_token() == token
    assert sandbox.token_calls["refresh_token"] == 1
    stored = store.load()
    assert stored is not None and stored.access_token == token and stored.refresh_token != seed.refresh_token
    assert stored.refreshed_at == pytest.approx(sandbox.clock.now(), abs=5)
    with client_for(sandbox, provider) as client:
        assert client.me().UserName == "admin@kantoor.example"


def test_a_slow_refresh_answer_is_waited_for_beyond_the_api_timeout(sandbox: Sandbox, tmp_path: Path) -> None:
    # Exact rotates the refresh token as soon as the refresh arrives: giving up on a slow answer (the short
    # API time-out) would leave only the rotated-away token, and the office would have to log in again.
    from exactlink.sandbox import Faults

    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    app = sandbox.default_app
    oauth = OAuthClient(
        OAuthApp(BASE, app.client_id, app.client_secret, app.redirect_uri),
        transport=sandbox.transport(),
        timeout=0.1,
        clock=sandbox.clock.now,
    )
    provider = TokenProvider(store, oauth, clock=sandbox.clock.now, lock_path=tmp_path / "refresh.lock")
    sandbox.advance(601)
    sandbox.faults = Faults(timeout_rate=1.0, hang_seconds=0.4, include_token_endpoint=True)

    token = provider.access_token()

    sandbox.faults = Faults()
    stored = store.load()
    assert stored is not None and stored.access_token == token and stored.refresh_token != seed.refresh_token
    assert sandbox.token_calls["refresh_token"] == 1
    with client_for(sandbox, provider) as client:
        assert client.me().UserName == "admin@kantoor.example"


def test_refresh_starts_30_seconds_before_expiry(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.advance(569)
    provider.access_token()
    assert sandbox.token_calls["refresh_token"] == 0
    sandbox.advance(6)
    provider.access_token()
    assert sandbox.token_calls["refresh_token"] == 1


def test_the_rotated_refresh_token_is_stored_before_the_new_access_token_is_used(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    events: list[tuple[str, str]] = []
    inner = sandbox.transport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            bearer = request.headers.get("Authorization", "")
            if bearer:
                events.append(("use", bearer.removeprefix("Bearer ")))
            return inner.handle_request(request)

    store = token_file_store(tmp_path)
    original_save = store.save

    def recording_save(tokens: TokenSet) -> Literal["keyring", "file"]:
        result = original_save(tokens)
        events.append(("save", tokens.access_token))
        return result

    store.save = recording_save  # type: ignore[method-assign]
    seed_login(sandbox, store)
    events.clear()
    provider = provider_for(sandbox, store, tmp_path, transport=Recording())
    sandbox.advance(601)
    with client_for(sandbox, provider, Recording()) as client:
        client.me()
    fresh = store.load()
    assert fresh is not None
    assert events.index(("save", fresh.access_token)) < events.index(("use", fresh.access_token))


def test_too_early_answer_keeps_the_current_token(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.advance(100)
    assert provider.refresh_after_unauthorized(seed.access_token) == seed.access_token
    assert sandbox.token_calls["refresh_token"] == 1, "Exact was asked and said 'too early'"
    assert store.load() == seed, "nothing was rotated"
    sandbox.advance(500)
    assert provider.access_token() != seed.access_token, "the refresh token still works afterwards"


@pytest.mark.parametrize(
    "answer",
    [
        TooEarly(400, "invalid_grant", "Token can not be refreshed yet."),
        TooEarly(401, "unauthorized_client", "Refresh refused."),
        TooEarly(400, "invalid_request", "Something else entirely"),
    ],
    ids=["invalid-grant", "unauthorized", "unknown"],
)
def test_any_refusal_while_the_access_token_is_valid_keeps_the_login(
    sandbox: Sandbox, tmp_path: Path, answer: TooEarly
) -> None:
    sandbox.evidence = Evidence(too_early_refresh=answer)  # Exact's wording of 'too early' is not known for sure
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    seed.expires_at = sandbox.clock.now() + 20  # our clock is ahead of Exact's: refreshing looks due, Exact says no
    store.save(seed)
    provider = provider_for(sandbox, store, tmp_path)
    assert provider.access_token() == seed.access_token
    assert provider.access_token() == seed.access_token
    assert sandbox.token_calls["refresh_token"] == 1, "one refusal, then no refresh until the token has expired"
    assert store.load() == seed
    sandbox.advance(15)
    assert provider.access_token() == seed.access_token and sandbox.token_calls["refresh_token"] == 1
    sandbox.evidence = Evidence()
    sandbox.advance(571)  # expired for us (and for Exact): the refresh is tried again and works
    assert provider.access_token() != seed.access_token
    assert sandbox.token_calls["refresh_token"] == 2


def test_a_refused_refresh_after_the_token_was_rejected_means_login_again(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.evidence = Evidence(too_early_refresh=TooEarly(400, "invalid_grant", "Token can not be refreshed yet."))
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.advance(100)
    with pytest.raises(LoginRequired):
        provider.refresh_after_unauthorized(seed.access_token)  # Exact refused the token itself: nothing to keep


def test_invalid_grant_means_login_again(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    now = sandbox.clock.now()
    store.save(TokenSet("unknown-access", "unknown-refresh", expires_at=now - 1, refreshed_at=now - 60))
    with pytest.raises(LoginRequired) as caught:
        provider_for(sandbox, store, tmp_path).access_token()
    assert caught.value.exit_code == ExitCode.LOGIN_REQUIRED
    assert caught.value.hint == "run `exactlink login` again"
    assert "unknown-refresh" not in caught.value.message


def test_old_refresh_token_used_means_login_again(sandbox: Sandbox, tmp_path: Path) -> None:
    mine = token_file_store(tmp_path, "mine.json")
    theirs = token_file_store(tmp_path, "theirs.json")
    seed = seed_login(sandbox, mine)
    theirs.save(seed)
    sandbox.advance(601)
    provider_for(sandbox, theirs, tmp_path).access_token()  # rotates the shared refresh token away
    with pytest.raises(LoginRequired, match="Old refresh token used"):
        provider_for(sandbox, mine, tmp_path).access_token()


def test_a_refresh_token_unused_for_30_days_means_login_again(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed_login(sandbox, store)
    sandbox.advance(31 * 86_400)
    with pytest.raises(LoginRequired, match="not used for 30 days"):
        provider_for(sandbox, store, tmp_path).access_token()
    assert sandbox.token_calls["refresh_token"] == 0, "no call is wasted on a token known to be dead"


def test_exacts_expired_refresh_token_answer_means_login_again(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    sandbox.advance(31 * 86_400)
    seed.refreshed_at = sandbox.clock.now()  # our bookkeeping thinks it is fresh; Exact knows better
    seed.expires_at = sandbox.clock.now() - 1
    store.save(seed)
    with pytest.raises(LoginRequired, match="refresh token expired"):
        provider_for(sandbox, store, tmp_path).access_token()


def test_warns_three_days_before_the_login_expires(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed_login(sandbox, store)
    warnings: list[str] = []
    sandbox.advance(28 * 86_400)
    provider = provider_for(sandbox, store, tmp_path, warn=warnings.append)
    provider.access_token()
    provider.access_token()
    assert len(warnings) == 1 and "the Exact Online login expires on" in warnings[0]
    stored = store.load()
    assert stored is not None and stored.refreshed_at == pytest.approx(sandbox.clock.now(), abs=5), "renewed"


def test_a_401_refreshes_once_and_the_call_succeeds(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    seed.expires_at += 3600  # our clock is off: we believe the token is still valid
    store.save(seed)
    sandbox.advance(601)
    provider = provider_for(sandbox, store, tmp_path)
    with client_for(sandbox, provider) as client:
        assert client.me().UserName == "admin@kantoor.example"
    assert sandbox.token_calls["refresh_token"] == 1


def test_cli_refreshes_an_expired_token_transparently(logged_in: Exact) -> None:
    logged_in.sandbox.advance(601)
    result = run_cli("tenant", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert logged_in.sandbox.token_calls["refresh_token"] == 1
    assert run_cli("tenant", "list", "--json").exit_code == 0
    assert logged_in.sandbox.token_calls["refresh_token"] == 1


def test_cli_with_a_dead_login_exits_4(logged_in: Exact, exactlink_home: Path) -> None:
    logged_in.sandbox.advance(31 * 86_400)
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.LOGIN_REQUIRED
    assert "run `exactlink login` again" in result.stderr
    status = json.loads(run_cli("status", "--json").stdout)
    assert status["logged_in"] is True, "status reads local state only; the local clock has not moved"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        # Exact's knowledge base: 401 "Access Token not expired"; some clients report it as a 400.
        (401, {"error": "invalid_request", "error_description": "Access token not expired yet."}, "too early"),
        (400, {"error": "invalid_request", "error_description": "Access Token not expired"}, "too early"),
        (401, {"error": "unauthorized_client", "error_description": "Old refresh token used."}, "login"),
        (400, {"error": "invalid_grant", "error_description": "Invalid refresh token."}, "login"),
        (400, {"error": "invalid_request", "error_description": "The refresh token expired at 1/1/2026"}, "login"),
        (503, {}, "oauth error"),
    ],
)
def test_token_endpoint_answers_are_told_apart(status: int, body: dict[str, str], outcome: str) -> None:
    from exactlink.auth.oauth import OAuthError, RefreshTooEarly

    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    oauth = OAuthClient(OAuthApp(BASE, "app", "secret", "http://127.0.0.1:8765/callback"), transport=transport)
    expected: type[Exception] = {"too early": RefreshTooEarly, "login": LoginRequired, "oauth error": OAuthError}[
        outcome
    ]
    with pytest.raises(expected) as caught:
        oauth.refresh("the-refresh-token")
    assert "the-refresh-token" not in str(caught.value)
    if outcome == "login":
        assert isinstance(caught.value, LoginRequired) and caught.value.hint == "run `exactlink login` again"


def test_a_401_for_another_reason_is_not_refreshed_and_keeps_the_login(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    provider = provider_for(sandbox, store, tmp_path)
    sandbox.faults.script("unauthorized")  # 401, reason "message expired"
    with client_for(sandbox, provider) as client, pytest.raises(ApiError) as caught:
        client.me()
    assert not isinstance(caught.value, LoginRequired)
    assert caught.value.message.endswith("(HTTP 401): message expired")
    assert sandbox.token_calls["refresh_token"] == 0
    assert store.load() == seed, "the stored login is untouched"
    with client_for(sandbox, provider) as client:
        assert client.me().UserName == "admin@kantoor.example", "the same login works on the next call"


def test_a_token_exact_does_not_know_means_login_again_without_a_refresh(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    seed.access_token = "not-a-token-exact-issued"
    store.save(seed)
    provider = provider_for(sandbox, store, tmp_path)
    with client_for(sandbox, provider) as client, pytest.raises(LoginRequired) as caught:
        client.me()
    assert "access token is not valid (access token invalid)" in caught.value.message
    assert sandbox.token_calls["refresh_token"] == 0


def test_an_expired_token_reason_from_the_sandbox_is_refreshed_once(sandbox: Sandbox, tmp_path: Path) -> None:
    store = token_file_store(tmp_path)
    seed = seed_login(sandbox, store)
    seed.expires_at += 3600  # our clock is off: only Exact's "access token expired" tells
    store.save(seed)
    sandbox.advance(601)
    provider = provider_for(sandbox, store, tmp_path)
    with httpx.Client(transport=sandbox.transport(), base_url=BASE, auth=provider) as plain:
        answer = plain.get("/api/v1/current/Me", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    assert sandbox.token_calls["refresh_token"] == 1
