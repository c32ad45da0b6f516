"""Office hours around both DST changes, the next run, and the generated crontab line and systemd units."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from exactlink.domain.schedule import (
    FETCH_ARGUMENTS,
    cron_hours,
    cron_plan,
    hour_in_window,
    in_office_hours,
    next_run,
    runs_on,
    systemd_on_calendar,
    systemd_units,
    zone_name,
    zones_share_wall_clock,
)

AMS = ZoneInfo("Europe/Amsterdam")
SPRING = date(2026, 3, 29)  # 02:00 → 03:00
AUTUMN = date(2026, 10, 25)  # 03:00 → 02:00
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
EXE = "/opt/exactlink/.venv/bin/exactlink"
COMMAND = [EXE, *FETCH_ARGUMENTS]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=AMS)


# --- the hour gate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("day", [SPRING, AUTUMN, date(2026, 3, 28), date(2026, 10, 24), date(2026, 7, 1)])
@pytest.mark.parametrize(
    ("hour", "minute", "inside"),
    [(6, 59, False), (7, 0, True), (12, 0, True), (20, 0, True), (20, 59, True), (21, 0, False), (0, 30, False)],
)
def test_office_hours_in_local_time(day: date, hour: int, minute: int, inside: bool) -> None:
    moment = local(day, hour, minute)
    assert in_office_hours(moment) is inside
    # the same instant expressed in UTC gives the same answer
    assert in_office_hours(moment.astimezone(UTC)) is inside


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 3, 28, 5, 0, tzinfo=UTC), False),  # 06:00 CET
        (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), True),  # 07:00 CET
        (datetime(2026, 3, 29, 4, 59, tzinfo=UTC), False),  # 06:59 CEST
        (datetime(2026, 3, 29, 5, 0, tzinfo=UTC), True),  # 07:00 CEST, the first summer-time run
        (datetime(2026, 3, 29, 18, 59, tzinfo=UTC), True),  # 20:59 CEST
        (datetime(2026, 3, 29, 19, 0, tzinfo=UTC), False),  # 21:00 CEST
        (datetime(2026, 10, 25, 5, 0, tzinfo=UTC), False),  # 06:00 CET, winter time again
        (datetime(2026, 10, 25, 6, 0, tzinfo=UTC), True),  # 07:00 CET
        (datetime(2026, 10, 25, 19, 0, tzinfo=UTC), True),  # 20:00 CET
        (datetime(2026, 10, 25, 20, 0, tzinfo=UTC), False),  # 21:00 CET
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), False),  # 02:30 CEST, the repeated hour
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), False),  # 02:30 CET
    ],
)
def test_office_hours_from_utc_instants_around_dst(utc: datetime, inside: bool) -> None:
    assert in_office_hours(utc) is inside


def test_configurable_hours_and_zone() -> None:
    moment = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 14:00 in Amsterdam, 13:00 in London
    assert in_office_hours(moment, first_hour=8, last_hour=14)
    assert not in_office_hours(moment, first_hour=8, last_hour=13)
    assert in_office_hours(moment, tz="Europe/London", first_hour=13, last_hour=13)
    assert in_office_hours(moment, tz=ZoneInfo("Europe/London"), first_hour=13, last_hour=13)


def test_window_past_midnight() -> None:
    assert hour_in_window(23, 22, 5) and hour_in_window(0, 22, 5) and hour_in_window(5, 22, 5)
    assert not hour_in_window(6, 22, 5) and not hour_in_window(21, 22, 5)
    assert in_office_hours(local(SPRING, 23), first_hour=22, last_hour=5)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        in_office_hours(datetime(2026, 3, 29, 7, 0))
    with pytest.raises(ValueError, match="aware"):
        next_run(datetime(2026, 3, 29, 7, 0))
    with pytest.raises(ValueError, match="hour"):
        in_office_hours(NOW, first_hour=7, last_hour=24)
    with pytest.raises(ValueError, match="time zone"):
        in_office_hours(NOW, tz="Mars/Olympus")


# --- runs per day and the next run ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "first_utc_hour"), [(date(2026, 3, 28), 6), (SPRING, 5), (AUTUMN, 6), (date(2026, 10, 24), 5)]
)
def test_fourteen_runs_on_every_day_including_dst_days(day: date, first_utc_hour: int) -> None:
    runs = runs_on(day)
    assert len(runs) == 14
    assert [run.hour for run in runs] == list(range(7, 21))
    utc_hours = [run.astimezone(UTC).hour for run in runs]
    assert utc_hours == list(range(first_utc_hour, first_utc_hour + 14))


def test_runs_through_the_dst_hours_themselves() -> None:
    assert [run.hour for run in runs_on(SPRING, first_hour=1, last_hour=3)] == [1, 3]  # 02:00 does not exist
    autumn = runs_on(AUTUMN, first_hour=1, last_hour=3)
    assert [run.hour for run in autumn] == [1, 2, 3]  # 02:00 once, like cron


@pytest.mark.parametrize(
    ("now", "expected_utc"),
    [
        (local(date(2026, 3, 28), 20, 30), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),  # into summer time
        (local(date(2026, 10, 24), 20, 30), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),  # into winter time
        (local(SPRING, 6, 59), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
        (local(SPRING, 7, 0), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)),  # strictly after now
        (local(AUTUMN, 19, 59), datetime(2026, 10, 25, 19, 0, tzinfo=UTC)),
        (local(AUTUMN, 20, 0), datetime(2026, 10, 26, 6, 0, tzinfo=UTC)),
        (local(AUTUMN, 21, 0), datetime(2026, 10, 26, 6, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),  # repeated hour
    ],
)
def test_next_run(now: datetime, expected_utc: datetime) -> None:
    result = next_run(now)
    assert result == expected_utc
    assert result.tzinfo is AMS
    assert in_office_hours(result)


def test_next_run_skips_the_missing_spring_hour() -> None:
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET
    assert next_run(now, first_hour=2, last_hour=3) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST


def test_next_run_is_always_in_the_future_and_in_office_hours() -> None:
    start = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)
    for step in range(0, 5 * 24 * 4):
        now = start + timedelta(minutes=15 * step)
        result = next_run(now)
        assert now < result <= now + timedelta(hours=12)
        assert in_office_hours(result) and result.minute == 0


# --- fields ------------------------------------------------------------------------------------------


def test_cron_and_systemd_hour_fields() -> None:
    assert cron_hours(7, 20) == "7-20"
    assert cron_hours(7, 7) == "7"
    assert cron_hours(22, 5) == "22-23,0-5"
    assert systemd_on_calendar() == ["*-*-* 07..20:00:00 Europe/Amsterdam"]
    assert systemd_on_calendar("Europe/Brussels", 22, 5) == [
        "*-*-* 22..23:00:00 Europe/Brussels",
        "*-*-* 00..05:00:00 Europe/Brussels",
    ]


def test_zones_that_share_amsterdam_wall_clock() -> None:
    assert zones_share_wall_clock("Europe/Berlin", "Europe/Amsterdam", NOW)
    assert zones_share_wall_clock(AMS, "Europe/Amsterdam", NOW)
    assert not zones_share_wall_clock("Etc/UTC", "Europe/Amsterdam", NOW)
    assert not zones_share_wall_clock("Europe/London", "Europe/Amsterdam", NOW)
    assert not zones_share_wall_clock("America/New_York", "Europe/Amsterdam", NOW)


def test_zone_names() -> None:
    assert zone_name(None) == "unknown"
    assert zone_name("Etc/UTC") == "Etc/UTC"
    assert zone_name(AMS) == "Europe/Amsterdam"


# --- crontab -----------------------------------------------------------------------------------------


def test_cron_on_an_amsterdam_machine_runs_only_in_office_hours() -> None:
    plan = cron_plan(COMMAND, machine_tz="Europe/Amsterdam", at=NOW, flock_file="/state/cron.flock")
    assert plan.schedule == "0 7-20 * * *"
    assert plan.line == f"0 7-20 * * * {EXE} fetch-returns --office-hours --skip-if-locked --quiet"
    assert not plan.gated_by_tool and plan.machine_matches
    text = plan.render()
    assert text.endswith(plan.line + "\n")
    assert f"# 0 7-20 * * * flock -n /state/cron.flock {EXE} fetch-returns" in text
    assert "crontab -e" in text
    assert all(line.startswith("#") for line in text.splitlines()[:-1])


def test_cron_on_a_berlin_machine_also_uses_local_hours() -> None:
    plan = cron_plan(COMMAND, machine_tz="Europe/Berlin", at=NOW, flock_file="/f")
    assert plan.schedule == "0 7-20 * * *"


def test_cron_on_a_utc_machine_runs_hourly_and_lets_the_tool_gate() -> None:
    plan = cron_plan(COMMAND, machine_tz="Etc/UTC", at=NOW, flock_file="/state/cron.flock")
    assert plan.schedule == "0 * * * *"
    assert plan.line == f"0 * * * * {EXE} fetch-returns --office-hours --skip-if-locked --quiet"
    assert plan.gated_by_tool and not plan.machine_matches
    text = plan.render()
    assert "Etc/UTC" in text and "--office-hours" in text
    assert "CRON_TZ=Europe/Amsterdam" in text
    assert plan.cronie_alternative == (
        f"CRON_TZ=Europe/Amsterdam\n0 7-20 * * * {EXE} fetch-returns --office-hours --skip-if-locked --quiet"
    )


def test_cron_with_an_unknown_or_unreadable_zone_is_gated_by_the_tool() -> None:
    unknown = cron_plan(COMMAND, machine_tz=None, at=NOW, flock_file="/f")
    assert unknown.gated_by_tool and "could not be determined" in unknown.render()
    bogus = cron_plan(COMMAND, machine_tz="Mars/Olympus", at=NOW, flock_file="/f")
    assert bogus.schedule == "0 * * * *"


def test_cron_with_a_zone_read_from_a_file() -> None:
    data = resources.files("tzdata").joinpath("zoneinfo", "Europe", "Amsterdam").read_bytes()
    from_file = ZoneInfo.from_file(io.BytesIO(data))
    plan = cron_plan(COMMAND, machine_tz=from_file, at=NOW, flock_file="/f")
    assert plan.schedule == "0 7-20 * * *"


def test_cron_uses_the_configured_hours_and_zone() -> None:
    plan = cron_plan(
        COMMAND, machine_tz="Europe/Brussels", at=NOW, tz="Europe/Brussels", first_hour=8, last_hour=18, flock_file="/f"
    )
    assert plan.schedule == "0 8-18 * * *"
    gated = cron_plan(
        COMMAND, machine_tz="Etc/UTC", at=NOW, tz="Europe/Brussels", first_hour=8, last_hour=18, flock_file="/f"
    )
    assert "CRON_TZ=Europe/Brussels\n0 8-18 * * *" in gated.cronie_alternative
    assert "08:00-18:00 Europe/Brussels" in gated.render()


def test_cron_quotes_paths_and_escapes_percent() -> None:
    plan = cron_plan(
        ["/home/an na/bin/exactlink", *FETCH_ARGUMENTS],
        machine_tz="Europe/Amsterdam",
        at=NOW,
        environment={"EXACTLINK_HOME": "/data/100% office"},
        flock_file="/data/lock file",
    )
    assert plan.line == (
        "0 7-20 * * * EXACTLINK_HOME='/data/100\\% office' '/home/an na/bin/exactlink' "
        "fetch-returns --office-hours --skip-if-locked --quiet"
    )
    assert "flock -n '/data/lock file' '/home/an na/bin/exactlink'" in plan.flock_line
    assert plan.flock_line.startswith("0 7-20 * * * EXACTLINK_HOME=")


# --- systemd -----------------------------------------------------------------------------------------


def test_systemd_units() -> None:
    units = systemd_units(COMMAND, environment={"EXACTLINK_HOME": "/srv/exactlink"})
    assert units.service_file == "exactlink-fetch.service" and units.timer_file == "exactlink-fetch.timer"
    assert "Type=oneshot" in units.service
    assert f"ExecStart={EXE} fetch-returns --office-hours --skip-if-locked --quiet\n" in units.service
    assert "Environment=EXACTLINK_HOME=/srv/exactlink\n" in units.service
    assert "OnCalendar=*-*-* 07..20:00:00 Europe/Amsterdam\n" in units.timer
    assert "Persistent=true\n" in units.timer
    assert "WantedBy=timers.target" in units.timer
    text = units.render()
    assert "systemctl --user enable --now exactlink-fetch.timer" in text
    assert "# --- ~/.config/systemd/user/exactlink-fetch.service" in text
    assert "# --- ~/.config/systemd/user/exactlink-fetch.timer" in text


def test_systemd_without_home_and_with_other_hours() -> None:
    units = systemd_units(COMMAND, tz="Europe/Brussels", first_hour=22, last_hour=5)
    assert "Environment=" not in units.service
    assert units.timer.count("OnCalendar=") == 2
    assert "OnCalendar=*-*-* 22..23:00:00 Europe/Brussels" in units.timer


def test_systemd_quotes_and_escapes_specifiers() -> None:
    units = systemd_units(
        ["/home/an na/bin/exactlink", "fetch-returns", "--tag=$x%"], environment={"EXACTLINK_HOME": "/data/100% office"}
    )
    assert 'ExecStart="/home/an na/bin/exactlink" fetch-returns --tag=$$x%%\n' in units.service
    assert 'Environment="EXACTLINK_HOME=/data/100%% office"\n' in units.service
