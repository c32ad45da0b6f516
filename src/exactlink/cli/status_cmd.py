"""``exactlink status``: login, token storage, office administration, API budget, last runs."""

from __future__ import annotations

import typer

from exactlink.cli import options


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    json_output: bool = options.JSON,
    verbose: bool = typer.Option(False, "--verbose", help="The API budget of every administration, one per line."),
) -> None:
    """Show who is logged in, where the tokens are, the office administration, API budget and last runs.

    Exits 4 when nobody is logged in (handy for monitoring).
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.layout import print_lines
    from exactlink.cli.status_render import status_lines
    from exactlink.console import emit_json
    from exactlink.exitcodes import ExitCode
    from exactlink.services.status import status_report

    ws = workspace()
    report = status_report(ws)
    if json_output:
        emit_json(report)
    else:
        print_lines(status_lines(report, verbose=verbose, zone=ws.settings.schedule.timezone))
    if not report["logged_in"]:
        raise typer.Exit(int(ExitCode.LOGIN_REQUIRED))
