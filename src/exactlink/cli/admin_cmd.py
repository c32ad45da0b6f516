"""``exactlink link-admin``: link client administrations to relations (one, in bulk, suggested), list, unlink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from exactlink.cli import options


class LinkAdminGroup(TyperGroup):
    """``link-admin REL DIVISION`` and ``link-admin --csv FILE`` are short for ``link-admin link …``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["link", *args]
        return super().parse_args(ctx, args)


admin_app = typer.Typer(
    cls=LinkAdminGroup,
    no_args_is_help=True,
    help="Link client administrations to relations: `link-admin REL DIVISION`, `--csv FILE`, suggest, list, unlink.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="link-admin")


@admin_app.command("link")
def link(
    relation: str | None = typer.Argument(None, help="Relation number (already linked with `exactlink match`)."),
    division: str | None = typer.Argument(None, help="The client administration: its code or (part of) its name."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Link in bulk: CSV of relation number, division code."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Link even when Exact names another owner account, or turn the account's external SolutionLink "
        "(books kept in another package) into a link to this administration.",
    ),
    dry_run: bool = options.DRY_RUN,
    wide: bool = options.WIDE,
    json_output: bool = options.JSON,
    encoding: str | None = options.CSV_ENCODING,
    delimiter: str | None = options.CSV_DELIMITER,
) -> None:
    """Link a client administration to a relation (`link-admin REL DIVISION`), or many (`link-admin --csv FILE`).

    Records the link in Exact Online (a SolutionLink in the office administration, reused when it exists)
    and locally, and sets the relation's SBR start date to today − 30 days unless one is set. In bulk every
    row is validated first; bad rows are reported and skipped; exit 3 when some rows failed.
    """
    from exactlink.cli.admin_render import print_link_report, print_link_row
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.domain.privacy import mask_view
    from exactlink.errors import UsageError
    from exactlink.services import admin_links
    from exactlink.services.crm import effective_show_bsn

    ws = workspace()
    show = effective_show_bsn(ws, False)
    if csv_file is not None:
        if relation or division:
            raise UsageError("give either REL DIVISION or --csv FILE, not both")
        csv = {"encoding": encoding, "delimiter": delimiter}
        report = mask_view(admin_links.link_from_csv(ws, csv_file, dry_run=dry_run, force=force, **csv), show_bsn=show)
        emit_json(report.as_json()) if json_output else print_link_report(report)
        raise typer.Exit(report.exit_code)
    if not relation or not division:
        raise UsageError("give REL DIVISION (or --csv FILE)", hint="exactlink link-admin --help")
    row = mask_view(admin_links.link_one(ws, relation, division, dry_run=dry_run, force=force), show_bsn=show)
    emit_json(row.as_json()) if json_output else print_link_row(row)


@admin_app.command("suggest")
def suggest(
    accept: bool = typer.Option(False, "--accept", help="Link every clear suggestion (ambiguous ones are skipped)."),
    csv_out: Path | None = typer.Option(None, "--csv-out", help="Write the clear suggestions as a CSV for --csv."),
    dry_run: bool = options.DRY_RUN,
    wide: bool = options.WIDE,
    json_output: bool = options.JSON,
) -> None:
    """Propose administrations for linked relations from what Exact knows, with the evidence.

    Evidence: a SolutionLink Exact already has, the administration's owner account (Customer), or equal
    KvK / VAT / OB number. Review them, then --accept, or --csv-out FILE, edit it, and `link-admin --csv FILE`.
    """
    from exactlink.cli.admin_render import print_link_report, print_suggestions
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.domain.privacy import mask_view
    from exactlink.services import admin_links
    from exactlink.services.crm import effective_show_bsn

    ws = workspace()
    show = effective_show_bsn(ws, False)
    if csv_out is not None:
        admin_links.check_output_folder(csv_out)  # before any call to Exact
    report = admin_links.suggest_links(ws)
    shown = mask_view(report, show_bsn=show)  # names and evidence; the relation numbers stay as they are
    if csv_out is not None:
        info(f"wrote {admin_links.write_suggestions_csv(shown, csv_out)} suggestions to {csv_out}")
    if accept:
        result = mask_view(admin_links.accept_suggestions(ws, report, dry_run=dry_run), show_bsn=show)
        emit_json(result.as_json()) if json_output else print_link_report(result)
        raise typer.Exit(result.exit_code)
    emit_json(shown.as_json()) if json_output else print_suggestions(shown)


@admin_app.command("list")
def list_links(wide: bool = options.WIDE, json_output: bool = options.JSON) -> None:
    """List the linked client administrations with their SBR start date and last fetch."""
    from exactlink.cli.admin_render import print_admin_list
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.domain.privacy import mask_view
    from exactlink.services.admin_links import list_admin_links_view
    from exactlink.services.crm import effective_show_bsn

    ws = workspace()
    rows = mask_view(list_admin_links_view(ws), show_bsn=effective_show_bsn(ws, False))
    emit_json(rows) if json_output else print_admin_list(rows)


@admin_app.command("unlink")
def unlink(
    relation: str = typer.Argument(..., help="Relation number."),
    dry_run: bool = options.DRY_RUN,
    json_output: bool = options.JSON,
) -> None:
    """Unlink the relation's administration: its SolutionLink in Exact Online is deleted (and checked gone).

    Exact cannot set a SolutionLink inactive through its API. Returns fetched earlier stay in the local mirror.
    """
    from exactlink.cli.admin_render import print_unlink
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.services.admin_links import unlink as unlink_administration

    result = unlink_administration(workspace(), relation, dry_run=dry_run)
    emit_json(result) if json_output else print_unlink(result)


@admin_app.command("vraagposten")
def vraagposten(
    relation: str = typer.Argument(..., help="Relation number."),
    accounts: str | None = typer.Option(None, "--accounts", help="G/L account code(s), comma separated."),
    default: bool = typer.Option(False, "--default", help="Back to the default: accounts named 'vraagpost'."),
    dry_run: bool = options.DRY_RUN,
    json_output: bool = options.JSON,
) -> None:
    """Set the vraagposten (suspense) G/L accounts of the relation's administration.

    By default every G/L account whose description contains 'vraagpost' is used.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.errors import UsageError
    from exactlink.services.admin_links import set_vraagposten_accounts

    if (accounts is None) == (not default):
        raise UsageError("give either --accounts CODES or --default")
    codes = None if default else (accounts or "").split(",")
    result = set_vraagposten_accounts(workspace(), relation, codes, dry_run=dry_run)
    if json_output:
        emit_json(result)
        return
    chosen = ", ".join(result["vraagposten_accounts"]) or "the default (description contains 'vraagpost')"
    would = "would be " if dry_run else ""
    info(f"vraagposten accounts of administration {result['division']}: {would}{chosen}")
