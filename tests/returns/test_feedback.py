"""``feedback`` end to end over real HTTP: status 40, a return further along, payroll, ``--pending`` never twice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exactlink.domain.return_records import StoredReturn
from exactlink.sandbox import Faults
from exactlink.sandbox import model as sandbox_model
from tests.cli import run_cli
from tests.returns.conftest import Office


def _fetched(office: Office, count: int = 12) -> list[dict[str, Any]]:
    """Link ``count`` administrations, fetch their returns; the sandbox records of the fetched returns."""
    pairs = office.candidates()[:count]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    office.sandbox.reset_counters()
    return [record for _, division in pairs for record in office.returns_in_window(division)]


def _pick(records: list[dict[str, Any]], *, types: tuple[int, ...], status: int) -> dict[str, Any]:
    for record in records:
        if record["Type"] in types and record["Status"] == status:
            return record
    raise AssertionError(f"no fetched return of type {types} in status {status}")


def _make(office: Office, records: list[dict[str, Any]], *, type_: int, status: int) -> dict[str, Any]:
    """A fetched return turned into the wanted type and status (in Exact and, by a fetch, in the mirror)."""
    record = records[0] if type_ == 146 else next(r for r in records if r["Type"] in (31, 32))
    division = int(record["Division"]) if record.get("Division") else _division_of(office, record)
    office.sandbox.mutate(division, sandbox_model.RETURNS, record["DocumentID"], Type=type_, Status=status)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    office.sandbox.reset_counters()
    return {**record, "Type": type_, "Status": status, "Division": division}


def _division_of(office: Office, record: dict[str, Any]) -> int:
    for code, data in office.sandbox.data.divisions.items():
        if record["DocumentID"] in data.tables[sandbox_model.RETURNS]:
            return code
    raise AssertionError("unknown return")


def _exact_status(office: Office, record: dict[str, Any]) -> int:
    division = _division_of(office, record)
    return int(office.sandbox.records(division, sandbox_model.RETURNS)[record["DocumentID"]]["Status"])


def _row(office: Office, document_id: str) -> StoredReturn:
    from exactlink.store.returns import get_return

    db = office.db()
    try:
        row = get_return(db, document_id)
    finally:
        db.close()
    assert row is not None
    return row


def test_a_realized_vat_return_is_reported_once(office: Office) -> None:
    records = _fetched(office)
    target = _make(office, records, type_=31, status=40)
    document = target["DocumentID"]

    result = run_cli("feedback", document, "--processed")

    assert result.exit_code == 0, result.stderr
    assert "reported to Exact Online as processed" in result.stdout
    assert _exact_status(office, target) == 50
    assert office.sandbox.calls("financial/ProcessReturn") == 1
    assert office.sandbox.calls("read/financial/Returns") == 1  # the one re-read, filtered on the DocumentID
    read = next(e for e in office.sandbox.request_log if e.endpoint == "read/financial/Returns")
    assert read.query["$filter"] == f"DocumentID eq guid'{document}'"
    row = _row(office, document)
    assert (row.local_status, row.feedback_state, row.exact.status) == ("processed", "reported", 50)

    listed = json.loads(run_cli("returns", "list", "--json").stdout)
    short = next(row["short_id"] for row in listed if row["document_id"] == document)
    again = run_cli("feedback", short, "--processed", "--json")  # the short id of `returns list` is enough

    assert again.exit_code == 0
    assert json.loads(again.stdout)["results"][0]["status"] == "already_reported"
    assert office.sandbox.calls("financial/ProcessReturn") == 1
    assert run_cli("feedback", document, "--rejected").exit_code == 1  # never reported twice


def test_a_return_further_along_is_explained_without_a_process_call(office: Office) -> None:
    records = _fetched(office)
    target = _make(office, records, type_=32, status=40)
    division = _division_of(office, target)
    # Processed in Exact meanwhile:
    office.sandbox.mutate(division, sandbox_model.RETURNS, target["DocumentID"], Status=50)

    result = run_cli("feedback", target["DocumentID"], "--rejected")

    assert result.exit_code == 1
    assert "status 50" in result.stderr and "check it in Exact Online" in result.stderr
    assert office.sandbox.calls("financial/ProcessReturn") == 0
    assert not office.sandbox.error_counts  # nothing burned from the error budget
    assert _row(office, target["DocumentID"]).feedback_state == "failed"


def test_exacts_no_returns_found_message_becomes_the_seeds_explanation(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactlink.services import feedback

    records = _fetched(office)
    target = _make(office, records, type_=31, status=40)
    stale = {**office.sandbox.records(_division_of(office, target), sandbox_model.RETURNS)[target["DocumentID"]]}
    office.sandbox.mutate(_division_of(office, target), sandbox_model.RETURNS, target["DocumentID"], Status=50)
    # The status changes in Exact between our re-read and the ProcessReturn call (a race the re-read cannot close).
    monkeypatch.setattr(feedback, "_reread", lambda *args, **kwargs: {**stale, "Status": 40})

    result = run_cli("feedback", target["DocumentID"], "--processed")

    assert result.exit_code == 1
    assert office.sandbox.calls("financial/ProcessReturn") == 1
    assert "probably a step further in Exact's processing" in result.stderr
    assert "Check the return's status in Exact Online" in result.stderr


def test_a_payroll_return_is_refused_plainly_without_calling_exact(office: Office) -> None:
    records = _fetched(office)
    target = _make(office, records, type_=146, status=40)

    result = run_cli("feedback", target["DocumentID"], "--processed")

    assert result.exit_code == 1
    assert "accepts feedback only for VAT and ICP returns" in result.stderr
    assert office.sandbox.calls() == 0
    assert _row(office, target["DocumentID"]).local_status == "new"


def test_unknown_document_and_bad_arguments(office: Office) -> None:
    assert run_cli("feedback", "00000000-0000-4000-8000-000000000000", "--processed").exit_code == 1
    assert run_cli("feedback", "--processed").exit_code == 2
    assert run_cli("feedback", "x", "--processed", "--rejected").exit_code == 2


def test_pending_reports_every_marked_return_once(office: Office) -> None:
    records = _fetched(office)
    realized = [r for r in records if r["Type"] in (31, 32)]
    assert len(realized) >= 2
    good = realized[0]
    further = realized[1]
    division_good, division_further = _division_of(office, good), _division_of(office, further)
    office.sandbox.mutate(division_good, sandbox_model.RETURNS, good["DocumentID"], Status=40)
    office.sandbox.mutate(division_further, sandbox_model.RETURNS, further["DocumentID"], Status=30)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    payroll = next((r for r in records if r["Type"] == 146), None)
    marked = [good["DocumentID"], further["DocumentID"]] + ([payroll["DocumentID"]] if payroll else [])
    for document in marked:
        assert run_cli("returns", "mark", document, "--processed").exit_code == 0
    office.sandbox.reset_counters()

    dry = run_cli("feedback", "--pending", "--dry-run", "--json")
    assert office.sandbox.calls("financial/ProcessReturn") == 0
    assert {r["status"] for r in json.loads(dry.stdout)["results"]} >= {"would_report"}

    first = run_cli("feedback", "--pending", "--json")

    assert first.exit_code == 3
    results = {r["document_id"]: r for r in json.loads(first.stdout)["results"]}
    assert results[good["DocumentID"]]["status"] == "reported"
    assert results[further["DocumentID"]]["status"] == "refused"
    if payroll:
        assert results[payroll["DocumentID"]]["status"] == "refused"
    assert office.sandbox.calls("financial/ProcessReturn") == 1

    second = run_cli("feedback", "--pending")

    assert second.exit_code == 0 and "nothing to report" in second.stderr
    assert office.sandbox.calls("financial/ProcessReturn") == 1


def test_a_failed_report_stays_pending_for_the_next_run(office: Office) -> None:
    records = _fetched(office)
    target = _make(office, records, type_=31, status=40)
    assert run_cli("returns", "mark", target["DocumentID"], "--rejected").exit_code == 0
    office.sandbox.faults = Faults(error_rate=1.0, seed=4)

    failed = run_cli("feedback", "--pending")

    assert failed.exit_code == 1
    assert _row(office, target["DocumentID"]).feedback_state == "pending"
    office.sandbox.faults = Faults()
    office.sandbox.reset_counters()

    retried = run_cli("feedback", "--pending")

    assert retried.exit_code == 0, retried.stderr
    assert _exact_status(office, target) == 5
    assert office.sandbox.calls("financial/ProcessReturn") == 1
    assert _row(office, target["DocumentID"]).feedback_state == "reported"


def test_feedback_dry_run_sends_nothing(office: Office) -> None:
    records = _fetched(office)
    target = _make(office, records, type_=31, status=40)

    result = run_cli("feedback", target["DocumentID"], "--processed", "--dry-run")

    assert result.exit_code == 0
    assert "would report" in result.stdout
    assert office.sandbox.calls("financial/ProcessReturn") == 0
    assert _row(office, target["DocumentID"]).local_status == "new"


def test_a_timed_out_report_is_not_sent_twice(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact applied the ProcessReturn but the answer never came: the next run's re-read finds it done."""
    records = _fetched(office)
    target = _make(office, records, type_=31, status=40)
    assert run_cli("returns", "mark", target["DocumentID"], "--processed").exit_code == 0
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "1")
    office.sandbox.faults = Faults(hang_seconds=1.5)
    office.sandbox.faults.script("ok", "hang")  # the re-read answers; the ProcessReturn is applied, then hangs

    timed_out = run_cli("feedback", "--pending")

    assert timed_out.exit_code == 1
    assert [entry.endpoint for entry in office.sandbox.request_log] == [
        "read/financial/Returns",
        "financial/ProcessReturn",
    ]
    assert _exact_status(office, target) == 50  # Exact did process it
    assert _row(office, target["DocumentID"]).feedback_state == "pending"  # we could not know: still pending
    office.sandbox.faults = Faults()
    office.sandbox.reset_counters()

    next_run = run_cli("feedback", "--pending", "--json")

    assert next_run.exit_code == 0, next_run.stderr
    (result,) = json.loads(next_run.stdout)["results"]
    assert result["status"] == "reported" and "already shows this return as verwerkt" in result["message"]
    assert office.sandbox.calls("financial/ProcessReturn") == 0  # never reported twice
    assert _row(office, target["DocumentID"]).feedback_state == "reported"
    assert "nothing to report" in run_cli("feedback", "--pending").stderr
