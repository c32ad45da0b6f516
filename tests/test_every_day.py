"""The date-sensitive flows hold at the awkward moments of the calendar, run in-process under time-machine.

At each moment the sandbox is generated (its clock follows time-machine's), and the whole demo story runs
in this process: login, match, sync, link-admin (SBR start dates), fetch-returns (the 30-day window),
returns list (due dates, days left, period labels), feedback, schedule. Afterwards the same database is
checked against what the rules say for that moment, a second sync shows its cursors hold (nothing changed,
nothing written), and ``fetch-returns --office-hours`` runs or skips as the Dutch office hours say.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from exactlink.sandbox import Sandbox
from exactlink.sandbox.generator import generate
from exactlink.sandbox.scenario import ROLES, check_scenario, period_of
from exactlink.services.demo import DemoRun, run_demo
from tests.cli import set_workspace
from tests.story import assert_the_story, robot_browser, run_in_process

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MOMENTS = {
    "new-year-utc": datetime(2027, 1, 1, 0, 30, tzinfo=UTC),
    "summer-time-starts": datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # 03:30 CEST, an hour after the jump
    "summer-time-ends": datetime(2027, 10, 31, 0, 30, tzinfo=UTC),  # 02:30 CEST, half an hour before the fold
    "leap-day": datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
    "new-year-in-amsterdam-only": datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
    "new-quarter-in-amsterdam-only": datetime(2027, 6, 30, 22, 30, tzinfo=UTC),
}
__all__ = ["robot_browser"]  # the fixture, used by name


def _last_day_of_next_month(year: int, month: int) -> date:
    after = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return after - timedelta(days=1)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("moment", MOMENTS.values(), ids=MOMENTS.keys())
@pytest.mark.usefixtures("robot_browser")
def test_the_story_and_its_dates_hold_at(moment: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notes: list[str] = []
    after: dict[str, Any] = {}

    def narrate(title: str, command: str) -> None:
        if not command:
            notes.append(title)

    def then(run: DemoRun, env: dict[str, str]) -> None:
        def json_of(*args: str) -> Any:
            completed = run_in_process(list(args), env, True, True)
            assert completed.returncode in (0, 3), completed.stderr
            return json.loads(completed.stdout or b"")

        after["returns"] = json_of("returns", "list", "--json")
        after["sync"] = json_of("sync", "--json")
        before = sandbox.calls("read/financial/Returns")
        gated = run_in_process(["fetch-returns", "--office-hours", "--quiet"], env, True, True)
        after["gated"] = (gated.returncode, sandbox.calls("read/financial/Returns") - before)

    with time_machine.travel(moment, tick=True) as traveller:
        # The story makes more office-administration calls than one minute allows: pacing waits move the
        # travelled clock (the sandbox's and exactlink's alike) instead of spending a real minute.
        set_workspace(monkeypatch, sleep=traveller.shift)
        sandbox = Sandbox(clients=12, seed=2)
        run = run_demo(
            clients=12,
            seed=2,
            home=tmp_path / "demo",
            narrate=narrate,
            sandbox=sandbox,
            runner=run_in_process,
            then=then,
        )

    data = sandbox.data
    assert abs(data.now - moment) < timedelta(minutes=1), "the sandbox's data follows the clock"
    check_scenario(generate(12, seed=2, now=data.now))  # as generated (the story has changed some statuses since)
    assert_the_story(run, notes)
    office_today = moment.astimezone(AMSTERDAM).date()
    scenario = data.scenario

    db = sqlite3.connect(run.home / "exactlink.db")
    try:
        linked = dict(db.execute("SELECT relation_number, division FROM admin_links").fetchall())
        starts = dict(db.execute("SELECT relation_number, sbr_start_date FROM relations").fetchall())
        stored = {row[0] for row in db.execute("SELECT document_id FROM returns")}
    finally:
        db.close()

    # Every showcase administration was linked by the story, with the SBR start date of the office's today − 30.
    for relation, division in zip(scenario.relations, scenario.administrations, strict=True):
        assert linked.get(relation) == division, (relation, linked)
    assert {starts[relation] for relation in linked} == {(office_today - timedelta(days=30)).isoformat()}

    # The 30-day window: the promised returns inside it were fetched, the one just outside was not.
    for role in ROLES:
        document = scenario.document(role.name)
        assert (document in stored) == role.inside_window, role.name

    # Due dates, days left and period labels as the office sees them at this moment.
    views = {view["document_id"]: view for view in after["returns"]}
    for role in ROLES:
        if not role.inside_window:
            continue
        view = views[scenario.document(role.name)]
        year, month = period_of(data.now, role.periods_back)
        due = _last_day_of_next_month(year, month)
        assert view["period"] == f"{year}-{month:02d}", (role.name, view["period"])
        assert view["due_date"] == due.isoformat(), (role.name, view["due_date"])
        assert view["days_to_deadline"] == (due - office_today).days, role.name

    # The sync cursors hold: a second sync right after the story finds nothing to change and writes nothing.
    counts = after["sync"]["counts"]
    assert counts["changed"] == 0 and counts["write_calls"] == 0, counts

    # Office hours are Dutch wall-clock hours (07:00–20:59 by default), whatever UTC says.
    local_hour = moment.astimezone(AMSTERDAM).hour
    code, returns_calls = after["gated"]
    assert code == 0
    assert (returns_calls > 0) == (7 <= local_hour <= 20), (local_hour, returns_calls)
