"""Tax-return rules: kinds, Exact's status words, the fetch window, periods, due dates and feedback.

Everything here is pure: it takes the values Exact Online's ``read/financial/Returns`` records carry
(``Type``, ``Status``, ``Year``, ``Period``, ``Frequency``, ``DueDate``, ``Description``, ``Subject``)
and the office's settings, and returns plain values and sentences in plain words. The services
that fetch returns, list them and report feedback build on these functions.

Facts (see the domain reference, §2): Type 31 = VAT (BTW), 32 = EC Sales list (ICP), 146 = payroll
declaration (loonaangifte). A suppletie (VAT correction) has no Type of its own; it is a Type 31 row
told apart by its Description/Subject. Status is Exact's generic request status (−10 … 50).
``financial/ProcessReturn`` accepts feedback only for VAT and ICP returns in status 40 (Realized).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum, IntEnum, StrEnum
from typing import Any

RETURN_TYPE_VAT = 31
RETURN_TYPE_ICP = 32
RETURN_TYPE_PAYROLL = 146

# The rule: "Alleen aangiftes van de afgelopen 30 dagen worden opgehaald" — and an SBR start date can
# move the start of that window, but never further back than 30 days.
MAX_WINDOW_DAYS = 30

# Statuses `financial/ProcessReturn` accepts as feedback.
FEEDBACK_STATUS_PROCESSED = 50
FEEDBACK_STATUS_REJECTED = 5


class ReturnKind(StrEnum):
    """What a return is, in the office's terms. ``UNKNOWN`` is a Type this tool does not know."""

    BTW = "btw"
    BTW_SUPPLETIE = "btw_suppletie"
    ICP = "icp"
    LOONHEFFING = "loonheffing"
    UNKNOWN = "unknown"


KIND_LABELS: dict[ReturnKind, str] = {
    ReturnKind.BTW: "BTW",
    ReturnKind.BTW_SUPPLETIE: "BTW suppletie",
    ReturnKind.ICP: "ICP",
    ReturnKind.LOONHEFFING: "loonheffing",
    ReturnKind.UNKNOWN: "onbekend",
}


class ReturnStatus(IntEnum):
    """Exact Online's request status as used on ``read/financial/Returns``."""

    NULL = -10
    VOID = 0
    REJECTED = 5
    DRAFT = 10
    OPEN = 20
    APPROVED = 30
    REALIZED = 40
    PROCESSED = 50


STATUS_LABELS: dict[ReturnStatus, str] = {
    ReturnStatus.NULL: "geen status",
    ReturnStatus.VOID: "vervallen",
    ReturnStatus.REJECTED: "afgekeurd",
    ReturnStatus.DRAFT: "concept",
    ReturnStatus.OPEN: "open",
    ReturnStatus.APPROVED: "goedgekeurd",
    ReturnStatus.REALIZED: "gerealiseerd (wacht op terugkoppeling)",
    ReturnStatus.PROCESSED: "verwerkt",
}

# Wordings a suppletie's Description/Subject has been seen or can be expected to use: "Suppletie
# omzetbelasting", "suppletieaangifte", "Supplementary VAT return", "Correctie aangifte", "VAT correction".
_SUPPLETIE_WORDS = re.compile(r"supplet|supplement|correcti(?:e|on)|aanvullende\s+aangifte")


def _as_int(value: Any) -> int | None:
    """``31``, ``"31"`` or ``31.0`` → 31; anything else → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def is_suppletie_text(*texts: str | None) -> bool:
    """True when any text (Description, Subject) says this is a suppletie / supplementary / correction return."""
    return any(text and _SUPPLETIE_WORDS.search(text.casefold()) for text in texts)


def return_kind(type_code: Any, description: str | None = None, subject: str | None = None) -> ReturnKind:
    """The kind of a return from Exact's ``Type`` (and, for VAT, its Description/Subject).

    31 → ``btw`` or ``btw_suppletie``; 32 → ``icp``; 146 → ``loonheffing``; anything else (including a
    missing or non-numeric Type) → ``unknown``, which the caller reports instead of crashing.
    """
    code = _as_int(type_code)
    if code == RETURN_TYPE_VAT:
        return ReturnKind.BTW_SUPPLETIE if is_suppletie_text(description, subject) else ReturnKind.BTW
    if code == RETURN_TYPE_ICP:
        return ReturnKind.ICP
    if code == RETURN_TYPE_PAYROLL:
        return ReturnKind.LOONHEFFING
    return ReturnKind.UNKNOWN


def return_kind_of(record: Mapping[str, Any]) -> ReturnKind:
    """:func:`return_kind` for a ``read/financial/Returns`` record (keys ``Type``, ``Description``, ``Subject``)."""
    return return_kind(record.get("Type"), record.get("Description"), record.get("Subject"))


def kind_label(kind: ReturnKind | str) -> str:
    """Display label: ``BTW``, ``BTW suppletie``, ``ICP``, ``loonheffing`` (``onbekend`` for unknown)."""
    try:
        return KIND_LABELS[ReturnKind(kind)]
    except ValueError:
        return str(kind)


def _known_status(status: Any) -> ReturnStatus | None:
    code = _as_int(status)
    if code is None:
        return None
    try:
        return ReturnStatus(code)
    except ValueError:
        return None


def status_label(status: Any) -> str:
    """Exact's Status in plain words (``40`` → ``gerealiseerd (wacht op terugkoppeling)``); else ``unknown (N)``."""
    known = _known_status(status)
    return STATUS_LABELS[known] if known is not None else f"unknown ({status})"


def status_name(status: Any) -> str:
    """Exact's own English name of a Status (``40`` → ``Realized``); else ``unknown (N)``."""
    known = _known_status(status)
    return known.name.capitalize() if known is not None else f"unknown ({status})"


def is_processed_by_settings(kind: ReturnKind | str, process_vat: bool, process_payroll: bool) -> bool:
    """Whether the office's settings say to process this kind into the CRM.

    The VAT setting covers BTW, BTW suppletie and ICP; the payroll setting covers loonheffing. An unknown
    kind is never processed.
    """
    try:
        kind = ReturnKind(kind)
    except ValueError:
        return False
    if kind in (ReturnKind.BTW, ReturnKind.BTW_SUPPLETIE, ReturnKind.ICP):
        return process_vat
    if kind is ReturnKind.LOONHEFFING:
        return process_payroll
    return False


# ---------------------------------------------------------------------------------------------------------
# The fetch window and the SBR start date


def returns_window_start(today: date, sbr_start_date: date | None, window_days: int = MAX_WINDOW_DAYS) -> date:
    """The first day whose returns are fetched: the later of the SBR start date and ``today − window_days``.

    An SBR start date can never move the window further back than 30 days. A start date in the future
    gives a window start after ``today``: nothing is fetched yet (see :func:`window_is_closed`).

    Raises:
        ValueError: ``window_days`` outside 1 … 30.
    """
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window_days must be 1 … {MAX_WINDOW_DAYS}, not {window_days}")
    earliest = today - timedelta(days=window_days)
    if sbr_start_date is None or sbr_start_date < earliest:
        return earliest
    return sbr_start_date


def window_is_closed(window_start: date, today: date) -> bool:
    """True when the window starts after today (an SBR start date in the future): fetch nothing."""
    return window_start > today


def sbr_start_note(sbr_start_date: date, today: date, window_days: int = MAX_WINDOW_DAYS) -> str | None:
    """What a new SBR start date means, when it is not simply the window start; None when it is.

    For ``crm set REL --sbr-start DATE``: a date more than ``window_days`` back is kept but cannot move the
    window further back; a future date means nothing is fetched until then.
    """
    start = returns_window_start(today, sbr_start_date, window_days)
    if start != sbr_start_date:
        return (
            f"{sbr_start_date.isoformat()} is more than {window_days} days back: returns are fetched from "
            f"{start.isoformat()} (an SBR start date never moves the window further back than {window_days} days)"
        )
    if window_is_closed(start, today):
        return f"{sbr_start_date.isoformat()} lies in the future: no returns are fetched for this relation until then"
    return None


def default_sbr_start(today: date, window_days: int = MAX_WINDOW_DAYS) -> date:
    """The SBR start date `link-admin` sets when none is set: ``today − window_days``."""
    return returns_window_start(today, None, window_days)


# ---------------------------------------------------------------------------------------------------------
# Periods


_FOUR_WEEKLY_CODES = frozenset({"4", "4W", "W4", "4-W", "4WK"})
_FOUR_WEEKLY_WORDS = re.compile(r"4[\s-]*(?:weken|wekelijks|weeks|weekly)|vierwe(?:ken|kelijks)|four[\s-]*week")


def _frequency(frequency: str | None) -> str:
    return (frequency or "").strip().upper()


def is_four_weekly(
    kind: ReturnKind | str, period: Any, frequency: str | None, period_description: str | None = None
) -> bool:
    """Whether a payroll return covers a 4-week period (13 periods a year).

    Exact's Frequency code for 4-weekly payroll is not documented, so this looks at three clues: a
    4-weekly-looking Frequency ("4", "4W" …), a Period of 13 (no month or quarter has it), or a
    PeriodDescription that says "4 weken" / "4-wekelijks" / "4 weeks".
    """
    if ReturnKind(kind) is not ReturnKind.LOONHEFFING:
        return False
    if _frequency(frequency) in _FOUR_WEEKLY_CODES:
        return True
    if _as_int(period) == 13:
        return True
    return bool(period_description and _FOUR_WEEKLY_WORDS.search(period_description.casefold()))


def _quarter_number(period: int) -> int | None:
    # What Period holds for quarterly returns is not documented: 1 … 4 is read as the quarter, 6/9/12 as the
    # last month of a quarter (3 is ambiguous and read as Q3).
    if 1 <= period <= 4:
        return period
    if period in (6, 9, 12):
        return period // 3
    return None


def period_label(
    year: Any,
    period: Any,
    frequency: str | None,
    kind: ReturnKind | str = ReturnKind.UNKNOWN,
    period_description: str | None = None,
) -> str:
    """The period as an office reads it: ``2026 Q3``, ``2026-10``, ``2026``, ``2026 periode 4 (4-weken)``.

    Frequency is compared case-insensitively: M monthly, Q quarterly, A financial-year quarter (shown as
    a quarter), Y yearly. When the values do not fit (no year, period out of range, unknown frequency),
    Exact's PeriodDescription is shown, or ``2026 periode N`` as a last resort.
    """
    year_number = _as_int(year)
    period_number = _as_int(period)
    freq = _frequency(frequency)
    if year_number is None:
        return period_description or "?"
    if (
        is_four_weekly(kind, period_number, frequency, period_description)
        and period_number
        and 1 <= period_number <= 13
    ):
        return f"{year_number} periode {period_number} (4-weken)"
    if freq == "Y":
        return str(year_number)
    if period_number is not None:
        if freq == "M" and 1 <= period_number <= 12:
            return f"{year_number}-{period_number:02d}"
        quarter = _quarter_number(period_number) if freq in ("Q", "A") else None
        if quarter is not None:
            return f"{year_number} Q{quarter}"
    if period_description:
        return period_description
    return f"{year_number} periode {period_number}" if period_number is not None else str(year_number)


def period_label_of(record: Mapping[str, Any], kind: ReturnKind | str | None = None) -> str:
    """:func:`period_label` for a ``read/financial/Returns`` record."""
    return period_label(
        record.get("Year"),
        record.get("Period"),
        record.get("Frequency"),
        kind if kind is not None else return_kind_of(record),
        record.get("PeriodDescription"),
    )


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def end_of_next_month(period_end: date) -> date:
    """The last day of the month after ``period_end`` (Q4 ending 31 Dec → 31 Jan of the next year)."""
    year, month = (period_end.year + 1, 1) if period_end.month == 12 else (period_end.year, period_end.month + 1)
    return _end_of_month(year, month)


def one_month_after(day: date) -> date:
    """The same day one month later, clipped to that month's end (28 Jan → 28 Feb; 31 Jan → 28/29 Feb)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def four_weekly_period_end(year: int, period: int) -> date:
    """End of 4-weekly payroll period 1 … 13: period 1 starts 1 January; period 13 ends 31 December."""
    if not 1 <= period <= 13:
        raise ValueError(f"a 4-weekly period is 1 … 13, not {period}")
    if period == 13:
        return date(year, 12, 31)
    return date(year, 1, 1) + timedelta(days=28 * period - 1)


def period_end(year: Any, period: Any, frequency: str | None, *, four_weekly: bool = False) -> date | None:
    """The last day of a return period, or None when the values do not describe one.

    Financial-year quarters (A) are read as calendar quarters: the financial year of most Dutch
    administrations is the calendar year.
    """
    year_number, period_number, freq = _as_int(year), _as_int(period), _frequency(frequency)
    if year_number is None or not 1 <= year_number <= 9998:
        return None
    if freq == "Y":
        return date(year_number, 12, 31)
    if period_number is None:
        return None
    if four_weekly:
        return four_weekly_period_end(year_number, period_number) if 1 <= period_number <= 13 else None
    if freq == "M" and 1 <= period_number <= 12:
        return _end_of_month(year_number, period_number)
    if freq in ("Q", "A"):
        quarter = _quarter_number(period_number)
        return _end_of_month(year_number, quarter * 3) if quarter else None
    return None


# ---------------------------------------------------------------------------------------------------------
# Due dates


class DueDateSource(StrEnum):
    """Where a due date came from."""

    EXACT = "exact"
    COMPUTED = "computed"
    NONE = "none"


@dataclass(frozen=True)
class DueDate:
    """A due date with its origin; ``reason`` says why it is missing (or how it was computed)."""

    due: date | None
    source: DueDateSource
    reason: str = ""


SUPPLETIE_NO_DUE_DATE = "a suppletie has no statutory due date: file it within 8 weeks after the error is found"


def roll_past_weekend(day: date) -> date:
    """Saturday or Sunday → the next Monday (Algemene termijnenwet); public holidays are not rolled."""
    weekday = day.weekday()
    return day + timedelta(days=7 - weekday) if weekday >= 5 else day


def computed_due_date(
    kind: ReturnKind | str,
    year: Any,
    period: Any,
    frequency: str | None,
    *,
    period_description: str | None = None,
    roll_weekends: bool = False,
) -> DueDate:
    """The statutory due date computed from the period, for when Exact's ``DueDate`` is missing.

    Exact's own DueDate is always preferred (see :func:`effective_due_date`): it knows the
    administration's arrangements and holidays. The rules here (domain reference §2.1):

    - BTW and ICP: the last day of the month after the period (Q4 → 31 January of the next year);
      yearly BTW: 31 March of the next year.
    - loonheffing: one month after the period ends — for calendar months the end of the next month,
      for 4-weekly periods the same day one month later.
    - BTW suppletie: no statutory due date (None, with the reason).

    ``roll_weekends`` moves a Saturday/Sunday to the next Monday, as the Algemene termijnenwet does;
    public holidays are not taken into account.
    """
    kind = ReturnKind(kind)
    if kind is ReturnKind.BTW_SUPPLETIE:
        return DueDate(None, DueDateSource.NONE, SUPPLETIE_NO_DUE_DATE)
    if kind is ReturnKind.UNKNOWN:
        return DueDate(None, DueDateSource.NONE, "unknown return type: no rule for its due date")
    four_weekly = is_four_weekly(kind, period, frequency, period_description)
    end = period_end(year, period, frequency, four_weekly=four_weekly)
    if end is None:
        return DueDate(
            None,
            DueDateSource.NONE,
            f"cannot compute a due date from year {year!r}, period {period!r}, frequency {frequency!r}",
        )
    if kind is ReturnKind.BTW and _frequency(frequency) == "Y":
        due, rule = date(end.year + 1, 3, 31), "yearly BTW: 31 March of the next year"
    elif kind is ReturnKind.LOONHEFFING and four_weekly:
        due, rule = one_month_after(end), "loonheffing: one month after the end of the 4-week period"
    elif kind is ReturnKind.LOONHEFFING:
        due, rule = end_of_next_month(end), "loonheffing: one month after the end of the period"
    else:
        due, rule = end_of_next_month(end), "last day of the month after the period"
    if roll_weekends:
        rolled = roll_past_weekend(due)
        if rolled != due:
            due, rule = rolled, f"{rule}, moved past the weekend"
    return DueDate(due, DueDateSource.COMPUTED, rule)


def _as_date(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


def effective_due_date(
    exact_due_date: date | datetime | None,
    kind: ReturnKind | str,
    year: Any,
    period: Any,
    frequency: str | None,
    *,
    period_description: str | None = None,
    roll_weekends: bool = False,
) -> DueDate:
    """Exact's DueDate when it has one, otherwise :func:`computed_due_date`."""
    exact = _as_date(exact_due_date)
    if exact is not None:
        return DueDate(exact, DueDateSource.EXACT, "Exact Online's due date")
    return computed_due_date(
        kind, year, period, frequency, period_description=period_description, roll_weekends=roll_weekends
    )


def days_to_deadline(due: date | datetime | None, today: date) -> int | None:
    """Days from ``today`` to ``due``: 0 on the day itself, negative when overdue, None without a due date."""
    due_day = _as_date(due)
    return None if due_day is None else (due_day - today).days


# ---------------------------------------------------------------------------------------------------------
# Feedback (financial/ProcessReturn)


PAYROLL_FEEDBACK_REFUSAL = (
    "Exact Online accepts feedback only for VAT and ICP returns; report payroll returns in Exact itself"
)


def _status_with_words(status: Any) -> str:
    return f"status {status} ({status_label(status)})"


def feedback_refusal(type_code: Any, status: Any) -> str | None:
    """Why ``financial/ProcessReturn`` cannot take feedback for this return, or None when it can.

    Exact accepts feedback only for VAT (31) and ICP (32) returns in status 40 (Realized). A payroll
    return is refused outright; any other status gets the plain explanation: the return is further
    along in Exact (or not yet realised), check it there and update it there if needed.
    """
    code = _as_int(type_code)
    if code == RETURN_TYPE_PAYROLL:
        return PAYROLL_FEEDBACK_REFUSAL
    if code not in (RETURN_TYPE_VAT, RETURN_TYPE_ICP):
        return f"Exact Online accepts feedback only for VAT and ICP returns; this return has type {type_code}"
    status_code = _as_int(status)
    if status_code == ReturnStatus.REALIZED:
        return None
    if status_code == ReturnStatus.PROCESSED:
        where = "it is further along in Exact's processing"
    elif status_code in (ReturnStatus.DRAFT, ReturnStatus.OPEN, ReturnStatus.APPROVED):
        where = "it is not yet realised"
    elif status_code in (ReturnStatus.REJECTED, ReturnStatus.VOID):
        where = "it has already been rejected or voided in Exact"
    else:
        where = "it is further along (or not yet realised)"
    return (
        f"this return has {_status_with_words(status)} in Exact: {where}; feedback is only possible in status 40 "
        f"(gerealiseerd); check it in Exact Online and update it there if needed"
    )


_NO_RETURNS_WITH_STATUS_40 = re.compile(
    r"no\s+returns?\s+found\s+for\s+document\s+id\s*[\s'‘’\"“”`]*(?P<id>[^'‘’\"“”`\s]*)[\s'‘’\"“”`]*"
    r"with\s+status\s+40",
    re.IGNORECASE,
)


def explain_process_return_error(message: str | None) -> str | None:
    """Turn Exact's ``No returns found for document id '…' with status 40`` into the plain explanation.

    Returns None for any other message, so the caller can show Exact's own text instead.
    """
    if not message:
        return None
    found = _NO_RETURNS_WITH_STATUS_40.search(message)
    if found is None:
        return None
    document = f" {found.group('id')}" if found.group("id") else ""
    return (
        f"Exact Online can take feedback only while a return has status 40 (gerealiseerd), and return{document} "
        "no longer has that status: it is probably a step further in Exact's processing. Check the return's "
        "status in Exact Online and update it there if needed"
    )


# ---------------------------------------------------------------------------------------------------------
# Why a division yields nothing; the backlog after a new link (the FAQ of `fetch-returns`)


class EmptyReason(Enum):
    """Why fetching returns for a relation/administration produced nothing."""

    NO_RELATION_LINK = "no_relation_link"
    NO_LINKED_ADMINISTRATION = "no_linked_administration"
    SBR_START_IN_FUTURE = "sbr_start_in_future"
    SBR_NOT_ACTIVE = "sbr_not_active"
    NOTHING_IN_WINDOW = "nothing_in_window"
    NO_RECENT_RETURNS = "no_recent_returns"


def diagnose_empty_fetch(
    *,
    relation_linked: bool,
    administration_linked: bool,
    window_start: date,
    today: date,
    any_returns_in_administration: bool | None = None,
) -> EmptyReason:
    """The first reason, in the FAQ's order, why a fetch for one relation yielded no returns.

    ``any_returns_in_administration``: True when the administration has returns that are all older than
    the window, False when it has none at all (SBR settings not active in Exact), None when unknown (the
    fetch was filtered by date, so the two cannot be told apart without another call).
    """
    if not relation_linked:
        return EmptyReason.NO_RELATION_LINK
    if not administration_linked:
        return EmptyReason.NO_LINKED_ADMINISTRATION
    if window_is_closed(window_start, today):
        return EmptyReason.SBR_START_IN_FUTURE
    if any_returns_in_administration is False:
        return EmptyReason.SBR_NOT_ACTIVE
    if any_returns_in_administration is True:
        return EmptyReason.NOTHING_IN_WINDOW
    return EmptyReason.NO_RECENT_RETURNS


def explain_empty_fetch(reason: EmptyReason, *, window_start: date | None = None, relation: str | None = None) -> str:
    """The plain explanation of an :class:`EmptyReason` (the FAQ's answer, with the command that fixes it)."""
    rel = relation or "REL"
    since = f" (since {window_start.isoformat()})" if window_start else ""
    texts = {
        EmptyReason.NO_RELATION_LINK: (
            "the relation is not linked to an account of the office administration; link it first (`exactlink match`)"
        ),
        EmptyReason.NO_LINKED_ADMINISTRATION: (
            f"no client administration is linked to this relation; link one with `exactlink link-admin {rel} DIVISION`"
        ),
        EmptyReason.SBR_START_IN_FUTURE: (
            f"the relation's SBR start date{' is ' + window_start.isoformat() if window_start else ''} lies in the "
            f"future: returns are fetched from that date on; change it with `exactlink crm set {rel} --sbr-start DATE`"
        ),
        EmptyReason.SBR_NOT_ACTIVE: (
            "Exact Online has no returns at all in this administration: check that the SBR settings are active "
            "in Exact Online"
        ),
        EmptyReason.NOTHING_IN_WINDOW: (
            f"no returns in the last {MAX_WINDOW_DAYS} days{since}: only returns of the last {MAX_WINDOW_DAYS} "
            "days are fetched, and this administration's returns are all older"
        ),
        EmptyReason.NO_RECENT_RETURNS: (
            f"no returns in the last {MAX_WINDOW_DAYS} days{since}: only returns of the last {MAX_WINDOW_DAYS} "
            "days are fetched; if you expected some, check that the SBR settings are active in Exact Online"
        ),
    }
    return texts[reason]


def backlog_explanation(relation: str | None = None, window_days: int = MAX_WINDOW_DAYS) -> str:
    """Why many returns arrive at once after a new link (the FAQ's answer), with the command that changes it."""
    rel = relation or "REL"
    return (
        f"after linking the administration all returns of the last {window_days} days are fetched at once; "
        f"move the SBR start date with `exactlink crm set {rel} --sbr-start DATE` to change this "
        f"(never more than {MAX_WINDOW_DAYS} days back)"
    )
