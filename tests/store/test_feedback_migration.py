"""m006: a database made before the ``refused`` feedback state opens, keeps its returns and their history."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from exactlink.domain.return_records import ReturnRecord
from exactlink.store.db import MIGRATIONS_TABLE, applied_migrations, open_db
from exactlink.store.migrations import MIGRATIONS, m006_feedback_refused
from exactlink.store.returns import get_return, record_feedback, return_history, upsert_returns
from tests.stamps import wall_now


def _database_before_m006(path: Path) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    conn.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for migration in MIGRATIONS[: MIGRATIONS.index(m006_feedback_refused)]:
        migration(db)
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, '2026-01-01T00:00:00+00:00')", (migration.__name__,))
    conn.execute(
        "INSERT INTO returns (document_id, division, type, kind, status, first_seen_at, last_seen_at, local_status, "
        "feedback_state, feedback_message) VALUES ('doc-1', 7, 31, 'btw', 40, 'a', 'b', 'processed', 'failed', 'old')"
    )
    conn.execute("INSERT INTO return_status_history VALUES ('doc-1', 20, '2026-01-01'), ('doc-1', 40, '2026-01-02')")
    conn.close()


def test_an_existing_database_keeps_its_returns_and_history(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _database_before_m006(path)

    db = open_db(path)

    assert "m006_feedback_refused" in applied_migrations(db)  # later migrations may follow
    row = get_return(db, "doc-1")
    assert row is not None
    assert (row.feedback_state, row.feedback_message, row.refused_at) == ("failed", "old", None)
    assert [entry.status for entry in return_history(db, "doc-1")] == [20, 40]
    record_feedback(db, "doc-1", False, "Exact said no", refused=True, now=wall_now())
    refused = get_return(db, "doc-1")
    assert refused is not None and refused.feedback_state == "refused" and refused.refused_at
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("UPDATE returns SET feedback_state = 'nonsense'")
    db.conn.execute("DELETE FROM returns WHERE document_id = 'doc-1'")
    assert db.conn.execute("SELECT count(*) FROM return_status_history").fetchone()[0] == 0, "the cascade still holds"
    db.close()


def test_a_refused_return_is_pending_again_when_exact_changes_it(tmp_path: Path) -> None:
    db = open_db(tmp_path / "x.db")
    base = ReturnRecord("doc-2", division=7, type=31, kind="btw", status=40, amount=10.0)
    upsert_returns(db, [base], now=wall_now())
    db.conn.execute("UPDATE returns SET local_status = 'processed'")
    record_feedback(db, "doc-2", False, "Exact said no", refused=True, now=wall_now())

    upsert_returns(db, [base], now=wall_now())
    assert get_return(db, "doc-2").feedback_state == "refused"  # type: ignore[union-attr]
    upsert_returns(db, [dataclasses.replace(base, relation_number="R1")], now=wall_now())
    assert get_return(db, "doc-2").feedback_state == "refused", "a local re-link is no change in Exact"  # type: ignore[union-attr]
    upsert_returns(db, [dataclasses.replace(base, amount=12.0)], now=wall_now())

    row = get_return(db, "doc-2")
    assert row is not None and row.feedback_state == "pending"
    assert "changed in Exact Online since it refused the feedback (Exact said no)" in (row.feedback_message or "")
    db.close()
