"""A frozen clock freezes every time the mirror stores: the store never reads the wall clock, each use case passes
its workspace's moment. Several use cases run on one in-memory office frozen at one moment (no server, no CLI);
afterwards every stored time (``…_at`` columns and the migrations' dates) is that moment and nothing else."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from exactlink.services.crm import edit_relation, import_crm
from exactlink.services.feedback import feedback_one
from exactlink.services.returns_fetch import RETURNS_PATH, fetch_returns
from exactlink.store.links import set_account_link, set_administration_link
from exactlink.store.meta import set_office
from exactlink.store.runs import last_runs
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace, recorded

# 10:00 in Amsterdam on 15 April 2026, and the same moment as the store writes it.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
STORED = "2026-04-15T08:00:00+00:00"
CLIENT = 2001
ACCOUNT = "0b7f8a1e-0000-4000-8000-000000000001"
VAT = "d0000000-0000-4000-8000-000000000001"
REQUEST = "e0000000-0000-4000-8000-000000000001"
HEADER = "relatienummer;naam;kvk-nummer;telefoon;bezoekadres;bezoekadres postcode;bezoekadres plaats;iban"
BAKERY = "R1;Bakkerij Jansen B.V.;69599084;015-1234567;Dorpsstraat 1;2601dc;Delft;NL91ABNA0417164300"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    exact = RecordedExact()
    returns = copy.deepcopy(recorded("returns_2001.json"))
    returns[0].update(Status=40, Request=REQUEST)
    exact.rows(CLIENT, RETURNS_PATH).extend(returns)
    workspace = memory_workspace(APRIL, exact)
    yield workspace
    workspace.close()


def stored_times(db: sqlite_utils.Database) -> dict[str, set[str]]:
    """``{table.column: {value, …}}`` of every filled-in time column (``…_at``) of every table."""
    found: dict[str, set[str]] = {}
    for table in db.table_names():
        for column in db[table].columns_dict:
            if column.endswith("_at"):
                values = {row[0] for row in db.conn.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")}
                if values:
                    found[f"{table}.{column}"] = values
    return found


def test_every_time_the_mirror_stores_is_the_frozen_moment(ws: Workspace, tmp_path: Path) -> None:
    export = tmp_path / "relaties.csv"
    export.write_text(f"{HEADER}\n{BAKERY}\n", encoding="utf-8")
    import_crm(ws, export)  # relations, addresses, bank accounts, a run
    edit_relation(ws, "R1", {"phone": "015-7654321"})
    set_office(ws.db, 100, "Kantoor Jansen & Co", now=ws.clock.now())
    set_account_link(ws.db, "R1", ACCOUNT, "1001", method="manual", linked_by="manual", now=ws.clock.now())
    set_administration_link(ws.db, "R1", CLIENT, now=ws.clock.now())
    fetch_returns(ws, show_progress=False)  # returns, their status history, the administration's state, a run
    feedback_one(ws, VAT, "processed")  # reported_at, the status Exact now shows, a run

    times = stored_times(ws.db)

    expected = {
        "_exactlink_migrations.applied_at",
        "relations.created_at",
        "relations.updated_at",
        "addresses.updated_at",
        "bank_accounts.updated_at",
        "meta.updated_at",
        "links.linked_at",
        "match_decisions.decided_at",
        "admin_links.linked_at",
        "admin_links.backlog_fetched_at",
        "administrations.last_fetch_at",
        "administrations.updated_at",
        "returns.first_seen_at",
        "returns.last_seen_at",
        "returns.reported_at",
        "return_status_history.seen_at",
        "runs.started_at",
        "runs.finished_at",
    }
    assert expected <= set(times), f"not written: {sorted(expected - set(times))}"
    assert {column: values for column, values in times.items() if values != {STORED}} == {}
    assert [run.command for run in last_runs(ws.db)][:3] == ["feedback", "fetch-returns", "crm edit"]
