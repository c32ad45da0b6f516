"""What an hourly ``fetch-returns`` costs: the first run, the steady state, a changed chart of accounts, the daily
read of deleted lines and the weekly check for a move to another database.

The whole use case (``fetch_returns`` with its run lifecycle) on an in-memory database with a frozen clock;
Exact's answers come from recorded JSON files through an ``httpx.MockTransport`` that applies the sync API's one
filter (``Timestamp gt N``) as Exact documents it. No server, no sleeping.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils

from exactlink.api.client import ExactClient
from exactlink.clock import Clock
from exactlink.services.returns_fetch import fetch_returns
from exactlink.store.db import migrate
from exactlink.store.links import set_administration_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, set_sbr_start, upsert_relation
from exactlink.store.returns import list_vraagposten
from exactlink.workspace import RecordingOutput, Workspace

DIVISION = 2001
NOW = datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent.parent / "fixtures"
RETURNS: list[dict[str, Any]] = json.loads((FIXTURES / "returns_2001.json").read_text(encoding="utf-8"))
LEDGER: dict[str, list[dict[str, Any]]] = json.loads((FIXTURES / "vraagposten_2001.json").read_text(encoding="utf-8"))
_SINCE = re.compile(r"^Timestamp gt (\d+)L?$")
LINES = "sync/Financial/TransactionLines"
CHART = "sync/Financial/GLAccounts"
DELETED = "sync/Deleted"
DIVISIONS = "system/Divisions"
FIRST_RUN = {"read/financial/Returns": 1, CHART: 1, LINES: 1, DELETED: 1, DIVISIONS: 1}


class _Tokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the recorded answers never refuse the token")


class RecordedExact:
    """Answers from the recorded rows; sync endpoints answer the rows past the filter's Timestamp."""

    def __init__(self) -> None:
        self.rows = {"read/financial/Returns": copy.deepcopy(RETURNS), **copy.deepcopy(LEDGER)}
        self.rows[DELETED] = []
        self.rows[DIVISIONS] = [{"Code": DIVISION, "DivisionMoveDate": None}]
        self.calls: Counter[str] = Counter()
        self.filters: list[tuple[str, str]] = []
        self.next_timestamp = 1000

    def delete(self, path: str, row_id: str, entity_type: int) -> None:
        """Delete a row as a user in Exact would: it leaves ``path`` and enters sync/Deleted."""
        self.rows[path] = [row for row in self.rows[path] if row["ID"] != row_id]
        self.next_timestamp += 1
        self.rows[DELETED].append(
            {"ID": f"d-{row_id}", "EntityKey": row_id, "EntityType": entity_type, "Timestamp": str(self.next_timestamp)}
        )

    def move(self, moved_at: str) -> None:
        """Move the administration to another database as Exact does: every Timestamp starts again, lower."""
        stamp = 1
        for path in (CHART, LINES):
            for row in self.rows[path]:
                stamp += 1
                row["Timestamp"] = str(stamp)
        self.rows[DELETED] = []
        self.next_timestamp = stamp
        self.rows[DIVISIONS] = [{"Code": DIVISION, "DivisionMoveDate": moved_at}]

    def change(self, path: str, row_id: str, **values: Any) -> None:
        """Edit (or add) a row as a user in Exact would: it gets a new Timestamp."""
        self.next_timestamp += 1
        rows = self.rows[path]
        row = next((row for row in rows if row["ID"] == row_id), None)
        if row is None:
            row = {"ID": row_id}
            rows.append(row)
        row.update(values, Timestamp=str(self.next_timestamp))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split(f"/api/v1/{DIVISION}/", 1)[1]
        self.calls[path] += 1
        condition = request.url.params.get("$filter", "")
        self.filters.append((path, condition))
        rows = self.rows[path]
        if path.startswith("sync/"):
            match = _SINCE.match(condition)
            assert match, f"the sync API takes only Timestamp gt N, not {condition!r}"
            rows = sorted(
                (row for row in rows if int(row["Timestamp"]) > int(match.group(1))), key=lambda r: int(r["Timestamp"])
            )
        return httpx.Response(200, json={"d": {"results": rows}})


class RecordedWorkspace(Workspace):
    """A workspace on an in-memory database whose client answers from :class:`RecordedExact`."""

    def __init__(self, exact: RecordedExact, clock: Clock) -> None:
        super().__init__(clock=clock, output=RecordingOutput())
        self.exact = exact
        self.memory = sqlite_utils.Database(memory=True)
        migrate(self.memory)

    @property
    def db(self) -> sqlite_utils.Database:
        return self.memory

    def client(self, *, store: Any = None) -> ExactClient:
        return ExactClient(
            "https://start.exactonline.nl", _Tokens(), transport=httpx.MockTransport(self.exact), sleep=lambda s: None
        )


@pytest.fixture
def exact() -> RecordedExact:
    return RecordedExact()


@pytest.fixture
def ws(exact: RecordedExact) -> Iterator[RecordedWorkspace]:
    workspace = RecordedWorkspace(exact, Clock.frozen(NOW))
    db = workspace.db
    set_office(db, 100, "Kantoor", now=NOW)
    upsert_relation(db, RelationRecord("R1", name="Bakkerij Jansen"), now=NOW)
    set_administration_link(db, "R1", DIVISION, now=NOW)
    set_sbr_start(db, "R1", date(2026, 1, 1))
    yield workspace
    workspace.memory.conn.close()


def _run(ws: RecordedWorkspace) -> dict[str, Any]:
    report = fetch_returns(ws, show_progress=False)
    assert report.exit_code == 0, report.failure_lines()
    [outcome] = report.outcomes
    return outcome.as_json()


def _open_amounts(ws: RecordedWorkspace) -> list[float]:
    return sorted(row.line.amount for row in list_vraagposten(ws.db, division=DIVISION))


def _link_account(ws: RecordedWorkspace) -> None:
    from exactlink.store.links import set_account_link

    set_account_link(ws.db, "R1", "0b7f8a1e-0000-4000-8000-000000000001", "R1", method="kvk", linked_by="auto", now=NOW)


@pytest.fixture(autouse=True)
def _linked(ws: RecordedWorkspace) -> None:
    _link_account(ws)


def _a_second_vraagposten_account(exact: RecordedExact) -> None:
    """The client's bookkeeper adds suspense account 2310 in Exact and books an open 10.00 on it."""
    exact.change(CHART, "a0000000-0000-4000-8000-000000000004", Code="2310", Description="Vraagposten bank")
    exact.change(
        LINES,
        "b0000000-0000-4000-8000-000000000006",
        EntryID="e5",
        EntryNumber=5,
        Date="/Date(1774224000000)/",
        AmountDC=10.0,
        Description="Nog uitzoeken",
        GLAccountCode="2310",
        LineNumber=1,
        Status=20,
    )


def test_the_first_run_reads_the_chart_and_every_line_once(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    first = _run(ws)

    assert exact.calls == FIRST_RUN, "+ the deletions' cursor and the move date, the start of their checks"
    assert ("sync/Financial/TransactionLines", "Timestamp gt 1L") in exact.filters
    assert (DIVISIONS, f"Code eq {DIVISION}") in exact.filters
    assert first["vraagposten_accounts"] == ["2300"]
    assert first["vraagposten_open"] == 2 and first["vraagposten_new"] == 2
    assert _open_amounts(ws) == [-45.0, 120.5]
    assert (first["new"], first["unchanged"]) == (2, 0)


def test_the_steady_state_costs_two_calls_and_changes_nothing(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    _run(ws)
    exact.calls.clear()
    exact.filters.clear()

    again = _run(ws)

    assert exact.calls == {"read/financial/Returns": 1, "sync/Financial/TransactionLines": 1}
    assert ("sync/Financial/TransactionLines", "Timestamp gt 204L") in exact.filters, "from the stored cursor"
    assert (again["new"], again["changed"], again["unchanged"]) == (0, 0, 2)
    assert again["vraagposten_open"] == 2 and again["vraagposten_new"] == 0
    assert _open_amounts(ws) == [-45.0, 120.5]


def test_a_changed_line_is_read_alone_and_the_rule_still_sees_the_whole_account(
    ws: RecordedWorkspace, exact: RecordedExact
) -> None:
    _run(ws)
    lines = "sync/Financial/TransactionLines"
    # The client answered: the 45.00 is booked away from the suspense account (it moves to 4500) …
    exact.change(lines, "b0000000-0000-4000-8000-000000000002", GLAccountCode="4500")
    # … and a new line of -120.50 clears the 120.50 (a pair).
    exact.change(
        lines,
        "b0000000-0000-4000-8000-000000000005",
        EntryID="e4",
        EntryNumber=4,
        Date="/Date(1774224000000)/",
        AmountDC=-120.5,
        Description="Uitgezocht",
        GLAccountCode="2300",
        LineNumber=1,
        Status=20,
    )
    exact.calls.clear()

    after = _run(ws)

    assert exact.calls == {"read/financial/Returns": 1, lines: 1}
    assert after["vraagposten_open"] == 0
    assert _open_amounts(ws) == []


def test_a_changed_chart_of_accounts_costs_what_it_must(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    _run(ws)
    _a_second_vraagposten_account(exact)
    exact.calls.clear()
    within_the_week = _run(ws)
    assert exact.calls == {"read/financial/Returns": 1, "sync/Financial/TransactionLines": 1}
    assert within_the_week["vraagposten_accounts"] == ["2300"], "the chart is trusted for a week"

    later = RecordedWorkspace(exact, Clock.frozen(datetime(2026, 4, 23, 9, 0, tzinfo=UTC)))
    later.memory = ws.memory
    exact.calls.clear()
    exact.filters.clear()
    changed = _run(later)  # eight days on

    assert exact.calls == FIRST_RUN, "the week's chart and move checks, the day's deletions"
    assert ("sync/Financial/GLAccounts", "Timestamp gt 103L") in exact.filters, "only the chart's changes"
    assert ("sync/Financial/TransactionLines", "Timestamp gt 1L") in exact.filters, "a new account: every line"
    assert changed["vraagposten_accounts"] == ["2300", "2310"]
    assert _open_amounts(ws) == [-45.0, 10.0, 120.5]


def test_the_run_says_how_many_administrations_it_worked_on_at_once(ws: RecordedWorkspace) -> None:
    report = fetch_returns(ws, show_progress=False)
    assert report.as_json()["concurrency"] == {"setting": "auto", "most_at_once": 4}


def test_bookkeeping_on_other_accounts_changes_nothing_here(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    _run(ws)
    exact.change("sync/Financial/TransactionLines", "b0000000-0000-4000-8000-000000000004", AmountDC=1000.0)
    exact.calls.clear()

    after = _run(ws)

    assert exact.calls == {"read/financial/Returns": 1, "sync/Financial/TransactionLines": 1}
    assert (after["vraagposten_open"], after["vraagposten_new"]) == (2, 0)
    assert _open_amounts(ws) == [-45.0, 120.5]
    exact.calls.clear()
    exact.filters.clear()
    _run(ws)
    assert ("sync/Financial/TransactionLines", "Timestamp gt 1001L") in exact.filters, "the cursor moved past it"


def _on(ws: RecordedWorkspace, exact: RecordedExact, moment: datetime) -> RecordedWorkspace:
    """The same office at another moment."""
    later = RecordedWorkspace(exact, Clock.frozen(moment))
    later.memory.conn.close()
    later.memory = ws.memory
    exact.calls.clear()
    exact.filters.clear()
    return later


def test_a_line_deleted_in_exact_stops_being_open_the_next_day(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    _run(ws)
    exact.delete(LINES, "b0000000-0000-4000-8000-000000000001", 1)  # the 120.50 was booked by mistake
    exact.delete(CHART, "a0000000-0000-4000-8000-000000000003", 7)  # another kind of deletion: not a line

    same_day = _run(_on(ws, exact, NOW + timedelta(hours=3)))
    assert exact.calls == {"read/financial/Returns": 1, LINES: 1}, "the deletions are read once a day"
    assert same_day["vraagposten_open"] == 2

    next_day = _run(_on(ws, exact, NOW + timedelta(days=1)))

    assert exact.calls == {"read/financial/Returns": 1, DELETED: 1, LINES: 1}
    assert (DELETED, "Timestamp gt 1L") in exact.filters, "the first run's cursor: the log was empty then"
    assert next_day["vraagposten_open"] == 1
    assert _open_amounts(ws) == [-45.0]
    _run(_on(ws, exact, NOW + timedelta(days=2)))
    assert (DELETED, f"Timestamp gt {exact.next_timestamp}L") in exact.filters, "the cursor moved past them"


def test_deletions_older_than_exact_keeps_them_mean_a_full_read(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    _run(ws)
    exact.delete(LINES, "b0000000-0000-4000-8000-000000000002", 1)
    exact.rows[DELETED].clear()  # two months on, Exact has forgotten the deletion

    later = _run(_on(ws, exact, NOW + timedelta(days=60)))

    assert (DELETED, "Timestamp gt 1L") in exact.filters and (LINES, "Timestamp gt 1L") in exact.filters
    assert later["vraagposten_open"] == 1
    assert _open_amounts(ws) == [120.5]


def test_a_move_to_another_database_reads_everything_again_at_the_weekly_check(
    ws: RecordedWorkspace, exact: RecordedExact
) -> None:
    _run(ws)
    exact.move("/Date(1776412800000)/")  # 2026-04-17
    exact.change(  # booked after the move: a Timestamp far below the stored cursor
        LINES,
        "b0000000-0000-4000-8000-000000000007",
        EntryID="e7",
        EntryNumber=7,
        Date="/Date(1776412800000)/",
        AmountDC=30.0,
        Description="Na de verhuizing",
        GLAccountCode="2300",
        LineNumber=1,
        Status=20,
    )

    moved = _run(_on(ws, exact, NOW + timedelta(days=8)))

    assert exact.calls == FIRST_RUN
    assert {(path, "Timestamp gt 1L") for path in (CHART, DELETED, LINES)} <= set(exact.filters), "from the start"
    assert moved["vraagposten_open"] == 3
    assert _open_amounts(ws) == [-45.0, 30.0, 120.5]
    _run(_on(ws, exact, NOW + timedelta(days=9)))
    assert DIVISIONS not in {path for path, _ in exact.filters}, "the new move date is stored: no second re-read"
    assert (LINES, "Timestamp gt 1L") not in exact.filters


def test_a_new_vraagposten_account_whose_lines_failed_to_read_is_read_from_the_start_next_time(
    ws: RecordedWorkspace, exact: RecordedExact
) -> None:
    _run(ws)
    _a_second_vraagposten_account(exact)
    exact.change(LINES, "b0000000-0000-4000-8000-000000000007", GLAccountCode="4500", AmountDC=1.0)  # moves the cursor
    later = RecordedWorkspace(exact, Clock.frozen(datetime(2026, 4, 23, 9, 0, tzinfo=UTC)))
    later.memory = ws.memory
    answer = exact.__call__

    def lines_fail(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(LINES):
            return httpx.Response(503, json={"error": {"code": "", "message": {"lang": "", "value": "Unavailable"}}})
        return answer(request)

    later.exact = lines_fail  # type: ignore[assignment]
    failed = fetch_returns(later, show_progress=False)  # eight days on: the chart is read, the lines are not
    assert failed.outcomes[0].error and "vraagposten could not be read" in failed.outcomes[0].error

    later.exact = exact
    exact.filters.clear()
    _run(later)  # within the chart's week: the chart is not read again

    assert ("sync/Financial/TransactionLines", "Timestamp gt 1L") in exact.filters, "the new account's every line"
    assert _open_amounts(ws) == [-45.0, 10.0, 120.5]
