"""Vraagposten: the suspense G/L account(s) of an administration and which of their lines are still open.

A vraagpost is an item (mostly a bank line) the office cannot book until the client answers a question;
it is parked on a suspense account and booked away once answered, so the account runs back to zero.
Exact Online has no vraagposten endpoint and does not expose G/L matching in TransactionLines, so
(domain reference §3):

- the accounts are chosen per administration: configured codes win; otherwise every account whose
  Description contains "vraagpost" (case-insensitive);
- the open items follow the practical rule: lines up to the last moment the account's balance was zero
  are settled, and of the rest a + line and a − line with the same absolute amount clear each other.

Input records use Exact's field names (``financial/GLAccounts``: ``ID``, ``Code``, ``Description``;
``TransactionLines``: ``ID``, ``EntryID``, ``EntryNumber``, ``Date``, ``AmountDC``, ``Description``,
``GLAccountCode``, ``LineNumber``). Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

DEFAULT_DESCRIPTION_TEXT = "vraagpost"
_CENT = Decimal("0.01")
_MS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d+)?\)/")


class AccountSource(StrEnum):
    """How the vraagposten accounts were chosen."""

    CONFIGURED = "configured"
    DESCRIPTION = "description"


@dataclass(frozen=True)
class GLAccountRef:
    """A G/L account of an administration (trimmed code as the user types it)."""

    code: str
    description: str
    id: str | None = None


@dataclass(frozen=True)
class VraagpostenAccounts:
    """The vraagposten accounts found in one administration, and what could not be found."""

    accounts: tuple[GLAccountRef, ...]
    source: AccountSource
    missing_codes: tuple[str, ...] = ()
    description_text: str = DEFAULT_DESCRIPTION_TEXT

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes of the accounts found."""
        return tuple(account.code for account in self.accounts)

    def problem(self) -> str | None:
        """A plain sentence when nothing (or not everything configured) was found; None when all is well."""
        if self.source is AccountSource.CONFIGURED and self.missing_codes:
            missing = ", ".join(self.missing_codes)
            return f"configured vraagposten G/L account(s) {missing} do not exist in this administration"
        if not self.accounts:
            return (
                f"no vraagposten G/L account found: no account's description contains '{self.description_text}'; "
                "configure the account code(s) for this administration"
            )
        return None


def _code(value: Any) -> str:
    # Exact pads some codes with spaces; users type them trimmed.
    return str(value or "").strip()


def select_vraagposten_accounts(
    gl_accounts: Iterable[Mapping[str, Any]],
    configured_codes: Iterable[str] | None = None,
    description_text: str = DEFAULT_DESCRIPTION_TEXT,
) -> VraagpostenAccounts:
    """Choose an administration's vraagposten accounts from its ``financial/GLAccounts`` records.

    Args:
        gl_accounts: the administration's G/L account records.
        configured_codes: codes configured for this administration; when given (non-empty) they win,
            and codes that do not exist are reported in ``missing_codes``.
        description_text: the default rule's text, matched case-insensitively inside ``Description``.

    Returns:
        The accounts found (in the order of ``gl_accounts``), how they were chosen, and what is missing;
        ``problem()`` gives the sentence to show when none were found.
    """
    records = [
        GLAccountRef(code=_code(r.get("Code")), description=str(r.get("Description") or ""), id=r.get("ID"))
        for r in gl_accounts
    ]
    wanted = [_code(code) for code in configured_codes or () if _code(code)]
    if wanted:
        chosen = tuple(account for account in records if account.code in wanted)
        found = {account.code for account in chosen}
        missing = tuple(dict.fromkeys(code for code in wanted if code not in found))
        return VraagpostenAccounts(chosen, AccountSource.CONFIGURED, missing, description_text)
    needle = description_text.casefold()
    chosen = tuple(account for account in records if needle and needle in account.description.casefold())
    return VraagpostenAccounts(chosen, AccountSource.DESCRIPTION, (), description_text)


def vraagposten_accounts_after_changes(
    chosen_before: Iterable[GLAccountRef],
    changed_accounts: Iterable[Mapping[str, Any]],
    configured_codes: Iterable[str] | None = None,
    description_text: str = DEFAULT_DESCRIPTION_TEXT,
) -> VraagpostenAccounts:
    """The choice after reading only the G/L accounts changed since the last choice (an incremental sync read).

    An account that did not change keeps its verdict; so the accounts chosen before (minus those that changed)
    plus the changed records, put through :func:`select_vraagposten_accounts`, give what a read of the whole
    chart of accounts would give, as long as the configured codes are the ones the previous choice was made
    with (when they differ the caller reads the whole chart again).
    """
    changed = list(changed_accounts)
    changed_ids = {str(row.get("ID") or "").lower() for row in changed}
    kept = [
        {"ID": account.id, "Code": account.code, "Description": account.description}
        for account in chosen_before
        if str(account.id or "").lower() not in changed_ids
    ]
    return select_vraagposten_accounts([*kept, *changed], configured_codes, description_text)


class ClearedBy(StrEnum):
    """Why a vraagposten line counts as cleared."""

    PAIR = "pair"  # offset by a line of the opposite sign and the same amount
    SETTLED = "settled"  # before the last moment the account's balance was zero
    ZERO = "zero"  # an amount of 0.00


@dataclass(frozen=True)
class VraagpostLine:
    """One transaction line on a vraagposten account, with whether it is still open."""

    id: str | None
    entry_id: str | None
    entry_number: int | None
    day: date | None
    amount: Decimal
    description: str
    gl_account_code: str
    cleared_by: ClearedBy | None = None
    paired_with: str | None = None

    @property
    def cleared(self) -> bool:
        """True when the line is no longer an open vraagpost."""
        return self.cleared_by is not None


@dataclass(frozen=True)
class VraagpostenOverview:
    """The balance of the vraagposten account(s) and every line, cleared or open."""

    balance: Decimal
    lines: tuple[VraagpostLine, ...] = field(default_factory=tuple)

    @property
    def open_lines(self) -> tuple[VraagpostLine, ...]:
        """The lines still open (the vraagposten to ask the client about)."""
        return tuple(line for line in self.lines if not line.cleared)

    @property
    def open_total(self) -> Decimal:
        """Sum of the open lines' amounts."""
        return sum((line.amount for line in self.open_lines), Decimal("0.00"))


def _amount(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal("0.00")
    try:
        # via str: a float such as 0.1 must become 0.10, not 0.1000000000000000055…
        return Decimal(str(value)).quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    ms = _MS_DATE.fullmatch(text)
    if ms:
        return datetime.fromtimestamp(int(ms.group(1)) / 1000, tz=UTC).date()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_line(record: Mapping[str, Any]) -> VraagpostLine:
    return VraagpostLine(
        id=record.get("ID"),
        entry_id=record.get("EntryID"),
        entry_number=_int(record.get("EntryNumber")),
        day=_day(record.get("Date")),
        amount=_amount(record.get("AmountDC")),
        description=str(record.get("Description") or ""),
        gl_account_code=_code(record.get("GLAccountCode")),
    )


def vraagposten_overview(
    transaction_lines: Iterable[Mapping[str, Any]],
    opening_balances: Mapping[str, Decimal | float | int] | None = None,
) -> VraagpostenOverview:
    """Balance and open items of the vraagposten account(s) from their transaction lines.

    Per G/L account, in date order (then entry number): every line up to the last point where the
    running balance (from the account's opening balance, default 0) was exactly zero is settled; of the
    remaining lines, each one is paired with the earliest uncleared line of the opposite sign and the
    same absolute amount, and both count as cleared. Lines of 0.00 are cleared. Sync header rows
    (``LineNumber`` 0) are skipped: they repeat their entry's lines.

    Args:
        transaction_lines: ``TransactionLines`` records of the vraagposten account(s).
        opening_balances: balance per G/L account code before the first line (e.g. the previous
            financial year's closing balance when only this year's lines were fetched).

    Returns:
        The total balance (opening balances plus all lines) and every line in date order with its
        ``cleared`` flag.

    Raises:
        ValueError: a line with an amount or date that cannot be read.
    """
    parsed = [
        _parse_line(record)
        for record in transaction_lines
        if "LineNumber" not in record or _int(record.get("LineNumber")) != 0
    ]
    ordered = sorted(
        enumerate(parsed),
        key=lambda item: (item[1].day or date.min, item[1].entry_number or 0, item[0]),
    )
    lines = [line for _, line in ordered]
    openings = {_code(code): _amount(value) for code, value in (opening_balances or {}).items()}

    by_account: dict[str, list[int]] = defaultdict(list)
    for index, line in enumerate(lines):
        by_account[line.gl_account_code].append(index)

    for code, indexes in by_account.items():
        running = openings.get(code, Decimal("0.00"))
        last_zero = -1
        for position, index in enumerate(indexes):
            running += lines[index].amount
            if running == 0:
                last_zero = position
        waiting: dict[Decimal, deque[int]] = defaultdict(deque)
        for position, index in enumerate(indexes):
            line = lines[index]
            if position <= last_zero:
                lines[index] = replace(line, cleared_by=ClearedBy.SETTLED)
            elif line.amount == 0:
                lines[index] = replace(line, cleared_by=ClearedBy.ZERO)
            elif waiting[-line.amount]:
                partner = waiting[-line.amount].popleft()
                lines[partner] = replace(lines[partner], cleared_by=ClearedBy.PAIR, paired_with=line.id)
                lines[index] = replace(line, cleared_by=ClearedBy.PAIR, paired_with=lines[partner].id)
            else:
                waiting[line.amount].append(index)

    balance = sum(openings.values(), Decimal("0.00")) + sum((line.amount for line in lines), Decimal("0.00"))
    return VraagpostenOverview(balance=balance, lines=tuple(lines))
