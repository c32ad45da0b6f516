"""What ``exactlink schedule`` prints: the crontab line and systemd units for this machine and these settings.

The rules live in :mod:`exactlink.domain.schedule`; this module gathers the facts they need: the office
hours from the settings, the machine's time zone (the one the cron daemon runs in), the absolute path of
the installed ``exactlink`` and the environment the line sets.

Cron starts a command with next to no environment, so the line carries everything it needs itself:
``HOME``, ``EXACTLINK_HOME`` when it is set, ``LANG`` (UTF-8 output) and a ``PATH`` that holds the
exactlink executable. Everything else comes from ``config.toml`` and the token store: a setting given only
as an ``EXACTLINK_*`` variable in the administrator's shell is not seen by cron, so the plan names those
variables and :func:`write_environment_settings` copies them into ``config.toml`` (the client secret into
the keyring or the 0600 file, never into ``config.toml``). :func:`check_schedule` runs the line once in an
empty environment, as ``env -i`` would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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
from exactlink.paths import get_paths, read_private_file, write_private_atomically

if TYPE_CHECKING:
    from exactlink.workspace import Workspace

ETC_TIMEZONE = Path("/etc/timezone")
ETC_LOCALTIME = Path("/etc/localtime")
EXECUTABLE_NAMES = ("exactlink", "exactlink.exe")
# The line's LANG: UTF-8 output (names with accents, the euro sign) in a locale every current Linux has.
CRON_LANG = "C.UTF-8"
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
XDG_VARIABLES = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
SECRET_VARIABLE = "EXACTLINK_CLIENT_SECRET"
# Variables that are not settings: where the files live (set on the line itself) and the secret.
NOT_SETTINGS = frozenset({"EXACTLINK_HOME", SECRET_VARIABLE})


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


def cron_environment(command: list[str], environ: Mapping[str, str]) -> dict[str, str]:
    """What the line sets: ``HOME``, ``EXACTLINK_HOME`` or the ``XDG_*`` directories (when set), ``LANG`` and a
    ``PATH`` that holds the executable."""
    environment = {"HOME": environ.get("HOME") or str(Path.home())}
    if environ.get("EXACTLINK_HOME"):
        # cron starts in $HOME, so a relative EXACTLINK_HOME would point elsewhere
        environment["EXACTLINK_HOME"] = str(Path(environ["EXACTLINK_HOME"]).expanduser().absolute())
    for variable in XDG_VARIABLES:  # without EXACTLINK_HOME they place the files (platformdirs)
        if environ.get(variable):
            environment[variable] = str(Path(environ[variable]).expanduser().absolute())
    environment["LANG"] = CRON_LANG
    directories = [str(Path(command[0]).parent), *SYSTEM_PATH]
    environment["PATH"] = ":".join(dict.fromkeys(directories))
    return environment


@dataclass(frozen=True)
class EnvironmentSetting:
    """A setting given as an ``EXACTLINK_*`` variable, which a cron run does not see."""

    variable: str
    section: str
    key: str

    @property
    def dotted(self) -> str:
        """``section.key``, as ``config show`` names it."""
        return f"{self.section}.{self.key}"


def settings_in_environment(environ: Mapping[str, str]) -> list[EnvironmentSetting]:
    """The ``EXACTLINK_*`` variables of ``environ`` that are settings (flat or ``SECTION__KEY`` names)."""
    from pydantic import BaseModel

    from exactlink.settings import FLAT_ENV, Settings

    sections = {
        name: type(field.default).model_fields
        for name, field in Settings.model_fields.items()
        if isinstance(field.default, BaseModel)
    }
    found = []
    for variable in sorted(environ):
        if not variable.startswith("EXACTLINK_") or variable in NOT_SETTINGS:
            continue
        if variable in FLAT_ENV:
            found.append(EnvironmentSetting(variable, *FLAT_ENV[variable]))
            continue
        section, _, key = variable.removeprefix("EXACTLINK_").lower().partition("__")
        if key in sections.get(section, {}):
            found.append(EnvironmentSetting(variable, section, key))
    return found


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
    only_in_environment: tuple[EnvironmentSetting, ...] = ()
    secret_in_environment: bool = False

    @property
    def config_complete(self) -> bool:
        """Whether the line has everything it needs (nothing set only in this shell's environment)."""
        return not self.only_in_environment and not self.secret_in_environment

    def as_json(self, *, cron: bool = True, systemd: bool = True) -> dict[str, Any]:
        """The plan as one JSON-ready document (only the requested parts)."""
        data: dict[str, Any] = {
            "office_hours": {"timezone": self.timezone, "first_hour": self.first_hour, "last_hour": self.last_hour},
            "machine_timezone": (
                {"name": self.machine.name, "source": self.machine.source} if self.machine is not None else None
            ),
            "command": self.command,
            "environment": self.environment,
            "only_in_environment": [setting.variable for setting in self.only_in_environment]
            + ([SECRET_VARIABLE] if self.secret_in_environment else []),
        }
        if cron:
            data["cron"] = {
                "schedule": self.cron.schedule,
                "line": self.cron.line,
                "shell_command": self.cron.shell_command,
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
    environment = cron_environment(argv, os.environ)
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
        only_in_environment=tuple(_settings_cron_would_miss(ws)),
        secret_in_environment=_secret_only_in_environment(ws),
    )


def _settings_cron_would_miss(ws: Workspace) -> list[EnvironmentSetting]:
    """The environment's settings that ``config.toml`` does not hold with the same value."""
    from exactlink.settings import read_config_file

    in_file = read_config_file(get_paths().config_file)
    missing = []
    for setting in settings_in_environment(os.environ):
        value = getattr(getattr(ws.settings, setting.section), setting.key)
        if in_file.get(setting.section, {}).get(setting.key) != value:
            missing.append(setting)
    return missing


def _secret_only_in_environment(ws: Workspace) -> bool:
    from exactlink.errors import ExactlinkError

    secret = os.environ.get(SECRET_VARIABLE, "").strip()
    if not secret:
        return False
    try:
        return ws.token_store().get_secret() != secret
    except ExactlinkError:  # no client id: the store cannot even be named, so cron cannot find the secret
        return True


@dataclass(frozen=True)
class WrittenSettings:
    """What :func:`write_environment_settings` wrote, and where."""

    config_file: Path
    keys: list[str]
    secret_location: str | None


def write_environment_settings(ws: Workspace) -> WrittenSettings:
    """Copy the settings given as ``EXACTLINK_*`` variables into ``config.toml`` (0600, comments kept).

    The client secret (``EXACTLINK_CLIENT_SECRET``) goes to the token store (keyring or 0600 file), never into
    ``config.toml``. A missing ``config.toml`` starts from the commented example (``config init``).

    Raises:
        ConfigError: ``config.toml`` cannot be read.
    """
    import tomlkit
    from pydantic import BaseModel

    from exactlink.services.config_view import example_config_text

    paths = get_paths()
    paths.ensure()
    settings = ws.settings
    try:
        text = read_private_file(paths.config_file, secret=False).decode("utf-8")
    except FileNotFoundError:
        text = example_config_text()
    except (OSError, UnicodeDecodeError) as problem:
        raise ConfigError(f"cannot read {paths.config_file}: {problem}") from None
    document = tomlkit.parse(text)
    keys = []
    for setting in settings_in_environment(os.environ):
        section = getattr(settings, setting.section)
        assert isinstance(section, BaseModel)
        table = document.get(setting.section)
        if table is None:
            table = tomlkit.table()
            document[setting.section] = table
        table[setting.key] = getattr(section, setting.key)  # the typed value, as the settings read it
        keys.append(setting.dotted)
    write_private_atomically(paths.config_file, tomlkit.dumps(document).encode("utf-8"))
    secret = os.environ.get(SECRET_VARIABLE, "").strip()
    secret_location = None
    if secret:
        store = ws.token_store(announce_fallback=True)
        store.set_secret(secret)
        secret_location = store.location()
    return WrittenSettings(paths.config_file, keys, secret_location)


@dataclass(frozen=True)
class ScheduleCheck:
    """How the cron line fared when run once in an empty environment."""

    exit_code: int
    problem: str | None
    output: str
    hint: str | None = None  # the run's own hint for its problem

    @property
    def ok(self) -> bool:
        """Exit 0 and nothing printed: what a quiet, healthy cron run looks like."""
        return self.exit_code == 0 and not self.output.strip()


def check_schedule(plan: SchedulePlan, *, timeout_seconds: float) -> ScheduleCheck:
    """Run the line's command once with ``/bin/sh`` in an empty environment (as ``env -i``; cron sets even
    less than it may), and report its exit code and the first line it printed, which is the problem."""
    try:
        completed = subprocess.run(
            ["/bin/sh", "-c", plan.cron.shell_command],
            env={},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ScheduleCheck(124, f"the run did not finish within {timeout_seconds:.0f} s", "")
    output = (completed.stderr + completed.stdout).decode("utf-8", errors="replace")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    problem = lines[0].removeprefix("error: ") if lines else None
    hint = next((line.removeprefix("hint: ") for line in lines[1:2] if line.startswith("hint: ")), None)
    if completed.returncode and problem is None:
        problem = f"it exited {completed.returncode} without a word"
    return ScheduleCheck(completed.returncode, problem, output, hint)
