"""Terminal rendering for ``link-admin`` (link reports, suggestions, the list); JSON output needs none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.services.admin_links import LinkReport, LinkRow, SuggestReport


def print_link_row(row: LinkRow, window_days: int = 30) -> None:
    """One successful link (or its dry-run plan), with the SBR start date and the backlog note."""
    from exactlink.console import info, out
    from exactlink.domain.returns import backlog_explanation

    out().print(row.message, highlight=False, markup=False)
    if row.solution_link:
        verb = "would " + row.solution_link if row.status == "planned" else row.solution_link
        info(f"SolutionLink in Exact Online: {verb}" + (f" ({row.solution_link_id})" if row.solution_link_id else ""))
    if row.sbr_start_date and row.status in ("planned", "linked"):
        if row.sbr_start_set:
            verb = "would be set" if row.status == "planned" else "set"
            info(f"SBR start date {verb} to {row.sbr_start_date} (today − {window_days} days)")
        else:
            info(f"SBR start date kept at {row.sbr_start_date}")
    if row.status == "linked":
        info("note: " + backlog_explanation(row.relation_number, window_days))


def print_unlink(result: dict[str, Any]) -> None:
    """What ``link-admin unlink`` did (or would do) locally and to the SolutionLink in Exact Online."""
    from exactlink.console import info

    dry_run = result["dry_run"]
    verb = "would unlink" if dry_run else "unlinked"
    link = result["solution_link_id"]
    if link is None:
        exact = "Exact Online has no SolutionLink for it to delete"
    else:
        exact = f"SolutionLink {link} {'would be' if dry_run else 'is'} deleted in Exact Online"
    info(f"{verb} administration {result['division']} from relation {result['relation']}; {exact}")


def print_link_report(report: LinkReport) -> None:
    """The per-row report of a bulk link (``--csv``, ``suggest --accept``)."""
    from exactlink.cli.layout import Column, print_table
    from exactlink.console import err

    rows = [
        [
            str(row.row or ""),
            row.relation_number,
            f"{row.division.code} {row.division.name}" if row.division else row.selector,
            row.status,
            row.solution_link or "",
            row.message + (f" ({row.hint})" if row.hint else ""),
        ]
        for row in report.rows
    ]
    columns = [
        Column("row", key=True, drop=2),
        Column("relation", key=True),
        Column("administration"),
        Column("status"),
        Column("SolutionLink", drop=1, fold_into="status", label=""),
        Column("message", min_width=16),
    ]
    print_table(columns, rows)
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts().items()))
    mode = " (dry run, nothing written)" if report.dry_run else ""
    err().print(f"{len(report.rows)} rows: {counts}{mode}", highlight=False, markup=False)


def print_suggestions(report: SuggestReport) -> None:
    """Suggested links with their evidence; ambiguous ones separately."""
    from exactlink.cli.layout import Column, print_table
    from exactlink.console import info

    if not report.suggestions:
        info("no suggestions: every linked relation has an administration, or Exact knows no match")
        return
    for title, items in (("Suggested links", report.clear), ("Ambiguous: decide by hand", report.ambiguous)):
        if not items:
            continue
        rows = [
            [
                f"{s.relation_number} {s.relation_name}",
                f"{s.division} {s.division_name}",
                "; ".join(s.evidence) + (f" (competes with {', '.join(s.competitors)})" if s.competitors else ""),
            ]
            for s in items
        ]
        print_table([Column("relation"), Column("administration"), Column("evidence")], rows, title=title)
    info("accept the clear ones with `exactlink link-admin suggest --accept`, or edit them: --csv-out FILE")


def print_admin_list(rows: list[dict[str, Any]]) -> None:
    """``link-admin list`` as a table (moments in the office's zone)."""
    from exactlink.cli.layout import Column, print_table, shown_time
    from exactlink.console import info

    if not rows:
        info("no client administrations are linked yet: exactlink link-admin REL DIVISION")
        return
    table_rows = [
        [
            f"{row['relation']} {row['relation_name'] or ''}".strip(),
            f"{row['division']} {row['division_name'] or ''}".strip(),
            row["sbr_start_date"] or "",
            shown_time(row["linked_at"])[:10],
            shown_time(row["last_fetch_at"]) or "never",
            ", ".join(row["vraagposten_accounts"]),
        ]
        for row in rows
    ]
    columns = [
        Column("relation", min_width=16),
        Column("administration", min_width=14),
        Column("SBR start", key=True),
        Column("linked", key=True, drop=2),
        Column("last fetch", key=True, drop=1),
        Column("vraagposten G/L", drop=3, fold_into="administration", label="vraagposten G/L "),
    ]
    print_table(columns, table_rows)
