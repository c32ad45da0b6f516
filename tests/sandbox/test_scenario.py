"""The generator's scenario holds for any seed at any moment, read the way exactlink reads the window."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactlink.domain.returns import returns_window_start
from exactlink.sandbox.generator import generate
from exactlink.sandbox.model import GL_ACCOUNTS, RETURNS, TRANSACTION_LINES
from exactlink.sandbox.scenario import ROLES, SHOWCASE_COUNT, ScenarioError, check_scenario

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 4, 1, 21, 45, tzinfo=UTC)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 1_000_000),
    now=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)),
    clients=st.sampled_from([1, 2, 3, 5, 12, 25]),
)
def test_the_scenario_holds_for_any_seed_and_moment(seed: int, now: datetime, clients: int) -> None:
    data = generate(clients, seed, now)  # the generator checks it too
    check_scenario(data)
    scenario = data.scenario
    assert len(scenario.administrations) == min(clients, SHOWCASE_COUNT)

    # The office's today and the window exactlink fetches, read as UTC midnight and as Dutch midnight.
    first_day = returns_window_start(now.astimezone(AMSTERDAM).date(), None)
    starts = [datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone) for zone in (UTC, AMSTERDAM)]
    for role in ROLES:
        if role.administration >= len(scenario.administrations):
            continue
        division, document = scenario.returns[role.name]
        created = data.divisions[division].tables[RETURNS][document]["Created"]
        assert created < now
        for start in starts:
            assert (created >= start) == role.inside_window, (role.name, created, start)
    if clients >= SHOWCASE_COUNT:
        inside = [
            data.divisions[division].tables[RETURNS][document]
            for name, (division, document) in scenario.returns.items()
            if next(role for role in ROLES if role.name == name).inside_window
        ]
        realised = [(record["Type"], record["Description"]) for record in inside if record["Status"] == 40]
        assert realised.count((31, "Aangifte omzetbelasting")) >= 3 and any(kind == 32 for kind, _ in realised)
        assert {record["Status"] for record in inside} >= {10, 20, 30, 40, 50}
        assert {record["Type"] for record in inside} == {31, 32, 146}


def test_generating_twice_on_one_day_gives_the_same_data() -> None:
    morning, evening = generate(12, 4, NOW.replace(hour=0, minute=1)), generate(12, 4, NOW.replace(hour=23))
    assert morning.scenario == evening.scenario
    for code, division in morning.divisions.items():
        assert division.tables == evening.divisions[code].tables


@pytest.mark.parametrize(
    "breakage",
    ["status", "too old", "not consented", "crm number", "vraagposten cleared", "vraagposten left open"],
)
def test_the_check_finds_a_broken_promise(breakage: str) -> None:
    data = generate(12, 9, NOW)
    scenario = data.scenario
    division, document = scenario.returns["realised_vat"]
    record = data.divisions[division].tables[RETURNS][document]
    if breakage == "status":
        record["Status"] = 50
    elif breakage == "too old":
        record["Created"] = NOW.replace(month=2)
    elif breakage == "not consented":
        data.unconsented_divisions.add(scenario.administrations[2])
    elif breakage == "crm number":
        row = next(row for row in data.crm_rows if row["relatienummer"] == scenario.relations[1])
        row["rsin"] = row["bsn"] = ""
    else:
        open_division = (
            scenario.vraagposten_open if breakage == "vraagposten cleared" else scenario.vraagposten_balanced
        )
        assert open_division is not None
        tables = data.divisions[open_division].tables
        suspense = next(key for key, account in tables[GL_ACCOUNTS].items() if account["Description"] == "Vraagposten")
        line = next(line for line in tables[TRANSACTION_LINES].values() if line["GLAccount"] == suspense)
        total = sum(item["AmountDC"] for item in tables[TRANSACTION_LINES].values() if item["GLAccount"] == suspense)
        line["AmountDC"] -= total if breakage == "vraagposten cleared" else -100.0
    with pytest.raises(ScenarioError):
        check_scenario(data)
