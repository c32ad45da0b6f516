"""What the mirror remembers about each linked client administration, besides the link itself.

Kept as one JSON value per administration in the ``meta`` table (key ``administration.<division>``), so
no schema change is needed: the administration's name (for listings), the vraagposten G/L account
codes configured for it, the codes chosen last (for ``link-admin list``), and what the last fetch found.
The vraagposten choice itself and its sync cursors live in ``vraagposten_cursors``
(``exactlink.store.vraagposten_cursors``).

Known fields: ``name``, ``vraagposten_configured`` (list of codes), ``vraagposten_codes`` (list),
``last_fetch_at``, ``last_fetch_note``, and ``last_fetch_error`` with ``last_fetch_failed_at`` while the
administration's last fetch failed (the overview page shows them); ``vraagposten_source``,
``vraagposten_problem`` and ``vraagposten_checked_at`` are what earlier versions wrote (no longer written).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exactlink.store.db import from_json, now_iso, to_json, transaction

if TYPE_CHECKING:
    import sqlite_utils

_PREFIX = "administration."
FIELDS = frozenset(
    {
        "name",
        "vraagposten_configured",
        "vraagposten_codes",
        "vraagposten_source",
        "vraagposten_problem",
        "vraagposten_checked_at",
        "last_fetch_at",
        "last_fetch_note",
        "last_fetch_error",
        "last_fetch_failed_at",
    }
)


def _key(division: int) -> str:
    return f"{_PREFIX}{int(division)}"


def get_admin_info(db: sqlite_utils.Database, division: int) -> dict[str, Any]:
    """Everything remembered about administration ``division`` (an empty dict when nothing is)."""
    row = db.conn.execute("SELECT value FROM meta WHERE key = ?", (_key(division),)).fetchone()
    value = from_json(row[0], {}) if row else {}
    return value if isinstance(value, dict) else {}


def update_admin_info(db: sqlite_utils.Database, division: int, **fields: Any) -> dict[str, Any]:
    """Set some fields (a value of None removes the field); returns the stored result.

    Raises:
        ValueError: an unknown field name.
    """
    unknown = set(fields).difference(FIELDS)
    if unknown:
        raise ValueError(f"unknown administration field(s): {', '.join(sorted(unknown))}")
    with transaction(db):
        info = get_admin_info(db, division)
        for name, value in fields.items():
            if value is None:
                info.pop(name, None)
            else:
                info[name] = value
        db.conn.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (_key(division), to_json(info), now_iso()),
        )
    return info


def all_admin_info(db: sqlite_utils.Database) -> dict[int, dict[str, Any]]:
    """``{division: info}`` for every administration anything is remembered about."""
    result: dict[int, dict[str, Any]] = {}
    for key, value in db.conn.execute("SELECT key, value FROM meta WHERE key LIKE ?", (_PREFIX + "%",)):
        suffix = str(key)[len(_PREFIX) :]
        if suffix.isdigit():
            info = from_json(value, {})
            result[int(suffix)] = info if isinstance(info, dict) else {}
    return result


def forget_vraagposten_choice(db: sqlite_utils.Database, division: int) -> None:
    """Drop the cached vraagposten accounts, so the next fetch reads the chart of accounts again."""
    update_admin_info(
        db,
        division,
        vraagposten_codes=None,
        vraagposten_source=None,
        vraagposten_problem=None,
        vraagposten_checked_at=None,
    )


def division_has_returns_before(db: sqlite_utils.Database, division: int, moment: str) -> bool:
    """True when the mirror holds a return of ``division`` created before ``moment`` (ISO text)."""
    row = db.conn.execute(
        "SELECT 1 FROM returns WHERE division = ? AND created < ? LIMIT 1", (int(division), moment)
    ).fetchone()
    return row is not None
