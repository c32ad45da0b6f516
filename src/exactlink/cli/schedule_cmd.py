"""``exactlink schedule``: the crontab line and systemd timer for the hourly office-hours run."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)


def schedule(
    cron: bool = typer.Option(False, "--cron", help="Only the crontab lines."),
    systemd: bool = typer.Option(False, "--systemd", help="Only the systemd service and timer."),
    check: bool = typer.Option(False, "--check", help="Run the crontab line once in an empty environment."),
    write_config: bool = typer.Option(
        False, "--write-config", help="Copy EXACTLINK_* settings to config.toml (the secret to the keyring)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    report: Path | None = typer.Option(None, "--report", help="Each run also refreshes this overview page (HTML)."),
    report_mode: str | None = typer.Option(None, "--report-mode", help="The page's file mode, octal (default 0600)."),
) -> None:
    """Print the crontab line and systemd timer that run fetch-returns hourly in office hours.

    The line sets everything it needs (HOME, EXACTLINK_HOME, LANG, PATH) and runs under `env -i`: the
    settings come from config.toml, the client secret and login from the keyring or the 0600 file.
    It uses the absolute path of exactlink, --office-hours, --skip-if-locked and --quiet.
    With --report FILE each run also refreshes the overview page (see `exactlink report`).
    --check runs it once now and says ok or the first problem (exit 1).

    Install with `crontab -e`; or save the units in ~/.config/systemd/user/, then enable the timer.
    """
    from exactlink.cli.runners import run_schedule_command

    code = run_schedule_command(
        cron=cron,
        systemd=systemd,
        check=check,
        write_config=write_config,
        json_output=json_output,
        report=report,
        report_mode=report_mode,
    )
    raise typer.Exit(code)
