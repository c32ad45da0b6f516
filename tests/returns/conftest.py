"""End-to-end set-up for link-admin, fetch-returns, returns and feedback: the sandbox over real HTTP, a real
``exactlink login`` through the test browser (tests/auth), the office administration selected, the CRM
export imported, and relations linked to their office accounts (directly in the store: ``match`` is
another command's business)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exactlink.sandbox import RunningServer, Sandbox
from exactlink.sandbox import model as sandbox_model
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, HTTPS_REDIRECT, Browser
from tests.auth.conftest import browser as browser
from tests.cli import run_cli, set_workspace
from tests.stamps import wall_now
from tests.templates import Built, HomeTemplates


def office_today() -> date:
    """Today in the office's time zone (the default ``schedule.timezone``): the date exactlink's rules use."""
    return datetime.now(ZoneInfo("Europe/Amsterdam")).date()


def window_start(days: int = 30) -> datetime:
    """Where fetch-returns' window starts today: midnight of the office's date ``days`` back, as Exact reads it
    (on Amsterdam's clock), in UTC."""
    start = office_today() - timedelta(days=days)
    return datetime(start.year, start.month, start.day, tzinfo=ZoneInfo("Europe/Amsterdam")).astimezone(UTC)


@dataclass
class Office:
    """The sandbox, its server, and the mapping between CRM relations, office accounts and divisions."""

    sandbox: Sandbox
    server: RunningServer
    env: dict[str, str]
    office_division: int
    account_by_relation: dict[str, tuple[str, str]] = field(default_factory=dict)  # relation → (account id, code)
    division_by_relation: dict[str, int] = field(default_factory=dict)

    def db(self) -> Any:
        from exactlink.store.db import open_db

        return open_db()

    def division_record(self, division: int) -> dict[str, Any]:
        return self.sandbox.data.divisions[division].record

    def usable(self, division: int) -> bool:
        record = self.division_record(division)
        return (
            record.get("Status") == 1
            and not record.get("BlockingStatus")
            and division not in self.sandbox.data.unconsented_divisions
        )

    def returns_of(self, division: int) -> dict[str, dict[str, Any]]:
        return self.sandbox.records(division, sandbox_model.RETURNS)

    def returns_in_window(self, division: int, days: int = 30) -> list[dict[str, Any]]:
        start = window_start(days)
        return [r for r in self.returns_of(division).values() if r["Created"] >= start]

    def candidates(self, *, owned: bool = True, with_returns: bool = True) -> list[tuple[str, int]]:
        """(relation, division) pairs of usable client administrations, owned = the division's Customer is set.

        ``with_returns``: each has a return inside the 30-day window, made in Exact now where it has none, so a
        test never depends on what the generator happened to date inside the window today.
        """
        pairs = []
        for relation, division in sorted(self.division_by_relation.items()):
            if not self.usable(division):
                continue
            if owned != bool(self.division_record(division).get("Customer")):
                continue
            if with_returns and not self.returns_in_window(division):
                self.make_return(division)
            pairs.append((relation, division))
        return pairs

    def link_account(self, relation: str) -> None:
        """Link the relation to its office account in the mirror (what `exactlink match` would do)."""
        from exactlink.store.links import set_account_link

        account_id, code = self.account_by_relation[relation]
        db = self.db()
        try:
            set_account_link(db, relation, account_id, code, method="rsin", linked_by="manual", now=wall_now())
        finally:
            db.close()

    def link_admin_in_store(self, relation: str, division: int, *, sbr_days: int | None = 30) -> None:
        """A linked administration written straight into the mirror (fast set-up; the CLI path is tested too)."""
        from exactlink.store.admin import update_administration_state
        from exactlink.store.links import set_administration_link
        from exactlink.store.relations import set_sbr_start

        self.link_account(relation)
        db = self.db()
        try:
            set_administration_link(db, relation, division, now=wall_now())
            update_administration_state(
                db, division, name=str(self.division_record(division)["Description"]), now=wall_now()
            )
            if sbr_days is not None:
                set_sbr_start(db, relation, office_today() - timedelta(days=sbr_days))
        finally:
            db.close()

    def make_return(self, division: int, **fields: Any) -> dict[str, Any]:
        """A return created in Exact yesterday (a fresh Request, monthly BTW of 2026-10 unless ``fields`` say else)."""
        import uuid

        values: dict[str, Any] = {
            "Type": 31,
            "Status": 20,
            "Year": 2026,
            "Period": 10,
            "Frequency": "M",
            "Amount": 100.0,
            "Description": "Aangifte omzetbelasting",
            "Request": str(uuid.uuid4()),
            "Created": datetime.now(UTC) - timedelta(days=1),
            **fields,
        }
        return self.sandbox.create(division, sandbox_model.RETURNS, **values)

    def solution_links(self, account_id: str | None = None) -> list[dict[str, Any]]:
        rows = self.sandbox.records(self.office_division, sandbox_model.SOLUTION_LINKS).values()
        return [dict(row) for row in rows if account_id is None or row.get("Account") == account_id]


def build_office(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser: Browser, *, clients: int = 30, seed: int = 5
) -> Iterator[Office]:
    """Start the sandbox, log in, select the office, import the CRM export; yields the :class:`Office`."""
    from exactlink.sandbox.generator import write_crm_export

    sandbox = Sandbox(clients=clients, seed=seed)
    redirect_uri = HTTPS_REDIRECT  # as the App Center insists; the test browser relays
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    # Retries and rate-limit waits happen for real but short, so fault tests stay fast.
    set_workspace(monkeypatch, sleep=lambda seconds: time.sleep(min(seconds, 0.02)))
    with sandbox.serve() as server:
        env = {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": redirect_uri,
            "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert run_cli("login").exit_code == 0
        office_division = sandbox.data.office_division
        selected = run_cli("tenant", "select", str(office_division))
        assert selected.exit_code == 0, selected.stderr
        export = tmp_path / "crm.csv"
        write_crm_export(sandbox.data, export)
        imported = run_cli("crm", "import", str(export))
        assert imported.exit_code in (0, 3), imported.stderr
        accounts = sandbox.records(office_division, sandbox_model.ACCOUNTS)
        by_code = {str(record["Code"]).strip(): record["ID"] for record in accounts.values()}
        office = Office(sandbox, server, env, office_division)
        for relation, code in sandbox.data.ground_truth:
            if code is not None and code in by_code:
                office.account_by_relation[relation] = (by_code[code], code)
        relation_of_account = {account_id: relation for relation, (account_id, _) in office.account_by_relation.items()}
        relation_of_kvk = {
            str(accounts[account_id].get("ChamberOfCommerce")): relation
            for relation, (account_id, _) in office.account_by_relation.items()
            if accounts[account_id].get("ChamberOfCommerce")
        }
        for division_code, data in sandbox.data.divisions.items():
            if division_code == office_division:
                continue
            owner = relation_of_account.get(str(data.record.get("Customer")))
            owner = owner or relation_of_kvk.get(str(data.record.get("ChamberOfCommerceNumber")))
            if owner:
                office.division_by_relation[owner] = division_code
        sandbox.reset_counters()
        yield office


def _built_office(patch: pytest.MonkeyPatch, directory: Path, clients: int, seed: int) -> Iterator[Built]:
    """:func:`build_office` as a set-up for :class:`~tests.templates.HomeTemplates`."""
    import webbrowser

    patch.setattr(webbrowser, "open", Browser().open)
    for made in build_office(patch, directory, Browser(), clients=clients, seed=seed):
        yield made.server, made.sandbox, (made.office_division, made.account_by_relation, made.division_by_relation)


@pytest.fixture
def office(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    browser: Browser,
    exactlink_home: Path,
    home_templates: HomeTemplates,
) -> Iterator[Office]:
    """A logged-in exactlink with a 30-client office (nothing linked to an administration yet).

    :func:`build_office`'s office, made once per test worker and copied (:mod:`tests.templates`).
    """
    from exactlink.sandbox.generator import write_crm_export

    copies = home_templates.copy(
        "returns-office", _built_office, monkeypatch, exactlink_home, clients=30, seed=5, token_storage="file"
    )
    with copies as copy:
        set_workspace(monkeypatch, sleep=lambda seconds: time.sleep(min(seconds, 0.02)))
        write_crm_export(copy.sandbox.data, tmp_path / "crm.csv")
        office_division, accounts, divisions = copy.kept
        yield Office(copy.sandbox, copy.server, copy.env, office_division, dict(accounts), dict(divisions))
