"""Bulk linking keeps a reserve of the office administration's day for match, sync and fetch-returns.

The sandbox over real HTTP with a small day limit: ``link-admin --csv`` stops at the reserve with one line saying
how far it got and when it goes on, ``match`` and ``sync`` still work, and the next (simulated) day the same
command links the rest: every pair once, no duplicate SolutionLink.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from tests.cli import run_cli
from tests.returns.conftest import Office
from tests.templates import fresh_minute

DAY_LIMIT = 40
RESERVE_PERCENT = 50  # a small office: a day of 40 calls, half of it kept for match and sync (5 calls each)
RESERVE = 20


def _statuses_429(office: Office) -> int:
    return sum(1 for entry in office.sandbox.request_log if entry.status == 429)


def _office_calls_today(office: Office) -> int:
    return sum(1 for entry in office.sandbox.request_log if entry.division == office.office_division)


def test_bulk_linking_stops_at_the_reserve_and_goes_on_the_next_day(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXACTLINK_RUNS__BULK_RESERVE_PERCENT", str(RESERVE_PERCENT))
    pairs = office.candidates(with_returns=False)
    assert len(pairs) >= 12, "the office needs more clients than one small day can link"
    for relation, _ in pairs:
        office.link_account(relation)
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("".join(f"{relation};{division}\n" for relation, division in pairs), encoding="utf-8")
    fresh_minute(office.sandbox)
    office.sandbox.reset_counters()
    office.sandbox.limits.daily_limit = DAY_LIMIT

    first = run_cli("link-admin", "--csv", str(csv_file), "--json")
    text = run_cli("link-admin", "--csv", str(csv_file))

    assert first.exit_code == 3, first.stderr
    report = json.loads(first.stdout)
    stopped = report["stopped_at_reserve"]
    linked = report["counts"].get("linked", 0)
    assert 0 < linked < len(pairs)
    assert report["counts"]["deferred"] == len(pairs) - linked
    assert (stopped["done"], stopped["total"], stopped["reserve_calls"]) == (linked, len(pairs), RESERVE)
    assert text.exit_code == 3
    assert f"stopped at the day's reserve: {linked} of {len(pairs)} linked\n" in text.stderr
    assert f"({RESERVE_PERCENT} % of the office administration's calls stay for match, sync" in text.stderr
    assert re.search(
        r"run the same command again after \d{4}-\d\d-\d\d \d\d:\d\d CES?T, when the day limit resets", text.stderr
    )
    assert DAY_LIMIT - _office_calls_today(office) >= RESERVE - 2, "bulk work left the reserve (second run: 2 reads)"
    assert _statuses_429(office) == 0

    assert run_cli("match").exit_code == 0, "match works on the reserve"
    assert run_cli("sync", "--dry-run").exit_code in (0, 3), "sync works on the reserve"
    assert _statuses_429(office) == 0
    status = run_cli("status", "--json")
    used = json.loads(status.stdout)["office_calls_today"]
    assert used["bulk"] >= linked and used["interactive"] > 0, used
    assert sum(used.values()) == _office_calls_today(office), "every call on the office administration is counted"
    assert "calls on the office administration today: 0 hourly, " in run_cli("status").stdout

    next_day = datetime.fromtimestamp(office.sandbox.clock.now(), UTC).replace(hour=0, minute=5) + timedelta(days=1)
    with time_machine.travel(next_day, tick=True):
        office.sandbox.limits.daily_limit = 5000
        resumed = run_cli("link-admin", "--csv", str(csv_file), "--json")

    assert resumed.exit_code == 0, resumed.stderr
    rows = json.loads(resumed.stdout)["rows"]
    assert {row["status"] for row in rows} == {"linked", "already_linked"}
    assert sum(row["status"] == "linked" for row in rows) == len(pairs) - linked, "it went on where it stopped"
    for relation, division in pairs:
        account_id = office.account_by_relation[relation][0]
        internal = [link for link in office.solution_links(account_id) if link.get("SolutionType") == 0]
        assert [link["InternalSolutionDivision"] for link in internal] == [division], "one link per pair"
