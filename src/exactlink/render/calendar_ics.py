"""The deadline calendar: one all-day iCalendar event (RFC 5545) per open return, on its due date.

Written with the ``icalendar`` library (line folding, escaping and the date values are its work). An event's UID
is derived from the return's document id only, so every rewrite of the file describes the same events: an
agenda that subscribes to it updates an event in place, and a return that needs no more action disappears.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from exactlink.domain.overview import ReturnLine

PRODUCT_ID = "-//exactlink//deadlines//NL"
UID_DOMAIN = "exactlink.returns"
LOCAL_WORDS = {"new": "nieuw", "processed": "verwerkt", "rejected": "afgewezen"}


def event_uid(document_id: str) -> str:
    """The stable UID of a return's event."""
    return f"{document_id.lower()}@{UID_DOMAIN}"


def _summary(line: ReturnLine) -> str:
    who = f"{line.relation_number} {line.relation_name}".strip()
    return f"{line.kind_label} {line.period}: {who}"


def _description(line: ReturnLine) -> str:
    local = LOCAL_WORDS.get(line.local_status, line.local_status)
    parts = [
        f"Relatie: {line.relation_number} {line.relation_name}".strip(),
        f"Administratie: {line.division}" + (f" {line.administration}" if line.administration else ""),
        f"Soort: {line.kind_label}; periode: {line.period}",
        f"Status in Exact: {line.exact_status_text}; eigen status: {local}",
    ]
    if line.due_computed:
        parts.append("Vervaldatum berekend uit de periode (Exact Online gaf er geen)")
    parts.append(f"Document: {line.document_id}")
    return "\n".join(parts)


def render_calendar(lines: Iterable[ReturnLine], *, stamp: datetime) -> bytes:
    """The calendar of ``lines`` (each needs a due date) as bytes; ``stamp`` is every event's DTSTAMP (UTC)."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Aangiftes: vervaldatums")
    for line in lines:
        if line.due_date is None:
            continue
        event = Event()
        event.add("uid", event_uid(line.document_id))
        event.add("dtstamp", stamp)
        event.add("dtstart", line.due_date)
        event.add("dtend", line.due_date + timedelta(days=1))
        event.add("summary", _summary(line))
        event.add("description", _description(line))
        event.add("transp", "TRANSPARENT")
        event.add("categories", [line.kind_label])
        calendar.add_component(event)
    return calendar.to_ical()
