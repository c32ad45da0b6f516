"""``returns list`` / ``show`` / ``mark`` over fetched data: periods, due dates (Exact's or computed), filters."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from tests.cli import database_rows, run_cli
from tests.returns.conftest import Office, office_today


def _fetch(office: Office, count: int = 8) -> list[int]:
    pairs = office.candidates()[:count]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    return [division for _, division in pairs]


def test_list_shows_what_an_office_needs(office: Office) -> None:
    divisions = _fetch(office)
    quarter = office.make_return(
        divisions[0], Status=40, Period=3, Frequency="Q", Amount=1234.0, Currency="EUR", DueDate=None
    )
    month = office.make_return(
        divisions[0], Type=146, Amount=800.0, Description="Loonaangifte", DueDate=datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert run_cli("fetch-returns", "--quiet").exit_code == 0

    rows = {row["document_id"]: row for row in json.loads(run_cli("returns", "list", "--json").stdout)}

    q = rows[quarter["DocumentID"]]
    assert (q["period"], q["kind"], q["exact_status"]) == ("2026 Q3", "btw", 40)
    assert (q["due_date"], q["due_date_source"]) == ("2026-10-31", "computed")
    assert q["exact_status_text"].startswith("gerealiseerd")
    assert q["days_to_deadline"] == (date(2026, 10, 31) - office_today()).days
    assert q["administration"] == office.division_record(divisions[0])["Description"]
    m = rows[month["DocumentID"]]
    assert (m["period"], m["due_date"], m["due_date_source"]) == ("2026-10", "2026-11-30", "exact")
    assert m["local_status"] == "new" and m["relation"] is not None
    table = run_cli("returns", "list")
    assert table.exit_code == 0 and "2026 Q3" in table.stdout


def _made(office: Office, division: int, type_: int, status: int, due_in_days: int) -> str:
    """A return created yesterday in Exact with a due date ``due_in_days`` from today; its document id."""
    due = datetime.combine(office_today() + timedelta(days=due_in_days), datetime.min.time(), tzinfo=UTC)
    return str(office.make_return(division, Type=type_, Status=status, DueDate=due)["DocumentID"])


def test_filters(office: Office) -> None:
    division = _fetch(office)[0]
    soon_open = _made(office, division, 31, 20, 3)
    soon_done_locally = _made(office, division, 32, 40, 2)
    later = _made(office, division, 146, 20, 20)
    late_approved = _made(office, division, 31, 30, -5)
    late_processed_in_exact = _made(office, division, 31, 50, -5)
    mine = {soon_open, soon_done_locally, later, late_approved, late_processed_in_exact}
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    assert run_cli("returns", "mark", soon_done_locally, "--processed").exit_code == 0

    def listed(*args: str) -> set[str]:
        result = run_cli("returns", "list", *args, "--json")
        assert result.exit_code == 0, result.stderr
        return {row["document_id"] for row in json.loads(result.stdout)}

    assert mine <= listed()
    assert listed("--due-within", "7") & mine == {soon_open, late_approved}, "what is late is due too"
    assert listed("--due-within", "30") & mine == {soon_open, later, late_approved}
    assert listed("--overdue") & mine == {late_approved}
    assert listed("--kind", "loonheffing") & mine == {later}
    assert listed("--kind", "icp") & mine == {soon_done_locally}
    assert listed("--status", "realized") & mine == {soon_done_locally}
    assert listed("--status", "40") == listed("--status", "gerealiseerd") == listed("--status", "realized")
    assert listed("--status", "approved", "--overdue") & mine == {late_approved}
    rows = json.loads(run_cli("returns", "list", "--due-within", "7", "--json").stdout)
    assert all(row["days_to_deadline"] <= 7 and row["exact_status"] not in (0, 50) for row in rows)
    days = [row["days_to_deadline"] for row in rows]
    assert days == sorted(days) and days[0] < 0, "overdue first"
    assert all(row["overdue"] == (row["days_to_deadline"] < 0) for row in rows)
    table = run_cli("returns", "list", "--due-within", "7", "--wide").stdout
    short = {row["document_id"]: row["short_id"] for row in rows}
    assert "-5 overdue" in table and table.index(short[late_approved]) < table.index(short[soon_open])
    relation = json.loads(run_cli("returns", "show", soon_open, "--json").stdout)["relation"]
    assert mine <= listed("--relation", relation)
    assert all(
        row["relation"] == relation
        for row in json.loads(run_cli("returns", "list", "--relation", relation, "--json").stdout)
    )
    assert run_cli("returns", "list", "--kind", "ib").exit_code == 2
    assert run_cli("returns", "list", "--status", "weird").exit_code == 2
    assert run_cli("returns", "list", "--due-within", "-1").exit_code == 2


def test_show_and_mark(office: Office) -> None:
    _fetch(office)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    first = json.loads(run_cli("returns", "list", "--json").stdout)[0]
    document, short = first["document_id"], first["short_id"]
    assert len(short) >= 8 and document.startswith(short)
    assert short in run_cli("returns", "list").stdout  # the table shows the short id …

    shown = json.loads(run_cli("returns", "show", short, "--json").stdout)  # … and commands take it
    assert shown["document_id"] == document and shown["history"]
    assert run_cli("returns", "show", document).exit_code == 0
    missing = run_cli("returns", "show", "nope")
    assert missing.exit_code == 1 and "no return with document id nope" in missing.stderr

    before = database_rows()
    trial = json.loads(run_cli("returns", "mark", short, "--processed", "--dry-run", "--json").stdout)
    assert trial == {"document_id": document, "local_status": "processed", "feedback_state": "pending", "dry_run": True}
    assert "would become processed" in run_cli("returns", "mark", short, "--processed", "--dry-run").stderr
    assert database_rows() == before, "a dry run writes nothing"
    marked = json.loads(run_cli("returns", "mark", short, "--processed", "--json").stdout)
    assert marked == {
        "document_id": document,
        "local_status": "processed",
        "feedback_state": "pending",
        "dry_run": False,
    }
    assert database_rows() != before
    withdrawn = json.loads(run_cli("returns", "mark", document, "--new", "--json").stdout)
    assert withdrawn["feedback_state"] == "none"
    assert run_cli("returns", "mark", document).exit_code == 2
