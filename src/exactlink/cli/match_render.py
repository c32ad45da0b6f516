"""Terminal side of the ``match`` commands: progress, tables, the review dialogue, link reports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.manual_links import BulkLinkReport, LinkPlan
    from exactlink.services.matching import Answer, MatchReport, MatchRow, ReviewItem, ReviewReport
    from exactlink.services.office_mirror import Progress

_STATUS_STYLE = {"linked": "green", "suggested": "yellow", "conflict": "red", "unmatched": "dim"}
_ENTITY_WORDS = {
    "accounts": "accounts",
    "addresses": "addresses",
    "contacts": "contact persons",
    "bank_accounts": "bank accounts",
    "deleted": "deletions",
}


@contextmanager
def mirror_progress(*, quiet: bool) -> Iterator[Progress]:
    """A progress line on an interactive stderr while the office accounts are read (nothing otherwise)."""
    from exactlink.console import progress

    bar = progress(quiet=quiet)
    with bar:
        task = bar.add_task("Reading office accounts", total=None)

        def update(entity: str, rows: int) -> None:
            bar.update(task, description=f"Reading {_ENTITY_WORDS.get(entity, entity.replace('_', ' '))}: {rows}")

        yield update


def _detail(row: MatchRow) -> str:
    if row.status == "suggested":
        return f"score {row.score}: {row.why or ''}; {row.reason}".strip("; ")
    return row.reason


def print_match_report(report: MatchReport, *, show_bsn: bool, show_all: bool, quiet: bool) -> None:
    """The counts and, unless quiet, a table of every relation that needs attention or was linked now."""
    from rich.text import Text

    from exactlink.cli.layout import Column, print_table
    from exactlink.console import out, warn
    from exactlink.domain.privacy import mask_view

    console = out()
    counts = report.counts()
    verb = "would be linked now" if report.dry_run else "linked now"
    mirror = report.mirror
    if mirror is not None and not quiet:
        kept = "read from Exact Online (dry run: not kept)" if report.dry_run else "in the local copy of the accounts"
        console.print(
            f"Office administration {report.office_division}: {mirror.calls} API call(s), "
            f"{mirror.changed} change(s) {kept}",
            highlight=False,
        )
    for relation in report.unlinked_by_deletion:
        warn(f"relation {relation} lost its link: its account was deleted in Exact Online")
    if not quiet:
        rows = [row for row in report.rows if show_all or row.status != "linked" or row.new_link]
        rows = mask_view(rows, show_bsn=show_bsn)  # names, reasons and the engine's why
        if rows:
            table_rows: list[list[str | Text]] = []
            for row in rows:
                status = Text(row.status + (" (new)" if row.new_link else ""), style=_STATUS_STYLE[row.status])
                account = " ".join(
                    part for part in (row.account_code, row.account_name and f"({row.account_name})") if part
                )
                method = f"{row.method}: " if row.method and row.status == "linked" else ""
                table_rows.append([row.relation, row.name, status, account, method + _detail(row)])
            columns = [
                Column("relation", key=True),
                Column("name"),
                Column("status"),
                Column("account"),
                Column("on / why", min_width=16),
            ]
            print_table(columns, table_rows, console=console, title="Relations")
    columns = [Column(header, key=True) for header in ("linked", "suggested", "conflict", "unmatched", verb)]
    counted = [str(counts[key]) for key in ("linked", "suggested", "conflict", "unmatched", "new_links")]
    print_table(columns, [counted], console=console, title="Summary")
    if counts["suggested"] and not quiet:
        console.print("Review the suggestions: exactlink match review", highlight=False)


# --------------------------------------------------------------------------------------------------
# review


def require_interactive(scripted: bool) -> None:
    """Refuse the review dialogue without a terminal on stdin (unless answers come from a pipe on purpose)."""
    from exactlink.errors import UsageError

    if not scripted and not sys.stdin.isatty():
        raise UsageError(
            "match review asks questions, but stdin is not a terminal",
            hint="run it in a terminal, use --accept-all-above SCORE, or pipe answers with --stdin",
        )


_ANSWERS: dict[str, Answer] = {
    "a": "accept",
    "accept": "accept",
    "y": "accept",
    "yes": "accept",
    "r": "reject",
    "reject": "reject",
    "n": "reject",
    "no": "reject",
    "s": "skip",
    "skip": "skip",
    "": "skip",
    "q": "quit",
    "quit": "quit",
}


def ask_in_terminal(item: ReviewItem, position: int, total: int) -> Answer:
    """Show both sides of a suggestion on stderr and read the answer from stdin (end of input = quit)."""
    from rich.markup import escape

    from exactlink.cli.layout import Column, print_table
    from exactlink.console import err

    console = err()
    row = item.row
    rows = [
        ["name", item.relation.name, item.account.name],
        ["address", item.relation.address, item.account.address],
    ]
    for label in dict.fromkeys([*item.relation.identifiers, *item.account.identifiers]):
        rows.append([label, item.relation.identifiers.get(label, ""), item.account.identifiers.get(label, "")])
    columns = [Column("", key=True), Column(item.relation.title), Column(item.account.title)]
    title = f"Suggestion {position}/{total}: score {row.score} ({escape(row.why or '')})"
    print_table(columns, rows, console=console, title=title)
    console.print(escape(row.reason), highlight=False)
    while True:
        console.print(escape("[a]ccept, [r]eject, [s]kip, [q]uit? "), end="", highlight=False)
        line = sys.stdin.readline()
        if not line:
            return "quit"
        answer = _ANSWERS.get(line.strip().lower())
        if answer is not None:
            return answer
        console.print("please answer a, r, s or q", highlight=False)


def print_review_report(report: ReviewReport) -> None:
    """What the review decided."""
    from exactlink.console import info, warn

    info(
        f"accepted {len(report.accepted)}, rejected {len(report.rejected)}, skipped {len(report.skipped)}"
        + (f", {report.remaining} left for later" if report.remaining else "")
    )
    for row, error in report.failed:
        warn(f"relation {row.relation} ↔ account {row.account_code}: not linked: {error}")


# --------------------------------------------------------------------------------------------------
# link


def print_candidates(candidates: list[dict[str, object]]) -> None:
    """The accounts an ambiguous name could mean (stderr)."""
    from exactlink.cli.layout import Column, print_table
    from exactlink.console import err

    rows = [[str(candidate.get(key) or "") for key in ("account_code", "name", "city")] for candidate in candidates]
    print_table([Column("code", key=True), Column("name"), Column("city")], rows, console=err(), title="Candidates")


def plan_text(plan: LinkPlan, dry_run: bool) -> str:
    target = f"account {plan.account_code} ({plan.account_name})"
    if plan.error:
        return f"relation {plan.relation}: {plan.error}"
    if plan.action == "unchanged":
        return f"relation {plan.relation} is already linked to {target}"
    verb = "would be linked" if dry_run else "linked"
    extra = []
    if plan.replaces:
        extra.append(f"instead of account {plan.replaces}")
    if plan.takes_from:
        extra.append(f"taken from relation {plan.takes_from}")
    return f"relation {plan.relation} {verb} to {target}" + (f" ({'; '.join(extra)})" if extra else "")


def print_bulk_report(report: BulkLinkReport) -> None:
    """One line per row, then the counts."""
    from rich.markup import escape
    from rich.text import Text

    from exactlink.cli.layout import Column, print_table
    from exactlink.console import out

    console = out()
    title = f"{report.path}: " + ("plan (dry run, nothing linked)" if report.dry_run else "links")
    rows = [
        [
            str(plan.row or ""),
            plan.relation,
            plan.account_code or plan.account_query,
            Text(plan.error, style="red") if plan.error else plan.action,
        ]
        for plan in report.plans
    ]
    columns = [Column("row", key=True), Column("relation", key=True), Column("account", key=True), Column("outcome")]
    print_table(columns, rows, console=console, title=escape(title))
    counts = report.counts()
    console.print(", ".join(f"{key} {value}" for key, value in counts.items()), highlight=False)
