"""``fetch-returns``: the hourly run that brings tax returns and vraagposten from every linked administration.

Per linked administration (run concurrently, ``exact.max_concurrent_divisions`` at a time, each division
paced on its own by the API client):

1. ONE ``read/financial/Returns`` call filtered on ``Created ge <window start>``, the window being the
   later of the relation's SBR start date and today − 30 days (paging through ``__next`` if needed);
   no call at all when the settings process neither VAT nor payroll returns, or the SBR start date
   lies in the future.
2. When vraagposten are processed: the suspense G/L account codes come from the administration's
   configuration, or from a cache of the last ``sync/Financial/GLAccounts`` read (re-read after a week), so
   an hourly run makes just one ``bulk/Financial/TransactionLines`` call filtered on those codes.
   Vraagposten are open items, not returns: the 30-day window does not apply to them.

The Exact calls run in worker threads; the results are written by the calling thread, one transaction
per administration (returns upserted by document id with their status history, vraagposten marked
open/cleared, the G/L choice cached, the first fetch after linking recorded). A run killed half-way
therefore leaves every administration either fully written or untouched, and the next run completes it.

Built for cron: ``office_hours`` first checks that configuration and login are in place (a broken set-up fails
at once, even at night), then skips outside the configured hours before touching anything else; the run
lock (``returns``, shared with ``feedback``) makes a second run exit 5, or skip quietly with
``skip_if_locked``; every run is recorded in the run history.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.domain.vraagposten import VraagpostenAccounts
    from exactlink.settings import Settings
    from exactlink.workspace import Run, Workspace

log = logging.getLogger(__name__)

LOCK_NAME = "returns"
COMMAND = "fetch-returns"
RETURNS_PATH = "read/financial/Returns"
TRANSACTION_LINES_PATH = "bulk/Financial/TransactionLines"
GL_ACCOUNT_SELECT = "ID,Code,Description"
TRANSACTION_LINE_SELECT = "ID,EntryID,EntryNumber,Date,AmountDC,Description,GLAccountCode,LineNumber,Status"
# How long a vraagposten account choice read from financial/GLAccounts is trusted.
VRAAGPOSTEN_RECHECK = timedelta(days=7)


class NothingToFetch(ExactlinkError):
    """``--relation REL`` names a relation whose returns cannot be fetched (the message says why)."""


class _Cancelled(ExactlinkError):
    """The run is being stopped; remaining administrations are not started."""


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
    vraagposten_cached: tuple[str, ...] | None = None
    had_older_returns: bool = False
    forms: dict[str, str] = field(default_factory=dict)  # learned query forms (``exactlink.api.forms``)


@dataclass
class Fetched:
    """What the Exact calls for one administration returned (built in a worker thread; no database)."""

    returns: list[dict[str, Any]] = field(default_factory=list)
    returns_called: bool = False
    gl_choice: VraagpostenAccounts | None = None
    vraagposten_codes: tuple[str, ...] = ()
    vraagposten_lines: list[dict[str, Any]] | None = None
    vraagposten_error: str | None = None
    learned: dict[str, str] = field(default_factory=dict)  # fallbacks this call had to take


@dataclass
class AdminOutcome:
    """What one administration yielded in this run."""

    relation_number: str
    relation_name: str
    division: int
    division_name: str | None
    window_start: date
    fetched: int = 0
    kept: Counter[str] = field(default_factory=Counter)
    skipped_by_settings: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    vraagposten_open: int | None = None
    vraagposten_new: int = 0
    vraagposten_accounts: tuple[str, ...] = ()
    vraagposten_note: str | None = None
    empty_reason: str | None = None
    note: str | None = None
    backlog: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """True when the administration (or its vraagposten) could not be fetched."""
        return self.error is not None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "relation": self.relation_number,
            "relation_name": self.relation_name,
            "division": self.division,
            "division_name": self.division_name,
            "window_start": self.window_start.isoformat(),
            "fetched": self.fetched,
            "kept": dict(self.kept),
            "skipped_by_settings": dict(self.skipped_by_settings),
            "unknown_type": self.unknown,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "vraagposten_open": self.vraagposten_open,
            "vraagposten_new": self.vraagposten_new,
            "vraagposten_accounts": list(self.vraagposten_accounts),
            "vraagposten_note": self.vraagposten_note,
            "empty_reason": self.empty_reason,
            "note": self.note,
            "backlog": self.backlog,
            "error": self.error,
        }


@dataclass
class FetchReport:
    """The outcome of one ``fetch-returns`` run."""

    outcomes: list[AdminOutcome] = field(default_factory=list)
    skipped: str | None = None
    note: str | None = None
    dry_run: bool = False
    run_id: int | None = None
    seconds: float = 0.0
    window_days: int = 30

    @property
    def failures(self) -> list[AdminOutcome]:
        """The administrations that failed."""
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 3 when some administrations failed, 1 when all did."""
        failed = len(self.failures)
        if not failed:
            return 0
        return 1 if failed == len(self.outcomes) else 3

    @property
    def outcome_word(self) -> str:
        """``ok``, ``partial``, ``failed`` or ``skipped`` (for the run history)."""
        if self.skipped:
            return "skipped"
        return {0: "ok", 3: "partial"}.get(self.exit_code, "failed")

    def failure_lines(self) -> list[str]:
        """One line per failed administration."""
        return [
            f"administration {outcome.division} (relation {outcome.relation_number}): {outcome.error}"
            for outcome in self.failures
        ]

    def totals(self) -> dict[str, int]:
        """Counts over all administrations."""
        return {
            "administrations": len(self.outcomes),
            "failed": len(self.failures),
            "fetched": sum(outcome.fetched for outcome in self.outcomes),
            "new": sum(outcome.new for outcome in self.outcomes),
            "changed": sum(outcome.changed for outcome in self.outcomes),
            "unchanged": sum(outcome.unchanged for outcome in self.outcomes),
            "skipped_by_settings": sum(sum(outcome.skipped_by_settings.values()) for outcome in self.outcomes),
            "vraagposten_open": sum(outcome.vraagposten_open or 0 for outcome in self.outcomes),
            "vraagposten_new": sum(outcome.vraagposten_new for outcome in self.outcomes),
        }

    def summary(self) -> dict[str, Any]:
        """What the run history keeps: the totals and the failure lines."""
        return {**self.totals(), "failures": self.failure_lines()[:50], "skipped": self.skipped}

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "dry_run": self.dry_run,
            "skipped": self.skipped,
            "note": self.note,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "totals": self.totals(),
            "administrations": [outcome.as_json() for outcome in self.outcomes],
        }


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan_targets(
    db: sqlite_utils.Database, settings: Settings, today: date, *, relation: str | None = None, now: datetime
) -> list[AdminTarget]:
    """The linked administrations to fetch (only ``relation``'s when given), with their windows.

    Raises:
        NothingToFetch: ``relation`` has no linked administration (the seed's explanation is the message).
    """
    from exactlink.api.forms import LEARNED_KEY
    from exactlink.domain.returns import EmptyReason, explain_empty_fetch, returns_window_start
    from exactlink.services.crm import RelationUnknown
    from exactlink.store.admin import all_admin_info, division_has_returns_before
    from exactlink.store.links import get_link, list_admin_links
    from exactlink.store.meta import get_value
    from exactlink.store.relations import relation_exists

    window_days = settings.returns.window_days
    learned = dict(get_value(db, LEARNED_KEY) or {})
    links = list_admin_links(db)
    if relation is not None:
        links = [row for row in links if row["relation_number"] == relation]
        if not links:
            if not relation_exists(db, relation):
                raise RelationUnknown(
                    f"relation {relation} is not in the local CRM mirror",
                    hint="import the CRM export first: exactlink crm import FILE",
                )
            reason = EmptyReason.NO_LINKED_ADMINISTRATION
            if get_link(db, relation) is None:
                reason = EmptyReason.NO_RELATION_LINK
            raise NothingToFetch(
                f"nothing to fetch for relation {relation}: {explain_empty_fetch(reason, relation=relation)}"
            )
    infos = all_admin_info(db)
    targets = []
    for row in links:
        division = int(row["division"])
        info = infos.get(division, {})
        sbr_start = date.fromisoformat(row["sbr_start_date"]) if row.get("sbr_start_date") else None
        window_start = returns_window_start(today, sbr_start, window_days)
        cached: tuple[str, ...] | None = None
        checked_at = _parse_iso(info.get("vraagposten_checked_at"))
        if checked_at is not None and now - checked_at < VRAAGPOSTEN_RECHECK:
            cached = tuple(info.get("vraagposten_codes") or ())
        targets.append(
            AdminTarget(
                relation_number=row["relation_number"],
                relation_name=row.get("name") or "",
                division=division,
                division_name=info.get("name"),
                relation_linked=get_link(db, row["relation_number"]) is not None,
                window_start=window_start,
                first_fetch=row["backlog_fetched_at"] is None,
                vraagposten_configured=tuple(info.get("vraagposten_configured") or ()),
                vraagposten_cached=cached,
                had_older_returns=division_has_returns_before(db, division, window_start.isoformat()),
                forms=learned,
            )
        )
    return targets


# ---------------------------------------------------------------------------------------------------
# The Exact calls for one administration (worker thread)


def fetch_administration(
    client: ExactClient, target: AdminTarget, settings: Settings, today: date, cancel: threading.Event | None = None
) -> Fetched:
    """Read one administration's returns in the window and, when processed, its vraagposten lines.

    Raises:
        ExactlinkError: the Returns call failed (a vraagposten failure is kept in ``vraagposten_error``).
    """
    from exactlink.api.errors import ApiError
    from exactlink.domain.returns import window_is_closed

    if cancel is not None and cancel.is_set():
        raise _Cancelled("the run was stopped before this administration")
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


def _fetch_vraagposten(client: ExactClient, target: AdminTarget, settings: Settings, result: Fetched) -> None:
    from exactlink.api import forms
    from exactlink.api.odata import string_literal
    from exactlink.domain.vraagposten import select_vraagposten_accounts

    division = target.division
    codes = target.vraagposten_cached
    if codes is None:
        accounts = list(
            client.get_collection(
                division, forms.GL_ACCOUNTS_SYNC_PATH, select=GL_ACCOUNT_SELECT, filter=forms.FROM_THE_START
            )
        )
        result.gl_choice = select_vraagposten_accounts(
            accounts, target.vraagposten_configured, settings.returns.vraagposten_description
        )
        codes = result.gl_choice.codes
    result.vraagposten_codes = tuple(codes)
    if not codes:
        return
    wanted = set(codes)
    condition = " or ".join(f"GLAccountCode eq {string_literal(code)}" for code in codes)
    result.vraagposten_lines = _with_fallback(
        target,
        result,
        forms.LINES_BY_CODE,
        lambda: list(
            client.get_collection(division, TRANSACTION_LINES_PATH, select=TRANSACTION_LINE_SELECT, filter=condition)
        ),
        lambda: [
            line
            for line in client.get_collection(
                division, forms.TRANSACTION_LINES_SYNC_PATH, select=TRANSACTION_LINE_SELECT, filter=forms.FROM_THE_START
            )
            if str(line.get("GLAccountCode") or "").strip() in wanted
        ],
    )


# ---------------------------------------------------------------------------------------------------
# Writing one administration's results (calling thread)


def _exact_calendar_day(moment: datetime | None) -> date | None:
    # Exact sends a due date as its midnight on Amsterdam's clock: the day is read on that clock, not in the
    # office's configured zone (which may differ).
    from exactlink.api.odata import exact_day

    return exact_day(moment) if moment is not None else None


def return_rows(
    target: AdminTarget, records: Iterable[dict[str, Any]], settings: Settings, outcome: AdminOutcome
) -> list[dict[str, Any]]:
    """The store rows for the returns the settings say to process; counts kinds on ``outcome``."""
    from exactlink.api.models import Return
    from exactlink.domain.returns import ReturnKind, is_processed_by_settings, return_kind_of

    rows = []
    for record in records:
        kind = return_kind_of(record)
        parsed = Return.parse(record)
        if kind is ReturnKind.UNKNOWN or not parsed.DocumentID:
            outcome.unknown += 1
            continue
        if not is_processed_by_settings(kind, settings.returns.process_vat, settings.returns.process_payroll):
            outcome.skipped_by_settings[kind.value] += 1
            continue
        outcome.kept[kind.value] += 1
        rows.append(
            {
                "document_id": parsed.DocumentID,
                "request_id": parsed.Request,
                "division": target.division,
                "relation_number": target.relation_number,
                "type": parsed.Type,
                "kind": kind.value,
                "status": parsed.Status,
                "year": parsed.Year,
                "period": parsed.Period,
                "frequency": parsed.Frequency,
                "period_description": parsed.PeriodDescription,
                "amount": parsed.Amount,
                "currency": parsed.Currency,
                "due_date": _exact_calendar_day(parsed.DueDate),
                "created": parsed.Created.isoformat(timespec="seconds") if parsed.Created else None,
                "description": parsed.Description,
                "view_url": record.get("DocumentViewUrl"),
            }
        )
    return rows


def vraagpost_rows(target: AdminTarget, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The open vraagposten (see ``vraagposten_overview``) as store rows."""
    from exactlink.domain.vraagposten import vraagposten_overview

    statuses = {str(line.get("ID") or "").lower(): line.get("Status") for line in lines}
    overview = vraagposten_overview(lines)
    rows = [
        {
            "id": line.id,
            "relation_number": target.relation_number,
            "gl_account_code": line.gl_account_code,
            "date": line.day,
            "amount": float(line.amount),
            "description": line.description,
            "entry_number": line.entry_number,
            "status": statuses.get(str(line.id or "").lower()),
        }
        for line in overview.open_lines
        if line.id
    ]
    return rows


def _preview_counts(db: sqlite_utils.Database, rows: list[dict[str, Any]], outcome: AdminOutcome) -> None:
    """For a dry run: how the rows compare with the mirror, without writing."""
    from exactlink.store.returns import RETURN_COLUMNS, get_return

    for row in rows:
        stored = get_return(db, str(row["document_id"]))
        if stored is None:
            outcome.new += 1
            continue
        values = {name: row[name] for name in RETURN_COLUMNS if name in row}
        values = {name: value.isoformat() if isinstance(value, date) else value for name, value in values.items()}
        if any(stored[name] != value for name, value in values.items()):
            outcome.changed += 1
        else:
            outcome.unchanged += 1


def store_administration(
    db: sqlite_utils.Database,
    target: AdminTarget,
    fetched: Fetched,
    settings: Settings,
    today: date,
    *,
    dry_run: bool = False,
) -> AdminOutcome:
    """Write one administration's results in one transaction (nothing in a dry run) and explain them."""
    from exactlink.domain.returns import backlog_explanation
    from exactlink.store.admin import update_admin_info
    from exactlink.store.db import now_iso, transaction
    from exactlink.store.links import mark_backlog_fetched
    from exactlink.store.returns import upsert_returns, upsert_vraagposten

    outcome = AdminOutcome(
        target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
    )
    outcome.fetched = len(fetched.returns)
    rows = return_rows(target, fetched.returns, settings, outcome)
    open_rows: list[dict[str, Any]] | None = None
    if fetched.vraagposten_lines is not None:
        open_rows = vraagpost_rows(target, fetched.vraagposten_lines)
        outcome.vraagposten_open = len(open_rows)
    outcome.vraagposten_accounts = fetched.vraagposten_codes
    if fetched.gl_choice is not None:
        outcome.vraagposten_note = fetched.gl_choice.problem()
    if fetched.vraagposten_error:
        outcome.error = f"vraagposten could not be read: {fetched.vraagposten_error}"
    _explain(target, settings, today, outcome)
    if dry_run:
        _preview_counts(db, rows, outcome)
        return outcome
    with transaction(db):
        counts = upsert_returns(db, rows)
        outcome.new, outcome.changed, outcome.unchanged = counts.new, counts.changed, counts.unchanged
        if open_rows is not None:
            outcome.vraagposten_new = upsert_vraagposten(db, target.division, open_rows, complete=True).new
        info: dict[str, Any] = {
            "last_fetch_at": now_iso(),
            "last_fetch_note": outcome.empty_reason,
            "last_fetch_error": outcome.error,
            "last_fetch_failed_at": now_iso() if outcome.error else None,
        }
        if fetched.gl_choice is not None:
            info.update(
                vraagposten_codes=list(fetched.gl_choice.codes),
                vraagposten_source=fetched.gl_choice.source.value,
                vraagposten_problem=fetched.gl_choice.problem(),
                vraagposten_checked_at=now_iso(),
            )
        update_admin_info(db, target.division, **info)
        if fetched.learned:
            remember_forms(db, fetched.learned)
        if target.first_fetch and fetched.returns_called:
            mark_backlog_fetched(db, target.relation_number)
            if outcome.kept:
                count = sum(outcome.kept.values())
                outcome.backlog = (
                    f"{count} return{'s' if count != 1 else ''} of relation {target.relation_number} arrived at "
                    "once: " + backlog_explanation(target.relation_number, settings.returns.window_days)
                )
    return outcome


def remember_forms(db: sqlite_utils.Database, learned: dict[str, str]) -> dict[str, str]:
    """Add query forms learned from Exact's refusals (``exactlink.api.forms``) to what is stored; returns all."""
    from exactlink.api.forms import LEARNED_KEY
    from exactlink.store.meta import get_value, set_value

    forms = {**(get_value(db, LEARNED_KEY) or {}), **learned}
    set_value(db, LEARNED_KEY, forms)
    return forms


def _explain(target: AdminTarget, settings: Settings, today: date, outcome: AdminOutcome) -> None:
    """Say why an administration yielded no returns, in the seed's words."""
    from exactlink.domain.returns import diagnose_empty_fetch, explain_empty_fetch

    if not (settings.returns.process_vat or settings.returns.process_payroll):
        outcome.note = "VAT and payroll returns are switched off (returns.process_vat, returns.process_payroll)"
        return
    if outcome.kept:
        return
    if outcome.fetched and not outcome.kept and not outcome.skipped_by_settings:
        outcome.note = (
            f"{outcome.unknown} return(s) found of a type exactlink does not know (not VAT, ICP or payroll); "
            "they were not stored"
        )
        return
    if outcome.fetched and not outcome.kept:
        skipped = ", ".join(f"{count} {kind}" for kind, count in sorted(outcome.skipped_by_settings.items()))
        outcome.note = f"returns found ({skipped}) are not processed: the settings switch that kind off"
        return
    reason = diagnose_empty_fetch(
        relation_linked=target.relation_linked,
        administration_linked=True,
        window_start=target.window_start,
        today=today,
        any_returns_in_administration=True if target.had_older_returns else None,
    )
    outcome.empty_reason = reason.value
    outcome.note = explain_empty_fetch(reason, window_start=target.window_start, relation=target.relation_number)


# ---------------------------------------------------------------------------------------------------
# The run


def _skipped_outcome(target: AdminTarget, today: date) -> AdminOutcome:
    """An administration whose relation lost its account link: nothing is fetched (the seed's FAQ)."""
    from exactlink.domain.returns import EmptyReason, explain_empty_fetch

    outcome = AdminOutcome(
        target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
    )
    outcome.empty_reason = EmptyReason.NO_RELATION_LINK.value
    outcome.note = explain_empty_fetch(EmptyReason.NO_RELATION_LINK, relation=target.relation_number)
    return outcome


def _run_concurrently(
    client: ExactClient,
    targets: list[AdminTarget],
    settings: Settings,
    today: date,
    handle: Callable[[AdminTarget, Fetched | None, ExactlinkError | None], None],
) -> None:
    """Fetch every target in worker threads; ``handle`` runs in this thread as each one finishes."""
    from exactlink.api.concurrency import for_each_division

    by_division = {target.division: target for target in targets}
    done: queue.Queue[tuple[int, Fetched | None, ExactlinkError | None] | None] = queue.Queue()
    cancel = threading.Event()
    failure: list[BaseException] = []

    def work(division: int) -> Fetched:
        return fetch_administration(client, by_division[division], settings, today, cancel)

    def runner() -> None:
        try:
            for_each_division(
                list(by_division),
                work,
                max_workers=settings.exact.max_concurrent_divisions,
                on_done=lambda division, value, error: done.put((division, value, error)),
            )
        except BaseException as exc:  # handed to the calling thread below
            failure.append(exc)
        finally:
            done.put(None)

    thread = threading.Thread(target=runner, name="fetch-returns", daemon=True)
    thread.start()
    try:
        while (item := done.get()) is not None:
            division, value, error = item
            handle(by_division[division], value, error)
    except BaseException:
        cancel.set()
        raise
    finally:
        if cancel.is_set():
            thread.join(timeout=30)
    thread.join()
    if failure:
        raise failure[0]


def _settle(
    db: sqlite_utils.Database,
    target: AdminTarget,
    fetched: Fetched | None,
    error: ExactlinkError | None,
    settings: Settings,
    today: date,
    *,
    dry_run: bool,
) -> AdminOutcome:
    """Store one administration's results, or record why it failed."""
    if fetched is not None:
        try:
            return store_administration(db, target, fetched, settings, today, dry_run=dry_run)
        except ValueError as problem:  # an answer that does not fit Exact's documented fields
            log.warning("administration %s: unreadable answer: %s", target.division, problem)
            error = ExactlinkError(f"Exact Online's answer could not be read ({type(problem).__name__})")
    outcome = AdminOutcome(
        target.relation_number, target.relation_name, target.division, target.division_name, target.window_start
    )
    outcome.error = error.message if error is not None else "unknown failure"
    if not dry_run:
        from exactlink.store.admin import update_admin_info
        from exactlink.store.db import now_iso

        # Kept per administration so the overview page can say which administrations failed, and why.
        update_admin_info(db, target.division, last_fetch_error=outcome.error, last_fetch_failed_at=now_iso())
    return outcome


def fetch_returns(
    ws: Workspace,
    *,
    relation: str | None = None,
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
        NothingToFetch: ``relation`` has no linked administration.
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
        report = _fetch(ws, run, moment, relation=relation, dry_run=dry_run, show_progress=show_progress)
    report.seconds = time.monotonic() - started
    return report


def _fetch(
    ws: Workspace, run: Run, moment: datetime, *, relation: str | None, dry_run: bool, show_progress: bool
) -> FetchReport:
    from zoneinfo import ZoneInfo

    from exactlink.services.tenant import require_office

    settings = ws.settings
    today = moment.astimezone(ZoneInfo(settings.schedule.timezone)).date()
    report = FetchReport(dry_run=dry_run, window_days=settings.returns.window_days)
    db = ws.db
    require_office(db)
    targets = plan_targets(db, settings, today, relation=relation, now=moment)
    if not targets:
        report.note = "no client administrations are linked yet: link one with `exactlink link-admin REL DIVISION`"
        return report
    run.begin()
    report.run_id = run.id
    reachable = [target for target in targets if target.relation_linked]
    report.outcomes.extend(_skipped_outcome(target, today) for target in targets if not target.relation_linked)
    with ws.client() as client, ws.output.progress("Fetching returns", len(reachable), show=show_progress) as advance:

        def handle(target: AdminTarget, fetched: Fetched | None, error: ExactlinkError | None) -> None:
            report.outcomes.append(_settle(db, target, fetched, error, settings, today, dry_run=dry_run))
            advance()

        _run_concurrently(client, reachable, settings, today, handle)
    report.outcomes.sort(key=lambda outcome: (outcome.relation_number, outcome.division))
    run.finish(report.exit_code, report.summary())
    return report
