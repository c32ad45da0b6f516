"""Terminal side of ``exactlink sync``: progress bar, the field-level diff table, the summary, watch lines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.sync import ProgressHook, SyncReport, WatchSummary

TABLE_LIMIT = 200
ARROWS = {"inbound": "Exact → CRM", "outbound": "CRM → Exact"}


@contextmanager
def progress_hook(*, quiet: bool) -> Iterator[ProgressHook]:
    """A progress callback drawing a Rich bar on an interactive stderr (nothing under cron or ``--quiet``)."""
    from rich.progress import TaskID

    from exactlink.console import progress

    bar = progress(quiet=quiet)
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            label = f"reading {stage.split(':', 1)[1]}" if stage.startswith("refresh:") else "relations"
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


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


def print_report(report: SyncReport, *, show_bsn: bool = False, quiet: bool = False) -> None:
    """The diff table (applied and reported-only differences), failures, unlinked relations and a summary."""
    from rich.markup import escape
    from rich.table import Table

    from exactlink.console import out
    from exactlink.services.sync import masked_change

    console = out()
    mode = "dry run, nothing written" if report.dry_run else "done"
    changes = report.changes()
    if not quiet:
        console.print(
            f"{report.direction} sync ({ARROWS[report.direction]}), office administration {report.division}: {mode}",
            highlight=False,
        )
        if changes:
            table = Table("relation", "field", "CRM", "Exact Online", "direction", "note")
            for change in changes[:TABLE_LIMIT]:
                data = masked_change(change, show_bsn=show_bsn)
                direction = ARROWS[change.direction] if change.applied else "-"
                table.add_row(
                    *(escape(str(data[key] or "")) for key in ("relation", "field", "crm_value", "exact_value")),
                    direction,
                    escape(change.note or ""),
                )
            console.print(table)
            if len(changes) > TABLE_LIMIT:
                console.print(f"… and {len(changes) - TABLE_LIMIT} more differences (see --json)", highlight=False)
    failures = [result for result in report.results if result.status in ("failed", "skipped")]
    for result in failures:
        console.print(f"{result.status}: relation {escape(result.relation)}: {escape(result.error or '')}")
    if report.unlinked:
        console.print(
            "Unlinked (their account was deleted in Exact Online): " + escape(", ".join(report.unlinked)),
            highlight=False,
        )
    counts = report.counts()
    verb = "would change" if report.dry_run else "changed"
    console.print(
        f"{counts['relations']} linked relation(s): {counts['changed']} {verb} ({counts['fields']} field(s)), "
        f"{counts['unchanged']} unchanged, {counts['failed']} failed, {counts['skipped']} skipped; "
        f"calls to Exact Online: {counts['refresh_calls']} to read, "
        f"{counts['write_calls']} to write" + (" (planned)" if report.dry_run else ""),
        highlight=False,
    )


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


def print_watch_summary(summary: WatchSummary, *, quiet: bool = False) -> None:
    """One line: polls, relations and fields updated, failures."""
    from exactlink.console import out

    if quiet and not summary.exit_code:
        return
    stopped = " (stopped with Ctrl-C)" if summary.interrupted else ""
    out().print(
        f"watch{stopped}: {summary.polls} poll(s), {summary.skipped_polls} skipped ({summary.failed_polls} failed), "
        f"{summary.changed_relations} relation update(s) ({summary.fields} field(s)), {summary.failed} failed",
        highlight=False,
    )
