"""Small named values kept in the mirror: the chosen office administration and other key/value state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exactlink.store.db import from_json, stored_at, to_json, transaction

if TYPE_CHECKING:
    import sqlite_utils

OFFICE_KEY = "office_administration"


@dataclass(frozen=True)
class OfficeAdministration:
    """The office's own Exact Online division (kantooradministratie) whose accounts are the office's clients."""

    division: int
    name: str
    selected_at: str


def get_value(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key``, or ``default`` when there is none."""
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return default if row is None else from_json(row[0], default)


def set_value(db: sqlite_utils.Database, key: str, value: Any, *, now: datetime) -> None:
    """Store ``value`` (anything JSON can hold) under ``key``, replacing an earlier value."""
    with transaction(db):
        db.conn.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, to_json(value), stored_at(now)),
        )


def delete_value(db: sqlite_utils.Database, key: str) -> bool:
    """Remove ``key``; True when it existed."""
    with transaction(db):
        return db.conn.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount > 0


def get_office(db: sqlite_utils.Database) -> OfficeAdministration | None:
    """The office administration chosen with ``exactlink tenant``, or None before one is chosen."""
    data = get_value(db, OFFICE_KEY)
    if not data:
        return None
    return OfficeAdministration(division=int(data["division"]), name=str(data["name"]), selected_at=data["selected_at"])


def set_office(db: sqlite_utils.Database, division: int, name: str, *, now: datetime) -> OfficeAdministration:
    """Record ``division`` as the office administration (``selected_at`` is now) and return it."""
    office = OfficeAdministration(division=int(division), name=name, selected_at=stored_at(now))
    set_value(
        db, OFFICE_KEY, {"division": office.division, "name": office.name, "selected_at": office.selected_at}, now=now
    )
    return office
