"""Tax returns and vraagposten fetched from the client administrations, and the feedback state of each return.

Upserts are idempotent by Exact's key (``document_id`` for returns, the transaction line id for
vraagposten), so no number of runs duplicates anything. Each status a return is seen in is kept once in
``return_status_history``. The office's own decision (``local_status``) and the feedback bookkeeping
are never touched by an upsert.

Feedback states: ``none`` (nothing to report), ``pending`` (marked processed/rejected locally, not yet
reported, or a transient failure to retry), ``reported`` (Exact accepted it; never reported again),
``failed`` (Exact refused for a reason a retry cannot fix, e.g. the return is past status 40),
``refused`` (Exact refused with a message of its own, e.g. a return not sent "Manual (with approval)"; kept
with that message and not retried until a fetch sees the return change in Exact, which puts it back in
``pending``, or the office asks for a retry).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.return_records import (
    ReturnRecord,
    StatusSeen,
    StoredReturn,
    StoredVraagpost,
    VraagpostRecord,
    columns,
)
from exactlink.errors import ExactlinkError
from exactlink.store.db import stored_at, to_json, transaction
from exactlink.store.records import select_records

if TYPE_CHECKING:
    import sqlite_utils

# The columns that come from Exact Online (everything but the local bookkeeping), from the records' declaration.
RETURN_COLUMNS: tuple[str, ...] = tuple(name for name in columns(ReturnRecord) if name != "document_id")
VRAAGPOST_COLUMNS: tuple[str, ...] = tuple(name for name in columns(VraagpostRecord) if name != "id")
LOCAL_STATUSES = ("new", "processed", "rejected")
# A change to any of these (seen by a fetch) may mean the office fixed what Exact refused feedback for.
_REOPENS_REFUSED = tuple(column for column in RETURN_COLUMNS if column not in ("relation_number", "view_url"))
# The office's own columns of a stored return / vraagpost: the stored record's fields besides the Exact record
# and the relation's name (which comes from ``relations``).
_RETURN_BOOKKEEPING = tuple(name for name in columns(StoredReturn) if name not in ("exact", "relation_name"))
_VRAAGPOST_BOOKKEEPING = tuple(name for name in columns(StoredVraagpost) if name not in ("line", "relation_name"))
_RETURN_SELECT = (
    f"SELECT {', '.join(f't.{name}' for name in (*columns(ReturnRecord), *_RETURN_BOOKKEEPING))}, r.name "
    "FROM returns t LEFT JOIN relations r ON r.relation_number = t.relation_number"
)
_VRAAGPOST_SELECT = (
    f"SELECT {', '.join(f'v.{name}' for name in (*columns(VraagpostRecord), *_VRAAGPOST_BOOKKEEPING))}, r.name "
    "FROM vraagposten v LEFT JOIN relations r ON r.relation_number = v.relation_number"
)


class ReturnNotFound(ExactlinkError):
    """No return with that document id in the mirror."""


class AlreadyReported(ExactlinkError):
    """The return's outcome was already reported to Exact Online; it is never reported twice."""


@dataclass
class UpsertCounts:
    """What an upsert did: rows that were new, changed, or already known unchanged (with their keys)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """The three counts, for JSON output and run summaries."""
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged}

    def count(self, key: str, *, new: bool, changed: bool) -> None:
        """Count one upserted row."""
        if new:
            self.new += 1
            self.new_ids.append(key)
        elif changed:
            self.changed += 1
            self.changed_ids.append(key)
        else:
            self.unchanged += 1


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _rows(db: sqlite_utils.Database, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
    cursor = db.conn.execute(sql, params)
    names = [description[0] for description in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _column_values(record: ReturnRecord | VraagpostRecord, names: tuple[str, ...]) -> dict[str, Any]:
    """The record's values for the columns ``names`` (dates as ISO text, as stored)."""
    return {name: _value(getattr(record, name)) for name in names}


def _stored_date(text: str | None) -> date | None:
    """A stored ISO date (older rows may carry a time after it); None when empty or unreadable."""
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _stored_return(row: tuple[Any, ...]) -> StoredReturn:
    width = len(columns(ReturnRecord))
    exact = dict(zip(columns(ReturnRecord), row[:width], strict=True))
    exact["due_date"] = _stored_date(exact["due_date"])
    *bookkeeping, relation_name = row[width:]
    own = dict(zip(_RETURN_BOOKKEEPING, bookkeeping, strict=True))
    return StoredReturn(ReturnRecord(**exact), **own, relation_name=relation_name)


def _stored_vraagpost(row: tuple[Any, ...]) -> StoredVraagpost:
    width = len(columns(VraagpostRecord))
    line = dict(zip(columns(VraagpostRecord), row[:width], strict=True))
    line["date"] = _stored_date(line["date"])
    division, cleared, first_seen_at, last_seen_at, relation_name = row[width:]
    return StoredVraagpost(VraagpostRecord(**line), division, bool(cleared), first_seen_at, last_seen_at, relation_name)


def _atomic(db: sqlite_utils.Database) -> AbstractContextManager[Any]:
    """A transaction of its own, or none inside the caller's (no savepoint: the caller's rolls back as one)."""
    return nullcontext() if db.conn.in_transaction else transaction(db)


def _stored_by_key(
    db: sqlite_utils.Database, table: str, key_column: str, keys: list[str]
) -> dict[str, dict[str, Any]]:
    """The stored rows among ``keys``, in one statement."""
    if not keys:
        return {}
    sql = f"SELECT * FROM {table} WHERE {key_column} IN (SELECT value FROM json_each(?))"
    return {str(row[key_column]): row for row in _rows(db, sql, (to_json(keys),))}


def _write_batch(
    db: sqlite_utils.Database,
    table: str,
    key_column: str,
    batch: dict[str, dict[str, Any]],
    stored: dict[str, dict[str, Any]],
    now: str,
    *,
    on_insert: dict[str, Any] | None = None,
    on_update: dict[str, Any] | None = None,
) -> None:
    """Insert the new rows and update the known ones with batched statements (one per column set).

    Both stamp ``last_seen_at`` (an insert ``first_seen_at`` too); ``on_insert``/``on_update`` are set besides.
    """
    inserts: dict[tuple[str, ...], list[list[Any]]] = {}
    updates: dict[tuple[str, ...], list[list[Any]]] = {}
    for key, values in batch.items():
        if key in stored:
            assignments = {**values, "last_seen_at": now, **(on_update or {})}
            updates.setdefault(tuple(assignments), []).append([*assignments.values(), key])
        else:
            row = {key_column: key, **(on_insert or {}), **values, "first_seen_at": now, "last_seen_at": now}
            inserts.setdefault(tuple(row), []).append(list(row.values()))
    for names, params in inserts.items():
        db.conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", params)
    for names, params in updates.items():
        assignments_sql = ", ".join(f"{name} = ?" for name in names)
        db.conn.executemany(f"UPDATE {table} SET {assignments_sql} WHERE {key_column} = ?", params)


def upsert_returns(db: sqlite_utils.Database, rows: Iterable[ReturnRecord], *, now: datetime) -> UpsertCounts:
    """Insert new returns, update changed ones, and record every newly seen status; all in one transaction.

    The writes are batched: a handful of statements per call, whatever the number of rows. Everything is dated
    ``now``.
    """
    batch = {row.document_id.lower(): _column_values(row, RETURN_COLUMNS) for row in rows}
    return _upsert_return_values(db, batch, now)


def _upsert_return_values(db: sqlite_utils.Database, batch: dict[str, dict[str, Any]], now: datetime) -> UpsertCounts:
    """:func:`upsert_returns` for ``{document_id: {column: value}}`` (a known return may name only some columns)."""
    counts = UpsertCounts()
    stamp = stored_at(now)
    if not batch:
        return counts
    with _atomic(db):
        stored = _stored_by_key(db, "returns", "document_id", list(batch))
        reopened: list[tuple[str, str]] = []
        for document_id, values in batch.items():
            before = stored.get(document_id)
            changed = set() if before is None else {name for name, value in values.items() if before[name] != value}
            counts.count(document_id, new=before is None, changed=bool(changed))
            if before is not None and before["feedback_state"] == "refused" and changed & set(_REOPENS_REFUSED):
                message = f"changed in Exact Online since it refused the feedback ({before['feedback_message']})"
                reopened.append((message, document_id))
        _write_batch(db, "returns", "document_id", batch, stored, stamp)
        db.conn.executemany(
            "UPDATE returns SET feedback_state = 'pending', feedback_message = ? WHERE document_id = ?", reopened
        )
        db.conn.executemany(
            "INSERT INTO return_status_history (document_id, status, seen_at) VALUES (?, ?, ?) "
            "ON CONFLICT (document_id, status) DO NOTHING",
            [(key, int(values["status"]), stamp) for key, values in batch.items() if values.get("status") is not None],
        )
    return counts


def record_exact_status(db: sqlite_utils.Database, document_id: str, status: int | None, *, now: datetime) -> None:
    """Keep the status Exact Online showed for a known return just now (re-read or after feedback), with its
    history entry, as a fetch would; nothing else of the return changes."""
    _upsert_return_values(db, {document_id.lower(): {"status": status}}, now)


def get_return(db: sqlite_utils.Database, document_id: str) -> StoredReturn | None:
    """One return with the relation's name, or None (its status history: :func:`return_history`)."""
    found = select_records(
        db, StoredReturn, f"{_RETURN_SELECT} WHERE t.document_id = ?", (document_id.lower(),), convert=_stored_return
    )
    return found[0] if found else None


def resolve_document_id(db: sqlite_utils.Database, text: str, *, hint: str | None = None) -> str:
    """The full document id meant by ``text``: the id itself or a unique start of it (at least 4 characters).

    ``returns list`` shows ids shortened to what tells them apart, so commands accept such a start, as git
    does for commits.

    Raises:
        ReturnNotFound: no return has that id, or it is too short / not unique (the candidates are named).
    """
    wanted = text.strip().lower()
    row = db.conn.execute("SELECT document_id FROM returns WHERE document_id = ?", (wanted,)).fetchone()
    if row is not None:
        return str(row[0])
    if len(wanted) >= 4 and all(char in "0123456789abcdef-" for char in wanted):
        found = [
            str(found[0])
            for found in db.conn.execute(
                "SELECT document_id FROM returns WHERE substr(document_id, 1, ?) = ? ORDER BY document_id LIMIT 6",
                (len(wanted), wanted),
            )
        ]
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(found[:5]) + (" …" if len(found) > 5 else "")
            raise ReturnNotFound(f"{text} is the start of several document ids ({listed}); give more of it")
    raise ReturnNotFound(f"no return with document id {text} in the local mirror", hint=hint)


def short_document_ids(db: sqlite_utils.Database, minimum: int = 8) -> dict[str, str]:
    """Every stored document id → its shortest start of at least ``minimum`` characters no other id shares."""
    ids = [str(row[0]) for row in db.conn.execute("SELECT document_id FROM returns ORDER BY document_id")]
    result = {}
    for index, document_id in enumerate(ids):
        length = minimum
        for neighbour in (ids[index - 1] if index else "", ids[index + 1] if index + 1 < len(ids) else ""):
            shared = next((i for i, (a, b) in enumerate(zip(document_id, neighbour, strict=False)) if a != b), None)
            if shared is None:
                shared = min(len(document_id), len(neighbour))
            length = max(length, shared + 1)
        result[document_id] = document_id[:length]
    return result


def return_history(db: sqlite_utils.Database, document_id: str) -> list[StatusSeen]:
    """The statuses a return was seen in, oldest first."""
    return select_records(
        db,
        StatusSeen,
        "SELECT status, seen_at FROM return_status_history WHERE document_id = ? ORDER BY seen_at, rowid",
        (document_id.lower(),),
    )


def list_returns(
    db: sqlite_utils.Database,
    *,
    kinds: Iterable[str] | None = None,
    local_status: str | None = None,
    relation_number: str | None = None,
    division: int | None = None,
    status: int | None = None,
    limit: int | None = None,
) -> list[StoredReturn]:
    """Returns with the relation's name, by due date (unknown last) then relation, filtered as asked."""
    conditions: list[str] = []
    params: list[Any] = []
    if kinds is not None:
        kind_list = list(kinds)
        conditions.append(f"t.kind IN ({', '.join('?' * len(kind_list))})")
        params.extend(kind_list)
    for column, value in (
        ("t.local_status", local_status),
        ("t.relation_number", relation_number),
        ("t.division", division),
        ("t.status", status),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    sql = _RETURN_SELECT
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY t.due_date IS NULL, t.due_date, t.relation_number, t.year, t.period, t.document_id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return select_records(db, StoredReturn, sql, params, convert=_stored_return)


def relation_returns(db: sqlite_utils.Database, relation_number: str, limit: int = 10) -> list[StoredReturn]:
    """The relation's most recent returns (newest period first)."""
    return select_records(
        db,
        StoredReturn,
        f"{_RETURN_SELECT} WHERE t.relation_number = ? "
        "ORDER BY t.year DESC, t.period DESC, t.created DESC, t.document_id LIMIT ?",
        (relation_number, int(limit)),
        convert=_stored_return,
    )


def mark_return(
    db: sqlite_utils.Database, document_id: str, local_status: str, *, dry_run: bool = False
) -> StoredReturn:
    """Set the office's own status (``new``, ``processed``, ``rejected``) and queue feedback; return the row.

    With ``dry_run`` the same checks run and the row comes back as it would be, but nothing is written.

    ``processed``/``rejected`` put the feedback in ``pending``; ``new`` withdraws a pending one. A return
    whose outcome was already reported cannot be changed (:class:`AlreadyReported`), except to the same
    status, which is a no-op. Marking a ``failed`` or ``refused`` return again puts it back in ``pending``
    (for a retry after the office fixed the cause in Exact Online).
    """
    if local_status not in LOCAL_STATUSES:
        raise ValueError(f"local status must be one of {', '.join(LOCAL_STATUSES)}")
    with transaction(db):
        current = get_return(db, document_id)
        if current is None:
            raise ReturnNotFound(f"no return with document id {document_id} in the local mirror")
        if current.feedback_state == "reported":
            if current.local_status == local_status:
                return current
            raise AlreadyReported(
                f"return {document_id} was already reported to Exact Online as {current.local_status} "
                f"on {current.reported_at}; a return is never reported twice",
                hint="change it in Exact Online itself",
            )
        if current.local_status == local_status and current.feedback_state not in ("failed", "refused"):
            return current
        state = "none" if local_status == "new" else "pending"
        if dry_run:
            return dataclasses.replace(current, local_status=local_status, feedback_state=state, feedback_message=None)
        db.conn.execute(
            "UPDATE returns SET local_status = ?, feedback_state = ?, feedback_message = NULL WHERE document_id = ?",
            (local_status, state, document_id.lower()),
        )
        updated = get_return(db, document_id)
    assert updated is not None
    return updated


def pending_feedback(db: sqlite_utils.Database, *, state: str = "pending") -> list[StoredReturn]:
    """Returns marked processed or rejected locally whose feedback is in ``state``, by due date.

    ``pending``: still to be reported; ``refused``: Exact refused it and it is held back.
    """
    return select_records(
        db,
        StoredReturn,
        f"{_RETURN_SELECT} WHERE t.feedback_state = ? AND t.local_status IN ('processed', 'rejected') "
        "ORDER BY t.due_date IS NULL, t.due_date, t.document_id",
        (state,),
        convert=_stored_return,
    )


def record_feedback(
    db: sqlite_utils.Database,
    document_id: str,
    ok: bool,
    message: str | None = None,
    *,
    now: datetime,
    final: bool = False,
    refused: bool = False,
) -> None:
    """Record the outcome of reporting a return to Exact Online.

    ``ok`` → ``reported`` (with the time). A failure stays ``pending`` so the next run retries it, unless
    ``final`` (Exact refused for a reason a retry cannot fix) → ``failed``, or ``refused`` (Exact refused with
    its own message; held back until the return changes) → ``refused`` (with the time). ``message`` is kept
    for display.
    """
    state = "reported" if ok else "refused" if refused else "failed" if final else "pending"
    stamp = stored_at(now)
    with transaction(db):
        cursor = db.conn.execute(
            "UPDATE returns SET feedback_state = ?, feedback_message = ?, "
            "reported_at = CASE WHEN ? THEN ? ELSE reported_at END, "
            "refused_at = CASE WHEN ? THEN ? ELSE NULL END WHERE document_id = ?",
            (state, message, int(ok), stamp, int(state == "refused"), stamp, document_id.lower()),
        )
        if cursor.rowcount == 0:
            raise ReturnNotFound(f"no return with document id {document_id} in the local mirror")


# ---------------------------------------------------------------------------------------------------
# Vraagposten


def upsert_vraagposten(
    db: sqlite_utils.Database,
    division: int,
    rows: Iterable[VraagpostRecord],
    *,
    now: datetime,
    complete: bool = True,
) -> UpsertCounts:
    """Insert or update the open vraagposten lines of ``division`` (keyed by ``id``, the transaction line id).

    With ``complete`` (the rows are every open line of the division's suspense accounts), lines seen
    before and missing now are marked ``cleared``; a line that comes back is open again. Batched like
    :func:`upsert_returns`.
    """
    counts = UpsertCounts()
    stamp = stored_at(now)
    division = int(division)
    batch = {row.id.lower(): _column_values(row, VRAAGPOST_COLUMNS) for row in rows}
    with _atomic(db):
        stored = _stored_by_key(db, "vraagposten", "id", list(batch))
        for line_id, values in batch.items():
            before = stored.get(line_id)
            changed = before is not None and any(before[name] != value for name, value in values.items())
            reopened = before is not None and bool(before["cleared"])
            counts.count(line_id, new=before is None, changed=changed or reopened)
        _write_batch(
            db, "vraagposten", "id", batch, stored, stamp, on_insert={"division": division}, on_update={"cleared": 0}
        )
        if complete:
            db.conn.execute(
                "UPDATE vraagposten SET cleared = 1 WHERE division = ? AND cleared = 0 "
                "AND id NOT IN (SELECT value FROM json_each(?))",
                (division, to_json(list(batch))),
            )
    return counts


def list_vraagposten(
    db: sqlite_utils.Database,
    *,
    division: int | None = None,
    relation_number: str | None = None,
    include_cleared: bool = False,
) -> list[StoredVraagpost]:
    """Vraagposten with the relation's name, oldest first; cleared lines only when asked."""
    conditions: list[str] = []
    params: list[Any] = []
    if division is not None:
        conditions.append("v.division = ?")
        params.append(int(division))
    if relation_number is not None:
        conditions.append("v.relation_number = ?")
        params.append(relation_number)
    if not include_cleared:
        conditions.append("v.cleared = 0")
    sql = _VRAAGPOST_SELECT
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY v.date, v.entry_number, v.id"
    return select_records(db, StoredVraagpost, sql, params, convert=_stored_vraagpost)


def count_open_vraagposten(db: sqlite_utils.Database, division: int) -> int:
    """How many vraagposten of ``division`` are open."""
    row = db.conn.execute("SELECT count(*) FROM vraagposten WHERE division = ? AND cleared = 0", (int(division),))
    return int(row.fetchone()[0])
