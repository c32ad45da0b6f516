"""Mirror of the office administration's Exact Online accounts (and their addresses, contacts, bank accounts).

Filled from the sync endpoints: rows are upserted by Exact ``ID`` and each entity keeps a ``Timestamp``
cursor per division (:func:`get_cursor` / :func:`set_cursor`), so a second run only fetches changes.
``sync/Deleted`` entries are applied with :func:`apply_deletions`. Rows use this module's column names
(snake_case, see the ``*_COLUMNS`` tuples); the service that talks to Exact maps its field names. The
account ``code`` is stored trimmed (Exact pads it to 18 characters). Anything else worth keeping goes
in ``extra`` (a JSON object).

Write the page of rows and the new cursor in one :func:`exactlink.store.db.transaction`, so that a run
killed between pages resumes from the last complete page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError
from exactlink.store.db import from_json, now_iso, to_json, transaction

if TYPE_CHECKING:
    import sqlite_utils

ACCOUNT_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "chamber_of_commerce",
    "rsin",
    "bsn",
    "vat_number",
    "phone",
    "email",
    "website",
    "address_line",
    "postcode",
    "city",
    "country",
    "status",
)
ADDRESS_COLUMNS: tuple[str, ...] = ("account_id", "type", "main", "address_line", "postcode", "city", "country")
CONTACT_COLUMNS: tuple[str, ...] = (
    "account_id",
    "full_name",
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "phone",
)
BANK_ACCOUNT_COLUMNS: tuple[str, ...] = ("account_id", "bank_account", "bic", "main")

# Entity name → (table, columns). The entity names double as sync-cursor names.
ENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "accounts": ("accounts", ACCOUNT_COLUMNS),
    "addresses": ("account_addresses", ADDRESS_COLUMNS),
    "contacts": ("account_contacts", CONTACT_COLUMNS),
    "bank_accounts": ("account_bank_accounts", BANK_ACCOUNT_COLUMNS),
}

# `sync/Deleted` EntityType codes for the entities mirrored here.
DELETED_ENTITY_TYPES: dict[int, str] = {2: "accounts", 3: "addresses", 5: "contacts", 48: "bank_accounts"}

# The CRM-side table and column that remember an Exact id, per entity (cleared when Exact deletes it).
_CRM_ID_COLUMNS: dict[str, tuple[str, str]] = {
    "addresses": ("addresses", "exact_address_id"),
    "contacts": ("contacts", "exact_contact_id"),
    "bank_accounts": ("bank_accounts", "exact_bank_account_id"),
}


class NotAGuid(ExactlinkError):
    """A mirrored row's key is not a GUID (it would end up in a ``guid'…'`` filter): the page is refused."""


def _checked_guid(value: Any, entity: str, column: str, *, optional: bool = False) -> str | None:
    """``value`` as a canonical lower-case GUID; raises :class:`NotAGuid` for anything else."""
    if value is None and optional:
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise NotAGuid(
            f"Exact Online sent {entity} with a {column} that is not a GUID ({str(value)[:40]!r}); "
            "nothing of that page was stored"
        ) from None


def _upsert(db: sqlite_utils.Database, entity: str, division: int, rows: Iterable[Mapping[str, Any]]) -> int:
    table, columns = ENTITIES[entity]
    all_columns = ("id", "division", *columns, "extra", "timestamp", "synced_at")
    sql = (
        f"INSERT INTO {table} ({', '.join(all_columns)}) VALUES ({', '.join('?' * len(all_columns))}) "
        f"ON CONFLICT (id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in all_columns if name != "id")
    )
    now = now_iso()
    params = []
    for row in rows:
        unknown = set(row).difference({"id", "timestamp", "extra", *columns})
        if unknown:
            raise ValueError(f"unknown {entity} column(s): {', '.join(sorted(unknown))}")
        values = {name: row.get(name) for name in columns}
        if entity == "accounts":
            values["code"] = str(values["code"] or "").strip()
            values["name"] = values["name"] or ""
        for flag in ("main",):
            if flag in values:
                values[flag] = int(bool(values[flag]))
        if "account_id" in values:
            values["account_id"] = _checked_guid(values["account_id"], entity, "account_id", optional=True)
        params.append(
            (
                _checked_guid(row["id"], entity, "id") if entity == "accounts" else str(row["id"]).lower(),
                int(division),
                *values.values(),
                to_json(row.get("extra") or {}),
                int(row.get("timestamp") or 0),
                now,
            )
        )
    with transaction(db):
        db.conn.executemany(sql, params)
    return len(params)


def upsert_accounts(db: sqlite_utils.Database, division: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or replace office accounts by ``id`` (columns: ``id``, ``timestamp``, ``extra`` + ACCOUNT_COLUMNS)."""
    return _upsert(db, "accounts", division, rows)


def upsert_account_addresses(db: sqlite_utils.Database, division: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or replace account addresses by ``id``; ``type`` is Exact's number (1 visit, 2 postal, 3 invoice)."""
    return _upsert(db, "addresses", division, rows)


def upsert_account_contacts(db: sqlite_utils.Database, division: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or replace account contact persons by ``id``."""
    return _upsert(db, "contacts", division, rows)


def upsert_account_bank_accounts(db: sqlite_utils.Database, division: int, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert or replace account bank accounts by ``id`` (``bank_account`` holds the IBAN)."""
    return _upsert(db, "bank_accounts", division, rows)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    if "extra" in row:
        row["extra"] = from_json(row["extra"], {})
    if "main" in row:
        row["main"] = bool(row["main"])
    return row


def _rows(db: sqlite_utils.Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = db.conn.execute(sql, params)
    names = [description[0] for description in cursor.description]
    return [_decode(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def get_account(db: sqlite_utils.Database, account_id: str) -> dict[str, Any] | None:
    """One mirrored account by Exact id, or None."""
    rows = _rows(db, "SELECT * FROM accounts WHERE id = ?", (account_id.lower(),))
    return rows[0] if rows else None


def find_accounts_by_code(db: sqlite_utils.Database, division: int, code: str) -> list[dict[str, Any]]:
    """Accounts of ``division`` whose (trimmed) code equals ``code`` (leading spaces ignored)."""
    return _rows(db, "SELECT * FROM accounts WHERE division = ? AND code = ?", (int(division), code.strip()))


def find_accounts_by_name(db: sqlite_utils.Database, division: int, name: str) -> list[dict[str, Any]]:
    """Accounts of ``division`` whose name equals ``name``, case-insensitively, or contains it when none equals."""
    exact = _rows(
        db, "SELECT * FROM accounts WHERE division = ? AND lower(name) = lower(?) ORDER BY code", (int(division), name)
    )
    if exact:
        return exact
    # instr, not LIKE: no wildcards to escape, and no limit on the length of what the user typed.
    return _rows(
        db,
        "SELECT * FROM accounts WHERE division = ? AND instr(lower(name), lower(?)) > 0 ORDER BY code",
        (int(division), name),
    )


def _column_list(entity: str, columns: Sequence[str] | None) -> str:
    """``*``, or the named columns after checking each one exists (they end up in SQL text)."""
    if columns is None:
        return "*"
    _table, known = ENTITIES[entity]
    unknown = set(columns).difference({"id", "division", *known, "extra", "timestamp", "synced_at"})
    if unknown:
        raise ValueError(f"unknown {entity} column(s): {', '.join(sorted(unknown))}")
    return ", ".join(columns)


def list_accounts(
    db: sqlite_utils.Database, division: int, *, columns: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every mirrored account of ``division``, by code; only ``columns`` when given (matching at 20,000
    accounts reads just what it uses and skips decoding ``extra``)."""
    return _rows(
        db,
        f"SELECT {_column_list('accounts', columns)} FROM accounts WHERE division = ? ORDER BY code",
        (int(division),),
    )


def account_children(db: sqlite_utils.Database, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """The mirrored ``addresses``, ``contacts`` and ``bank_accounts`` of one account."""
    key = (account_id.lower(),)
    return {
        "addresses": _rows(db, "SELECT * FROM account_addresses WHERE account_id = ? ORDER BY type, id", key),
        "contacts": _rows(db, "SELECT * FROM account_contacts WHERE account_id = ? ORDER BY full_name, id", key),
        "bank_accounts": _rows(db, "SELECT * FROM account_bank_accounts WHERE account_id = ? ORDER BY id", key),
    }


def list_account_children(
    db: sqlite_utils.Database, entity: str, division: int, *, columns: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every mirrored row of ``entity`` (``addresses``, ``contacts``, ``bank_accounts``) in ``division``;
    only ``columns`` when given."""
    table, _columns = ENTITIES[entity]
    return _rows(
        db,
        f"SELECT {_column_list(entity, columns)} FROM {table} WHERE division = ? ORDER BY account_id, id",
        (int(division),),
    )


def count_accounts(db: sqlite_utils.Database, division: int) -> int:
    """How many accounts of ``division`` the mirror holds."""
    return int(db.conn.execute("SELECT count(*) FROM accounts WHERE division = ?", (int(division),)).fetchone()[0])


def apply_deletions(db: sqlite_utils.Database, entity_type: int | str, keys: Iterable[str]) -> dict[str, Any]:
    """Apply ``sync/Deleted`` entries: remove the mirrored rows with these Exact ids.

    ``entity_type`` is Exact's EntityType code (2 accounts, 3 addresses, 5 contacts, 48 bank accounts)
    or the entity name. Deleting an account also drops its mirrored children and any relation's link
    to it (those relation numbers are returned as ``unlinked``); deleting a child forgets its id on the
    CRM side. Returns ``{"deleted": n, "unlinked": [relation numbers]}``.
    """
    entity = DELETED_ENTITY_TYPES.get(entity_type, "") if isinstance(entity_type, int) else entity_type
    if entity not in ENTITIES:
        raise ValueError(f"not a mirrored entity type: {entity_type}")
    table, _columns = ENTITIES[entity]
    ids = [(str(key).lower(),) for key in keys]
    unlinked: list[str] = []
    with transaction(db):
        before = db.conn.total_changes
        db.conn.executemany(f"DELETE FROM {table} WHERE id = ?", ids)
        deleted = db.conn.total_changes - before
        if entity == "accounts":
            for (account_id,) in ids:
                for child_table in ("account_addresses", "account_contacts", "account_bank_accounts"):
                    db.conn.execute(f"DELETE FROM {child_table} WHERE account_id = ?", (account_id,))
                row = db.conn.execute(
                    "SELECT relation_number FROM links WHERE account_id = ?", (account_id,)
                ).fetchone()
                if row:
                    unlinked.append(row[0])
                    db.conn.execute("DELETE FROM links WHERE account_id = ?", (account_id,))
                    db.conn.execute("UPDATE relations SET exact_account_id = NULL WHERE relation_number = ?", (row[0],))
        else:
            crm_table, id_column = _CRM_ID_COLUMNS[entity]
            db.conn.executemany(f"UPDATE {crm_table} SET {id_column} = NULL WHERE {id_column} = ?", ids)
    return {"deleted": deleted, "unlinked": sorted(unlinked)}


def clear_division(db: sqlite_utils.Database, division: int) -> None:
    """Forget everything mirrored from ``division`` and its cursors (e.g. after Exact reset its timestamps)."""
    with transaction(db):
        for table, _columns in ENTITIES.values():
            db.conn.execute(f"DELETE FROM {table} WHERE division = ?", (int(division),))
        db.conn.execute("DELETE FROM sync_cursors WHERE division = ?", (int(division),))


# ---------------------------------------------------------------------------------------------------
# Sync cursors


def get_cursor(db: sqlite_utils.Database, division: int, entity: str) -> int | None:
    """The highest Exact ``Timestamp`` seen for ``entity`` in ``division``, or None before the first sync."""
    row = db.conn.execute(
        "SELECT timestamp FROM sync_cursors WHERE division = ? AND entity = ?", (int(division), entity)
    ).fetchone()
    return int(row[0]) if row else None


def set_cursor(db: sqlite_utils.Database, division: int, entity: str, timestamp: int) -> None:
    """Store the cursor; it never moves backwards (a smaller value than the stored one is ignored)."""
    with transaction(db):
        db.conn.execute(
            "INSERT INTO sync_cursors (division, entity, timestamp, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (division, entity) DO UPDATE SET timestamp = excluded.timestamp, "
            "updated_at = excluded.updated_at WHERE excluded.timestamp > sync_cursors.timestamp",
            (int(division), entity, int(timestamp), now_iso()),
        )


def reset_cursor(db: sqlite_utils.Database, division: int, entity: str | None = None) -> None:
    """Forget the cursor of ``entity`` (or of every entity) in ``division``: the next sync starts from the top."""
    with transaction(db):
        if entity is None:
            db.conn.execute("DELETE FROM sync_cursors WHERE division = ?", (int(division),))
        else:
            db.conn.execute("DELETE FROM sync_cursors WHERE division = ? AND entity = ?", (int(division), entity))


def list_cursors(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every stored cursor (``division``, ``entity``, ``timestamp``, ``updated_at``)."""
    return _rows(db, "SELECT * FROM sync_cursors ORDER BY division, entity")
