"""The sandbox's data model: what the generator produces and the server serves.

Records are plain dicts keyed by Exact Online's own field names (``ID``, ``Code``, ``Name``,
``ChamberOfCommerce`` …) holding Python values: GUIDs as lower-case strings, moments as timezone-aware
UTC ``datetime`` objects and calendar days (``DueDate``) as ``date`` (the server writes both as ``/Date(ms)/``
on Amsterdam's wall clock, as Exact does), account ``Code`` already
right-aligned to 18 characters as Exact stores it. The server assigns the sync ``Timestamp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

Record = dict[str, Any]

# Entity tables kept per division; the REST, sync and bulk endpoints are views on these.
ACCOUNTS = "crm/Accounts"
ADDRESSES = "crm/Addresses"
CONTACTS = "crm/Contacts"
BANK_ACCOUNTS = "crm/BankAccounts"
SOLUTION_LINKS = "accountancy/SolutionLinks"
RETURNS = "read/financial/Returns"
GL_ACCOUNTS = "financial/GLAccounts"
TRANSACTION_LINES = "financial/TransactionLines"

TABLES = (ACCOUNTS, ADDRESSES, CONTACTS, BANK_ACCOUNTS, SOLUTION_LINKS, RETURNS, GL_ACCOUNTS, TRANSACTION_LINES)


@dataclass
class SandboxUser:
    """An Exact Online login. ``divisions`` are the division codes the user may access."""

    user_id: str
    username: str
    password: str
    full_name: str
    email: str
    is_admin: bool
    divisions: list[int]
    current_division: int


@dataclass
class DivisionData:
    """One administration: its ``system/Divisions`` record and its entity tables (``{ID: record}``)."""

    code: int
    record: Record
    tables: dict[str, dict[str, Record]] = field(default_factory=lambda: {name: {} for name in TABLES})


@dataclass(frozen=True)
class Scenario:
    """What generated data promises for any moment it is generated at (``sandbox.scenario`` checks it).

    ``administrations`` are the showcase client administrations (active, consented, unblocked, owned by their
    client's account) and ``relations`` their CRM relation numbers, in the same order; the CRM export carries
    their RSIN/BSN intact, so matching links them on it. ``returns`` names one return per role (see
    ``sandbox.scenario.ROLES``) as (division, DocumentID); ``vraagposten_open`` / ``vraagposten_balanced`` name
    an administration whose suspense account has open lines / lines that all cancel out.
    """

    administrations: tuple[int, ...] = ()
    relations: tuple[str, ...] = ()
    returns: dict[str, tuple[int, str]] = field(default_factory=dict)
    vraagposten_open: int | None = None
    vraagposten_balanced: int | None = None

    def document(self, role: str) -> str:
        """The DocumentID of the return playing ``role`` (KeyError when this office is too small for it)."""
        return self.returns[role][1]

    def division_of(self, role: str) -> int:
        """The client administration holding the return playing ``role``."""
        return self.returns[role][0]

    def relation_of(self, division: int) -> str:
        """The CRM relation number that owns showcase administration ``division``."""
        return self.relations[self.administrations.index(division)]


@dataclass
class SandboxData:
    """Everything the sandbox serves, plus the office's CRM export and the matching ground truth.

    ``now`` is the moment the data was generated for (aware, UTC): every date in it is relative to ``now``.
    """

    now: datetime
    office_division: int
    users: list[SandboxUser]
    divisions: dict[int, DivisionData]
    # Divisions the app was not given consent for (listed in AllDivisions, refused with 403 elsewhere).
    unconsented_divisions: set[int] = field(default_factory=set)
    # The CRM export rows, keyed by the Dutch CSV header names (see CRM_EXPORT_COLUMNS).
    crm_rows: list[dict[str, str]] = field(default_factory=list)
    # (relatienummer, trimmed account code or None when the relation is not in Exact).
    ground_truth: list[tuple[str, str | None]] = field(default_factory=list)
    scenario: Scenario = field(default_factory=Scenario)

    @property
    def today(self) -> date:
        """The UTC date of ``now``."""
        return self.now.date()


# The CSV the generator writes and `exactlink crm import` reads (UTF-8 with BOM, ';' separated, like Excel NL).
# Multi-valued cells (iban, contactpersonen) separate items with " | "; a contact is "Full Name <email>".
CRM_EXPORT_COLUMNS = (
    "relatienummer",
    "naam",
    "rechtsvorm",
    "kvk-nummer",
    "rsin",
    "bsn",
    "btw-nummer",
    "loonheffingennummer",
    "telefoon",
    "email",
    "website",
    "bezoekadres",
    "bezoekadres postcode",
    "bezoekadres plaats",
    "bezoekadres land",
    "postadres",
    "postadres postcode",
    "postadres plaats",
    "postadres land",
    "factuuradres",
    "factuuradres postcode",
    "factuuradres plaats",
    "factuuradres land",
    "iban",
    "contactpersonen",
)
