"""Terminal rendering for ``fetch-returns``, ``returns`` and ``feedback``; JSON output needs none of it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.domain.fetch_report import AdminOutcome, FetchReport
    from exactlink.services.feedback import FeedbackReport

_NAMES_SHOWN = 8


def amount_text(value: Any, currency: str | None = None) -> str:
    """An amount as the office reads it: ``€ 1.234,50`` (another currency's code instead of €), "" for none."""
    if value is None:
        return ""
    text = f"{float(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{'€ ' if (currency or 'EUR') == 'EUR' else (currency or '') + ' '}{text}"


def print_fetch_report(report: FetchReport, *, quiet: bool = False) -> None:
    """Totals, the backlog notes, why administrations yielded nothing (grouped), and one line per failure.

    With ``quiet`` only the failure lines are printed (stderr), so cron mails nothing on success. A skipped
    run (outside office hours, or ``--skip-if-locked`` finding another run busy) is silent unless stderr is
    a terminal: cron must not mail a skip, a person at the terminal should see why nothing happened.
    """
    from exactlink.console import err, info, warn

    if report.skipped:
        info(f"skipped: {report.skipped}", quiet=quiet or not err().is_terminal)
    elif report.note:
        info(report.note, quiet=quiet)
    if not report.outcomes:
        return
    if not quiet:
        totals = report.totals()
        mode = " (dry run, nothing written)" if report.dry_run else ""
        by_settings = totals["skipped_by_settings"]
        info(
            f"{totals['administrations']} administrations in {report.seconds:.1f} s{mode}: {totals['fetched']} returns "
            f"in the window, {totals['new']} new, {totals['changed']} changed, {totals['unchanged']} unchanged; "
            + (f"{by_settings} not processed by the settings; " if by_settings else "")
            + f"{totals['vraagposten_open']} open vraagposten ({totals['vraagposten_new']} new)"
        )
        _print_backlog([outcome for outcome in report.outcomes if outcome.backlog], report.window_days)
        for outcome in report.outcomes:
            if outcome.vraagposten_note:
                where = f"administration {outcome.division} (relation {outcome.relation_number})"
                info(f"{where}: {outcome.vraagposten_note}")
        grouped: dict[str, list[str]] = defaultdict(list)
        for outcome in report.outcomes:
            if outcome.note and not outcome.failed:
                generic = outcome.note.replace(outcome.relation_number, "REL")
                grouped[generic].append(outcome.relation_number)
        for note, relations in grouped.items():
            if len(relations) == 1:
                info(f"relation {relations[0]}: {note.replace('REL', relations[0])}")
            else:
                info(f"{len(relations)} relations ({_shown(relations)}): {note}")
    from rich.markup import escape

    for line in report.failure_lines():
        err().print(f"[red]failed:[/red] {escape(line)}", highlight=False)
    if report.failures and not quiet:
        warn(f"{len(report.failures)} of {len(report.outcomes)} administrations failed")


def _shown(relations: list[str]) -> str:
    more = len(relations) - _NAMES_SHOWN
    return ", ".join(relations[:_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _print_backlog(outcomes: list[AdminOutcome], window_days: int) -> None:
    """The first fetch after a new link: one line for one administration, one grouped line for many."""
    from exactlink.console import info
    from exactlink.domain.returns import backlog_explanation

    if len(outcomes) == 1:
        info(f"administration {outcomes[0].division}: {outcomes[0].backlog}")
    elif outcomes:
        count = sum(sum(outcome.kept.values()) for outcome in outcomes)
        relations = _shown([outcome.relation_number for outcome in outcomes])
        info(
            f"{count} returns of {len(outcomes)} newly linked administrations (relations {relations}) arrived at "
            f"once: {backlog_explanation(None, window_days)}"
        )


def print_returns_list(rows: list[dict[str, Any]]) -> None:
    """``returns list`` as a table (vraagposten get their own columns)."""
    from exactlink.console import info

    if not rows:
        info("no returns match (fetch them with `exactlink fetch-returns`)")
        return
    from exactlink.cli.layout import Column, print_table

    if rows[0]["kind"] == "vraagposten":
        print_table(
            [
                Column("relation"),
                Column("administration", drop=2, fold_into="relation", label="administration "),
                Column("date", key=True),
                Column("G/L", key=True, drop=1),
                Column("amount", key=True, justify="right"),
                Column("description"),
            ],
            [
                [
                    f"{row['relation']} {row['relation_name'] or ''}".strip(),
                    _administration(row),
                    str(row["period"] or ""),
                    row["gl_account_code"] or "",
                    amount_text(row["amount"]),
                    row["description"] or "",
                ]
                for row in rows
            ],
        )
        return
    table_rows = []
    for row in rows:
        feedback = "" if row["feedback_state"] in ("none", None) else f" ({row['feedback_state']})"
        due = row["due_date"] or "—"
        if row["due_date_source"] == "computed":
            due += " *"
        table_rows.append(
            [
                row["short_id"],
                f"{row['relation']} {row['relation_name'] or ''}".strip(),
                _administration(row),
                row["kind_label"],
                row["period"],
                amount_text(row["amount"], row["currency"]),
                due,
                _days(row),
                row["exact_status_text"],
                row["local_status"] + feedback,
            ]
        )
    print_table(
        [
            Column("id", key=True),
            Column("relation", min_width=16),
            Column("administration", drop=5, fold_into="relation", label="administration "),
            Column("kind"),
            Column("period", key=True, drop=1, fold_into="kind"),
            Column("amount", key=True, justify="right", drop=2),
            Column("due", key=True),
            Column("days", key=True, justify="right", drop=3, fold_into="due", label="days: "),
            Column("Exact status", drop=4, fold_into="local", label="Exact: "),
            Column("local"),
        ],
        table_rows,
    )
    for row in rows:
        if row["feedback_state"] == "refused":
            info(f"{row['short_id']}: {row['feedback_message'] or 'Exact Online refused the feedback'}")
    info("id: the start of the document id that tells it apart; `returns show`, `returns mark` and `feedback` take it")
    if any(row["due_date_source"] == "computed" for row in rows):
        info("* due date computed from the period (Exact Online gave none)")


def _days(row: dict[str, Any]) -> str:
    """Days to the deadline; a return past it that still needs work says so."""
    days = row["days_to_deadline"]
    if days is None:
        return ""
    return f"{days} overdue" if row.get("overdue") else str(days)


def _administration(row: dict[str, Any]) -> str:
    """The administration's code, and its name when that says more than the relation's name next to it."""
    name = " ".join((row["administration"] or "").split())
    if not name or name.casefold() == " ".join((row["relation_name"] or "").split()).casefold():
        return str(row["division"])
    return f"{row['division']} {name}"


def print_return(view: dict[str, Any]) -> None:
    """``returns show DOC``: the fields, then the status history."""
    from exactlink.cli.layout import print_fields, shown_time
    from exactlink.console import out

    console = out()
    fields = [
        ("document", view["document_id"]),
        ("relation", f"{view['relation']} {view['relation_name'] or ''}".strip()),
        ("administration", f"{view['division']} {view['administration'] or ''}".strip()),
        ("kind", view["kind_label"]),
        ("period", view["period"]),
        ("amount", amount_text(view["amount"], view["currency"])),
        ("due date", f"{view['due_date'] or '—'} ({view['due_date_note'] or 'from Exact Online'})"),
        ("days to deadline", _days(view)),
        ("Exact status", f"{view['exact_status']} {view['exact_status_text']}"),
        ("local status", view["local_status"]),
        ("feedback", _feedback_state(view)),
        ("description", view["description"] or ""),
        ("view in Exact", _view_url(view["view_url"])),
    ]
    print_fields([(name, str(value)) for name, value in fields], console=console, justify="right")
    console.print("   status history:", highlight=False)
    print_fields(
        [
            (f"     {shown_time(entry['seen_at'])}", f"{entry['status']} {entry['status_text']}")
            for entry in view["history"]
        ],
        console=console,
    )


def _view_url(url: str | None) -> str:
    """Exact's link to the document, only when it leads to the site exactlink talks to (a sandbox's data may
    name the real Exact Online)."""
    import httpx

    from exactlink.cli.context import workspace

    if not url:
        return ""
    site = httpx.URL(workspace().settings.exact.effective_base_url)
    try:
        link = httpx.URL(url)
    except httpx.InvalidURL:
        return ""
    return url if (link.scheme, link.host, link.port) == (site.scheme, site.host, site.port) else ""


def _feedback_state(view: dict[str, Any]) -> str:
    """The feedback state with Exact's answer (said once) and, once reported, when."""
    state, message = view["feedback_state"] or "none", view["feedback_message"] or ""
    text = message if message.startswith(state) else f"{state}: {message}" if message else state
    from exactlink.cli.layout import shown_time

    reported = view.get("reported_at")
    return text + (f" (on {shown_time(reported)})" if state == "reported" and reported else "")


def print_feedback(report: FeedbackReport) -> None:
    """One line per reported (or refused) return."""
    from exactlink.console import err, info, out

    if not report.results:
        info("nothing to report: no return is marked processed or rejected and still pending")
    for result in report.results:
        # The message says what happened; the status word is added where it is the news (refused, failed).
        what = result.message if result.ok else f"{result.status}: {result.message}"
        line = f"{result.document_id} (relation {result.relation_number}): {what}"
        if result.ok:
            out().print(line, highlight=False, markup=False)
        else:
            err().print(line, highlight=False, markup=False)
    for held in report.held_back:
        err().print(
            f"{held['document_id']} (relation {held['relation']}): held back, {held['message']}",
            highlight=False,
            markup=False,
        )
