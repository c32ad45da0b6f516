"""Moments in the office's zone: both sides of the DST switches, and the zone a status line names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from exactlink.domain.times import office_time
from tests.cli import new_workspace, run_cli
from tests.stamps import wall_now

AMSTERDAM = "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2027-03-28T00:59:00+00:00", "2027-03-28 01:59 CET"),  # the last minute of winter time
        ("2027-03-28T01:00:00+00:00", "2027-03-28 03:00 CEST"),  # 02:00 local does not exist
        ("2027-10-31T00:30:00+00:00", "2027-10-31 02:30 CEST"),  # the first 02:30 …
        ("2027-10-31T01:30:00+00:00", "2027-10-31 02:30 CET"),  # … and the second one, told apart by the zone
        ("2026-12-31T23:30:00Z", "2027-01-01 00:30 CET"),  # already next year in the office
    ],
)
def test_office_time_across_the_dst_switches(moment: str, shown: str) -> None:
    assert office_time(moment, AMSTERDAM) == shown


def test_office_time_takes_datetimes_epoch_seconds_and_leaves_other_text() -> None:
    summer = datetime(2027, 7, 1, 12, 0, tzinfo=UTC)
    assert office_time(summer, AMSTERDAM) == "2027-07-01 14:00 CEST"
    assert office_time(summer.timestamp(), AMSTERDAM, seconds=True) == "2027-07-01 14:00:00 CEST"
    assert office_time(datetime(2027, 7, 1, 12, 0), AMSTERDAM) == "2027-07-01 14:00 CEST"  # stored naive = UTC
    assert office_time(None, AMSTERDAM) == office_time("", AMSTERDAM) == ""
    assert office_time("never", AMSTERDAM) == "never"
    assert office_time("2027-07-01T12:00:00+00:00", "Europe/London") == "2027-07-01 13:00 BST"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2027, 10, 31, 0, 30, tzinfo=UTC), "2027-10-31 02:30 CEST"),
        (datetime(2027, 10, 31, 1, 30, tzinfo=UTC), "2027-10-31 02:30 CET"),
    ],
)
def test_status_tells_run_times_in_the_office_zone_and_json_keeps_utc(moment: datetime, shown: str) -> None:
    from exactlink.store.runs import finish_run, start_run

    with time_machine.travel(moment, tick=False):
        workspace = new_workspace()
        try:
            finish_run(workspace.db, start_run(workspace.db, "fetch-returns", now=wall_now()), "ok", {}, now=wall_now())
        finally:
            workspace.close()
        text = run_cli("status").stdout
        data = run_cli("status", "--json").stdout
    assert f"run 1 fetch-returns: ok (started {shown})" in text
    assert moment.isoformat() in data


def test_a_stored_moment_is_aware_and_unreadable_text_is_none() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from exactlink.domain.times import stored_moment

    assert stored_moment("2027-03-28T01:30:00") == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert stored_moment("2027-03-28T01:30:00Z") == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert stored_moment("2027-03-28T03:30:00+02:00") == datetime(
        2027, 3, 28, 3, 30, tzinfo=timezone(timedelta(hours=2))
    )
    assert stored_moment("") is None and stored_moment(None) is None and stored_moment("gisteren") is None
