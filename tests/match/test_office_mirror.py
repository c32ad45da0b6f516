"""`refresh_office_mirror` in-process against the sandbox and against hand-made streams: pages, cursors,
deletions, bank accounts by Modified, and a run killed half-way."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from exactlink.api.client import ExactClient
from exactlink.sandbox import Sandbox
from exactlink.services import office_mirror
from exactlink.services.office_mirror import lower_bound_calls, refresh_office_mirror
from exactlink.store.accounts import get_cursor
from exactlink.store.db import open_db
from tests.stamps import wall_now

ENDPOINTS = office_mirror.ENDPOINTS


class _Tokens:
    def __init__(self, sandbox: Sandbox) -> None:
        self.token = sandbox.issue_tokens()["access_token"]

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the test token does not expire")

    def newer_token_than(self, rejected: str) -> str | None:
        return None


@pytest.fixture(scope="module")
def big_sandbox() -> Sandbox:
    """An office with ~1,200 accounts: two pages on the sync endpoints."""
    return Sandbox(clients=1100, seed=5, minutely_limit=10_000, daily_limit=1_000_000)


def _client(sandbox: Sandbox) -> ExactClient:
    return ExactClient(
        "https://start.exactonline.nl", _Tokens(sandbox), transport=sandbox.transport(), sleep=lambda s: None
    )


def _db(tmp_path: Path, name: str = "mirror.db") -> sqlite_utils.Database:
    return open_db(tmp_path / name)


def _count(db: sqlite_utils.Database, table: str) -> int:
    return int(db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _sandbox_rows(sandbox: Sandbox) -> dict[str, int]:
    office = sandbox.data.office_division
    return {
        "accounts": len(sandbox.records(office, "crm/Accounts")),
        "addresses": len(sandbox.records(office, "crm/Addresses")),
        "contacts": len(sandbox.records(office, "crm/Contacts")),
        "bank_accounts": len(sandbox.records(office, "crm/BankAccounts")),
        "deleted": 0,
    }


def test_full_refresh_costs_the_page_size_lower_bound_then_one_call_per_entity(
    big_sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox, db = big_sandbox, _db(tmp_path)
    office = sandbox.data.office_division
    sandbox.reset_counters()
    with _client(sandbox) as client:
        stats = refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
    rows = _sandbox_rows(sandbox)
    assert rows["accounts"] > 1000  # really two pages
    bound = lower_bound_calls(rows)
    assert sandbox.calls() == stats.calls == bound
    for entity, endpoint in ENDPOINTS.items():
        assert sandbox.calls(endpoint=endpoint) == stats.entities[entity].calls
        assert stats.entities[entity].rows == rows[entity]
    assert _count(db, "accounts") == rows["accounts"]
    assert _count(db, "account_bank_accounts") == rows["bank_accounts"]
    sandbox.reset_counters()
    with _client(sandbox) as client:
        again = refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
    assert sandbox.calls() == len(ENDPOINTS)
    assert all(sandbox.calls(endpoint=endpoint) == 1 for endpoint in ENDPOINTS.values())
    assert again.changed == 0 and again.calls_by_entity() == dict.fromkeys(ENDPOINTS, 1)
    # The queries: exactly the fields we use, Timestamp cursors, bank accounts by Modified.
    accounts_query = next(e.query for e in sandbox.request_log if e.endpoint == "sync/CRM/Accounts")
    assert accounts_query["$filter"] == f"Timestamp gt {stats.entities['accounts'].cursor_after}L"
    assert accounts_query["$select"].split(",") == office_mirror.select_fields("accounts")
    bank_query = next(e.query for e in sandbox.request_log if e.endpoint == "crm/BankAccounts")
    assert bank_query["$filter"].startswith("Modified ge datetime'")


class _Killed(Exception):
    pass


def test_a_run_killed_after_a_page_resumes_without_duplicates(big_sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox, db = big_sandbox, _db(tmp_path)
    office = sandbox.data.office_division
    pages = {"n": 0}

    def kill_after_first_page(entity: str, rows: int) -> None:
        if entity == "accounts" and rows == 1000:
            pages["n"] += 1
            raise _Killed

    with _client(sandbox) as client, pytest.raises(_Killed):
        refresh_office_mirror(client, db, office, progress=kill_after_first_page, now=wall_now(), trust_cursors=True)
    # The first page is committed with its cursor; nothing after it.
    assert _count(db, "accounts") == 1000
    cursor = get_cursor(db, office, "accounts")
    assert cursor is not None
    assert get_cursor(db, office, "addresses") is None
    sandbox.reset_counters()
    with _client(sandbox) as client:
        stats = refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
    rows = _sandbox_rows(sandbox)
    # The next run asks only for what follows the checkpoint (it re-reads at most the boundary row).
    assert stats.entities["accounts"].rows == rows["accounts"] - 1000 + 1
    assert sandbox.calls(endpoint="sync/CRM/Accounts") == 1
    assert _count(db, "accounts") == rows["accounts"]
    ids = [row[0] for row in db.conn.execute("SELECT id FROM accounts")]
    assert len(ids) == len(set(ids)) == len(sandbox.records(office, "crm/Accounts"))
    # And it ends where a clean run ends.
    clean = _db(tmp_path, "clean.db")
    with _client(sandbox) as client:
        refresh_office_mirror(client, clean, office, now=wall_now(), trust_cursors=True)
    for table in ("accounts", "account_addresses", "account_contacts", "account_bank_accounts"):
        query = f"SELECT * FROM {table} ORDER BY id"
        strip = lambda rows: [row[:-1] for row in rows]  # noqa: E731 - drop synced_at
        assert strip(db.conn.execute(query).fetchall()) == strip(clean.conn.execute(query).fetchall())
    assert (
        db.conn.execute("SELECT entity, timestamp FROM sync_cursors ORDER BY 1").fetchall()
        == clean.conn.execute("SELECT entity, timestamp FROM sync_cursors ORDER BY 1").fetchall()
    )


def test_changes_and_deletions_in_exact(tmp_path: Path) -> None:
    sandbox = Sandbox(clients=20, seed=9)
    office = sandbox.data.office_division
    db = _db(tmp_path)
    with _client(sandbox) as client:
        refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
        accounts = sorted(sandbox.records(office, "crm/Accounts"))
        banks = sorted(sandbox.records(office, "crm/BankAccounts"))
        contacts = sorted(sandbox.records(office, "crm/Contacts"))
        sandbox.mutate(office, "crm/Accounts", accounts[0], Name="Hernoemd B.V.")
        sandbox.advance(1)
        sandbox.mutate(office, "crm/BankAccounts", banks[0], BankAccount="NL91ABNA0417164300")
        sandbox.delete(office, "crm/Contacts", contacts[0])
        sandbox.delete(office, "crm/Accounts", accounts[1])
        sandbox.reset_counters()
        stats = refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
    assert sandbox.calls() == len(ENDPOINTS)
    assert stats.entities["accounts"].changed == 1
    assert stats.entities["bank_accounts"].changed == 1
    assert db.conn.execute("SELECT name FROM accounts WHERE id = ?", (accounts[0],)).fetchone() == ("Hernoemd B.V.",)
    assert db.conn.execute("SELECT bank_account FROM account_bank_accounts WHERE id = ?", (banks[0],)).fetchone() == (
        "NL91ABNA0417164300",
    )
    assert db.conn.execute("SELECT count(*) FROM accounts WHERE id = ?", (accounts[1],)).fetchone() == (0,)
    assert db.conn.execute("SELECT count(*) FROM account_contacts WHERE id = ?", (contacts[0],)).fetchone() == (0,)
    assert stats.deleted.get("accounts") == 1 and stats.deleted.get("contacts", 0) >= 1


def test_only_some_entities(tmp_path: Path) -> None:
    sandbox = Sandbox(clients=5, seed=2)
    db = _db(tmp_path)
    with _client(sandbox) as client:
        stats = refresh_office_mirror(
            client,
            db,
            sandbox.data.office_division,
            entities=("accounts", "deleted"),
            now=wall_now(),
            trust_cursors=True,
        )
        with pytest.raises(ValueError):
            refresh_office_mirror(
                client, db, sandbox.data.office_division, entities=("invoices",), now=wall_now(), trust_cursors=True
            )
    assert set(stats.entities) == {"accounts", "deleted"}
    assert sandbox.calls() == 2
    assert stats.to_json()["entities"]["accounts"]["rows"] == stats.entities["accounts"].rows


# --------------------------------------------------------------------------------------------------
# Hand-made streams: what the cursor does with ties, disorder and bank-account dates


class _FakeClient:
    """Serves prepared rows per endpoint in pages of ``page_size`` and records the filters it was asked for.

    ``fail_after``: the connection drops when the page holding that row index is requested.
    """

    def __init__(
        self, rows: dict[str, Sequence[dict[str, Any]]], fail_after: int | None = None, page_size: int = 1000
    ) -> None:
        self.rows = rows
        self.filters: list[tuple[str, str | None]] = []
        self.fail_after = fail_after
        self.page_size = page_size

    def get_pages(
        self, division: int, path: str, *, select: Any, filter: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        self.filters.append((path, filter))
        rows = [dict(row) for row in self.rows.get(path, ())]
        for start in range(0, max(len(rows), 1), self.page_size):
            if self.fail_after is not None and start <= self.fail_after < start + self.page_size:
                raise ConnectionError("the connection dropped")
            yield rows[start : start + self.page_size]


def _account(number: int, timestamp: int) -> dict[str, Any]:
    return {
        "ID": f"00000000-0000-0000-0000-{number:012d}",
        "Code": f"{number:>18}",
        "Name": f"A {number}",
        "Timestamp": str(timestamp),
    }


def test_a_tie_on_the_page_boundary_is_not_lost(tmp_path: Path) -> None:
    db = _db(tmp_path)
    # Rows 2 and 3 share Timestamp 20 across the boundary of the first page; the stream breaks on the second.
    stream = [_account(1, 10), _account(2, 20), _account(3, 20), _account(4, 30)]
    client = _FakeClient({"sync/CRM/Accounts": stream}, fail_after=3, page_size=2)
    with pytest.raises(ConnectionError):
        refresh_office_mirror(client, db, 1, entities=("accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    assert get_cursor(db, 1, "accounts") == 19  # one below the page's highest Timestamp, not 20
    resumed = _FakeClient({"sync/CRM/Accounts": [row for row in stream if int(row["Timestamp"]) > 19]})
    refresh_office_mirror(resumed, db, 1, entities=("accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    assert resumed.filters == [("sync/CRM/Accounts", "Timestamp gt 19L")]
    assert _count(db, "accounts") == 4 and get_cursor(db, 1, "accounts") == 30


def test_an_unordered_stream_is_checkpointed_only_at_its_end(tmp_path: Path) -> None:
    db = _db(tmp_path)
    stream = [_account(1, 50), _account(2, 10), _account(3, 40), _account(4, 30), _account(5, 60)]
    client = _FakeClient({"sync/CRM/Accounts": stream}, fail_after=4, page_size=2)
    with pytest.raises(ConnectionError):
        refresh_office_mirror(client, db, 1, entities=("accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    assert get_cursor(db, 1, "accounts") is None  # rows kept, cursor not moved
    assert _count(db, "accounts") == 4
    refresh_office_mirror(
        _FakeClient({"sync/CRM/Accounts": stream}),  # type: ignore[arg-type]
        db,
        1,
        entities=("accounts",),
        now=wall_now(),
        trust_cursors=True,
    )
    assert get_cursor(db, 1, "accounts") == 60 and _count(db, "accounts") == 5


def test_calls_are_the_pages_exact_sent_whatever_their_size(tmp_path: Path) -> None:
    db = _db(tmp_path)
    stream = [_account(number, 10 * number) for number in range(1, 8)]
    client = _FakeClient({"sync/CRM/Accounts": stream}, page_size=3)
    stats = refresh_office_mirror(client, db, 1, entities=("accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    accounts = stats.entities["accounts"]
    assert (accounts.calls, accounts.rows, accounts.changed) == (3, 7, 7)  # pages of 3, 3 and 1 rows
    assert accounts.cursor_after == 70
    nothing = refresh_office_mirror(_FakeClient({}), db, 1, entities=("accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    assert (nothing.calls, nothing.rows) == (1, 0), "an empty answer is one call"


def _date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def test_bank_accounts_overlap_and_unchanged_rows(tmp_path: Path) -> None:
    db = _db(tmp_path)
    modified = datetime(2026, 3, 2, 10, 30, 15, 500_000, tzinfo=UTC)
    bank = {
        "ID": "10000000-0000-0000-0000-000000000001",
        "Account": "20000000-0000-0000-0000-000000000002",
        "BankAccount": "NL91ABNA0417164300",
        "BICCode": "ABNANL2A",
        "Main": True,
        "Modified": _date(modified),
    }
    first = _FakeClient({"crm/BankAccounts": [bank]})
    stats = refresh_office_mirror(first, db, 1, entities=("bank_accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    assert first.filters == [("crm/BankAccounts", "Modified ge datetime'1900-01-01T00:00:00'")]
    assert stats.entities["bank_accounts"].changed == 1
    again = _FakeClient({"crm/BankAccounts": [bank]})
    stats = refresh_office_mirror(again, db, 1, entities=("bank_accounts",), now=wall_now(), trust_cursors=True)  # type: ignore[arg-type]
    since = (modified - office_mirror.MODIFIED_OVERLAP).replace(microsecond=0, tzinfo=None).isoformat()
    assert again.filters == [("crm/BankAccounts", f"Modified ge datetime'{since}'")]
    assert stats.entities["bank_accounts"].rows == 1 and stats.entities["bank_accounts"].changed == 0
    changed = {**bank, "BankAccount": "NL20INGB0001234567", "Modified": _date(modified + timedelta(minutes=1))}
    stats = refresh_office_mirror(
        _FakeClient({"crm/BankAccounts": [changed]}),  # type: ignore[arg-type]
        db,
        1,
        entities=("bank_accounts",),
        now=wall_now(),
        trust_cursors=True,
    )
    assert stats.entities["bank_accounts"].changed == 1
    assert db.conn.execute("SELECT bank_account, main FROM account_bank_accounts").fetchall() == [
        ("NL20INGB0001234567", 1)
    ]


def test_deleted_entries_of_other_types_are_skipped(tmp_path: Path) -> None:
    db = _db(tmp_path)
    refresh_office_mirror(
        _FakeClient({"sync/CRM/Accounts": [_account(1, 5)]}),  # type: ignore[arg-type]
        db,
        1,
        entities=("accounts",),
        now=wall_now(),
        trust_cursors=True,
    )
    deleted = [
        {"Timestamp": "7", "EntityKey": "99999999-0000-0000-0000-000000000000", "EntityType": 1},
        {"Timestamp": "8", "EntityKey": _account(1, 5)["ID"], "EntityType": 2},
    ]
    stats = refresh_office_mirror(
        _FakeClient({"sync/Deleted": deleted}),  # type: ignore[arg-type]
        db,
        1,
        entities=("deleted",),
        now=wall_now(),
        trust_cursors=True,
    )
    assert stats.deleted == {"accounts": 1} and _count(db, "accounts") == 0
    assert get_cursor(db, 1, "deleted") == 8
