"""`exactlink login` / `logout` end to end, over real HTTP against the sandbox, with a test browser."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from exactlink.auth import pkce
from exactlink.auth.oauth import OAuthApp, TokenSet, authorization_url
from exactlink.auth.tokens import service_name
from exactlink.exitcodes import ExitCode
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser, Exact
from tests.cli import run_cli
from tests.conftest import MemoryKeyring


@pytest.fixture
def exact(loopback_exact: Exact) -> Exact:
    """These tests are about the loopback login (exactlink's listener on the redirect URI's own port, its answers
    to the browser, a busy port), so their App Center accepts an http://127.0.0.1 redirect URI; the https flows
    are in test_https_redirect.py."""
    return loopback_exact


def stored_tokens(keyring: MemoryKeyring, exact: Exact) -> TokenSet | None:
    text = keyring.store.get((service_name(exact.base_url, CLIENT_ID), "tokens"))
    return TokenSet.from_json(text) if text else None


def test_login_through_the_browser(exact: Exact, browser: Browser, memory_keyring: MemoryKeyring) -> None:
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert f"Logged in to {exact.base_url} as Joost van der Horst <admin@kantoor.example>" in result.stdout
    assert "Tokens are stored in OS keyring" in result.stdout
    # The URL is always printed too, and it is the one the browser got.
    assert browser.opened and browser.opened[0] in result.stderr.replace("\n", "")
    assert "code_challenge_method=S256" in browser.opened[0] and "state=" in browser.opened[0]
    assert browser.callback_answers[0].status_code == 200
    assert "You can close this tab" in browser.callback_answers[0].text
    assert exact.sandbox.token_calls["authorization_code"] == 1
    tokens = stored_tokens(memory_keyring, exact)
    assert tokens is not None and tokens.user and tokens.user["full_name"] == "Joost van der Horst"
    assert exact.sandbox.calls("current/Me") >= 1
    assert "warning" not in result.stderr, "an admin who sees the practice administration gets no warning"


def test_login_json_output(exact: Exact, browser: Browser) -> None:
    result = run_cli("login", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["user"]["email"] == "admin@kantoor.example"
    assert data["token_storage"]["kind"] == "keyring"
    assert [row["code"] for row in data["practice_divisions"]] == [exact.sandbox.data.office_division]


def test_the_listener_accepts_one_callback_and_then_stops(exact: Exact, browser: Browser) -> None:
    browser.follow_twice = True
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    first, second = browser.callback_answers
    assert first.status_code == 200
    assert second.status_code == 409 and "already" in second.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(browser.redirects[0], timeout=2)
    assert exact.sandbox.token_calls["authorization_code"] == 1


def test_a_callback_with_the_wrong_state_is_ignored_and_the_login_times_out(
    exact: Exact, browser: Browser, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Security round two: a wrong-state callback no longer ends the login (any web page could send one); it is
    # answered, ignored, and the login waits on for the real one until its time-out.
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "1")
    browser.tamper_state = True
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert "no answer from the browser within 1 s (1 request(s) without this login's state were ignored)" in (
        result.stderr.replace("\n", " ")
    )
    assert browser.callback_answers[0].status_code == 400
    assert exact.sandbox.token_calls["authorization_code"] == 0, "the code is never exchanged"
    assert stored_tokens(memory_keyring, exact) is None


def test_denied_consent(exact: Exact, browser: Browser, memory_keyring: MemoryKeyring) -> None:
    browser.decision = "deny"
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert "consent was refused" in result.stderr
    assert stored_tokens(memory_keyring, exact) is None


def test_a_login_that_does_not_see_the_practice_administration_is_warned(exact: Exact, browser: Browser) -> None:
    browser.username = "medewerker@kantoor.example"
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert "sees no practice (office) administration" in result.stderr
    assert "--force-login" in result.stderr


def test_force_login_is_passed_to_exact(exact: Exact, browser: Browser) -> None:
    assert run_cli("login", "--force-login").exit_code == 0
    assert "force_login=1" in browser.opened[0]


def test_busy_port_is_a_clear_error(exact: Exact, browser: Browser) -> None:
    port = int(exact.redirect_uri.split(":")[2].split("/")[0])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "redirect_uri" in result.stderr and "EXACTLINK_REDIRECT_URI" in result.stderr
    assert browser.opened == [], "the browser is not opened when the callback cannot be received"


def test_no_answer_from_the_browser_times_out(
    exact: Exact, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: True)
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "0.3")
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert "no answer from the browser within 0.3 s; nothing was stored" in result.stderr
    assert "--no-browser" in result.stderr


def fixed_pkce(monkeypatch: pytest.MonkeyPatch) -> tuple[str, pkce.PkcePair]:
    pair = pkce.new_pkce_pair()
    monkeypatch.setattr(pkce, "new_pkce_pair", lambda: pair)
    monkeypatch.setattr(pkce, "new_state", lambda: "fixed-state-for-the-paste-test")
    return "fixed-state-for-the-paste-test", pair


def test_no_browser_reads_the_pasted_url_from_stdin(
    exact: Exact, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    state, pair = fixed_pkce(monkeypatch)
    app = OAuthApp(exact.base_url, CLIENT_ID, CLIENT_SECRET, exact.redirect_uri)
    url = authorization_url(app, state=state, code_challenge=pair.challenge)
    redirected = Browser().consent(url)
    result = run_cli("login", "--no-browser", input=redirected + "\n")
    assert result.exit_code == 0, result.stderr
    assert opened == [], "--no-browser never opens a browser"
    assert url in result.stderr.replace("\n", "") and "Paste that full URL" in result.stderr
    assert stored_tokens(memory_keyring, exact) is not None


def test_no_browser_with_nothing_pasted(exact: Exact, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli("login", "--no-browser", input="")
    assert result.exit_code == ExitCode.ERROR
    assert "no redirected URL was pasted" in result.stderr


def test_store_secret_reads_stdin_and_keeps_it_in_the_keyring(
    exact: Exact, browser: Browser, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    monkeypatch.delenv("EXACTLINK_CLIENT_SECRET")
    missing = run_cli("login")
    assert missing.exit_code == ExitCode.USAGE
    assert "client secret is not set" in missing.stderr and "--store-secret" in missing.stderr
    result = run_cli("login", "--store-secret", input=CLIENT_SECRET + "\n")
    assert result.exit_code == 0, result.stderr
    assert memory_keyring.store[(service_name(exact.base_url, CLIENT_ID), "client_secret")] == CLIENT_SECRET
    assert CLIENT_SECRET not in result.stdout + result.stderr
    # Later commands find the secret in the keyring.
    assert run_cli("tenant", "list").exit_code == 0


def test_no_client_id_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli("login")
    assert result.exit_code == ExitCode.USAGE
    assert "exact.client_id is empty" in result.stderr


def test_logout_removes_the_tokens_everywhere(logged_in: Exact, memory_keyring: MemoryKeyring) -> None:
    result = run_cli("logout")
    assert result.exit_code == 0
    assert "removed the tokens from OS keyring" in result.stdout
    assert stored_tokens(memory_keyring, logged_in) is None
    again = run_cli("logout")
    assert "no tokens to remove" in again.stdout
    assert json.loads(run_cli("logout", "--json").stdout) == {"removed_from": []}
    after = run_cli("tenant", "list")
    assert after.exit_code == ExitCode.LOGIN_REQUIRED
    assert "run `exactlink login`" in after.stderr


def test_logout_also_removes_a_fallback_file(logged_in: Exact, exactlink_home: Path) -> None:
    token_file = exactlink_home / "state" / "tokens.json"
    token_file.write_text(
        json.dumps({service_name(logged_in.base_url, CLIENT_ID): {"tokens": "{}"}, "other": {"tokens": "{}"}})
    )
    token_file.chmod(0o600)  # as exactlink writes it; an open token file is refused
    result = run_cli("logout")
    assert str(token_file) in result.stdout
    assert json.loads(token_file.read_text()) == {"other": {"tokens": "{}"}}


def test_region_flag_picks_the_host(monkeypatch: pytest.MonkeyPatch, browser: Browser) -> None:
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("EXACTLINK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "0.2")
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url))
    monkeypatch.setenv("EXACTLINK_REDIRECT_URI", f"http://127.0.0.1:{_free()}/callback")
    run_cli("login", "--region", "be")
    assert opened[0].startswith("https://start.exactonline.be/api/oauth2/auth?")
    run_cli("login", "--base-url", "https://start.exactonline.fr/")
    assert opened[1].startswith("https://start.exactonline.fr/api/oauth2/auth?")


def _free() -> int:
    from tests.auth.conftest import free_port

    return free_port()


def test_every_file_the_tool_writes_is_under_exactlink_home(
    exact: Exact, browser: Browser, exactlink_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    # Logging is configured once per process; let these commands configure it for this test's home.
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    elsewhere = tmp_path / "user-home"
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(elsewhere))
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(elsewhere / variable.lower()))
    monkeypatch.chdir(elsewhere)
    for args in (
        ("config", "init"),
        ("login",),
        ("tenant", "select", str(exact.sandbox.data.office_division)),
        ("status",),
        ("logout",),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
    for handler in logger.handlers:
        handler.close()
    assert list(elsewhere.rglob("*")) == [], "nothing is written outside EXACTLINK_HOME"
    written = {path.relative_to(exactlink_home).as_posix() for path in exactlink_home.rglob("*") if path.is_file()}
    assert {"config.toml", "exactlink.db", "log/exactlink.log"} <= written
