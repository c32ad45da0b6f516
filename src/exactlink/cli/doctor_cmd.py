"""``exactlink doctor``: the first command to run against an office's own Exact Online (read-only)."""

from __future__ import annotations

from pathlib import Path

import typer

from exactlink.cli.layout import WIDE_OPTION


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    wide: bool = WIDE_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
    record: Path | None = typer.Option(
        None,
        "--record",
        metavar="DIR",
        help="Save every call and answer in DIR as a cassette, scrubbed of tokens and personal data, to send on.",
    ),
) -> None:
    """Check the set-up against Exact Online: configuration, login, clock, access, and every query form.

    Read-only. Each query exactlink uses is tried once with the smallest page; a form Exact refuses is
    reported with Exact's message and its fallback is tried (at most one failed call per endpoint).
    What works is remembered for the commands. Exits 1 when a check failed or a form has no working fallback.
    """
    from exactlink.cli.context import workspace
    from exactlink.cli.doctor_render import print_doctor_report
    from exactlink.console import emit_json
    from exactlink.exitcodes import ExitCode
    from exactlink.services.doctor import run_doctor

    report = run_doctor(workspace(), record=record)
    if json_output:
        emit_json(report.as_json())
    else:
        print_doctor_report(report)
    if not report.healthy:
        raise typer.Exit(int(ExitCode.ERROR))
