"""``exactlink tenant``: list the administrations, choose and show the office administration."""

from __future__ import annotations

import sys

import typer

from exactlink.cli.layout import WIDE_OPTION

tenant_app = typer.Typer(help="List administrations and choose the office administration.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tenant_app, name="tenant")


@tenant_app.command("list")
def tenant_list(
    wide: bool = WIDE_OPTION, json_output: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """List every administration the login sees: practice, main, blocked/archived, not consented."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, out
    from exactlink.services.tenant import list_divisions_with_office

    overview, office = list_divisions_with_office(workspace())
    if json_output:
        emit_json({"office": office, "divisions": [entry.to_json() for entry in overview.divisions]})
        return
    from exactlink.cli.tenant_render import print_divisions

    print_divisions(overview, office)
    if not overview.all_divisions_checked:
        out().print("(system/AllDivisions could not be read: administrations without consent are not shown)")


@tenant_app.command("select")
def tenant_select(
    division: str = typer.Argument(..., help="Code or name of the office administration."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say which administration would be chosen; store nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Choose the office administration (kantooradministratie) by code or name."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, neutralise, out, warn
    from exactlink.services.tenant import resolve_office, save_office, selection_json, selection_message

    entry, warnings = resolve_office(workspace(), division)
    for message in warnings:
        warn(message)
    question = neutralise(f"Use {entry.code} {entry.name} as the office administration?")
    if not (dry_run or yes) and sys.stdin.isatty() and not typer.confirm(question):
        raise typer.Exit(1)
    if not dry_run:
        save_office(workspace(), entry)
    if json_output:
        emit_json(selection_json(entry, warnings, dry_run=dry_run))
    else:
        out().print(selection_message(entry, dry_run=dry_run), highlight=False, markup=False)


@tenant_app.command("show")
def tenant_show(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the chosen office administration."""
    from exactlink.cli.context import workspace
    from exactlink.cli.layout import shown_time
    from exactlink.console import emit_json, out
    from exactlink.services.tenant import office_or_fail

    office = office_or_fail(workspace())
    if json_output:
        emit_json({"division": office.division, "name": office.name, "selected_at": office.selected_at})
        return
    chosen = shown_time(office.selected_at)
    out().print(f"{office.division} {office.name} (chosen {chosen})", highlight=False, markup=False)
