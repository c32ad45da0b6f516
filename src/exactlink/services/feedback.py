"""``feedback``: report a processed or rejected return back to Exact Online through ``financial/ProcessReturn``.

Exact takes feedback only for VAT (31) and ICP (32) returns in status 40 (Realized). So, per return:

1. a payroll return is refused plainly, without a call (Exact has no endpoint for it);
2. a return already reported is never reported again (``pending`` → ``reported`` in the store);
3. the return is re-read from Exact with one call filtered on its DocumentID (or, where the tenant refuses that
   filter, unfiltered with the return picked out here: learned once, like fetch-returns' forms), so a stale local status
   neither wastes a ProcessReturn call nor burns the error budget: when Exact already shows the wanted
   status (5/50) the feedback counts as reported; any status but 40 gets the plain explanation (the
   return is further along in Exact; check and update it there) and is not retried;
4. only then ``POST financial/ProcessReturn {"Request": …, "Status": 50|5}``. Exact's
   ``No returns found for document id '…' with status 40`` becomes that explanation. Any other
   refusal by Exact (a 4xx with its own message, or ``Processed: false``) is stored as ``refused`` with
   Exact's message: ProcessReturn takes only returns sent "Manual (with approval)" (exact-evidence §5) and
   its wording for the others is unknown, so a retry every hour would only spend Exact's 10-errors-per-hour
   allowance. ``feedback --pending`` holds such a return back until a fetch sees it change in Exact (the
   store puts it back in ``pending``) or ``--retry-refused`` is given. A time-out or 5xx leaves the return
   pending for the next run.

The POST is never retried blindly after a time-out (see ``exactlink.api.budget``); the next run's
re-read finds out whether it went through. Runs take the ``returns`` lock, shared with
``fetch-returns``, so two runs never report the same return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    from datetime import datetime

    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.domain.return_records import StoredReturn
    from exactlink.workspace import Workspace

PROCESS_RETURN_PATH = "financial/ProcessReturn"
LOCK_NAME = "returns"
COMMAND = "feedback"
OUTCOMES = ("processed", "rejected")
# Exact's answers that refuse this return (not a passing fault): stored as ``refused``, not retried blindly.
REFUSAL_STATUSES = frozenset({400, 404, 409, 422})
REFUSED_BY_EXACT = "Exact Online refused the feedback"
NOT_RETRIED = (
    "not retried until the return changes in Exact Online (seen by fetch-returns) or "
    "`exactlink feedback --pending --retry-refused`"
)


class FeedbackRefused(ExactlinkError):
    """The return's outcome cannot be reported to Exact Online (the message says why)."""


@dataclass
class FeedbackResult:
    """What happened to one return's feedback.

    ``status``: ``reported``, ``already_reported`` (nothing sent), ``refused`` (cannot be reported, or Exact
    refused it; not retried), ``failed`` (kept pending for the next run) or ``would_report`` (dry run).
    """

    document_id: str
    relation_number: str | None
    division: int | None
    kind: str | None
    outcome: str
    status: str
    message: str
    exact_status: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the feedback was refused or failed."""
        return self.status not in ("refused", "failed")

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "document_id": self.document_id,
            "relation": self.relation_number,
            "division": self.division,
            "kind": self.kind,
            "outcome": self.outcome,
            "status": self.status,
            "exact_status": self.exact_status,
            "message": self.message,
        }


@dataclass
class FeedbackReport:
    """All feedback of one run."""

    results: list[FeedbackResult] = field(default_factory=list)
    dry_run: bool = False
    held_back: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 3 when some returns failed, 1 when all did."""
        failed = sum(1 for result in self.results if not result.ok)
        if not failed:
            return 0
        return 1 if failed == len(self.results) else 3

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return {
            "dry_run": self.dry_run,
            "counts": counts,
            "results": [result.as_json() for result in self.results],
            "held_back": self.held_back,
        }


def _status_code(outcome: str) -> int:
    from exactlink.domain.returns import FEEDBACK_STATUS_PROCESSED, FEEDBACK_STATUS_REJECTED

    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    return FEEDBACK_STATUS_PROCESSED if outcome == "processed" else FEEDBACK_STATUS_REJECTED


def _reread(
    db: sqlite_utils.Database, client: ExactClient, division: int, document_id: str, *, learn: bool, now: datetime
) -> Any:
    """The return as Exact has it now, or None when it is gone.

    One call filtered on its DocumentID; where Exact refuses that filter (some tenants refuse every ``$filter``
    on Returns, exact-evidence §3) the returns are read unfiltered and the document picked out here. The refusal
    is remembered (when ``learn``), so it costs one failed call, once.
    """
    from exactlink.api.errors import ApiError
    from exactlink.api.forms import LEARNED_KEY, RETURN_BY_ID, RETURNS_ALL, chosen, refuses_form
    from exactlink.api.odata import guid_literal
    from exactlink.services.returns_fetch import RETURNS_PATH, remember_forms, return_select
    from exactlink.store.meta import get_value

    if chosen(dict(get_value(db, LEARNED_KEY) or {}), RETURN_BY_ID) == RETURN_BY_ID:
        condition = f"DocumentID eq {guid_literal(document_id)}"
        try:
            return next(
                iter(client.get_collection(division, RETURNS_PATH, select=return_select(), filter=condition)), None
            )
        except ApiError as error:
            if not refuses_form(error):
                raise
            if learn:
                remember_forms(db, {RETURN_BY_ID: RETURNS_ALL}, now=now)
    wanted = document_id.lower()
    rows = client.get_collection(division, RETURNS_PATH, select=return_select())
    return next((row for row in rows if str(row.get("DocumentID") or "").lower() == wanted), None)


def report_return(
    db: sqlite_utils.Database,
    client: ExactClient,
    row: StoredReturn,
    outcome: str,
    *,
    now: datetime,
    dry_run: bool = False,
) -> FeedbackResult:
    """Report one return's outcome (``processed``/``rejected``) following the module's steps; records the result.

    ``row`` is the return as the store has it; what is written is dated ``now``. Nothing is written in a dry run.
    """
    from exactlink.api.errors import ApiError
    from exactlink.domain.returns import (
        RETURN_TYPE_PAYROLL,
        explain_process_return_error,
        feedback_refusal,
        status_label,
    )
    from exactlink.store.returns import record_exact_status, record_feedback

    document_id = row.document_id
    code = _status_code(outcome)
    exact = row.exact
    result = FeedbackResult(document_id, exact.relation_number, exact.division, exact.kind, outcome, "", "")

    def finish(
        status: str, message: str, *, ok: bool = False, final: bool = False, refused: bool = False
    ) -> FeedbackResult:
        result.status, result.message = status, message
        if not dry_run and status != "already_reported":
            record_feedback(db, document_id, ok, message, now=now, final=final, refused=refused)
        return result

    if exact.type == RETURN_TYPE_PAYROLL:
        return finish("refused", feedback_refusal(exact.type, exact.status) or "", final=True)
    if row.feedback_state == "reported" and row.local_status == outcome:
        return finish("already_reported", f"already reported to Exact Online on {row.reported_at}")
    division = exact.division
    try:
        current = _reread(db, client, division, document_id, learn=not dry_run, now=now)
    except ApiError as error:
        return finish("failed", f"could not read the return from Exact Online: {error.message}")
    if current is None:
        return finish("refused", "Exact Online no longer has this return (deleted?)", final=True)
    result.exact_status = current.get("Status")
    if not dry_run:
        record_exact_status(db, document_id, result.exact_status, now=now)
    if result.exact_status == code:
        return finish("reported", f"Exact Online already shows this return as {status_label(code)}", ok=True)
    refusal = feedback_refusal(current.get("Type"), result.exact_status)
    if refusal:
        return finish("refused", refusal, final=True)
    if dry_run:
        return finish("would_report", f"would report the return as {outcome} (status {code}) to Exact Online")
    try:
        answer = client.post(division, PROCESS_RETURN_PATH, {"Request": current.get("Request"), "Status": code})
    except ApiError as error:
        explanation = explain_process_return_error(error.message)
        if explanation:
            return finish("refused", explanation, final=True)
        if error.status in REFUSAL_STATUSES:
            return finish("refused", f"{REFUSED_BY_EXACT}: {error.message}; {NOT_RETRIED}", refused=True)
        return finish("failed", f"Exact Online refused the feedback: {error.message}; it stays pending")
    if answer.get("Processed") is False:
        return finish("refused", f"{REFUSED_BY_EXACT}: it answered Processed = false; {NOT_RETRIED}", refused=True)
    record_exact_status(db, document_id, code, now=now)
    return finish("reported", f"reported to Exact Online as {outcome} (status {code}, {status_label(code)})", ok=True)


def _with_run(ws: Workspace, dry_run: bool, body: Any) -> Any:
    """Run ``body(db, client)`` under the returns lock (not in a dry run) with a run-history record."""
    with ws.run(COMMAND, lock=LOCK_NAME, dry_run=dry_run) as run:
        with ws.client() as client:
            report: FeedbackReport = body(ws.db, client)
        run.finish(report.exit_code, report.as_json()["counts"])
        return report


def feedback_one(ws: Workspace, document_id: str, outcome: str, *, dry_run: bool = False) -> FeedbackResult:
    """``feedback DOC --processed|--rejected``: mark the return locally and report it at once.

    Raises:
        ReturnNotFound: no such return in the mirror.
        FeedbackRefused: the return cannot be reported (payroll, not in status 40, Exact refused); the
            message is the plain explanation.
    """
    from exactlink.domain.returns import RETURN_TYPE_PAYROLL, feedback_refusal
    from exactlink.store.returns import get_return, mark_return, resolve_document_id

    def body(db: sqlite_utils.Database, client: ExactClient) -> FeedbackReport:
        full_id = resolve_document_id(db, document_id, hint="fetch the returns first: exactlink fetch-returns")
        row = get_return(db, full_id)
        assert row is not None
        if row.exact.type == RETURN_TYPE_PAYROLL:
            raise FeedbackRefused(feedback_refusal(row.exact.type, row.exact.status) or "payroll returns are refused")
        if not dry_run:
            row = mark_return(db, full_id, outcome)
        return FeedbackReport(
            [report_return(db, client, row, outcome, now=ws.clock.now(), dry_run=dry_run)], dry_run=dry_run
        )

    report: FeedbackReport = _with_run(ws, dry_run, body)
    result = report.results[0]
    if not result.ok:
        raise FeedbackRefused(result.message)
    return result


def feedback_pending(ws: Workspace, *, dry_run: bool = False, retry_refused: bool = False) -> FeedbackReport:
    """``feedback --pending``: report every return marked processed/rejected locally and not yet reported.

    Returns Exact refused (``refused``) are held back (listed in ``held_back``) unless ``retry_refused``.
    """
    from exactlink.store.returns import pending_feedback

    def body(db: sqlite_utils.Database, client: ExactClient) -> FeedbackReport:
        report = FeedbackReport(dry_run=dry_run)
        refused = pending_feedback(db, state="refused")
        rows = pending_feedback(db) + (refused if retry_refused else [])
        if not retry_refused:
            report.held_back = [
                {
                    "document_id": row.document_id,
                    "relation": row.exact.relation_number,
                    "refused_at": row.refused_at,
                    "message": row.feedback_message,
                }
                for row in refused
            ]
        for row in rows:
            report.results.append(report_return(db, client, row, row.local_status, now=ws.clock.now(), dry_run=dry_run))
        return report

    result: FeedbackReport = _with_run(ws, dry_run, body)
    return result
