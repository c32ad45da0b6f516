"""What an hourly ``fetch-returns`` costs: the first run, the steady state and a changed chart of accounts.

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
from datetime import UTC, date, datetime
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


class _Tokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the recorded answers never refuse the token")


class RecordedExact:
    """Answers from the recorded rows; sync endpoints answer the rows past the filter's Timestamp."""

    def __init__(self) -> None:
        self.rows = {"read/financial/Returns": copy.deepcopy(RETURNS), **copy.deepcopy(LEDGER)}
        self.calls: Counter[str] = Counter()
        self.filters: list[tuple[str, str]] = []
        self.next_timestamp = 1000

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


def test_the_first_run_reads_the_chart_and_every_line_once(ws: RecordedWorkspace, exact: RecordedExact) -> None:
    first = _run(ws)

    assert exact.calls == {
        "read/financial/Returns": 1,
        "sync/Financial/GLAccounts": 1,
        "sync/Financial/TransactionLines": 1,
    }
    assert ("sync/Financial/TransactionLines", "Timestamp gt 1L") in exact.filters
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
    exact.change(
        "sync/Financial/GLAccounts", "a0000000-0000-4000-8000-000000000004", Code="2310", Description="Vraagposten bank"
    )
    exact.change(
        "sync/Financial/TransactionLines",
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
    exact.calls.clear()
    within_the_week = _run(ws)
    assert exact.calls == {"read/financial/Returns": 1, "sync/Financial/TransactionLines": 1}
    assert within_the_week["vraagposten_accounts"] == ["2300"], "the chart is trusted for a week"

    later = RecordedWorkspace(exact, Clock.frozen(datetime(2026, 4, 23, 9, 0, tzinfo=UTC)))
    later.memory = ws.memory
    exact.calls.clear()
    exact.filters.clear()
    changed = _run(later)  # eight days on

    assert exact.calls == {
        "read/financial/Returns": 1,
        "sync/Financial/GLAccounts": 1,
        "sync/Financial/TransactionLines": 1,
    }
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
