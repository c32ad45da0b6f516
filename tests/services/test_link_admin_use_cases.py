"""``link-admin`` (suggest, link, unlink, the external-SolutionLink refusal, vraagposten accounts, list) on its own:
an in-memory database, the office's divisions and SolutionLinks recorded inline, a frozen clock; no server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from exactlink.services.admin_links import (
    LinkRefused,
    accept_suggestions,
    link_one,
    list_admin_links_view,
    set_vraagposten_accounts,
    suggest_links,
    unlink,
)
from exactlink.store.admin import get_administration_state
from exactlink.store.links import get_administration_link, set_account_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, get_sbr_start, upsert_relation
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace

OFFICE = 100
BAKERY, SALON = "0b7f8a1e-0000-4000-8000-000000000001", "0b7f8a1e-0000-4000-8000-000000000002"
EXTERNAL = "5a000000-0000-4000-8000-0000000000e1"
LINKS = "accountancy/SolutionLinks"
# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


def office_exact() -> RecordedExact:
    """The office's division list and SolutionLinks: the salon keeps its books in SnelStart (an external link)."""
    exact = RecordedExact(created_with={LINKS: {"Status": 0, "Division": OFFICE}})
    exact.rows(OFFICE, "system/Divisions").extend(
        [
            {"Code": OFFICE, "Description": "Kantoor Jansen & Co", "IsPracticeDivision": True, "Status": 1},
            {"Code": 2001, "Description": "Bakkerij Jansen B.V.", "Customer": BAKERY, "Status": 1},
            {"Code": 2002, "Description": "Kapsalon Anna", "ChamberOfCommerceNumber": "87654321", "Status": 1},
            {"Code": 2003, "Description": "Gearchiveerd B.V.", "Status": 2},
        ]
    )
    exact.rows(OFFICE, LINKS).append(
        {"ID": EXTERNAL, "Account": SALON, "Division": OFFICE, "SolutionType": 1, "Status": 0,
         "ExternalSolutionName": "SnelStart", "ExternalSolutionUrl": "https://www.snelstart.nl"}
    )  # fmt: skip
    exact.rows(OFFICE, "system/AllDivisions")
    return exact


@pytest.fixture
def exact() -> RecordedExact:
    return office_exact()


@pytest.fixture
def ws(exact: RecordedExact) -> Iterator[Workspace]:
    workspace = memory_workspace(APRIL, exact)
    db = workspace.db
    set_office(db, OFFICE, "Kantoor Jansen & Co", now=APRIL)
    upsert_relation(db, RelationRecord("R1", name="Bakkerij Jansen"), now=APRIL)
    upsert_relation(db, RelationRecord("R2", name="Kapsalon Anna", kvk="87654321"), now=APRIL)
    upsert_relation(db, RelationRecord("R3", name="Zonder account"), now=APRIL)
    set_account_link(db, "R1", BAKERY, "1001", method="kvk", linked_by="auto", now=APRIL)
    set_account_link(db, "R2", SALON, "1002", method="kvk", linked_by="auto", now=APRIL)
    yield workspace
    workspace.close()


def _internal_links(exact: RecordedExact) -> list[tuple[str, int]]:
    return [
        (row["Account"], row["InternalSolutionDivision"])
        for row in exact.rows(OFFICE, LINKS)
        if row.get("SolutionType") == 0
    ]


def test_suggest_finds_the_owner_account_and_the_kvk_number(ws: Workspace) -> None:
    report = suggest_links(ws)

    found = {(s.relation_number, s.division): (s.strength, s.ambiguous) for s in report.suggestions}
    assert found == {("R1", 2001): (2, False), ("R2", 2002): (1, False)}
    [bakery] = [s for s in report.suggestions if s.relation_number == "R1"]
    assert bakery.evidence == ["the administration's owner account (Customer) is the relation's Exact account"]


def test_link_creates_an_internal_solution_link_then_the_administration_link_and_the_sbr_start(
    ws: Workspace, exact: RecordedExact
) -> None:
    row = link_one(ws, "R1", "2001")

    assert (row.status, row.solution_link) == ("linked", "created")
    assert _internal_links(exact) == [(BAKERY, 2001)]
    link = get_administration_link(ws.db, "R1")
    assert link is not None and (link.division, link.solution_link_id) == (2001, row.solution_link_id)
    assert get_administration_state(ws.db, 2001).name == "Bakkerij Jansen B.V."
    start = get_sbr_start(ws.db, "R1")
    assert start is not None and start <= date(2026, 4, 15), "the SBR start follows the frozen day"
    again = link_one(ws, "R1", "Bakkerij")
    assert again.status == "already_linked" and len(_internal_links(exact)) == 1


def test_an_external_solution_link_is_refused_and_converted_only_with_force(
    ws: Workspace, exact: RecordedExact
) -> None:
    with pytest.raises(LinkRefused, match=r"external SolutionLink \(SnelStart, https://www.snelstart.nl\)"):
        link_one(ws, "R2", "2002")
    assert get_administration_link(ws.db, "R2") is None and exact.writes == []

    converted = link_one(ws, "R2", "2002", force=True)

    assert (converted.solution_link, converted.solution_link_id) == ("converted", EXTERNAL)
    assert [(method, resource) for method, _, resource, _ in exact.writes] == [("PUT", f"{LINKS}({EXTERNAL})")]
    assert _internal_links(exact) == [(SALON, 2002)]


def test_a_write_exact_ignores_keeps_the_mirror_unlinked(ws: Workspace, exact: RecordedExact) -> None:
    exact.ignore.add(("PUT", LINKS))
    with pytest.raises(LinkRefused, match="Exact ignored the change"):
        link_one(ws, "R2", "2002", force=True)
    assert get_administration_link(ws.db, "R2") is None


def test_refusals_name_the_reason(ws: Workspace) -> None:
    with pytest.raises(LinkRefused, match="not linked to an Exact account yet"):
        link_one(ws, "R3", "2002")
    with pytest.raises(LinkRefused, match="is the office administration"):
        link_one(ws, "R1", str(OFFICE))
    with pytest.raises(LinkRefused, match="2003"):
        link_one(ws, "R1", "2003")
    with pytest.raises(LinkRefused, match="belongs to account"):
        link_one(ws, "R2", "2001")


def test_accepting_the_clear_suggestions_links_each(ws: Workspace, exact: RecordedExact) -> None:
    report = accept_suggestions(ws, suggest_links(ws), dry_run=True)
    assert [row.status for row in report.rows] == ["planned", "refused"] and exact.writes == []
    done = accept_suggestions(ws, suggest_links(ws))
    assert [row.status for row in done.rows] == ["linked", "refused"], "the salon's books are in SnelStart"


def test_unlink_deletes_the_solution_link_and_forgets_the_link_but_not_the_administration(
    ws: Workspace, exact: RecordedExact
) -> None:
    row = link_one(ws, "R1", "2001")
    preview = unlink(ws, "R1", dry_run=True)
    assert preview["solution_link_id"] == row.solution_link_id and _internal_links(exact) == [(BAKERY, 2001)]

    outcome = unlink(ws, "R1")

    assert outcome["deleted"] is True and _internal_links(exact) == []
    assert get_administration_link(ws.db, "R1") is None
    assert get_administration_state(ws.db, 2001).name == "Bakkerij Jansen B.V."
    with pytest.raises(LinkRefused, match="no linked administration"):
        unlink(ws, "R1")


def test_vraagposten_accounts_are_kept_per_administration_and_listed(ws: Workspace) -> None:
    link_one(ws, "R1", "2001")
    set_vraagposten_accounts(ws, "R1", [" 1500", "", "1510 "])
    assert get_administration_state(ws.db, 2001).vraagposten_configured == ("1500", "1510")

    [listed] = list_admin_links_view(ws)
    assert (listed["relation"], listed["division"], listed["division_name"]) == ("R1", 2001, "Bakkerij Jansen B.V.")
    assert listed["vraagposten_accounts"] == ["1500", "1510"] and listed["last_fetch_at"] is None

    set_vraagposten_accounts(ws, "R1", None)
    assert get_administration_state(ws.db, 2001).vraagposten_configured == ()
