"""The administrations the login sees, as the last full listing read them (table ``divisions``).

A listing of every administration costs a call per 60 of them on the office administration (about 500 at 20,000
clients), so ``tenant list`` and ``link-admin`` store what they read, and a ``link-admin`` soon after reuses it
(``exactlink.services.admin_links.DIVISION_LIST_FRESH``). The listing is replaced as a whole; when it was read and
whether it included the administrations without consent are kept in ``meta`` (``division_list``).

VAT and OB numbers are not stored (they come back as None): an eenmanszaak's OB number holds the owner's BSN
(``exactlink.domain.privacy``), and only ``link-admin suggest`` needs them, which lists afresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import DivisionList, KnownDivision
from exactlink.store.db import stored_at, transaction
from exactlink.store.meta import get_value, set_value
from exactlink.store.records import select_records

if TYPE_CHECKING:
    import sqlite_utils

_META_KEY = "division_list"
_NOT_STORED = frozenset({"vat_number", "ob_number"})  # may hold a BSN
_FIELDS = tuple(spec.name for spec in dataclasses.fields(KnownDivision) if spec.name not in _NOT_STORED)


def _division(row: tuple[Any, ...]) -> KnownDivision:
    values = dict(zip(_FIELDS, row, strict=True))
    values["practice"], values["consented"] = bool(values["practice"]), bool(values["consented"])
    return KnownDivision(**values)


def save_division_list(
    db: sqlite_utils.Database, divisions: Sequence[KnownDivision], *, read_at: datetime, complete: bool
) -> None:
    """Replace the stored listing by ``divisions``, read at ``read_at``; ``complete`` when the ones without consent
    were read too."""
    with transaction(db):
        db.conn.execute("DELETE FROM divisions")
        db.conn.executemany(
            f"INSERT OR REPLACE INTO divisions ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            [tuple(getattr(division, name) for name in _FIELDS) for division in divisions],
        )
        set_value(db, _META_KEY, {"read_at": stored_at(read_at), "complete": complete}, now=read_at)


def stored_division_list(db: sqlite_utils.Database) -> DivisionList | None:
    """The last listing stored, or None when none was."""
    about = get_value(db, _META_KEY)
    if not isinstance(about, dict) or not about.get("read_at"):
        return None
    divisions = select_records(
        db, KnownDivision, f"SELECT {', '.join(_FIELDS)} FROM divisions ORDER BY code", convert=_division
    )
    return DivisionList(tuple(divisions), str(about["read_at"]), bool(about.get("complete")))


def forget_division_list(db: sqlite_utils.Database) -> None:
    """Drop the stored listing (a new login, or none, may see other administrations)."""
    with transaction(db):
        db.conn.execute("DELETE FROM divisions")
        db.conn.execute("DELETE FROM meta WHERE key = ?", (_META_KEY,))
