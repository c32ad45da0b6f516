"""End-to-end fixtures: the sandbox Exact Online over real HTTP, an app registration, and a test "browser"."""

from __future__ import annotations

import html
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from exactlink.sandbox import Evidence, RunningServer, Sandbox

CLIENT_ID = "{11111111-2222-3333-4444-555555555555}"
CLIENT_SECRET = "test-client-secret-Zx81"


def free_port() -> int:
    """A port that was free a moment ago (the login listener binds it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The redirect URI the tests register: an https address of the office's own site, as Exact's App Center insists
# (nothing on this machine serves it; the test browser does what the relay page hosted there would do).
HTTPS_REDIRECT = "https://kantoor.example/exactlink/callback"


@dataclass
class Exact:
    """A running sandbox with an app registered for this test's redirect URI."""

    sandbox: Sandbox
    server: RunningServer
    redirect_uri: str
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.server.base_url


def serve_exact(monkeypatch: pytest.MonkeyPatch, redirect_uri: str, evidence: Evidence) -> Iterator[Exact]:
    """Serve a small office with the tests' app registered for ``redirect_uri``; EXACTLINK_* point at it."""
    sandbox = Sandbox(clients=8, seed=3, evidence=evidence)
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    with sandbox.serve() as server:
        env = {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": redirect_uri,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Exact(sandbox, server, redirect_uri, env)


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exact]:
    """The sandbox served on 127.0.0.1, following the evidence: the app has an https redirect URI."""
    yield from serve_exact(monkeypatch, HTTPS_REDIRECT, Evidence())


@pytest.fixture
def loopback_exact(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exact]:
    """The sandbox with an App Center that still accepts an http loopback redirect URI (``allow_http_loopback``;
    whether Exact's does is not known), for the tests of exactlink's own callback listener on that address."""
    yield from serve_exact(monkeypatch, f"http://127.0.0.1:{free_port()}/callback", Evidence(allow_http_loopback=True))


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
# The browser's one client: each new one loads the CA bundle again (tens of ms of CPU); the sandbox sets no cookies.
_HTTP = httpx.Client()


def relayed(location: str) -> str | None:
    """Where the relay page (``exactlink login --relay-page``) at an https redirect URI sends the browser: the
    loopback listener whose port ends ``state``; None where the page would stop (no exactlink login)."""
    query = urllib.parse.urlsplit(location).query
    values = urllib.parse.parse_qs(query)
    port = re.search(r"\.(\d{4,5})$", (values.get("state") or [""])[0])
    if port is None or not ("code" in values or "error" in values):
        return None
    return f"http://127.0.0.1:{port.group(1)}/callback?{query}"


@dataclass
class Browser:
    """Plays the user's browser: consent page, form post, then the way back to exactlink's listener.

    After Exact's redirect the browser is at the registered redirect URI: a loopback one is exactlink's listener
    itself; at an https one the office hosts the relay page, which sends the browser on (``relay``; without it the
    browser stops there, at the address a person would paste, kept in ``landed``).
    """

    username: str = "admin@kantoor.example"
    password: str = "sandbox"
    decision: str = "accept"
    tamper_state: bool = False
    follow_twice: bool = False
    relay: bool = True
    opened: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    callback_answers: list[httpx.Response] = field(default_factory=list)

    def consent(self, url: str) -> str:
        """GET the consent page, POST the form; returns the redirect Location (the callback URL)."""
        page = _HTTP.get(url)
        assert page.status_code == 200, page.text
        form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        form.update({"username": self.username, "password": self.password, "decision": self.decision})
        parts = urllib.parse.urlsplit(url)
        answer = _HTTP.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form)
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        if self.tamper_state:
            location = re.sub(r"state=[^&]+", "state=forged", location)
        self.redirects.append(location)
        return location

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        """``webbrowser.open`` replacement."""
        self.opened.append(url)
        location = self.consent(url)
        if not location.startswith("http://127.0.0.1:"):
            self.landed.append(location)
            forwarded = relayed(location) if self.relay else None
            if forwarded is None:
                return True
            location = forwarded
        self.callback_answers.append(_HTTP.get(location))
        if self.follow_twice:
            self.callback_answers.append(_HTTP.get(location))
        return True


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Browser:
    """Replace ``webbrowser.open`` with the test browser."""
    import webbrowser

    fake = Browser()
    monkeypatch.setattr(webbrowser, "open", fake.open)
    return fake


@pytest.fixture
def logged_in(exact: Exact, browser: Browser) -> Exact:
    """A completed ``exactlink login`` through the browser flow."""
    from tests.cli import run_cli

    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    return exact


FixedPkce = Callable[[], tuple[str, str]]
