"""``exactlink crm``: the local mirror of the office's CRM (import, export, list, show, edit, set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from exactlink.cli.layout import WIDE_OPTION

crm_app = typer.Typer(
    help="The local mirror of the office's CRM: import, export, list, show, edit, set.", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")
SHOW_BSN_OPTION = typer.Option(False, "--show-bsn", help="Show BSNs in full (masked by default).")


def register(app: typer.Typer) -> None:
    app.add_typer(crm_app, name="crm")


@crm_app.command("import")
def crm_import(
    file: Path = typer.Argument(..., help="The CRM export (CSV).", dir_okay=False),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    wide: bool = WIDE_OPTION,
    json_output: bool = JSON_OPTION,
    delimiter: str | None = typer.Option(None, "--delimiter", help="';', ',', '|' or 'tab' (default: sniffed)."),
    encoding: str | None = typer.Option(None, "--encoding", help="File encoding (default UTF-8; e.g. cp1252)."),
    repair_leading_zeros: bool = typer.Option(
        False, "--repair-leading-zeros", help="Restore leading zeros a spreadsheet dropped from BSN/RSIN/KvK."
    ),
) -> None:
    """Import the CRM export (CSV): upsert relations by relation number, flag invalid values.

    Re-importing the same file changes nothing. Invalid identifiers are imported as given and listed
    with row and column. A file that cannot be read changes nothing (exit 1); rows that cannot be
    imported at all (no or a repeated relation number) make the exit code 3.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.services.crm import import_crm

    ws = workspace()
    report = import_crm(
        ws, file, dry_run=dry_run, encoding=encoding, delimiter=delimiter, repair_leading_zeros=repair_leading_zeros
    )
    if json_output:
        emit_json(report.as_json())
    else:
        from exactlink.cli.crm_render import print_import_report

        print_import_report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@crm_app.command("export")
def crm_export(
    file: str = typer.Argument(..., help="Where to write the CSV ('-' for stdout)."),
    delimiter: str = typer.Option(";", "--delimiter", help="';', ',', '|' or 'tab'."),
    show_bsn: bool = SHOW_BSN_OPTION,
    english: bool = typer.Option(False, "--english-headers", help="English column names instead of Dutch."),
) -> None:
    """Export the mirror as CSV (the import format; UTF-8 with BOM, spreadsheet formulas neutralised)."""

    from exactlink.cli.context import workspace
    from exactlink.console import emit_text, info
    from exactlink.services.crm import effective_show_bsn, export_crm

    if not file.strip():
        from exactlink.errors import UsageError

        raise UsageError("give the file to write the CSV to, or '-' for stdout")
    target = None if file == "-" else Path(file)
    ws = workspace()
    show = effective_show_bsn(ws, show_bsn)
    count, text = export_crm(ws, target, delimiter=delimiter, show_bsn=show, english=english)
    if text is not None:
        emit_text(text)
    else:
        info(f"wrote {count} relations to {file}")


@crm_app.command("list")
def crm_list(
    wide: bool = WIDE_OPTION,
    json_output: bool = JSON_OPTION,
    show_bsn: bool = SHOW_BSN_OPTION,
    flagged: bool = typer.Option(False, "--flagged", help="Only relations with invalid or doubtful values."),
    unlinked: bool = typer.Option(False, "--unlinked", help="Only relations not linked to an office account."),
) -> None:
    """List the relations: number, name, KvK, RSIN/BSN (masked), linked account and administration, issues."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.services.crm import effective_show_bsn, list_relations_view

    ws = workspace()
    show = effective_show_bsn(ws, show_bsn)
    rows = list_relations_view(ws, show_bsn=show, flagged=flagged, unlinked=unlinked)  # masked there
    if json_output:
        emit_json(rows)
        return
    from exactlink.cli.crm_render import print_relation_list

    print_relation_list(rows)


@crm_app.command("show")
def crm_show(
    relation: str = typer.Argument(..., help="Relation number."),
    wide: bool = WIDE_OPTION,
    json_output: bool = JSON_OPTION,
    show_bsn: bool = SHOW_BSN_OPTION,
) -> None:
    """Show one relation: fields, addresses, contacts, bank accounts, links, SBR window, issues, recent returns."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.services.crm import effective_show_bsn, show_relation

    ws = workspace()
    show = effective_show_bsn(ws, show_bsn)
    data = show_relation(ws, relation, show_bsn=show)  # masked there
    if json_output:
        emit_json(data)
        return
    from exactlink.cli.crm_render import print_relation

    print_relation(data)


def _field_option(flag: str, what: str) -> Any:
    """A ``crm edit`` field option (typer.Option is typed Any, so the parameter keeps its own type)."""
    return typer.Option(None, flag, help=f"New {what} ('' clears it).")


@crm_app.command("edit")
def crm_edit(
    relation: str = typer.Argument(..., help="Relation number."),
    name: str | None = typer.Option(None, "--name", help="New name."),
    legal_form: str | None = _field_option("--legal-form", "legal form"),
    kvk: str | None = _field_option("--kvk", "KvK number"),
    rsin: str | None = _field_option("--rsin", "RSIN"),
    bsn: str | None = _field_option("--bsn", "BSN"),
    vat_number: str | None = _field_option("--vat-number", "OB number or btw-id"),
    payroll_tax_number: str | None = _field_option("--payroll-tax-number", "loonheffingennummer"),
    phone: str | None = _field_option("--phone", "phone number"),
    email: str | None = _field_option("--email", "e-mail address"),
    website: str | None = _field_option("--website", "website"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and show what would change; write nothing."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Change a relation's own fields by hand: `crm edit 1043 --phone 015-1234567 --kvk 69599084`.

    Values are normalised and checked like an import's; an invalid one is refused (exit 2) and nothing
    changes. With direct synchronisation on (sync.direct) and the direction outbound, the change is
    pushed to Exact Online at once; otherwise the next `exactlink sync` pushes it.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.services.crm import edit_relation

    given = {
        "name": name, "legal_form": legal_form, "kvk": kvk, "rsin": rsin, "bsn": bsn, "vat_number": vat_number,
        "payroll_tax_number": payroll_tax_number, "phone": phone, "email": email, "website": website,
    }  # fmt: skip
    result = edit_relation(workspace(), relation, {k: v for k, v in given.items() if v is not None}, dry_run=dry_run)
    if json_output:
        emit_json(result)
        return
    fields = ", ".join(result["changed"]) or "nothing"
    info(f"{relation}: {fields} {'would change' if dry_run else 'changed'}")
    if "direct_sync" in result:
        info(f"pushed to Exact Online at once ({result['direct_sync']['counts']['write_calls']} call(s))")


@crm_app.command("set")
def crm_set(
    relation: str = typer.Argument(..., help="Relation number."),
    sbr_start: str | None = typer.Option(
        None, "--sbr-start", help="Start of the returns window (YYYY-MM-DD; at most 30 days back)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the SBR start date (the window is the last 30 days)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and show the change; write nothing."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Set a relation's SBR start date: returns are fetched from that date (never more than 30 days back)."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.services.crm import set_sbr_start_date

    result = set_sbr_start_date(workspace(), relation, sbr_start, clear=clear, dry_run=dry_run)
    if json_output:
        emit_json(result)
        return
    verb = "would be" if dry_run else "is"
    state = result["sbr_start_date"] or "not set"
    info(f"{relation}: SBR start date {verb} {state}; returns are fetched from {result['returns_window_start']}")
