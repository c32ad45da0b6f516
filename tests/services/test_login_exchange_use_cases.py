"""``login`` whole, the OAuth exchange included, on its own: the user pastes the address the browser ended on,
Exact's token endpoint and API answer through the workspace's transport (recorded, no server), the tokens go to
the test's in-memory keyring, the clock is frozen."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from exactlink.auth.oauth import LoginFailed
from exactlink.clock import Clock
from exactlink.services.login import PASTE, LoginOutcome, login
from exactlink.workspace import RecordingOutput, Workspace
from tests.services.recorded import RecordedExact, memory_db
from tests.services.test_login_use_cases import ADMIN, OFFICE, office_exact

# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
CLIENT_ID = "c0ffee00-0000-4000-8000-000000000001"


class ExactWithTokenEndpoint(RecordedExact):
    """Exact as recorded, plus its token endpoint: it trades the code ``good-code`` for tokens (once) and
    refuses any other; keeps each form posted to it and each bearer token the API saw."""

    token_forms: list[dict[str, str]]
    bearers: list[str]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth2/token":
            form = dict(urllib.parse.parse_qsl(request.content.decode("ascii")))
            self.token_forms.append(form)
            if form.get("code") != "good-code" or len(self.token_forms) > 1:
                return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Code expired"})
            return httpx.Response(
                200, json={"access_token": "fresh-access", "refresh_token": "fresh-refresh", "expires_in": "600"}
            )
        self.bearers.append(request.headers.get("Authorization", ""))
        return super().__call__(request)


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EXACTLINK_CLIENT_SECRET", "recorded-secret")


@pytest.fixture
def exact() -> ExactWithTokenEndpoint:
    exact = ExactWithTokenEndpoint(answers=office_exact().answers)
    exact.token_forms, exact.bearers = [], []
    return exact


@pytest.fixture
def ws(exact: ExactWithTokenEndpoint) -> Iterator[Workspace]:
    workspace = Workspace(
        clock=Clock.frozen(APRIL),
        output=RecordingOutput(),
        db=memory_db(Clock.frozen(APRIL)),
        transport=httpx.MockTransport(exact),
        sleep=lambda seconds: None,
    )
    yield workspace
    workspace.close()


class Browser:
    """The user: reads the authorization URL shown, then pastes the address the browser ended on."""

    def __init__(self, code: str = "good-code", *, state: str | None = None) -> None:
        self.code, self.state = code, state
        self.shown: list[tuple[str, str]] = []

    def show(self, url: str, how: str) -> None:
        self.shown.append((url, how))

    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.shown[-1][0]).query))

    def paste(self) -> str:
        state = self.state if self.state is not None else self.query()["state"]
        return f"https://exactlink.example/callback?code={self.code}&state={state}"


def log_in(ws: Workspace, browser: Browser) -> LoginOutcome:
    return login(ws, use_browser=False, force_login=False, show_url=browser.show, read_pasted_url=browser.paste)


def test_login_trades_the_pasted_code_for_tokens_stores_them_and_names_the_user(
    ws: Workspace, exact: ExactWithTokenEndpoint
) -> None:
    browser = Browser()

    outcome = log_in(ws, browser)

    [(url, how)] = browser.shown
    assert how == PASTE and url.startswith("https://start.exactonline.nl/api/oauth2/auth?")
    [form] = exact.token_forms
    assert (form["grant_type"], form["code"], form["client_id"]) == ("authorization_code", "good-code", CLIENT_ID)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=")
    assert browser.query()["code_challenge"] == challenge.decode(), "PKCE: the verifier sent fits the challenge"
    tokens = ws.token_store().load()
    assert tokens is not None and (tokens.access_token, tokens.refresh_token) == ("fresh-access", "fresh-refresh")
    assert (tokens.expires_at, tokens.refreshed_at) == (APRIL.timestamp() + 600, APRIL.timestamp())
    user: dict[str, Any] = tokens.user or {}
    assert (user.get("user_name"), user.get("full_name")) == (ADMIN["UserName"], ADMIN["FullName"])
    assert set(exact.bearers) == {"Bearer fresh-access"}
    assert outcome.practice_divisions == [(OFFICE, "Kantoor Jansen & Co")] and outcome.warnings == []


def test_a_pasted_address_of_another_login_attempt_is_refused_before_any_exchange(
    ws: Workspace, exact: ExactWithTokenEndpoint
) -> None:
    with pytest.raises(LoginFailed, match="state mismatch"):
        log_in(ws, Browser(state="from-an-older-tab"))

    assert exact.token_forms == [] and ws.token_store().load() is None


def test_a_code_exact_refuses_stores_nothing(ws: Workspace, exact: ExactWithTokenEndpoint) -> None:
    with pytest.raises(LoginFailed, match="refused the authorization code: Code expired"):
        log_in(ws, Browser(code="used-code"))

    assert len(exact.token_forms) == 1 and ws.token_store().load() is None
    assert exact.bearers == [], "no API call without tokens"
