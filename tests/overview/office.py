"""A small office in the mirror, on a day the tests name: returns in every due-date state, vraagposten, an
administration whose last fetch failed, a relation without a link and one without an administration.

Relation R4's name carries a BSN-like number (it passes the 11-proef) and markup: neither may reach a file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from exactlink.domain.return_records import ReturnRecord, VraagpostRecord
from exactlink.store.admin import update_administration_state
from exactlink.store.links import set_account_link, set_administration_link
from exactlink.store.meta import set_office
from exactlink.store.relations import RelationRecord, upsert_relation
from exactlink.store.returns import mark_return, upsert_returns, upsert_vraagposten

TODAY = date(2027, 3, 10)
"""A Wednesday; everything below is dated relative to it."""
NOW = datetime(2027, 3, 10, 8, 30, tzinfo=UTC)  # 09:30 in Amsterdam
BSN_IN_NAME = "111222333"
HOSTILE_NAME = f"<script>alert(1)</script> Jan {BSN_IN_NAME} & Zn"


def document(number: int) -> str:
    """A document id (a GUID) that tells the test's returns apart by their last digits."""
    return f"d0000000-0000-4000-8000-{number:012d}"


def _return(
    number: int, relation: str, division: int, kind: str, status: int, due: date | None, **extra: Any
) -> ReturnRecord:
    return ReturnRecord(
        document_id=document(number),
        division=division,
        relation_number=relation,
        type=146 if kind == "loonheffing" else 32 if kind == "icp" else 31,
        kind=kind,
        status=status,
        year=2027,
        period=2,
        frequency="M",
        amount=1234.5 + number,
        currency="EUR",
        due_date=due,
        created="2027-03-01T00:00:00+00:00",
        **extra,
    )


def populate(db: sqlite_utils.Database) -> None:
    """Fill ``db`` with the office described in the module docstring."""
    set_office(db, 1000, "Kantoor Voorbeeld", now=NOW)
    for number, name in (
        ("R1", "Bakkerij Jansen B.V."),
        ("R2", "Garage De Vries"),
        ("R3", "Schilder Smit"),
        ("R4", HOSTILE_NAME),
        ("R5", "Nog Niet Gekoppeld"),
    ):
        upsert_relation(db, RelationRecord(number, name=name, bsn=BSN_IN_NAME if number == "R4" else None), now=NOW)
    for number, division in (("R1", 2001), ("R2", 2002), ("R3", None), ("R4", 2004)):
        set_account_link(db, number, f"a0000000-0000-4000-8000-00000000000{number[1]}", f"C{number[1]}", method="kvk",
                 linked_by="auto", now=NOW)  # fmt: skip
        if division is not None:
            set_administration_link(db, number, division, now=NOW)
            update_administration_state(
                db, division, name=f"Administratie {number}", last_fetch_at="2027-03-10T08:00:00+00:00", now=NOW
            )
    update_administration_state(
        db, 2002, last_fetch_error="Exact Online answered 401: no access to this administration", now=NOW
    )
    upsert_returns(
        db,
        [
            _return(1, "R1", 2001, "btw", 20, TODAY - timedelta(days=3)),  # overdue
            _return(2, "R1", 2001, "icp", 40, TODAY + timedelta(days=2)),  # due soon, realised
            _return(3, "R2", 2002, "loonheffing", 20, TODAY + timedelta(days=20)),  # open, later
            _return(4, "R2", 2002, "btw", 50, TODAY - timedelta(days=30)),  # processed in Exact: done
            _return(5, "R4", 2004, "btw", 40, TODAY + timedelta(days=7)),  # due soon (the 7th day counts)
            _return(6, "R4", 2004, "btw_suppletie", 20, None, description="Suppletie omzetbelasting"),  # no due date
            _return(7, "R1", 2001, "btw", 40, TODAY - timedelta(days=1)),  # marked processed below: done
        ],
        now=NOW,
    )
    mark_return(db, document(7), "processed")
    upsert_vraagposten(
        db,
        2001,
        [
            VraagpostRecord("v1", "R1", "2300", date(2027, 1, 5), 100.0, "Bank", None),
            VraagpostRecord("v2", "R1", "2300", date(2026, 12, 20), -25.5, "Kas", None),
        ],
        now=NOW,
    )
    db.conn.execute(
        "INSERT INTO runs (command, started_at, finished_at, outcome, summary) VALUES "
        "('fetch-returns', '2027-03-10T08:00:00+00:00', '2027-03-10T08:01:00+00:00', 'partial', '{}'), "
        "('fetch-returns', '2027-03-10T08:20:00+00:00', '2027-03-10T08:20:01+00:00', 'skipped', '{}')"
    )
    db.conn.commit()
