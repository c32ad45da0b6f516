"""Relations: upsert by number, field-level changes, children replaced while Exact ids are kept."""

from __future__ import annotations

from datetime import date

import pytest
import sqlite_utils

from exactlink.store.relations import (
    Address,
    Contact,
    RelationNotFound,
    RelationRecord,
    clear_pending_push,
    get_addresses,
    get_relation,
    get_relation_record,
    get_sbr_start,
    iter_relation_records,
    matching_fields,
    relation_overviews,
    relations_pending_push,
    set_address,
    set_exact_address_id,
    set_exact_contact_id,
    set_sbr_start,
    update_relation_fields,
    upsert_relation,
)
from tests.stamps import wall_now


def _record(**changes: object) -> RelationRecord:
    record = RelationRecord(
        relation_number="R001",
        name="Bakkerij De Vries B.V.",
        kvk="69599084",
        rsin="999900018",
        addresses={
            "visit": Address("visit", "Dorpsstraat 1", "2601 DC", "Delft", "NL"),
            "postal": Address("postal", "Postbus 12", "2600 AA", "Delft", "NL"),
        },
        contacts=[Contact("Jan de Vries", "Jan", "de", "Vries", "jan@example.nl")],
        ibans=["NL91ABNA0417164300"],
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_new_then_unchanged_then_changed(db: sqlite_utils.Database) -> None:
    assert upsert_relation(db, _record(), now=wall_now()).status == "new"
    first = get_relation(db, "R001")
    assert first is not None and first.pending_push is True
    clear_pending_push(db, ["R001"])
    again = upsert_relation(db, _record(), now=wall_now())
    assert again.status == "unchanged" and again.changed_fields == []
    assert relations_pending_push(db) == []
    assert getattr(get_relation(db, "R001"), "updated_at", None) == first.updated_at
    changed = upsert_relation(
        db, _record(phone="+31 15 123 4567", ibans=["NL91ABNA0417164300", "NL20INGB0001234567"]), now=wall_now()
    )
    assert changed.status == "changed"
    assert changed.changed_fields == ["phone", "bank_accounts"]
    assert relations_pending_push(db) == ["R001"]
    assert db.conn.execute("SELECT count(*) FROM relations").fetchone()[0] == 1
    assert db.conn.execute("SELECT count(*) FROM bank_accounts").fetchone()[0] == 2


def test_children_are_replaced_but_exact_ids_survive(db: sqlite_utils.Database) -> None:
    upsert_relation(db, _record(), now=wall_now())
    set_exact_address_id(db, "R001", "visit", "addr-1")
    set_exact_contact_id(db, "R001", "Jan de Vries", "contact-1")
    record = _record()
    record.addresses = {"visit": record.addresses["visit"], "invoice": Address("invoice", "Markt 2", None, "Delft")}
    record.contacts = [*record.contacts, Contact("Piet Jansen", email="piet@example.nl")]
    change = upsert_relation(db, record, now=wall_now())
    assert change.changed_fields == ["postal_address", "invoice_address", "contacts"]
    addresses = {row.type: row for row in get_addresses(db, "R001")}
    assert set(addresses) == {"visit", "invoice"}
    assert addresses["visit"].exact_address_id == "addr-1"
    stored = get_relation_record(db, "R001")
    assert stored is not None and [c.full_name for c in stored.contacts] == ["Jan de Vries", "Piet Jansen"]
    exact_ids = dict(db.conn.execute("SELECT full_name, exact_contact_id FROM contacts").fetchall())
    assert exact_ids == {"Jan de Vries": "contact-1", "Piet Jansen": None}


def test_issues_are_replaced_without_counting_as_a_change(db: sqlite_utils.Database) -> None:
    upsert_relation(
        db,
        _record(issues=[{"column": "BSN", "message": "BSN fails the 11-proef", "severity": "error"}]),
        now=wall_now(),
    )
    assert [row.relation.relation_number for row in relation_overviews(db, flagged=True)] == ["R001"]
    assert upsert_relation(db, _record(), now=wall_now()).status == "unchanged"
    assert relation_overviews(db, flagged=True) == []


def test_update_fields_reports_only_real_changes(db: sqlite_utils.Database) -> None:
    upsert_relation(db, _record(), mark_pending_push=False, now=wall_now())
    assert update_relation_fields(db, "R001", {"kvk": "69599084", "website": "https://devries.nl"}, now=wall_now()) == [
        "website"
    ]
    assert relations_pending_push(db) == []
    with pytest.raises(ValueError):
        update_relation_fields(db, "R001", {"colour": "red"}, now=wall_now())
    with pytest.raises(RelationNotFound):
        update_relation_fields(db, "R404", {"name": "x"}, now=wall_now())


def test_set_address_and_sbr_start(db: sqlite_utils.Database) -> None:
    upsert_relation(db, _record(), now=wall_now())
    assert set_address(db, "R001", Address("visit", "Dorpsstraat 1", "2601 DC", "Delft", "NL"), now=wall_now()) is False
    assert set_address(
        db, "R001", Address("visit", "Dorpsstraat 3", "2601 DC", "Delft", "NL"), exact_address_id="a", now=wall_now()
    )
    assert set_address(db, "R001", Address("postal"), now=wall_now()) is True  # empty → deleted
    assert [row.type for row in get_addresses(db, "R001")] == ["visit"]
    set_sbr_start(db, "R001", date(2026, 10, 1))
    assert get_sbr_start(db, "R001") == date(2026, 10, 1)
    set_sbr_start(db, "R001", None)
    assert get_sbr_start(db, "R001") is None
    with pytest.raises(RelationNotFound):
        set_sbr_start(db, "R404", None)


def test_matching_fields_take_the_first_address_with_a_postcode_or_street(db: sqlite_utils.Database) -> None:
    upsert_relation(db, _record(), now=wall_now())  # visit and postal
    no_visit = {
        "visit": Address("visit", None, None, None, "NL"),  # a bare country is no address
        "invoice": Address("invoice", "Markt 3", None, "Delft", "NL"),
    }
    upsert_relation(
        db,
        _record(relation_number="R002", addresses=no_visit, ibans=["NL20INGB0001234567", "NL91ABNA0417164300"]),
        now=wall_now(),
    )
    upsert_relation(
        db, _record(relation_number="R003", name="Nothing", addresses={}, ibans=[], rsin=None, kvk=None), now=wall_now()
    )
    first, second, third = matching_fields(db)
    assert first == (
        "R001", "Bakkerij De Vries B.V.", "999900018", None, None, None, "69599084", "2601 DC", "Dorpsstraat 1",
        ("NL91ABNA0417164300",),
    )  # fmt: skip
    assert (second.postcode, second.street) == (None, "Markt 3")
    assert second.ibans == ("NL20INGB0001234567", "NL91ABNA0417164300")
    assert (third.relation_number, third.postcode, third.street, third.ibans, third.rsin) == (
        "R003",
        None,
        None,
        (),
        None,
    )


def test_iter_relation_records_matches_single_reads(db: sqlite_utils.Database) -> None:
    upsert_relation(db, _record(), now=wall_now())
    upsert_relation(
        db, _record(relation_number="R002", name="Other", addresses={}, contacts=[], ibans=[]), now=wall_now()
    )
    records = list(iter_relation_records(db))
    assert [r.relation_number for r in records] == ["R001", "R002"]
    assert records[0] == get_relation_record(db, "R001")
