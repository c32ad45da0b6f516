"""Direct synchronisation after ``crm edit`` and ``sync --watch`` on their own: an in-memory database, a frozen
clock, the office's accounts recorded inline; no server, no CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest

from exactlink.errors import UsageError
from exactlink.services.crm import edit_relation
from exactlink.services.locking import run_lock
from exactlink.services.sync import LOCK_NAME, watch
from exactlink.store.links import set_account_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, get_relation, upsert_relation
from exactlink.store.runs import last_runs
from exactlink.workspace import RecordingOutput, Workspace
from tests.services.recorded import RecordedExact, memory_workspace
from tests.services.test_match_use_cases import BAKERY, office_accounts

OFFICE = 100
ACCOUNTS = "crm/Accounts"
# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


@pytest.fixture
def exact() -> RecordedExact:
    """The office's accounts, readable (and writable) by key at ``crm/Accounts`` too."""
    exact = office_accounts()
    exact.rows(OFFICE, ACCOUNTS).extend(dict(row) for row in exact.rows(OFFICE, "sync/CRM/Accounts"))
    return exact


@pytest.fixture
def ws(exact: RecordedExact) -> Iterator[Workspace]:
    """R1 linked to the bakery's account 1001; R2 not linked."""
    workspace = memory_workspace(APRIL, exact)
    set_office(workspace.db, OFFICE, "Kantoor Jansen & Co", now=APRIL)
    upsert_relation(workspace.db, RelationRecord("R1", name="Bakkerij Jansen B.V.", kvk="12345678"), now=APRIL)
    upsert_relation(workspace.db, RelationRecord("R2", name="Nog niet gekoppeld"), now=APRIL)
    set_account_link(workspace.db, "R1", BAKERY, "1001", method="kvk", linked_by="auto", now=APRIL)
    yield workspace
    workspace.close()


def direct_outbound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECTION", "outbound")
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECT", "true")


def _puts(exact: RecordedExact) -> list[tuple[str, dict[str, object]]]:
    return [(resource, body) for method, _, resource, body in exact.writes if method == "PUT"]


# -- pushes after crm edit ------------------------------------------------------------------------------------


def test_an_edit_with_direct_synchronisation_is_pushed_at_once(
    ws: Workspace, exact: RecordedExact, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct_outbound(monkeypatch)

    result = edit_relation(ws, "R1", {"phone": "015-1234567"})

    assert result["changed"] == ["phone"] and "direct_sync" in result
    [(resource, body)] = _puts(exact)
    assert resource == f"{ACCOUNTS}({BAKERY})" and body.get("Phone") == "015-1234567"
    relation = get_relation(ws.db, "R1")
    assert relation is not None and relation.pending_push is False, "pushed: nothing left for the next sync"
    assert [run.command for run in last_runs(ws.db)][:2] == ["sync", "crm edit"]


def test_without_direct_synchronisation_an_edit_waits_for_the_next_sync(ws: Workspace, exact: RecordedExact) -> None:
    result = edit_relation(ws, "R1", {"phone": "015-1234567"})

    assert "direct_sync" not in result and exact.writes == [] and exact.reads == []
    relation = get_relation(ws.db, "R1")
    assert relation is not None and relation.pending_push is True


def test_an_edit_of_an_unlinked_relation_pushes_nothing(
    ws: Workspace, exact: RecordedExact, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct_outbound(monkeypatch)

    result = edit_relation(ws, "R2", {"phone": "015-1234567"})

    assert "direct_sync" not in result and exact.writes == []
    relation = get_relation(ws.db, "R2")
    assert relation is not None and relation.pending_push is True


def test_a_push_exact_refuses_stays_pending_and_says_the_next_sync_retries(
    ws: Workspace, exact: RecordedExact, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct_outbound(monkeypatch)
    exact.refuse[("PUT", ACCOUNTS)] = "Telefoonnummer ongeldig"

    result = edit_relation(ws, "R1", {"phone": "015-1234567"})

    assert result["direct_sync"]["counts"]["failed"] == 1
    relation = get_relation(ws.db, "R1")
    assert relation is not None and relation.pending_push is True
    output = ws.output
    assert isinstance(output, RecordingOutput)
    assert any("could not be pushed; `exactlink sync` retries them" in line for line in output.warnings)


# -- sync --watch -------------------------------------------------------------------------------------------------


def test_watch_polls_inbound_waits_the_interval_between_polls_and_sums_up(ws: Workspace, exact: RecordedExact) -> None:
    waits: list[float] = []

    def account_changes_in_exact(report: object) -> None:
        for row in exact.rows(OFFICE, "sync/CRM/Accounts"):
            if row["ID"].lower() == BAKERY:
                row["Phone"] = "015-7777777"

    summary = watch(ws, interval_minutes=2, max_polls=2, sleep=waits.append, on_poll=account_changes_in_exact)

    assert (summary.polls, summary.skipped_polls, summary.failed_polls, summary.interrupted) == (2, 0, 0, False)
    assert waits == [120.0], "it waits between polls, not after the last"
    assert [run.command for run in last_runs(ws.db)] == ["sync", "sync"]
    relation = get_relation(ws.db, "R1")
    assert relation is not None and relation.phone == "015-7777777", "the second poll brought Exact's change in"
    assert summary.changed_relations >= 1 and summary.exit_code == 0
    assert exact.writes == [], "watching only reads Exact Online"


def test_a_poll_while_another_run_holds_the_lock_is_skipped_and_the_watch_goes_on(ws: Workspace) -> None:
    other_run = ExitStack()
    waits: list[float] = []

    def between_polls(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            other_run.enter_context(run_lock(LOCK_NAME))  # a match or sync starts after the first poll
        else:
            other_run.close()

    summary = watch(ws, interval_minutes=1, max_polls=3, sleep=between_polls)

    assert (summary.polls, summary.skipped_polls, summary.failed_polls, summary.exit_code) == (2, 1, 0, 0)
    assert waits == [60.0, 60.0]
    assert [run.command for run in last_runs(ws.db)] == ["sync", "sync"], "a skipped poll records no run"


def test_watch_ends_on_ctrl_c_with_the_summary_so_far(ws: Workspace) -> None:
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    summary = watch(ws, max_polls=5, sleep=interrupted)

    assert (summary.polls, summary.interrupted, summary.exit_code) == (1, True, 0)


def test_watch_refuses_outbound_and_a_useless_interval_before_polling(ws: Workspace, exact: RecordedExact) -> None:
    with pytest.raises(UsageError, match="only makes sense inbound"):
        watch(ws, direction="outbound", max_polls=1)
    with pytest.raises(UsageError, match="more than 0"):
        watch(ws, interval_minutes=0, max_polls=1)
    assert exact.reads == [] and last_runs(ws.db) == []
