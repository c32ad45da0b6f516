"""Opening the SQLite mirror: a private file, WAL, a busy timeout, foreign keys and versioned migrations.

Cron and an interactive run share one database file. WAL lets readers carry on while one process
writes, and the 30-second busy timeout makes a second writer wait instead of failing. Every
multi-row write goes through :func:`transaction`, which takes the write lock up front
(``BEGIN IMMEDIATE``) so that a read-then-write sequence can never fail half-way with "database is
locked", and which rolls everything back on any exception: a run killed at any point leaves the
database as it was before the transaction began.

One connection belongs to one thread; open another with :func:`open_db` for each worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.clock import Clock

# Written into the SQLite header so that we can tell our own database from someone else's ("EXLK").
APPLICATION_ID = 0x45584C4B
BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_TABLE = "_exactlink_migrations"


class DatabaseUnusable(ExactlinkError):
    """The database file cannot be used: damaged, not SQLite, another program's, or from a newer exactlink."""


class DatabaseBusy(ExactlinkError):
    """Another process held the write lock for longer than the busy timeout."""


def open_db(path: Path | None = None, *, clock: Clock | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the exactlink database and bring its schema up to date.

    ``path`` defaults to ``get_paths().database``. A new file is created with mode 0600 before SQLite
    touches it. The connection runs in WAL mode with a busy timeout of ``BUSY_TIMEOUT_MS`` and foreign
    keys on; pending migrations run at once (safe when several processes open the file together).
    A damaged or foreign file raises :class:`DatabaseUnusable` with a one-line explanation. ``clock`` dates the
    migrations applied now (the workspace passes its own; the product's clock otherwise).
    """
    import sqlite_utils

    from exactlink.paths import create_private_file, get_paths

    db_path = Path(path) if path is not None else get_paths().database
    try:
        if not db_path.exists():
            create_private_file(db_path)
    except OSError as exc:
        raise DatabaseUnusable(f"cannot create the database {db_path}: {exc.strerror or exc}") from None
    try:
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseUnusable(f"cannot open the database {db_path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        _check_identity(conn, db_path)
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        db = sqlite_utils.Database(conn)
        migrate(db, clock=clock)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _unusable(db_path, exc) from None
    except BaseException:
        conn.close()
        raise
    return db


def database_failure(exc: sqlite3.DatabaseError) -> ExactlinkError | None:
    """A damaged, full, read-only or locked database found in the middle of a command, as a one-line error.

    Opening checks the file, but damage to a table's pages only shows when that table is read. Returns None for
    any other SQLite error (a constraint or a syntax error is a bug, not the user's database).
    """
    from exactlink.paths import get_paths

    text = str(exc)
    known = ("malformed", "not a database", "corrupt", "disk I/O", "disk is full", "readonly", "locked", "busy")
    if not any(marker in text for marker in known):
        return None
    return _unusable(get_paths().database, exc)


def _unusable(db_path: Path, exc: sqlite3.DatabaseError) -> ExactlinkError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseBusy(
            f"the database {db_path} is busy: another exactlink run kept it locked for over "
            f"{BUSY_TIMEOUT_MS // 1000} s",
            hint="try again when the other run has finished",
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return DatabaseUnusable(
            f"{db_path} is not a usable SQLite database (damaged or not a database file)",
            hint="move it aside; exactlink creates a fresh one on the next run",
        )
    if "readonly" in text or "unable to open" in text:
        return DatabaseUnusable(f"cannot write the database {db_path}: {text}")
    return DatabaseUnusable(f"the database {db_path} cannot be used: {text}")


def _check_identity(conn: sqlite3.Connection, db_path: Path) -> None:
    """Refuse a SQLite file that belongs to another program (its tables are none of ours)."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id == APPLICATION_ID:
        return
    tables = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    if application_id == 0 and (not tables or MIGRATIONS_TABLE in tables):
        return
    raise DatabaseUnusable(
        f"{db_path} is a SQLite database of another program, not exactlink's",
        hint="move it aside or point EXACTLINK_HOME somewhere else",
    )


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching a fresh file to WAL needs a moment of exclusive access; another process opening the
    # file at the same instant can make that fail with "locked" even with a busy timeout, so retry.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if str(mode).lower() == "wal":
            return
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch to WAL mode (journal mode is {mode})")
        time.sleep(0.05)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block as one atomic write: ``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` on any exception.

    Nested use becomes a savepoint inside the outer transaction. Waiting for another writer is bounded
    by the busy timeout; past it, :class:`DatabaseBusy` is raised and nothing was written.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _unusable(_db_file(conn), exc) from None
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def scratch_copy(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """An in-memory copy of the database, for a dry run: it may be written freely, and nothing reaches the file.

    The copy is a consistent snapshot taken with SQLite's backup API (one read transaction, so it never waits
    for a writer and never blocks one), and it is thrown away when the block ends. A dry run that refreshes
    the copy of Exact Online or applies an inbound sync to it holds no lock on the real database meanwhile:
    cron and other commands write on.
    """
    import sqlite_utils

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.conn.backup(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        yield sqlite_utils.Database(conn)
    finally:
        conn.close()


def _db_file(conn: sqlite3.Connection) -> Path:
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return Path(file or ":memory:")
    return Path(":memory:")


def migrate(db: sqlite_utils.Database, *, clock: Clock | None = None) -> list[str]:
    """Apply the migrations this database has not had yet; return their names (empty when up to date).

    Safe when several processes open the database at once: the check is repeated under the write lock,
    so each migration runs exactly once. A database that has migrations this version does not know
    was written by a newer exactlink and is refused. Each is dated by ``clock`` (the product's clock when none is
    given: opening a database outside a use case, as tests and benchmarks do).
    """
    from exactlink.clock import Clock
    from exactlink.store.migrations import MIGRATIONS

    known = [migration.__name__ for migration in MIGRATIONS]
    applied = _applied_migrations(db.conn)
    _refuse_newer(db, applied, known)
    if all(name in applied for name in known):
        return []
    done: list[str] = []
    applied_at = stored_at((clock or Clock()).now())
    with transaction(db):
        conn = db.conn
        conn.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        applied = _applied_migrations(conn)
        _refuse_newer(db, applied, known)
        for migration in MIGRATIONS:
            if migration.__name__ in applied:
                continue
            migration(db)
            conn.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                (migration.__name__, applied_at),
            )
            done.append(migration.__name__)
    return done


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations recorded in the database, in the order they were applied."""
    return sorted(_applied_migrations(db.conn), key=lambda name: name)


def _applied_migrations(conn: sqlite3.Connection) -> set[str]:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,))
    if exists.fetchone() is None:
        return set()
    return {row[0] for row in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}


def _refuse_newer(db: sqlite_utils.Database, applied: set[str], known: list[str]) -> None:
    unknown = sorted(applied.difference(known))
    if unknown:
        raise DatabaseUnusable(
            f"the database {_db_file(db.conn)} was written by a newer exactlink (migration {unknown[-1]})",
            hint="upgrade exactlink",
        )


def stored_at(moment: datetime) -> str:
    """``moment`` (aware) as every time is stored: UTC ISO-8601 with seconds (``2026-11-03T09:15:02+00:00``).

    The store never reads the wall clock: the moment comes from the caller (a service passes
    ``ws.clock.now()``), so a frozen clock freezes every stored time.
    """
    if moment.tzinfo is None:
        raise ValueError("a stored moment needs a time zone (pass ws.clock.now())")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def to_json(value: Any) -> str:
    """Serialise a JSON column value (compact, UTF-8 kept, keys in a stable order)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def from_json(text: str | None, default: Any = None) -> Any:
    """Read a JSON column value; ``None`` or empty text gives ``default``."""
    if text is None or text == "":
        return default
    return json.loads(text)
