"""``exactlink sync``: synchronise the relation data of linked relations (and ``--watch`` for changes)."""

from __future__ import annotations

import typer

from exactlink.cli.layout import WIDE_OPTION


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    direction: str | None = typer.Option(None, "--direction", help="inbound or outbound (default: sync.direction)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the field-level differences; write nothing."),
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron)."),
    relation: list[str] = typer.Option([], "--relation", "-r", help="Only this relation (repeatable)."),
    delete_in_exact: bool = typer.Option(
        False, "--delete-in-exact", help="Outbound: delete addresses and bank accounts that only Exact has."
    ),
    show_bsn: bool = typer.Option(False, "--show-bsn", help="Show BSNs in full (masked by default)."),
    watch: bool = typer.Option(False, "--watch", help="Keep polling Exact Online for changes (inbound)."),
    interval: float | None = typer.Option(
        None, "--interval", help="Minutes between polls (sync.watch_interval_minutes)."
    ),
    max_polls: int | None = typer.Option(None, "--max-polls", min=1, help="Stop watching after N polls."),
) -> None:
    """Synchronise the CRM data of every linked relation in the configured direction.

    Inbound, Exact Online leads and the CRM follows; outbound, the CRM leads and only the changed
    fields are written to Exact Online. Fields: relation number (with sync.numbers_must_match), name,
    OB number, RSIN/BSN, KvK number, phone, website, visit/postal/invoice address, contact persons that
    exist on both sides, bank accounts. A run that stopped half-way is completed by the next one.
    Exit 3 when some relations failed.
    """
    from exactlink.cli import runners

    if watch:
        if dry_run or delete_in_exact:
            from exactlink.errors import UsageError

            raise UsageError("--watch takes no --dry-run or --delete-in-exact")
        code = runners.run_watch_command(
            direction=direction,
            interval=interval,
            max_polls=max_polls,
            json_output=json_output,
            quiet=quiet,
            relations=relation,
        )
    else:
        code = runners.run_sync_command(
            direction=direction,
            dry_run=dry_run,
            json_output=json_output,
            quiet=quiet,
            relations=relation,
            delete_in_exact=delete_in_exact,
            show_bsn=show_bsn,
        )
    if code:
        raise typer.Exit(code)
