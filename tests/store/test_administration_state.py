"""Per-administration state: its own table (m007), carried over from the ``meta`` JSON of earlier versions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from exactlink.domain.records import AdministrationState
from exactlink.store.admin import (
    administration_states,
    forget_vraagposten_choice,
    get_administration_state,
    update_administration_state,
)
from exactlink.store.db import MIGRATIONS_TABLE, applied_migrations, open_db
from exactlink.store.migrations import MIGRATIONS, m008_administration_state
from tests.stamps import wall_now

BEFORE = {
    "name": "Bakkerij De Vries B.V.",
    "vraagposten_configured": ["1500"],
    "vraagposten_codes": ["1500", "1510"],
    "vraagposten_source": "configured",
    "vraagposten_checked_at": "2026-11-02T08:00:00+00:00",
    "last_fetch_at": "2026-11-02T08:00:05+00:00",
    "last_fetch_note": None,
}
FAILED_AT = "2026-11-02T09:00:02+00:00"


def _database_before_m007(path: Path) -> None:
    """A database as the previous version left it: per-administration state as JSON values in ``meta``."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    conn.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS[: MIGRATIONS.index(m008_administration_state)]:
        migration(db)
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, '2026-01-01T00:00:00+00:00')", (migration.__name__,))
    rows = [
        ("administration.1469700", json.dumps({k: v for k, v in BEFORE.items() if v is not None})),
        (
            "administration.1469701",
            json.dumps({"name": "Kapsalon Anna", "last_fetch_error": "blocked", "last_fetch_failed_at": FAILED_AT}),
        ),
        ("administration.1469702", json.dumps({"name": "Nooit gelezen", "vraagposten_codes": []})),
        ("administration.notes", json.dumps({"name": "not an administration"})),
        ("office_administration", json.dumps({"division": 1469682, "name": "Kantoor", "selected_at": "x"})),
    ]
    conn.executemany("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, '2026-11-02T08:00:05+00:00')", rows)
    conn.close()


def test_the_migration_carries_every_administration_over_and_leaves_other_meta_alone(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    _database_before_m007(path)

    db = open_db(path)

    assert "m008_administration_state" in applied_migrations(db)
    states = administration_states(db)
    assert states[1469700] == AdministrationState(
        division=1469700,
        name="Bakkerij De Vries B.V.",
        vraagposten_configured=("1500",),
        vraagposten_codes=("1500", "1510"),
        vraagposten_source="configured",
        vraagposten_checked_at="2026-11-02T08:00:00+00:00",
        last_fetch_at="2026-11-02T08:00:05+00:00",
    )
    assert states[1469701] == AdministrationState(
        division=1469701, name="Kapsalon Anna", last_fetch_error="blocked", last_fetch_failed_at=FAILED_AT
    )
    assert states[1469702].vraagposten_codes == (), "a read that found no account is not 'never read'"
    assert sorted(states) == [1469700, 1469701, 1469702]
    left = [key for (key,) in db.conn.execute("SELECT key FROM meta ORDER BY key")]
    assert left == ["administration.notes", "office_administration"]
    db.close()


def test_update_sets_and_clears_fields_and_refuses_unknown_ones(db: sqlite_utils.Database) -> None:
    assert get_administration_state(db, 7) == AdministrationState(7)
    update_administration_state(db, 7, name="Administratie 7", vraagposten_configured=["1500", "1510"], now=wall_now())
    update_administration_state(
        db, 7, vraagposten_codes=["1500"], vraagposten_checked_at="2026-11-02T08:00:00+00:00", now=wall_now()
    )
    state = get_administration_state(db, 7)
    assert (state.name, state.vraagposten_configured, state.vraagposten_codes) == (
        "Administratie 7",
        ("1500", "1510"),
        ("1500",),
    )
    forget_vraagposten_choice(db, 7, now=wall_now())
    update_administration_state(db, 7, vraagposten_configured=None, now=wall_now())
    assert get_administration_state(db, 7) == AdministrationState(7, name="Administratie 7")
    with pytest.raises(ValueError, match="unknown administration field"):
        update_administration_state(db, 7, nmae="typo", now=wall_now())
    assert list(administration_states(db)) == [7]
