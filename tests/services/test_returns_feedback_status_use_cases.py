"""``returns list/show``, ``feedback`` (one, --pending, refused, --retry-refused) and ``status`` on their own: an
in-memory database holding the returns of tests/fixtures/returns_2001.json, Exact's answers recorded, a frozen
clock; no server, no CLI."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from exactlink.auth.oauth import TokenSet
from exactlink.cli.status_render import status_lines
from exactlink.services.feedback import PROCESS_RETURN_PATH, FeedbackRefused, feedback_one, feedback_pending
from exactlink.services.returns_fetch import RETURNS_PATH, Fetched, plan_targets, store_administration
from exactlink.services.returns_view import list_returns_view, mark, show_return
from exactlink.services.session import token_store
from exactlink.services.status import status_report
from exactlink.settings import load_settings
from exactlink.store.links import set_administration_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, upsert_relation
from exactlink.store.returns import get_return
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace, recorded

CLIENT = 2001
VAT = "d0000000-0000-4000-8000-000000000001"
PAYROLL = "d0000000-0000-4000-8000-000000000002"
REQUEST = "e0000000-0000-4000-8000-000000000001"
# 10:00 in Amsterdam on 15 April 2026: the Q1 VAT return is due on 30 April.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


def client_returns() -> list[dict[str, Any]]:
    """The recorded returns, the VAT return realized (status 40) with its request, as Exact sends them now."""
    rows = copy.deepcopy(recorded("returns_2001.json"))
    rows[0].update(Status=40, Request=REQUEST)
    return rows


@pytest.fixture
def exact() -> RecordedExact:
    exact = RecordedExact()
    exact.rows(CLIENT, RETURNS_PATH).extend(client_returns())
    return exact


@pytest.fixture
def ws(exact: RecordedExact) -> Iterator[Workspace]:
    workspace = memory_workspace(APRIL, exact)
    db = workspace.db
    set_office(db, 100, "Kantoor Jansen & Co", now=APRIL)
    upsert_relation(db, RelationRecord("R1", name="Bakkerij Jansen"), now=APRIL)
    set_administration_link(db, "R1", CLIENT, now=APRIL)
    today = workspace.clock.today()
    [target] = plan_targets(db, workspace.settings, today, now=workspace.clock.now())
    store_administration(
        db, target, Fetched(returns=client_returns(), returns_called=True), workspace.settings, today, now=APRIL
    )
    yield workspace
    workspace.close()


def test_returns_list_counts_days_to_the_deadline_from_the_frozen_day(ws: Workspace) -> None:
    rows = {row["document_id"]: row for row in list_returns_view(ws)}

    assert set(rows) == {VAT, PAYROLL}
    assert (rows[VAT]["kind"], rows[VAT]["days_to_deadline"], rows[VAT]["local_status"]) == ("btw", 15, "new")
    assert [row["document_id"] for row in list_returns_view(ws, kind="loonheffing")] == [PAYROLL]
    assert [row["document_id"] for row in list_returns_view(ws, due_within=14)] == []
    assert {row["document_id"] for row in list_returns_view(ws, due_within=15)} == {VAT, PAYROLL}


def test_returns_show_gives_the_status_history(ws: Workspace) -> None:
    short_id = next(row["short_id"] for row in list_returns_view(ws) if row["document_id"] == VAT)
    shown = show_return(ws, short_id)

    assert shown["document_id"] == VAT and shown["request_id"] == REQUEST
    assert [entry["status"] for entry in shown["history"]] == [40]


def test_the_json_of_returns_show_crm_show_and_vraagposten_keeps_its_fields_and_order(ws: Workspace) -> None:
    from exactlink.domain.return_records import VraagpostRecord
    from exactlink.services.crm import show_relation
    from exactlink.store.returns import upsert_vraagposten

    shown = show_return(ws, VAT)
    assert list(shown) == [
        "document_id", "short_id", "relation", "relation_name", "division", "administration", "kind", "kind_label",
        "period", "amount", "currency", "due_date", "due_date_source", "due_date_note", "exact_status",
        "exact_status_text", "local_status", "feedback_state", "feedback_message", "days_to_deadline", "description",
        "view_url", "overdue", "request_id", "created", "first_seen_at", "last_seen_at", "reported_at", "history",
    ]  # fmt: skip
    assert (shown["relation_name"], shown["amount"], shown["due_date"], shown["exact_status"]) == (
        "Bakkerij Jansen", 1234.5, "2026-04-30", 40
    )  # fmt: skip
    [recent, *_] = [row for row in show_relation(ws, "R1")["recent_returns"] if row["document_id"] == VAT]
    assert recent == {
        "document_id": VAT, "kind": "btw", "year": 2026, "period": 1, "period_description": "Q1 2026", "status": 40,
        "amount": 1234.5, "currency": "EUR", "due_date": "2026-04-30", "local_status": "new", "feedback_state": "none",
    }  # fmt: skip
    assert list(recent) == ["document_id", "kind", "year", "period", "period_description", "status", "amount",
                            "currency", "due_date", "local_status", "feedback_state"]  # fmt: skip
    upsert_vraagposten(
        ws.db, CLIENT, [VraagpostRecord("L1", "R1", "2300", date(2026, 3, 2), -12.5, "Bank", 7)], now=APRIL
    )
    assert list_returns_view(ws, kind="vraagposten") == [
        {"document_id": "l1", "relation": "R1", "relation_name": "Bakkerij Jansen", "division": CLIENT,
         "administration": None, "kind": "vraagposten", "kind_label": "vraagpost", "period": "2026-03-02",
         "amount": -12.5, "currency": "EUR", "due_date": None, "gl_account_code": "2300", "description": "Bank",
         "entry_number": 7}
    ]  # fmt: skip


def test_feedback_reports_a_realized_vat_return_once(ws: Workspace, exact: RecordedExact) -> None:
    result = feedback_one(ws, VAT, "processed")

    assert result.status == "reported"
    assert exact.writes == [("POST", CLIENT, PROCESS_RETURN_PATH, {"Request": REQUEST, "Status": 50})]
    stored = get_return(ws.db, VAT)
    assert stored is not None and (stored.local_status, stored.feedback_state) == ("processed", "reported")
    assert feedback_pending(ws).results == [] and len(exact.writes) == 1


def test_feedback_refuses_a_payroll_return_without_a_call(ws: Workspace, exact: RecordedExact) -> None:
    with pytest.raises(FeedbackRefused, match=r"payroll|loonheffing"):
        feedback_one(ws, PAYROLL, "processed")
    assert exact.writes == [] and exact.reads == []


def test_a_return_exact_refuses_is_held_back_until_retry_refused(ws: Workspace, exact: RecordedExact) -> None:
    exact.refuse[("POST", PROCESS_RETURN_PATH)] = "Only returns sent manually with approval can be processed"
    mark(ws, VAT, "rejected")

    first = feedback_pending(ws)
    assert [(r.document_id, r.status) for r in first.results] == [(VAT, "refused")]
    assert "Only returns sent manually" in first.results[0].message

    held = feedback_pending(ws)
    assert held.results == [] and [row["document_id"] for row in held.held_back] == [VAT]
    assert len(exact.writes) == 1, "a refused return is not sent again on the next run"

    del exact.refuse[("POST", PROCESS_RETURN_PATH)]
    retried = feedback_pending(ws, retry_refused=True)
    assert [(r.document_id, r.status) for r in retried.results] == [(VAT, "reported")]
    assert exact.writes[-1] == ("POST", CLIENT, PROCESS_RETURN_PATH, {"Request": REQUEST, "Status": 5})


def test_a_dry_run_reports_nothing(ws: Workspace, exact: RecordedExact) -> None:
    mark(ws, VAT, "processed")
    preview = feedback_pending(ws, dry_run=True)
    assert [r.status for r in preview.results] == ["would_report"] and exact.writes == []


def test_status_shows_the_office_the_login_and_the_last_runs(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    ws.settings = load_settings()
    now = APRIL.timestamp()
    token_store(ws).save(TokenSet("access", "refresh", now + 600, now - timedelta(days=28).total_seconds()))
    with ws.run("fetch-returns") as run:
        run.finish(3, {"failed": 1})

    report = status_report(ws)

    assert report["office"]["division"] == 100 and report["logged_in"] is True
    assert report["refresh_token"]["days_left"] == 2.0 and report["refresh_token"]["expires_soon"] is True
    assert [(run["command"], run["outcome"]) for run in report["last_runs"]] == [("fetch-returns", "partial")]
    lines = status_lines(report)
    assert any(line.startswith("run ") and "fetch-returns: partial" in line for line in lines)
    assert "office administration: 100 Kantoor Jansen & Co" in lines
    assert date.fromisoformat(report["refresh_token"]["expires_at"][:10]) == date(2026, 4, 17)


def test_status_names_the_query_forms_this_tenant_refused(ws: Workspace) -> None:
    from exactlink.api.forms import LEARNED_KEY, RETURNS_ALL, RETURNS_CREATED
    from exactlink.cli.status_render import query_forms_line
    from exactlink.store.meta import set_value

    assert "none tried yet" in query_forms_line(status_report(ws)["query_forms"])
    set_value(
        ws.db, LEARNED_KEY, {"G/L accounts (sync)": "G/L accounts (sync)", RETURNS_CREATED: RETURNS_CREATED}, now=APRIL
    )
    assert query_forms_line(status_report(ws)["query_forms"]) == "query forms: all 2 preferred forms accepted"
    set_value(
        ws.db, LEARNED_KEY, {"G/L accounts (sync)": "G/L accounts (sync)", RETURNS_CREATED: RETURNS_ALL}, now=APRIL
    )

    report = status_report(ws)

    assert report["query_forms"][RETURNS_CREATED] == RETURNS_ALL
    expected = "query forms: 1 refused, read another way: returns (created since) → returns (no filter)"
    assert expected in status_lines(report)
