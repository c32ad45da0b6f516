"""The records ``fetch-returns`` hands to the store, declared once: a return, an open vraagpost, a ledger line.

Each frozen dataclass's attributes are the columns of its mirror table, so the store's column lists derive
from here (:func:`columns`) and mypy catches a wrong column name where a dict would not.

- :class:`ReturnRecord`: the Exact side of one ``read/financial/Returns`` row (the office's own decision and
  the feedback bookkeeping live only in the store).
- :class:`VraagpostRecord`: one open vraagpost (a line on a suspense account not yet cleared).
- :class:`StoredReturn` / :class:`StoredVraagpost`: what the mirror gives back: the record above with the
  office's own bookkeeping (local status, feedback, when first and last seen) and the relation's name;
  :class:`StatusSeen` is one entry of a return's status history.
- :class:`LedgerLine`: a ``sync/Financial/TransactionLines`` row on a vraagposten account, kept locally so
  an hourly run reads only what changed since its cursor and still decides which lines are open over all of
  them (the rule needs every line of the account, see ``exactlink.domain.vraagposten``).

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class ReturnRecord:
    """A tax return as Exact Online describes it (``document_id`` is the key, lower-case)."""

    document_id: str
    division: int
    type: int
    kind: str
    relation_number: str | None = None
    request_id: str | None = None
    status: int | None = None
    year: int | None = None
    period: int | None = None
    frequency: str | None = None
    period_description: str | None = None
    amount: float | None = None
    currency: str | None = None
    due_date: date | None = None
    created: str | None = None
    description: str | None = None
    view_url: str | None = None


@dataclass(frozen=True)
class VraagpostRecord:
    """An open vraagpost: a transaction line on a suspense account that is not cleared yet."""

    id: str
    relation_number: str | None
    gl_account_code: str
    date: date | None
    amount: float
    description: str
    entry_number: int | None
    status: int | None = None


@dataclass(frozen=True)
class StoredReturn:
    """A return as the mirror holds it (table ``returns``): Exact's side (``exact``) and the office's own.

    ``local_status`` is the office's decision (``new``, ``processed``, ``rejected``); ``feedback_state`` where
    reporting it to Exact stands (``none``, ``pending``, ``reported``, ``failed``, ``refused``) with Exact's
    ``feedback_message``; times are UTC ISO text. ``relation_name`` is the CRM relation's name (None when the
    return belongs to no relation in the mirror).
    """

    exact: ReturnRecord
    local_status: str
    feedback_state: str
    feedback_message: str | None
    reported_at: str | None
    refused_at: str | None
    first_seen_at: str
    last_seen_at: str
    relation_name: str | None = None

    @property
    def document_id(self) -> str:
        """Exact's key of the return (lower-case)."""
        return self.exact.document_id


@dataclass(frozen=True)
class StatusSeen:
    """One status a return was seen in, and when it was first seen in it (UTC ISO text)."""

    status: int
    seen_at: str


@dataclass(frozen=True)
class StoredVraagpost:
    """A vraagpost line as the mirror holds it (table ``vraagposten``): the line, its administration, whether it
    is ``cleared`` (gone from the open lines), when it was first and last seen, and the relation's name."""

    line: VraagpostRecord
    division: int
    cleared: bool
    first_seen_at: str
    last_seen_at: str
    relation_name: str | None = None


@dataclass(frozen=True)
class LedgerLine:
    """A transaction line on a vraagposten account with its sync ``timestamp`` (Exact's field names in
    :meth:`as_exact`, which is what ``vraagposten_overview`` reads)."""

    id: str
    division: int
    gl_account_code: str
    timestamp: int
    entry_id: str | None = None
    entry_number: int | None = None
    date: str | None = None
    amount: str | None = None  # text, so cents survive the round trip exactly
    description: str | None = None
    line_number: int | None = None
    status: int | None = None

    @classmethod
    def from_exact(cls, division: int, row: Mapping[str, Any]) -> LedgerLine:
        """The line from a sync row (``ID``, ``Timestamp``, ``GLAccountCode`` …; codes trimmed, ids lower-case)."""
        amount = row.get("AmountDC")
        return cls(
            id=str(row.get("ID") or "").lower(),
            division=int(division),
            gl_account_code=str(row.get("GLAccountCode") or "").strip(),
            timestamp=sync_timestamp(row.get("Timestamp")),
            entry_id=row.get("EntryID"),
            entry_number=_int(row.get("EntryNumber")),
            date=str(row["Date"]) if row.get("Date") is not None else None,
            amount=None if amount is None or amount == "" else str(amount),
            description=row.get("Description"),
            line_number=_int(row.get("LineNumber")),
            status=_int(row.get("Status")),
        )

    def as_exact(self) -> dict[str, Any]:
        """The line under Exact's field names (the input of ``vraagposten_overview``)."""
        row: dict[str, Any] = {
            "ID": self.id,
            "EntryID": self.entry_id,
            "EntryNumber": self.entry_number,
            "Date": self.date,
            "AmountDC": self.amount,
            "Description": self.description,
            "GLAccountCode": self.gl_account_code,
            "Status": self.status,
        }
        if self.line_number is not None:
            row["LineNumber"] = self.line_number
        return row


def columns(record_type: type[Any]) -> tuple[str, ...]:
    """The table columns of a record class, in declaration order."""
    return tuple(field.name for field in dataclasses.fields(record_type))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def sync_timestamp(value: Any) -> int:
    """A sync row's ``Timestamp`` (Exact sends the Int64 rowversion as a string, sometimes with OData's "L")."""
    text = str(value or "0").strip().rstrip("Ll")
    try:
        return int(text)
    except ValueError:
        return 0
