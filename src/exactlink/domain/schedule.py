"""Office hours and the hourly run: the hour gate, the next run, and the crontab line and systemd timer.

The seed fetches returns "every hour between 7:00 and 20:00": 14 runs a day (07, 08, … 20 inclusive),
in Europe/Amsterdam wall-clock time. Both DST switches (last Sunday of March 02:00→03:00, last Sunday of
October 03:00→02:00) fall outside those hours, so a schedule in local time always gives 14 runs, while a
schedule in UTC drifts by an hour twice a year (domain reference §5).

Hence the crontab line depends on the zone the cron daemon runs in (the machine's zone, not the
user's shell ``TZ``):

- machine on Europe/Amsterdam time (or any zone with the same wall clock): ``0 7-20 * * *``;
- otherwise ``0 * * * *`` and ``fetch-returns --office-hours`` gates each run itself. Debian's cron has
  no ``CRON_TZ``; cronie (RHEL/Fedora) has, and is offered as the alternative.

A systemd timer names the zone itself (``OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam``, systemd ≥ 235),
so it is right on any machine. Every generated command keeps ``--office-hours`` (belt and braces),
``--skip-if-locked`` (a run that finds another one busy, e.g. an interactive run at the top of the hour,
skips quietly and is recorded as skipped instead of mailing an exit-5 error) and ``--quiet`` (cron mails
any output). Nothing here reads the clock, the environment or files: callers pass
``now``, the machine's zone, the executable and the environment.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

OFFICE_TZ = "Europe/Amsterdam"
FIRST_HOUR = 7
LAST_HOUR = 20
# What cron and systemd run: the fetch, gated to office hours, skipping quietly when another run is busy,
# silent on success.
FETCH_ARGUMENTS = ("fetch-returns", "--office-hours", "--skip-if-locked", "--quiet")
UNIT_NAME = "exactlink-fetch"
SYSTEMD_USER_DIR = "~/.config/systemd/user"


def as_zone(tz: str | tzinfo) -> tzinfo:
    """A tzinfo from a zone name (``"Europe/Amsterdam"``) or a tzinfo.

    Raises:
        ValueError: an unknown zone name.
    """
    if not isinstance(tz, str):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone: {tz!r}") from None


def zone_name(tz: str | tzinfo | None) -> str:
    """A zone's display name: its key (``Etc/UTC``), else its ``str()``, ``unknown`` for None."""
    if tz is None:
        return "unknown"
    if isinstance(tz, str):
        return tz
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) and key else str(tz)


def _check_hours(first_hour: int, last_hour: int) -> None:
    for hour in (first_hour, last_hour):
        if not 0 <= hour <= 23:
            raise ValueError(f"an hour is 0 … 23, not {hour}")


def hour_in_window(hour: int, first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR) -> bool:
    """Whether a wall-clock hour is inside ``first_hour … last_hour`` (inclusive; 22 … 5 wraps past midnight)."""
    _check_hours(first_hour, last_hour)
    if first_hour <= last_hour:
        return first_hour <= hour <= last_hour
    return hour >= first_hour or hour <= last_hour


def in_office_hours(
    now: datetime, tz: str | tzinfo = OFFICE_TZ, first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR
) -> bool:
    """Whether ``now`` falls in an office hour: ``first_hour:00`` up to ``last_hour:59`` local time in ``tz``.

    Inclusive hours, for a job started on the hour: with 7 … 20 the 20:00 run counts and 21:00 does not.

    Raises:
        ValueError: ``now`` is naive (without a zone it could be any hour), or an hour is out of range.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return hour_in_window(now.astimezone(as_zone(tz)).hour, first_hour, last_hour)


def _exists(naive_local: datetime, zone: tzinfo) -> bool:
    aware = naive_local.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive_local


def next_run(
    now: datetime, tz: str | tzinfo = OFFICE_TZ, first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR
) -> datetime:
    """The first full office hour strictly after ``now``, as an aware datetime in ``tz``.

    Steps through wall-clock hours, skipping a local hour that does not exist (spring forward) and
    taking the first of a repeated one (autumn), which is what cron does with a local schedule.

    Raises:
        ValueError: ``now`` is naive, or an hour is out of range.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    _check_hours(first_hour, last_hour)
    zone = as_zone(tz)
    candidate = now.astimezone(zone).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    for _ in range(3 * 24):
        candidate += timedelta(hours=1)
        if not hour_in_window(candidate.hour, first_hour, last_hour) or not _exists(candidate, zone):
            continue
        aware = candidate.replace(tzinfo=zone)
        if aware > now:
            return aware
    raise AssertionError("an office hour occurs every day")  # unreachable with valid hours


def runs_on(
    day: date, tz: str | tzinfo = OFFICE_TZ, first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR
) -> list[datetime]:
    """Every run of a local-time hourly schedule on ``day`` (14 for 07 … 20), aware in ``tz``."""
    _check_hours(first_hour, last_hour)
    zone = as_zone(tz)
    runs = []
    for hour in range(24):
        local = datetime.combine(day, time(hour))
        if hour_in_window(hour, first_hour, last_hour) and _exists(local, zone):
            runs.append(local.replace(tzinfo=zone))
    return runs


def hour_ranges(first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR) -> list[tuple[int, int]]:
    """The window as inclusive hour ranges: ``[(7, 20)]``, or ``[(22, 23), (0, 5)]`` past midnight."""
    _check_hours(first_hour, last_hour)
    if first_hour <= last_hour:
        return [(first_hour, last_hour)]
    return [(first_hour, 23), (0, last_hour)]


def cron_hours(first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR) -> str:
    """The hour field of a crontab line: ``7-20``, ``7``, ``22-23,0-5``."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in hour_ranges(first_hour, last_hour))


def systemd_on_calendar(tz: str = OFFICE_TZ, first_hour: int = FIRST_HOUR, last_hour: int = LAST_HOUR) -> list[str]:
    """``OnCalendar=`` values: ``*-*-* 07..20:00:00 Europe/Amsterdam`` (two when the window wraps)."""
    return [f"*-*-* {a:02d}..{b:02d}:00:00 {tz}" for a, b in hour_ranges(first_hour, last_hour)]


def zones_share_wall_clock(zone_a: str | tzinfo, zone_b: str | tzinfo, around: datetime, days: int = 400) -> bool:
    """Whether two zones show the same wall clock at every half hour for ``days`` from ``around``.

    Europe/Berlin or Europe/Paris share Europe/Amsterdam's clock, so a cron daemon in one of those zones
    runs ``0 7-20 * * *`` at the right moments; Europe/London or Etc/UTC do not.
    """
    a, b = as_zone(zone_a), as_zone(zone_b)
    if a is b:
        return True
    start = around.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    step = timedelta(minutes=30)
    for index in range(days * 48):
        instant = start + index * step
        if instant.astimezone(a).utcoffset() != instant.astimezone(b).utcoffset():
            return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Generated lines


_CRON_SAFE = re.compile(r"%")


def _shell_command(command: Sequence[str], environment: Mapping[str, str]) -> str:
    assignments = [f"{name}={shlex.quote(value)}" for name, value in environment.items()]
    return " ".join([*assignments, shlex.join(command)])


COMMENT_WIDTH = 80


def _comment_lines(comments: Sequence[str]) -> list[str]:
    """``# `` comment lines wrapped to 80 columns; an indented one (a command to copy) and the lines to install
    stay whole (cron and systemd take one line each)."""
    import textwrap

    lines = []
    for comment in comments:
        if comment.startswith(" "):  # an indented command to copy: whole
            lines.append(f"# {comment}")
            continue
        wrapped = textwrap.wrap(comment, width=COMMENT_WIDTH - 2, break_long_words=False, break_on_hyphens=False)
        lines += [f"# {line}" for line in wrapped or [""]]
    return lines


def _cron_escape(text: str) -> str:
    # In a crontab command an unescaped % ends the command (the rest becomes stdin).
    return _CRON_SAFE.sub(r"\\%", text)


@dataclass(frozen=True)
class CronPlan:
    """The crontab entry for the hourly run, with the comments that explain it."""

    schedule: str
    line: str
    shell_command: str  # the command part of ``line`` as sh runs it (cron's % escapes undone)
    gated_by_tool: bool
    machine_tz: str
    machine_matches: bool
    comments: tuple[str, ...]
    flock_line: str
    cronie_alternative: str

    def render(self) -> str:
        """The text to put in ``crontab -e``: comments, the commented flock variant, the line."""
        lines = _comment_lines(self.comments)
        lines.append(f"# {self.flock_line}")
        lines.append(self.line)
        return "\n".join(lines) + "\n"


def cron_plan(
    command: Sequence[str],
    *,
    machine_tz: str | tzinfo | None,
    at: datetime,
    tz: str = OFFICE_TZ,
    first_hour: int = FIRST_HOUR,
    last_hour: int = LAST_HOUR,
    environment: Mapping[str, str] | None = None,
    flock_file: str,
    machine_tz_name: str | None = None,
) -> CronPlan:
    """The crontab line for the office-hours run, correct for the zone the cron daemon runs in.

    Args:
        command: the full argv, e.g. ``["/home/me/.venv/bin/exactlink", *FETCH_ARGUMENTS]``.
        machine_tz: the machine's zone (cron uses it); None when it could not be found out.
        at: a moment from which to compare the machine's zone with ``tz`` (normally now).
        tz, first_hour, last_hour: the office hours (settings ``schedule``).
        environment: variables to set on the line (cron starts the command with almost none of its own).
        flock_file: lock file for the optional ``flock -n`` variant. It must not be the file exactlink locks
            itself: both use flock(2), so exactlink would find its own lock taken.
        machine_tz_name: how to name the machine's zone in the comments (default: its key).
    """
    env = dict(environment or {})
    shell_command = _shell_command(command, env)
    shell = _cron_escape(shell_command)
    name = machine_tz_name or zone_name(machine_tz)
    try:
        matches = machine_tz is not None and zones_share_wall_clock(machine_tz, tz, at)
    except ValueError:
        matches = False
    hours = cron_hours(first_hour, last_hour)
    window = f"{first_hour:02d}:00-{last_hour:02d}:00 {tz}"
    local_schedule = f"0 {hours} * * *"
    schedule = local_schedule if matches else "0 * * * *"
    comments = [f"exactlink: fetch tax returns every hour {window}. Install with `crontab -e` and paste these lines."]
    if matches:
        comments.append(f"This machine's zone ({name}) keeps {tz} time, so cron itself runs only in office hours.")
    else:
        why = (
            f"This machine's zone ({name}) does not keep {tz} time"
            if machine_tz is not None
            else "This machine's time zone could not be determined"
        )
        comments += [
            f"{why}: cron starts every hour and `--office-hours` makes exactlink skip runs outside {window}, "
            "right in summer and winter time alike.",
            f"cronie (RHEL/Fedora) alternative: a line CRON_TZ={tz}, then `{local_schedule} ...` (Debian's cron has "
            "no CRON_TZ).",
        ]
    comments += [
        "The line sets what exactlink needs (cron gives it almost no environment): settings come from config.toml, "
        "the login from the keyring or the 0600 file. `exactlink schedule --check` runs it once to be sure.",
        "exactlink takes its own run lock, so a run never overlaps another (--skip-if-locked: a busy lock is a "
        "quiet skip, recorded in `exactlink status`); --quiet prints nothing on success.",
        "Optional belt and braces: the flock(1) variant below (uncomment it instead of the last line).",
    ]
    flock_shell = _cron_escape(_shell_command(["flock", "-n", flock_file, *command], env))
    return CronPlan(
        schedule=schedule,
        line=f"{schedule} {shell}",
        shell_command=shell_command,
        gated_by_tool=not matches,
        machine_tz=name,
        machine_matches=matches,
        comments=tuple(comments),
        flock_line=f"{schedule} {flock_shell}",
        cronie_alternative=f"CRON_TZ={tz}\n{local_schedule} {shell}",
    )


def _systemd_word(argument: str) -> str:
    # ExecStart: % starts a specifier and $ a variable; quote words with blanks, quotes or backslashes.
    escaped = argument.replace("%", "%%").replace("$", "$$")
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_assignment(name: str, value: str) -> str:
    # Environment= resolves % specifiers but not $; quote the whole assignment when it has blanks.
    text = f"{name}={value}".replace("%", "%%")
    if re.search(r"[\s\"\\]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


@dataclass(frozen=True)
class SystemdUnits:
    """A systemd user service + timer pair for the hourly run."""

    service_file: str
    service: str
    timer_file: str
    timer: str
    install: tuple[str, ...] = field(default_factory=tuple)

    def render(self) -> str:
        """Both files with a header naming where each goes, and the install commands as comments."""
        parts = _comment_lines(self.install)
        parts.append(f"\n# --- {SYSTEMD_USER_DIR}/{self.service_file}")
        parts.append(self.service.rstrip("\n"))
        parts.append(f"\n# --- {SYSTEMD_USER_DIR}/{self.timer_file}")
        parts.append(self.timer.rstrip("\n"))
        return "\n".join(parts) + "\n"


def systemd_units(
    command: Sequence[str],
    *,
    tz: str = OFFICE_TZ,
    first_hour: int = FIRST_HOUR,
    last_hour: int = LAST_HOUR,
    environment: Mapping[str, str] | None = None,
    unit_name: str = UNIT_NAME,
) -> SystemdUnits:
    """The service and timer units: ``OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam``, ``Persistent=true``.

    The zone in OnCalendar makes the timer right whatever the machine's zone. ``Persistent=true`` makes
    up a run missed while the machine was off; ``--office-hours`` skips it if that is outside the hours.
    """
    window = f"{first_hour:02d}:00-{last_hour:02d}:00 {tz}"
    service_lines = [
        "[Unit]",
        "Description=exactlink: fetch tax returns from Exact Online",
        "",
        "[Service]",
        "Type=oneshot",
    ]
    service_lines += [f"Environment={_systemd_assignment(k, v)}" for k, v in (environment or {}).items()]
    service_lines.append("ExecStart=" + " ".join(_systemd_word(argument) for argument in command))
    timer_lines = ["[Unit]", f"Description=exactlink: fetch tax returns every hour {window}", "", "[Timer]"]
    timer_lines += [f"OnCalendar={spec}" for spec in systemd_on_calendar(tz, first_hour, last_hour)]
    timer_lines += ["Persistent=true", "", "[Install]", "WantedBy=timers.target"]
    install = (
        f"systemd timer for the hourly run {window} (needs systemd 235 or later for the zone in OnCalendar).",
        f"Save the two files below in {SYSTEMD_USER_DIR}/, then:",
        f"  systemctl --user daemon-reload && systemctl --user enable --now {unit_name}.timer",
        '  loginctl enable-linger "$USER"   # keep running while you are logged out',
        f"Check with: systemctl --user list-timers {unit_name}.timer",
        "A run missed while the machine was off is made up at boot (Persistent=true); exactlink skips it "
        "outside office hours and takes its own run lock, so runs never overlap.",
    )
    return SystemdUnits(
        service_file=f"{unit_name}.service",
        service="\n".join(service_lines) + "\n",
        timer_file=f"{unit_name}.timer",
        timer="\n".join(timer_lines) + "\n",
        install=install,
    )
