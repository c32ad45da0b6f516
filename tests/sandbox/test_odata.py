"""The $filter parser, $select/$orderby checks and value encoding."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from exactlink.sandbox import odata
from exactlink.sandbox.schema import ACCOUNT

GUID_A = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
ENTITY = "Exact.Web.Api.Models.Account"
TYPES = {**ACCOUNT, "Timestamp": odata.INT64, "Amount": odata.DOUBLE}

ROW: dict[str, Any] = {
    "ID": GUID_A,
    "Code": "              1234",
    "Name": "O'Brien Holding B.V.",
    "City": "Utrecht",
    "Blocked": False,
    "IsSales": True,
    "Created": datetime(2026, 1, 1, 10, 0, tzinfo=UTC),
    "Timestamp": 5000,
    "Amount": 12.5,
    "Parent": None,
    "IsAccountant": 2,
}


def matches(text: str, row: dict[str, Any] | None = None) -> bool:
    return odata.FilterExpression(text, TYPES, ENTITY).matches(row or ROW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"ID eq guid'{GUID_A}'", True),
        (f"ID eq guid'{GUID_A.upper()}'", True),
        ("ID ne guid'00000000-0000-0000-0000-000000000000'", True),
        ("Code eq '              1234'", True),
        ("Code eq '1234'", False),  # Exact compares the padded value
        ("Name eq 'O''Brien Holding B.V.'", True),
        ("City eq 'Utrecht' and Blocked eq false", True),
        ("City eq 'Zwolle' or IsSales eq true", True),
        ("(City eq 'Zwolle' or City eq 'Utrecht') and not (Blocked eq true)", True),
        ("City eq 'Zwolle' or City eq 'Utrecht' and Blocked eq true", False),  # and binds tighter than or
        ("Created ge datetime'2026-01-01'", True),
        ("Created gt datetime'2026-01-01T11:00:00'", False),  # literals are Amsterdam time: 10:00 UTC is 11:00
        ("Created lt datetime'2026-01-01T11:00:01'", True),
        ("Created lt datetime'2026-01-01T10:00:01'", False),
        ("Created le datetime'2026-01-01T10:00:00Z'", True),  # an explicit offset means what it says
        ("Created gt datetimeoffset'2026-01-01T10:00:00+01:00'", True),
        ("Timestamp gt 4999L", True),
        ("Timestamp gt 5000", False),
        ("Amount ge 12", True),
        ("Amount lt 12.6M", True),
        ("IsAccountant eq 2", True),
        ("Parent eq null", True),
        ("Parent ne null", False),
        ("City ne null", True),
        ("Parent gt guid'00000000-0000-0000-0000-000000000000'", False),
        ("startswith(Name,'O''B')", True),
        ("substringof('Holding',Name)", True),
        ("endswith(Name,'B.V.') eq true", True),
        ("tolower(City) eq 'utrecht'", True),
        ("trim(Code) eq '1234'", True),
        ("length(City) eq 7", True),
        ("year(Created) eq 2026 and month(Created) eq 1 and day(Created) eq 1", True),
        ("IsSales", True),
        ("not Blocked", True),
    ],
)
def test_filter_semantics(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "message_start"),
    [
        ("", "Expression expected"),
        ("Name eq", "Expression expected"),
        ("Name eq 'unterminated", "There is an unterminated string literal"),
        ("Foo eq 1", "No property 'Foo' exists in type 'Exact.Web.Api.Models.Account'"),
        ("ID eq 'not-a-guid'", "Operator 'eq' incompatible with operand types 'System.Guid' and 'System.String'"),
        ("ID eq guid'nope'", "Unrecognized 'Edm.Guid' literal"),
        ("Created ge datetime'yesterday'", "Unrecognized 'Edm.DateTime' literal"),
        ("Name eq 1", "Operator 'eq' incompatible"),
        ("Blocked gt true", "Operator 'gt' incompatible"),
        ("Name", "The $filter expression must evaluate to a single boolean value."),
        ("Name eq 'a' and", "Expression expected"),
        ("(Name eq 'a'", "')' or operator expected"),
        ("Name eq 'a')", "Syntax error"),
        ("Name eq 'a' xor City eq 'b'", "Syntax error"),
        ("Amount add 1 eq 2", "Arithmetic operator 'add' is not supported"),
        ("frobnicate(Name) eq 1", "Unknown function 'frobnicate'"),
        ("startswith(Name) eq true", "No applicable function found for 'startswith'"),
        ("Name eq 'a' and 5", "Expression of type 'System.Int32' expected to be of type 'System.Boolean'"),
        ("Name eq @", "Syntax error"),
        ("Timestamp gt 1.5L", "Unrecognized 'Edm.Int64' literal"),
        ("Name eq binary'00'", "Unrecognized literal"),
    ],
)
def test_bad_filters_raise_odata_errors(text: str, message_start: str) -> None:
    with pytest.raises(odata.ODataError) as caught:
        odata.FilterExpression(text, TYPES, ENTITY)
    assert caught.value.message.startswith(message_start), caught.value.message


def test_helpers_for_indexes_and_sync() -> None:
    expression = odata.FilterExpression(f"ID eq guid'{GUID_A}' and City eq 'Utrecht' or Name eq 'x'", TYPES, ENTITY)
    assert expression.equality_terms() == []  # top level is an "or": no index can answer it
    expression = odata.FilterExpression(f"guid'{GUID_A.upper()}' eq ID and Blocked eq false", TYPES, ENTITY)
    assert expression.equality_terms() == [("ID", GUID_A), ("Blocked", False)]
    assert expression.properties() == {"ID", "Blocked"}
    assert odata.FilterExpression("Timestamp gt 123L", TYPES, ENTITY).timestamp_cursor() == 123
    assert odata.FilterExpression("Timestamp gt 7", TYPES, ENTITY).timestamp_cursor() == 7
    assert odata.FilterExpression("Timestamp ge 7", TYPES, ENTITY).timestamp_cursor() is None
    assert odata.FilterExpression("Timestamp gt 7 and Name eq 'a'", TYPES, ENTITY).timestamp_cursor() is None


def test_select_and_orderby() -> None:
    names = list(TYPES)
    assert odata.parse_select("ID, Code,ID", names, ENTITY) == ["ID", "Code"]
    with pytest.raises(odata.ODataError, match="No property 'Main' exists"):
        odata.parse_select("ID,Main", names, ENTITY)
    with pytest.raises(odata.ODataError, match="Syntax error"):
        odata.parse_select("ID,,Code", names, ENTITY)
    with pytest.raises(odata.ODataError):
        odata.parse_select("*", names, ENTITY)
    assert odata.parse_orderby("Name desc, Code", names, ENTITY) == [("Name", True), ("Code", False)]
    with pytest.raises(odata.ODataError):
        odata.parse_orderby("Name sideways", names, ENTITY)


def test_dates_are_written_as_json_dates_and_read_back() -> None:
    # Exact writes Amsterdam wall-clock time as milliseconds: 10:25:44 UTC is 12:25:44 CEST.
    moment = datetime(2018, 8, 31, 10, 25, 44, 17000, tzinfo=UTC)
    assert odata.json_date(moment) == "/Date(1535718344017)/"
    assert odata.json_date(date(1970, 1, 2)) == "/Date(86400000)/"  # a calendar day is its midnight
    assert odata.json_date(datetime(1969, 12, 30, 23, tzinfo=UTC)) == "/Date(-86400000)/"
    assert odata.parse_json_date("/Date(1535718344017)/") == moment
    assert odata.parse_json_date("2018-08-31T12:25:44.017") == moment
    assert odata.parse_json_date("2018-08-31T10:25:44.017Z") == moment
    assert odata.to_json_value(moment) == "/Date(1535718344017)/"
    assert odata.to_json_value("text") == "text"
