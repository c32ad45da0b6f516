"""Fixtures for the sync tests: a logged-in office over real HTTP with the CRM imported and matched.

The write bodies Exact received are captured by wrapping the HTTP transport (the sandbox's request log keeps
no bodies): ``office.writes`` lists ``(method, endpoint path, JSON body)`` for every PUT/POST/DELETE.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from exactlink.sandbox import Sandbox
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser
from tests.cli import run_cli, set_workspace
from tests.match.conftest import Office, no_sleep, query, start_office

__all__ = ["Office", "SyncOffice", "no_sleep", "query"]


@dataclass
class Write:
    """One write call as it left exactlink."""

    method: str
    path: str
    body: dict[str, Any] | None

    @property
    def endpoint(self) -> str:
        """``crm/Accounts`` from ``/api/v1/123/crm/Accounts(guid'…')``."""
        resource = self.path.split("/api/v1/", 1)[1].split("/", 1)[1]
        return resource.split("(", 1)[0]


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers every write request, and can die after ``crash_after`` writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Write] = []
        self.crash_after: int | None = None
        self.before_write: Callable[[Write], None] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("PUT", "POST", "DELETE") and "/api/v1/" in request.url.path:
            if self.crash_after is not None and len(self.writes) >= self.crash_after:
                raise Killed(f"killed before write {len(self.writes) + 1}")
            body = json.loads(request.content) if request.content else None
            write = Write(request.method, request.url.path, body)
            self.writes.append(write)
            if self.before_write is not None:
                self.before_write(write)
        return super().handle_request(request)


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, so nothing in exactlink catches it)."""


@dataclass
class SyncOffice:
    """The matched office plus the recording transport."""

    office: Office
    transport: RecordingTransport
    linked: list[str] = field(default_factory=list)

    @property
    def sandbox(self) -> Sandbox:
        return self.office.sandbox

    @property
    def division(self) -> int:
        return self.office.division

    def writes(self, method: str | None = None, endpoint: str | None = None) -> list[Write]:
        return [
            write
            for write in self.transport.writes
            if (method is None or write.method == method) and (endpoint is None or write.endpoint == endpoint)
        ]

    def account_of(self, relation: str) -> dict[str, Any]:
        """The sandbox's live account record linked to ``relation``."""
        (account_id,) = query("SELECT account_id FROM links WHERE relation_number = ?", (relation,))[0]
        return self.sandbox.records(self.division, "crm/Accounts")[account_id]

    def children(self, table: str, relation: str) -> list[dict[str, Any]]:
        """The sandbox's live ``crm/Addresses`` / ``crm/Contacts`` / ``crm/BankAccounts`` rows of the account."""
        account_id = self.account_of(relation)["ID"]
        return [row for row in self.sandbox.records(self.division, table).values() if row["Account"] == account_id]

    def sync(self, *args: str, expect: int = 0) -> dict[str, Any]:
        """`exactlink sync --json ARGS`; returns the JSON report."""
        result = run_cli("sync", "--json", *args)
        assert result.exit_code == expect, result.stderr + result.stdout
        report: dict[str, Any] = json.loads(result.stdout)
        return report


def start_sync_office(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, clients: int = 12, seed: int = 7
) -> Iterator[SyncOffice]:
    """Log in, choose the office, import the CRM, `exactlink match`, and record writes from then on."""
    for office in start_office(monkeypatch, tmp_path, clients=clients, seed=seed):
        result = run_cli("match", "--json")
        assert result.exit_code == 0, result.stderr
        transport = RecordingTransport()
        set_workspace(monkeypatch, transport=transport)
        linked = [row[0] for row in query("SELECT relation_number FROM links ORDER BY 1")]
        assert linked, "match linked nothing"
        yield SyncOffice(office, transport, linked)


@dataclass(frozen=True)
class MatchedTemplate:
    """What :func:`start_sync_office` left behind, kept to start identical offices from without repeating it."""

    home: Path  # EXACTLINK_HOME after login, tenant select, the CRM import and `match`
    generated_at: datetime  # the moment the sandbox's data was generated for
    redirect_uri: str
    user: dict[str, Any] | None  # who logged in (from current/Me), as the token store keeps it


class MatchedTemplates:
    """:func:`start_sync_office` once per (clients, seed, office date) and test worker, then a copy per test.

    :meth:`open` gives what :func:`start_sync_office` gives — the same generated office in a fresh sandbox over
    real HTTP, a logged-in home with the office chosen, the CRM imported and matched — for a copy of a directory
    and a token pair instead of a browser login and three commands per test (those are tested in tests/auth,
    tests/crm, tests/match, and by :func:`start_sync_office`'s own asserts on first use).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.built: dict[tuple[int, int, date], MatchedTemplate] = {}

    def template(self, clients: int, seed: int) -> MatchedTemplate:
        """The template for this office size and seed, built on first use (again when the office's date moved on,
        so the data is always generated for today)."""
        from exactlink.auth.tokens import TokenStore

        key = (clients, seed, datetime.now(ZoneInfo("Europe/Amsterdam")).date())
        if key not in self.built:
            base = self.directory / f"{clients}-{seed}-{key[2].isoformat()}"
            home = base / "home"
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("EXACTLINK_HOME", str(home))
                offices = start_sync_office(patch, base, clients=clients, seed=seed)
                made = next(offices)
                try:
                    stored = TokenStore(made.office.server.base_url, CLIENT_ID).load()
                    self.built[key] = MatchedTemplate(
                        home,
                        made.sandbox.data.now,
                        made.office.env["EXACTLINK_REDIRECT_URI"],
                        stored.user if stored is not None else None,
                    )
                finally:
                    offices.close()
        return self.built[key]

    def open(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: Path, *, clients: int = 12, seed: int = 7
    ) -> Iterator[SyncOffice]:
        """Serve a fresh sandbox of the template's office, copy its home to ``home`` and log it in there."""
        import shutil
        import time

        from exactlink.auth.oauth import TokenSet
        from exactlink.auth.tokens import TokenStore
        from exactlink.sandbox.generator import generate, write_crm_export

        template = self.template(clients, seed)
        sandbox = Sandbox(clients=clients, seed=seed, data=generate(clients, seed, template.generated_at))
        app = sandbox.register_app(CLIENT_ID, CLIENT_SECRET, template.redirect_uri)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(template.home, home)
        with sandbox.serve() as server:
            env = {
                "EXACTLINK_BASE_URL": server.base_url,
                "EXACTLINK_CLIENT_ID": CLIENT_ID,
                "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
                "EXACTLINK_REDIRECT_URI": template.redirect_uri,
            }
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            user = next(user for user in sandbox.data.users if user.username == Browser.username)
            issued = sandbox.issue_tokens(app, user)
            now = time.time()
            tokens = TokenSet(
                issued["access_token"], issued["refresh_token"], now + float(issued["expires_in"]), now, template.user
            )
            TokenStore(server.base_url, CLIENT_ID).save(tokens)
            crm_file = tmp_path / "crm-export.csv"
            write_crm_export(sandbox.data, crm_file)
            office = Office(sandbox, server, sandbox.data.office_division, crm_file, env)
            transport = RecordingTransport()
            set_workspace(monkeypatch, transport=transport)
            linked = [row[0] for row in query("SELECT relation_number FROM links ORDER BY 1")]
            assert linked, "match linked nothing"
            yield SyncOffice(office, transport, linked)


@pytest.fixture(scope="session")
def matched_templates(tmp_path_factory: pytest.TempPathFactory) -> MatchedTemplates:
    """The matched offices :func:`start_sync_office` made in this test worker, to copy from."""
    return MatchedTemplates(tmp_path_factory.mktemp("matched-templates"))


@pytest.fixture
def synced(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_sleep: None,
    exactlink_home: Path,
    matched_templates: MatchedTemplates,
) -> Iterator[SyncOffice]:
    """A logged-in office (12 clients) with the CRM imported and matched, not synchronised yet.

    The office is :func:`start_sync_office`'s, made once per test worker and copied (:class:`MatchedTemplates`).
    """
    yield from matched_templates.open(monkeypatch, tmp_path, exactlink_home)


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, synced: SyncOffice) -> SyncOffice:
    """The same, configured for outbound synchronisation."""
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECTION", "outbound")
    return synced
