"""The workspace: its clock, its one database connection, its output, and the run lifecycle ``ws.run``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import time_machine

from exactlink.clock import Clock
from exactlink.errors import LockHeld, UsageError
from exactlink.services.locking import run_lock
from exactlink.store.runs import last_runs
from exactlink.workspace import RecordingOutput, Workspace
from tests.cli import run_cli, set_workspace

# 23:30 UTC on 31 December is already 1 January in Amsterdam.
NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)


@pytest.fixture
def ws() -> Iterator[Workspace]:
    """A workspace on the test's EXACTLINK_HOME that records its output."""
    workspace = Workspace(output=RecordingOutput())
    yield workspace
    workspace.close()


def test_a_frozen_clock_answers_the_same_moment_and_the_office_date() -> None:
    ws = Workspace(clock=Clock.frozen(NEW_YEARS_EVE))
    assert ws.clock.now() == NEW_YEARS_EVE
    assert ws.clock.time() == NEW_YEARS_EVE.timestamp()
    assert ws.clock.today() == date(2027, 1, 1), "today() is in schedule.timezone, not UTC"


def test_today_follows_the_configured_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_SCHEDULE__TIMEZONE", "UTC")
    assert Workspace(clock=Clock.frozen(NEW_YEARS_EVE)).clock.today() == date(2026, 12, 31)


def test_time_machine_moves_the_default_clock() -> None:
    with time_machine.travel(NEW_YEARS_EVE, tick=False):
        clock = Workspace().clock
        assert clock.now() == NEW_YEARS_EVE and clock.today() == date(2027, 1, 1)


def test_the_database_is_opened_once_on_first_use_and_closed_at_the_end(ws: Workspace) -> None:
    db = ws.db
    assert ws.db is db
    ws.close()
    ws.close()  # closing twice is harmless
    assert ws.db is not db, "a closed workspace opens a fresh connection when used again"


def test_a_run_is_recorded_with_the_outcome_of_its_exit_code(ws: Workspace) -> None:
    with ws.run("crm import") as run:
        run.finish(3, {"new": 1})
    with ws.run("crm import"):
        pass
    runs = last_runs(ws.db, command="crm import")
    assert [(r.outcome, r.summary) for r in runs] == [("ok", {}), ("partial", {"new": 1})]


def test_a_failed_or_interrupted_run_keeps_its_summary_and_the_error(ws: Workspace) -> None:
    with pytest.raises(UsageError), ws.run("sync") as run:
        run.begin({"direction": "inbound"})
        raise UsageError("no such thing")
    with pytest.raises(KeyboardInterrupt), ws.run("sync") as run:
        run.begin({"direction": "inbound"})
        raise KeyboardInterrupt
    with pytest.raises(RuntimeError), ws.run("sync"):
        raise RuntimeError("a bug")
    outcomes = [(r.outcome, r.summary) for r in last_runs(ws.db, command="sync")]
    assert outcomes == [
        ("failed", {}),
        ("interrupted", {"direction": "inbound", "error": "interrupted"}),
        ("failed", {"direction": "inbound", "error": "no such thing"}),
    ]


def test_a_dry_run_takes_no_lock_and_records_nothing(ws: Workspace) -> None:
    with run_lock("relations"), ws.run("match", lock="relations", dry_run=True) as run:
        run.begin()
        assert run.id is None
    assert last_runs(ws.db) == []


def test_a_run_that_never_begins_leaves_no_row(ws: Workspace) -> None:
    with ws.run("fetch-returns", lock="returns", begin=False):
        pass
    assert last_runs(ws.db) == []


def test_a_held_lock_refuses_the_run_or_skips_it_on_record(ws: Workspace) -> None:
    with run_lock("returns"):
        with pytest.raises(LockHeld), ws.run("fetch-returns", lock="returns"):
            pytest.fail("the block must not run")
        with ws.run("fetch-returns", lock="returns", skip_if_locked=True) as run:
            assert run.skipped
    (skipped,) = last_runs(ws.db)
    assert skipped.outcome == "skipped" and skipped.summary == {"skipped": "another run held the returns lock"}


def test_the_lock_is_held_for_the_block_only(ws: Workspace) -> None:
    with ws.run("match", lock="relations", record=False), pytest.raises(LockHeld), run_lock("relations"):
        pass
    with run_lock("relations"):
        pass


def test_the_recording_output_keeps_messages_and_progress() -> None:
    output = RecordingOutput()
    output.info("hello")
    output.warn("careful")
    with output.progress("fetching", 2) as advance:
        advance()
        advance()
    assert (output.infos, output.warnings, output.progress_done) == (["hello"], ["careful"], {"fetching": 2})


def test_each_command_gets_one_workspace_and_it_is_closed_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    from exactlink.cli import context

    made: list[Workspace] = []
    closed: list[Workspace] = []

    def make(**fields: object) -> Workspace:
        workspace = context.default_workspace(**fields)
        made.append(workspace)
        real_close = workspace.close

        def close() -> None:
            closed.append(workspace)
            real_close()

        monkeypatch.setattr(workspace, "close", close)
        return workspace

    monkeypatch.setattr(context, "make_workspace", make)
    set_workspace(monkeypatch, clock=Clock.frozen(NEW_YEARS_EVE))
    result = run_cli("returns", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(made) == 1 and closed == made
    assert made[0].clock.now() == NEW_YEARS_EVE, "the fields the test set reach the command's workspace"
