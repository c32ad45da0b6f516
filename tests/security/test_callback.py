"""The login callback: a stray request cannot abort a login, and the listener binds exactly its host.

Any local process, or a web page with ``<img src=http://127.0.0.1:PORT/callback>``, can send the listener a
request. One without this login's ``state`` is answered and ignored; the login keeps waiting for the real
callback. The listener binds exactly the host of the redirect URI (127.0.0.1 or ``[::1]``); ``localhost`` is
refused, because the browser may resolve it to the address exactlink did not bind and another user could.
"""

from __future__ import annotations

import socket
import urllib.parse

import httpx
import pytest

from exactlink.auth.loopback import LoopbackListener
from exactlink.errors import ExactlinkError, UsageError
from exactlink.exitcodes import ExitCode
from tests.auth.conftest import Browser, Exact, free_port
from tests.auth.conftest import browser as browser
from tests.auth.conftest import loopback_exact as loopback_exact
from tests.cli import run_cli
from tests.conftest import MemoryKeyring


@pytest.fixture
def exact(loopback_exact: Exact) -> Exact:
    """The listener on the redirect URI's own loopback address is what these tests probe, so their App Center
    accepts an http://127.0.0.1 redirect URI (whether Exact's does is not known)."""
    return loopback_exact


def test_a_stray_request_without_state_does_not_abort_the_login(
    exact: Exact, browser: Browser, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    strays: list[httpx.Response] = []

    def page_then_user(url: str, *args: object, **kwargs: object) -> bool:
        # A web page the user has open fires its <img> at the listener first, twice, with and without a state.
        strays.append(httpx.get(exact.redirect_uri, timeout=5))
        strays.append(httpx.get(exact.redirect_uri + "?code=attacker-code&state=guess", timeout=5))
        return browser.open(url, *args, **kwargs)

    monkeypatch.setattr(webbrowser, "open", page_then_user)
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert [answer.status_code for answer in strays] == [400, 400]
    assert browser.callback_answers[0].status_code == 200, "the real callback still completes the login"
    assert exact.sandbox.token_calls["authorization_code"] == 1, "only the real code is exchanged"


def _connects(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_the_listener_binds_exactly_the_host_of_the_redirect_uri(host: str) -> None:
    port = free_port()
    if host == "[::1]" and not _has_ipv6_loopback():
        # A machine without IPv6 loopback: the login says plainly that it cannot listen there.
        with (
            pytest.raises(ExactlinkError, match="cannot listen on ::1"),
            LoopbackListener(f"http://{host}:{port}/callback", "state"),
        ):
            pass
        return
    with LoopbackListener(f"http://{host}:{port}/callback", "state"):
        assert _connects(host.strip("[]"), port)
        other = "::1" if host == "127.0.0.1" else "127.0.0.1"
        if other == "127.0.0.1" or _has_ipv6_loopback():
            assert not _connects(other, port), f"nothing listens on {other}"


def test_a_localhost_redirect_uri_is_refused_in_favour_of_127_0_0_1(
    exact: Exact, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = urllib.parse.urlsplit(exact.redirect_uri).port
    with pytest.raises(UsageError) as caught:
        LoopbackListener(f"http://localhost:{port}/callback", "state")
    assert f"http://127.0.0.1:{port}/callback" in (caught.value.hint or "")
    monkeypatch.setenv("EXACTLINK_REDIRECT_URI", f"http://localhost:{port}/callback")
    result = run_cli("login")
    assert result.exit_code == ExitCode.USAGE
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "localhost" in errors[0] and "127.0.0.1" in result.stderr, result.stderr
