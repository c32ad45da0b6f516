"""Each Exact Online entity exactlink mirrors, declared once: a frozen dataclass per entity.

A record class's attributes are the columns of its mirror table (snake_case); an attribute that comes from
Exact names its Exact field with :func:`exact` (and how to read it: ``guid``, ``code``, ``text``, ``int``,
``bool``). ``ENTITY`` says where the rows come from (endpoint, cursor field), where they go (table) and the
``sync/Deleted`` EntityType that removes them. Everything else derives from that one declaration:

* the ``$select`` list of a read (:func:`select`);
* the record made from an Exact row (:func:`from_exact`: GUIDs lower-case, codes trimmed, text stripped);
* the mirror table's columns (:func:`columns`; ``exactlink.store.accounts`` reads and writes by them);
* the typed pydantic view with Exact's own names (``exactlink.api.models`` builds ``Account``, ``Address`` …).

Pure: no I/O, no HTTP, no SQLite.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, cast

from exactlink.errors import ExactlinkError

Kind = Literal["text", "code", "guid", "int", "bool"]


def exact(name: str, kind: Kind = "text", default: Any = None) -> Any:
    """An attribute filled from the Exact field ``name``, read as ``kind``."""
    return dataclasses.field(default=default, metadata={"exact": name, "kind": kind})


@dataclass(frozen=True)
class Entity:
    """Where one mirrored entity comes from and goes to.

    ``name`` is also the sync-cursor name; ``resource`` is where records are written (``crm/Addresses``),
    ``endpoint`` where the mirror reads them; ``cursor`` is the field that orders changes (``Timestamp`` on
    the sync endpoints, ``Modified`` where Exact has no sync twin); ``deleted_type`` is the ``sync/Deleted``
    EntityType code that reports its deletions, or None when Exact reports none there.
    """

    name: str
    resource: str
    endpoint: str
    table: str
    cursor: Literal["Timestamp", "Modified"]
    deleted_type: int | None
    api_name: str


class MirroredRecord:
    """Base of the mirrored records: ``id``, ``division`` and ``timestamp`` (the cursor value) on every one."""

    ENTITY: ClassVar[Entity]
    id: str
    division: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class OfficeAccount(MirroredRecord):
    """``crm/Accounts``: an account of the office administration (a client of the office)."""

    ENTITY: ClassVar[Entity] = Entity(
        "accounts", "crm/Accounts", "sync/CRM/Accounts", "accounts", "Timestamp", 2, "Account"
    )

    id: str = exact("ID", "guid", "")
    code: str = exact("Code", "code", "")
    name: str = exact("Name", "text", "")
    chamber_of_commerce: str | None = exact("ChamberOfCommerce")
    rsin: str | None = exact("RSIN")
    bsn: str | None = exact("BSN")
    vat_number: str | None = exact("VATNumber")
    phone: str | None = exact("Phone")
    email: str | None = exact("Email")
    website: str | None = exact("Website")
    address_line: str | None = exact("AddressLine1")
    postcode: str | None = exact("Postcode")
    city: str | None = exact("City")
    country: str | None = exact("Country")
    status: str | None = exact("Status")
    division: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class AccountAddress(MirroredRecord):
    """``crm/Addresses``: ``type`` 1 visit, 2 postal, 3 invoice, 4 delivery."""

    ENTITY: ClassVar[Entity] = Entity(
        "addresses", "crm/Addresses", "sync/CRM/Addresses", "account_addresses", "Timestamp", 3, "Address"
    )

    id: str = exact("ID", "guid", "")
    account_id: str = exact("Account", "guid", "")
    type: int | None = exact("Type", "int")
    main: bool = exact("Main", "bool", False)
    address_line: str | None = exact("AddressLine1")
    postcode: str | None = exact("Postcode")
    city: str | None = exact("City")
    country: str | None = exact("Country")
    division: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class AccountContact(MirroredRecord):
    """``crm/Contacts``: a contact person of an account."""

    ENTITY: ClassVar[Entity] = Entity(
        "contacts", "crm/Contacts", "sync/CRM/Contacts", "account_contacts", "Timestamp", 5, "Contact"
    )

    id: str = exact("ID", "guid", "")
    account_id: str = exact("Account", "guid", "")
    full_name: str | None = exact("FullName")
    first_name: str | None = exact("FirstName")
    middle_name: str | None = exact("MiddleName")
    last_name: str | None = exact("LastName")
    email: str | None = exact("Email")
    phone: str | None = exact("Phone")
    division: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class AccountBankAccount(MirroredRecord):
    """``crm/BankAccounts``: ``bank_account`` is the number (an IBAN in practice). ``timestamp`` holds the
    row's ``Modified`` in milliseconds since the epoch (Exact has no sync endpoint for bank accounts).

    No ``sync/Deleted`` type: EntityType 48 sits among the payroll types (42-49) and matches
    ``sync/Payroll/BankAccounts`` (exact-evidence §4), so a deleted CRM bank account is found by comparing IDs
    on a full read instead."""

    ENTITY: ClassVar[Entity] = Entity(
        "bank_accounts",
        "crm/BankAccounts",
        "crm/BankAccounts",
        "account_bank_accounts",
        "Modified",
        None,
        "BankAccount",
    )

    id: str = exact("ID", "guid", "")
    account_id: str = exact("Account", "guid", "")
    bank_account: str | None = exact("BankAccount")
    bic: str | None = exact("BICCode")
    main: bool = exact("Main", "bool", False)
    division: int = 0
    timestamp: int = 0


MIRRORED: tuple[type[MirroredRecord], ...] = (OfficeAccount, AccountAddress, AccountContact, AccountBankAccount)
"""Every mirrored entity, in the order a refresh reads them."""

BY_NAME: dict[str, type[MirroredRecord]] = {kind.ENTITY.name: kind for kind in MIRRORED}
BY_DELETED_TYPE: dict[int, type[MirroredRecord]] = {
    kind.ENTITY.deleted_type: kind for kind in MIRRORED if kind.ENTITY.deleted_type is not None
}

R = TypeVar("R", bound=MirroredRecord)


_EXACT_FIELDS: dict[type[MirroredRecord], dict[str, tuple[str, Kind, Any]]] = {
    kind: {
        spec.metadata["exact"]: (spec.name, spec.metadata["kind"], spec.default)
        for spec in dataclasses.fields(kind)  # type: ignore[arg-type]
        if "exact" in spec.metadata
    }
    for kind in MIRRORED
}
_COLUMNS: dict[type[MirroredRecord], tuple[str, ...]] = {
    kind: tuple(spec.name for spec in dataclasses.fields(kind))  # type: ignore[arg-type]
    for kind in MIRRORED
}


def exact_fields(kind: type[MirroredRecord]) -> dict[str, tuple[str, Kind, Any]]:
    """``{Exact field: (column, kind, default)}`` of ``kind``, in declaration order."""
    return _EXACT_FIELDS[kind]


def columns(kind: type[MirroredRecord]) -> tuple[str, ...]:
    """The mirror table's columns that hold ``kind``'s attributes, in declaration order."""
    return _COLUMNS[kind]


def select(kind: type[MirroredRecord]) -> list[str]:
    """The ``$select`` list that reads ``kind``: its Exact fields and its cursor field."""
    return [*exact_fields(kind), kind.ENTITY.cursor]


class NotAGuid(ExactlinkError):
    """An id from Exact that is not a GUID (it would end up in a ``guid'…'`` filter): the page is refused."""


def _guid(value: Any, field: str) -> str | None:
    if not value:
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise NotAGuid(
            f"Exact Online sent a {field} that is not a GUID ({str(value)[:40]!r}); nothing of that page was stored"
        ) from None


def _read(value: Any, how: Kind, default: Any, field: str = "value") -> Any:
    if how == "guid":
        value = _guid(value, field)
    elif how == "code":
        value = None if value is None else str(value).strip()
    elif how == "bool":
        value = bool(value)
    elif how == "int":
        try:
            value = None if value is None or value == "" else int(value)
        except (TypeError, ValueError):
            value = None
    elif isinstance(value, str):
        value = value.strip() or None
    return default if value is None else value


def exact_values(kind: type[MirroredRecord], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes of ``kind`` that the Exact row (or request body) ``raw`` holds, read as declared."""
    return {
        column: _read(raw[name], how, default, name)
        for name, (column, how, default) in exact_fields(kind).items()
        if name in raw
    }


def from_exact(kind: type[R], raw: Mapping[str, Any], *, division: int = 0, timestamp: int = 0) -> R:
    """The record of one Exact row (fields it lacks keep their defaults; text is stripped, blank is None)."""
    values = {
        column: _read(raw.get(name), how, default, name) for name, (column, how, default) in exact_fields(kind).items()
    }
    return cast(R, cast(Any, kind)(**values, division=division, timestamp=timestamp))


def updated(record: R, body: Mapping[str, Any]) -> R:
    """``record`` with the values Exact now holds after a PUT of ``body`` (Exact field names)."""
    # A PUT addresses its record by key; a key in the body never changes it (and is not read as one).
    values = exact_values(type(record), {name: value for name, value in body.items() if name != "ID"})
    values.pop("id", None)
    return cast(R, dataclasses.replace(cast(Any, record), **values))
