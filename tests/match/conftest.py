"""End-to-end fixtures for `match`: the sandbox over real HTTP, logged in, office chosen, CRM imported."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exactlink.paths import get_paths
from exactlink.sandbox import RunningServer, Sandbox
from exactlink.sandbox.generator import write_crm_export
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, HTTPS_REDIRECT, Browser
from tests.cli import run_cli, set_workspace
from tests.templates import Built, HomeTemplates


@dataclass
class Office:
    """A sandbox Exact Online with an office administration, and the CRM export of the same office."""

    sandbox: Sandbox
    server: RunningServer
    division: int
    crm_file: Path
    env: dict[str, str]

    @property
    def truth(self) -> dict[str, str | None]:
        """relatienummer → the trimmed account code it belongs to (None: the relation is not in Exact)."""
        return dict(self.sandbox.data.ground_truth)

    def accounts(self) -> dict[str, dict[str, Any]]:
        """The sandbox's live account records of the office administration."""
        return self.sandbox.records(self.division, "crm/Accounts")

    def account_by_code(self, code: str) -> dict[str, Any]:
        """The sandbox account record with this (trimmed) code."""
        return next(record for record in self.accounts().values() if record["Code"].strip() == code)

    def match(self, *args: str) -> list[dict[str, Any]]:
        """Run `exactlink match --json ARGS` and return its rows, keyed in order."""
        result = run_cli("match", "--json", *args)
        assert result.exit_code == 0, result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows


def login_and_choose_office(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """`exactlink login` through the test browser, then `tenant select` of the office administration."""
    import webbrowser

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(webbrowser, "open", Browser().open)
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    result = run_cli("tenant", "select", str(sandbox.data.office_division), "--yes")
    assert result.exit_code == 0, result.stderr


def import_crm(path: Path) -> None:
    """`exactlink crm import` of the generator's export (flagged values make it exit 3, which is fine)."""
    result = run_cli("crm", "import", str(path))
    assert result.exit_code in (0, 3), result.stderr


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries and rate-limit waits return at once (the sandbox's limits still count every call)."""
    set_workspace(monkeypatch, sleep=lambda seconds: None)


def start_office(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, clients: int = 40, seed: int = 7
) -> Iterator[Office]:
    """Serve a fresh sandbox, log in, choose the office and import its CRM export."""
    sandbox = Sandbox(clients=clients, seed=seed)
    redirect_uri = HTTPS_REDIRECT  # as the App Center insists; the test browser relays
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    with sandbox.serve() as server:
        env = {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": redirect_uri,
        }
        login_and_choose_office(sandbox, monkeypatch, env)
        crm_file = tmp_path / "crm-export.csv"
        write_crm_export(sandbox.data, crm_file)
        import_crm(crm_file)
        yield Office(sandbox, server, sandbox.data.office_division, crm_file, env)


def _built_office(patch: pytest.MonkeyPatch, directory: Path, clients: int, seed: int) -> Iterator[Built]:
    """:func:`start_office` as a set-up for :class:`~tests.templates.HomeTemplates`."""
    for made in start_office(patch, directory, clients=clients, seed=seed):
        yield made.server, made.sandbox, None


@pytest.fixture
def office(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_sleep: None,
    exactlink_home: Path,
    home_templates: HomeTemplates,
) -> Iterator[Office]:
    """A logged-in office with 40 clients and the CRM imported, not matched yet.

    :func:`start_office`'s office, made once per test worker and copied (:mod:`tests.templates`).
    """
    with home_templates.copy("imported-office", _built_office, monkeypatch, exactlink_home, clients=40, seed=7) as copy:
        crm_file = tmp_path / "crm-export.csv"
        write_crm_export(copy.sandbox.data, crm_file)
        yield Office(copy.sandbox, copy.server, copy.sandbox.data.office_division, crm_file, copy.env)


@pytest.fixture
def matched(office: Office) -> Office:
    """The office after one `exactlink match`."""
    office.match()
    return office


def query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the test's database."""
    conn = sqlite3.connect(get_paths().database)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


WriteFile = Callable[[str, str], Path]


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write a text file (UTF-8) under the test's tmp dir; returns its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
