"""Exact Online's OData v2 conventions, in one place.

* Dates travel as ``"/Date(1535718344017)/"``: Amsterdam wall-clock time (CET/CEST) written as milliseconds
  since the epoch, *not* UTC; ``datetime'…'`` filter literals are Amsterdam wall-clock time too. Inside
  exactlink every moment is an aware UTC datetime; the conversion both ways happens here and only here
  (:func:`from_exact_wall_clock`, :func:`to_exact_wall_clock`). See docs/exact-online.md.
* Account codes are fixed-width: right-aligned and space-padded to 18 characters. A ``$filter`` on
  ``Code`` must contain the padding; locally we always compare trimmed codes.
* ``$filter`` literals: ``guid'…'``, ``datetime'…'``, ``'…'`` (quotes doubled), ``123L``.
* Collections arrive as ``{"d": {"results": [...], "__next": "…"}}`` or, for some endpoints, as
  ``{"d": [...]}``; a single entity (the answer to a POST) as ``{"d": {...}}``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CODE_WIDTH = 18

EXACT_TIME_ZONE = ZoneInfo("Europe/Amsterdam")
"""The zone of Exact Online's wall clock: every date it sends or reads without an offset is in this zone."""

_NAIVE_EPOCH = datetime(1970, 1, 1)
_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def from_exact_wall_clock(wall_clock: datetime) -> datetime:
    """An Amsterdam wall-clock time (naive, as Exact writes it) as an aware UTC datetime.

    Daylight-saving edges are resolved the same way every time: a time that occurs twice (the last Sunday
    of October, 02:00-02:59) is the *first* occurrence (CEST); a time that does not exist (the last Sunday of
    March, 02:00-02:59) is read with the offset in force before the switch (CET), so 02:30 becomes 03:30
    CEST. Both choices make a ``ge`` cursor start early rather than late: records are read twice, never missed.
    """
    return wall_clock.replace(tzinfo=EXACT_TIME_ZONE, fold=0).astimezone(UTC)


def to_exact_wall_clock(moment: datetime) -> datetime:
    """An aware datetime as Exact's naive Amsterdam wall-clock time (a naive ``moment`` is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(EXACT_TIME_ZONE).replace(tzinfo=None)


def exact_midnight(day: date) -> datetime:
    """The moment (aware UTC) a calendar day starts on Exact's clock: 00:00 in Amsterdam."""
    return from_exact_wall_clock(datetime(day.year, day.month, day.day))


def exact_day(moment: datetime) -> date:
    """The calendar day a moment falls on in Exact's zone (a ``DueDate`` sent as midnight gives that day)."""
    return to_exact_wall_clock(moment).date()


def parse_date(value: object) -> datetime | None:
    """Turn Exact's ``/Date(ms)/`` (or an ISO-8601 string, a date, a datetime) into an aware UTC datetime.

    ``None`` and the empty string give ``None``. The milliseconds and an ISO string without an offset are
    Amsterdam wall-clock time (see :func:`from_exact_wall_clock`); an ISO string with an offset means what it
    says; a ``date`` is its midnight in Amsterdam; a naive ``datetime`` is exactlink's own and so already UTC.
    An optional ``+hhmm`` suffix after the milliseconds (the WCF convention) is ignored.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return exact_midnight(value)
    if not isinstance(value, str):
        raise ValueError(f"not an Exact Online date: {value!r}")
    match = _DATE.match(value.strip())
    if match:
        return from_exact_wall_clock(_NAIVE_EPOCH + timedelta(milliseconds=int(match.group(1))))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not an Exact Online date: {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else from_exact_wall_clock(parsed)


def format_date(value: datetime | date) -> str:
    """The ``/Date(ms)/`` form Exact Online reads in JSON bodies: Amsterdam wall-clock milliseconds.

    A ``date`` is its midnight; a naive ``datetime`` is taken as UTC (exactlink's own convention).
    """
    wall_clock = (
        to_exact_wall_clock(value) if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    )
    milliseconds = (wall_clock - _NAIVE_EPOCH) // timedelta(milliseconds=1)
    return f"/Date({milliseconds})/"


def pad_code(code: str | int) -> str:
    """An account code as Exact stores it: right-aligned, space-padded to 18 characters.

    Raises:
        ValueError: the code is empty or longer than 18 characters.
    """
    text = str(code).strip()
    if not text:
        raise ValueError("an account code cannot be empty")
    if len(text) > CODE_WIDTH:
        raise ValueError(f"account code {text!r} is longer than {CODE_WIDTH} characters")
    return text.rjust(CODE_WIDTH)


def trim_code(code: str | int | None) -> str | None:
    """An account code without Exact's padding (``None`` stays ``None``)."""
    if code is None:
        return None
    return str(code).strip()


def string_literal(value: str) -> str:
    """A quoted OData string literal; a single quote inside is doubled."""
    return "'" + value.replace("'", "''") + "'"


def code_literal(code: str | int) -> str:
    """The literal for a ``Code eq …`` filter, with the padding Exact requires."""
    return string_literal(pad_code(code))


def guid_literal(value: str | uuid.UUID) -> str:
    """``guid'…'`` for a GUID; refuses anything that is not one (so no filter injection is possible)."""
    try:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip())
    except ValueError:
        raise ValueError(f"not a GUID: {value!r}") from None
    return f"guid'{parsed}'"


def datetime_literal(value: datetime | date) -> str:
    """``datetime'2024-01-31T14:45:00'``: the moment on Amsterdam's wall clock, without an offset, as Exact reads it.

    A ``date`` stays a date (Exact reads it as that day's Amsterdam midnight); a naive ``datetime`` is taken
    as UTC. Microseconds are dropped.
    """
    if not isinstance(value, datetime):
        return f"datetime'{value.isoformat()}'"
    return f"datetime'{to_exact_wall_clock(value).replace(microsecond=0).isoformat()}'"


def int64_literal(value: int) -> str:
    """``123L``, the Int64 form the sync endpoints' ``Timestamp gt …`` filter needs."""
    return f"{int(value)}L"


def key_path(path: str, guid: str | uuid.UUID) -> str:
    """Address one entity by key, e.g. ``crm/Accounts(guid'…')`` for PUT and DELETE."""
    return f"{path}({guid_literal(guid)})"


def unwrap_collection(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of one page and the ``__next`` link (``None`` on the last page).

    Raises:
        ValueError: the body is not an OData collection.
    """
    if not isinstance(body, dict) or "d" not in body:
        raise ValueError("the answer is not an OData document (no 'd')")
    payload = body["d"]
    if isinstance(payload, list):
        return [row for row in payload if isinstance(row, dict)], None
    if isinstance(payload, dict) and "results" in payload:
        results = payload["results"]
        if not isinstance(results, list):
            raise ValueError("'d.results' is not a list")
        next_link = payload.get("__next")
        return [row for row in results if isinstance(row, dict)], next_link or None
    if isinstance(payload, dict) and payload:
        return [payload], None
    if isinstance(payload, dict):
        raise ValueError("'d' is empty: neither rows nor an entity")
    raise ValueError("'d' is neither a collection nor an entity")


def unwrap_entity(body: Any) -> dict[str, Any]:
    """The entity in ``{"d": {...}}`` (a POST's answer); a one-row collection is accepted too."""
    if isinstance(body, dict) and isinstance(body.get("d"), dict) and "results" not in body["d"]:
        entity: dict[str, Any] = body["d"]
        return entity
    rows, _ = unwrap_collection(body)
    if len(rows) != 1:
        raise ValueError(f"expected one entity, got {len(rows)}")
    return rows[0]
