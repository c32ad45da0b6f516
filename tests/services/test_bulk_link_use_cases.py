"""``match link --csv`` and ``link-admin --csv`` on their own: an in-memory database, a frozen clock, Exact's
accounts, administrations and SolutionLinks recorded inline, the CSV a file the office could have saved; no server,
no CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exactlink.services import admin_links, manual_links
from exactlink.services.matching import run_match
from exactlink.store.links import get_account_link, get_administration_link, list_account_links, set_account_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, upsert_relation
from exactlink.store.runs import last_runs
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace
from tests.services.test_link_admin_use_cases import BAKERY as OWNED_BAKERY
from tests.services.test_link_admin_use_cases import EXTERNAL, LINKS, office_exact
from tests.services.test_match_use_cases import BAKERY, GARAGE, SALON, office_accounts

OFFICE = 100
# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


def write_csv(folder: Path, lines: list[str]) -> Path:
    """A semicolon CSV as a Dutch spreadsheet saves it."""
    path = folder / "koppelingen.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


# -- match link --csv --------------------------------------------------------------------------------------------


@pytest.fixture
def accounts() -> RecordedExact:
    return office_accounts()


@pytest.fixture
def match_ws(accounts: RecordedExact) -> Iterator[Workspace]:
    """Four relations, the office's accounts mirrored by a first match (it links R1 to 1001 on its KvK number)."""
    workspace = memory_workspace(APRIL, accounts)
    set_office(workspace.db, OFFICE, "Kantoor Jansen & Co", now=APRIL)
    for record in (
        RelationRecord("R1", name="Bakkerij Jansen", kvk="12345678"),
        RelationRecord("R2", name="Kapsalon Anna V.O.F."),
        RelationRecord("R3", name="Iemand Anders"),
        RelationRecord("R4", name="Nog Iemand"),
    ):
        upsert_relation(workspace.db, record, now=APRIL)
    run_match(workspace)
    yield workspace
    workspace.close()


CSV_ROWS = [
    "relatienummer;account",
    "R2;1002",  # row 2: links
    "R3;Garage Willems",  # row 3: links, by name
    "R9;1003",  # row 4: no such relation
    "R2;1003",  # row 5: R2 is on row 2 already
    ";",  # row 6: empty, skipped
    "R4;Garage Willems",  # row 7: the garage is on row 3 already (one relation, one account)
    "R1;1001",  # row 8: R1 holds 1001 already
    "R1;Kapsalon Anna",  # row 9: R1 is linked to 1001: moving it needs --force
]


def test_match_csv_links_the_good_rows_and_names_each_bad_row(
    match_ws: Workspace, accounts: RecordedExact, tmp_path: Path
) -> None:
    report = manual_links.link_from_csv(match_ws, write_csv(tmp_path, CSV_ROWS))

    outcome = {plan.row: plan.action if plan.ok else plan.error for plan in report.plans}
    assert list(outcome) == [2, 3, 4, 5, 7, 8, 9]
    assert outcome[2] == outcome[3] == "linked"
    assert outcome[4] == "relation R9 is not in the local CRM mirror"
    assert outcome[5] == "relation R2 is also on row 2"
    assert outcome[7] == "account 1003 is also on row 3 (one relation, one account)"
    assert outcome[8] == "unchanged"
    assert outcome[9] == "relation R1 is already linked to account 1001: unlink it first or use --force"
    links = {link.relation_number: link.account_id for link in list_account_links(match_ws.db)}
    assert links == {"R1": BAKERY, "R2": SALON, "R3": GARAGE}
    assert report.exit_code == 3 and report.counts() == {"rows": 7, "failed": 4, "linked": 2, "unchanged": 1}
    [bulk, _match] = last_runs(match_ws.db)
    assert (bulk.command, bulk.outcome, bulk.summary["failed"]) == ("match link --csv", "partial", 4)
    assert accounts.writes == [], "linking by hand only changes the local mirror"


def test_a_match_csv_dry_run_checks_every_row_and_keeps_nothing(match_ws: Workspace, tmp_path: Path) -> None:
    report = manual_links.link_from_csv(match_ws, write_csv(tmp_path, CSV_ROWS), dry_run=True)

    assert [plan.row for plan in report.plans if plan.ok] == [2, 3, 8]
    assert [plan.action for plan in report.plans if plan.ok] == ["link", "link", "unchanged"]
    assert get_account_link(match_ws.db, "R2") is None and get_account_link(match_ws.db, "R3") is None
    assert [run.command for run in last_runs(match_ws.db)] == ["match"]


def test_a_match_csv_without_an_account_column_links_nothing(match_ws: Workspace, tmp_path: Path) -> None:
    from exactlink.store.crm_csv import CsvUnreadable

    with pytest.raises(CsvUnreadable, match=r"no account \(account code or name\) column"):
        manual_links.link_from_csv(match_ws, write_csv(tmp_path, ["relatienummer;klant", "R2;1002"]))
    assert get_account_link(match_ws.db, "R2") is None


# -- link-admin --csv --------------------------------------------------------------------------------------------


@pytest.fixture
def office() -> RecordedExact:
    return office_exact()


@pytest.fixture
def admin_ws(office: RecordedExact) -> Iterator[Workspace]:
    """R1 (the bakery, owner of administration 2001) and R2 (the salon, books in SnelStart) have accounts; R3
    has none."""
    workspace = memory_workspace(APRIL, office)
    db = workspace.db
    set_office(db, OFFICE, "Kantoor Jansen & Co", now=APRIL)
    upsert_relation(db, RelationRecord("R1", name="Bakkerij Jansen"), now=APRIL)
    upsert_relation(db, RelationRecord("R2", name="Kapsalon Anna", kvk="87654321"), now=APRIL)
    upsert_relation(db, RelationRecord("R3", name="Zonder account"), now=APRIL)
    set_account_link(db, "R1", OWNED_BAKERY, "1001", method="kvk", linked_by="auto", now=APRIL)
    set_account_link(db, "R2", "0b7f8a1e-0000-4000-8000-000000000002", "1002", method="kvk", linked_by="auto",
                     now=APRIL)  # fmt: skip
    yield workspace
    workspace.close()


ADMIN_CSV = [
    "relatienummer;administratie;naam",  # a suggest --csv-out file: the extra column is ignored
    "R1;2001;Bakkerij Jansen B.V.",  # row 2: links
    "R2;2002;Kapsalon Anna",  # row 3: an external SolutionLink (SnelStart): refused without --force
    "R3;2003;Gearchiveerd B.V.",  # row 4: R3 has no Exact account
]


def _internal_links(exact: RecordedExact) -> list[tuple[str, int]]:
    return [(row["Account"], row["InternalSolutionDivision"]) for row in exact.rows(OFFICE, LINKS)
            if row.get("SolutionType") == 0]  # fmt: skip


def test_link_admin_csv_links_each_row_on_its_own_and_refuses_the_others(
    admin_ws: Workspace, office: RecordedExact, tmp_path: Path
) -> None:
    report = admin_links.link_from_csv(admin_ws, write_csv(tmp_path, ADMIN_CSV))

    assert [(row.row, row.relation_number, row.status) for row in report.rows] == [
        (2, "R1", "linked"),
        (3, "R2", "refused"),
        (4, "R3", "invalid"),
    ]
    assert "SnelStart" in report.rows[1].message
    assert "not linked to an Exact account yet" in report.rows[2].message
    assert report.exit_code == 3
    assert _internal_links(office) == [(OWNED_BAKERY, 2001)]
    assert [(method, resource) for method, _, resource, _ in office.writes] == [("POST", LINKS)]
    link = get_administration_link(admin_ws.db, "R1")
    assert link is not None and link.division == 2001
    assert get_administration_link(admin_ws.db, "R2") is None and get_administration_link(admin_ws.db, "R3") is None


def test_link_admin_csv_with_force_converts_the_external_link(
    admin_ws: Workspace, office: RecordedExact, tmp_path: Path
) -> None:
    report = admin_links.link_from_csv(admin_ws, write_csv(tmp_path, ADMIN_CSV[:3]), force=True)

    assert [row.status for row in report.rows] == ["linked", "linked"] and report.exit_code == 0
    assert report.rows[1].solution_link_id == EXTERNAL
    assert ("PUT", f"{LINKS}({EXTERNAL})") in [(method, resource) for method, _, resource, _ in office.writes]


def test_a_link_admin_csv_dry_run_writes_nothing(admin_ws: Workspace, office: RecordedExact, tmp_path: Path) -> None:
    report = admin_links.link_from_csv(admin_ws, write_csv(tmp_path, ADMIN_CSV), dry_run=True)

    assert [row.status for row in report.rows] == ["planned", "refused", "invalid"]
    assert office.writes == [] and get_administration_link(admin_ws.db, "R1") is None


def test_a_link_admin_csv_without_a_header_takes_the_first_two_columns(
    admin_ws: Workspace, office: RecordedExact, tmp_path: Path
) -> None:
    report = admin_links.link_from_csv(admin_ws, write_csv(tmp_path, ["R1;Bakkerij"]))

    assert [(row.row, row.status) for row in report.rows] == [(1, "linked")]
    assert _internal_links(office) == [(OWNED_BAKERY, 2001)]
