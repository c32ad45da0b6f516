"""The schema, as an ordered list of migrations ``m001_…``, ``m002_…`` that run once each.

Each migration is recorded by name in ``_exactlink_migrations`` and runs inside the write transaction
of :func:`exactlink.store.db.migrate`. Never edit a migration that has shipped: add the next one.
Timestamps are UTC ISO-8601 text, dates ``YYYY-MM-DD`` text, booleans 0/1, JSON columns text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    """Register ``function`` as the next migration (its name is its identity)."""
    MIGRATIONS.append(function)
    return function


def _run(db: sqlite_utils.Database, *statements: str) -> None:
    for statement in statements:
        db.conn.execute(statement)


@migration
def m001_core(db: sqlite_utils.Database) -> None:
    """Key/value settings of the mirror (the office administration …) and the run history."""
    _run(
        db,
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            summary TEXT NOT NULL DEFAULT '{}',
            pid INTEGER
        )""",
        "CREATE INDEX runs_command ON runs (command, id)",
    )
