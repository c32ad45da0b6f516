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
USER_HOME = "/home/office"
TAIL = "LANG=C.UTF-8 PATH=/opt/office/.venv/bin:/usr/local/bin:/usr/bin:/bin"


def line_environment(exactlink_home: Path) -> str:
    """What the line sets before the command: cron gives it (next to) nothing."""
    return f"HOME={USER_HOME} EXACTLINK_HOME={exactlink_home} {TAIL}"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Pin the executable and HOME; each test sets the machine's zone with `set_zone`."""
    monkeypatch.setattr(schedule_plan, "find_executable", lambda: [EXE])
    monkeypatch.setenv("HOME", USER_HOME)
    for variable in schedule_plan.XDG_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def set_zone(monkeypatch: pytest.MonkeyPatch, name: str | None) -> None:
    zone = None if name is None else MachineTimezone(name, ZoneInfo(name), "/etc/timezone")
    monkeypatch.setattr(schedule_plan, "detect_machine_timezone", lambda: zone)


def test_amsterdam_machine_gets_local_office_hours(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Europe/Amsterdam")
    result = run_cli("schedule")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"0 7-20 * * * {line_environment(exactlink_home)} {FETCH}" in lines
    assert "crontab -e" in result.stdout
    assert f"flock -n {exactlink_home}/state/locks/cron.flock" in result.stdout
    assert "OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam" in lines
    assert "Persistent=true" in lines
    assert f"ExecStart={FETCH}" in lines
    assert f"Environment=EXACTLINK_HOME={exactlink_home}" in lines
    assert "Environment=LANG=C.UTF-8" in lines
    assert "systemctl --user enable --now exactlink-fetch.timer" in result.stdout
    assert result.stderr == ""


def test_utc_machine_runs_hourly_and_gates_with_office_hours(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Etc/UTC")
    result = run_cli("schedule", "--cron")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"0 * * * * {line_environment(exactlink_home)} {FETCH}"
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
    assert data["environment"] == {
        "HOME": USER_HOME,
        "EXACTLINK_HOME": str(exactlink_home),
        "LANG": "C.UTF-8",
        "PATH": "/opt/office/.venv/bin:/usr/local/bin:/usr/bin:/bin",
    }
    assert data["only_in_environment"] == []
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
    assert f"0 8-18 * * * {line_environment(exactlink_home)} {FETCH}" in result.stdout.splitlines()
    assert "OnCalendar=*-*-* 08..18:00:00 Europe/Amsterdam" in result.stdout


def test_settings_only_in_the_environment_are_named(machine: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    set_zone(machine, "Europe/Amsterdam")
    machine.setenv("EXACTLINK_CLIENT_ID", "{abc}")
    machine.setenv("EXACTLINK_SYNC__DIRECTION", "outbound")
    machine.setenv("EXACTLINK_CLIENT_SECRET", "s3cret-value")
    result = run_cli("schedule", "--cron")
    assert result.exit_code == 0
    warning = " ".join(result.stderr.split())
    assert "cron will not see EXACTLINK_CLIENT_ID, EXACTLINK_SYNC__DIRECTION, EXACTLINK_CLIENT_SECRET" in warning
    assert "s3cret-value" not in result.stdout + result.stderr

    written = run_cli("schedule", "--write-config", "--json")
    assert written.exit_code == 0, written.stderr
    assert json.loads(written.stdout)["only_in_environment"] == []
    text = (exactlink_home / "config.toml").read_text(encoding="utf-8")
    assert 'client_id = "{abc}"' in text and 'direction = "outbound"' in text
    assert "# Exact Online country site" in text, "the example's comments are kept"
    assert "s3cret-value" not in text
    machine.delenv("EXACTLINK_CLIENT_SECRET")
    machine.delenv("EXACTLINK_CLIENT_ID")
    shown = json.loads(run_cli("config", "show", "--json").stdout)
    assert {row["key"]: row["source"] for row in shown}["exact.client_id"] == "config.toml"
    from exactlink.services.session import client_secret, token_store
    from tests.cli import new_workspace

    workspace = new_workspace()
    try:
        assert client_secret(token_store(workspace)) == "s3cret-value"
    finally:
        workspace.close()


def test_unknown_configured_zone_is_a_config_error(machine: pytest.MonkeyPatch) -> None:
    set_zone(machine, "Etc/UTC")
    machine.setenv("EXACTLINK_SCHEDULE__TIMEZONE", "Mars/Olympus")
    result = run_cli("schedule")
    assert result.exit_code == 2
    assert "schedule.timezone" in result.stderr and "Traceback" not in result.stderr


def test_without_exactlink_home_the_xdg_directories_are_set(machine: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_zone(machine, "Europe/Amsterdam")
    machine.delenv("EXACTLINK_HOME")
    machine.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    machine.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    data = json.loads(run_cli("schedule", "--json").stdout)
    assert list(data["environment"]) == ["HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "LANG", "PATH"]
    assert data["cron"]["line"] == (
        f"0 7-20 * * * HOME={USER_HOME} XDG_CONFIG_HOME={tmp_path}/config "
        f"XDG_STATE_HOME={tmp_path}/state {TAIL} {FETCH}"
    )
    assert f"Environment=XDG_CONFIG_HOME={tmp_path}/config" in data["systemd"]["service"]
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
