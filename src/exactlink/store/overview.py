"""What the office's overview page (``exactlink report``) and the deadline calendar read from the mirror.

Typed records only: every return with its relation's name, each relation with the state of its links and of
its administration's last fetch, the open vraagposten summed per relation, and the last finished
``fetch-returns`` run. A few queries over whole tables, so 20,000 returns read in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils


@dataclass(frozen=True, slots=True)
class StoredReturn:
    """One fetched return as the page shows it (the columns Exact filled, plus the office's own state)."""

    document_id: str
    relation_number: str | None
    relation_name: str | None
    division: int
    kind: str
    status: int | None
    year: int | None
    period: int | None
    frequency: str | None
    period_description: str | None
    amount: float | None
    currency: str | None
    due_date: str | None
    local_status: str
    feedback_state: str
    feedback_message: str | None


@dataclass(frozen=True, slots=True)
class RelationState:
    """A relation of the CRM mirror with its links and what the last fetch of its administration found."""

    relation_number: str
    name: str
    account_code: str | None
    account_linked: bool
    division: int | None
    administration_name: str | None
    last_fetch_at: str | None
    last_fetch_note: str | None
    last_fetch_error: str | None


@dataclass(frozen=True, slots=True)
class OpenVraagposten:
    """The open vraagposten of one relation: how many, their total and the date of the oldest."""

    relation_number: str
    count: int
    total: float
    oldest: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One finished run of the run history."""

    id: int
    command: str
    started_at: str
    finished_at: str | None
    outcome: str | None


_RETURN_COLUMNS = (
    "t.document_id, t.relation_number, r.name, t.division, t.kind, t.status, t.year, t.period, t.frequency, "
    "t.period_description, t.amount, t.currency, t.due_date, t.local_status, t.feedback_state, t.feedback_message"
)


def stored_returns(
    db: sqlite_utils.Database,
    *,
    kinds: Iterable[str] | None = None,
    relation_numbers: Iterable[str] = (),
    status: int | None = None,
) -> list[StoredReturn]:
    """Every fetched return (or those of ``kinds``/``relation_numbers``/``status``), by due date, unknown last."""
    conditions: list[str] = []
    params: list[Any] = []
    if kinds is not None:
        wanted = list(kinds)
        conditions.append(f"t.kind IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    relations = list(relation_numbers)
    if relations:
        conditions.append(f"t.relation_number IN ({', '.join('?' * len(relations))})")
        params.extend(relations)
    if status is not None:
        conditions.append("t.status = ?")
        params.append(status)
    sql = f"SELECT {_RETURN_COLUMNS} FROM returns t LEFT JOIN relations r ON r.relation_number = t.relation_number"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY t.due_date IS NULL, t.due_date, t.relation_number, t.year, t.period, t.document_id"
    return [StoredReturn(*row) for row in db.conn.execute(sql, params)]


def relation_states(db: sqlite_utils.Database) -> list[RelationState]:
    """Every relation by number, with its account link, its administration and that administration's last fetch."""
    from exactlink.store.admin import administration_states

    states_by_division = administration_states(db)
    states = []
    for number, name, account_id, account_code, division in db.conn.execute(
        "SELECT r.relation_number, r.name, l.account_id, l.account_code, a.division FROM relations r "
        "LEFT JOIN links l ON l.relation_number = r.relation_number "
        "LEFT JOIN admin_links a ON a.relation_number = r.relation_number ORDER BY r.relation_number"
    ):
        state = states_by_division.get(int(division)) if division is not None else None
        states.append(
            RelationState(
                relation_number=str(number),
                name=str(name or ""),
                account_code=account_code,
                account_linked=account_id is not None,
                division=int(division) if division is not None else None,
                administration_name=state.name if state else None,
                last_fetch_at=state.last_fetch_at if state else None,
                last_fetch_note=state.last_fetch_note if state else None,
                last_fetch_error=state.last_fetch_error if state else None,
            )
        )
    return states


def open_vraagposten(db: sqlite_utils.Database) -> dict[str, OpenVraagposten]:
    """``{relation number: its open vraagposten}`` for every relation that has any."""
    return {
        str(number): OpenVraagposten(str(number), int(count), round(float(total or 0), 2), oldest)
        for number, count, total, oldest in db.conn.execute(
            "SELECT relation_number, COUNT(*), SUM(amount), MIN(date) FROM vraagposten "
            "WHERE cleared = 0 AND relation_number IS NOT NULL GROUP BY relation_number"
        )
    }


def last_finished_run(db: sqlite_utils.Database, command: str) -> RunRecord | None:
    """The newest run of ``command`` that did its work (finished, not skipped), or None."""
    row = db.conn.execute(
        "SELECT id, command, started_at, finished_at, outcome FROM runs "
        "WHERE command = ? AND finished_at IS NOT NULL AND outcome != 'skipped' ORDER BY id DESC LIMIT 1",
        (command,),
    ).fetchone()
    return RunRecord(*row) if row is not None else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
