"""``exactlink match``: link CRM relations to the office administration's accounts (and review, link, unlink)."""

from __future__ import annotations

from pathlib import Path

import typer

from exactlink.cli.layout import WIDE_OPTION

match_app = typer.Typer()

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document on stdout.")
SHOW_BSN_OPTION = typer.Option(False, "--show-bsn", help="Show BSNs in full (masked by default).")
DRY_RUN_OPTION = typer.Option(False, "--dry-run", help="Show what would happen; link nothing.")


def register(app: typer.Typer) -> None:
    app.add_typer(match_app, name="match")


@match_app.callback(invoke_without_command=True)
def match(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Match and report, but link nothing."),
    wide: bool = WIDE_OPTION,
    json_output: bool = JSON_OPTION,
    show_bsn: bool = SHOW_BSN_OPTION,
    show_all: bool = typer.Option(False, "--all", help="Also list relations that were linked before this run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no table; only the counts line."),
) -> None:
    """Refresh the office accounts from Exact Online, match every relation and link what is certain.

    Cascade: RSIN/BSN (also inside an OB or loonheffingen number) → KvK → btw-id → relation number = account
    code (when sync.numbers_must_match is on). A differing identifier is a conflict, never a link. Names and
    addresses only suggest: accept them with `match review`, or link by hand with `match link`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from exactlink.cli.context import workspace
    from exactlink.cli.match_render import mirror_progress, print_match_report
    from exactlink.console import emit_json
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.matching import run_match

    ws = workspace()
    show_bsn = effective_show_bsn(ws, show_bsn)
    with mirror_progress(quiet=quiet or json_output) as progress:
        report = run_match(ws, dry_run=dry_run, progress=progress)
    if json_output:
        emit_json(report.as_json(show_bsn=show_bsn))
    else:
        print_match_report(report, show_bsn=show_bsn, show_all=show_all, quiet=quiet)


@match_app.command("review")
def review(
    accept_all_above: int | None = typer.Option(
        None,
        "--accept-all-above",
        metavar="SCORE",
        min=0,
        max=100,
        help="No questions: accept high-confidence suggestions >= SCORE (0-100).",
    ),
    from_stdin: bool = typer.Option(False, "--stdin", help="Read the answers (a/r/s/q, one per line) from a pipe."),
    json_output: bool = JSON_OPTION,
    show_bsn: bool = SHOW_BSN_OPTION,
) -> None:
    """Walk the suggestions: [a]ccept links the pair, [r]eject never suggests it again, [s]kip, [q]uit.

    Needs a terminal; in scripts use --accept-all-above SCORE (only high-confidence suggestions: same
    postcode and house number, no close second candidate) or feed answers with --stdin. Works on the local
    copy of the accounts: run `exactlink match` first. Exit 3 when an accepted pair could not be linked.
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.match_render import ask_in_terminal, print_review_report, require_interactive
    from exactlink.console import emit_json
    from exactlink.services.crm import effective_show_bsn
    from exactlink.services.matching import review as run_review

    require_interactive(from_stdin or accept_all_above is not None)
    ws = workspace()
    show = effective_show_bsn(ws, show_bsn)
    report = run_review(ws, ask_in_terminal, accept_all_above=accept_all_above, show_bsn=show)
    emit_json(report.as_json()) if json_output else print_review_report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


@match_app.command("link")
def link(
    relation: str | None = typer.Argument(None, help="Relation number."),
    account: str | None = typer.Argument(None, help="Account code (with or without Exact's padding) or name."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Link many: CSV with relation number and account."),
    force: bool = typer.Option(False, "--force", help="Move a link: take the account from another relation."),
    dry_run: bool = DRY_RUN_OPTION,
    wide: bool = WIDE_OPTION,
    json_output: bool = JSON_OPTION,
    delimiter: str | None = typer.Option(None, "--delimiter", help="CSV: ';', ',', '|' or 'tab' (default: sniffed)."),
    encoding: str | None = typer.Option(None, "--encoding", help="CSV file encoding (default UTF-8)."),
) -> None:
    """Link a relation to an office account by hand: `match link REL ACCOUNT`, or many with `--csv FILE`.

    One relation links to one account: an account linked elsewhere is refused unless --force. A name that
    fits several accounts lists them (exit 2). With --csv every row is checked first, a bad row never stops
    the others, and the run exits 3 when some rows failed; --dry-run prints the plan.
    """
    from exactlink.cli.runners import link_bulk, link_single

    if csv_file is not None:
        link_bulk(
            csv_file,
            relation,
            force=force,
            dry_run=dry_run,
            json_output=json_output,
            delimiter=delimiter,
            encoding=encoding,
        )
    else:
        link_single(relation, account, force=force, dry_run=dry_run, json_output=json_output)


@match_app.command("unlink")
def unlink(
    relation: str = typer.Argument(..., help="Relation number."),
    dry_run: bool = DRY_RUN_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove a relation's account link; matching will not propose that pair again (link by hand to undo)."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info
    from exactlink.services.manual_links import unlink as run_unlink

    result = run_unlink(workspace(), relation, dry_run=dry_run)
    if json_output:
        emit_json(result)
    elif not result["unlinked"]:
        info(f"relation {result['relation']} was not linked")
    else:
        verb = "would be unlinked" if dry_run else "unlinked"
        info(f"relation {result['relation']} {verb} from account {result['account_code']}")
