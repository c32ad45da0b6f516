"""Moments as an office reads them: the wall clock of the office's zone (``schedule.timezone``).

Everything exactlink keeps and puts in ``--json`` is ISO 8601 in UTC; every human-readable line shows the same
moment as ``2026-12-07 09:15 CET`` (``CEST`` in summer), so nobody has to add an hour, or two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def stored_moment(text: str | None) -> datetime | None:
    """An ISO moment as exactlink stores it, aware (a naive one is UTC); ``None`` for empty or unreadable text."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def office_time(moment: str | datetime | float | None, zone: str, *, seconds: bool = False) -> str:
    """``moment`` (ISO text, an aware datetime or epoch seconds) as ``YYYY-MM-DD HH:MM ZZZ`` in ``zone``.

    Text that is not an ISO moment is returned as it is; ``None`` and ``""`` give ``""``. A naive moment is
    taken as UTC (that is how exactlink stores them).
    """
    if moment is None or moment == "":
        return ""
    if isinstance(moment, int | float):
        aware = datetime.fromtimestamp(moment, UTC)
    elif isinstance(moment, datetime):
        aware = moment
    else:
        parsed = stored_moment(moment)
        if parsed is None:
            return moment
        aware = parsed
    if aware.tzinfo is None:
        aware = aware.replace(tzinfo=UTC)
    local = aware.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
