"""Feedback Exact refuses with its own message (a return not sent "Manual (with approval)"): kept as ``refused``
with that message, never retried by ``feedback --pending`` until the return changes in Exact or the office asks."""

from __future__ import annotations

import json
from typing import Any

from exactlink.sandbox import Evidence
from exactlink.sandbox import model as sandbox_model
from exactlink.sandbox.evidence import NOT_MANUAL_APPROVAL
from tests.cli import run_cli
from tests.returns.conftest import Office
from tests.returns.test_feedback import _division_of, _fetched, _make, _row


def _refused_return(office: Office) -> dict[str, Any]:
    """A realized VAT return marked processed locally, sent another way than "Manual (with approval)" in Exact."""
    target = _make(office, _fetched(office, count=4), type_=31, status=40)
    office.sandbox.evidence = Evidence.strict()
    office.sandbox.send_otherwise(_division_of(office, target), target["DocumentID"])
    assert run_cli("returns", "mark", target["DocumentID"], "--processed").exit_code == 0
    office.sandbox.reset_counters()
    return target


def test_a_refusal_is_stored_with_exacts_message_and_not_retried(office: Office) -> None:
    target = _refused_return(office)
    document = target["DocumentID"]

    first = run_cli("feedback", "--pending", "--json")

    assert first.exit_code == 1
    (result,) = json.loads(first.stdout)["results"]
    assert result["status"] == "refused" and NOT_MANUAL_APPROVAL in result["message"]
    row = _row(office, document)
    assert row.feedback_state == "refused" and NOT_MANUAL_APPROVAL in (row.feedback_message or "")
    assert row.refused_at
    for _ in range(3):
        again = run_cli("feedback", "--pending")
        assert again.exit_code == 0, again.stderr
        assert "nothing to report" in again.stderr
        assert f"{document} (relation {target_relation(office, document)}): held back" in again.stderr
        assert "--retry-refused" in again.stderr
    assert office.sandbox.calls("financial/ProcessReturn") == 1  # one refusal, one call, across four runs
    assert office.sandbox.calls("read/financial/Returns") == 1  # the re-read before the one call
    assert sum(office.sandbox.error_counts.values()) == 1

    shown = run_cli("returns", "show", document)
    assert shown.exit_code == 0
    assert "refused: Exact Online refused the feedback" in shown.stdout and "Manual (with approval)" in shown.stdout
    listed = run_cli("returns", "list", "--json")
    (view,) = [item for item in json.loads(listed.stdout) if item["document_id"] == document]
    assert view["feedback_state"] == "refused" and NOT_MANUAL_APPROVAL in view["feedback_message"]
    table = run_cli("returns", "list")
    assert "processed (refused)" in table.stdout and "Manual (with approval)" in table.stderr


def target_relation(office: Office, document: str) -> str:
    return str(_row(office, document).exact.relation_number)


def _fetch_returns(office: Office) -> None:
    """``fetch-returns`` (its vraagposten reads do not follow the strict mandatory filtering yet, another issue)."""
    office.sandbox.evidence = Evidence.strict(mandatory_filter_with_sync_api=False)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    office.sandbox.evidence = Evidence.strict()


def test_a_refused_return_is_tried_again_once_it_changes_in_exact(office: Office) -> None:
    target = _refused_return(office)
    document = target["DocumentID"]
    assert run_cli("feedback", "--pending").exit_code == 1
    _fetch_returns(office)  # nothing changed in Exact: still held back
    assert _row(office, document).feedback_state == "refused"
    assert run_cli("feedback", "--pending").exit_code == 0
    assert office.sandbox.calls("financial/ProcessReturn") == 1

    division = _division_of(office, target)
    office.sandbox.mutate(division, sandbox_model.RETURNS, document, Description="Aangifte omzetbelasting (herzien)")
    _fetch_returns(office)
    assert _row(office, document).feedback_state == "pending"

    retried = run_cli("feedback", "--pending")

    assert retried.exit_code == 1  # still sent another way: refused again, after exactly one more call
    assert office.sandbox.calls("financial/ProcessReturn") == 2
    assert run_cli("feedback", "--pending").exit_code == 0
    assert office.sandbox.calls("financial/ProcessReturn") == 2


def test_retry_refused_tries_again_and_reports_once_exact_takes_it(office: Office) -> None:
    target = _refused_return(office)
    document = target["DocumentID"]
    assert run_cli("feedback", "--pending").exit_code == 1
    # The office re-sent it "Manual (with approval)" in Exact.
    office.sandbox.evidence = Evidence(manual_approval_only=False)

    dry = run_cli("feedback", "--pending", "--retry-refused", "--dry-run")
    assert dry.exit_code == 0 and "would report" in dry.stdout
    assert office.sandbox.calls("financial/ProcessReturn") == 1
    retried = run_cli("feedback", "--pending", "--retry-refused")

    assert retried.exit_code == 0, retried.stderr
    assert "reported to Exact Online as processed" in retried.stdout
    assert office.sandbox.calls("financial/ProcessReturn") == 2
    assert _row(office, document).feedback_state == "reported"
    assert run_cli("feedback", "--retry-refused").exit_code == 2


def test_marking_a_refused_return_again_queues_it(office: Office) -> None:
    target = _refused_return(office)
    document = target["DocumentID"]
    assert run_cli("feedback", "--pending").exit_code == 1

    assert run_cli("returns", "mark", document, "--processed").exit_code == 0

    assert _row(office, document).feedback_state == "pending"
