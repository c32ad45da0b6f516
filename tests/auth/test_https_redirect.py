"""An https redirect URI (the App Center's rule since July 2021): the relay page forwards the browser to
exactlink's loopback listener, or the user pastes the address the browser ends on, whichever comes first."""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from pathlib import Path

import pytest

from exactlink.auth.relay import relay_page, relay_state
from tests.auth.conftest import HTTPS_REDIRECT, Browser, Exact
from tests.cli import run_cli


@pytest.fixture
def https_exact(exact: Exact) -> Exact:
    """The sandbox with the app registered for an https redirect URI nothing on this machine serves (the default)."""
    assert exact.redirect_uri == HTTPS_REDIRECT
    return exact


def test_the_relay_page_forwards_the_browser_to_exactlink(https_exact: Exact, monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    browser = Browser()  # lands on the https address; with ``relay`` on, does what the relay page does
    monkeypatch.setattr(webbrowser, "open", browser.open)

    result = run_cli("login", input=None)

    assert result.exit_code == 0, result.stderr
    assert browser.landed[0].startswith(HTTPS_REDIRECT + "?code=")
    assert browser.callback_answers[0].status_code == 200 and "Logged in" in browser.callback_answers[0].text
    assert "redirect_uri=" + urllib.parse.quote(HTTPS_REDIRECT, safe="") in browser.opened[0]
    assert "continues by itself" in result.stderr and "--relay-page" in result.stderr
    assert https_exact.sandbox.token_calls["authorization_code"] == 1


def test_without_a_relay_the_pasted_address_completes_the_login(
    https_exact: Exact, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    read_end, write_end = os.pipe()
    browser = Browser()
    browser.relay = False

    def open_and_paste(url: str, *args: object, **kwargs: object) -> bool:
        browser.open(url)
        # The user copies the address bar (with a fragment some browsers keep) into the terminal.
        os.write(write_end, (browser.landed[0] + "#\n").encode())
        return True

    from exactlink.cli import auth_cmd

    monkeypatch.setattr(webbrowser, "open", open_and_paste)
    with os.fdopen(read_end, "r") as terminal:
        # The terminal: the pasted line arrives only after the browser is done (a pipe, not stdin given up front).
        monkeypatch.setattr(auth_cmd, "_read_line", lambda: terminal.readline().strip())
        result = run_cli("login")
    os.close(write_end)

    assert result.exit_code == 0, result.stderr
    assert "Logged in to" in result.stdout
    assert https_exact.sandbox.token_calls["authorization_code"] == 1


def test_a_pasted_address_of_another_login_is_refused(https_exact: Exact, monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    browser = Browser()
    browser.relay = False
    monkeypatch.setattr(webbrowser, "open", browser.open)
    other = HTTPS_REDIRECT + "?code=abc&state=" + relay_state("someone-elses-login", 40000)

    result = run_cli("login", input=other + "\n")

    assert result.exit_code == 1
    assert "state mismatch" in result.stderr and https_exact.sandbox.token_calls["authorization_code"] == 0


def test_nothing_pasted_keeps_waiting_for_the_relay(https_exact: Exact, monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    browser = Browser()
    started = threading.Event()

    def open_later(url: str, *args: object, **kwargs: object) -> bool:
        # stdin is empty (cron, a closed terminal): the login must not give up, the relay comes a moment later
        threading.Timer(0.5, lambda: (browser.open(url), started.set())).start()
        return True

    monkeypatch.setattr(webbrowser, "open", open_later)
    result = run_cli("login", input="")

    assert result.exit_code == 0, result.stderr
    assert started.is_set()


def test_relay_page_is_written_and_holds_no_external_resource(tmp_path: Path) -> None:
    target = tmp_path / "callback.html"

    result = run_cli("login", "--relay-page", str(target))

    assert result.exit_code == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    assert page == relay_page() and target.stat().st_mode & 0o777 == 0o644
    assert "http://127.0.0.1:" in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']""", page), "no external script, style or image"
    assert "default-src 'none'" in page and "script-src 'sha256-" in page
    with pytest.raises(ValueError):
        relay_state("x", 80)
