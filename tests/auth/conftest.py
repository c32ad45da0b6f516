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

from exactlink.sandbox import RunningServer, Sandbox

CLIENT_ID = "{11111111-2222-3333-4444-555555555555}"
CLIENT_SECRET = "test-client-secret-Zx81"


def free_port() -> int:
    """A port that was free a moment ago (the login listener binds it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Exact:
    """A running sandbox with an app registered for this test's loopback redirect URI."""

    sandbox: Sandbox
    server: RunningServer
    redirect_uri: str
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture
def exact(monkeypatch: pytest.MonkeyPatch) -> Iterator[Exact]:
    """The sandbox served on 127.0.0.1 with the EXACTLINK_* variables pointing at it."""
    sandbox = Sandbox(clients=8, seed=3)
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
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


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Browser:
    """Plays the user's browser: consent page, form post, then the redirect to exactlink's listener."""

    username: str = "admin@kantoor.example"
    password: str = "sandbox"
    decision: str = "accept"
    tamper_state: bool = False
    follow_twice: bool = False
    opened: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    callback_answers: list[httpx.Response] = field(default_factory=list)

    def consent(self, url: str) -> str:
        """GET the consent page, POST the form; returns the redirect Location (the callback URL)."""
        page = httpx.get(url)
        assert page.status_code == 200, page.text
        form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        form.update({"username": self.username, "password": self.password, "decision": self.decision})
        parts = urllib.parse.urlsplit(url)
        answer = httpx.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form)
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
        self.callback_answers.append(httpx.get(location))
        if self.follow_twice:
            self.callback_answers.append(httpx.get(location))
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
