"""Command runners: the part of a command that is more than Typer glue but is not rendering.

A runner builds the command's workspace, calls the service, and hands the outcome to the command's render
module (``*_render.py``), which only turns facts into text. The Typer command in ``*_cmd.py`` stays thin.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from exactlink.services.sync import SyncReport


def run_sync_command(
    *,
    direction: str | None,
    dry_run: bool,
    json_output: bool,
    quiet: bool,
    relations: Sequence[str],
    delete_in_exact: bool,
    show_bsn: bool,
) -> int:
    """One ``sync`` run: report on stdout (table or JSON), warnings on stderr; returns the exit code."""
    from exactlink.cli.context import workspace
    from exactlink.cli.sync_render import print_report, progress_hook
    from exactlink.console import emit_json, warn
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.sync import run_sync

    ws = workspace()
    with progress_hook(quiet=quiet or json_output) as hook:
        report = run_sync(
            ws,
            direction=direction,
            dry_run=dry_run,
            relations=relations or None,
            delete_in_exact=delete_in_exact,
            progress=hook,
        )
    for line in report.warnings:
        warn(line)
    show = effective_show_bsn(ws, show_bsn)
    if json_output:
        emit_json(report.as_json(show_bsn=show))
    elif not quiet or report.exit_code:
        print_report(report, show_bsn=show, quiet=quiet)
    return report.exit_code


def run_watch_command(
    *,
    direction: str | None,
    interval: float | None,
    max_polls: int | None,
    json_output: bool,
    quiet: bool,
    relations: Sequence[str],
) -> int:
    """``sync --watch``: a line per poll on stderr, the summary on stdout at the end; returns the exit code."""
    from exactlink.cli.context import workspace
    from exactlink.cli.sync_render import print_watch_summary
    from exactlink.console import emit_json, info, warn
    from exactlink.services.sync import watch

    def on_poll(report: SyncReport) -> None:
        for line in report.warnings:
            warn(line)
        counts = report.counts()
        info(
            f"poll: {counts['changed']} relation(s) updated ({counts['fields']} field(s)), "
            f"{counts['failed']} failed, {len(report.unlinked)} unlinked",
            quiet=quiet,
        )

    summary = watch(
        workspace(),
        direction=direction,
        interval_minutes=interval,
        max_polls=max_polls,
        relations=relations or None,
        on_poll=on_poll,
        on_start=lambda: info("watching Exact Online for changes (inbound); Ctrl-C stops", quiet=quiet),
    )
    if json_output:
        emit_json(summary.as_json())
    else:
        print_watch_summary(summary, quiet=quiet)
    return summary.exit_code


def link_single(relation: str | None, account: str | None, *, force: bool, dry_run: bool, json_output: bool) -> None:
    """``match link REL ACCOUNT``: link, print the outcome; an ambiguous name lists the candidates (exit 2)."""
    from exactlink.cli.context import workspace
    from exactlink.cli.match_render import plan_text, print_candidates
    from exactlink.console import emit_json, error_line, info
    from exactlink.domain.privacy import mask_view
    from exactlink.errors import UsageError
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.manual_links import AmbiguousAccount, link_manually

    if not relation or not account:
        raise UsageError("give a relation number and an account (code or name), or --csv FILE")
    ws = workspace()
    show = effective_show_bsn(ws, False)
    try:
        plan = mask_view(link_manually(ws, relation, account, force=force, dry_run=dry_run), show_bsn=show)
    except AmbiguousAccount as exc:
        candidates = mask_view(exc.candidates, show_bsn=show)  # the accounts' names
        if json_output:
            emit_json({"error": exc.message, "candidates": candidates})
        else:
            error_line(exc.message, exc.hint)
            print_candidates(candidates)
        raise typer.Exit(int(exc.exit_code)) from None
    if json_output:
        emit_json({**plan.to_json(), "dry_run": dry_run})
        return
    info(plan_text(plan, dry_run))


def link_bulk(
    csv_file: Path,
    relation: str | None,
    *,
    force: bool,
    dry_run: bool,
    json_output: bool,
    delimiter: str | None,
    encoding: str | None,
) -> None:
    """``match link --csv FILE``: per-row report; exit 3 when some rows failed."""
    from exactlink.cli.context import workspace
    from exactlink.cli.match_render import print_bulk_report
    from exactlink.console import emit_json
    from exactlink.domain.privacy import mask_view
    from exactlink.errors import UsageError
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.manual_links import link_from_csv

    if relation:
        raise UsageError("give either REL ACCOUNT or --csv FILE, not both")
    ws = workspace()
    report = link_from_csv(ws, csv_file, force=force, dry_run=dry_run, delimiter=delimiter, encoding=encoding)
    report = mask_view(report, show_bsn=effective_show_bsn(ws, False))  # account names and queries
    if json_output:
        emit_json(report.as_json())
    else:
        print_bulk_report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def run_schedule_command(
    *,
    cron: bool,
    systemd: bool,
    check: bool,
    write_config: bool,
    json_output: bool,
    report: Path | None = None,
    report_mode: str | None = None,
) -> int:
    """``schedule``: optionally write the environment's settings, then print the plan or check the line."""
    from exactlink.cli.context import workspace
    from exactlink.cli.schedule_render import print_check, print_missing_settings, print_written
    from exactlink.console import emit_json, out
    from exactlink.domain.schedule import in_office_hours
    from exactlink.services.schedule_plan import build_schedule, check_schedule, write_environment_settings

    ws = workspace()
    if write_config:
        print_written(write_environment_settings(ws))
    plan = build_schedule(ws, report=report, report_mode=report_mode)
    if check:
        result = check_schedule(plan, timeout_seconds=ws.settings.runs.max_minutes * 60)
        if json_output:
            emit_json({"ok": result.ok, "exit_code": result.exit_code, "problem": result.problem})
        else:
            hours = ws.settings.schedule
            print_check(result, in_office_hours=in_office_hours(ws.clock.now(), hours.timezone, hours.first_hour,
                                                                 hours.last_hour))  # fmt: skip
        return 0 if result.ok else 1
    parts = {"cron": cron or not systemd, "systemd": systemd or not cron}
    if json_output:
        emit_json(plan.as_json(**parts))
    else:
        out().print(plan.render(**parts), end="", markup=False, highlight=False, emoji=False, soft_wrap=True)
    print_missing_settings(plan)
    return 0
