"""The office's overview: what the page and the deadline calendar show, and which rules decide what needs attention.

Pure: the service hands in the facts (returns, relations, vraagposten, the run) and ``today`` in the office's
time zone; nothing here reads a clock, the database or the network. A return *needs action* while Exact has not
processed or voided it and the office has not marked it processed; only such a return can be due soon or
overdue, and only such a return is put in the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

SOON_DAYS = 7
""""Due within 7 days": the header's first list."""
DONE_STATUSES = frozenset({0, 50})
"""Exact's statuses after which nothing is left to do: void (0) and processed (50)."""
REALISED_STATUS = 40


class DueState(StrEnum):
    """Where a return stands against its deadline, as the page marks its row."""

    OVERDUE = "overdue"
    SOON = "soon"
    OPEN = "open"
    NO_DATE = "nodate"
    DONE = "done"


def needs_action(exact_status: int | None, local_status: str) -> bool:
    """True while Exact has not processed or voided the return and the office has not marked it processed."""
    return exact_status not in DONE_STATUSES and local_status != "processed"


def due_state(days_left: int | None, action_needed: bool) -> DueState:
    """``overdue`` (past the due date), ``soon`` (0 … 7 days), ``open``, ``nodate`` or ``done``."""
    if not action_needed:
        return DueState.DONE
    if days_left is None:
        return DueState.NO_DATE
    if days_left < 0:
        return DueState.OVERDUE
    return DueState.SOON if days_left <= SOON_DAYS else DueState.OPEN


def waits_for_feedback(exact_status: int | None, feedback_state: str) -> bool:
    """A realised return (status 40) whose processing was not yet reported back to Exact Online."""
    return exact_status == REALISED_STATUS and feedback_state != "reported"


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One return on the page: every value already in the words and numbers the page shows."""

    document_id: str
    relation_number: str
    relation_name: str
    division: int
    administration: str | None
    kind: str
    kind_label: str
    period: str
    amount: float | None
    currency: str
    due_date: date | None
    due_computed: bool
    days_left: int | None
    exact_status: int | None
    exact_status_text: str
    local_status: str
    feedback_state: str
    feedback_message: str | None
    state: DueState

    @property
    def waits_for_feedback(self) -> bool:
        """Realised in Exact and not yet reported back."""
        return waits_for_feedback(self.exact_status, self.feedback_state)


@dataclass(frozen=True, slots=True)
class VraagpostenSummary:
    """A relation's open vraagposten: count, total and the oldest date."""

    count: int
    total: float
    oldest: date | None


@dataclass(frozen=True, slots=True)
class RelationBlock:
    """One relation's part of the page: its returns, its open vraagposten and the health of its links."""

    relation_number: str
    name: str
    account_linked: bool
    account_code: str | None
    division: int | None
    administration: str | None
    last_fetch_at: datetime | None
    last_fetch_error: str | None
    last_fetch_note: str | None
    returns: tuple[ReturnLine, ...]
    vraagposten: VraagpostenSummary | None

    @property
    def fetch_failed(self) -> bool:
        """The administration's last fetch failed."""
        return self.last_fetch_error is not None


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The run the page was made after: its number, when it started (office time) and how it ended."""

    id: int
    started_at: datetime
    outcome: str


@dataclass(frozen=True)
class Overview:
    """Everything on the page, gathered at one moment (``generated_at``, in the office's time zone)."""

    generated_at: datetime
    today: date
    timezone: str
    office: str | None
    run: RunInfo | None
    returns: tuple[ReturnLine, ...]
    relations: tuple[RelationBlock, ...]
    unlinked: tuple[RelationBlock, ...] = field(default=())
    without_administration: tuple[RelationBlock, ...] = field(default=())

    @property
    def due_soon(self) -> list[ReturnLine]:
        """Returns that need action and are due within :data:`SOON_DAYS` days (today included)."""
        return [line for line in self.returns if line.state is DueState.SOON]

    @property
    def overdue(self) -> list[ReturnLine]:
        """Returns that need action and are past their due date."""
        return [line for line in self.returns if line.state is DueState.OVERDUE]

    @property
    def waiting_for_feedback(self) -> list[ReturnLine]:
        """Realised returns whose processing was not yet reported back to Exact Online."""
        return [line for line in self.returns if line.waits_for_feedback]

    @property
    def failed_fetches(self) -> list[RelationBlock]:
        """Relations whose administration's last fetch failed."""
        return [block for block in self.relations if block.fetch_failed]
