"""`exactlink schedule`: the crontab line and systemd units for an Amsterdam machine and a UTC machine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exactlink.services import schedule_plan
from exactlink.services.schedule_plan import MachineTimezone, detect_machine_timezone, find_executable
from tests.cli import run_cli

EXE = "/opt/office/.venv/bin/exactlink"
FETCH = f"{EXE} fetch-returns --office-hours --skip-if-locked --quiet"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Pin the executable; each test sets the machine's zone with `set_zone`."""
    monkeypatch.setattr(schedule_plan, "find_executable", lambda: [EXE])
    return monkeypatch


def set_zone(monkeypatch: pytest.MonkeyPatch, name: str | None) -> None:
    zone = None if name is None else MachineTimezone(name, ZoneInfo(name), "/etc/timezone")
    monkeypatch.setattr(schedule_plan, "detect_machine_timezone", lambda: zone)


def test_amsterdam_machine_gets_local_office_hours(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Europe/Amsterdam")
    result = run_cli("schedule")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"0 7-20 * * * EXACTLINK_HOME={exactlink_home} {FETCH}" in lines
    assert "crontab -e" in result.stdout
    assert f"flock -n {exactlink_home}/state/locks/cron.flock" in result.stdout
    assert "OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam" in lines
    assert "Persistent=true" in lines
    assert f"ExecStart={FETCH}" in lines
    assert f"Environment=EXACTLINK_HOME={exactlink_home}" in lines
    assert "systemctl --user enable --now exactlink-fetch.timer" in result.stdout
    assert result.stderr == ""


def test_utc_machine_runs_hourly_and_gates_with_office_hours(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Etc/UTC")
    result = run_cli("schedule", "--cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"0 * * * * EXACTLINK_HOME={exactlink_home} {FETCH}"
    assert "Etc/UTC" in result.stdout
    assert "CRON_TZ=Europe/Amsterdam" in result.stdout
    assert "[Timer]" not in result.stdout


def test_systemd_only(machine: pytest.MonkeyPatch) -> None:
    set_zone(machine, "Etc/UTC")
    result = run_cli("schedule", "--systemd")
    assert result.exit_code == 0, result.stderr
    assert "[Timer]" in result.stdout and "[Service]" in result.stdout
    assert "crontab" not in result.stdout


def test_json_for_a_utc_machine(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Etc/UTC")
    result = run_cli("schedule", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["office_hours"] == {"timezone": "Europe/Amsterdam", "first_hour": 7, "last_hour": 20}
    assert data["machine_timezone"] == {"name": "Etc/UTC", "source": "/etc/timezone"}
    assert data["command"] == [EXE, "fetch-returns", "--office-hours", "--skip-if-locked", "--quiet"]
    assert data["environment"] == {"EXACTLINK_HOME": str(exactlink_home)}
    assert data["cron"]["schedule"] == "0 * * * *"
    assert data["cron"]["gated_by_office_hours_flag"] is True
    assert data["cron"]["machine_keeps_office_time"] is False
    assert data["cron"]["cronie_alternative"].startswith("CRON_TZ=Europe/Amsterdam\n0 7-20 * * * ")
    assert "OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam" in data["systemd"]["timer"]
    assert data["systemd"]["timer_file"] == "exactlink-fetch.timer"


def test_json_for_an_amsterdam_machine_with_only_cron(machine: pytest.MonkeyPatch) -> None:
    set_zone(machine, "Europe/Amsterdam")
    data = json.loads(run_cli("schedule", "--json", "--cron").stdout)
    assert data["cron"]["schedule"] == "0 7-20 * * *"
    assert data["cron"]["gated_by_office_hours_flag"] is False
    assert "systemd" not in data


def test_unknown_machine_zone_is_gated(machine: pytest.MonkeyPatch) -> None:
    set_zone(machine, None)
    data = json.loads(run_cli("schedule", "--json").stdout)
    assert data["machine_timezone"] is None
    assert data["cron"]["schedule"] == "0 * * * *"


def test_hours_and_zone_come_from_the_settings(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Europe/Brussels")
    exactlink_home.mkdir(parents=True, exist_ok=True)
    (exactlink_home / "config.toml").write_text("[schedule]\nfirst_hour = 8\nlast_hour = 18\n", encoding="utf-8")
    result = run_cli("schedule")
    assert f"0 8-18 * * * EXACTLINK_HOME={exactlink_home} {FETCH}" in result.stdout.splitlines()
    assert "OnCalendar=*-*-* 08..18:00:00 Europe/Amsterdam" in result.stdout


def test_unknown_configured_zone_is_a_config_error(machine: pytest.MonkeyPatch) -> None:
    set_zone(machine, "Etc/UTC")
    machine.setenv("EXACTLINK_SCHEDULE__TIMEZONE", "Mars/Olympus")
    result = run_cli("schedule")
    assert result.exit_code == 2
    assert "schedule.timezone" in result.stderr and "Traceback" not in result.stderr


def test_without_exactlink_home_no_environment_is_set(machine: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_zone(machine, "Europe/Amsterdam")
    machine.delenv("EXACTLINK_HOME")
    machine.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    machine.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    data = json.loads(run_cli("schedule", "--json").stdout)
    assert data["environment"] == {}
    assert data["cron"]["line"] == f"0 7-20 * * * {FETCH}"
    assert "Environment=" not in data["systemd"]["service"]
    assert f"flock -n {tmp_path}/state/exactlink/locks/cron.flock" in data["cron"]["flock_line"]


# --- the machine's zone -----------------------------------------------------------------------------


def test_zone_from_etc_timezone(tmp_path: Path) -> None:
    (tmp_path / "timezone").write_text("Europe/Amsterdam\n", encoding="utf-8")
    found = detect_machine_timezone(environ={}, etc_timezone=tmp_path / "timezone", etc_localtime=tmp_path / "none")
    assert found is not None and (found.name, found.source) == ("Europe/Amsterdam", str(tmp_path / "timezone"))


def test_zone_from_the_localtime_symlink(tmp_path: Path) -> None:
    target = tmp_path / "usr" / "share" / "zoneinfo" / "Etc" / "UTC"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"")
    (tmp_path / "localtime").symlink_to(target)
    found = detect_machine_timezone(environ={}, etc_timezone=tmp_path / "none", etc_localtime=tmp_path / "localtime")
    assert found is not None and found.name == "Etc/UTC"


def test_zone_from_a_copied_localtime_file(tmp_path: Path) -> None:
    from importlib import resources

    data = resources.files("tzdata").joinpath("zoneinfo", "Europe", "Amsterdam").read_bytes()
    (tmp_path / "localtime").write_bytes(data)
    found = detect_machine_timezone(environ={}, etc_timezone=tmp_path / "none", etc_localtime=tmp_path / "localtime")
    assert found is not None and found.source == str(tmp_path / "localtime")
    assert found.name.startswith("the zone in")


def test_zone_from_tz_only_when_the_system_says_nothing(tmp_path: Path) -> None:
    none = tmp_path / "none"
    found = detect_machine_timezone(environ={"TZ": ":Europe/Berlin"}, etc_timezone=none, etc_localtime=none)
    assert found is not None and (found.name, found.source) == ("Europe/Berlin", "TZ")
    assert detect_machine_timezone(environ={"TZ": "CET-1CEST"}, etc_timezone=none, etc_localtime=none) is None
    assert detect_machine_timezone(environ={}, etc_timezone=none, etc_localtime=none) is None
    (tmp_path / "timezone").write_text("Not/AZone", encoding="utf-8")
    assert detect_machine_timezone(environ={}, etc_timezone=tmp_path / "timezone", etc_localtime=none) is None


# --- the executable ---------------------------------------------------------------------------------


def make_script(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_executable_from_argv0(tmp_path: Path) -> None:
    script = make_script(tmp_path / "venv" / "bin" / "exactlink")
    assert find_executable(argv0=str(script), python="/nowhere/python", which=lambda _: None) == [str(script)]


def test_executable_from_a_relative_argv0_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = make_script(tmp_path / "bin" / "exactlink")
    monkeypatch.chdir(tmp_path)
    assert find_executable(argv0=os.path.join("bin", "exactlink"), python="/nowhere/python") == [str(script)]


def test_executable_next_to_python_then_on_path_then_module(tmp_path: Path) -> None:
    script = make_script(tmp_path / "venv" / "bin" / "exactlink")
    python = str(tmp_path / "venv" / "bin" / "python")
    assert find_executable(argv0="/usr/bin/pytest", python=python, which=lambda _: None) == [str(script)]
    elsewhere = str(tmp_path / "other" / "python")
    assert find_executable(argv0="pytest", python=elsewhere, which=lambda _: "/usr/local/bin/exactlink") == [
        "/usr/local/bin/exactlink"
    ]
    assert find_executable(argv0="pytest", python=elsewhere, which=lambda _: None) == [elsewhere, "-m", "exactlink"]
