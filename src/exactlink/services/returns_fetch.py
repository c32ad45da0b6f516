"""``fetch-returns``: the hourly run that brings tax returns and vraagposten from every linked administration.

Per linked administration (run concurrently, ``exact.max_concurrent_divisions`` at a time, each division
paced on its own by the API client):

1. ONE ``read/financial/Returns`` call filtered on ``Created ge <window start>``, the window being the
   later of the relation's SBR start date and today − 30 days (paging through ``__next`` if needed);
   no call at all when the settings process neither VAT nor payroll returns, or the SBR start date
   lies in the future.
2. When vraagposten are processed: ONE ``sync/Financial/TransactionLines`` call from the administration's
   stored cursor (``Timestamp gt N``), which answers only the lines changed since the last run. The lines on
   the vraagposten accounts are kept locally (``store.vraagposten_cursors``), so the open-items rule still
   sees the whole account. The accounts come from the configuration or the description rule; the chart of
   accounts is read once (``sync/Financial/GLAccounts``), then only its changes, once a week. The first run,
   new configured codes or a changed choice of accounts read the lines from the start: what they must.
   Vraagposten are open items, not returns: the 30-day window does not apply to them.
3. Once a day, ONE ``sync/Deleted`` call from its own cursor, before the lines: transaction lines deleted in
   Exact (EntityType 1) leave the kept lines. Exact keeps deletions for two months only, so a deletions cursor
   older than ``DELETED_LOG_TRUST`` (or none) means the lines are read from the start instead.
4. Once a week, with the chart's changes, ONE filtered ``system/Divisions`` call for the administration's
   ``DivisionMoveDate``: when it changed, Exact moved the administration to another database and restarted
   every Timestamp, so the chart, the lines and the deletions are read from the start.

So an hourly run costs two calls per administration (a little more on the day's and the week's checks: about
2.05 on average), and when nothing changed writes almost nothing.

The Exact calls run in worker threads (``exactlink.api.concurrency``: 4 administrations at once by default,
more only as far as the run needs to finish within 10 minutes, ``exactlink.domain.run_concurrency``); the
results are written by the calling thread, one transaction with batched statements per administration
(returns upserted by document id with their status history, vraagposten lines and cursors, the first fetch
after linking recorded). A run killed half-way therefore leaves every administration either fully written
or untouched, and the next run completes it.

Built for cron: ``office_hours`` first checks that configuration and login are in place (a broken set-up fails
at once, even at night), then skips outside the configured hours before touching anything else; the run
lock (``returns``, shared with ``feedback``) makes a second run exit 5, or skip quietly with
``skip_if_locked``; every run is recorded in the run history.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from exactlink.domain.fetch_report import (
    AdminOutcome,
    FetchReport,
    backlog_note,
    explain_outcome,
    unlinked_relation_outcome,
)
from exactlink.domain.times import stored_moment
from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.domain.return_records import LedgerLine, ReturnRecord, VraagpostRecord
    from exactlink.domain.vraagposten import VraagpostenAccounts
    from exactlink.settings import Settings
    from exactlink.store.vraagposten_cursors import VraagpostenCursor
    from exactlink.workspace import Run, Workspace

log = logging.getLogger(__name__)

LOCK_NAME = "returns"
COMMAND = "fetch-returns"
RETURNS_PATH = "read/financial/Returns"
GL_ACCOUNT_SELECT = "ID,Code,Description"
TRANSACTION_LINE_SELECT = "ID,EntryID,EntryNumber,Date,AmountDC,Description,GLAccountCode,LineNumber,Status"
# How long a vraagposten account choice is trusted before the chart of accounts' changes are read again; the
# administration's DivisionMoveDate is checked at the same time.
VRAAGPOSTEN_RECHECK = timedelta(days=7)
# How often the deletions of transaction lines (sync/Deleted) are read: a line deleted in Exact stays an open
# vraagpost at most this long; reading every hour would add a third call to each administration's hourly run.
DELETIONS_RECHECK = timedelta(days=1)
DELETED_PATH = "sync/Deleted"
DELETED_SELECT = "Timestamp,EntityKey,EntityType"
DELETED_TRANSACTION_LINE = 1  # sync/Deleted EntityType of a transaction line (exact-api.md §4.8)
DIVISIONS_PATH = "system/Divisions"


class NothingToFetch(ExactlinkError):
    """``--relation REL`` names a relation whose returns cannot be fetched (the message says why)."""


def return_select() -> list[str]:
    """The ``$select`` fields of a Returns call: the model's plus the document's view URL."""
    from exactlink.api.models import Return

    return [*Return.fields(), "DocumentViewUrl"]


# ---------------------------------------------------------------------------------------------------
# What to fetch


@dataclass(frozen=True)
class AdminTarget:
    """One linked administration and what this run fetches from it."""

    relation_number: str
    relation_name: str
    division: int
    division_name: str | None
    relation_linked: bool
    window_start: date
    first_fetch: bool
    vraagposten_configured: tuple[str, ...] = ()
    cursor: VraagpostenCursor | None = None  # where the last vraagposten read stopped (None: never read)
    chart: str = "none"  # what of the chart of accounts to read: "all", "changes" or "none"
    deletions: str = "none"  # what of sync/Deleted to read: "all" (the cursor cannot be trusted), "changes", "none"
    check_move: bool = False  # read the administration's DivisionMoveDate
    had_older_returns: bool = False
    forms: dict[str, str] = field(default_factory=dict)  # learned query forms (``exactlink.api.forms``)


@dataclass
class Fetched:
    """What the Exact calls for one administration returned (built in a worker thread; no database)."""

    returns: list[dict[str, Any]] = field(default_factory=list)
    returns_called: bool = False
    gl_choice: VraagpostenAccounts | None = None
    gl_timestamp: int | None = None
    vraagposten_codes: tuple[str, ...] = ()
    changed_lines: list[LedgerLine] | None = None  # None: the lines were not read
    left_account_ids: list[str] = field(default_factory=list)  # changed lines not on a vraagposten account
    lines_from_start: bool = False
    lines_timestamp: int | None = None
    deleted_line_ids: list[str] = field(default_factory=list)  # kept lines Exact reports deleted
    deleted_timestamp: int | None = None  # None: sync/Deleted was not read
    move_checked: bool = False
    move_date: str | None = None  # DivisionMoveDate as read (when ``move_checked``)
    moved: bool = False  # the administration was moved to another database since the last check
    vraagposten_error: str | None = None
    learned: dict[str, str] = field(default_factory=dict)  # fallbacks this call had to take


def plan_targets(
    db: sqlite_utils.Database,
    settings: Settings,
    today: date,
    *,
    relations: Sequence[str] = (),
    now: datetime,
) -> list[AdminTarget]:
    """The linked administrations to fetch (only those of ``relations`` when given), with their windows.

    Raises:
        RelationUnknown: one of ``relations`` is not in the mirror.
        NothingToFetch: one of ``relations`` has no linked administration (the message explains it).
    """
    from exactlink.api.forms import LEARNED_KEY
    from exactlink.domain.records import AdministrationState
    from exactlink.domain.returns import EmptyReason, explain_empty_fetch, returns_window_start
    from exactlink.services.crm import relation_not_in_mirror
    from exactlink.store.admin import administration_states, division_has_returns_before
    from exactlink.store.links import get_account_link, list_administration_links
    from exactlink.store.meta import get_value
    from exactlink.store.relations import relation_exists
    from exactlink.store.vraagposten_cursors import all_cursors

    window_days = settings.returns.window_days
    learned = dict(get_value(db, LEARNED_KEY) or {})
    links = list_administration_links(db)
    linked = {row.relation_number for row in links}
    if relations:
        links = [row for row in links if row.relation_number in set(relations)]
    for relation in dict.fromkeys(relations):
        if relation not in linked:
            if not relation_exists(db, relation):
                raise relation_not_in_mirror(db, relation)
            reason = EmptyReason.NO_LINKED_ADMINISTRATION
            if get_account_link(db, relation) is None:
                reason = EmptyReason.NO_RELATION_LINK
            raise NothingToFetch(
                f"nothing to fetch for relation {relation}: {explain_empty_fetch(reason, relation=relation)}"
            )
    states = administration_states(db)
    cursors = all_cursors(db)
    targets = []
    for row in links:
        division = row.division
        state = states.get(division) or AdministrationState(division)
        window_start = returns_window_start(today, row.sbr_start_date, window_days)
        configured = state.vraagposten_configured
        cursor = cursors.get(division)
        chart = _chart_to_read(cursor, configured, now)
        targets.append(
            AdminTarget(
                relation_number=row.relation_number,
                relation_name=row.relation_name,
                division=division,
                division_name=state.name,
                relation_linked=get_account_link(db, row.relation_number) is not None,
                window_start=window_start,
                first_fetch=row.link.backlog_fetched_at is None,
                vraagposten_configured=configured,
                cursor=cursor,
                chart=chart,
                deletions=_deletions_to_read(cursor, now),
                check_move=chart != "none" or (cursor is not None and not cursor.move_checked_at),
                had_older_returns=division_has_returns_before(db, division, window_start.isoformat()),
                forms=learned,
            )
        )
    return targets


def _chart_to_read(cursor: VraagpostenCursor | None, configured: tuple[str, ...], now: datetime) -> str:
    """``all`` when no choice was made yet or the configured codes changed, ``changes`` once a week, else ``none``."""
    if cursor is None or cursor.gl_timestamp is None or cursor.configured != configured:
        return "all"
    checked_at = stored_moment(cursor.gl_checked_at)
    if checked_at is None or now - checked_at >= VRAAGPOSTEN_RECHECK:
        return "changes"
    return "none"


def _deletions_to_read(cursor: VraagpostenCursor | None, now: datetime) -> str:
    """``all`` when the sync/Deleted cursor cannot be trusted (none, or older than Exact keeps deletions),
    ``changes`` once a day, else ``none``."""
    from exactlink.services.office_mirror import DELETED_LOG_TRUST

    read_at = stored_moment(cursor.deleted_read_at) if cursor is not None else None
    if cursor is None or cursor.deleted_timestamp is None or read_at is None or now - read_at > DELETED_LOG_TRUST:
        return "all"
    return "changes" if now - read_at >= DELETIONS_RECHECK else "none"


# ---------------------------------------------------------------------------------------------------
# The Exact calls for one administration (worker thread)


def fetch_administration(client: ExactClient, target: AdminTarget, settings: Settings, today: date) -> Fetched:
    """Read one administration's returns in the window and, when processed, its vraagposten lines.

    Raises:
        ExactlinkError: the Returns call failed (a vraagposten failure is kept in ``vraagposten_error``).
    """
    from exactlink.api.errors import ApiError
    from exactlink.domain.returns import window_is_closed

    result = Fetched()
    process = settings.returns
    if (process.process_vat or process.process_payroll) and not window_is_closed(target.window_start, today):
        result.returns = _read_returns(client, target, result)
        result.returns_called = True
    if process.process_vraagposten:
        try:
            _fetch_vraagposten(client, target, settings, result)
        except ApiError as error:
            result.vraagposten_error = error.message
    return result


def _with_fallback(
    target: AdminTarget,
    result: Fetched,
    form: str,
    preferred: Callable[[], list[Any]],
    fallback: Callable[[], list[Any]],
) -> list[Any]:
    """Read in the preferred ``form`` unless the fallback was learned; a refusal of the form (not an outage) takes
    the fallback at once and is remembered in ``result.learned``: one refused call per endpoint, ever."""
    from exactlink.api.errors import ApiError
    from exactlink.api.forms import FALLBACKS, chosen, refuses_form

    if chosen(target.forms, form) == form:
        try:
            return preferred()
        except ApiError as error:
            if not refuses_form(error):
                raise
            log.info("%s refused in %s (%s): taking %s", form, target.division, error.message, FALLBACKS[form])
            result.learned[form] = FALLBACKS[form]
    return fallback()


def _read_returns(client: ExactClient, target: AdminTarget, result: Fetched) -> list[dict[str, Any]]:
    """The window's returns: filtered on ``Created`` by Exact, or all of them windowed here (the fallback)."""
    from exactlink.api.forms import RETURNS_CREATED
    from exactlink.api.odata import datetime_literal, exact_midnight, parse_date

    start = exact_midnight(target.window_start)

    def filtered() -> list[dict[str, Any]]:
        condition = f"Created ge {datetime_literal(target.window_start)}"
        return list(client.get_collection(target.division, RETURNS_PATH, select=return_select(), filter=condition))

    def windowed_here() -> list[dict[str, Any]]:
        rows = client.get_collection(target.division, RETURNS_PATH, select=return_select())
        return [row for row in rows if (parse_date(row.get("Created")) or start) >= start]

    return _with_fallback(target, result, RETURNS_CREATED, filtered, windowed_here)


def _since(timestamp: int | None) -> str:
    return f"Timestamp gt {max(1, timestamp or 1)}L"


def _fetch_vraagposten(client: ExactClient, target: AdminTarget, settings: Settings, result: Fetched) -> None:
    """The vraagposten accounts (chart read only when due) and the lines changed since the cursor."""
    from exactlink.api import forms
    from exactlink.domain.return_records import LedgerLine, sync_timestamp
    from exactlink.domain.vraagposten import select_vraagposten_accounts, vraagposten_accounts_after_changes

    division = target.division
    cursor = target.cursor
    description = settings.returns.vraagposten_description
    codes = cursor.codes if cursor is not None else ()
    chart = target.chart
    if target.check_move:
        _check_move(client, target, result)
        if result.moved:
            chart = "all"  # every Timestamp restarted: the chart's cursor means nothing any more
    if chart != "none":
        since = None if chart == "all" or cursor is None else cursor.gl_timestamp
        accounts = list(
            client.get_collection(
                division, forms.GL_ACCOUNTS_SYNC_PATH, select=GL_ACCOUNT_SELECT + ",Timestamp", filter=_since(since)
            )
        )
        if since is None:
            result.gl_choice = select_vraagposten_accounts(accounts, target.vraagposten_configured, description)
        else:
            assert cursor is not None
            result.gl_choice = vraagposten_accounts_after_changes(
                cursor.accounts, accounts, target.vraagposten_configured, description
            )
        result.gl_timestamp = max([since or 1, *(sync_timestamp(row.get("Timestamp")) for row in accounts)])
        codes = result.gl_choice.codes
    result.vraagposten_codes = tuple(codes)
    if not codes:
        return
    result.lines_from_start = (
        cursor is None or cursor.lines_timestamp is None or set(codes) != set(cursor.codes) or result.moved
    )
    deletions = "all" if result.moved else target.deletions
    if deletions == "all":
        # Deletions before this moment may be unknown: the lines are read from the start after the log's end.
        result.lines_from_start = True
    if deletions != "none":
        _read_deletions(client, target, deletions, result)
    since = None if result.lines_from_start or cursor is None else cursor.lines_timestamp
    rows = client.get_collection(
        division, forms.TRANSACTION_LINES_SYNC_PATH, select=TRANSACTION_LINE_SELECT + ",Timestamp", filter=_since(since)
    )
    wanted = set(codes)
    lines: list[LedgerLine] = []
    newest = since or 1
    for row in rows:
        line = LedgerLine.from_exact(division, row)
        newest = max(newest, line.timestamp)
        if line.gl_account_code in wanted:
            lines.append(line)
        elif not result.lines_from_start:
            result.left_account_ids.append(line.id)  # it may have been on a vraagposten account before
    result.changed_lines = lines
    result.lines_timestamp = newest


def _check_move(client: ExactClient, target: AdminTarget, result: Fetched) -> None:
    """Read the administration's ``DivisionMoveDate`` (one filtered call) and whether it moved since the last check.

    Never checked before but kept lines: a move date means a move the cursors may predate, so it counts as one
    (as for the office mirror).
    """
    from exactlink.api.odata import parse_date

    cursor = target.cursor
    division = target.division
    row = client.get_first(division, DIVISIONS_PATH, select=["Code", "DivisionMoveDate"], filter=f"Code eq {division}")
    moved_at = parse_date(row.get("DivisionMoveDate")) if row is not None else None
    result.move_checked = True
    result.move_date = moved_at.isoformat(timespec="seconds") if moved_at is not None else None
    if cursor is None or cursor.lines_timestamp is None:
        return
    if cursor.move_checked_at:
        result.moved = result.move_date != cursor.move_date
    else:
        result.moved = result.move_date is not None
    if result.moved:
        log.info("administration %s was moved in Exact Online (%s): reading its vraagposten again", division, moved_at)


def _read_deletions(client: ExactClient, target: AdminTarget, deletions: str, result: Fetched) -> None:
    """Read ``sync/Deleted`` from its cursor (``all``: from the start) and keep the transaction lines' keys."""
    from exactlink.domain.return_records import sync_timestamp

    cursor = target.cursor
    since = None if deletions == "all" or cursor is None else cursor.deleted_timestamp
    rows = client.get_collection(target.division, DELETED_PATH, select=DELETED_SELECT, filter=_since(since))
    newest = since or 1
    for row in rows:
        newest = max(newest, sync_timestamp(row.get("Timestamp")))
        if int(row.get("EntityType") or 0) == DELETED_TRANSACTION_LINE and row.get("EntityKey"):
            result.deleted_line_ids.append(str(row["EntityKey"]).lower())
    result.deleted_timestamp = newest


# ---------------------------------------------------------------------------------------------------
# Writing one administration's results (calling thread)


def _exact_calendar_day(moment: datetime | None) -> date | None:
    # Exact sends a due date as its midnight on Amsterdam's clock: the day is read on that clock, not in the
    # office's configured zone (which may differ).
    from exactlink.api.odata import exact_day

    return exact_day(moment) if moment is not None else None


def return_rows(
    target: AdminTarget, records: Iterable[dict[str, Any]], settings: Settings, outcome: AdminOutcome
) -> list[ReturnRecord]:
    """The store records for the returns the settings say to process; counts kinds on ``outcome``."""
    from exactlink.api.models import Return
    from exactlink.domain.return_records import ReturnRecord
    from exactlink.domain.returns import ReturnKind, is_processed_by_settings, return_kind_of

    rows = []
    for record in records:
        kind = return_kind_of(record)
        parsed = Return.parse(record)
        if kind is ReturnKind.UNKNOWN or not parsed.DocumentID or parsed.Type is None:
            outcome.unknown += 1
            continue
        if not is_processed_by_settings(kind, settings.returns.process_vat, settings.returns.process_payroll):
            outcome.skipped_by_settings[kind.value] += 1
            continue
        outcome.kept[kind.value] += 1
        rows.append(
            ReturnRecord(
                document_id=str(parsed.DocumentID).lower(),
                request_id=parsed.Request,
                division=target.division,
                relation_number=target.relation_number,
                type=parsed.Type,
                kind=kind.value,
                status=parsed.Status,
                year=parsed.Year,
                period=parsed.Period,
                frequency=parsed.Frequency,
                period_description=parsed.PeriodDescription,
                amount=parsed.Amount,
                currency=parsed.Currency,
                due_date=_exact_calendar_day(parsed.DueDate),
                created=parsed.Created.isoformat(timespec="seconds") if parsed.Created else None,
                description=parsed.Description,
                view_url=record.get("DocumentViewUrl"),
            )
        )
    return rows


def vraagpost_rows(target: AdminTarget, lines: Iterable[dict[str, Any]]) -> list[VraagpostRecord]:
    """The open vraagposten (see ``vraagposten_overview``) of the lines on the vraagposten accounts."""
    from exactlink.domain.return_records import VraagpostRecord
    from exactlink.domain.vraagposten import vraagposten_overview

    lines = list(lines)
    statuses = {str(line.get("ID") or "").lower(): line.get("Status") for line in lines}
    overview = vraagposten_overview(lines)
    return [
        VraagpostRecord(
            id=str(line.id).lower(),
            relation_number=target.relation_number,
            gl_account_code=line.gl_account_code,
            date=line.day,
            amount=float(line.amount),
            description=line.description,
            entry_number=line.entry_number,
            status=statuses.get(str(line.id or "").lower()),
        )
        for line in overview.open_lines
        if line.id
    ]


def _preview_counts(db: sqlite_utils.Database, rows: list[ReturnRecord], outcome: AdminOutcome) -> None:
    """For a dry run: how the rows compare with the mirror, without writing."""
    from exactlink.store.returns import RETURN_COLUMNS, get_return

    for row in rows:
        stored = get_return(db, row.document_id)
        if stored is None:
            outcome.new += 1
            continue
        if any(getattr(stored.exact, name) != getattr(row, name) for name in RETURN_COLUMNS):
            outcome.changed += 1
        else:
            outcome.unchanged += 1


def _lines_after(db: sqlite_utils.Database, target: AdminTarget, fetched: Fetched) -> list[LedgerLine]:
    """Every line on the vraagposten accounts once this run's changes are applied (in memory)."""
    from exactlink.store.vraagposten_cursors import ledger_lines

    deleted = set(fetched.deleted_line_ids)
    changed = [line for line in fetched.changed_lines or [] if line.id not in deleted]
    if fetched.lines_from_start:
        return changed
    gone = set(fetched.left_account_ids) | deleted | {line.id for line in changed}
    return [line for line in ledger_lines(db, target.division) if line.id not in gone] + changed


def _lines_changed(db: sqlite_utils.Database, target: AdminTarget, fetched: Fetched) -> bool:
    """Whether the lines on the vraagposten accounts differ from the kept ones (lines changed on other accounts,
    the usual case, do not count unless they were on a vraagposten account before)."""
    from exactlink.store.vraagposten_cursors import count_kept_lines

    if fetched.lines_from_start or fetched.changed_lines:
        return True
    gone = fetched.left_account_ids + fetched.deleted_line_ids
    return bool(gone) and count_kept_lines(db, target.division, gone) > 0


def store_administration(
    db: sqlite_utils.Database,
    target: AdminTarget,
    fetched: Fetched,
    settings: Settings,
    today: date,
    *,
    now: datetime,
    dry_run: bool = False,
) -> AdminOutcome:
    """Write one administration's results in one transaction, dated ``now`` (nothing in a dry run), and explain
    them.

    When no vraagposten line changed since the cursor, the open items are not worked out again: the ones
    stored stand, and the write is a handful of batched statements.
    """
    from exactlink.store.admin import update_administration_state
    from exactlink.store.db import stored_at, transaction
    from exactlink.store.links import mark_backlog_fetched
    from exactlink.store.returns import count_open_vraagposten, upsert_returns, upsert_vraagposten
    from exactlink.store.vraagposten_cursors import apply_ledger_changes, save_cursor

    stamp = stored_at(now)
    outcome = AdminOutcome(
        target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
    )
    outcome.fetched = len(fetched.returns)
    rows = return_rows(target, fetched.returns, settings, outcome)
    lines_read = fetched.changed_lines is not None
    open_rows: list[VraagpostRecord] | None = None
    if lines_read and _lines_changed(db, target, fetched):
        open_rows = vraagpost_rows(target, (line.as_exact() for line in _lines_after(db, target, fetched)))
        outcome.vraagposten_open = len(open_rows)
    elif lines_read:
        outcome.vraagposten_open = count_open_vraagposten(db, target.division)
    elif fetched.gl_choice is not None and not fetched.vraagposten_codes:
        open_rows = []  # no vraagposten account (any more): nothing is open
        outcome.vraagposten_open = 0
    outcome.vraagposten_accounts = fetched.vraagposten_codes
    if fetched.gl_choice is not None:
        outcome.vraagposten_note = fetched.gl_choice.problem()
    if fetched.vraagposten_error:
        outcome.error = f"vraagposten could not be read: {fetched.vraagposten_error}"
    explain_outcome(
        outcome,
        returns_processed=settings.returns.process_vat or settings.returns.process_payroll,
        relation_linked=target.relation_linked,
        today=today,
        had_older_returns=target.had_older_returns,
    )
    if dry_run:
        _preview_counts(db, rows, outcome)
        return outcome
    with transaction(db):
        counts = upsert_returns(db, rows, now=now)
        outcome.new, outcome.changed, outcome.unchanged = counts.new, counts.changed, counts.unchanged
        if lines_read:
            deleted = set(fetched.deleted_line_ids)
            apply_ledger_changes(
                db,
                target.division,
                [line for line in fetched.changed_lines or [] if line.id not in deleted],
                fetched.left_account_ids + fetched.deleted_line_ids,
                from_start=fetched.lines_from_start,
            )
        if open_rows is not None:
            outcome.vraagposten_new = upsert_vraagposten(db, target.division, open_rows, now=now, complete=True).new
        _save_vraagposten_cursor(db, target, fetched, stamp, save_cursor)
        info: dict[str, Any] = {
            "last_fetch_at": stamp,
            "last_fetch_note": outcome.empty_reason,
            "last_fetch_error": outcome.error,
            "last_fetch_failed_at": stamp if outcome.error else None,
        }
        if fetched.gl_choice is not None:
            info["vraagposten_codes"] = list(fetched.gl_choice.codes)
        update_administration_state(db, target.division, now=now, **info)
        if fetched.learned:
            remember_forms(db, fetched.learned, now=now)
        if target.first_fetch and fetched.returns_called:
            mark_backlog_fetched(db, target.relation_number, now=now)
            if outcome.kept:
                outcome.backlog = backlog_note(
                    target.relation_number, sum(outcome.kept.values()), settings.returns.window_days
                )
    return outcome


def _save_vraagposten_cursor(
    db: sqlite_utils.Database,
    target: AdminTarget,
    fetched: Fetched,
    stamp: str,
    save: Callable[[sqlite_utils.Database, VraagpostenCursor], None],
) -> None:
    """Move the administration's cursors past what this run read (nothing read: nothing moves)."""
    from dataclasses import replace

    from exactlink.store.vraagposten_cursors import VraagpostenCursor

    lines_read = fetched.changed_lines is not None
    # The deletions cursor and the move date count only together with the lines they were read for: a run that
    # failed before the lines reads the same deletions (and sees the same move) again next time.
    checked = lines_read and (fetched.deleted_timestamp is not None or fetched.move_checked)
    if fetched.gl_choice is None and not lines_read:
        return
    if (
        fetched.gl_choice is None
        and not checked
        and target.cursor is not None
        and fetched.lines_timestamp == target.cursor.lines_timestamp
    ):
        return  # nothing moved: the hourly steady state writes no cursor
    cursor = target.cursor or VraagpostenCursor(target.division)
    if fetched.gl_choice is not None:
        cursor = replace(
            cursor,
            configured=target.vraagposten_configured,
            accounts=fetched.gl_choice.accounts,
            source=fetched.gl_choice.source.value,
            problem=fetched.gl_choice.problem(),
            gl_timestamp=fetched.gl_timestamp,
            gl_checked_at=stamp,
        )
        known = set(target.cursor.codes) if target.cursor is not None else set()
        if not fetched.gl_choice.codes or (not lines_read and set(fetched.gl_choice.codes) != known):
            # A new vraagposten account whose lines were not read: its older lines lie before the lines cursor,
            # so the next run must read from the start (without a chart read, it no longer sees the change).
            cursor = replace(cursor, lines_timestamp=None, lines_read_at=None)
    if lines_read:
        cursor = replace(cursor, lines_timestamp=fetched.lines_timestamp, lines_read_at=stamp)
        if fetched.deleted_timestamp is not None:
            cursor = replace(cursor, deleted_timestamp=fetched.deleted_timestamp, deleted_read_at=stamp)
        if fetched.move_checked:
            cursor = replace(cursor, move_date=fetched.move_date, move_checked_at=stamp)
    save(db, cursor)


def remember_forms(db: sqlite_utils.Database, learned: dict[str, str], *, now: datetime) -> dict[str, str]:
    """Add query forms learned from Exact's refusals (``exactlink.api.forms``) to what is stored; returns all."""
    from exactlink.api.forms import LEARNED_KEY
    from exactlink.store.meta import get_value, set_value

    forms = {**(get_value(db, LEARNED_KEY) or {}), **learned}
    set_value(db, LEARNED_KEY, forms, now=now)
    return forms


# ---------------------------------------------------------------------------------------------------
# The run


class Pace:
    """How many administrations the run works on at once, chosen from the pace measured so far.

    Worker threads report each administration's wall time; ``at_once()`` (asked before each administration
    starts) applies ``exactlink.domain.run_concurrency`` to what remains of the 8 minutes it plans for (of its 10).
    """

    def __init__(self, setting: int | str, planned: int, started: float, clock: Callable[[], float]) -> None:
        self.setting = setting
        self.planned = planned
        self.started = started
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._busy_seconds = 0.0
        self.chosen = 0  # the most administrations at once this run chose

    def finished(self, seconds: float) -> None:
        """One administration's calls took ``seconds``."""
        with self._lock:
            self._done += 1
            self._busy_seconds += seconds

    def at_once(self) -> int:
        """The number of administrations to work on at once from now on."""
        from exactlink.domain.run_concurrency import PLANNED_SECONDS, divisions_at_once

        with self._lock:
            seconds_each = self._busy_seconds / self._done if self._done else None
            number = divisions_at_once(
                self.setting,  # type: ignore[arg-type]
                remaining=self.planned - self._done,
                seconds_each=seconds_each,
                seconds_left=PLANNED_SECONDS - (self._clock() - self.started),
            )
            if number > self.chosen:
                if self.chosen:
                    log.info(
                        "fetch-returns: %d administrations at once (was %d) to finish in time", number, self.chosen
                    )
                self.chosen = number
            return number


def _fetch_all(
    client: ExactClient, targets: list[AdminTarget], settings: Settings, today: date, pace: Pace
) -> Iterator[tuple[AdminTarget, Fetched | None, ExactlinkError | None]]:
    """Fetch every target in worker threads (``exactlink.api.concurrency``); yields in the calling thread."""
    from exactlink.api.concurrency import each_division_done
    from exactlink.domain.run_concurrency import MOST_AT_ONCE

    by_division = {target.division: target for target in targets}

    def work(division: int) -> Fetched:
        started = time.monotonic()
        try:
            return fetch_administration(client, by_division[division], settings, today)
        finally:
            pace.finished(time.monotonic() - started)

    for division, fetched, error in each_division_done(
        list(by_division), work, max_workers=pace.at_once, most=MOST_AT_ONCE
    ):
        yield by_division[division], fetched, error


def _settle(
    db: sqlite_utils.Database,
    target: AdminTarget,
    fetched: Fetched | None,
    error: ExactlinkError | None,
    settings: Settings,
    today: date,
    *,
    dry_run: bool,
    now: datetime,
) -> AdminOutcome:
    """Store one administration's results, or record why it failed."""
    if fetched is not None:
        try:
            return store_administration(db, target, fetched, settings, today, now=now, dry_run=dry_run)
        except ValueError as problem:  # an answer that does not fit Exact's documented fields
            log.warning("administration %s: unreadable answer: %s", target.division, problem)
            error = ExactlinkError(f"Exact Online's answer could not be read ({type(problem).__name__})")
    outcome = AdminOutcome(
        target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
    )
    outcome.error = error.message if error is not None else "unknown failure"
    if not dry_run:
        from exactlink.store.admin import update_administration_state
        from exactlink.store.db import stored_at

        # Kept per administration so the overview page can say which administrations failed, and why.
        update_administration_state(
            db, target.division, now=now, last_fetch_error=outcome.error, last_fetch_failed_at=stored_at(now)
        )
    return outcome


def fetch_returns(
    ws: Workspace,
    *,
    relations: Sequence[str] = (),
    dry_run: bool = False,
    office_hours: bool = False,
    skip_if_locked: bool = False,
    show_progress: bool = True,
) -> FetchReport:
    """Run ``fetch-returns`` (see the module docstring); the report says what happened per administration.

    Raises:
        LockHeld: another run holds the lock (unless ``skip_if_locked``).
        ConfigError: with ``office_hours``: no client id or client secret (checked before the hour is).
        NotConfigured: no office administration chosen.
        NothingToFetch: one of ``relations`` has no linked administration.
        LoginRequired: not logged in, or the login stopped working.
    """
    import time

    from exactlink.domain.schedule import in_office_hours
    from exactlink.services.session import check_ready

    settings = ws.settings
    moment = ws.clock.now()
    schedule = settings.schedule
    if office_hours:
        # A broken set-up must fail at the first cron run, not the next morning at seven.
        check_ready(ws)
    if office_hours and not in_office_hours(moment, schedule.timezone, schedule.first_hour, schedule.last_hour):
        reason = f"outside office hours ({schedule.first_hour:02d}:00–{schedule.last_hour:02d}:59 {schedule.timezone})"
        log.info("fetch-returns skipped: %s", reason)
        return FetchReport(skipped=reason, dry_run=dry_run)
    started = time.monotonic()
    with ws.run(COMMAND, lock=LOCK_NAME, dry_run=dry_run, begin=False, skip_if_locked=skip_if_locked) as run:
        if run.skipped:
            return FetchReport(skipped="another exactlink run holds the returns lock")
        report = _fetch(ws, run, moment, relations=relations, dry_run=dry_run, show_progress=show_progress)
    report.seconds = time.monotonic() - started
    return report


def _fetch(
    ws: Workspace, run: Run, moment: datetime, *, relations: Sequence[str], dry_run: bool, show_progress: bool
) -> FetchReport:
    from zoneinfo import ZoneInfo

    from exactlink.services.tenant import require_office_for

    settings = ws.settings
    today = moment.astimezone(ZoneInfo(settings.schedule.timezone)).date()
    report = FetchReport(dry_run=dry_run, window_days=settings.returns.window_days)
    db = ws.db
    require_office_for(ws)
    targets = plan_targets(db, settings, today, relations=relations, now=moment)
    if not targets:
        report.note = "no client administrations are linked yet: link one with `exactlink link-admin REL DIVISION`"
        return report
    run.begin()
    report.run_id = run.id
    reachable = [target for target in targets if target.relation_linked]
    report.outcomes.extend(
        unlinked_relation_outcome(
            target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
        )
        for target in targets
        if not target.relation_linked
    )
    pace = Pace(settings.exact.max_concurrent_divisions, len(reachable), time.monotonic(), time.monotonic)
    with ws.client() as client, ws.output.progress("Fetching returns", len(reachable), show=show_progress) as advance:
        client.limiter.kind = "hourly"
        for target, fetched, error in _fetch_all(client, reachable, settings, today, pace):
            cpu_before, wall_before = time.thread_time(), time.perf_counter()
            report.outcomes.append(_settle(db, target, fetched, error, settings, today, dry_run=dry_run, now=moment))
            report.write_cpu_seconds += time.thread_time() - cpu_before
            report.write_seconds += time.perf_counter() - wall_before
            advance()
    report.concurrency = {"setting": settings.exact.max_concurrent_divisions, "most_at_once": pace.chosen}
    log.info("fetch-returns: at most %d administrations at once (%s)", pace.chosen, pace.setting)
    report.outcomes.sort(key=lambda outcome: (outcome.relation_number, outcome.division))
    run.finish(report.exit_code, report.summary())
    return report
