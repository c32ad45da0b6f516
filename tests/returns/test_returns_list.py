"""``returns list`` / ``show`` / ``mark`` over fetched data: periods, due dates (Exact's or computed), filters."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from exactlink.sandbox import model as sandbox_model
from tests.cli import run_cli
from tests.returns.conftest import Office


def _fetch(office: Office, count: int = 8) -> list[int]:
    pairs = office.candidates()[:count]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    return [division for _, division in pairs]


def test_list_shows_what_an_office_needs(office: Office) -> None:
    divisions = _fetch(office)
    quarter = office.sandbox.create(
        divisions[0],
        sandbox_model.RETURNS,
        Type=31,
        Status=40,
        Year=2026,
        Period=3,
        Frequency="Q",
        Amount=1234.0,
        Currency="EUR",
        Request="5b1a3c8e-0000-4000-8000-000000000002",
        Description="Aangifte omzetbelasting",
        Created=datetime.now(UTC) - timedelta(days=1),
        DueDate=None,
    )
    month = office.sandbox.create(
        divisions[0],
        sandbox_model.RETURNS,
        Type=146,
        Status=20,
        Year=2026,
        Period=10,
        Frequency="M",
        Amount=800.0,
        Request="5b1a3c8e-0000-4000-8000-000000000003",
        Description="Loonaangifte",
        Created=datetime.now(UTC) - timedelta(days=1),
        DueDate=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert run_cli("fetch-returns", "--quiet").exit_code == 0

    rows = {row["document_id"]: row for row in json.loads(run_cli("returns", "list", "--json").stdout)}

    q = rows[quarter["DocumentID"]]
    assert (q["period"], q["kind"], q["exact_status"]) == ("2026 Q3", "btw", 40)
    assert (q["due_date"], q["due_date_source"]) == ("2026-10-31", "computed")
    assert q["exact_status_text"].startswith("gerealiseerd")
    assert q["days_to_deadline"] == (date(2026, 10, 31) - date.today()).days
    assert q["administration"] == office.division_record(divisions[0])["Description"]
    m = rows[month["DocumentID"]]
    assert (m["period"], m["due_date"], m["due_date_source"]) == ("2026-10", "2026-11-30", "exact")
    assert m["local_status"] == "new" and m["relation"] is not None
    table = run_cli("returns", "list")
    assert table.exit_code == 0 and "2026 Q3" in table.stdout


def test_filters(office: Office) -> None:
    _fetch(office)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    everything = json.loads(run_cli("returns", "list", "--json").stdout)
    assert everything

    payroll = json.loads(run_cli("returns", "list", "--kind", "loonheffing", "--json").stdout)
    assert payroll and {row["kind"] for row in payroll} == {"loonheffing"}
    realized = json.loads(run_cli("returns", "list", "--status", "realized", "--json").stdout)
    assert realized == json.loads(run_cli("returns", "list", "--status", "40", "--json").stdout)
    assert realized == json.loads(run_cli("returns", "list", "--status", "gerealiseerd", "--json").stdout)
    assert {row["exact_status"] for row in realized} <= {40}
    soon = json.loads(run_cli("returns", "list", "--due-within", "7", "--json").stdout)
    assert all(0 <= row["days_to_deadline"] <= 7 and row["exact_status"] not in (0, 50) for row in soon)
    overdue = json.loads(run_cli("returns", "list", "--overdue", "--json").stdout)
    assert all(row["days_to_deadline"] < 0 and row["exact_status"] not in (0, 50) for row in overdue)
    relation = everything[0]["relation"]
    mine = json.loads(run_cli("returns", "list", "--relation", relation, "--json").stdout)
    assert mine and {row["relation"] for row in mine} == {relation}
    assert run_cli("returns", "list", "--kind", "ib").exit_code == 2
    assert run_cli("returns", "list", "--status", "weird").exit_code == 2


def test_show_and_mark(office: Office) -> None:
    _fetch(office)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    document = json.loads(run_cli("returns", "list", "--json").stdout)[0]["document_id"]

    shown = json.loads(run_cli("returns", "show", document, "--json").stdout)
    assert shown["document_id"] == document and shown["history"]
    assert run_cli("returns", "show", document).exit_code == 0
    assert run_cli("returns", "show", "nope").exit_code == 1

    marked = json.loads(run_cli("returns", "mark", document, "--processed", "--json").stdout)
    assert marked == {"document_id": document, "local_status": "processed", "feedback_state": "pending"}
    withdrawn = json.loads(run_cli("returns", "mark", document, "--new", "--json").stdout)
    assert withdrawn["feedback_state"] == "none"
    assert run_cli("returns", "mark", document).exit_code == 2
