"""When the office mirror stops trusting its cursors and reads an entity again from the top.

Use-case tests: ``refresh_office_mirror`` on an in-memory database against the in-process sandbox, with the
wall clock frozen by time-machine (the sandbox's clock and the ``now`` given to the refresh both follow it).
The cases: nothing stale (one call per entity and the division check), a ``sync/Deleted`` read older than 55
days (the log forgot a deletion), a division move (every Timestamp restarted), CRM bank accounts (no deletion
log at all), and a full re-read killed half-way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils
import time_machine

from exactlink.api.client import ExactClient
from exactlink.sandbox import Sandbox
from exactlink.services import office_mirror
from exactlink.services.office_mirror import MirrorStats, refresh_office_mirror
from exactlink.store.accounts import get_mirror_state
from exactlink.store.db import migrate
from exactlink.store.links import get_account_link, set_account_link
from exactlink.store.relations import RelationRecord, upsert_relation
from tests.stamps import wall_now

START = datetime(2027, 2, 1, 8, 30, tzinfo=UTC)  # February: the shortest two months follow
ENTITY_CALLS = len(office_mirror.ENDPOINTS)


class _Tokens:
    def __init__(self, sandbox: Sandbox) -> None:
        self.token = sandbox.issue_tokens()["access_token"]

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("each refresh gets a fresh token")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def sandbox(clock: time_machine.Coordinates) -> Sandbox:
    return Sandbox(clients=30, seed=3, minutely_limit=10_000, daily_limit=1_000_000)


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = sqlite_utils.Database(memory=True)
    migrate(database)
    yield database
    database.conn.close()


def _refresh(sandbox: Sandbox, db: sqlite_utils.Database, **options: object) -> MirrorStats:
    """One refresh at the frozen time, counting only its own calls."""
    sandbox.reset_counters()
    client = ExactClient(
        "https://start.exactonline.nl", _Tokens(sandbox), transport=sandbox.transport(), sleep=lambda s: None
    )
    with client:
        return refresh_office_mirror(
            client,
            db,
            sandbox.data.office_division,
            now=datetime.now(UTC),
            **options,  # type: ignore[arg-type]
        )


def _ids(db: sqlite_utils.Database, table: str) -> set[str]:
    return {row[0] for row in db.conn.execute(f"SELECT id FROM {table}")}


def _linked_account(sandbox: Sandbox, db: sqlite_utils.Database) -> dict[str, object]:
    """An account of the office with an address, linked to relation R1."""
    office = sandbox.data.office_division
    with_address = {row["Account"] for row in sandbox.records(office, "crm/Addresses").values()}
    account = next(row for row in sandbox.records(office, "crm/Accounts").values() if row["ID"] in with_address)
    upsert_relation(db, RelationRecord("R1", name=str(account["Name"])), now=wall_now())
    set_account_link(
        db,
        "R1",
        str(account["ID"]).lower(),
        str(account["Code"]).strip(),
        method="kvk",
        linked_by="auto",
        now=wall_now(),
    )
    return account


def test_nothing_is_read_again_while_nothing_is_stale(
    sandbox: Sandbox, db: sqlite_utils.Database, clock: time_machine.Coordinates
) -> None:
    first = _refresh(sandbox, db)
    assert first.full_reads == {}, "a first read is not a re-read"
    for days in (1, 6):
        clock.shift(timedelta(days=days))
        again = _refresh(sandbox, db)
        assert sandbox.calls() == again.calls == ENTITY_CALLS + 1, "one call per entity and the division check"
        assert sandbox.calls(endpoint="system/Divisions") == 1
        assert again.full_reads == {}
        assert not any(stats.full for name, stats in again.entities.items() if name != "deleted")
        assert again.changed == 0 and again.deleted == {}
    query = next(entry.query for entry in sandbox.request_log if entry.endpoint == "system/Divisions")
    assert query["$filter"] == f"Code eq {sandbox.data.office_division}", "one filtered read, not a listing"


@pytest.mark.parametrize("days", [54, 62])
def test_a_deleted_account_leaves_the_mirror_whether_or_not_the_log_still_holds_it(
    sandbox: Sandbox, db: sqlite_utils.Database, clock: time_machine.Coordinates, days: int
) -> None:
    office = sandbox.data.office_division
    _refresh(sandbox, db)
    account = _linked_account(sandbox, db)
    account_id = str(account["ID"]).lower()
    clock.shift(timedelta(hours=2))
    sandbox.delete(office, "crm/Accounts", str(account["ID"]))
    clock.shift(timedelta(days=days))

    stats = _refresh(sandbox, db)

    if days == 54:  # the log still holds everything since the last read: only the weekly bank-account read
        assert set(stats.full_reads) == {"bank_accounts"} and stats.entities["deleted"].rows > 0
        assert stats.calls == ENTITY_CALLS + 1
    else:  # sync/Deleted forgot the deletion (older than two months): read again from the top
        assert stats.entities["deleted"].rows == 0
        assert set(stats.full_reads) == {"accounts", "addresses", "contacts", "bank_accounts"}
        assert "62 days ago" in stats.full_reads["accounts"]
    assert stats.deleted["accounts"] == 1
    assert account_id not in _ids(db, "accounts")
    assert not db.conn.execute("SELECT 1 FROM account_addresses WHERE account_id = ?", (account_id,)).fetchall()
    assert "1 account no longer in Exact: removed from the mirror" in stats.removed_lines()
    assert stats.gone == ["R1"]
    link = get_account_link(db, "R1")
    assert link is not None and link.account_id == account_id, "the link is kept, reported as gone"
    assert get_mirror_state(db, office).pending_full == []
    assert _refresh(sandbox, db).full_reads == {}, "read again once, then trusted again"


def test_a_division_move_reads_every_entity_again(
    sandbox: Sandbox, db: sqlite_utils.Database, clock: time_machine.Coordinates
) -> None:
    office = sandbox.data.office_division
    _refresh(sandbox, db)
    assert get_mirror_state(db, office).move_date_known and get_mirror_state(db, office).move_date is None
    accounts = list(sandbox.records(office, "crm/Accounts").values())
    removed, renamed = accounts[0], accounts[1]
    clock.shift(timedelta(days=3))
    sandbox.delete(office, "crm/Accounts", str(removed["ID"]))
    sandbox.move_division(office)  # new, lower Timestamps; the deletion log starts empty
    sandbox.mutate(office, "crm/Accounts", str(renamed["ID"]), Name="Verhuisd B.V.")

    moved = _refresh(sandbox, db)

    assert set(moved.full_reads) == {"accounts", "addresses", "contacts", "bank_accounts"}
    assert "moved to another database" in moved.full_reads["accounts"] and "2027-02-04" in moved.full_reads["accounts"]
    assert moved.deleted["accounts"] == 1 and str(removed["ID"]).lower() not in _ids(db, "accounts")
    name = db.conn.execute("SELECT name FROM accounts WHERE id = ?", (str(renamed["ID"]).lower(),)).fetchone()[0]
    assert name == "Verhuisd B.V.", "a change stamped below the old cursor is read"
    assert get_mirror_state(db, office).move_date == "2027-02-04T08:30:00+00:00"
    again = _refresh(sandbox, db)
    assert again.full_reads == {} and again.calls == ENTITY_CALLS + 1


def test_a_bank_account_deleted_in_exact_is_found_by_the_weekly_full_read(
    sandbox: Sandbox, db: sqlite_utils.Database, clock: time_machine.Coordinates
) -> None:
    office = sandbox.data.office_division
    _refresh(sandbox, db)
    bank = next(iter(sandbox.records(office, "crm/BankAccounts").values()))
    sandbox.delete(office, "crm/BankAccounts", str(bank["ID"]))
    clock.shift(timedelta(days=1))
    next_day = _refresh(sandbox, db)
    assert str(bank["ID"]).lower() in _ids(db, "account_bank_accounts"), "sync/Deleted type 48 is not ours"
    assert next_day.deleted == {}
    clock.shift(timedelta(days=7))
    weekly = _refresh(sandbox, db)
    assert set(weekly.full_reads) == {"bank_accounts"} and weekly.deleted == {"bank_accounts": 1}
    assert str(bank["ID"]).lower() not in _ids(db, "account_bank_accounts")


class _Killed(Exception):
    pass


def test_a_full_read_killed_half_way_is_done_again_by_the_next_run(
    sandbox: Sandbox, db: sqlite_utils.Database, clock: time_machine.Coordinates
) -> None:
    office = sandbox.data.office_division
    _refresh(sandbox, db)
    sandbox.move_division(office)

    def kill_at_addresses(entity: str, rows: int) -> None:
        if entity == "addresses":
            raise _Killed

    with pytest.raises(_Killed):
        _refresh(sandbox, db, progress=kill_at_addresses)
    assert get_mirror_state(db, office).pending_full == ["addresses", "contacts", "bank_accounts"]
    resumed = _refresh(sandbox, db)
    assert resumed.full_reads == {}, "the move is not seen twice"
    full = {name for name, stats in resumed.entities.items() if stats.full and name != "deleted"}
    assert full == {"addresses", "contacts", "bank_accounts"}
    assert get_mirror_state(db, office).pending_full == []


@pytest.mark.parametrize("moved_before", [False, True])
def test_a_mirror_from_before_these_checks_is_read_in_full_once(
    sandbox: Sandbox, db: sqlite_utils.Database, moved_before: bool
) -> None:
    """Cursors without a stored state: when sync/Deleted was last read is unknown, and so is the move date."""
    office = sandbox.data.office_division
    client = ExactClient(
        "https://start.exactonline.nl", _Tokens(sandbox), transport=sandbox.transport(), sleep=lambda s: None
    )
    with client:
        # Cursors trusted, no freshness state kept (as before the upgrade).
        refresh_office_mirror(client, db, office, now=wall_now(), trust_cursors=True)
    assert get_mirror_state(db, office).move_date_known is False
    if moved_before:
        sandbox.update_division(office, DivisionMoveDate=datetime(2026, 11, 2, 3, 0, tzinfo=UTC))

    upgraded = _refresh(sandbox, db)

    assert set(upgraded.full_reads) == {"accounts", "addresses", "contacts", "bank_accounts"}
    if moved_before:
        assert "moved to another database in Exact Online (2026-11-02)" in upgraded.full_reads["accounts"]
    else:
        assert "not known when sync/Deleted was last read" in upgraded.full_reads["accounts"]
    assert upgraded.deleted == {}, "nothing was deleted meanwhile"
    assert _refresh(sandbox, db).full_reads == {}
