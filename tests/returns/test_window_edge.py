"""The 30-day window's first day is an Amsterdam calendar day, on Exact's clock: a return created at 00:30 in
Amsterdam on that day (22:30 or 23:30 UTC the day before) is inside, one created at 23:30 the evening before is
outside; the same through Exact's filter and through the fallback that windows the returns itself."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from exactlink.sandbox.evidence import Evidence
from tests.cli import run_cli
from tests.returns.conftest import Office
from tests.returns.test_fetch_returns import stored_returns

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
RETURNS = "read/financial/Returns"

# (moment of the run, UTC; first Amsterdam moment inside the window, UTC): the office's today minus 30 days
# is the first day of a month. Summer: 31 July 2026 10:00 CEST, window from 1 July 00:00 CEST = 30 June 22:00
# UTC. Winter: 31 December 2026 10:00 CET, window from 1 December 00:00 CET = 30 November 23:00 UTC.
EDGES = {
    "summer": (datetime(2026, 7, 31, 8, tzinfo=UTC), datetime(2026, 6, 30, 22, tzinfo=UTC)),
    "winter": (datetime(2026, 12, 31, 9, tzinfo=UTC), datetime(2026, 11, 30, 23, tzinfo=UTC)),
}


@pytest.mark.parametrize("refuse_created_filter", [False, True], ids=["exact-filters", "windowed-here"])
@pytest.mark.parametrize("season", sorted(EDGES))
def test_a_return_made_just_after_midnight_in_amsterdam_on_the_first_day_is_inside(
    office: Office, season: str, refuse_created_filter: bool
) -> None:
    run_at, midnight = EDGES[season]
    relation, division = office.candidates(with_returns=False)[0]
    office.link_admin_in_store(relation, division, sbr_days=None)
    half_past = midnight.replace(minute=30)  # 00:30 in Amsterdam on the first day
    inside = office.make_return(division, Created=half_past)
    outside = office.make_return(division, Created=half_past.replace(hour=midnight.hour - 1))  # 23:30 the day before
    if refuse_created_filter:
        office.sandbox.evidence = Evidence.strict(refuse_returns_created_filter=True)

    with time_machine.travel(run_at, tick=True):
        result = run_cli("fetch-returns", "--quiet")

    assert result.exit_code == 0, result.stderr
    stored = stored_returns(office)
    assert inside["DocumentID"] in stored
    assert outside["DocumentID"] not in stored
    first_day = midnight.astimezone(AMSTERDAM).date().isoformat()
    sent = [entry.query.get("$filter") for entry in office.sandbox.request_log if entry.endpoint == RETURNS]
    assert sent[0] == f"Created ge datetime'{first_day}'"  # a calendar day, as Exact reads it: no UTC shift
    assert len(sent) == (2 if refuse_created_filter else 1)
