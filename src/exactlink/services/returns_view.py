"""``returns list``, ``returns show`` and ``returns mark``: the fetched returns as an office reads them.

Each return is shown with its relation, administration, kind, period (``2026 Q3``, ``2026-10``),
amount, due date (Exact's own, or computed from the period when Exact has none), Exact's status in
words, the office's own status and the days left to the deadline. ``--kind vraagposten`` lists the
open vraagposten instead. ``--due-within`` and ``--overdue`` leave out returns that need no action
any more (processed or void in Exact, or marked processed locally); ``--due-within N`` lists the overdue
ones too, first (an office asking what is due wants what is late as well), each marked ``overdue``.

``returns mark`` records the office's own decision without telling Exact: ``feedback --pending`` (or
the next ``feedback DOC``) reports it. ``feedback DOC --processed`` marks and reports in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from exactlink.errors import UsageError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.domain.return_records import StoredReturn, StoredVraagpost
    from exactlink.workspace import Workspace

KINDS = ("btw", "btw_suppletie", "icp", "loonheffing", "vraagposten")
# The other words an office uses for a kind: loonbelasting is the everyday name of the loonheffing return.
KIND_ALIASES = {
    "loonbelasting": "loonheffing",
    "loonheffingen": "loonheffing",
    "btw-suppletie": "btw_suppletie",
    "suppletie": "btw_suppletie",
    "omzetbelasting": "btw",
    "vraagpost": "vraagposten",
}


def resolve_kind(kind: str) -> str:
    """The kind a ``--kind`` value means (case ignored, the aliases above accepted).

    Raises:
        UsageError: no kind has that name.
    """
    word = kind.strip().casefold()
    word = KIND_ALIASES.get(word, word)
    if word not in KINDS:
        raise UsageError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)} (or loonbelasting)")
    return word


_DONE_STATUSES = frozenset({0, 50})


def parse_status(text: str) -> int:
    """A status filter: the number (``40``), Exact's name (``realized``) or the Dutch word (``gerealiseerd``).

    Raises:
        UsageError: no status matches.
    """
    from exactlink.domain.returns import STATUS_LABELS, ReturnStatus

    wanted = text.strip().casefold()
    if wanted.lstrip("-").isdigit():
        return int(wanted)
    for status in ReturnStatus:
        if wanted in (status.name.casefold(), STATUS_LABELS[status].casefold()) or (
            len(wanted) >= 3 and STATUS_LABELS[status].casefold().startswith(wanted)
        ):
            return int(status)
    names = ", ".join(f"{int(s)} {s.name.lower()}" for s in ReturnStatus)
    raise UsageError(f"unknown status {text!r}: use one of {names}")


def _whose(
    relation_number: str | None, relation_name: str | None, division: int, names: dict[int, str]
) -> dict[str, Any]:
    """The relation and administration a stored return or vraagpost belongs to, as every view shows them."""
    return {
        "relation": relation_number,
        "relation_name": relation_name,
        "division": division,
        "administration": names.get(int(division)),
    }


def return_view(
    row: StoredReturn, today: date, names: dict[int, str], short_ids: dict[str, str] | None = None
) -> dict[str, Any]:
    """One stored return as ``returns list`` shows it (``short_id``: the start of the id that tells it apart)."""
    from exactlink.domain.returns import (
        days_to_deadline,
        effective_due_date,
        kind_label,
        period_label,
        status_label,
    )

    exact = row.exact
    due = effective_due_date(
        exact.due_date,
        exact.kind,
        exact.year,
        exact.period,
        exact.frequency,
        period_description=exact.period_description,
    )
    view = {
        "document_id": exact.document_id,
        "short_id": (short_ids or {}).get(exact.document_id, exact.document_id),
        **_whose(exact.relation_number, row.relation_name, exact.division, names),
        "kind": exact.kind,
        "kind_label": kind_label(exact.kind),
        "period": period_label(exact.year, exact.period, exact.frequency, exact.kind, exact.period_description),
        "amount": exact.amount,
        "currency": exact.currency,
        "due_date": due.due.isoformat() if due.due else None,
        "due_date_source": due.source.value,
        "due_date_note": due.reason if due.source.value != "exact" else None,
        "exact_status": exact.status,
        "exact_status_text": status_label(exact.status),
        "local_status": row.local_status,
        "feedback_state": row.feedback_state,
        "feedback_message": row.feedback_message,
        "days_to_deadline": days_to_deadline(due.due, today),
        "description": exact.description,
        "view_url": exact.view_url,
    }
    days = view["days_to_deadline"]
    view["overdue"] = days is not None and days < 0 and _needs_action(view)
    return view


def _vraagpost_view(row: StoredVraagpost, names: dict[int, str]) -> dict[str, Any]:
    line = row.line
    return {
        "document_id": line.id,
        **_whose(line.relation_number, row.relation_name, row.division, names),
        "kind": "vraagposten",
        "kind_label": "vraagpost",
        "period": line.date.isoformat() if line.date else None,
        "amount": line.amount,
        "currency": "EUR",
        "due_date": None,
        "gl_account_code": line.gl_account_code,
        "description": line.description,
        "entry_number": line.entry_number,
    }


def _names(db: sqlite_utils.Database) -> dict[int, str]:
    from exactlink.store.admin import administration_states

    return {division: state.name for division, state in administration_states(db).items() if state.name}


def list_returns_view(
    ws: Workspace,
    *,
    kind: str | None = None,
    status: str | None = None,
    due_within: int | None = None,
    overdue: bool = False,
    relations: Sequence[str] = (),
    show_bsn: bool = False,
) -> list[dict[str, Any]]:
    """``returns list``: the fetched returns (or open vraagposten), filtered as asked, by due date; masked by the
    masking home unless ``show_bsn`` (names and descriptions are free text from the CRM and Exact Online)."""
    from exactlink.domain.privacy import mask_view
    from exactlink.store.returns import list_returns, list_vraagposten, short_document_ids

    kind = resolve_kind(kind) if kind is not None else None
    if due_within is not None and due_within < 0:
        raise UsageError("--due-within takes a number of days (0 or more)")
    status_code = parse_status(status) if status is not None else None
    day = ws.clock.today()
    db = ws.db
    names = _names(db)
    if kind == "vraagposten":
        chosen = [row for row in list_vraagposten(db) if not relations or row.line.relation_number in relations]
        vraagposten = [_vraagpost_view(row, names) for row in chosen]
        return mask_view(vraagposten, show_bsn=show_bsn)
    rows = list_returns(db, kinds=[kind] if kind else None, status=status_code)
    rows = [row for row in rows if not relations or row.exact.relation_number in relations]
    short_ids = short_document_ids(db)
    views = [return_view(row, day, names, short_ids) for row in rows]
    if due_within is not None or overdue:
        views = [view for view in views if _needs_action(view)]
    if due_within is not None:
        # "What is due within N days" includes what is already late: overdue first, then by days left.
        views = [v for v in views if v["days_to_deadline"] is not None and v["days_to_deadline"] <= due_within]
        views.sort(key=lambda view: view["days_to_deadline"])
    if overdue:
        views = [v for v in views if v["days_to_deadline"] is not None and v["days_to_deadline"] < 0]
    return mask_view(views, show_bsn=show_bsn)


def _needs_action(view: dict[str, Any]) -> bool:
    return view["exact_status"] not in _DONE_STATUSES and view["local_status"] != "processed"


def show_return(ws: Workspace, document_id: str, *, show_bsn: bool = False) -> dict[str, Any]:
    """``returns show DOC``: one return with its status history (each status with when it was first seen), masked
    by the masking home unless ``show_bsn``."""
    from exactlink.domain.privacy import mask_view
    from exactlink.domain.returns import status_label
    from exactlink.store.returns import get_return, resolve_document_id, return_history

    db = ws.db
    full_id = resolve_document_id(db, document_id, hint="list them with `exactlink returns list`")
    row = get_return(db, full_id)
    assert row is not None
    view = return_view(row, ws.clock.today(), _names(db))
    view.update(
        {
            "request_id": row.exact.request_id,
            "created": row.exact.created,
            "first_seen_at": row.first_seen_at,
            "last_seen_at": row.last_seen_at,
            "reported_at": row.reported_at,
            "history": [
                {"status": entry.status, "status_text": status_label(entry.status), "seen_at": entry.seen_at}
                for entry in return_history(db, full_id)
            ],
        }
    )
    return mask_view(view, show_bsn=show_bsn)


def mark(ws: Workspace, document_id: str, local_status: str, *, dry_run: bool = False) -> dict[str, Any]:
    """``returns mark DOC --processed|--rejected|--new``: the office's own status; feedback is queued, not sent.

    ``dry_run`` checks the same and says what the status would become, writing nothing.
    """
    from exactlink.store.returns import mark_return, resolve_document_id

    db = ws.db
    row = mark_return(db, resolve_document_id(db, document_id), local_status, dry_run=dry_run)
    return {
        "document_id": row.document_id,
        "local_status": row.local_status,
        "feedback_state": row.feedback_state,
        "dry_run": dry_run,
    }
