"""Set-ups done once per test worker and copied per test: a logged-in ``EXACTLINK_HOME`` and the sandbox it talks to.

Many end-to-end tests start from the same state: logged in through the browser, the office administration
selected, the CRM export imported (and matched). Doing that for every test costs a browser login and two or
three commands each time. :class:`HomeTemplates` runs the real set-up once per (set-up, office size, seed,
office date) in each test worker, keeps the home it produced, and gives each test

* a fresh sandbox holding the same generated office (generated again from the same random seed for the moment the
  template's office was generated for, so every key and value is the same), served over real HTTP;
* a copy of the template's home in the test's own ``EXACTLINK_HOME``;
* a login: a token pair the new sandbox issued to the same app and user, stored where the set-up stored its
  own (keyring or the 0600 file).

The set-up itself (``build``) keeps its own asserts, so the first test of a worker still proves it works; the
login, ``tenant select``, ``crm import`` and ``match`` paths have their own tests in tests/auth, tests/crm and
tests/match. A template is built again when the office's date (Europe/Amsterdam) moved on since, so the data
is always generated for today.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exactlink.sandbox import RunningServer, Sandbox
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser

# What a set-up gives back about itself: the running server it used, its sandbox, and anything the tests need
# later (e.g. the relation → account mapping), which is kept with the template as is.
Built = tuple[RunningServer, Sandbox, Any]
# A set-up: runs in the home that EXACTLINK_HOME names, on the given monkeypatch, with a directory for its files.
Build = Callable[[pytest.MonkeyPatch, Path, int, int], Iterator[Built]]


@dataclass(frozen=True)
class HomeTemplate:
    """A finished set-up: the home it left, and what is needed to serve the same office again."""

    home: Path
    generated_at: datetime  # the moment the sandbox's data was generated for
    redirect_uri: str
    user: dict[str, Any] | None  # who logged in (from current/Me), as the token store keeps it
    kept: Any  # what the set-up returned for the tests


@dataclass
class Copy:
    """One test's copy: a fresh sandbox of the template's office, served, and the template's ``kept`` value."""

    sandbox: Sandbox
    server: RunningServer
    env: dict[str, str]
    kept: Any


def forget_rate_limits(home: Path) -> None:
    """Drop the rate-limit picture (last headers, live windows) of a copied home whose server starts afresh."""
    for picture in ("rate-limits.json", "rate-limits.live"):
        target = home / "state" / picture
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def fresh_minute(sandbox: Sandbox, home: Path | None = None) -> None:
    """A new rate-limit minute on both sides: the sandbox forgets its counts and exactlink (in ``home``, by
    default ``EXACTLINK_HOME``) forgets the minute it shared between its runs."""
    sandbox.reset_limits()
    forget_rate_limits(home if home is not None else Path(os.environ["EXACTLINK_HOME"]))


def office_today() -> date:
    """The office's date (Europe/Amsterdam), the day a template is valid for."""
    return datetime.now(ZoneInfo("Europe/Amsterdam")).date()


class HomeTemplates:
    """The templates of one test worker (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.built: dict[tuple[str, int, int, date], HomeTemplate] = {}

    def template(self, name: str, build: Build, clients: int, seed: int, token_storage: str) -> HomeTemplate:
        """The template of set-up ``name`` for this office size and seed, built on first use."""
        from exactlink.auth.tokens import TokenStore

        key = (name, clients, seed, office_today())
        if key not in self.built:
            base = self.directory / f"{name}-{clients}-{seed}-{key[3].isoformat()}"
            home = base / "home"
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("EXACTLINK_HOME", str(home))
                steps = build(patch, base, clients, seed)
                server, sandbox, kept = next(steps)
                try:
                    stored = TokenStore(server.base_url, CLIENT_ID, mode=token_storage).load()
                    assert stored is not None, f"the {name} set-up left no login"
                    redirect_uri = _registered_redirect(sandbox)
                    self.built[key] = HomeTemplate(home, sandbox.data.now, redirect_uri, stored.user, kept)
                finally:
                    steps.close()
        return self.built[key]

    @contextmanager
    def copy(
        self,
        name: str,
        build: Build,
        monkeypatch: pytest.MonkeyPatch,
        home: Path,
        *,
        clients: int,
        seed: int,
        token_storage: str = "auto",
    ) -> Iterator[Copy]:
        """Serve a fresh sandbox of the template's office, copy its home to ``home`` and log in there.

        The ``EXACTLINK_*`` variables point at the new sandbox (``EXACTLINK_EXACT__TOKEN_STORAGE`` too unless
        ``token_storage`` is ``auto``) until ``monkeypatch`` is undone.
        """
        from exactlink.auth.oauth import TokenSet
        from exactlink.auth.tokens import TokenStore
        from exactlink.sandbox.generator import generate

        template = self.template(name, build, clients, seed, token_storage)
        sandbox = Sandbox(clients=clients, seed=seed, data=generate(clients, seed, template.generated_at))
        app = sandbox.register_app(CLIENT_ID, CLIENT_SECRET, template.redirect_uri)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(template.home, home)
        forget_rate_limits(home)  # the picture belongs to the template's sandbox; the copy talks to a fresh one
        with sandbox.serve() as server:
            env = {
                "EXACTLINK_BASE_URL": server.base_url,
                "EXACTLINK_CLIENT_ID": CLIENT_ID,
                "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
                "EXACTLINK_REDIRECT_URI": template.redirect_uri,
            }
            if token_storage != "auto":
                env["EXACTLINK_EXACT__TOKEN_STORAGE"] = token_storage
            for variable, value in env.items():
                monkeypatch.setenv(variable, value)
            store = TokenStore(server.base_url, CLIENT_ID, mode=token_storage)
            store.token_file.unlink(missing_ok=True)  # the template's login was for the template's sandbox
            user = next(user for user in sandbox.data.users if user.username == Browser.username)
            issued = sandbox.issue_tokens(app, user)
            now = time.time()
            expires_at = now + float(issued["expires_in"])
            store.save(TokenSet(issued["access_token"], issued["refresh_token"], expires_at, now, template.user))
            sandbox.reset_counters()
            yield Copy(sandbox, server, env, template.kept)


def _registered_redirect(sandbox: Sandbox) -> str:
    """The redirect URI of the app the set-up registered (the tests' client id)."""
    return next(app.redirect_uri for app in sandbox.oauth.apps.values() if app.client_id == CLIENT_ID)
