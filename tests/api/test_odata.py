"""OData conventions: /Date(ms)/, padded codes, filter literals, unwrapping."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactlink.api import odata


def test_parse_date_reads_milliseconds_as_utc() -> None:
    assert odata.parse_date("/Date(1535718344017)/") == datetime(2018, 8, 31, 12, 25, 44, 17000, tzinfo=UTC)


def test_parse_date_ignores_a_wcf_offset_suffix_and_handles_negatives() -> None:
    assert odata.parse_date("/Date(0+0100)/") == datetime(1970, 1, 1, tzinfo=UTC)
    assert odata.parse_date("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=UTC)


def test_parse_date_empty_and_iso() -> None:
    assert odata.parse_date(None) is None
    assert odata.parse_date("") is None
    assert odata.parse_date("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        odata.parse_date("yesterday")


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_format_and_parse_round_trip_to_the_millisecond(moment: datetime) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert odata.parse_date(odata.format_date(moment)) == moment


def test_format_date_of_a_plain_date_and_an_offset_datetime() -> None:
    assert odata.format_date(date(1970, 1, 2)) == "/Date(86400000)/"
    plus_two = datetime(1970, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert odata.format_date(plus_two) == "/Date(0)/"


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
    assert odata.datetime_literal(datetime(2024, 1, 31, 13, 45, 12, 999, tzinfo=UTC)) == "datetime'2024-01-31T13:45:12'"
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
