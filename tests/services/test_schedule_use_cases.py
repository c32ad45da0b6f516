"""``schedule`` on its own: the plan for a machine whose zone and executable the test names, a frozen clock; no
CLI. (The CLI's rendering of the same plan: tests/test_schedule_cmd.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from exactlink.services import schedule_plan
from exactlink.services.schedule_plan import MachineTimezone, build_schedule
from exactlink.workspace import Workspace
from tests.services.recorded import memory_workspace

# 10:00 in Amsterdam on a winter Tuesday.
JANUARY = datetime(2027, 1, 12, 9, 0, tzinfo=UTC)
EXE = "/usr/bin/exactlink"


@pytest.fixture
def ws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    monkeypatch.setattr(schedule_plan, "find_executable", lambda: [EXE])
    workspace = memory_workspace(JANUARY)
    yield workspace
    workspace.close()


def machine_in(monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    found = MachineTimezone(zone, ZoneInfo(zone), "/etc/timezone")
    monkeypatch.setattr(schedule_plan, "detect_machine_timezone", lambda: found)


def test_a_machine_on_amsterdam_time_runs_in_office_hours_only(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    machine_in(monkeypatch, "Europe/Amsterdam")

    plan = build_schedule(ws)

    assert plan.cron.machine_matches and plan.cron.schedule == "0 7-20 * * *"
    assert plan.cron.line.endswith(f"{EXE} fetch-returns --office-hours --skip-if-locked --quiet")
    assert plan.as_json()["office_hours"] == {"timezone": "Europe/Amsterdam", "first_hour": 7, "last_hour": 20}


def test_a_machine_on_another_zone_runs_hourly_and_lets_exactlink_skip(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine_in(monkeypatch, "Africa/Lagos")  # Amsterdam's offset in winter, not in summer

    plan = build_schedule(ws)

    assert not plan.cron.machine_matches and plan.cron.schedule == "0 * * * *"
    assert plan.cron.gated_by_tool and "--office-hours" in plan.cron.line
