"""Mirror of the office administration's Exact Online accounts (and their addresses, contacts, bank accounts).

The rows are the records declared in :mod:`exactlink.domain.entities` (:class:`OfficeAccount`,
:class:`AccountAddress`, :class:`AccountContact`, :class:`AccountBankAccount`): each one's attributes are its
table's columns, so this module reads and writes records, never loose dicts. Records are upserted by Exact
``ID`` (:func:`save_records`, sqlite-utils) and each entity keeps a cursor per division (:func:`get_cursor` /
:func:`set_cursor`), so a second run only fetches changes. ``sync/Deleted`` entries are applied with
:func:`apply_deletions`.

Write the page of records and the new cursor in one :func:`exactlink.store.db.transaction`, so that a run
killed between pages resumes from the last complete page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast

from exactlink.domain.entities import (
    BY_DELETED_TYPE,
    BY_NAME,
    MIRRORED,
    AccountAddress,
    AccountBankAccount,
    AccountContact,
    MirroredRecord,
    OfficeAccount,
    columns,
)
from exactlink.store.db import stored_at, transaction

if TYPE_CHECKING:
    import sqlite_utils

R = TypeVar("R", bound=MirroredRecord)

# The CRM-side table and column that remember an Exact id, per child entity (cleared when Exact deletes it).
_CRM_ID_COLUMNS: dict[type[MirroredRecord], tuple[str, str]] = {
    AccountAddress: ("addresses", "exact_address_id"),
    AccountContact: ("contacts", "exact_contact_id"),
    AccountBankAccount: ("bank_accounts", "exact_bank_account_id"),
}
_ORDER: dict[type[MirroredRecord], str] = {
    OfficeAccount: "code",
    AccountAddress: "account_id, id",
    AccountContact: "account_id, id",
    AccountBankAccount: "account_id, id",
}


def save_records(db: sqlite_utils.Database, records: Sequence[MirroredRecord], *, now: datetime) -> int:
    """Insert or replace mirrored records by ``id`` (records of one kind); returns how many were written."""
    if not records:
        return 0
    kind = type(records[0])
    names = columns(kind)
    values = attrgetter(*names)
    stamp = stored_at(now)
    rows = []
    for record in records:
        if type(record) is not kind:
            raise TypeError(f"save_records takes records of one kind, not {kind.__name__} and {type(record).__name__}")
        row = dict(zip(names, values(record), strict=True))
        row["id"] = record.id.lower()
        row["synced_at"] = stamp
        rows.append(row)
    with transaction(db):
        db[kind.ENTITY.table].upsert_all(rows, pk="id")  # type: ignore[union-attr]
    return len(rows)


_FLAGS: dict[type[MirroredRecord], list[int]] = {
    kind: [index for index, spec in enumerate(dataclasses.fields(kind)) if spec.type in ("bool", bool)]  # type: ignore[arg-type]
    for kind in MIRRORED
}


def _reader(kind: type[R]) -> Callable[[tuple[Any, ...]], R]:
    """Turn a row of ``SELECT <columns(kind)>`` into a record (0/1 flags back into booleans)."""
    make = cast(Any, kind)
    flags = _FLAGS[kind]
    if not flags:
        return lambda row: cast(R, make(*row))

    def read(row: tuple[Any, ...]) -> R:
        values = list(row)
        for index in flags:
            values[index] = bool(values[index])
        return cast(R, make(*values))

    return read


def _records(db: sqlite_utils.Database, kind: type[R], where: str, params: Sequence[Any], order: str) -> list[R]:
    sql = f"SELECT {', '.join(columns(kind))} FROM {kind.ENTITY.table} WHERE {where} ORDER BY {order}"
    read = _reader(kind)
    return [read(row) for row in db.conn.execute(sql, tuple(params))]


def get_record(db: sqlite_utils.Database, kind: type[R], record_id: str) -> R | None:
    """One mirrored record of ``kind`` by Exact id, or None."""
    found = _records(db, kind, "id = ?", (record_id.lower(),), "id")
    return found[0] if found else None


def list_records(db: sqlite_utils.Database, kind: type[R], division: int) -> list[R]:
    """Every mirrored record of ``kind`` in ``division`` (accounts by code, children by account and id)."""
    return _records(db, kind, "division = ?", (int(division),), _ORDER[kind])


def get_account(db: sqlite_utils.Database, account_id: str) -> OfficeAccount | None:
    """One mirrored account by Exact id, or None."""
    return get_record(db, OfficeAccount, account_id)


def list_accounts(db: sqlite_utils.Database, division: int) -> list[OfficeAccount]:
    """Every mirrored account of ``division``, by code."""
    return list_records(db, OfficeAccount, division)


def find_accounts_by_code(db: sqlite_utils.Database, division: int, code: str) -> list[OfficeAccount]:
    """Accounts of ``division`` whose (trimmed) code equals ``code`` (leading spaces ignored)."""
    return _records(db, OfficeAccount, "division = ? AND code = ?", (int(division), code.strip()), "code")


def find_accounts_by_name(db: sqlite_utils.Database, division: int, name: str) -> list[OfficeAccount]:
    """Accounts of ``division`` whose name equals ``name``, case-insensitively, or contains it when none equals."""
    params = (int(division), name)
    exact = _records(db, OfficeAccount, "division = ? AND lower(name) = lower(?)", params, "code")
    if exact:
        return exact
    # instr, not LIKE: no wildcards to escape, and no limit on the length of what the user typed.
    return _records(db, OfficeAccount, "division = ? AND instr(lower(name), lower(?)) > 0", params, "code")


@dataclass
class AccountChildren:
    """The mirrored addresses, contacts and bank accounts of one account."""

    addresses: list[AccountAddress] = field(default_factory=list)
    contacts: list[AccountContact] = field(default_factory=list)
    bank_accounts: list[AccountBankAccount] = field(default_factory=list)


def account_children(db: sqlite_utils.Database, account_id: str) -> AccountChildren:
    """The mirrored addresses, contacts and bank accounts of one account."""
    key = (account_id.lower(),)
    return AccountChildren(
        addresses=_records(db, AccountAddress, "account_id = ?", key, "type, id"),
        contacts=_records(db, AccountContact, "account_id = ?", key, "full_name, id"),
        bank_accounts=_records(db, AccountBankAccount, "account_id = ?", key, "id"),
    )


def children_by_account(db: sqlite_utils.Database, division: int) -> dict[str, AccountChildren]:
    """The mirrored children of every account of ``division`` (accounts without any are absent)."""
    grouped: dict[str, AccountChildren] = {}
    for address in list_records(db, AccountAddress, division):
        grouped.setdefault(address.account_id, AccountChildren()).addresses.append(address)
    for contact in list_records(db, AccountContact, division):
        grouped.setdefault(contact.account_id, AccountChildren()).contacts.append(contact)
    for bank in list_records(db, AccountBankAccount, division):
        grouped.setdefault(bank.account_id, AccountChildren()).bank_accounts.append(bank)
    return grouped


def count_accounts(db: sqlite_utils.Database, division: int) -> int:
    """How many accounts of ``division`` the mirror holds."""
    return int(db.conn.execute("SELECT count(*) FROM accounts WHERE division = ?", (int(division),)).fetchone()[0])


def stored_timestamps(db: sqlite_utils.Database, kind: type[MirroredRecord], ids: Sequence[str]) -> dict[str, int]:
    """``{id: timestamp}`` of the records of ``kind`` the mirror holds among ``ids``."""
    stored: dict[str, int] = {}
    table = kind.ENTITY.table
    for start in range(0, len(ids), 500):
        part = list(ids[start : start + 500])
        marks = ", ".join("?" * len(part))
        for row_id, timestamp in db.conn.execute(f"SELECT id, timestamp FROM {table} WHERE id IN ({marks})", part):
            stored[row_id] = int(timestamp)
    return stored


def remove_record(db: sqlite_utils.Database, kind: type[MirroredRecord], record_id: str) -> bool:
    """Forget one mirrored record (after we deleted it in Exact); True when it existed."""
    with transaction(db):
        cursor = db.conn.execute(f"DELETE FROM {kind.ENTITY.table} WHERE id = ?", (record_id.lower(),))
        return cursor.rowcount > 0


@dataclass
class Deletions:
    """What removing mirrored records took away: mirror rows, and the relations whose linked account went.

    ``gone`` lists those relation numbers: their link is kept (an office decides what a vanished account means:
    merged, recreated, deleted by mistake), and ``match``, ``status`` and ``sync`` report it.
    """

    deleted: int = 0
    gone: list[str] = field(default_factory=list)


def apply_deletions(db: sqlite_utils.Database, kind: type[MirroredRecord] | int, keys: Iterable[str]) -> Deletions:
    """Remove the mirrored records of ``kind`` with these Exact ids (``sync/Deleted`` entries, or a full read).

    ``kind`` is a record class or Exact's ``sync/Deleted`` EntityType code (2 accounts, 3 addresses,
    5 contacts). Deleting an account also drops its mirrored children; a relation linked to it keeps its link
    and is listed in ``gone``. Deleting a child (directly or with its account) forgets its id on the CRM side.
    """
    if isinstance(kind, int):
        if kind not in BY_DELETED_TYPE:
            raise ValueError(f"not a mirrored entity type: {kind}")
        kind = BY_DELETED_TYPE[kind]
    ids = [(str(key).lower(),) for key in keys]
    outcome = Deletions()
    with transaction(db):
        before = db.conn.total_changes
        db.conn.executemany(f"DELETE FROM {kind.ENTITY.table} WHERE id = ?", ids)
        outcome.deleted = db.conn.total_changes - before
        if kind is OfficeAccount:
            for (account_id,) in ids:
                for child in (AccountAddress, AccountContact, AccountBankAccount):
                    crm_table, id_column = _CRM_ID_COLUMNS[child]
                    child_ids = db.conn.execute(
                        f"SELECT id FROM {child.ENTITY.table} WHERE account_id = ?", (account_id,)
                    ).fetchall()
                    db.conn.executemany(f"UPDATE {crm_table} SET {id_column} = NULL WHERE {id_column} = ?", child_ids)
                    db.conn.execute(f"DELETE FROM {child.ENTITY.table} WHERE account_id = ?", (account_id,))
                row = db.conn.execute(
                    "SELECT relation_number FROM links WHERE account_id = ?", (account_id,)
                ).fetchone()
                if row:
                    outcome.gone.append(row[0])
        else:
            crm_table, id_column = _CRM_ID_COLUMNS[kind]
            db.conn.executemany(f"UPDATE {crm_table} SET {id_column} = NULL WHERE {id_column} = ?", ids)
    outcome.gone.sort()
    return outcome


def missing_ids(db: sqlite_utils.Database, kind: type[MirroredRecord], division: int, seen: set[str]) -> list[str]:
    """The ids of ``kind`` in ``division`` the mirror holds that are not in ``seen`` (lower-case ids)."""
    rows = db.conn.execute(f"SELECT id FROM {kind.ENTITY.table} WHERE division = ?", (int(division),))
    return sorted(row_id for (row_id,) in rows if row_id not in seen)


def accounts_gone(db: sqlite_utils.Database, division: int) -> list[tuple[str, str | None]]:
    """``(relation_number, account_code)`` of the links whose account the mirror of ``division`` no longer holds.

    Empty before the accounts were first read (a mirror never filled holds no accounts at all).
    """
    if get_cursor(db, division, OfficeAccount.ENTITY.name) is None:
        return []
    rows = db.conn.execute(
        "SELECT l.relation_number, l.account_code FROM links l "
        "WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = l.account_id AND a.division = ?) "
        "ORDER BY l.relation_number",
        (int(division),),
    )
    return [(str(number), code) for number, code in rows]


def clear_division(db: sqlite_utils.Database, division: int) -> None:
    """Forget everything mirrored from ``division`` and its cursors (e.g. after Exact reset its timestamps)."""
    with transaction(db):
        for kind in MIRRORED:
            db.conn.execute(f"DELETE FROM {kind.ENTITY.table} WHERE division = ?", (int(division),))
        db.conn.execute("DELETE FROM sync_cursors WHERE division = ?", (int(division),))
        db.conn.execute("DELETE FROM meta WHERE key = ?", (_state_key(division),))


# ---------------------------------------------------------------------------------------------------
# Sync cursors (one per mirrored entity name, plus ``deleted``)

CURSOR_NAMES: tuple[str, ...] = (*BY_NAME, "deleted")


def get_cursor(db: sqlite_utils.Database, division: int, entity: str) -> int | None:
    """The highest Exact ``Timestamp`` seen for ``entity`` in ``division``, or None before the first sync."""
    row = db.conn.execute(
        "SELECT timestamp FROM sync_cursors WHERE division = ? AND entity = ?", (int(division), entity)
    ).fetchone()
    return int(row[0]) if row else None


def set_cursor(db: sqlite_utils.Database, division: int, entity: str, timestamp: int, *, now: datetime) -> None:
    """Store the cursor; it never moves backwards (a smaller value than the stored one is ignored)."""
    with transaction(db):
        db.conn.execute(
            "INSERT INTO sync_cursors (division, entity, timestamp, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (division, entity) DO UPDATE SET timestamp = excluded.timestamp, "
            "updated_at = excluded.updated_at WHERE excluded.timestamp > sync_cursors.timestamp",
            (int(division), entity, int(timestamp), stored_at(now)),
        )


def reset_cursor(db: sqlite_utils.Database, division: int, entity: str | None = None) -> None:
    """Forget the cursor of ``entity`` (or of every entity) in ``division``: the next sync starts from the top."""
    with transaction(db):
        if entity is None:
            db.conn.execute("DELETE FROM sync_cursors WHERE division = ?", (int(division),))
        else:
            db.conn.execute("DELETE FROM sync_cursors WHERE division = ? AND entity = ?", (int(division), entity))


# ---------------------------------------------------------------------------------------------------
# What the mirror knows about its own freshness (one meta value per division; no schema change needed)


@dataclass
class MirrorState:
    """Freshness facts of one division's mirror.

    ``move_date``: the ``system/Divisions.DivisionMoveDate`` last seen (ISO text, None when Exact has none);
    ``move_date_known`` is false until it was read once. ``read_at``: when the last complete ``sync/Deleted``
    read started (ISO-8601 UTC, key ``deleted``); ``full_read_at``: per entity, when its last complete *full*
    read started. ``pending_full``:
    entities whose full re-read was decided and has not completed yet (kept so a killed run finishes it).
    """

    move_date: str | None = None
    move_date_known: bool = False
    read_at: dict[str, str] = field(default_factory=dict)
    full_read_at: dict[str, str] = field(default_factory=dict)
    pending_full: list[str] = field(default_factory=list)


def _state_key(division: int) -> str:
    return f"office_mirror_state:{int(division)}"


def get_mirror_state(db: sqlite_utils.Database, division: int) -> MirrorState:
    """The stored :class:`MirrorState` of ``division`` (an empty one before the first refresh)."""
    from exactlink.store.meta import get_value

    data = get_value(db, _state_key(division)) or {}
    return MirrorState(
        move_date=data.get("move_date"),
        move_date_known=bool(data.get("move_date_known")),
        read_at=dict(data.get("read_at") or {}),
        full_read_at=dict(data.get("full_read_at") or {}),
        pending_full=list(data.get("pending_full") or []),
    )


def save_mirror_state(db: sqlite_utils.Database, division: int, state: MirrorState, *, now: datetime) -> None:
    """Store ``state`` for ``division``."""
    from exactlink.store.meta import set_value

    set_value(db, _state_key(division), dataclasses.asdict(state), now=now)
