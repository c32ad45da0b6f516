"""Updates to CRM relations taken over from Exact Online (inbound sync), beyond the basic ones in ``relations``.

* bulk reads of the CRM children (addresses, contacts, bank accounts) with their Exact ids, grouped by
  relation, so one sync over thousands of relations costs a handful of queries;
* renumbering a relation (``sync.numbers_must_match``, inbound) together with every row that refers to it;
* updating a linked contact person and replacing a relation's bank accounts with their Exact ids;
* forgetting import issues about values now taken from Exact.

(The office-account mirror's own writes are in ``accounts``.)

Every function runs in one :func:`~exactlink.store.db.transaction` (a savepoint inside the caller's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import RelationChildren, StoredAddress, StoredBankAccount, StoredContact
from exactlink.errors import ExactlinkError
from exactlink.store.db import from_json, stored_at, to_json, transaction
from exactlink.store.records import columns_of, select_records
from exactlink.store.relations import CONTACT_FIELDS, RelationNotFound

if TYPE_CHECKING:
    import sqlite_utils


class RelationNumberTaken(ExactlinkError):
    """Renumbering would collide with another relation that already has the number."""


def relation_children(db: sqlite_utils.Database) -> dict[str, RelationChildren]:
    """Every relation's addresses, contacts and bank accounts (Exact ids included), in three queries.

    A relation without any is absent.
    """
    grouped: dict[str, dict[str, list[Any]]] = {}
    kinds: tuple[tuple[str, type[Any], str], ...] = (
        ("addresses", StoredAddress, "type"),
        ("contacts", StoredContact, "full_name"),
        ("bank_accounts", StoredBankAccount, "iban"),
    )
    for table, kind, order in kinds:
        sql = f"SELECT {columns_of(kind)} FROM {table} ORDER BY relation_number, {order}"
        for row in select_records(db, kind, sql):
            grouped.setdefault(row.relation_number, {}).setdefault(table, []).append(row)
    return {
        number: RelationChildren(**{table: tuple(rows) for table, rows in children.items()})
        for number, children in grouped.items()
    }


# ---------------------------------------------------------------------------------------------------
# CRM side


def _tables_with_relation_number(db: sqlite_utils.Database) -> list[str]:
    tables = [
        row[0]
        for row in db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return [
        table
        for table in tables
        if table != "relations"
        and any(column[1] == "relation_number" for column in db.conn.execute(f"PRAGMA table_info({table})"))
    ]


def renumber_relation(db: sqlite_utils.Database, old: str, new: str, *, now: datetime) -> list[str]:
    """Give relation ``old`` the number ``new``, carrying every row that refers to it along.

    All tables with a ``relation_number`` column (addresses, contacts, bank accounts, links, match
    decisions, returns …) are updated in the same transaction, with foreign-key checks deferred to its
    end. Returns the tables whose rows moved. Raises :class:`RelationNumberTaken` when ``new`` exists and
    :class:`~exactlink.store.relations.RelationNotFound` when ``old`` does not.
    """
    if old == new:
        return []
    with transaction(db):
        exists = db.conn.execute("SELECT relation_number FROM relations WHERE relation_number IN (?, ?)", (old, new))
        found = {row[0] for row in exists}
        if old not in found:
            raise RelationNotFound(old)
        if new in found:
            raise RelationNumberTaken(f"relation number {new} is already used by another relation")
        db.conn.execute("PRAGMA defer_foreign_keys = ON")
        moved = []
        db.conn.execute(
            "UPDATE relations SET relation_number = ?, updated_at = ? WHERE relation_number = ?",
            (new, stored_at(now), old),
        )
        for table in _tables_with_relation_number(db):
            cursor = db.conn.execute(f"UPDATE {table} SET relation_number = ? WHERE relation_number = ?", (new, old))
            if cursor.rowcount:
                moved.append(table)
    return moved


def update_contact(
    db: sqlite_utils.Database,
    relation_number: str,
    full_name: str,
    values: Mapping[str, str | None],
    *,
    now: datetime,
    exact_contact_id: str | None = None,
) -> bool:
    """Update a contact person's fields (``first_name`` … ``phone``) and, when given, its Exact id.

    Returns True when the row exists. Unknown fields raise ``ValueError``.
    """
    unknown = set(values).difference(CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"not a contact field: {', '.join(sorted(unknown))}")
    assignments = [f"{name} = ?" for name in values]
    params: list[Any] = list(values.values())
    if exact_contact_id is not None:
        assignments.append("exact_contact_id = ?")
        params.append(exact_contact_id)
    if not assignments:
        return False
    assignments.append("updated_at = ?")
    params.append(stored_at(now))
    with transaction(db):
        cursor = db.conn.execute(
            f"UPDATE contacts SET {', '.join(assignments)} WHERE relation_number = ? AND full_name = ?",
            [*params, relation_number, full_name],
        )
        return cursor.rowcount > 0


def replace_bank_accounts(
    db: sqlite_utils.Database, relation_number: str, accounts: Iterable[tuple[str, str | None]], *, now: datetime
) -> None:
    """Make the relation's bank accounts exactly ``accounts`` (``(iban, exact_bank_account_id)`` pairs)."""
    wanted = dict(accounts)
    stamp = stored_at(now)
    with transaction(db):
        marks = ", ".join("?" * len(wanted))
        db.conn.execute(
            f"DELETE FROM bank_accounts WHERE relation_number = ? AND iban NOT IN ({marks})",
            [relation_number, *wanted],
        )
        for iban, exact_id in wanted.items():
            db.conn.execute(
                "INSERT INTO bank_accounts (relation_number, iban, exact_bank_account_id, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (relation_number, iban) DO UPDATE SET "
                "exact_bank_account_id = excluded.exact_bank_account_id, updated_at = excluded.updated_at "
                "WHERE exact_bank_account_id IS NOT excluded.exact_bank_account_id",
                (relation_number, iban, exact_id, stamp),
            )


def drop_issues(db: sqlite_utils.Database, relation_number: str, fields: Iterable[str]) -> int:
    """Forget the relation's validation issues about ``fields`` (CSV field names: ``kvk``, ``visit_postcode``,
    ``ibans`` …), e.g. after an inbound sync replaced those values with Exact's. Returns how many were dropped.

    An issue names its column as it was written in the imported file; it is matched to a field through the
    import's header names.
    """
    from exactlink.store.crm_csv import HEADER_INDEX, header_key

    wanted = set(fields)
    with transaction(db):
        row = db.conn.execute("SELECT issues FROM relations WHERE relation_number = ?", (relation_number,)).fetchone()
        if row is None:
            return 0
        issues = from_json(row[0], [])
        kept = [issue for issue in issues if HEADER_INDEX.get(header_key(str(issue.get("column", "")))) not in wanted]
        if len(kept) != len(issues):
            db.conn.execute(
                "UPDATE relations SET issues = ? WHERE relation_number = ?", (to_json(kept), relation_number)
            )
        return len(issues) - len(kept)
