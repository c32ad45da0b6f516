"""The overview page and the deadline calendar as use cases: an in-memory mirror, the clock frozen on a named day."""

from __future__ import annotations

import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from icalendar import Calendar

from exactlink.clock import Clock
from exactlink.domain.overview import DueState, due_state, needs_action
from exactlink.errors import UsageError
from exactlink.services.overview import gather_overview, parse_mode, write_deadline_calendar, write_overview
from exactlink.workspace import Workspace
from tests.overview.office import BSN_IN_NAME, NOW, TODAY, document


def test_due_states_follow_the_days_left_and_what_is_still_to_do() -> None:
    assert due_state(-1, True) is DueState.OVERDUE
    assert due_state(0, True) is DueState.SOON
    assert due_state(7, True) is DueState.SOON
    assert due_state(8, True) is DueState.OPEN
    assert due_state(None, True) is DueState.NO_DATE
    assert due_state(-30, False) is DueState.DONE
    assert needs_action(40, "new") and not needs_action(50, "new") and not needs_action(0, "new")
    assert not needs_action(40, "processed") and needs_action(40, "rejected")


def test_the_overview_sorts_returns_by_due_date_and_says_what_needs_attention(ws: Workspace) -> None:
    overview = gather_overview(ws)
    assert overview.today == TODAY
    assert [line.document_id[-1] for line in overview.returns] == ["4", "1", "7", "2", "5", "3", "6"]
    assert [line.document_id for line in overview.overdue] == [document(1)]
    assert [line.document_id for line in overview.due_soon] == [document(2), document(5)]
    assert {line.document_id for line in overview.waiting_for_feedback} == {document(2), document(5), document(7)}
    assert [block.relation_number for block in overview.failed_fetches] == ["R2"]
    assert [block.relation_number for block in overview.unlinked] == ["R5"]
    assert [block.relation_number for block in overview.without_administration] == ["R3"]
    assert overview.run is not None and (overview.run.id, overview.run.outcome) == (1, "partial")  # not the skip
    assert overview.generated_at.isoformat() == "2027-03-10T09:30:00+01:00"
    r1 = next(block for block in overview.relations if block.relation_number == "R1")
    assert r1.vraagposten is not None
    assert (r1.vraagposten.count, r1.vraagposten.total, r1.vraagposten.oldest) == (2, 74.5, date(2026, 12, 20))


def test_the_page_follows_the_clock_not_the_day_the_suite_runs(ws: Workspace) -> None:
    ws._clock = None  # a week later the realised ICP return is overdue too
    ws._given_clock = Clock.frozen(NOW + timedelta(days=7))
    overview = gather_overview(ws)
    assert [line.document_id for line in overview.overdue] == [document(1), document(2)]


def test_the_page_is_one_private_file_without_a_bsn_or_markup_from_the_data(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "share" / "overzicht.html"
    written = write_overview(ws, target)
    page = target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert written.items == 7 and written.size == len(page.encode())
    assert BSN_IN_NAME not in page and "*****2333" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the page's own
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)  # nothing to load from anywhere
    assert "Content-Security-Policy" in page
    assert 'lang="nl"' in page and "Aandacht nodig" in page and "gerealiseerd" in page
    assert "Gemaakt op woensdag 10 maart 2027 om 09:30 (Europe/Amsterdam)" in page
    assert "na ophaalronde #1 van 10 maart 2027 om 09:00 (deels gelukt)" in page
    assert "Exact Online answered 401: no access to this administration" in page
    attention = page.split('<h2 id="returns">')[0]
    assert "R1 Bakkerij Jansen B.V.: BTW 2027-02, 2027-03-07 (3 dagen te laat)" in attention
    assert "R1 Bakkerij Jansen B.V.: ICP 2027-02, 2027-03-12 (over 2 dagen)" in attention
    assert [p.name for p in target.parent.iterdir()] == ["overzicht.html"]  # no temporary file left behind


def test_the_page_in_english_and_with_a_wider_mode(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "overview.html"
    write_overview(ws, target, lang="en", mode=parse_mode("0640"))
    page = target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert 'lang="en"' in page and "Needs attention" in page and "Realized" in page and "Aandacht" not in page
    with pytest.raises(UsageError, match="--lang"):
        write_overview(ws, target, lang="de")


@pytest.mark.parametrize("text", ["0666", "0200", "rw-r--r--", "1777"])
def test_a_mode_that_lets_others_write_or_is_no_mode_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--mode"):
        parse_mode(text)


def test_overdue_rows_are_marked_in_the_markup(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "overzicht.html"
    write_overview(ws, target)
    rows = re.findall(r"<tr class=(\w)><td>([^<]*)<td>(?:[^<]*<td>){4}([^<]*)<td>([^<]*)", target.read_text())
    by_due = {due: (mark, days) for mark, _, due, days in rows}
    overdue = (TODAY - timedelta(days=3)).isoformat()
    assert by_due[overdue] == ("o", "-3 (te laat)")
    assert by_due[(TODAY + timedelta(days=2)).isoformat()] == ("s", "2")
    assert by_due[(TODAY + timedelta(days=20)).isoformat()] == ("p", "20")
    assert by_due["—"] == ("n", "")


def _events(path: Path) -> dict[str, date]:
    calendar = Calendar.from_ical(path.read_bytes())
    return {str(event["UID"]): event.decoded("DTSTART") for event in calendar.walk("VEVENT")}


def test_the_calendar_has_one_event_per_open_return_on_its_due_date(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "deadlines.ics"
    written = write_deadline_calendar(ws, target)
    events = _events(target)
    assert written.items == len(events) == 4  # overdue, two due soon, one later; not done, not without a date
    assert events[f"{document(1)}@exactlink.returns"] == TODAY - timedelta(days=3)
    assert b"DTSTART;VALUE=DATE:" in target.read_bytes()
    assert BSN_IN_NAME.encode() not in target.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_rewriting_the_calendar_updates_events_in_place(ws: Workspace, tmp_path: Path) -> None:
    from exactlink.store.returns import mark_return

    target = tmp_path / "deadlines.ics"
    write_deadline_calendar(ws, target)
    first = _events(target)
    write_deadline_calendar(ws, target)
    assert _events(target) == first
    assert target.read_bytes().count(b"BEGIN:VEVENT") == 4  # no duplicates
    mark_return(ws.db, document(2), "processed")
    write_deadline_calendar(ws, target)
    assert set(_events(target)) == set(first) - {f"{document(2)}@exactlink.returns"}


def test_the_calendar_takes_the_list_filters(ws: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "deadlines.ics"
    assert write_deadline_calendar(ws, target, kind="loonheffing").items == 1
    assert write_deadline_calendar(ws, target, relations=["R1"]).items == 2
    assert write_deadline_calendar(ws, target, overdue=True).items == 1
    assert write_deadline_calendar(ws, target, due_within=7).items == 3  # 2 due within a week, and the overdue one
    with pytest.raises(UsageError, match="--ics"):
        write_deadline_calendar(ws, target, kind="vraagposten")


@time_machine.travel("2031-02-28 23:30 +00:00", tick=False)
def test_the_default_clock_is_the_office_day(ws: Workspace) -> None:
    ws._clock = None
    ws._given_clock = None  # the system clock, moved by time-machine: already 1 March in Amsterdam
    assert gather_overview(ws).today == date(2031, 3, 1)


def test_an_empty_mirror_gives_a_page_that_says_so(tmp_path: Path) -> None:
    import sqlite_utils

    from exactlink.settings import load_settings
    from exactlink.store.db import migrate
    from exactlink.workspace import RecordingOutput

    database = sqlite_utils.Database(memory=True)
    migrate(database)
    workspace = Workspace(load_settings(), clock=Clock.frozen(NOW), output=RecordingOutput())
    workspace._db = database
    written = write_overview(workspace, tmp_path / "leeg.html")
    page = written.path.read_text(encoding="utf-8")
    assert written.items == 0
    assert "er is nog geen ophaalronde geweest (exactlink fetch-returns)" in page
    assert "Te laat (0)" in page and "<tbody>\n\n</tbody>" in page


def test_a_file_that_cannot_be_written_is_one_plain_error(ws: Workspace, tmp_path: Path) -> None:
    from exactlink.errors import ExactlinkError

    (tmp_path / "a-directory").mkdir()
    with pytest.raises(ExactlinkError, match=r"cannot write the overview page to .*a-directory: Is a directory"):
        write_overview(ws, tmp_path / "a-directory")
    with pytest.raises(ExactlinkError, match="cannot write the calendar to"):
        write_deadline_calendar(ws, tmp_path / "a-directory")
