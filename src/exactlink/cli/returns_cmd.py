"""``exactlink fetch-returns``, ``exactlink returns`` and ``exactlink feedback``: tax returns from the clients'
administrations, and reporting their processing back to Exact Online."""

from __future__ import annotations

from pathlib import Path

import typer

from exactlink.cli import options

returns_app = typer.Typer(help="The fetched tax returns: list, show, mark.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("fetch-returns")(fetch_returns)
    app.add_typer(returns_app, name="returns")
    app.command("feedback")(feedback)


def fetch_returns(
    office_hours: bool = typer.Option(False, "--office-hours", help="Do nothing outside the office hours."),
    quiet: bool = options.QUIET,
    skip_if_locked: bool = typer.Option(False, "--skip-if-locked", help="Exit 0 quietly when another run is busy."),
    relation: list[str] | None = options.RELATIONS,
    report_file: Path | None = typer.Option(
        None, "--report", metavar="FILE", help="Refresh the overview page (HTML) after the run."
    ),
    report_mode: str | None = typer.Option(
        None, "--report-mode", metavar="MODE", help="The page's file mode, octal (default 0600)."
    ),
    dry_run: bool = options.DRY_RUN,
    json_output: bool = options.JSON,
) -> None:
    """Fetch the tax returns (last 30 days) and vraagposten of every linked client administration.

    One Returns call per administration, concurrently. Says why an administration yielded nothing.
    Exit 3 when some administrations failed (one line each), 1 when all did, 5 when another run holds
    the lock (0 with --skip-if-locked).
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.returns_render import print_fetch_report
    from exactlink.console import emit_json
    from exactlink.domain.privacy import mask_view
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.overview import parse_mode, write_overview
    from exactlink.services.returns_fetch import fetch_returns as run

    ws = workspace()
    mode = parse_mode(report_mode)  # refused before the run, not after it
    report = run(
        ws,
        relations=relation or (),
        dry_run=dry_run,
        office_hours=office_hours,
        skip_if_locked=skip_if_locked,
        show_progress=not (quiet or json_output),
    )
    shown = mask_view(report.as_json(), show_bsn=effective_show_bsn(ws, False))  # relation and administration names
    emit_json(shown) if json_output else print_fetch_report(report, quiet=quiet)
    if json_output:
        print_fetch_report(report, quiet=True)
    if report_file is not None and not (report.dry_run or report.skipped):
        write_overview(ws, report_file, mode=mode)
    raise typer.Exit(report.exit_code)


@returns_app.command("list")
def returns_list(
    kind: str | None = typer.Option(
        None, "--kind", help="btw, btw_suppletie, icp, loonheffing (loonbelasting) or vraagposten."
    ),
    status: str | None = typer.Option(None, "--status", help="Exact status: number (40) or word (realized)."),
    due_within: int | None = typer.Option(
        None, "--due-within", help="Due within DAYS or overdue (listed first), and still to be done."
    ),
    overdue: bool = typer.Option(False, "--overdue", help="Past the due date and still to be done."),
    relation: list[str] | None = options.RELATIONS,
    ics: Path | None = typer.Option(
        None, "--ics", metavar="FILE", help="Write the open returns' due dates as a calendar (.ics)."
    ),
    mode: str | None = options.FILE_MODE,
    wide: bool = options.WIDE,
    json_output: bool = options.JSON,
) -> None:
    """List the fetched returns: relation, administration, kind, period, amount, due date, status, days left.

    A due date marked * was computed from the period because Exact Online gave none. With --ics FILE the
    listed returns that still need work go to an iCalendar file instead (one all-day event each on its due
    date, the same event on every rewrite): subscribe to it in your agenda. --mode as for `report --html`.
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.returns_render import print_returns_list
    from exactlink.console import emit_json, info
    from exactlink.errors import UsageError
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.returns_view import list_returns_view, parse_status

    ws = workspace()
    if ics is not None:
        from exactlink.services.overview import parse_mode, write_deadline_calendar

        code, file_mode = (parse_status(status) if status else None), parse_mode(mode)
        written = write_deadline_calendar(
            ws, ics, kind=kind, relations=relation or (), status=code, due_within=due_within, overdue=overdue,
            mode=file_mode,
        )  # fmt: skip
        return info(f"wrote {written.items} deadlines to {written.path}")
    if mode is not None:
        raise UsageError("--mode is the mode of the --ics file: give it with --ics FILE")
    rows = list_returns_view(  # masked there, for every caller
        ws, kind=kind, status=status, due_within=due_within, overdue=overdue, relations=relation or (),
        show_bsn=effective_show_bsn(ws, False),
    )  # fmt: skip
    emit_json(rows) if json_output else print_returns_list(rows)


@returns_app.command("show")
def returns_show(
    document_id: str = typer.Argument(..., help="The return's document id."), json_output: bool = options.JSON
) -> None:
    """Show one return with its status history."""
    from exactlink.cli.context import workspace
    from exactlink.cli.returns_render import print_return
    from exactlink.console import emit_json
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.returns_view import show_return

    ws = workspace()
    view = show_return(ws, document_id, show_bsn=effective_show_bsn(ws, False))  # masked there, for every caller
    emit_json(view) if json_output else print_return(view)


@returns_app.command("mark")
def returns_mark(
    document_id: str = typer.Argument(..., help="The return's document id."),
    processed: bool = typer.Option(False, "--processed", help="Processed by the office."),
    rejected: bool = typer.Option(False, "--rejected", help="Rejected by the office."),
    new: bool = typer.Option(False, "--new", help="Back to new (withdraws feedback not yet reported)."),
    dry_run: bool = options.DRY_RUN,
    json_output: bool = options.JSON,
) -> None:
    """Mark a return locally; `feedback --pending` reports it to Exact Online later (nothing is sent now)."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.errors import UsageError
    from exactlink.services.returns_view import mark

    if processed + rejected + new != 1:
        raise UsageError("give exactly one of --processed, --rejected, --new")
    status = "processed" if processed else "rejected" if rejected else "new"
    result = mark(workspace(), document_id, status, dry_run=dry_run)
    would = "would become " if dry_run else ""
    shown = f"{document_id}: {would}{result['local_status']} ({result['feedback_state']})"
    emit_json(result) if json_output else info(shown + (" (dry run: nothing written)" if dry_run else ""))


def feedback(
    document_id: str | None = typer.Argument(None, help="The return's document id."),
    processed: bool = typer.Option(False, "--processed", help="Report the return as processed (status 50)."),
    rejected: bool = typer.Option(False, "--rejected", help="Report the return as rejected (status 5)."),
    pending: bool = typer.Option(False, "--pending", help="Report every return marked locally and not yet reported."),
    retry_refused: bool = typer.Option(
        False, "--retry-refused", help="With --pending: also try again the returns Exact refused before."
    ),
    dry_run: bool = options.DRY_RUN,
    json_output: bool = options.JSON,
) -> None:
    """Report a processed or rejected return back to Exact Online (financial/ProcessReturn).

    `feedback DOC --processed|--rejected` for one return, `feedback --pending` for those marked. Only VAT
    and ICP returns in status 40 (realized) can be reported; payroll returns cannot. A return is never
    reported twice. `--pending` reports everything marked locally; exit 3 when some failed. A return
    Exact refused is held back (shown, not sent) until a fetch sees it change in Exact, or --retry-refused.
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.returns_render import print_feedback
    from exactlink.console import emit_json
    from exactlink.errors import UsageError
    from exactlink.services import feedback as service

    if pending == (document_id is not None) or (document_id is not None and processed == rejected):
        raise UsageError("use `feedback DOC --processed|--rejected` or `feedback --pending`")
    if retry_refused and not pending:
        raise UsageError("--retry-refused goes with --pending")
    ws = workspace()
    if pending:
        report = service.feedback_pending(ws, dry_run=dry_run, retry_refused=retry_refused)
    else:
        outcome = "processed" if processed else "rejected"
        report = service.FeedbackReport([service.feedback_one(ws, str(document_id), outcome, dry_run=dry_run)], dry_run)
    emit_json(report.as_json()) if json_output else print_feedback(report)
    raise typer.Exit(report.exit_code)
