"""Fixtures for the sync tests: a logged-in office over real HTTP with the CRM imported and matched.

The write bodies Exact received are captured by wrapping the HTTP transport (the sandbox's request log keeps
no bodies): ``office.writes`` lists ``(method, endpoint path, JSON body)`` for every PUT/POST/DELETE.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from exactlink.sandbox import Sandbox
from tests.cli import run_cli, set_workspace
from tests.match.conftest import Office, no_sleep, query, start_office
from tests.templates import Built, HomeTemplates

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


def _built_matched(patch: pytest.MonkeyPatch, directory: Path, clients: int, seed: int) -> Iterator[Built]:
    """:func:`start_sync_office` as a set-up for :class:`~tests.templates.HomeTemplates`."""
    for made in start_sync_office(patch, directory, clients=clients, seed=seed):
        yield made.office.server, made.sandbox, None


@pytest.fixture
def synced(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_sleep: None,
    exactlink_home: Path,
    home_templates: HomeTemplates,
) -> Iterator[SyncOffice]:
    """A logged-in office (12 clients) with the CRM imported and matched, not synchronised yet.

    :func:`start_sync_office`'s office, made once per test worker and copied (:mod:`tests.templates`).
    """
    from exactlink.sandbox.generator import write_crm_export

    copies = home_templates.copy("matched-office", _built_matched, monkeypatch, exactlink_home, clients=12, seed=7)
    with copies as copy:
        crm_file = tmp_path / "crm-export.csv"
        write_crm_export(copy.sandbox.data, crm_file)
        office = Office(copy.sandbox, copy.server, copy.sandbox.data.office_division, crm_file, copy.env)
        transport = RecordingTransport()
        set_workspace(monkeypatch, transport=transport)
        linked = [row[0] for row in query("SELECT relation_number FROM links ORDER BY 1")]
        assert linked, "match linked nothing"
        yield SyncOffice(office, transport, linked)


@pytest.fixture
def outbound(monkeypatch: pytest.MonkeyPatch, synced: SyncOffice) -> SyncOffice:
    """The same, configured for outbound synchronisation."""
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECTION", "outbound")
    return synced
