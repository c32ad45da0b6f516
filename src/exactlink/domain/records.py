"""The mirror's own records: what exactlink itself remembers, next to the Exact entities of ``entities``.

One word per meaning, everywhere:

* an **account link** (:class:`AccountLink`, table ``links``) ties a CRM relation to an account of the office
  administration (``crm/Accounts``);
* an **administration link** (:class:`AdministrationLink`, table ``admin_links``) ties a CRM relation to its
  own client administration (an Exact division);
* a **SolutionLink** is Exact's own record of that tie (``accountancy/SolutionLinks``); an administration link
  remembers its id, nothing more;
* a **match decision** (:class:`MatchDecision`) is a person's yes or no on a (relation, account) pair.

Each record class's attributes are its table's columns, so the store selects and writes by
:func:`dataclasses.fields` and mypy catches a wrong column name in a service. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

LinkedBy = Literal["auto", "manual", "suggestion"]
"""Who made an account link: the matching engine, a person by hand, or a person accepting a suggestion."""

DecisionValue = Literal["accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class AccountLink:
    """A relation ↔ office account link (table ``links``).

    ``method`` says on what the link rests (``rsin``, ``bsn``, ``kvk``, ``vat``, ``code``, ``name``,
    ``manual`` …); ``linked_at`` is UTC ISO text.
    """

    relation_number: str
    account_id: str
    account_code: str | None
    method: str | None
    linked_at: str
    linked_by: LinkedBy


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """A person accepted or rejected linking ``relation_number`` to ``account_id`` (table ``match_decisions``)."""

    relation_number: str
    account_id: str
    decision: DecisionValue
    decided_at: str

    @property
    def accepted(self) -> bool:
        """True for an accepted pair."""
        return self.decision == "accepted"


@dataclass(frozen=True, slots=True)
class AdministrationLink:
    """A relation ↔ client administration link (table ``admin_links``).

    ``solution_link_id`` is the id of Exact's SolutionLink that made the administration reachable (None for a
    link made without one); ``backlog_fetched_at`` is when the first fetch after linking (the backlog) ran.
    """

    relation_number: str
    division: int
    solution_link_id: str | None
    linked_at: str
    backlog_fetched_at: str | None = None


@dataclass(frozen=True, slots=True)
class LinkedAdministration:
    """An administration link with what listings show next to it: the relation's name and SBR start date."""

    link: AdministrationLink
    relation_name: str
    sbr_start_date: date | None

    @property
    def relation_number(self) -> str:
        """The linked relation."""
        return self.link.relation_number

    @property
    def division(self) -> int:
        """The linked client administration."""
        return self.link.division


@dataclass(frozen=True, slots=True)
class AdministrationState:
    """What the mirror remembers about one client administration besides its link (table ``administrations``).

    ``vraagposten_configured`` are the G/L account codes an admin set for it (empty: none set);
    ``vraagposten_codes`` the codes chosen the last time ``financial/GLAccounts`` was read, with
    ``vraagposten_source`` (``configured``/``description``), ``vraagposten_problem`` and
    ``vraagposten_checked_at`` (a cache, so an hourly run does not read the chart of accounts again; None: not
    read yet or forgotten); ``last_fetch_at``/``last_fetch_note`` what the last fetch found, and
    ``last_fetch_error``/``last_fetch_failed_at`` why and when it failed, while it did. Times are UTC ISO.
    """

    division: int
    name: str | None = None
    vraagposten_configured: tuple[str, ...] = ()
    vraagposten_codes: tuple[str, ...] | None = None
    vraagposten_source: str | None = None
    vraagposten_problem: str | None = None
    vraagposten_checked_at: str | None = None
    last_fetch_at: str | None = None
    last_fetch_note: str | None = None
    last_fetch_error: str | None = None
    last_fetch_failed_at: str | None = None


@dataclass(frozen=True, slots=True)
class KnownDivision:
    """An administration as the last listing of ``system/Divisions`` (``consented``) or ``system/AllDivisions``
    (not consented) described it (table ``divisions``): what linking needs to know about it.

    ``status`` and ``blocking`` are Exact's codes (1 active; 0 not blocked); ``customer`` is the owner account's
    ID in the office administration. The table leaves out ``vat_number`` and ``ob_number`` (an eenmanszaak's holds
    the owner's BSN): a stored listing has them as None.
    """

    code: int
    name: str
    customer: str | None = None
    customer_code: str | None = None
    customer_name: str | None = None
    vat_number: str | None = None
    kvk: str | None = None
    ob_number: str | None = None
    status: int | None = 1
    blocking: int | None = 0
    practice: bool = False
    consented: bool = True


@dataclass(frozen=True, slots=True)
class DivisionList:
    """The administrations the last full listing found, when it was read (UTC ISO) and whether it included the
    ones without consent (``system/AllDivisions`` could be read)."""

    divisions: tuple[KnownDivision, ...]
    read_at: str
    complete: bool


RunSummary = dict[str, Any]
"""A run's own counts and notes (``{"new": 3, "error": "…"}``): a free JSON document by design, not entity data."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One command run of the run history (table ``runs``), as ``exactlink status`` shows it.

    ``outcome`` is ``running`` while an unfinished run's process lives and ``interrupted`` after it died;
    ``summary`` holds the run's counts (masked for BSNs when stored).
    """

    id: int
    command: str
    started_at: str
    finished_at: str | None
    outcome: str
    summary: RunSummary = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredRelation:
    """A CRM relation as the mirror holds it (table ``relations``): the CRM's fields and the mirror's own.

    ``issues`` are the import's validation problems (``column``, ``message``, ``severity``);
    ``exact_account_id`` follows the account link; ``pending_push`` marks a CRM-side change the outbound sync
    has not pushed yet. Dates and times are ISO text.
    """

    relation_number: str
    name: str
    legal_form: str | None
    kvk: str | None
    rsin: str | None
    bsn: str | None
    vat_number: str | None
    payroll_tax_number: str | None
    phone: str | None
    email: str | None
    website: str | None
    sbr_start_date: str | None
    issues: list[dict[str, str]]
    exact_account_id: str | None
    pending_push: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class StoredAddress:
    """One address of a relation (table ``addresses``); ``type`` is ``visit``, ``postal`` or ``invoice``."""

    relation_number: str
    type: str
    street: str | None
    postcode: str | None
    city: str | None
    country: str | None
    exact_address_id: str | None
    updated_at: str


@dataclass(frozen=True, slots=True)
class StoredContact:
    """One contact person of a relation (table ``contacts``), known within the relation by ``full_name``."""

    relation_number: str
    full_name: str
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    exact_contact_id: str | None
    updated_at: str


@dataclass(frozen=True, slots=True)
class StoredBankAccount:
    """One bank account (IBAN) of a relation (table ``bank_accounts``)."""

    relation_number: str
    iban: str
    exact_bank_account_id: str | None
    updated_at: str


@dataclass(frozen=True, slots=True)
class RelationChildren:
    """A relation's addresses, contact persons and bank accounts, as the mirror holds them (Exact ids included)."""

    addresses: tuple[StoredAddress, ...] = ()
    contacts: tuple[StoredContact, ...] = ()
    bank_accounts: tuple[StoredBankAccount, ...] = ()


@dataclass(frozen=True, slots=True)
class RelationOverview:
    """A relation with its account link's account and its administration link's division, for listings."""

    relation: StoredRelation
    account_id: str | None
    account_code: str | None
    division: int | None
