"""CRM relations in the mirror, with their addresses, contact persons and bank accounts.

A :class:`RelationRecord` is the CRM's whole picture of one relation (what one CSV row holds). Writing
one is an upsert by relation number: only fields that differ are written, children (addresses,
contacts, bank accounts) are replaced by the record's set while the Exact ids of the ones that stay
are kept, and the result says which fields changed. Any CRM-side change sets ``pending_push`` so the
outbound sync knows what to push; the sync clears it with :func:`clear_pending_push`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from exactlink.domain.records import (
    RelationOverview,
    StoredAddress,
    StoredBankAccount,
    StoredContact,
    StoredRelation,
)
from exactlink.store.db import from_json, stored_at, to_json, transaction
from exactlink.store.records import columns_of, select_records

if TYPE_CHECKING:
    import sqlite_utils

# The relation's own fields, in CSV/display order (besides relation_number).
RELATION_FIELDS: tuple[str, ...] = (
    "name",
    "legal_form",
    "kvk",
    "rsin",
    "bsn",
    "vat_number",
    "payroll_tax_number",
    "phone",
    "email",
    "website",
)
ADDRESS_TYPES: tuple[str, ...] = ("visit", "postal", "invoice")
ADDRESS_FIELDS: tuple[str, ...] = ("street", "postcode", "city", "country")
CONTACT_FIELDS: tuple[str, ...] = ("first_name", "middle_name", "last_name", "email", "phone")

AddressType = Literal["visit", "postal", "invoice"]
ChangeStatus = Literal["new", "changed", "unchanged"]


class RelationNotFound(LookupError):
    """No relation with that number in the mirror."""


@dataclass(frozen=True)
class Address:
    """One address of a relation: ``type`` is ``visit``, ``postal`` or ``invoice``."""

    type: str
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        """True when no field holds a value (such an address is not stored)."""
        return not any(getattr(self, name) for name in ADDRESS_FIELDS)

    def values(self) -> tuple[str | None, ...]:
        """The comparable content (without the type)."""
        return tuple(getattr(self, name) for name in ADDRESS_FIELDS)


@dataclass(frozen=True)
class Contact:
    """A contact person of a relation, identified within the relation by ``full_name``."""

    full_name: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None

    def values(self) -> tuple[str | None, ...]:
        """The comparable content (without the name)."""
        return tuple(getattr(self, name) for name in CONTACT_FIELDS)


@dataclass
class RelationRecord:
    """The CRM's data for one relation; ``issues`` are validation problems (``column``, ``message``, ``severity``)."""

    relation_number: str
    name: str = ""
    legal_form: str | None = None
    kvk: str | None = None
    rsin: str | None = None
    bsn: str | None = None
    vat_number: str | None = None
    payroll_tax_number: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    addresses: dict[str, Address] = field(default_factory=dict)
    contacts: list[Contact] = field(default_factory=list)
    ibans: list[str] = field(default_factory=list)
    issues: list[dict[str, str]] = field(default_factory=list)

    def field_values(self) -> dict[str, str | None]:
        """The relation's own fields (``RELATION_FIELDS``) as a dict."""
        return {name: getattr(self, name) for name in RELATION_FIELDS}


@dataclass
class RelationChange:
    """What writing a record did (or, in a dry run, would do) to the mirror."""

    relation_number: str
    status: ChangeStatus
    changed_fields: list[str] = field(default_factory=list)


def relation_exists(db: sqlite_utils.Database, relation_number: str) -> bool:
    """True when the mirror holds ``relation_number``."""
    return (
        db.conn.execute("SELECT 1 FROM relations WHERE relation_number = ?", (relation_number,)).fetchone() is not None
    )


def has_relations(db: sqlite_utils.Database) -> bool:
    """True when the mirror holds at least one relation (the CRM export was imported)."""
    return db.conn.execute("SELECT 1 FROM relations LIMIT 1").fetchone() is not None


_RELATION = f"SELECT {columns_of(StoredRelation)} FROM relations"


def _relation(row: tuple[Any, ...]) -> StoredRelation:
    values = dict(zip(_RELATION_COLUMNS, row, strict=True))
    values["issues"] = from_json(values["issues"], [])
    values["pending_push"] = bool(values["pending_push"])
    return StoredRelation(**values)


_RELATION_COLUMNS = tuple(spec.name for spec in dataclasses.fields(StoredRelation))


def get_relation(db: sqlite_utils.Database, relation_number: str) -> StoredRelation | None:
    """The stored relation (``issues`` decoded, ``pending_push`` a bool), or None."""
    sql = f"{_RELATION} WHERE relation_number = ?"
    found = select_records(db, StoredRelation, sql, (relation_number,), convert=_relation)
    return found[0] if found else None


def get_addresses(db: sqlite_utils.Database, relation_number: str) -> list[StoredAddress]:
    """The relation's stored addresses (visit, postal, invoice order), with their Exact ids."""
    sql = f"SELECT {columns_of(StoredAddress)} FROM addresses WHERE relation_number = ?"
    rows = select_records(db, StoredAddress, sql, (relation_number,))
    return sorted(rows, key=lambda row: ADDRESS_TYPES.index(row.type))


def get_contacts(db: sqlite_utils.Database, relation_number: str) -> list[StoredContact]:
    """The relation's contact persons by name, with their Exact ids."""
    sql = f"SELECT {columns_of(StoredContact)} FROM contacts WHERE relation_number = ? ORDER BY full_name"
    return select_records(db, StoredContact, sql, (relation_number,))


def get_bank_accounts(db: sqlite_utils.Database, relation_number: str) -> list[StoredBankAccount]:
    """The relation's bank accounts (IBANs), with their Exact ids."""
    sql = f"SELECT {columns_of(StoredBankAccount)} FROM bank_accounts WHERE relation_number = ? ORDER BY iban"
    return select_records(db, StoredBankAccount, sql, (relation_number,))


def get_relation_record(db: sqlite_utils.Database, relation_number: str) -> RelationRecord | None:
    """The stored relation as a :class:`RelationRecord` (children included), or None."""
    row = get_relation(db, relation_number)
    if row is None:
        return None
    return RelationRecord(
        relation_number=relation_number,
        **{name: getattr(row, name) for name in RELATION_FIELDS},
        addresses={
            a.type: Address(a.type, a.street, a.postcode, a.city, a.country) for a in get_addresses(db, relation_number)
        },
        contacts=[
            Contact(c.full_name, c.first_name, c.middle_name, c.last_name, c.email, c.phone)
            for c in get_contacts(db, relation_number)
        ],
        ibans=[b.iban for b in get_bank_accounts(db, relation_number)],
        issues=row.issues,
    )


def relation_overviews(
    db: sqlite_utils.Database, *, flagged: bool = False, unlinked: bool = False
) -> list[RelationOverview]:
    """All relations ordered by number, each with its account link's account and its administration link's
    division, or only those with issues (``flagged``) / without an account link (``unlinked``)."""
    sql = (
        f"SELECT {columns_of(StoredRelation, 'r.')}, l.account_id, l.account_code, a.division "
        "FROM relations r LEFT JOIN links l ON l.relation_number = r.relation_number "
        "LEFT JOIN admin_links a ON a.relation_number = r.relation_number"
    )
    conditions = []
    if flagged:
        conditions.append("r.issues != '[]'")
    if unlinked:
        conditions.append("l.account_id IS NULL")
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += " ORDER BY r.relation_number"
    width = len(_RELATION_COLUMNS)

    def overview(row: tuple[Any, ...]) -> RelationOverview:
        account_id, account_code, division = row[width:]
        return RelationOverview(_relation(row[:width]), account_id, account_code, division)

    return select_records(db, RelationOverview, sql, convert=overview)


def iter_relation_records(db: sqlite_utils.Database) -> Iterable[RelationRecord]:
    """Every relation as a :class:`RelationRecord`, ordered by number (children included).

    Loads children in three queries, so it stays fast for tens of thousands of relations.
    """
    addresses: dict[str, dict[str, Address]] = {}
    for a in select_records(db, StoredAddress, f"SELECT {columns_of(StoredAddress)} FROM addresses"):
        addresses.setdefault(a.relation_number, {})[a.type] = Address(a.type, a.street, a.postcode, a.city, a.country)
    contacts: dict[str, list[Contact]] = {}
    sql = f"SELECT {columns_of(StoredContact)} FROM contacts ORDER BY full_name"
    for c in select_records(db, StoredContact, sql):
        contact = Contact(c.full_name, c.first_name, c.middle_name, c.last_name, c.email, c.phone)
        contacts.setdefault(c.relation_number, []).append(contact)
    ibans: dict[str, list[str]] = {}
    for relation_number, iban in db.conn.execute("SELECT relation_number, iban FROM bank_accounts ORDER BY iban"):
        ibans.setdefault(relation_number, []).append(iban)
    for row in select_records(db, StoredRelation, f"{_RELATION} ORDER BY relation_number", convert=_relation):
        number = row.relation_number
        yield RelationRecord(
            relation_number=number,
            **{name: getattr(row, name) for name in RELATION_FIELDS},
            addresses=addresses.get(number, {}),
            contacts=contacts.get(number, []),
            ibans=ibans.get(number, []),
            issues=row.issues,
        )


class MatchingFields(NamedTuple):
    """What matching reads of one relation: its identifiers, its name, one address and its IBANs.

    The address is the visit address, else the postal, else the invoice address (the first with a
    postcode or a street); ``street`` is its street line (with the house number).
    """

    relation_number: str
    name: str
    rsin: str | None
    bsn: str | None
    vat_number: str | None
    payroll_tax_number: str | None
    kvk: str | None
    postcode: str | None
    street: str | None
    ibans: tuple[str, ...]


def matching_fields(db: sqlite_utils.Database) -> list[MatchingFields]:
    """Every relation's :class:`MatchingFields`, ordered by number.

    Three plain queries and no dataclass per child, so ``match`` over 20,000 relations reads them in a
    fraction of what :func:`iter_relation_records` takes.
    """
    rank = {kind: position for position, kind in enumerate(ADDRESS_TYPES)}
    addresses: dict[str, tuple[int, str | None, str | None]] = {}
    for number, kind, street, postcode in db.conn.execute(
        "SELECT relation_number, type, street, postcode FROM addresses "
        "WHERE coalesce(street, '') != '' OR coalesce(postcode, '') != ''"
    ):
        if number not in addresses or rank[kind] < addresses[number][0]:
            addresses[number] = (rank[kind], postcode, street)
    ibans: dict[str, list[str]] = {}
    for number, iban in db.conn.execute("SELECT relation_number, iban FROM bank_accounts ORDER BY iban"):
        ibans.setdefault(number, []).append(iban)
    result = []
    no_address: tuple[int, str | None, str | None] = (0, None, None)
    for number, name, rsin, bsn, vat, payroll, kvk in db.conn.execute(
        "SELECT relation_number, name, rsin, bsn, vat_number, payroll_tax_number, kvk FROM relations "
        "ORDER BY relation_number"
    ):
        _rank, postcode, street = addresses.get(number, no_address)
        result.append(
            MatchingFields(number, name, rsin, bsn, vat, payroll, kvk, postcode, street, tuple(ibans.get(number, ())))
        )
    return result


def diff_relation(stored: RelationRecord | None, record: RelationRecord) -> RelationChange:
    """Compare ``record`` with the ``stored`` one: ``new``, ``changed`` (with field names) or ``unchanged``.

    Field names are the relation's own fields plus ``visit_address``, ``postal_address``,
    ``invoice_address``, ``contacts`` and ``bank_accounts``. Validation issues are not a field.
    """
    if stored is None:
        return RelationChange(record.relation_number, "new")
    changed = [name for name in RELATION_FIELDS if (getattr(stored, name) or None) != (getattr(record, name) or None)]
    for address_type in ADDRESS_TYPES:
        old, new = stored.addresses.get(address_type), record.addresses.get(address_type)
        old_values = old.values() if old and not old.is_empty() else None
        new_values = new.values() if new and not new.is_empty() else None
        if old_values != new_values:
            changed.append(f"{address_type}_address")
    old_contacts = {c.full_name: c.values() for c in stored.contacts}
    new_contacts = {c.full_name: c.values() for c in record.contacts}
    if old_contacts != new_contacts:
        changed.append("contacts")
    if sorted(set(stored.ibans)) != sorted(set(record.ibans)):
        changed.append("bank_accounts")
    return RelationChange(record.relation_number, "changed" if changed else "unchanged", changed)


def upsert_relation(
    db: sqlite_utils.Database, record: RelationRecord, *, now: datetime, mark_pending_push: bool = True
) -> RelationChange:
    """Write ``record`` into the mirror (insert, or update only what changed) and say what changed.

    Runs in one transaction (a savepoint when the caller already holds one). Stored validation issues
    are always replaced by the record's. ``pending_push`` is set when data changed and
    ``mark_pending_push`` is true (CRM-side edits; inbound sync writes pass False).
    """
    with transaction(db):
        stored = get_relation_record(db, record.relation_number)
        return apply_relation(db, record, stored, now=now, mark_pending_push=mark_pending_push)


def apply_relation(
    db: sqlite_utils.Database,
    record: RelationRecord,
    stored: RelationRecord | None,
    *,
    now: datetime,
    mark_pending_push: bool = True,
) -> RelationChange:
    """:func:`upsert_relation` for a caller that already read ``stored`` (bulk imports read them all at once).

    Must run inside the caller's :func:`~exactlink.store.db.transaction`; ``stored`` must be the current
    stored state of the relation (None when it is new).
    """
    change = diff_relation(stored, record)
    if stored is not None and change.status == "unchanged" and stored.issues == record.issues:
        return change
    stamp = stored_at(now)
    values = record.field_values()
    values["name"] = values["name"] or ""
    issues = to_json(record.issues)
    if stored is None:
        columns = ["relation_number", *RELATION_FIELDS, "issues", "pending_push", "created_at", "updated_at"]
        params: list[Any] = [record.relation_number, *values.values(), issues, int(mark_pending_push), stamp, stamp]
        db.conn.execute(
            f"INSERT INTO relations ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", params
        )
    else:
        own_changes = [name for name in change.changed_fields if name in RELATION_FIELDS]
        assignments = [f"{name} = ?" for name in own_changes] + ["issues = ?"]
        params = [*(values[name] for name in own_changes), issues]
        if change.status == "changed":
            assignments.append("updated_at = ?")
            params.append(stamp)
            if mark_pending_push:
                assignments.append("pending_push = 1")
        db.conn.execute(
            f"UPDATE relations SET {', '.join(assignments)} WHERE relation_number = ?",
            [*params, record.relation_number],
        )
    if stored is None or any(name.endswith("_address") for name in change.changed_fields):
        _replace_addresses(db, record, stamp)
    if stored is None or "contacts" in change.changed_fields:
        _replace_contacts(db, record, stamp)
    if stored is None or "bank_accounts" in change.changed_fields:
        _replace_bank_accounts(db, record, stamp)
    return change


def _replace_addresses(db: sqlite_utils.Database, record: RelationRecord, now: str) -> None:
    keep = [a for a in record.addresses.values() if not a.is_empty()]
    placeholders = ", ".join("?" * len(keep))
    db.conn.execute(
        f"DELETE FROM addresses WHERE relation_number = ? AND type NOT IN ({placeholders})",
        [record.relation_number, *[a.type for a in keep]],
    )
    for address in keep:
        db.conn.execute(
            "INSERT INTO addresses (relation_number, type, street, postcode, city, country, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (relation_number, type) DO UPDATE SET "
            "street = excluded.street, postcode = excluded.postcode, city = excluded.city, "
            "country = excluded.country, updated_at = excluded.updated_at "
            "WHERE (street, postcode, city, country) IS NOT (excluded.street, excluded.postcode, "
            "excluded.city, excluded.country)",
            (record.relation_number, address.type, *address.values(), now),
        )


def _replace_contacts(db: sqlite_utils.Database, record: RelationRecord, now: str) -> None:
    names = [c.full_name for c in record.contacts]
    db.conn.execute(
        f"DELETE FROM contacts WHERE relation_number = ? AND full_name NOT IN ({', '.join('?' * len(names))})",
        [record.relation_number, *names],
    )
    for contact in record.contacts:
        db.conn.execute(
            "INSERT INTO contacts (relation_number, full_name, first_name, middle_name, last_name, email, phone, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (relation_number, full_name) DO UPDATE SET "
            "first_name = excluded.first_name, middle_name = excluded.middle_name, last_name = excluded.last_name, "
            "email = excluded.email, phone = excluded.phone, updated_at = excluded.updated_at "
            "WHERE (first_name, middle_name, last_name, email, phone) IS NOT (excluded.first_name, "
            "excluded.middle_name, excluded.last_name, excluded.email, excluded.phone)",
            (record.relation_number, contact.full_name, *contact.values(), now),
        )


def _replace_bank_accounts(db: sqlite_utils.Database, record: RelationRecord, now: str) -> None:
    ibans = list(dict.fromkeys(record.ibans))
    db.conn.execute(
        f"DELETE FROM bank_accounts WHERE relation_number = ? AND iban NOT IN ({', '.join('?' * len(ibans))})",
        [record.relation_number, *ibans],
    )
    for iban in ibans:
        db.conn.execute(
            "INSERT INTO bank_accounts (relation_number, iban, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (relation_number, iban) DO NOTHING",
            (record.relation_number, iban, now),
        )


def update_relation_fields(
    db: sqlite_utils.Database,
    relation_number: str,
    values: dict[str, str | None],
    *,
    now: datetime,
    mark_pending_push: bool = False,
) -> list[str]:
    """Set some of the relation's own fields (e.g. from an inbound sync); return the names that changed.

    Only fields whose value differs are written. Unknown field names raise ``ValueError``; an unknown
    relation raises :class:`RelationNotFound`. ``mark_pending_push`` is for CRM-side edits.
    """
    unknown = set(values).difference(RELATION_FIELDS)
    if unknown:
        raise ValueError(f"not a relation field: {', '.join(sorted(unknown))}")
    with transaction(db):
        row = get_relation(db, relation_number)
        if row is None:
            raise RelationNotFound(relation_number)
        changed = [name for name, value in values.items() if (getattr(row, name) or None) != (value or None)]
        if changed:
            assignments = [f"{name} = ?" for name in changed] + ["updated_at = ?"]
            params: list[Any] = [values[name] if name != "name" else (values[name] or "") for name in changed]
            params.append(stored_at(now))
            if mark_pending_push:
                assignments.append("pending_push = 1")
            db.conn.execute(
                f"UPDATE relations SET {', '.join(assignments)} WHERE relation_number = ?", [*params, relation_number]
            )
    return changed


def set_address(
    db: sqlite_utils.Database,
    relation_number: str,
    address: Address,
    *,
    now: datetime,
    exact_address_id: str | None = None,
) -> bool:
    """Insert or update one address (and optionally its Exact id); an empty address is deleted.

    Returns True when something changed.
    """
    if address.type not in ADDRESS_TYPES:
        raise ValueError(f"address type must be one of {', '.join(ADDRESS_TYPES)}")
    with transaction(db):
        if address.is_empty():
            return delete_address(db, relation_number, address.type)
        cursor = db.conn.execute(
            "INSERT INTO addresses (relation_number, type, street, postcode, city, country, exact_address_id, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (relation_number, type) DO UPDATE SET "
            "street = excluded.street, postcode = excluded.postcode, city = excluded.city, "
            "country = excluded.country, exact_address_id = coalesce(excluded.exact_address_id, exact_address_id), "
            "updated_at = excluded.updated_at WHERE (street, postcode, city, country, exact_address_id) IS NOT "
            "(excluded.street, excluded.postcode, excluded.city, excluded.country, "
            "coalesce(excluded.exact_address_id, exact_address_id))",
            (relation_number, address.type, *address.values(), exact_address_id, stored_at(now)),
        )
        return cursor.rowcount > 0


def delete_address(db: sqlite_utils.Database, relation_number: str, address_type: str) -> bool:
    """Remove one address of the relation; True when it existed."""
    with transaction(db):
        cursor = db.conn.execute(
            "DELETE FROM addresses WHERE relation_number = ? AND type = ?", (relation_number, address_type)
        )
        return cursor.rowcount > 0


def set_exact_address_id(
    db: sqlite_utils.Database, relation_number: str, address_type: str, exact_address_id: str | None
) -> None:
    """Remember which Exact ``crm/Addresses`` record an address corresponds to (None forgets it)."""
    with transaction(db):
        db.conn.execute(
            "UPDATE addresses SET exact_address_id = ? WHERE relation_number = ? AND type = ?",
            (exact_address_id, relation_number, address_type),
        )


def set_exact_contact_id(
    db: sqlite_utils.Database, relation_number: str, full_name: str, exact_contact_id: str | None
) -> None:
    """Remember which Exact ``crm/Contacts`` record a contact person corresponds to (None forgets it)."""
    with transaction(db):
        db.conn.execute(
            "UPDATE contacts SET exact_contact_id = ? WHERE relation_number = ? AND full_name = ?",
            (exact_contact_id, relation_number, full_name),
        )


def set_exact_bank_account_id(
    db: sqlite_utils.Database, relation_number: str, iban: str, exact_bank_account_id: str | None
) -> None:
    """Remember which Exact ``crm/BankAccounts`` record an IBAN corresponds to (None forgets it)."""
    with transaction(db):
        db.conn.execute(
            "UPDATE bank_accounts SET exact_bank_account_id = ? WHERE relation_number = ? AND iban = ?",
            (exact_bank_account_id, relation_number, iban),
        )


def add_bank_account(
    db: sqlite_utils.Database,
    relation_number: str,
    iban: str,
    *,
    now: datetime,
    exact_bank_account_id: str | None = None,
) -> bool:
    """Add an IBAN to the relation (idempotent); True when it was new."""
    with transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO bank_accounts (relation_number, iban, exact_bank_account_id, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (relation_number, iban) DO NOTHING",
            (relation_number, iban, exact_bank_account_id, stored_at(now)),
        )
        return cursor.rowcount > 0


def set_sbr_start(db: sqlite_utils.Database, relation_number: str, start: date | None) -> None:
    """Set (or, with None, clear) the relation's SBR start date. Bounds are checked by the caller.

    Raises :class:`RelationNotFound` for an unknown relation.
    """
    with transaction(db):
        cursor = db.conn.execute(
            "UPDATE relations SET sbr_start_date = ? WHERE relation_number = ?",
            (start.isoformat() if start else None, relation_number),
        )
        if cursor.rowcount == 0:
            raise RelationNotFound(relation_number)


def get_sbr_start(db: sqlite_utils.Database, relation_number: str) -> date | None:
    """The relation's SBR start date, or None when none is set (or the relation is unknown)."""
    row = db.conn.execute("SELECT sbr_start_date FROM relations WHERE relation_number = ?", (relation_number,))
    found = row.fetchone()
    return date.fromisoformat(found[0]) if found and found[0] else None


def relations_pending_push(db: sqlite_utils.Database) -> list[str]:
    """Relation numbers changed on the CRM side since their last outbound push."""
    return [
        row[0] for row in db.conn.execute("SELECT relation_number FROM relations WHERE pending_push = 1 ORDER BY 1")
    ]


def clear_pending_push(db: sqlite_utils.Database, relation_numbers: Iterable[str]) -> None:
    """Mark these relations as pushed to Exact Online."""
    with transaction(db):
        db.conn.executemany(
            "UPDATE relations SET pending_push = 0 WHERE relation_number = ?", [(n,) for n in relation_numbers]
        )
