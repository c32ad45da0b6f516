"""What ``exactlink schedule`` shows besides the plan itself: the settings cron would miss, what
``--write-config`` wrote, and how ``--check`` went."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.schedule_plan import ScheduleCheck, SchedulePlan, WrittenSettings


def print_missing_settings(plan: SchedulePlan) -> None:
    """Warn (stderr) about settings that live only in this shell's environment, which cron does not have."""
    from exactlink.console import warn
    from exactlink.services.schedule_plan import SECRET_VARIABLE

    if plan.config_complete:
        return
    names = [setting.variable for setting in plan.only_in_environment]
    names += [SECRET_VARIABLE] if plan.secret_in_environment else []
    warn(
        f"cron will not see {', '.join(names)} (set only in this shell). "
        "Run `exactlink schedule --write-config` to write the settings to config.toml "
        "and the client secret to the keyring or the 0600 file."
    )


def print_written(written: WrittenSettings) -> None:
    """Say what ``--write-config`` wrote (stderr)."""
    from exactlink.console import info

    if written.keys:
        info(f"wrote {', '.join(written.keys)} to {written.config_file}")
    else:
        info(f"no EXACTLINK_* settings to write; {written.config_file} is as it was")
    if written.secret_location:
        info(f"stored the client secret in {written.secret_location}")


def print_check(check: ScheduleCheck, *, in_office_hours: bool) -> None:
    """``--check``: ok (stdout), or the first problem as the error line (stderr)."""
    from exactlink.console import emit_text, error_line

    if check.ok:
        done = "fetched the returns" if in_office_hours else "checked configuration and login (outside office hours)"
        emit_text(f"ok: the crontab line ran in an empty environment and {done}, silently\n")
        return
    error_line(
        f"the crontab line failed in an empty environment (exit {check.exit_code}): {check.problem}",
        f"{check.hint}; then run `exactlink schedule --check` again"
        if check.hint
        else "fix that, then run `exactlink schedule --check` again",
    )
