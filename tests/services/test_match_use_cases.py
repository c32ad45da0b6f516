"""``match`` (run, review, link, unlink) on its own: an in-memory database, Exact's accounts recorded inline, a
frozen clock; no server, no CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from exactlink.errors import ExactlinkError
from exactlink.services.manual_links import link_manually, unlink
from exactlink.services.matching import Answer, ReviewItem, review, run_match
from exactlink.store.links import get_account_link, get_decision, list_account_links, rejected_pairs
from exactlink.store.meta import set_office
from exactlink.store.relations import Address, RelationRecord, upsert_relation
from exactlink.store.runs import last_runs
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace

OFFICE = 100
BAKERY = "0b7f8a1e-0000-4000-8000-000000000001"
SALON = "0b7f8a1e-0000-4000-8000-000000000002"
GARAGE = "0b7f8a1e-0000-4000-8000-000000000003"
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def office_accounts() -> RecordedExact:
    """The office administration's accounts as Exact's sync endpoints send them (codes padded, ids upper-case)."""
    exact = RecordedExact()
    exact.rows(OFFICE, "sync/CRM/Accounts").extend(
        [
            {"ID": BAKERY.upper(), "Code": "  1001", "Name": "Bakkerij Jansen B.V.", "ChamberOfCommerce": "12345678",
             "Timestamp": "11"},
            {"ID": SALON, "Code": "  1002", "Name": "Kapsalon Anna", "AddressLine1": "Markt 5", "Postcode": "2611 AB",
             "City": "Delft", "Timestamp": "12"},
            {"ID": GARAGE, "Code": "  1003", "Name": "Garage Willems", "Timestamp": "13"},
        ]
    )  # fmt: skip
    for resource in ("sync/CRM/Addresses", "sync/CRM/Contacts", "crm/BankAccounts", "sync/Deleted"):
        exact.rows(OFFICE, resource)
    # The mirror checks that the office administration was not moved to another database (its move date).
    exact.rows(OFFICE, "system/Divisions").append({"Code": OFFICE, "Description": "Kantoor Jansen & Co"})
    return exact


@pytest.fixture
def exact() -> RecordedExact:
    return office_accounts()


@pytest.fixture
def ws(exact: RecordedExact) -> Iterator[Workspace]:
    workspace = memory_workspace(MONDAY, exact)
    set_office(workspace.db, OFFICE, "Kantoor Jansen & Co", now=workspace.clock.now())
    for record in (
        RelationRecord("R1", name="Bakkerij Jansen", kvk="12345678"),
        RelationRecord("R2", name="Kapsalon Anna V.O.F.", addresses={"visit": Address("visit", "Markt 5", "2611 AB")}),
        RelationRecord("R3", name="Iemand Anders"),
    ):
        upsert_relation(workspace.db, record, now=workspace.clock.now())
    yield workspace
    workspace.close()


def test_match_links_on_an_identifier_suggests_on_name_and_address_and_records_the_run(
    ws: Workspace, exact: RecordedExact
) -> None:
    report = run_match(ws)

    statuses = {row.relation: (row.status, row.account_code) for row in report.rows}
    assert statuses == {"R1": ("linked", "1001"), "R2": ("suggested", "1002"), "R3": ("unmatched", None)}
    [link] = list_account_links(ws.db)
    assert (link.relation_number, link.account_id, link.account_code, link.method, link.linked_by) == (
        "R1",
        BAKERY,
        "1001",
        "kvk",
        "auto",
    )
    assert [(run.command, run.outcome, run.summary["new_links"]) for run in last_runs(ws.db)] == [("match", "ok", 1)]
    assert exact.writes == [], "match only reads Exact Online"
    assert run_match(ws).counts()["new_links"] == 0, "a second run finds the link in place"


def test_a_dry_run_reads_exact_but_keeps_nothing(ws: Workspace, exact: RecordedExact) -> None:
    report = run_match(ws, dry_run=True)

    assert report.counts()["new_links"] == 1
    assert list_account_links(ws.db) == [] and last_runs(ws.db) == []
    assert ws.db.conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0, "not even the refreshed mirror"
    assert (OFFICE, "sync/CRM/Accounts") in exact.reads


def test_review_accepts_and_a_rejected_pair_is_never_suggested_again(ws: Workspace) -> None:
    run_match(ws)
    seen: list[tuple[str, str]] = []

    def reject(item: ReviewItem, position: int, total: int) -> Answer:
        seen.append((item.relation.title, item.account.title))
        return "reject"

    assert [row.relation for row in review(ws, reject).rejected] == ["R2"]
    assert seen == [("relation R2", "account 1002")]
    assert rejected_pairs(ws.db) == {("R2", SALON)}
    assert review(ws, lambda *_: pytest.fail("nothing is left to ask")).accepted == []

    ws.db.conn.execute("DELETE FROM match_decisions")
    accepted = review(ws, lambda *_: "accept")
    assert [row.relation for row in accepted.accepted] == ["R2"]
    link = get_account_link(ws.db, "R2")
    assert link is not None and (link.account_id, link.linked_by) == (SALON, "suggestion")
    assert get_decision(ws.db, "R2", SALON) == "accepted"


def test_review_accept_all_above_takes_only_high_confidence_pairs_at_that_score(ws: Workspace) -> None:
    run_match(ws)
    assert review(ws, lambda *_: pytest.fail("nobody is asked"), accept_all_above=100).skipped != []
    assert get_account_link(ws.db, "R2") is None
    assert [row.relation for row in review(ws, lambda *_: "skip", accept_all_above=90).accepted] == ["R2"]


def test_link_by_hand_moves_an_account_only_with_force_and_unlink_remembers_the_no(ws: Workspace) -> None:
    run_match(ws)

    plan = link_manually(ws, "R3", "1003")
    assert (plan.action, plan.account_id) == ("linked", GARAGE)
    with pytest.raises(ExactlinkError, match="already linked to relation R1"):
        link_manually(ws, "R3", "1001")
    moved = link_manually(ws, "R3", "Bakkerij Jansen", force=True)
    assert (moved.action, moved.takes_from, moved.replaces) == ("relinked", "R1", "1003")
    assert get_account_link(ws.db, "R1") is None
    assert rejected_pairs(ws.db) == {("R1", BAKERY), ("R3", GARAGE)}

    assert unlink(ws, "R3", dry_run=True)["unlinked"] is True
    assert get_account_link(ws.db, "R3") is not None, "a dry run unlinks nothing"
    outcome = unlink(ws, "R3")
    assert (outcome["account_code"], outcome["unlinked"]) == ("1001", True)
    assert get_account_link(ws.db, "R3") is None and get_decision(ws.db, "R3", BAKERY) == "rejected"
    assert unlink(ws, "R3")["unlinked"] is False


def test_link_by_hand_refreshes_the_mirror_once_for_an_account_it_does_not_know(
    ws: Workspace, exact: RecordedExact
) -> None:
    plan = link_manually(ws, "R3", "1003")

    assert plan.account_id == GARAGE
    assert exact.reads.count((OFFICE, "sync/CRM/Accounts")) == 1
