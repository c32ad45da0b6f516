"""OData conventions: /Date(ms)/, padded codes, filter literals, unwrapping."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactlink.api import odata

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUR = 3_600_000


def _ms(wall_clock: datetime) -> str:
    """The ``/Date(ms)/`` Exact writes for a naive Amsterdam wall-clock time."""
    return f"/Date({(wall_clock - datetime(1970, 1, 1)) // timedelta(milliseconds=1)})/"


def test_parse_date_reads_milliseconds_as_amsterdam_wall_clock() -> None:
    # 2018-08-31 12:25:44 on the clock in Amsterdam (CEST, +2) is 10:25:44 UTC.
    assert odata.parse_date("/Date(1535718344017)/") == datetime(2018, 8, 31, 10, 25, 44, 17000, tzinfo=UTC)
    # In winter (CET, +1) the same wall-clock reading is one hour earlier in UTC.
    assert odata.parse_date(_ms(datetime(2026, 1, 15, 9, 30))) == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def test_parse_date_ignores_a_wcf_offset_suffix_and_handles_negatives() -> None:
    assert odata.parse_date("/Date(0+0100)/") == datetime(1969, 12, 31, 23, tzinfo=UTC)
    assert odata.parse_date("/Date(-86400000)/") == datetime(1969, 12, 30, 23, tzinfo=UTC)


def test_parse_date_empty_and_iso() -> None:
    assert odata.parse_date(None) is None
    assert odata.parse_date("") is None
    assert odata.parse_date("2024-05-01T10:00:00") == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert odata.parse_date("2024-05-01T10:00:00+00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert odata.parse_date(date(2024, 5, 1)) == datetime(2024, 4, 30, 22, tzinfo=UTC)
    with pytest.raises(ValueError):
        odata.parse_date("yesterday")


# (year, last Sunday of March, last Sunday of October): the two switches of several years.
SWITCHES = [(2021, 28, 31), (2024, 31, 27), (2025, 30, 26), (2026, 29, 25), (2027, 28, 31), (2030, 31, 27)]


@pytest.mark.parametrize(("year", "march", "october"), SWITCHES)
def test_the_spring_switch_both_ways(year: int, march: int, october: int) -> None:
    before, after = datetime(year, 3, march, 1, 59, 59), datetime(year, 3, march, 3)
    assert odata.parse_date(_ms(before)) == datetime(year, 3, march, 0, 59, 59, tzinfo=UTC)
    assert odata.parse_date(_ms(after)) == datetime(year, 3, march, 1, tzinfo=UTC)
    # 02:30 does not exist that night: read with the winter offset, it is 01:30 UTC (03:30 CEST).
    assert odata.parse_date(_ms(datetime(year, 3, march, 2, 30))) == datetime(year, 3, march, 1, 30, tzinfo=UTC)
    assert odata.format_date(datetime(year, 3, march, 0, 59, 59, tzinfo=UTC)) == _ms(before)
    assert odata.format_date(datetime(year, 3, march, 1, tzinfo=UTC)) == _ms(after)
    assert odata.datetime_literal(datetime(year, 3, march, 1, tzinfo=UTC)) == f"datetime'{after.isoformat()}'"


@pytest.mark.parametrize(("year", "march", "october"), SWITCHES)
def test_the_autumn_switch_both_ways(year: int, march: int, october: int) -> None:
    first, second = datetime(year, 10, october, 0, 30, tzinfo=UTC), datetime(year, 10, october, 1, 30, tzinfo=UTC)
    twice = datetime(year, 10, october, 2, 30)  # the wall clock shows 02:30 at both moments
    assert odata.format_date(first) == odata.format_date(second) == _ms(twice)
    assert odata.datetime_literal(second) == f"datetime'{twice.isoformat()}'"
    # Read back it is the first of the two: a "ge" cursor starts early, never late.
    assert odata.parse_date(_ms(twice)) == first
    assert odata.parse_date(_ms(datetime(year, 10, october, 3))) == datetime(year, 10, october, 2, tzinfo=UTC)
    assert odata.parse_date(_ms(datetime(year, 10, october, 1, 59))) == datetime(
        year, 10, october, 23, 59, tzinfo=UTC
    ) - timedelta(days=1)


@pytest.mark.parametrize("year", [2019, 2025, 2026, 2031])
def test_midnight_and_new_year(year: int) -> None:
    new_year = datetime(year, 12, 31, 23, tzinfo=UTC)  # 1 January, 00:00 in Amsterdam
    assert odata.format_date(new_year) == _ms(datetime(year + 1, 1, 1))
    assert odata.datetime_literal(new_year) == f"datetime'{year + 1}-01-01T00:00:00'"
    assert odata.parse_date(_ms(datetime(year + 1, 1, 1))) == new_year
    assert odata.exact_midnight(date(year + 1, 1, 1)) == new_year
    assert odata.exact_day(new_year) == date(year + 1, 1, 1)
    assert odata.exact_day(new_year - timedelta(seconds=1)) == date(year, 12, 31)
    summer_midnight = datetime(year, 7, 1, tzinfo=AMSTERDAM)
    assert odata.exact_midnight(date(year, 7, 1)) == datetime(year, 6, 30, 22, tzinfo=UTC) == summer_midnight
    assert odata.format_date(date(year, 7, 1)) == _ms(datetime(year, 7, 1))
    assert odata.datetime_literal(date(year, 7, 1)) == f"datetime'{year}-07-01'"


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_format_and_parse_round_trip_to_the_millisecond(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    back = odata.parse_date(odata.format_date(moment))
    # Exact's wall clock shows the hour after the October switch twice; such a moment comes back as the first.
    repeated_hour = moment.astimezone(AMSTERDAM).fold == 1
    assert back == (moment - timedelta(hours=1) if repeated_hour else moment)


def test_format_date_of_a_plain_date_and_an_offset_datetime() -> None:
    assert odata.format_date(date(1970, 1, 2)) == "/Date(86400000)/"
    plus_two = datetime(1970, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert odata.format_date(plus_two) == f"/Date({HOUR})/"  # midnight UTC was 01:00 in Amsterdam


def test_pad_and_trim_code() -> None:
    assert odata.pad_code("25") == " " * 16 + "25"
    assert odata.pad_code(12345) == "12345".rjust(18)
    assert len(odata.pad_code("  7 ")) == 18
    assert odata.trim_code(" " * 16 + "25") == "25"
    assert odata.trim_code(None) is None
    with pytest.raises(ValueError):
        odata.pad_code("")
    with pytest.raises(ValueError):
        odata.pad_code("1" * 19)


def test_filter_literals() -> None:
    guid = "3FA85F64-5717-4562-B3FC-2C963F66AFA6"
    assert odata.guid_literal(guid) == "guid'3fa85f64-5717-4562-b3fc-2c963f66afa6'"
    assert odata.guid_literal(uuid.UUID(guid)).startswith("guid'3fa8")
    with pytest.raises(ValueError):
        odata.guid_literal("x' or 1 eq 1 or '")
    assert odata.string_literal("O'Brien & Zn") == "'O''Brien & Zn'"
    assert odata.code_literal("25") == "'" + "25".rjust(18) + "'"
    assert odata.datetime_literal(datetime(2024, 1, 31, 13, 45, 12, 999, tzinfo=UTC)) == "datetime'2024-01-31T14:45:12'"
    assert odata.datetime_literal(datetime(2024, 7, 31, 13, 45, 12, tzinfo=UTC)) == "datetime'2024-07-31T15:45:12'"
    assert odata.datetime_literal(date(2024, 1, 1)) == "datetime'2024-01-01'"
    assert odata.int64_literal(123) == "123L"
    assert odata.key_path("crm/Accounts", guid) == "crm/Accounts(guid'3fa85f64-5717-4562-b3fc-2c963f66afa6')"


def test_unwrap_both_collection_shapes_and_an_entity() -> None:
    rows, next_link = odata.unwrap_collection({"d": {"results": [{"a": 1}], "__next": "https://x/next"}})
    assert rows == [{"a": 1}] and next_link == "https://x/next"
    assert odata.unwrap_collection({"d": [{"a": 2}]}) == ([{"a": 2}], None)
    assert odata.unwrap_entity({"d": {"ID": "x"}}) == {"ID": "x"}
    assert odata.unwrap_entity({"d": {"results": [{"ID": "y"}]}}) == {"ID": "y"}
    with pytest.raises(ValueError):
        odata.unwrap_collection({"value": []})
