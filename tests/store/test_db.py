"""Opening the mirror: private file, WAL, busy timeout, migrations, refusing damaged or foreign files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
from pathlib import Path

import pytest

from exactlink.paths import get_paths
from exactlink.store.db import (
    APPLICATION_ID,
    DatabaseUnusable,
    applied_migrations,
    migrate,
    open_db,
    transaction,
)
from exactlink.store.migrations import MIGRATIONS
from tests.stamps import wall_now


def test_fresh_database_is_private_wal_and_migrated() -> None:
    db = open_db()
    path = get_paths().database
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert applied_migrations(db) == [m.__name__ for m in MIGRATIONS]
    tables = {row[0] for row in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= {
        *("relations", "addresses", "contacts", "bank_accounts"),  # the CRM side
        *("links", "admin_links", "match_decisions"),  # relation ↔ account, relation ↔ administration, decisions
        *("accounts", "account_addresses", "account_contacts", "account_bank_accounts", "sync_cursors", "runs"),
    }
    with pytest.raises(sqlite3.IntegrityError):  # addresses are visit, postal or invoice
        db.conn.execute("INSERT INTO relations (relation_number, created_at, updated_at) VALUES ('R', '', '')")
        db.conn.execute("INSERT INTO addresses (relation_number, type, updated_at) VALUES ('R', 'delivery', '')")
    db.close()


def test_reopen_runs_no_migration_again(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_db(path).close()
    db = open_db(path)
    assert migrate(db) == []
    count = db.conn.execute("SELECT count(*) FROM _exactlink_migrations").fetchone()[0]
    assert count == len(MIGRATIONS)


def _open_and_write(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        from exactlink.store.meta import set_value

        db = open_db(Path(path))
        set_value(db, "opened-by", "someone", now=wall_now())
        queue.put("ok")
    except BaseException as exc:  # reported to the parent
        queue.put(repr(exc))


def test_several_processes_opening_a_new_database_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_open_and_write, args=(str(path), queue)) for _ in range(4)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert results == ["ok"] * 4
    db = open_db(path)
    names = [row[0] for row in db.conn.execute("SELECT name FROM _exactlink_migrations")]
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS)


def test_garbage_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database at all, just text" * 100)
    with pytest.raises(DatabaseUnusable) as caught:
        open_db(path)
    assert "not a usable SQLite database" in caught.value.message
    assert "\n" not in caught.value.message


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseUnusable, match="another program"):
        open_db(path)
    # nothing of ours was added to it
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"photos"}


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    db = open_db(path)
    db.conn.execute("INSERT INTO _exactlink_migrations VALUES ('m999_future', '2030-01-01T00:00:00+00:00')")
    db.close()
    with pytest.raises(DatabaseUnusable, match="newer exactlink"):
        open_db(path)


def test_transaction_rolls_back_everything_on_error() -> None:
    db = open_db()
    with pytest.raises(RuntimeError), transaction(db):
        db.conn.execute("INSERT INTO meta VALUES ('a', '1', 'now')")
        with transaction(db):
            db.conn.execute("INSERT INTO meta VALUES ('b', '2', 'now')")
        raise RuntimeError("killed half-way")
    assert db.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0


def test_nested_transaction_failure_keeps_the_outer_work() -> None:
    db = open_db()
    with transaction(db):
        db.conn.execute("INSERT INTO meta VALUES ('a', '1', 'now')")
        with pytest.raises(RuntimeError), transaction(db):
            db.conn.execute("INSERT INTO meta VALUES ('b', '2', 'now')")
            raise RuntimeError("inner failed")
    assert [row[0] for row in db.conn.execute("SELECT key FROM meta")] == ["a"]


def test_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    first = open_db(path)
    second = open_db(path)
    with transaction(first):
        first.conn.execute("INSERT INTO meta VALUES ('a', '1', 'now')")
        # readers are not blocked by the writer (WAL)
        assert second.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    with transaction(second):
        second.conn.execute("INSERT INTO meta VALUES ('b', '1', 'now')")
    assert first.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 2
