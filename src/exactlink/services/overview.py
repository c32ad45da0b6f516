"""``exactlink report --html FILE``, ``fetch-returns --report`` and ``returns list --ics``: the office's overview page
and deadline calendar.

The facts come from the mirror (:mod:`exactlink.store.overview`), the rules from :mod:`exactlink.domain.overview`
and the due-date rules, "today" and "now" from the workspace clock in the office's time zone, and the words and
markup from :mod:`exactlink.render`. Every free text (names, Exact's messages) is masked for BSNs whatever
``privacy.show_bsn`` says: the page and the calendar are files that travel. Both are written atomically, so a
browser or an agenda that reads the file while the hourly run rewrites it sees the old file or the new one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from exactlink.domain.overview import (
    DueState,
    Overview,
    RelationBlock,
    ReturnLine,
    RunInfo,
    VraagpostenSummary,
    due_state,
    needs_action,
)
from exactlink.domain.returns import DueDateSource, kind_label, status_label
from exactlink.domain.times import stored_moment
from exactlink.errors import ExactlinkError, UsageError

if TYPE_CHECKING:
    from exactlink.domain.returns import DueDate
    from exactlink.store.overview import OpenVraagposten, RelationState, StoredReturn
    from exactlink.workspace import Workspace

LANGUAGES = ("nl", "en")
DEFAULT_MODE = 0o600
FETCH_COMMAND = "fetch-returns"
CALENDAR_KINDS = ("btw", "btw_suppletie", "icp", "loonheffing")


@dataclass(frozen=True)
class Written:
    """A file this module wrote: where, with which mode, and how many returns (or events) it holds."""

    path: Path
    mode: int
    items: int
    size: int


def parse_mode(text: str | None) -> int:
    """``--mode 0640`` → 0o640 (octal, as chmod takes it); None → 0600.

    Raises:
        UsageError: not an octal mode, or one that lets others than the owner write.
    """
    if text is None:
        return DEFAULT_MODE
    try:
        mode = int(text.strip(), 8)
    except ValueError:
        raise UsageError(f"--mode takes an octal file mode such as 0640, not {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise UsageError(f"--mode takes a file mode from 0000 to 0777, not {text!r}")
    if mode & 0o022:
        raise UsageError(f"--mode {text}: only the owner may write the file (use 0600, 0640 or 0644)")
    if not mode & 0o400:
        raise UsageError(f"--mode {text}: the owner must be able to read the file")
    return mode


@lru_cache(maxsize=65_536)
def _masked(text: str | None) -> str | None:
    from exactlink.domain.privacy import mask_personal

    return mask_personal(text)


_kind_label = lru_cache(maxsize=64)(kind_label)
_status_label = lru_cache(maxsize=64)(status_label)


@lru_cache(maxsize=16_384)
def _due_and_period(
    kind: str, year: int | None, period: int | None, frequency: str | None, description: str | None, due: str | None
) -> tuple[DueDate, str]:
    """The effective due date and the period label (many returns share them: computed once per combination)."""
    from exactlink.domain.returns import effective_due_date, period_label

    return (
        effective_due_date(_date(due), kind, year, period, frequency, period_description=description),
        _masked(period_label(year, period, frequency, kind, description)) or "",
    )


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _moment(text: str | None, zone: ZoneInfo) -> datetime | None:
    moment = stored_moment(text)
    return moment.astimezone(zone) if moment is not None else None


def return_line(row: StoredReturn, today: date, administrations: dict[int, str]) -> ReturnLine:
    """One stored return with its period, due date (Exact's or computed), days left and state, masked."""
    due, period = _due_and_period(row.kind, row.year, row.period, row.frequency, row.period_description, row.due_date)
    days_left = (due.due - today).days if due.due is not None else None
    return ReturnLine(
        document_id=row.document_id,
        relation_number=row.relation_number or "",
        relation_name=_masked(row.relation_name) or "",
        division=row.division,
        administration=administrations.get(row.division),
        kind=row.kind,
        kind_label=_kind_label(row.kind),
        period=period,
        amount=row.amount,
        currency=row.currency or "EUR",
        due_date=due.due,
        due_computed=due.source is DueDateSource.COMPUTED,
        days_left=days_left,
        exact_status=row.status,
        exact_status_text=_status_label(row.status),
        local_status=row.local_status,
        feedback_state=row.feedback_state,
        feedback_message=_masked(row.feedback_message),
        state=due_state(days_left, needs_action(row.status, row.local_status)),
    )


def _block(
    state: RelationState, returns: list[ReturnLine], vraagposten: OpenVraagposten | None, zone: ZoneInfo
) -> RelationBlock:
    return RelationBlock(
        relation_number=state.relation_number,
        name=_masked(state.name) or "",
        account_linked=state.account_linked,
        account_code=state.account_code,
        division=state.division,
        administration=_masked(state.administration_name),
        last_fetch_at=_moment(state.last_fetch_at, zone),
        last_fetch_error=_masked(state.last_fetch_error),
        last_fetch_note=state.last_fetch_note,
        returns=tuple(returns),
        vraagposten=(
            VraagpostenSummary(vraagposten.count, vraagposten.total, _date(vraagposten.oldest))
            if vraagposten is not None
            else None
        ),
    )


def gather_overview(ws: Workspace) -> Overview:
    """Everything the page shows, as of the workspace clock's now (dates in ``schedule.timezone``)."""
    from exactlink.store.meta import get_office
    from exactlink.store.overview import last_finished_run, open_vraagposten, relation_states, stored_returns

    zone = ZoneInfo(ws.settings.schedule.timezone)
    now = ws.clock.now().astimezone(zone)
    today = ws.clock.today()
    db = ws.db
    states = relation_states(db)
    administrations = {
        state.division: _masked(state.administration_name) or ""
        for state in states
        if state.division is not None and state.administration_name
    }
    lines = sorted(
        (return_line(row, today, administrations) for row in stored_returns(db)),
        key=lambda line: (line.due_date is None, line.due_date or today, line.relation_number),
    )  # by the effective due date: one computed from the period sorts with Exact's own
    by_relation: dict[str, list[ReturnLine]] = defaultdict(list)
    for line in lines:
        by_relation[line.relation_number].append(line)
    vraagposten = open_vraagposten(db)
    blocks = [
        _block(state, by_relation.get(state.relation_number, []), vraagposten.get(state.relation_number), zone)
        for state in states
    ]
    shown = tuple(
        block for block in blocks if block.division is not None or block.returns or block.relation_number in vraagposten
    )
    run = last_finished_run(db, FETCH_COMMAND)
    started = _moment(run.started_at, zone) if run is not None else None
    office = get_office(db)
    return Overview(
        generated_at=now,
        today=today,
        timezone=zone.key,
        office=_masked(office.name) if office is not None else None,
        run=RunInfo(run.id, started, run.outcome or "?") if run is not None and started is not None else None,
        returns=tuple(lines),
        relations=shown,
        unlinked=tuple(block for block in blocks if not block.account_linked),
        without_administration=tuple(block for block in blocks if block.account_linked and block.division is None),
    )


def write_overview(ws: Workspace, path: Path, *, lang: str = "nl", mode: int = DEFAULT_MODE) -> Written:
    """Write the overview page to ``path`` (atomically, with ``mode``); what was written.

    Raises:
        UsageError: an unknown language.
        ExactlinkError: the file cannot be written (the reason is in the message).
    """
    from exactlink.render.overview_html import render_overview

    if lang not in LANGUAGES:
        raise UsageError(f"--lang takes one of {', '.join(LANGUAGES)}, not {lang!r}")
    overview = gather_overview(ws)
    page = render_overview(overview, lang=lang).encode("utf-8")
    _write(path, page, mode, "the overview page")
    return Written(path, mode, len(overview.returns), len(page))


def _write(path: Path, data: bytes, mode: int, what: str) -> None:
    from exactlink.paths import write_private_atomically

    try:
        write_private_atomically(path, data, mode=mode)
    except OSError as exc:
        raise ExactlinkError(f"cannot write {what} to {path}: {exc.strerror or exc}") from None


def write_deadline_calendar(
    ws: Workspace,
    path: Path,
    *,
    kind: str | None = None,
    relations: Sequence[str] = (),
    status: int | None = None,
    due_within: int | None = None,
    overdue: bool = False,
    mode: int = DEFAULT_MODE,
) -> Written:
    """Write one all-day event per open return with a due date (filtered as ``returns list`` filters) to ``path``
    (atomically, with ``mode``: 0600 unless the office shares it, as ``report --html --mode``).

    Each event's UID is the return's document id, so an agenda that subscribes to the file updates an event in
    place when its return changes and drops it once the return needs no more action.
    """
    from exactlink.render.calendar_ics import render_calendar
    from exactlink.store.overview import relation_states, stored_returns

    if kind is not None and kind not in CALENDAR_KINDS:
        raise UsageError(f"--ics takes the returns of one of {', '.join(CALENDAR_KINDS)}, not {kind!r}")
    if due_within is not None and due_within < 0:
        raise UsageError("--due-within takes a number of days (0 or more)")
    today = ws.clock.today()
    db = ws.db
    administrations = {
        state.division: _masked(state.administration_name) or ""
        for state in relation_states(db)
        if state.division is not None and state.administration_name
    }
    rows = stored_returns(db, kinds=[kind] if kind else None, relation_numbers=relations, status=status)
    lines = [return_line(row, today, administrations) for row in rows]
    events = [line for line in lines if line.state in (DueState.OVERDUE, DueState.SOON, DueState.OPEN)]
    if due_within is not None:
        events = [line for line in events if line.days_left is not None and line.days_left <= due_within]
    if overdue:
        events = [line for line in events if line.state is DueState.OVERDUE]
    data = render_calendar(events, stamp=ws.clock.now())
    _write(path, data, mode, "the calendar")
    return Written(path, mode, len(events), len(data))
