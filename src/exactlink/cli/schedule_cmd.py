"""``exactlink schedule``: the crontab line and systemd timer for the hourly office-hours run."""

from __future__ import annotations

import typer

from exactlink.cli import options


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)


def schedule(
    cron: bool = typer.Option(False, "--cron", help="Only the crontab lines."),
    systemd: bool = typer.Option(False, "--systemd", help="Only the systemd service and timer."),
    json_output: bool = options.JSON,
) -> None:
    """Print the crontab line and systemd timer that run fetch-returns hourly in office hours.

    The crontab line fits this machine's time zone; both use the absolute path of exactlink, --office-hours,
    --skip-if-locked (a run still busy makes the next one skip quietly) and --quiet.

    Install with `crontab -e`; or save the units in ~/.config/systemd/user/, then enable the timer.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, out
    from exactlink.services.schedule_plan import build_schedule

    plan = build_schedule(workspace())
    parts = {"cron": cron or not systemd, "systemd": systemd or not cron}
    if json_output:
        emit_json(plan.as_json(**parts))
        return
    out().print(plan.render(**parts), end="", markup=False, highlight=False, emoji=False)
