"""What ``exactlink schedule`` prints: the crontab line and systemd units for this machine and these settings.

The rules live in :mod:`exactlink.domain.schedule`; this module gathers the facts they need: the office
hours from the settings, the machine's time zone (the one the cron daemon runs in), the absolute path of
the installed ``exactlink`` and ``EXACTLINK_HOME`` when it is set.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exactlink.domain.schedule import (
    FETCH_ARGUMENTS,
    CronPlan,
    SystemdUnits,
    as_zone,
    cron_plan,
    systemd_units,
)
from exactlink.errors import ConfigError
from exactlink.paths import get_paths

if TYPE_CHECKING:
    from exactlink.workspace import Workspace

ETC_TIMEZONE = Path("/etc/timezone")
ETC_LOCALTIME = Path("/etc/localtime")
EXECUTABLE_NAMES = ("exactlink", "exactlink.exe")


@dataclass(frozen=True)
class MachineTimezone:
    """The machine's time zone, and where it was read (``/etc/timezone``, ``/etc/localtime`` or ``TZ``)."""

    name: str
    zone: tzinfo
    source: str


def _zone_from_key(text: str) -> ZoneInfo | None:
    key = text.strip().lstrip(":")
    if "zoneinfo/" in key:
        key = key.rsplit("zoneinfo/", 1)[1]
    if not key:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def detect_machine_timezone(
    *,
    environ: Mapping[str, str] | None = None,
    etc_timezone: Path = ETC_TIMEZONE,
    etc_localtime: Path = ETC_LOCALTIME,
) -> MachineTimezone | None:
    """The zone the cron daemon runs in, or None when it cannot be told.

    Cron uses the system zone, not the user's shell ``TZ``, so the order is: ``/etc/timezone`` (Debian),
    the target of the ``/etc/localtime`` symlink (or the zone data it holds as a plain file), and only
    then ``TZ``.
    """
    try:
        zone = _zone_from_key(etc_timezone.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        zone = None
    if zone is not None:
        return MachineTimezone(zone.key, zone, str(etc_timezone))
    try:
        if etc_localtime.is_symlink():
            zone = _zone_from_key(str(etc_localtime.resolve()))
            if zone is not None:
                return MachineTimezone(zone.key, zone, str(etc_localtime))
        elif etc_localtime.is_file():
            with etc_localtime.open("rb") as handle:
                return MachineTimezone(f"the zone in {etc_localtime}", ZoneInfo.from_file(handle), str(etc_localtime))
    except (OSError, ValueError):
        pass
    tz_variable = (os.environ if environ is None else environ).get("TZ", "")
    zone = _zone_from_key(tz_variable) if tz_variable else None
    if zone is not None:
        return MachineTimezone(zone.key, zone, "TZ")
    return None


def find_executable(
    *,
    argv0: str | None = None,
    python: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """The absolute command that starts exactlink from cron, where PATH is minimal.

    The script that is running now (``sys.argv[0]``) when it is the ``exactlink`` entry point, else the
    one next to this Python (the same virtualenv), else ``exactlink`` on PATH, else ``python -m exactlink``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    python = sys.executable if python is None else python
    started = Path(argv0)
    if started.name in EXECUTABLE_NAMES:
        located = started if os.sep in argv0 else Path(which(argv0) or argv0)
        if located.is_file():
            return [str(located.absolute())]
    for name in EXECUTABLE_NAMES:
        sibling = Path(python).parent / name
        if sibling.is_file():
            return [str(sibling.absolute())]
    on_path = which("exactlink")
    if on_path:
        return [str(Path(on_path).absolute())]
    return [str(Path(python).absolute()), "-m", "exactlink"]


@dataclass(frozen=True)
class SchedulePlan:
    """Everything ``exactlink schedule`` shows."""

    timezone: str
    first_hour: int
    last_hour: int
    machine: MachineTimezone | None
    command: list[str]
    environment: dict[str, str]
    cron: CronPlan
    systemd: SystemdUnits

    def as_json(self, *, cron: bool = True, systemd: bool = True) -> dict[str, Any]:
        """The plan as one JSON-ready document (only the requested parts)."""
        data: dict[str, Any] = {
            "office_hours": {"timezone": self.timezone, "first_hour": self.first_hour, "last_hour": self.last_hour},
            "machine_timezone": (
                {"name": self.machine.name, "source": self.machine.source} if self.machine is not None else None
            ),
            "command": self.command,
            "environment": self.environment,
        }
        if cron:
            data["cron"] = {
                "schedule": self.cron.schedule,
                "line": self.cron.line,
                "machine_keeps_office_time": self.cron.machine_matches,
                "gated_by_office_hours_flag": self.cron.gated_by_tool,
                "flock_line": self.cron.flock_line,
                "cronie_alternative": self.cron.cronie_alternative,
                "crontab": self.cron.render(),
            }
        if systemd:
            data["systemd"] = {
                "service_file": self.systemd.service_file,
                "service": self.systemd.service,
                "timer_file": self.systemd.timer_file,
                "timer": self.systemd.timer,
                "install": list(self.systemd.install),
            }
        return data

    def render(self, *, cron: bool = True, systemd: bool = True) -> str:
        """The text the command prints: the crontab block and/or the systemd units."""
        parts = []
        if cron:
            parts.append(self.cron.render())
        if systemd:
            parts.append(self.systemd.render())
        return "\n".join(parts)


def build_schedule(ws: Workspace, *, report: Path | None = None, report_mode: str | None = None) -> SchedulePlan:
    """The schedule for this machine (:func:`detect_machine_timezone`, :func:`find_executable`) and settings.

    The machine's zone is compared with the office zone as of the workspace clock's now. ``report`` adds
    ``--report FILE`` (absolute: cron starts in $HOME) so each run refreshes the overview page, ``report_mode``
    its ``--report-mode``.

    Raises:
        ConfigError: ``schedule.timezone`` is not a known zone.
    """
    settings = ws.settings.schedule
    try:
        as_zone(settings.timezone)
    except ValueError:
        raise ConfigError(
            f"invalid configuration: schedule.timezone: unknown time zone '{settings.timezone}'"
        ) from None
    machine_zone = detect_machine_timezone()
    argv = [*find_executable(), *FETCH_ARGUMENTS]
    if report is not None:
        argv += ["--report", str(report.expanduser().absolute())]
        if report_mode is not None:
            from exactlink.services.overview import parse_mode

            argv += ["--report-mode", f"0{parse_mode(report_mode):o}"]
    environment: dict[str, str] = {}
    if os.environ.get("EXACTLINK_HOME"):
        # cron starts in $HOME, so a relative EXACTLINK_HOME would point elsewhere
        environment["EXACTLINK_HOME"] = str(Path(os.environ["EXACTLINK_HOME"]).expanduser().absolute())
    cron = cron_plan(
        argv,
        machine_tz=machine_zone.zone if machine_zone else None,
        machine_tz_name=machine_zone.name if machine_zone else None,
        at=ws.clock.now(),
        tz=settings.timezone,
        first_hour=settings.first_hour,
        last_hour=settings.last_hour,
        environment=environment,
        flock_file=str(get_paths().locks_dir / "cron.flock"),
    )
    units = systemd_units(
        argv,
        tz=settings.timezone,
        first_hour=settings.first_hour,
        last_hour=settings.last_hour,
        environment=environment,
    )
    return SchedulePlan(
        timezone=settings.timezone,
        first_hour=settings.first_hour,
        last_hour=settings.last_hour,
        machine=machine_zone,
        command=argv,
        environment=environment,
        cron=cron,
        systemd=units,
    )
