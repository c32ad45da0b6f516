"""Returns: idempotent upsert with status history, local status, feedback bookkeeping; vraagposten."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import date
from typing import Any

import pytest
import sqlite_utils

from exactlink.domain.return_records import ReturnRecord, VraagpostRecord
from exactlink.store.returns import (
    AlreadyReported,
    ReturnNotFound,
    get_return,
    list_returns,
    list_vraagposten,
    mark_return,
    pending_feedback,
    record_feedback,
    relation_returns,
    return_history,
    upsert_returns,
    upsert_vraagposten,
)
from tests.stamps import wall_now


def _return(document_id: str = "DOC-1", status: int = 20, **extra: Any) -> ReturnRecord:
    row = ReturnRecord(
        document_id=document_id,
        request_id="req-" + document_id,
        division=200,
        relation_number="R1",
        type=31,
        kind="btw",
        status=status,
        year=2026,
        period=3,
        frequency="Q",
        amount=1234.5,
        due_date=date(2026, 10, 31),
    )
    return dataclasses.replace(row, **extra)


def test_upsert_is_idempotent_and_keeps_status_history(db: sqlite_utils.Database) -> None:
    counts = upsert_returns(db, [_return(), _return("DOC-2", kind="icp", type=32)], now=wall_now())
    assert counts.as_dict() == {"new": 2, "changed": 0, "unchanged": 0}
    for _ in range(3):
        assert upsert_returns(db, [_return(), _return("DOC-2", kind="icp", type=32)], now=wall_now()).as_dict() == {
            "new": 0,
            "changed": 0,
            "unchanged": 2,
        }
    changed = upsert_returns(db, [_return(status=40)], now=wall_now())
    assert changed.as_dict() == {"new": 0, "changed": 1, "unchanged": 0} and changed.changed_ids == ["doc-1"]
    upsert_returns(db, [_return(status=40)], now=wall_now())
    assert [h.status for h in return_history(db, "doc-1")] == [20, 40]
    assert db.conn.execute("SELECT count(*) FROM returns").fetchone()[0] == 2
    stored = get_return(db, "DOC-1")
    assert stored is not None and stored.exact.due_date == date(2026, 10, 31) and stored.local_status == "new"
    assert stored.exact.amount == 1234.5 and stored.relation_name is None  # no relation R1 in the mirror
    assert [r.document_id for r in list_returns(db, kinds=["icp"])] == ["doc-2"]
    assert len(relation_returns(db, "R1")) == 2


def test_an_exception_mid_upsert_writes_nothing(db: sqlite_utils.Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):  # no such kind: the table's CHECK refuses it
        upsert_returns(db, [_return(), _return("bad", kind="colour")], now=wall_now())
    assert db.conn.execute("SELECT count(*) FROM returns").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM return_status_history").fetchone()[0] == 0


def test_feedback_lifecycle_never_reports_twice(db: sqlite_utils.Database) -> None:
    upsert_returns(db, [_return(status=40)], now=wall_now())
    assert pending_feedback(db) == []
    assert mark_return(db, "DOC-1", "processed").feedback_state == "pending"
    assert [r.document_id for r in pending_feedback(db)] == ["doc-1"]
    record_feedback(db, "DOC-1", False, "timeout", now=wall_now())  # transient: stays pending
    assert pending_feedback(db)[0].feedback_message == "timeout"
    record_feedback(db, "DOC-1", True, None, now=wall_now())
    assert pending_feedback(db) == []
    stored = get_return(db, "DOC-1")
    assert stored is not None and stored.feedback_state == "reported" and stored.reported_at
    assert mark_return(db, "DOC-1", "processed").feedback_state == "reported"
    with pytest.raises(AlreadyReported):
        mark_return(db, "DOC-1", "rejected")
    upsert_returns(db, [_return(status=50)], now=wall_now())
    assert get_return(db, "DOC-1").local_status == "processed"  # type: ignore[union-attr]


def test_final_failure_is_not_retried_until_marked_again(db: sqlite_utils.Database) -> None:
    upsert_returns(db, [_return(status=50)], now=wall_now())
    mark_return(db, "DOC-1", "rejected")
    record_feedback(db, "DOC-1", False, "further along in Exact", final=True, now=wall_now())
    assert pending_feedback(db) == []
    assert mark_return(db, "DOC-1", "rejected").feedback_state == "pending"
    assert mark_return(db, "DOC-1", "new").feedback_state == "none"
    with pytest.raises(ReturnNotFound):
        mark_return(db, "nope", "processed")
    with pytest.raises(ReturnNotFound):
        record_feedback(db, "nope", True, now=wall_now())


def test_vraagposten_upsert_and_clearing(db: sqlite_utils.Database) -> None:
    lines = [
        VraagpostRecord("L1", "R1", "2300", date(2026, 10, 2), -12.5, "", None),
        VraagpostRecord("L2", "R1", "2300", date(2026, 10, 3), 99.0, "", None),
    ]
    assert upsert_vraagposten(db, 200, lines, now=wall_now()).as_dict() == {"new": 2, "changed": 0, "unchanged": 0}
    assert upsert_vraagposten(db, 200, lines, now=wall_now()).as_dict() == {"new": 0, "changed": 0, "unchanged": 2}
    assert upsert_vraagposten(db, 200, lines[:1], now=wall_now()).as_dict() == {"new": 0, "changed": 0, "unchanged": 1}
    assert [v.line.id for v in list_vraagposten(db, division=200)] == ["l1"]
    assert [v.cleared for v in list_vraagposten(db, include_cleared=True)] == [False, True]
    first = list_vraagposten(db, division=200)[0]
    assert (first.division, first.line.date, first.line.amount) == (200, date(2026, 10, 2), -12.5)
    assert upsert_vraagposten(db, 200, lines, now=wall_now()).as_dict() == {"new": 0, "changed": 1, "unchanged": 1}
    assert db.conn.execute("SELECT count(*) FROM vraagposten").fetchone()[0] == 2


def test_document_ids_by_a_unique_start(db: sqlite_utils.Database) -> None:
    from exactlink.store.returns import resolve_document_id, short_document_ids

    ids = [
        "47c126b0-7921-4a6e-9a1f-000000000001",
        "47c126b0-7921-4a6e-9a1f-000000000002",
        "47c126b9-0000-4000-8000-000000000003",
        "9ad9117f-7fa8-4e2b-8a0c-000000000004",
    ]
    upsert_returns(db, [_return(document_id) for document_id in ids], now=wall_now())

    short = short_document_ids(db)

    assert short[ids[3]] == "9ad9117f"  # 8 characters when nothing else starts alike
    assert short[ids[2]] == "47c126b9"
    assert short[ids[0]] == ids[0] and short[ids[1]] == ids[1]  # only the last character tells these apart
    assert len(set(short.values())) == len(ids)
    for document_id, start in short.items():
        assert resolve_document_id(db, start) == document_id
        assert resolve_document_id(db, start.upper()) == document_id
    assert resolve_document_id(db, "9ad9") == ids[3]
    with pytest.raises(ReturnNotFound, match="start of several document ids"):
        resolve_document_id(db, "47c126b0")
    with pytest.raises(ReturnNotFound, match="no return with document id 9ad"):
        resolve_document_id(db, "9ad")  # too short to stand for an id
    with pytest.raises(ReturnNotFound, match="no return with document id ffff"):
        resolve_document_id(db, "ffff")
