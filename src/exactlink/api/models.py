"""Typed views (pydantic) on the Exact Online entities exactlink uses.

Attribute names are Exact Online's own field names, so ``Model.select()`` is the ``$select`` list and
a row parses without a mapping table. The two conversions every consumer needs happen here and only
here: ``/Date(ms)/`` strings (Amsterdam wall-clock time) become aware UTC datetimes, and padded account
codes are trimmed.
Unknown fields (and ``__metadata``) are ignored.

``Timestamp`` exists only on the sync endpoints (``sync/CRM/Accounts`` …), so ``select()`` leaves it
out unless ``sync=True``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model

from exactlink.api.errors import ApiError
from exactlink.api.odata import parse_date, trim_code
from exactlink.domain.entities import (
    AccountAddress,
    AccountBankAccount,
    AccountContact,
    MirroredRecord,
    OfficeAccount,
    exact_fields,
)


def _trimmed(value: object) -> object:
    return trim_code(value) if isinstance(value, (str, int)) else value


def _guid(value: object) -> object:
    # Checked where Exact's ids enter: they end up in OData filters (``Account eq guid'…'``) and in the database.
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError(f"not a GUID: {value[:40]!r}") from None


ExactDate = Annotated[datetime | None, BeforeValidator(parse_date)]
"""A ``/Date(ms)/`` field (Amsterdam wall-clock milliseconds) as an aware UTC datetime."""

TrimmedCode = Annotated[str | None, BeforeValidator(_trimmed)]
"""An account code without Exact's 18-character padding."""

Guid = Annotated[str | None, BeforeValidator(_guid)]
"""A GUID as a lower-case string."""

SYNC_ONLY_FIELDS = frozenset({"Timestamp"})


class ExactModel(BaseModel):
    """Base: Exact field names as attributes, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    KEY: ClassVar[str] = "ID"

    @classmethod
    def fields(cls, *, sync: bool = False) -> list[str]:
        """The Exact field names this model reads (``Timestamp`` only for sync endpoints)."""
        names = list(cls.model_fields)
        return names if sync else [name for name in names if name not in SYNC_ONLY_FIELDS]

    @classmethod
    def select(cls, *, sync: bool = False) -> str:
        """The ``$select`` value for this model."""
        return ",".join(cls.fields(sync=sync))

    @classmethod
    def parse(cls, row: Mapping[str, Any]) -> Self:
        """One row of an Exact answer as this model.

        Raises:
            ApiError: a field has a value of the wrong type (or a required one is missing): the answer is not
                what Exact Online documents, and nothing is made of it.
        """
        try:
            return cls.model_validate(dict(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "the record"
            raise ApiError(
                f"Exact Online sent a {cls.__name__} record exactlink cannot read: {field}: {first['msg']}"
            ) from None

    @classmethod
    def parse_all(cls, rows: Iterable[Mapping[str, Any]]) -> list[Self]:
        """Every row of an Exact answer as this model."""
        return [cls.parse(row) for row in rows]


class Me(ExactModel):
    """``current/Me``: the logged-in user (no division segment in the URL)."""

    KEY: ClassVar[str] = "UserID"

    UserID: Guid = None
    UserName: str | None = None
    FullName: str | None = None
    Email: str | None = None
    CurrentDivision: int | None = None
    AccountingDivision: int | None = None
    DivisionCustomerName: str | None = None
    IsClientUser: bool | None = None
    LanguageCode: str | None = None
    Legislation: str | None = None


class Division(ExactModel):
    """``system/Divisions`` / ``system/AllDivisions``: one administration."""

    KEY: ClassVar[str] = "Code"

    Code: int
    Description: str | None = None
    Hid: int | None = None
    Customer: Guid = None
    CustomerCode: TrimmedCode = None
    CustomerName: str | None = None
    Current: bool | None = None
    IsMainDivision: bool | None = None
    IsPracticeDivision: bool | None = None
    Status: int | None = None
    BlockingStatus: int | None = None
    ArchiveDate: ExactDate = None
    VATNumber: str | None = None
    ChamberOfCommerceNumber: str | None = None
    OBNumber: str | None = None


_EXACT_TYPES: dict[str, Any] = {
    "guid": Guid,
    "code": TrimmedCode,
    "text": str | None,
    "int": int | None,
    "bool": bool | None,
}


def mirrored_model(kind: type[MirroredRecord]) -> type[ExactModel]:
    """The pydantic view of a mirrored entity, derived from its one declaration in ``exactlink.domain.entities``:
    its Exact fields, plus ``Modified`` and (sync endpoints only) ``Timestamp``."""
    fields: dict[str, Any] = {name: (_EXACT_TYPES[how], None) for name, (_, how, _) in exact_fields(kind).items()}
    fields["Modified"] = (ExactDate, None)
    fields["Timestamp"] = (int | None, None)
    return create_model(kind.ENTITY.api_name, __base__=ExactModel, __doc__=kind.__doc__, **fields)


Account = mirrored_model(OfficeAccount)
"""``crm/Accounts`` (and ``sync/CRM/Accounts``): a relation in an administration."""
Address = mirrored_model(AccountAddress)
"""``crm/Addresses``: Type 1 visit, 2 postal, 3 invoice, 4 delivery."""
Contact = mirrored_model(AccountContact)
"""``crm/Contacts``: a contact person of an account."""
BankAccount = mirrored_model(AccountBankAccount)
"""``crm/BankAccounts``: ``BankAccount`` is the number (an IBAN in practice)."""


class SolutionLink(ExactModel):
    """``accountancy/SolutionLinks``: which administration (SolutionType 0 = internal) belongs to a relation."""

    ID: Guid = None
    Account: Guid = None
    Division: int | None = None
    SolutionType: int | None = None
    InternalSolutionDivision: int | None = None
    Name: str | None = None
    Status: int | None = None
    Modified: ExactDate = None


class SolutionLinkDetail(SolutionLink):
    """A SolutionLink with what names an external package (SolutionType 1/2), for ``link-admin`` to show."""

    ExternalSolutionName: str | None = None
    OtherExternalSolutionName: str | None = None
    ExternalSolutionUrl: str | None = None


class Return(ExactModel):
    """``read/financial/Returns``: Type 31 VAT, 32 ICP, 146 payroll; Status 40 = realized, 50 = processed."""

    KEY: ClassVar[str] = "DocumentID"

    DocumentID: Guid = None
    Type: int | None = None
    Status: int | None = None
    Request: Guid = None
    Year: int | None = None
    Period: int | None = None
    PeriodDescription: str | None = None
    Frequency: str | None = None
    Amount: float | None = None
    Currency: str | None = None
    DueDate: ExactDate = None
    Created: ExactDate = None
    Description: str | None = None
    Subject: str | None = None


class GLAccount(ExactModel):
    """``financial/GLAccounts``: a general-ledger account (vraagposten live on one)."""

    ID: Guid = None
    Code: TrimmedCode = None
    Description: str | None = None


class TransactionLine(ExactModel):
    """``financial/TransactionLines``: one booked line (open items on a suspense account)."""

    ID: Guid = None
    Date: ExactDate = None
    FinancialYear: int | None = None
    FinancialPeriod: int | None = None
    GLAccount: Guid = None
    GLAccountCode: TrimmedCode = None
    Description: str | None = None
    AmountDC: float | None = None
    Account: Guid = None
    AccountCode: TrimmedCode = None
    EntryNumber: int | None = None
    Modified: ExactDate = None
