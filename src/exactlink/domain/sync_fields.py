"""The relation data exactlink synchronises, field by field: mapping, normalised comparison, and the plans.

The published list ("Welke gegevens worden gesynchroniseerd?") maps onto Exact Online like this:

====================================  =====================================================================
CRM (relation)                        Exact Online (office administration)
====================================  =====================================================================
relation number                       ``crm/Accounts.Code`` (only with ``sync.numbers_must_match``)
name                                  ``Name``
OB number (``vat_number``)            ``VATNumber``
RSIN / BSN                            ``RSIN`` / ``BSN``
KvK number                            ``ChamberOfCommerce``
phone, website                        ``Phone``, ``Website``
visit address                         the account's ``AddressLine1``/``Postcode``/``City``/``Country`` and
                                      its main ``crm/Addresses`` record of ``Type`` 1, if any
postal / invoice address              the main ``crm/Addresses`` record of ``Type`` 2 / 3
contact persons                       ``crm/Contacts``, linked only when the person exists on both sides
bank accounts                         ``crm/BankAccounts`` (``BankAccount`` holds the IBAN)
linked administration                 read-only: shown, never written
====================================  =====================================================================

Values are compared *normalised*: ``1234AB`` and ``1234 ab`` are one postcode, ``6959.9084`` and ``69599084``
one KvK number, ``+31 15 123 4567`` and ``015-1234567`` one phone number, ``https://x.nl/`` and
``x.nl`` one website; only a real difference is a change. The leading side wins, with these rules:

* identifiers (KvK, RSIN, BSN, OB number) and the name are never erased: an empty value on the leading
  side leaves the other side's alone (they are what relations are matched on);
* contact persons are *linked*, never created or deleted on either side; their e-mail address and phone
  number follow the leading side when it has one, and inbound the name parts (first name, tussenvoegsel,
  last name) are copied from Exact when both sides spell the full name alike;
* outbound, a CRM value that fails validation (a KvK number of 7 digits …) is not pushed to Exact;
* outbound, an address or bank account that only Exact has is left alone unless deleting is asked for.

Everything here is pure: the service builds a :class:`CrmSide` and an :class:`ExactSide` from the mirror
and executes the :class:`InboundPlan` or :class:`OutboundPlan` these functions return.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, Literal

from exactlink.domain import identifiers
from exactlink.domain.entities import OfficeAccount, exact_fields
from exactlink.domain.names import strip_accents

Direction = Literal["inbound", "outbound"]
FieldKind = Literal["name", "text", "phone", "website", "kvk", "fiscal", "vat"]

ADDRESS_TYPE_CODES: dict[str, int] = {"visit": 1, "postal": 2, "invoice": 3}
"""CRM address type → Exact ``crm/Addresses.Type`` (Visit=1, Postal=2, Invoice=3; 4, delivery, is not synchronised).

The one place exactlink's own code takes these numbers from (matching, sync, the benchmarks); the sandbox keeps
its own copy as the test double it is, and a test holds the two equal."""
ADDRESS_TYPE_NAMES: dict[int, str] = {code: name for name, code in ADDRESS_TYPE_CODES.items()}


@dataclass(frozen=True)
class AccountField:
    """One of the relation's own fields and where it lives in Exact Online.

    ``key`` is the CRM relation column, ``mirror`` the attribute of the mirrored account
    (:class:`~exactlink.domain.entities.OfficeAccount`), whose declaration gives the ``crm/Accounts`` property
    (:attr:`exact`). ``keep_when_blank``: an empty value on the leading side never erases it.
    """

    key: str
    label: str
    mirror: str
    kind: FieldKind
    keep_when_blank: bool

    @property
    def exact(self) -> str:
        """The ``crm/Accounts`` property."""
        return _EXACT_NAMES[self.mirror]


_EXACT_NAMES: dict[str, str] = {column: name for name, (column, _how, _default) in exact_fields(OfficeAccount).items()}

ACCOUNT_FIELDS: tuple[AccountField, ...] = (
    AccountField("name", "name", "name", "name", True),
    AccountField("vat_number", "OB number", "vat_number", "vat", True),
    AccountField("rsin", "RSIN", "rsin", "fiscal", True),
    AccountField("bsn", "BSN", "bsn", "fiscal", True),
    AccountField("kvk", "KvK number", "chamber_of_commerce", "kvk", True),
    AccountField("phone", "phone", "phone", "phone", False),
    AccountField("website", "website", "website", "website", False),
)
"""The relation fields sync keeps equal on both sides (the one meaning of ``ACCOUNT_FIELDS``)."""

_MIRROR_VALUES = attrgetter(*(spec.mirror for spec in ACCOUNT_FIELDS))


def synced_values(account: OfficeAccount) -> dict[str, str | None]:
    """``{key: value}`` of the synchronised fields as the mirrored account holds them."""
    return dict(zip((spec.key for spec in ACCOUNT_FIELDS), _MIRROR_VALUES(account), strict=True))


FIELDS_BY_KEY: dict[str, AccountField] = {spec.key: spec for spec in ACCOUNT_FIELDS}

# The names a change can carry besides ACCOUNT_FIELDS keys.
RELATION_NUMBER = "relation_number"
BANK_ACCOUNT = "bank_account"


# ---------------------------------------------------------------------------------------------------
# Normalisation: the comparison key of a value (never what is written)

_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s.\-/]+")
_NOT_WORD = re.compile(r"[^\w\s]+")


def clean_text(value: str | None) -> str | None:
    """Trim and collapse whitespace; empty becomes ``None``."""
    if value is None:
        return None
    text = _SPACES.sub(" ", str(value)).strip()
    return text or None


def normalise_phone(value: str | None) -> str | None:
    """Digits only, with a Dutch ``+31``/``0031`` prefix written as ``0`` (other ``+`` prefixes kept as ``00``)."""
    text = clean_text(value)
    if text is None:
        return None
    international = text.startswith("+")
    digits = "".join(char for char in text if char.isdigit())
    if not digits:
        return text.casefold()
    if international:
        digits = "00" + digits
    if digits.startswith("0031"):
        digits = "0" + digits[4:].removeprefix("0")
    return digits


def normalise_website(value: str | None) -> str | None:
    """Lower-case, without scheme, ``www.`` and trailing slash: ``https://www.X.nl/`` → ``x.nl``."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.casefold()
    text = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", text)
    return text.removeprefix("www.").rstrip("/") or None


def normalise_country(value: str | None) -> str:
    """``NL`` for the Netherlands in any spelling and for an empty country; other values upper-cased."""
    text = clean_text(value)
    if identifiers.is_dutch_country(text):
        return "NL"
    return (text or "").upper()


def normalise_postcode(value: str | None) -> str | None:
    """Upper-case without spaces (``1234 ab`` → ``1234AB``), for any country."""
    text = clean_text(value)
    return text.upper().replace(" ", "") if text else None


def normalise_value(kind: FieldKind, value: str | None) -> str | None:
    """The comparison key of one field value of ``kind``."""
    if kind == "phone":
        return normalise_phone(value)
    if kind == "website":
        return normalise_website(value)
    if kind in ("kvk", "fiscal", "vat"):
        compact = _SEPARATORS.sub("", value or "").upper()
        return compact or None
    return clean_text(value)


def same_value(kind: FieldKind, left: str | None, right: str | None) -> bool:
    """True when two values of ``kind`` are the same once normalised (both empty counts as the same)."""
    return normalise_value(kind, left) == normalise_value(kind, right)


def person_key(name: str | None) -> str:
    """The comparison key of a person's full name: no accents, no punctuation, case and spacing ignored."""
    text = strip_accents(clean_text(name) or "").casefold()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def normalise_email(value: str | None) -> str | None:
    """Trimmed and case-folded e-mail address."""
    text = clean_text(value)
    return text.casefold() if text else None


def crm_form(spec: AccountField, value: str | None) -> str | None:
    """An Exact value as the CRM stores it (identifiers in their normalised form when they are valid)."""
    text = clean_text(value)
    if text is None:
        return None
    checks: dict[FieldKind, Callable[[str], identifiers.Checked]] = {
        "kvk": identifiers.check_kvk,
        "vat": identifiers.check_vat_number,
        "fiscal": identifiers.check_rsin if spec.key == "rsin" else identifiers.check_bsn,
    }
    check = checks.get(spec.kind)
    if check is None:
        return text
    checked = check(text)
    return checked.value or text


def invalid_reason(spec: AccountField, value: str | None) -> str | None:
    """Why a CRM value must not be pushed to Exact (it fails validation), or ``None`` when it may be."""
    text = clean_text(value)
    if text is None:
        return None
    checks: dict[str, Callable[[str], identifiers.Checked]] = {
        "kvk": identifiers.check_kvk,
        "vat_number": identifiers.check_vat_number,
        "rsin": identifiers.check_rsin,
        "bsn": identifiers.check_bsn,
    }
    check = checks.get(spec.key)
    if check is None:
        return None
    checked = check(text)
    return None if checked.ok else (checked.error or "invalid")


# ---------------------------------------------------------------------------------------------------
# Addresses


@dataclass(frozen=True)
class AddressValue:
    """An address's content on either side (``street`` is Exact's ``AddressLine1``)."""

    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None

    def is_empty(self) -> bool:
        """True when street, postcode and city are all empty (a bare country is no address)."""
        return not (clean_text(self.street) or clean_text(self.postcode) or clean_text(self.city))

    def key(self) -> tuple[str, str, str, str] | None:
        """The comparison key; ``None`` for an empty address."""
        if self.is_empty():
            return None
        country = normalise_country(self.country)
        return (
            (clean_text(self.street) or "").casefold(),
            normalise_postcode(self.postcode) or "",
            (clean_text(self.city) or "").casefold(),
            country,
        )

    def display(self) -> str | None:
        """``Dorpsstraat 1, 2601 DC Delft, NL`` (``None`` for an empty address)."""
        if self.is_empty():
            return None
        place = " ".join(part for part in (clean_text(self.postcode), clean_text(self.city)) if part)
        parts = [clean_text(self.street), place, clean_text(self.country)]
        return ", ".join(part for part in parts if part)

    def crm_form(self) -> AddressValue:
        """This (Exact) address as the CRM stores it: Dutch postcode as ``1234 AB``, country as a code."""
        country = clean_text(self.country)
        code = normalise_country(country) if country else None
        postcode = clean_text(self.postcode)
        if postcode and identifiers.is_dutch_country(code):
            postcode = identifiers.check_postcode(postcode).value or postcode
        return AddressValue(clean_text(self.street), postcode, clean_text(self.city), code)

    def exact_body(self) -> dict[str, Any]:
        """The ``AddressLine1``/``Postcode``/``City``/``Country`` properties to write (no country → ``NL``)."""
        country = normalise_country(self.country)
        return {
            "AddressLine1": clean_text(self.street),
            "Postcode": clean_text(self.postcode),
            "City": clean_text(self.city),
            "Country": country if len(country) == 2 and country.isalpha() else "NL",
        }


def same_address(left: AddressValue | None, right: AddressValue | None) -> bool:
    """True when two addresses are the same once normalised (two empty ones are the same)."""
    return (left.key() if left else None) == (right.key() if right else None)


def address_invalid_reason(address: AddressValue) -> str | None:
    """Why a CRM address must not be pushed (a Dutch postcode that is not one), or ``None``."""
    if address.is_empty():
        return None
    country = normalise_country(address.country)
    if country == "NL" and clean_text(address.postcode):
        checked = identifiers.check_postcode(address.postcode)
        if not checked.ok:
            return checked.error or "invalid postcode"
    return None


@dataclass(frozen=True)
class ExactAddress:
    """A mirrored ``crm/Addresses`` record of the linked account."""

    id: str
    type: int
    main: bool
    address: AddressValue
    timestamp: int = 0


def choose_address(addresses: Iterable[ExactAddress], type_code: int) -> ExactAddress | None:
    """The record that stands for type ``type_code``: the main one, else the most recently changed."""
    candidates = [address for address in addresses if address.type == type_code]
    if not candidates:
        return None
    return max(candidates, key=lambda address: (address.main, address.timestamp, address.id))


# ---------------------------------------------------------------------------------------------------
# Contact persons


@dataclass(frozen=True)
class CrmContact:
    """A contact person in the CRM (identified within the relation by ``full_name``)."""

    full_name: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    exact_id: str | None = None


@dataclass(frozen=True)
class ExactContact:
    """A mirrored ``crm/Contacts`` record of the linked account."""

    id: str
    full_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ContactLink:
    """A CRM contact person and the Exact contact that is the same person, and on what that rests."""

    crm: CrmContact
    exact: ExactContact
    method: Literal["id", "email", "name"]


def link_contacts(crm: Sequence[CrmContact], exact: Sequence[ExactContact]) -> list[ContactLink]:
    """Pair the persons that exist on both sides, one to one.

    A remembered link (``exact_id``) that still exists stands. Then an e-mail address that occurs exactly
    once among all contacts on each side links; then a normalised full name that does. Uniqueness is judged
    over everyone (not only the unlinked), so a later run never links more than the first one did. Nobody is
    paired on anything weaker, and nobody is created.
    """
    by_id = {contact.id: contact for contact in exact}
    links: list[ContactLink] = []
    used: set[str] = set()
    open_crm: list[CrmContact] = []
    for person in crm:
        known = by_id.get(person.exact_id or "")
        if known is not None and known.id not in used:
            links.append(ContactLink(person, known, "id"))
            used.add(known.id)
        else:
            open_crm.append(person)
    keys: tuple[tuple[str, Callable[[CrmContact], str | None], Callable[[ExactContact], str | None]], ...] = (
        ("email", lambda c: normalise_email(c.email), lambda c: normalise_email(c.email)),
        ("name", lambda c: person_key(c.full_name) or None, lambda c: _exact_person_key(c) or None),
    )
    for method, key_of_crm, key_of_exact in keys:
        crm_counts = Counter(key for key in map(key_of_crm, crm) if key)
        exact_counts = Counter(key for key in map(key_of_exact, exact) if key)
        unique_exact: dict[str, ExactContact] = {}
        for contact in exact:
            exact_key = key_of_exact(contact)
            if exact_key and exact_counts[exact_key] == 1:
                unique_exact[exact_key] = contact
        still_open: list[CrmContact] = []
        for person in open_crm:
            key = key_of_crm(person)
            match = unique_exact.get(key) if key and crm_counts[key] == 1 else None
            if match is not None and match.id not in used:
                links.append(ContactLink(person, match, method))  # type: ignore[arg-type]
                used.add(match.id)
            else:
                still_open.append(person)
        open_crm = still_open
    return links


def settled_contact_links(
    crm: Sequence[CrmContact], exact: Sequence[ExactContact], direction: Direction
) -> list[tuple[CrmContact, ExactContact]]:
    """The contact links as they stand once the sync has copied e-mail addresses to the following side.

    Copying an address can make another one unique, which would let the *next* run link one more person;
    linking is repeated on the copied addresses until nothing new links, so one run does all of it.
    Returns the original (CRM, Exact) records of every link.
    """
    originals_crm = {person.full_name: person for person in crm}
    originals_exact = {contact.id: contact for contact in exact}
    current_crm, current_exact = list(crm), list(exact)
    for _round in range(len(crm) + 1):
        links = link_contacts(current_crm, current_exact)
        linked = {link.crm.full_name: link.exact.id for link in links}
        if direction == "inbound":
            emails = {link.crm.full_name: link.exact.email or link.crm.email for link in links}
            next_crm = [
                replace(p, exact_id=linked.get(p.full_name, p.exact_id), email=emails.get(p.full_name, p.email))
                for p in current_crm
            ]
            next_exact = current_exact
        else:
            emails = {link.exact.id: link.crm.email or link.exact.email for link in links}
            next_crm = [replace(p, exact_id=linked.get(p.full_name, p.exact_id)) for p in current_crm]
            next_exact = [replace(c, email=emails.get(c.id, c.email)) for c in current_exact]
        if next_crm == current_crm and next_exact == current_exact:
            break
        current_crm, current_exact = next_crm, next_exact
    return [(originals_crm[link.crm.full_name], originals_exact[link.exact.id]) for link in links]


def _exact_person_key(contact: ExactContact) -> str:
    name = contact.full_name or " ".join(
        part for part in (contact.first_name, contact.middle_name, contact.last_name) if part
    )
    return person_key(name)


# ---------------------------------------------------------------------------------------------------
# The two sides of one linked relation


@dataclass(frozen=True)
class ExactBankAccount:
    """A mirrored ``crm/BankAccounts`` record (``iban`` compacted)."""

    id: str
    iban: str
    main: bool = False


@dataclass
class CrmSide:
    """What the CRM mirror holds for one relation (the synchronised fields only)."""

    relation_number: str
    fields: dict[str, str | None]
    addresses: dict[str, AddressValue] = field(default_factory=dict)
    address_ids: dict[str, str | None] = field(default_factory=dict)
    contacts: list[CrmContact] = field(default_factory=list)
    ibans: dict[str, str | None] = field(default_factory=dict)


@dataclass
class ExactSide:
    """What the office-account mirror holds for the linked account."""

    account_id: str
    code: str | None
    fields: dict[str, str | None]
    visit: AddressValue
    timestamp: int = 0
    addresses: list[ExactAddress] = field(default_factory=list)
    contacts: list[ExactContact] = field(default_factory=list)
    bank_accounts: list[ExactBankAccount] = field(default_factory=list)

    def effective_visit(self) -> tuple[AddressValue, ExactAddress | None]:
        """The visit address and the ``Type`` 1 record behind it (None when the account fields are it).

        The account's own address fields are the visit address; a main ``Type`` 1 record that was changed
        after the account (or while the account has no address) wins, since Exact keeps the two in step.
        """
        record = choose_address(self.addresses, ADDRESS_TYPE_CODES["visit"])
        if record is not None and (self.visit.is_empty() or record.timestamp > self.timestamp):
            return record.address, record
        return self.visit, record


@dataclass(frozen=True)
class Change:
    """One field-level difference: what the CRM has, what Exact has, and which way it goes.

    ``applied`` is False for a difference that is reported but not written (``note`` says why).
    """

    relation: str
    field: str
    crm_value: str | None
    exact_value: str | None
    direction: Direction
    applied: bool = True
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "relation": self.relation,
            "field": self.field,
            "crm_value": self.crm_value,
            "exact_value": self.exact_value,
            "direction": self.direction,
            "applied": self.applied,
            "note": self.note,
        }


@dataclass
class ContactUpdate:
    """A CRM contact person to update inbound: its link and the values that change."""

    full_name: str
    exact_id: str
    values: dict[str, str | None]


@dataclass
class InboundPlan:
    """What an inbound sync writes into the CRM mirror for one relation."""

    relation: str
    changes: list[Change] = field(default_factory=list)
    fields: dict[str, str | None] = field(default_factory=dict)
    addresses: dict[str, AddressValue | None] = field(default_factory=dict)
    address_ids: dict[str, str | None] = field(default_factory=dict)
    contacts: list[ContactUpdate] = field(default_factory=list)
    ibans: list[tuple[str, str | None]] | None = None
    new_number: str | None = None

    @property
    def writes_anything(self) -> bool:
        """True when applying the plan changes the mirror (a changed value or a newly remembered link)."""
        return bool(
            self.fields
            or self.addresses
            or self.address_ids
            or self.contacts
            or self.ibans is not None
            or self.new_number
        )


@dataclass
class AddressWrite:
    """An outbound ``crm/Addresses`` write: PUT to ``exact_id``, or POST when it is None."""

    type: str
    exact_id: str | None
    body: dict[str, Any]
    address: AddressValue


@dataclass
class OutboundPlan:
    """What an outbound sync writes to Exact Online (and remembers locally) for one relation."""

    relation: str
    account_id: str
    changes: list[Change] = field(default_factory=list)
    account: dict[str, Any] = field(default_factory=dict)
    addresses: list[AddressWrite] = field(default_factory=list)
    address_deletes: list[tuple[str, str]] = field(default_factory=list)
    contacts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    bank_posts: list[str] = field(default_factory=list)
    bank_deletes: list[tuple[str, str]] = field(default_factory=list)
    address_ids: dict[str, str | None] = field(default_factory=dict)
    contact_ids: dict[str, str | None] = field(default_factory=dict)
    bank_ids: dict[str, str | None] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        """How many calls to Exact Online executing the plan takes."""
        return (
            (1 if self.account else 0)
            + len(self.addresses)
            + len(self.address_deletes)
            + len(self.contacts)
            + len(self.bank_posts)
            + len(self.bank_deletes)
        )

    @property
    def links_only(self) -> bool:
        """True when nothing goes to Exact but links (ids) are remembered locally."""
        return not self.calls and bool(self.address_ids or self.contact_ids or self.bank_ids)


# ---------------------------------------------------------------------------------------------------
# Planning


def plan_inbound(crm: CrmSide, exact: ExactSide, *, numbers_must_match: bool = False) -> InboundPlan:
    """Exact leads: the CRM relation takes the linked account's values (see the module rules)."""
    number = crm.relation_number
    plan = InboundPlan(number)

    def change(name: str, crm_value: str | None, exact_value: str | None, **extra: Any) -> None:
        plan.changes.append(Change(number, name, crm_value, exact_value, "inbound", **extra))

    if numbers_must_match and exact.code and exact.code.strip() != number:
        plan.new_number = exact.code.strip()
        change(RELATION_NUMBER, number, plan.new_number)
    for spec in ACCOUNT_FIELDS:
        mine, theirs = crm.fields.get(spec.key), exact.fields.get(spec.key)
        if same_value(spec.kind, mine, theirs):
            continue
        if clean_text(theirs) is None and spec.keep_when_blank:
            change(spec.key, mine, None, applied=False, note=f"kept: Exact has no {spec.label}")
            continue
        plan.fields[spec.key] = crm_form(spec, theirs)
        change(spec.key, mine, clean_text(theirs))
    _plan_inbound_addresses(crm, exact, plan, change)
    _plan_inbound_contacts(crm, exact, plan, change)
    _plan_inbound_banks(crm, exact, plan, change)
    return plan


def _plan_inbound_addresses(crm: CrmSide, exact: ExactSide, plan: InboundPlan, change: Callable[..., None]) -> None:
    for kind, code in ADDRESS_TYPE_CODES.items():
        mine = crm.addresses.get(kind)
        if kind == "visit":
            theirs, record = exact.effective_visit()
        else:
            record = choose_address(exact.addresses, code)
            theirs = record.address if record else AddressValue()
        if not same_address(mine, theirs):
            plan.addresses[kind] = None if theirs.is_empty() else theirs.crm_form()
            change(f"{kind}_address", mine.display() if mine else None, theirs.display())
        wanted_id = record.id if record is not None and not theirs.is_empty() else None
        has_address = not theirs.is_empty()
        if has_address and crm.address_ids.get(kind) != wanted_id:
            plan.address_ids[kind] = wanted_id


def _plan_inbound_contacts(crm: CrmSide, exact: ExactSide, plan: InboundPlan, change: Callable[..., None]) -> None:
    for person, theirs in settled_contact_links(crm.contacts, exact.contacts, "inbound"):
        values: dict[str, str | None] = {}
        email = clean_text(theirs.email)
        if email and normalise_email(email) != normalise_email(person.email):
            values["email"] = email
            change(f"contact {person.full_name}: e-mail", person.email, email)
        phone = clean_text(theirs.phone)
        if phone and normalise_phone(phone) != normalise_phone(person.phone):
            values["phone"] = phone
            change(f"contact {person.full_name}: phone", person.phone, phone)
        if person_key(person.full_name) == _exact_person_key(theirs):
            for name in ("first_name", "middle_name", "last_name"):
                value = clean_text(getattr(theirs, name))
                if value and value != clean_text(getattr(person, name)):
                    values[name] = value
        if values or person.exact_id != theirs.id:
            plan.contacts.append(ContactUpdate(person.full_name, theirs.id, values))


def _plan_inbound_banks(crm: CrmSide, exact: ExactSide, plan: InboundPlan, change: Callable[..., None]) -> None:
    wanted: dict[str, str | None] = {}
    for account in sorted(exact.bank_accounts, key=lambda bank: (not bank.main, bank.id)):
        iban = identifiers.compact_iban(account.iban)
        if iban and iban not in wanted:
            wanted[iban] = account.id
    current = {identifiers.compact_iban(iban): exact_id for iban, exact_id in crm.ibans.items()}
    for iban in wanted:
        if iban not in current:
            change(BANK_ACCOUNT, None, iban)
    for iban in current:
        if iban not in wanted:
            change(BANK_ACCOUNT, iban, None)
    if wanted != current:
        plan.ibans = list(wanted.items())


def plan_outbound(
    crm: CrmSide,
    exact: ExactSide,
    *,
    numbers_must_match: bool = False,
    delete_in_exact: bool = False,
) -> OutboundPlan:
    """The CRM leads: the linked account gets the relation's values (see the module rules)."""
    number = crm.relation_number
    plan = OutboundPlan(number, exact.account_id)

    def change(name: str, crm_value: str | None, exact_value: str | None, **extra: Any) -> None:
        plan.changes.append(Change(number, name, crm_value, exact_value, "outbound", **extra))

    if numbers_must_match and (exact.code or "").strip() != number:
        if len(number.strip()) > 18 or not number.strip():
            change(
                RELATION_NUMBER,
                number,
                exact.code,
                applied=False,
                note="not pushed: an account code has 1-18 characters",
            )
        else:
            plan.account["Code"] = number.strip().rjust(18)
            change(RELATION_NUMBER, number, exact.code)
    for spec in ACCOUNT_FIELDS:
        mine, theirs = crm.fields.get(spec.key), exact.fields.get(spec.key)
        if same_value(spec.kind, mine, theirs):
            continue
        if clean_text(mine) is None and spec.keep_when_blank:
            change(spec.key, None, theirs, applied=False, note=f"kept: the CRM has no {spec.label}")
            continue
        reason = invalid_reason(spec, mine)
        if reason:
            change(spec.key, mine, theirs, applied=False, note=f"not pushed: {reason}")
            continue
        plan.account[spec.exact] = clean_text(mine)
        change(spec.key, mine, clean_text(theirs))
    _plan_outbound_addresses(crm, exact, plan, change, delete_in_exact)
    _plan_outbound_contacts(crm, exact, plan, change)
    _plan_outbound_banks(crm, exact, plan, change, delete_in_exact)
    return plan


def _plan_outbound_addresses(
    crm: CrmSide, exact: ExactSide, plan: OutboundPlan, change: Callable[..., None], delete_in_exact: bool
) -> None:
    for kind, code in ADDRESS_TYPE_CODES.items():
        mine = crm.addresses.get(kind) or AddressValue()
        record = choose_address(exact.addresses, code)
        if record is not None and not mine.is_empty() and crm.address_ids.get(kind) != record.id:
            plan.address_ids[kind] = record.id
        # The visit address lives in the account's own fields and, when there is one, a Type 1 record.
        copies = ([exact.visit] if kind == "visit" else []) + ([record.address] if record is not None else [])
        stale = [copy for copy in copies if not same_address(mine, copy)]
        missing = not copies and not mine.is_empty()
        if not stale and not missing:
            continue
        theirs = stale[0] if stale else AddressValue()
        label = f"{kind}_address"
        if mine.is_empty():
            if record is not None and delete_in_exact and kind != "visit":
                plan.address_deletes.append((kind, record.id))
                change(label, None, theirs.display(), note="deleted in Exact")
            else:
                change(label, None, theirs.display(), applied=False, note="kept: the CRM has none")
            continue
        reason = address_invalid_reason(mine)
        if reason:
            change(label, mine.display(), theirs.display(), applied=False, note=f"not pushed: {reason}")
            continue
        change(label, mine.display(), theirs.display())
        body = mine.exact_body()
        if kind == "visit" and not same_address(mine, exact.visit):
            plan.account.update(body)
        if record is None and kind != "visit":
            plan.addresses.append(AddressWrite(kind, None, {"Type": code, "Main": True, **body}, mine))
        elif record is not None and not same_address(mine, record.address):
            plan.addresses.append(AddressWrite(kind, record.id, body, mine))


def _plan_outbound_contacts(crm: CrmSide, exact: ExactSide, plan: OutboundPlan, change: Callable[..., None]) -> None:
    for person, theirs in settled_contact_links(crm.contacts, exact.contacts, "outbound"):
        body: dict[str, Any] = {}
        email = clean_text(person.email)
        if email and normalise_email(email) != normalise_email(theirs.email):
            body["Email"] = email  # Email, not BusinessEmail: Exact copies Email over BusinessEmail
            change(f"contact {person.full_name}: e-mail", email, theirs.email)
        phone = clean_text(person.phone)
        if phone and normalise_phone(phone) != normalise_phone(theirs.phone):
            body["Phone"] = phone
            change(f"contact {person.full_name}: phone", phone, theirs.phone)
        if body:
            plan.contacts.append((person.full_name, theirs.id, body))
        if person.exact_id != theirs.id:
            plan.contact_ids[person.full_name] = theirs.id


def _plan_outbound_banks(
    crm: CrmSide, exact: ExactSide, plan: OutboundPlan, change: Callable[..., None], delete_in_exact: bool
) -> None:
    in_exact: dict[str, str] = {}
    for account in exact.bank_accounts:
        in_exact.setdefault(identifiers.compact_iban(account.iban), account.id)
    mine = {identifiers.compact_iban(iban): exact_id for iban, exact_id in crm.ibans.items()}
    for iban, exact_id in mine.items():
        if iban in in_exact:
            if exact_id != in_exact[iban]:
                plan.bank_ids[iban] = in_exact[iban]
            continue
        checked = identifiers.check_iban(iban)
        if not checked.ok:
            change(BANK_ACCOUNT, iban, None, applied=False, note=f"not pushed: {checked.error}")
            continue
        plan.bank_posts.append(iban)
        change(BANK_ACCOUNT, iban, None)
    for iban, exact_id in in_exact.items():
        if iban in mine:
            continue
        if delete_in_exact:
            plan.bank_deletes.append((iban, exact_id))
            change(BANK_ACCOUNT, None, iban, note="deleted in Exact")
        else:
            change(
                BANK_ACCOUNT,
                None,
                iban,
                applied=False,
                note="kept: bank accounts are only deleted with --delete-in-exact",
            )
