"""Terminal rendering for the ``crm`` commands (tables and the import report); JSON output needs none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.services.crm import ImportReport

_LIST_LIMIT = 30


def _ellipsis(items: list[str], limit: int = _LIST_LIMIT) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def print_import_report(report: ImportReport) -> None:
    """The import report: counts, changed fields, flagged values with row and column, skipped rows."""
    from rich.markup import escape

    from exactlink.console import out

    console = out()
    counts = report.counts()
    mode = "dry run, nothing written" if report.dry_run else "imported"
    delimiter = report.delimiter if report.delimiter != "\t" else "tab"
    console.print(f"{escape(report.path)} ({report.encoding}, '{delimiter}'): {mode}", highlight=False)
    verb = "would be " if report.dry_run else ""
    console.print(
        f"  {counts['new']} new, {counts['changed']} changed, {counts['unchanged']} unchanged, "
        f"{counts['flagged']} with invalid values ({verb}imported as given, flagged), "
        f"{counts['skipped']} rows skipped",
        highlight=False,
    )
    if report.new:
        console.print(f"New: {escape(_ellipsis(report.new))}", highlight=False)
    if report.changed:
        console.print("Changed:", highlight=False)
        for change in report.changed:
            console.print(f"  {escape(change.relation_number)}: {', '.join(change.changed_fields)}", highlight=False)
    if report.flagged:
        from exactlink.cli.layout import Column, print_table

        rows = [
            [
                str(issue.row),
                issue.relation_number,
                issue.column,
                issue.message if issue.severity == "error" else f"warning: {issue.message}",
            ]
            for issue in report.flagged
        ]
        columns = [Column("row", key=True), Column("relation", key=True), Column("column"), Column("problem")]
        print_table(columns, rows, console=console, title="Flagged values")
    if report.skipped:
        console.print("Skipped rows (not imported):", highlight=False)
        for row, reason in report.skipped:
            console.print(f"  row {row}: {escape(reason)}", highlight=False)
    if report.ignored_columns:
        console.print(f"Ignored columns: {escape(', '.join(report.ignored_columns))}", highlight=False)


def print_relation_list(rows: list[dict[str, Any]]) -> None:
    """``crm list`` as a table."""
    from exactlink.cli.layout import Column, print_table
    from exactlink.console import info

    if not rows:
        info("no relations (import the CRM export with: exactlink crm import FILE)")
        return
    table_rows = []
    for row in rows:
        columns = list(dict.fromkeys(issue["column"] for issue in row["issues"]))
        table_rows.append(
            [
                row["relation"],
                row["name"] or "",
                row["kvk"] or "",
                row["rsin"] or row["bsn"] or "",
                row["account_code"] or "",
                str(row["administration"] or ""),
                f"{len(row['issues'])}: {', '.join(columns)}" if columns else "",
            ]
        )
    print_table(
        [
            Column("relation", key=True),
            Column("name", min_width=14),
            Column("KvK", key=True, drop=2),
            Column("RSIN/BSN", key=True, drop=3),
            Column("account", key=True),
            Column("administration", key=True, drop=1),
            Column("issues", drop=4, fold_into="name", label="issues "),
        ],
        table_rows,
    )


def print_relation(data: dict[str, Any]) -> None:
    """``crm show`` as labelled lines and small tables."""

    from exactlink.cli.layout import print_fields
    from exactlink.console import out

    console = out()

    fields: list[tuple[str, str]] = []

    def line(label: str, value: Any) -> None:
        fields.append((label, "" if value is None else str(value)))

    line("relation", data["relation"])
    for key in ("name", "legal_form", "kvk", "rsin", "bsn", "vat_number", "payroll_tax_number", "phone", "email"):
        line(key.replace("_", " "), data[key])
    line("website", data["website"])
    for address in data["addresses"]:
        text = ", ".join(part for part in (address["street"], address["postcode"], address["city"]) if part)
        line(f"{address['type']} address", f"{text} {address['country'] or ''}".strip())
    for contact in data["contacts"]:
        line("contact", f"{contact['full_name']} {('<' + contact['email'] + '>') if contact['email'] else ''}".strip())
    for bank in data["bank_accounts"]:
        line("IBAN", bank["iban"])
    account = data["account"]
    line(
        "office account",
        f"{account['account_code']} {account['account_name'] or ''} ({account['method']}, {account['linked_by']})"
        if account
        else "not linked (exactlink match)",
    )
    admin = data["administration"]
    line("administration", admin["division"] if admin else "not linked (exactlink link-admin)")
    line("SBR start date", data["sbr_start_date"] or "not set")
    line("returns fetched from", data["returns_window_start"])
    for issue in data["issues"]:
        line("issue", f"{issue['column']}: {issue['message']}")
    print_fields(fields, console=console)
    if data["recent_returns"]:
        from exactlink.cli.layout import Column, print_table
        from exactlink.cli.returns_render import amount_text

        rows = [
            [
                r["kind"],
                str(r["period_description"] or f"{r['year']}-{r['period']}"),
                str(r["status"]),
                amount_text(r["amount"], r["currency"]),
                str(r["due_date"] or ""),
                r["local_status"],
            ]
            for r in data["recent_returns"]
        ]
        columns = [
            Column("kind", key=True),
            Column("period"),
            Column("status", key=True),
            Column("amount", key=True, justify="right"),
            Column("due", key=True),
            Column("local"),
        ]
        print_table(columns, rows, console=console, title="Recent returns")
