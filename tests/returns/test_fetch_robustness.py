"""``fetch-returns`` under cron conditions: office hours around both DST changes, a run killed half-way,
and injected faults (5xx, time-outs, 429 bursts) ending in the clean run's database within the error budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from exactlink.sandbox import Faults
from tests.cli import run_cli
from tests.returns.conftest import Office
from tests.returns.test_fetch_returns import expected_returns, stored_returns
from tests.templates import fresh_minute

# (UTC moment, inside office hours?) around the spring change (29 March 2026: 02:00 → 03:00, UTC+1 → UTC+2)
# and the autumn change (25 October 2026: 03:00 → 02:00, UTC+2 → UTC+1).
MOMENTS = [
    (datetime(2026, 3, 28, 5, 59, tzinfo=UTC), False),  # 06:59 CET
    (datetime(2026, 3, 28, 6, 0, tzinfo=UTC), True),  # 07:00 CET
    (datetime(2026, 3, 29, 4, 59, tzinfo=UTC), False),  # 06:59 CEST, the first summer morning
    (datetime(2026, 3, 29, 5, 0, tzinfo=UTC), True),  # 07:00 CEST
    (datetime(2026, 3, 29, 18, 59, tzinfo=UTC), True),  # 20:59 CEST
    (datetime(2026, 3, 29, 19, 0, tzinfo=UTC), False),  # 21:00 CEST
    (datetime(2026, 10, 25, 5, 59, tzinfo=UTC), False),  # 06:59 CET, the first winter morning
    (datetime(2026, 10, 25, 6, 0, tzinfo=UTC), True),  # 07:00 CET
    (datetime(2026, 10, 25, 19, 59, tzinfo=UTC), True),  # 20:59 CET
    (datetime(2026, 10, 25, 20, 0, tzinfo=UTC), False),  # 21:00 CET
]


@pytest.mark.parametrize(("moment", "inside"), MOMENTS, ids=[m.isoformat() for m, _ in MOMENTS])
def test_office_hours_around_both_dst_changes(office: Office, moment: datetime, inside: bool) -> None:
    relation, division = office.candidates()[0]
    office.link_admin_in_store(relation, division, sbr_days=None)  # no SBR start date: it would lie in the future

    with time_machine.travel(moment, tick=True):
        result = run_cli("fetch-returns", "--office-hours", "--quiet")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert office.sandbox.calls("read/financial/Returns") == (1 if inside else 0)


def test_office_hours_follow_the_configured_zone_and_hours(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    relation, division = office.candidates()[0]
    office.link_admin_in_store(relation, division)
    monkeypatch.setenv("EXACTLINK_SCHEDULE__TIMEZONE", "Europe/London")
    monkeypatch.setenv("EXACTLINK_SCHEDULE__FIRST_HOUR", "9")

    with time_machine.travel(datetime(2026, 6, 1, 7, 30, tzinfo=UTC), tick=True):  # 08:30 London, 09:30 Amsterdam
        early = run_cli("fetch-returns", "--office-hours")
        as_json = run_cli("fetch-returns", "--office-hours", "--json")
        monkeypatch.setenv("FORCE_COLOR", "1")  # stderr behaves as a terminal: a person sees why nothing ran
        at_a_terminal = run_cli("fetch-returns", "--office-hours")

    assert early.exit_code == 0 and early.stdout == "" and early.stderr == ""  # silent without --quiet too
    assert "outside office hours (09:00–20:59 Europe/London)" in json.loads(as_json.stdout)["skipped"]
    assert at_a_terminal.exit_code == 0 and "outside office hours" in at_a_terminal.stderr
    assert office.sandbox.calls("read/financial/Returns") == 0


def _store_consistent(office: Office, divisions: list[int]) -> None:
    """Every administration is either fully written or untouched; nothing is duplicated."""
    stored = stored_returns(office)
    db = office.db()
    try:
        history_dupes = db.conn.execute(
            "SELECT COUNT(*) FROM (SELECT document_id, status FROM return_status_history "
            "GROUP BY document_id, status HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        orphans = db.conn.execute(
            "SELECT COUNT(*) FROM return_status_history WHERE document_id NOT IN (SELECT document_id FROM returns)"
        ).fetchone()[0]
    finally:
        db.close()
    assert history_dupes == 0 and orphans == 0
    for division in divisions:
        expected = set(expected_returns(office, [division]))
        present = {doc for doc, row in stored.items() if row["division"] == division}
        assert present in (set(), expected), division


def test_a_run_killed_half_way_leaves_a_consistent_database_and_the_next_run_completes_it(office: Office) -> None:
    pairs = office.candidates(with_returns=False)[:16]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    divisions = [division for _, division in pairs]
    office.sandbox.faults = Faults(latency_ms=120)
    env = {**os.environ, "EXACTLINK_EXACT__MAX_CONCURRENT_DIVISIONS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "exactlink", "fetch-returns", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while office.sandbox.calls("read/financial/Returns") < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert office.sandbox.calls("read/financial/Returns") < len(divisions)

    _store_consistent(office, divisions)
    done_before = {row["division"] for row in stored_returns(office).values()}
    assert done_before != {d for d in divisions if expected_returns(office, [d])}
    from exactlink.store.runs import last_runs

    db = office.db()
    assert last_runs(db, command="fetch-returns")[0].outcome == "interrupted"
    db.close()

    office.sandbox.faults = Faults()
    rerun = run_cli("fetch-returns", "--quiet")

    assert rerun.exit_code == 0, rerun.stderr
    _store_consistent(office, divisions)
    assert {doc: row["status"] for doc, row in stored_returns(office).items()} == expected_returns(office, divisions)


def _end_state(office: Office) -> dict[str, Any]:
    db = office.db()
    try:
        returns = {
            row[0]: row[1:]
            for row in db.conn.execute(
                "SELECT document_id, division, relation_number, kind, status, amount, due_date, period FROM returns"
            )
        }
        vraagposten = {
            row[0]: row[1:] for row in db.conn.execute("SELECT id, division, amount, cleared FROM vraagposten")
        }
        history = sorted(db.conn.execute("SELECT document_id, status FROM return_status_history").fetchall())
    finally:
        db.close()
    return {"returns": returns, "vraagposten": vraagposten, "history": history}


def test_faults_give_the_clean_runs_database_within_the_error_budget(
    office: Office, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    pairs = office.candidates(with_returns=False)[:20]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "1")
    clean_home = os.environ["EXACTLINK_HOME"]

    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    clean = _end_state(office)
    fresh_minute(office.sandbox)
    office.sandbox.reset_counters()
    # A second home with the same links, fetched through faults.
    faulty_home = tmp_path / "faulty-home"
    import shutil

    shutil.copytree(clean_home, faulty_home)
    monkeypatch.setenv("EXACTLINK_HOME", str(faulty_home))
    db = office.db()
    for table in ("return_status_history", "returns", "vraagposten", "vraagposten_ledger", "vraagposten_cursors"):
        db.conn.execute(f"DELETE FROM {table}")
    db.conn.execute("UPDATE admin_links SET backlog_fetched_at = NULL")
    db.close()
    office.sandbox.faults = Faults(error_rate=0.05, timeout_rate=0.02, hang_seconds=1.5, burst_429=5, seed=7)

    faulty = run_cli("fetch-returns", "--quiet")

    assert faulty.exit_code == 0, faulty.stderr
    assert _end_state(office) == clean
    failures = office.sandbox.error_counts
    assert all(count <= 10 for count in failures.values())
    assert not office.sandbox.blocked_endpoints
    statuses = {entry.status for entry in office.sandbox.request_log}
    assert 429 in statuses and statuses & {500, 502, 503}
