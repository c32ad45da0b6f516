"""Terminal side of ``exactlink sync``: progress bar, the field-level diff table, the summary, watch lines."""

from __future__ import annotations

from collections.abc import Iterator
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
            label = _stage_label(stage)
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield update


# What the office reads while sync refreshes its copy of an entity (not the API's entity names).
STAGE_WORDS = {
    "accounts": "Reading accounts",
    "addresses": "Reading addresses",
    "contacts": "Reading contact persons",
    "bank_accounts": "Reading bank accounts",
    "deleted": "Reading deletions",
}


def _stage_label(stage: str) -> str:
    if stage.startswith("refresh:"):
        entity = stage.split(":", 1)[1]
        return STAGE_WORDS.get(entity, f"Reading {entity.replace('_', ' ')}")
    return "Comparing relations"


def print_report(report: SyncReport, *, show_bsn: bool = False, quiet: bool = False) -> None:
    """The diff table (applied and reported-only differences), failures, what left Exact, and a summary."""
    from rich.markup import escape

    from exactlink.console import out
    from exactlink.domain.privacy import mask_personal
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
            from exactlink.cli.layout import Column, print_table

            rows = []
            for change in changes[:TABLE_LIMIT]:
                data = masked_change(change, show_bsn=show_bsn)
                direction = ARROWS[change.direction] if change.applied else "-"
                cells = [str(data[key] or "") for key in ("relation", "field", "crm_value", "exact_value")]
                rows.append([*cells, direction, str(data["note"] or "")])
            print_table(
                [
                    Column("relation", key=True),
                    Column("field"),
                    Column("CRM"),
                    Column("Exact Online"),
                    Column("direction", drop=2, fold_into="field", label=""),
                    Column("note", drop=1, fold_into="Exact Online", label="note: "),
                ],
                rows,
                console=console,
            )
            if len(changes) > TABLE_LIMIT:
                console.print(_more_line(len(changes) - TABLE_LIMIT, report), highlight=False, markup=False)
    gone = set(report.account_gone)
    failures = [
        result
        for result in report.results
        if result.status == "failed" or (result.status == "skipped" and result.relation not in gone)
    ]
    for result in failures:
        error = mask_personal(result.error, show_bsn=show_bsn) or ""
        console.print(f"{result.status}: relation {escape(result.relation)}: {escape(error)}")
    for line in report.mirror.removed_lines() if report.mirror else []:
        console.print(line, highlight=False)
    if report.account_gone:
        console.print(
            "Account gone in Exact Online (link kept, not synchronised; relink or unlink with exactlink match): "
            + escape(", ".join(report.account_gone)),
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


def _more_line(hidden: int, report: SyncReport) -> str:
    """The line under a cut-off diff table: how many were left out and the command that shows them all."""
    preview = f"exactlink sync --direction {report.direction} --dry-run --json"
    if report.dry_run:
        return f"… and {hidden} more differences: `{preview}` lists them all, `--relation REL` one relation's"
    return f"… and {hidden} more differences, all of them in `--json` (before a run: `{preview}`)"


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
