"""The REST endpoints the sandbox serves and the rules each one enforces.

Rules per endpoint, as Exact Online applies them (exact-api.md §2–§4):

- ``page_size``: 60 rows on normal endpoints, 1000 on sync and bulk endpoints; ``$top`` never enlarges it.
- ``select_rule``: ``"select_or_top1"`` answers 400 "Please add a $select or a $top=1 statement to the query
  string." without either; ``"select"`` (bulk) insists on ``$select``.
- ``mandatory_filter``: GET on a single or bulk endpoint that has a sync twin needs a ``$filter`` naming one of
  these properties (Exact's "This endpoint has mandatory filtering applied…" 400). The sandbox applies it
  where it serves the sync twin: ``crm/Accounts|Addresses|Contacts`` and ``bulk/CRM/…``. GET by key is exempt.
- ``sync`` endpoints take only ``$filter=Timestamp gt N`` (N or NL) and page in Timestamp order.
- ``practice_only``: ``accountancy/SolutionLinks`` exists only in the accountancy practice division;
  elsewhere the sandbox answers 403 (no ``Reason`` header) "Forbidden - … only available in an accountancy
  practice division".
- ``filter_with_sync_api``: the mandatory filter the evidence expects where a sync API exists but the sandbox
  only applies with ``Evidence.mandatory_filter_with_sync_api`` (``financial/GLAccounts``,
  ``bulk/Financial/TransactionLines``).
- ``read_only_on_write``: properties Exact documents as GET-only; with ``Evidence.read_only_ignored`` a POST or
  PUT carrying them is answered as usual but they are skipped (``accountancy/SolutionLinks.Status``).

Service segments (``crm``, ``CRM``, ``financial``) match case-insensitively; entity names exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exactlink.sandbox import model, odata, schema

PAGE = 60
BIG_PAGE = 1000


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


ACCOUNT_FILTER_FIELDS = _names(
    "Accountant AccountManager AddressLine1 AddressLine2 AddressLine3 Blocked BRIN BSN ChamberOfCommerce City "
    "Classification1 Classification2 Classification3 Classification4 Classification5 Classification6 "
    "Classification7 Classification8 Classification Code CodeAtSupplier Country Created Email EndDate Fax ID "
    "InvoiceAccount IsAccountant IsReseller IsSales IsSupplier MainContact Modified Name Parent Phone Postcode "
    "PriceList Reseller RSIN SearchCode StartDate Status Type VATNumber"
)
ADDRESS_FILTER_FIELDS = _names("ID Account AddressLine1 City Contact Country Created Main Modified Postcode Type")
CONTACT_FILTER_FIELDS = _names(
    "ID Account BusinessEmail Code Created Email FirstName FullName HID IsMainContact LastName Mobile Modified "
    "Person Phone"
)

GL_ACCOUNT_FILTER_FIELDS = _names("ID Code Created Description Modified SearchCode Type BalanceType")
TRANSACTION_LINE_FILTER_FIELDS = _names(
    "ID Account Created Date EntryID EntryNumber FinancialPeriod FinancialYear GLAccount GLAccountCode JournalCode "
    "Modified Status Type"
)

# sync/Deleted EntityType per table (exact-api.md §4.8; the rule ``deleted_entity_types`` in evidence.py).
DELETED_ENTITY_TYPES = {
    model.TRANSACTION_LINES: 1,
    model.ACCOUNTS: 2,
    model.ADDRESSES: 3,
    model.CONTACTS: 5,
    model.GL_ACCOUNTS: 7,
    model.BANK_ACCOUNTS: 48,
}

_WITH_TIMESTAMP = {"Timestamp": odata.INT64}


@dataclass(frozen=True)
class Endpoint:
    """One REST resource and its rules."""

    name: str
    kind: str  # entity, sync, bulk, deleted, divisions, all_divisions, me, process_return
    entity_type: str
    properties: dict[str, str]
    table: str | None = None
    key_field: str = "ID"
    page_size: int = PAGE
    select_rule: str | None = None
    mandatory_filter: frozenset[str] | None = None
    methods: frozenset[str] = field(default_factory=lambda: frozenset({"GET"}))
    practice_only: bool = False
    filter_with_sync_api: frozenset[str] | None = None
    read_only_on_write: frozenset[str] = frozenset()
    navigation: dict[str, tuple[str, str]] = field(default_factory=dict)
    """``$expand``-able navigation properties: name → (the related endpoint, its property naming this key)."""

    @property
    def key_type(self) -> str:
        """Edm type of the key (GUID for entities, Int64 Timestamp for sync rows, Int32 for divisions)."""
        return self.properties[self.key_field]


_CRUD = frozenset({"GET", "POST", "PUT", "DELETE"})


def _entity(name: str, table: str, type_name: str, properties: dict[str, str], **rules: object) -> Endpoint:
    return Endpoint(name, "entity", "Exact.Web.Api.Models." + type_name, properties, table, **rules)  # type: ignore[arg-type]


def _sync(name: str, table: str, type_name: str, properties: dict[str, str]) -> Endpoint:
    return Endpoint(
        name,
        "sync",
        "Exact.Web.Api.Models.Sync." + type_name,
        {**properties, **_WITH_TIMESTAMP},
        table,
        key_field="Timestamp",
        page_size=BIG_PAGE,
        select_rule="select_or_top1",
    )


def _bulk(
    name: str, table: str, type_name: str, properties: dict[str, str], mandatory: frozenset[str] | None, **rules: object
) -> Endpoint:
    return Endpoint(
        name,
        "bulk",
        "Exact.Web.Api.Models.Bulk." + type_name,
        properties,
        table,
        page_size=BIG_PAGE,
        select_rule="select",
        mandatory_filter=mandatory,
        **rules,  # type: ignore[arg-type]
    )


ENDPOINTS: dict[str, Endpoint] = {
    endpoint.name: endpoint
    for endpoint in (
        Endpoint("current/Me", "me", "Exact.Web.Api.System.Me", schema.ME, key_field="UserID"),
        Endpoint(
            "system/Divisions",
            "divisions",
            "Exact.Web.Api.System.SystemDivision",
            schema.DIVISION,
            key_field="Code",
            select_rule="select_or_top1",
        ),
        # What ossobv/exactonline's get_divisions() calls first (exact-evidence.md §8); the same divisions.
        Endpoint(
            "hrm/Divisions",
            "divisions",
            "Exact.Web.Api.Models.HRM.Division",
            schema.DIVISION,
            key_field="Code",
            select_rule="select_or_top1",
        ),
        Endpoint(
            "system/AllDivisions",
            "all_divisions",
            "Exact.Web.Api.System.AllDivision",
            schema.DIVISION,
            key_field="Code",
            select_rule="select_or_top1",
        ),
        _entity(
            "crm/Accounts",
            model.ACCOUNTS,
            "Account",
            schema.ACCOUNT,
            select_rule="select_or_top1",
            mandatory_filter=ACCOUNT_FILTER_FIELDS,
            methods=_CRUD,
            # picqer/exact-php-client Account.php: "BankAccounts: Collection of Bank accounts".
            navigation={"BankAccounts": ("crm/BankAccounts", "Account")},
        ),
        _entity(
            "crm/Addresses",
            model.ADDRESSES,
            "Address",
            schema.ADDRESS,
            select_rule="select_or_top1",
            mandatory_filter=ADDRESS_FILTER_FIELDS,
            methods=_CRUD,
        ),
        _entity(
            "crm/Contacts",
            model.CONTACTS,
            "Contact",
            schema.CONTACT,
            select_rule="select_or_top1",
            mandatory_filter=CONTACT_FILTER_FIELDS,
            methods=_CRUD,
        ),
        _entity(
            "crm/BankAccounts",
            model.BANK_ACCOUNTS,
            "BankAccount",
            schema.BANK_ACCOUNT,
            select_rule="select_or_top1",
            methods=_CRUD,
        ),
        _sync("sync/CRM/Accounts", model.ACCOUNTS, "CRM.Account", schema.ACCOUNT),
        _sync("sync/CRM/Addresses", model.ADDRESSES, "CRM.Address", schema.ADDRESS),
        _sync("sync/CRM/Contacts", model.CONTACTS, "CRM.Contact", schema.CONTACT),
        Endpoint(
            "sync/Deleted",
            "deleted",
            "Exact.Web.Api.Models.Sync.Deleted",
            schema.DELETED,
            key_field="Timestamp",
            page_size=BIG_PAGE,
            select_rule="select_or_top1",
        ),
        _bulk("bulk/CRM/Accounts", model.ACCOUNTS, "CRM.Account", schema.ACCOUNT, ACCOUNT_FILTER_FIELDS),
        _bulk("bulk/CRM/Addresses", model.ADDRESSES, "CRM.Address", schema.ADDRESS, ADDRESS_FILTER_FIELDS),
        _bulk("bulk/CRM/Contacts", model.CONTACTS, "CRM.Contact", schema.CONTACT, CONTACT_FILTER_FIELDS),
        _entity(
            "accountancy/SolutionLinks",
            model.SOLUTION_LINKS,
            "Accountancy.SolutionLink",
            schema.SOLUTION_LINK,
            methods=_CRUD,
            practice_only=True,
            read_only_on_write=frozenset({"Status"}),
        ),
        _entity(
            "read/financial/Returns",
            model.RETURNS,
            "Financial.Returns",
            schema.RETURN,
            key_field="DocumentID",
            select_rule="select_or_top1",
        ),
        Endpoint(
            "financial/ProcessReturn",
            "process_return",
            "Exact.Web.Api.Models.Financial.ProcessReturn",
            schema.PROCESS_RETURN,
            key_field="Request",
            methods=frozenset({"POST"}),
        ),
        _entity(
            "financial/GLAccounts",
            model.GL_ACCOUNTS,
            "GLAccount",
            schema.GL_ACCOUNT,
            select_rule="select_or_top1",
            filter_with_sync_api=GL_ACCOUNT_FILTER_FIELDS,
        ),
        _sync("sync/Financial/GLAccounts", model.GL_ACCOUNTS, "Financial.GLAccount", schema.GL_ACCOUNT),
        _bulk(
            "bulk/Financial/TransactionLines",
            model.TRANSACTION_LINES,
            "Financial.TransactionLine",
            schema.TRANSACTION_LINE,
            None,
            filter_with_sync_api=TRANSACTION_LINE_FILTER_FIELDS,
        ),
        _sync(
            "sync/Financial/TransactionLines",
            model.TRANSACTION_LINES,
            "Financial.TransactionLine",
            schema.TRANSACTION_LINE,
        ),
    )
}

_BY_FOLDED_SERVICE = {
    ("/".join(part.lower() for part in name.split("/")[:-1]), name.split("/")[-1]): endpoint
    for name, endpoint in ENDPOINTS.items()
}
_KEY_RE = re.compile(r"^(?P<entity>[A-Za-z]+)\((?P<key>.*)\)$")


@dataclass(frozen=True)
class Route:
    """A resolved resource path: the endpoint and, for ``Entity(key)``, the raw key literal."""

    endpoint: Endpoint
    key: str | None
    count: bool = False


def resolve(resource_path: str) -> Route | None:
    """Map ``crm/Accounts``, ``crm/Accounts(guid'…')`` or ``crm/Accounts/$count`` (the part after the division)
    to its endpoint."""
    segments = resource_path.strip("/").split("/")
    count = len(segments) > 1 and segments[-1] == "$count"
    if count:
        segments = segments[:-1]
    if not segments or not segments[-1]:
        return None
    last = segments[-1]
    key = None
    match = _KEY_RE.match(last)
    if match:
        last, key = match.group("entity"), match.group("key")
    service = "/".join(segment.lower() for segment in segments[:-1])
    endpoint = _BY_FOLDED_SERVICE.get((service, last))
    if endpoint is None or (count and key is not None):
        return None
    return Route(endpoint, key, count)


def parse_key(raw: str, endpoint: Endpoint) -> str | int:
    """The value of a key literal (``guid'…'``, ``123``, ``123L``); raises ODataError when it does not fit."""
    key_type = endpoint.key_type
    text = raw.strip()
    if key_type == odata.GUID:
        match = re.fullmatch(r"guid'([^']*)'", text)
        if not match or not odata.is_guid(match.group(1)):
            raise odata.ODataError(f"Bad Request - Error in query syntax: invalid key '{raw}'.")
        return match.group(1).lower()
    digits = text[:-1] if text.upper().endswith("L") else text
    if not digits.lstrip("-").isdigit():
        raise odata.ODataError(f"Bad Request - Error in query syntax: invalid key '{raw}'.")
    return int(digits)


def key_literal(value: object, key_type: str) -> str:
    """How a key appears in a ``__metadata.uri``."""
    if key_type == odata.GUID:
        return f"guid'{value}'"
    if key_type == odata.INT64:
        return f"{value}L"
    return str(value)
