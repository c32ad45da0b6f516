"""Exact Online's OData v2 conventions, in one place.

* Dates travel as ``"/Date(1535718344017)/"`` (milliseconds since the Unix epoch, read as UTC).
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

CODE_WIDTH = 18

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_date(value: object) -> datetime | None:
    """Turn ``/Date(ms)/`` (or an ISO-8601 string, or a datetime) into an aware UTC datetime.

    ``None`` and the empty string give ``None``. An optional ``+hhmm`` suffix is an offset that is
    already included in the milliseconds (the WCF convention), so it is ignored.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not an Exact Online date: {value!r}")
    match = _DATE.match(value.strip())
    if match:
        return _EPOCH + timedelta(milliseconds=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"not an Exact Online date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_date(value: datetime | date) -> str:
    """The ``/Date(ms)/`` form Exact Online uses in JSON bodies (naive datetimes are taken as UTC)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    milliseconds = (value - _EPOCH) // timedelta(milliseconds=1)
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
    """``datetime'2024-01-31T13:45:00'`` (aware datetimes are converted to UTC first)."""
    if not isinstance(value, datetime):
        return f"datetime'{value.isoformat()}'"
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return f"datetime'{value.replace(microsecond=0).isoformat()}'"


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
