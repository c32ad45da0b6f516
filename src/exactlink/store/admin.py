"""What the mirror remembers about each client administration besides its administration link.

One row per administration in the ``administrations`` table, read and written as
:class:`~exactlink.domain.records.AdministrationState`: the administration's name (for listings), the vraagposten
G/L account codes configured for it, the codes chosen the last time ``financial/GLAccounts`` was read (a cache, so
an hourly run does not read the chart of accounts again), and what the last fetch found.
The vraagposten choice itself and its sync cursors live in ``vraagposten_cursors``
(``exactlink.store.vraagposten_cursors``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import AdministrationState
from exactlink.store.db import from_json, stored_at, to_json, transaction
from exactlink.store.records import columns_of, select_records

if TYPE_CHECKING:
    import sqlite_utils

FIELDS = frozenset(spec.name for spec in dataclasses.fields(AdministrationState)) - {"division"}
_LISTS = ("vraagposten_configured", "vraagposten_codes")
_SELECT = f"SELECT {columns_of(AdministrationState)} FROM administrations"
_COLUMNS = (*(spec.name for spec in dataclasses.fields(AdministrationState)), "updated_at")
# One prepared upsert: the hourly run writes every administration's state, and sqlite-utils' ``upsert`` reads the
# table's schema again on each call (three times the statement's own cost at 20,000 administrations).
_UPSERT = (
    f"INSERT INTO administrations ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    f"ON CONFLICT (division) DO UPDATE SET {', '.join(f'{name} = excluded.{name}' for name in _COLUMNS[1:])}"
)


def _state(row: tuple[Any, ...]) -> AdministrationState:
    values = dict(zip((spec.name for spec in dataclasses.fields(AdministrationState)), row, strict=True))
    configured, codes = from_json(values["vraagposten_configured"], []), from_json(values["vraagposten_codes"])
    values["vraagposten_configured"] = tuple(str(code) for code in configured)
    values["vraagposten_codes"] = None if codes is None else tuple(str(code) for code in codes)
    values["division"] = int(values["division"])
    return AdministrationState(**values)


def get_administration_state(db: sqlite_utils.Database, division: int) -> AdministrationState:
    """Everything remembered about administration ``division`` (a state with nothing filled in when nothing is)."""
    found = select_records(db, AdministrationState, f"{_SELECT} WHERE division = ?", (int(division),), convert=_state)
    return found[0] if found else AdministrationState(int(division))


def administration_states(db: sqlite_utils.Database) -> dict[int, AdministrationState]:
    """``{division: state}`` for every administration anything is remembered about."""
    states = select_records(db, AdministrationState, f"{_SELECT} ORDER BY division", convert=_state)
    return {state.division: state for state in states}


def update_administration_state(
    db: sqlite_utils.Database, division: int, *, now: datetime, **fields: Any
) -> AdministrationState:
    """Set some fields of the administration's state (None puts a field back to "not known"); returns the result.

    Lists are accepted for the two code lists.

    Raises:
        ValueError: an unknown field name.
    """
    unknown = set(fields).difference(FIELDS)
    if unknown:
        raise ValueError(f"unknown administration field(s): {', '.join(sorted(unknown))}")
    defaults = AdministrationState(int(division))
    changes: dict[str, Any] = {
        name: getattr(defaults, name) if value is None else tuple(value) if name in _LISTS else value
        for name, value in fields.items()
    }
    with transaction(db):
        state = dataclasses.replace(get_administration_state(db, division), **changes)
        row = {name: getattr(state, name) for name in _COLUMNS[:-1]}
        row["vraagposten_configured"] = to_json(list(state.vraagposten_configured))
        row["vraagposten_codes"] = None if state.vraagposten_codes is None else to_json(list(state.vraagposten_codes))
        row["updated_at"] = stored_at(now)
        db.conn.execute(_UPSERT, tuple(row[name] for name in _COLUMNS))
    return state


def forget_vraagposten_choice(db: sqlite_utils.Database, division: int, *, now: datetime) -> None:
    """Drop the cached vraagposten accounts, so the next fetch reads the chart of accounts again."""
    update_administration_state(
        db,
        division,
        now=now,
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
