"""The sandbox speaks Amsterdam time as Exact does (exact-evidence.md §7): ``/Date(ms)/`` is Amsterdam wall-clock
time, and a ``datetime'…'`` literal without an offset is read on Amsterdam's clock, so a ``Created ge`` or
``Modified ge`` filter selects exactly the right records at both daylight-saving switches and at midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from exactlink.sandbox import model, odata
from tests.sandbox.conftest import OFFICE, api_client, make_sandbox

WALL_CLOCK_EPOCH = datetime(1970, 1, 1)


def wall_clock_ms(wall_clock: datetime) -> str:
    return f"/Date({(wall_clock - WALL_CLOCK_EPOCH) // timedelta(milliseconds=1)})/"


# (year, last Sunday of March, last Sunday of October)
SWITCHES = [(2024, 31, 27), (2025, 30, 26), (2026, 29, 25), (2029, 25, 28)]


@pytest.mark.parametrize(("year", "march", "october"), SWITCHES)
def test_json_dates_at_both_switches(year: int, march: int, october: int) -> None:
    assert odata.json_date(datetime(year, 3, march, 0, 59, tzinfo=UTC)) == wall_clock_ms(
        datetime(year, 3, march, 1, 59)
    )
    assert odata.json_date(datetime(year, 3, march, 1, tzinfo=UTC)) == wall_clock_ms(datetime(year, 3, march, 3))
    twice = wall_clock_ms(datetime(year, 10, october, 2, 30))
    assert odata.json_date(datetime(year, 10, october, 0, 30, tzinfo=UTC)) == twice
    assert odata.json_date(datetime(year, 10, october, 1, 30, tzinfo=UTC)) == twice
    assert odata.parse_json_date(twice) == datetime(year, 10, october, 0, 30, tzinfo=UTC)  # the first of the two
    gap = wall_clock_ms(datetime(year, 3, march, 2, 30))  # does not exist: read with the winter offset
    assert odata.parse_json_date(gap) == datetime(year, 3, march, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("year", [2025, 2026, 2030])
def test_midnight_new_year_and_calendar_days(year: int) -> None:
    new_year = datetime(year, 12, 31, 23, tzinfo=UTC)
    assert odata.json_date(new_year) == wall_clock_ms(datetime(year + 1, 1, 1))
    assert odata.json_date(date(year, 7, 1)) == wall_clock_ms(datetime(year, 7, 1))
    assert odata.as_utc(date(year, 7, 1)) == datetime(year, 6, 30, 22, tzinfo=UTC)
    row = {"Created": new_year}
    types = {"Created": odata.DATETIME}
    assert odata.FilterExpression(f"year(Created) eq {year + 1} and day(Created) eq 1", types, "X").matches(row)
    assert odata.FilterExpression(f"Created ge datetime'{year + 1}-01-01'", types, "X").matches(row)
    assert not odata.FilterExpression(f"Created ge datetime'{year + 1}-01-01'", types, "X").matches(
        {"Created": new_year - timedelta(seconds=1)}
    )


def _moments(year: int, march: int, october: int) -> dict[str, datetime]:
    return {
        "winter-evening": datetime(year, 2, 28, 22, 59, tzinfo=UTC),  # 23:59 CET
        "first-of-march": datetime(year, 2, 28, 23, 30, tzinfo=UTC),  # 00:30 CET, 1 March
        "before-spring": datetime(year, 3, march, 0, 59, tzinfo=UTC),  # 01:59 CET
        "after-spring": datetime(year, 3, march, 1, 0, tzinfo=UTC),  # 03:00 CEST
        "summer-evening": datetime(year, 6, 30, 21, 59, tzinfo=UTC),  # 23:59 CEST
        "first-of-july": datetime(year, 6, 30, 22, 30, tzinfo=UTC),  # 00:30 CEST, 1 July
        "autumn-first": datetime(year, 10, october, 0, 30, tzinfo=UTC),  # 02:30 CEST
        "autumn-second": datetime(year, 10, october, 1, 30, tzinfo=UTC),  # 02:30 CET, the hour once more
        "after-autumn": datetime(year, 10, october, 2, 0, tzinfo=UTC),  # 03:00 CET
    }


ORDER = [
    "winter-evening",
    "first-of-march",
    "before-spring",
    "after-spring",
    "summer-evening",
    "first-of-july",
    "autumn-first",
    "autumn-second",
    "after-autumn",
]


def from_on(first: str) -> set[str]:
    """The moments from ``first`` on (a ``ge`` filter's answer)."""
    return set(ORDER[ORDER.index(first) :])


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("Modified ge datetime'{year}-03-01'", from_on("first-of-march")),
        ("Modified ge datetime'{year}-03-{march:02d}T03:00:00'", from_on("after-spring")),
        ("Modified lt datetime'{year}-03-{march:02d}T02:00:00'", {"winter-evening", "first-of-march", "before-spring"}),
        ("Modified ge datetime'{year}-07-01'", from_on("first-of-july")),
        ("Modified ge datetime'{year}-10-{october:02d}T02:30:00'", {"autumn-first", "autumn-second", "after-autumn"}),
        ("Modified ge datetime'{year}-10-{october:02d}T03:00:00'", {"after-autumn"}),
        ("Modified ge datetime'{year}-10-{october:02d}T00:30:00Z'", {"autumn-first", "autumn-second", "after-autumn"}),
        ("Modified ge datetime'{year}-10-{october:02d}T01:00:00Z'", {"autumn-second", "after-autumn"}),
    ],
)
@pytest.mark.parametrize(("year", "march", "october"), SWITCHES[1:3])
def test_modified_ge_over_http_selects_exactly_the_right_records(
    year: int, march: int, october: int, literal: str, expected: set[str]
) -> None:
    moments = _moments(year, march, october)
    sandbox = make_sandbox(accounts=1)
    names: dict[str, str] = {}
    for name, moment in moments.items():
        bank = sandbox.create(OFFICE, model.BANK_ACCOUNTS, BankAccount=f"NL{len(names):02d}TEST", Modified=moment)
        names[bank["ID"]] = name
    text = literal.format(year=year, march=march, october=october)
    window = f" and Modified ge datetime'{year}-02-28T12:00:00' and Modified lt datetime'{year}-11-01'"
    with sandbox.serve() as server, api_client(sandbox, base_url=server.base_url) as api:
        response = api.get(
            f"/api/v1/{OFFICE}/crm/BankAccounts", params={"$select": "ID,Modified", "$filter": text + window}
        )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["d"]["results"]
    assert {names[row["ID"]] for row in rows if row["ID"] in names} == expected
    for row in rows:
        assert row["Modified"] == odata.json_date(moments[names[row["ID"]]])
