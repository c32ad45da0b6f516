"""`exactlink login` in a real browser: Debian's headless Chromium on the sandbox's login-and-consent page.

The browser posts the real form, gets Exact's real 302 and follows it to exactlink's real loopback listener on
127.0.0.1; nothing between the consent page and the stored tokens is played by the test.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Error as PlaywrightError

from exactlink.exitcodes import ExitCode
from tests.auth.conftest import Exact
from tests.cli import run_cli
from tests.realworld.chromium_user import FORGED_STATE, ChromiumUser

pytestmark = pytest.mark.timeout(60, func_only=True)  # fixtures may first apt-get install Chromium


@pytest.fixture
def exact(loopback_exact: Exact) -> Exact:
    """These tests follow the browser to exactlink's loopback listener, so their App Center accepts an
    http://127.0.0.1 redirect URI (whether Exact's does is not known); the https flows: test_https_redirect_login."""
    return loopback_exact


@pytest.fixture
def person(chromium: Browser, monkeypatch: pytest.MonkeyPatch) -> ChromiumUser:
    """The user at the browser: ``webbrowser.open`` hands the login URL to real Chromium."""
    import webbrowser

    user = ChromiumUser(chromium)
    monkeypatch.setattr(webbrowser, "open", user.open)
    return user


def login_status() -> dict[str, Any]:
    """``exactlink status --json`` (its exit code agrees with ``logged_in``)."""
    result = run_cli("status", "--json")
    report: dict[str, Any] = json.loads(result.stdout)
    assert (result.exit_code == 0) == bool(report["logged_in"]), result.stderr
    return report


def test_login_in_chromium_stores_the_tokens(exact: Exact, person: ChromiumUser) -> None:
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert person.login_page_title == "Exact Online (sandbox) - Log in"
    assert person.exact_redirects[0].startswith(exact.redirect_uri + "?code=")
    (callback,) = person.answers
    assert (callback.status, callback.heading) == (200, "Logged in")
    assert "You can close this tab" in callback.text
    assert f"Logged in to {exact.base_url} as Joost van der Horst <admin@kantoor.example>" in result.stdout
    assert exact.sandbox.token_calls["authorization_code"] == 1
    report = login_status()
    assert report["logged_in"] is True
    assert report["user"] == {
        "full_name": "Joost van der Horst",
        "user_name": "admin@kantoor.example",
        "email": "admin@kantoor.example",
        "user_id": exact.sandbox.default_user.user_id,
    }
    assert report["access_token"]["valid"] is True
    # The login is usable: a command that needs Exact works with the stored tokens.
    assert run_cli("tenant", "list").exit_code == 0


def test_a_forged_state_is_ignored_and_nothing_is_stored(
    exact: Exact, person: ChromiumUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Security round two: a forged callback is answered and ignored; the login waits on until its time-out.
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "3")
    person.forge_state = True
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert "no answer from the browser" in result.stderr and "nothing was stored" in result.stderr
    assert "Traceback" not in result.stderr
    (callback,) = person.answers
    assert f"state={FORGED_STATE}" in callback.url
    assert (callback.status, callback.heading) == (400, "Not this login")
    assert exact.sandbox.token_calls["authorization_code"] == 0, "the code of a forged callback is never exchanged"
    assert login_status()["logged_in"] is False


def test_a_second_callback_is_refused_and_the_listener_is_gone_after_the_login(
    exact: Exact, person: ChromiumUser
) -> None:
    person.callback_twice = True
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    first, second = person.answers
    assert (first.status, first.heading) == (200, "Logged in")
    assert (second.status, second.heading) == (409, "Already handled")
    assert exact.sandbox.token_calls["authorization_code"] == 1, "the code is exchanged once"
    # Once the login is done nothing listens on the callback port any more.
    context = person.browser.new_context()
    try:
        with pytest.raises(PlaywrightError, match="ERR_CONNECTION_REFUSED"):
            context.new_page().goto(first.url, timeout=10_000)
    finally:
        context.close()
    assert login_status()["logged_in"] is True


def test_denied_consent_is_a_clear_failure(exact: Exact, person: ChromiumUser) -> None:
    person.decision = "deny"
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR
    assert "consent was refused in the browser; nothing was stored" in result.stderr
    (callback,) = person.answers
    assert "error=access_denied" in callback.url
    assert (callback.status, callback.heading) == (400, "Login not completed")
    assert "consent was refused" in callback.text
    assert exact.sandbox.token_calls["authorization_code"] == 0
    assert login_status()["logged_in"] is False


def test_a_browser_closed_before_consenting_times_out(
    exact: Exact, person: ChromiumUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    person.close_before_consent = True
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "1.5")
    started = time.monotonic()
    result = run_cli("login")
    assert time.monotonic() - started < 15
    assert result.exit_code == ExitCode.ERROR
    assert "no answer from the browser within 1.5 s; nothing was stored" in result.stderr
    assert "--no-browser" in result.stderr, "the hint names the way out on a machine without a browser"
    assert person.login_page_title == "Exact Online (sandbox) - Log in" and person.answers == []
    assert login_status()["logged_in"] is False


def test_exactlink_login_process_opens_chromium_through_webbrowser(
    exact: Exact, exactlink_home: Path, system_packages: None
) -> None:
    """The whole thing as a user runs it: the installed CLI in its own process, ``$BROWSER`` naming Chromium."""
    driver = Path(__file__).with_name("chromium_user.py")
    env = {
        **os.environ,
        "BROWSER": f"{shlex.quote(sys.executable)} {shlex.quote(str(driver))} %s",
        "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
        "EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS": "40",
    }
    login = subprocess.run(
        [sys.executable, "-m", "exactlink", "login", "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert login.returncode == 0, login.stderr
    assert "chromium_user: 200 Logged in" in login.stderr
    outcome = json.loads(login.stdout)
    assert outcome["user"]["email"] == "admin@kantoor.example"
    assert outcome["token_storage"]["kind"] == "file"
    token_file = exactlink_home / "state" / "tokens.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    status = subprocess.run(
        [sys.executable, "-m", "exactlink", "status", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["token_storage"]["kind"] == "file"
