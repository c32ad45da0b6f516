"""Relation updates of the inbound sync (renumbering with dependants, contact and bank-account writes) and the
mirror after a PUT."""

from __future__ import annotations

import pytest
import sqlite_utils

from exactlink.domain.entities import AccountAddress, OfficeAccount, updated
from exactlink.store.accounts import get_account, remove_record, save_records
from exactlink.store.db import open_db
from exactlink.store.links import get_account_link, get_administration_link, set_account_link, set_administration_link
from exactlink.store.relation_updates import (
    RelationNumberTaken,
    drop_issues,
    relation_children,
    renumber_relation,
    replace_bank_accounts,
    update_contact,
)
from exactlink.store.relations import (
    Address,
    Contact,
    RelationNotFound,
    RelationRecord,
    get_relation_record,
    upsert_relation,
)
from exactlink.store.returns import relation_returns
from tests.stamps import wall_now

ACCOUNT = "0b7f8a1e-0000-4000-8000-000000000001"
DIVISION = 1234


@pytest.fixture
def db() -> sqlite_utils.Database:
    database = open_db()
    upsert_relation(
        database,
        RelationRecord(
            "R001",
            name="Bakkerij",
            addresses={"visit": Address("visit", "Dorpsstraat 1", "2601 DC", "Delft", "NL")},
            contacts=[Contact("Jan Berg", "Jan", None, "Berg", "jan@x.nl")],
            ibans=["NL91ABNA0417164300"],
        ),
        now=wall_now(),
    )
    upsert_relation(database, RelationRecord("R002", name="Other"), now=wall_now())
    save_records(
        database,
        [OfficeAccount(id=ACCOUNT, code="204518", name="Bakkerij", phone="1", division=DIVISION)],
        now=wall_now(),
    )
    set_account_link(database, "R001", ACCOUNT, "204518", method="kvk", linked_by="auto", now=wall_now())
    set_administration_link(database, "R001", 777, now=wall_now())
    return database


def test_renumbering_carries_children_links_and_returns_along(db: sqlite_utils.Database) -> None:
    db.conn.execute(
        "INSERT INTO returns (document_id, division, relation_number, type, kind, first_seen_at, last_seen_at) "
        "VALUES ('d1', 777, 'R001', 31, 'btw', 'x', 'x')"
    )
    moved = renumber_relation(db, "R001", "204518", now=wall_now())
    assert {"addresses", "contacts", "bank_accounts", "links", "admin_links", "returns"} <= set(moved)
    record = get_relation_record(db, "204518")
    assert record is not None and record.addresses["visit"].street == "Dorpsstraat 1"
    assert [c.full_name for c in record.contacts] == ["Jan Berg"] and record.ibans == ["NL91ABNA0417164300"]
    assert get_relation_record(db, "R001") is None
    link = get_account_link(db, "204518")
    assert link is not None and link.account_id == ACCOUNT
    admin = get_administration_link(db, "204518")
    assert admin is not None and admin.division == 777
    assert [row.document_id for row in relation_returns(db, "204518")] == ["d1"]
    assert db.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_renumbering_refuses_a_taken_or_unknown_number(db: sqlite_utils.Database) -> None:
    with pytest.raises(RelationNumberTaken):
        renumber_relation(db, "R001", "R002", now=wall_now())
    with pytest.raises(RelationNotFound):
        renumber_relation(db, "R404", "R405", now=wall_now())
    assert get_relation_record(db, "R001") is not None
    assert renumber_relation(db, "R001", "R001", now=wall_now()) == []


def test_a_put_changes_only_the_fields_it_sent_in_the_mirror(db: sqlite_utils.Database) -> None:
    account = get_account(db, ACCOUNT.upper())
    assert account is not None
    save_records(
        db, [updated(account, {"Phone": "2", "Code": "  R001", "ID": "not-the-key", "Unmirrored": 1})], now=wall_now()
    )
    account = get_account(db, ACCOUNT)
    assert account is not None
    assert (account.phone, account.code, account.name, account.id) == ("2", "R001", "Bakkerij", ACCOUNT)
    assert get_account(db, "0b7f8a1e-0000-4000-8000-00000000dead") is None


def test_removing_a_mirrored_child(db: sqlite_utils.Database) -> None:
    save_records(db, [AccountAddress(id="a1", account_id=ACCOUNT, type=2, division=DIVISION)], now=wall_now())
    assert remove_record(db, AccountAddress, "A1")
    assert not remove_record(db, AccountAddress, "a1")


def test_contact_update_and_bank_accounts_replacement(db: sqlite_utils.Database) -> None:
    assert update_contact(db, "R001", "Jan Berg", {"phone": "06-1"}, exact_contact_id="c1", now=wall_now())
    assert not update_contact(db, "R001", "Nobody", {"phone": "06-1"}, now=wall_now())
    with pytest.raises(ValueError, match="not a contact field"):
        update_contact(db, "R001", "Jan Berg", {"full_name": "x"}, now=wall_now())
    replace_bank_accounts(db, "R001", [("NL20INGB0001234567", "b2"), ("NL91ABNA0417164300", "b1")], now=wall_now())
    children = relation_children(db)["R001"]
    assert [(row.full_name, row.phone, row.exact_contact_id) for row in children.contacts] == [
        ("Jan Berg", "06-1", "c1")
    ]
    assert [(row.iban, row.exact_bank_account_id) for row in children.bank_accounts] == [
        ("NL20INGB0001234567", "b2"),
        ("NL91ABNA0417164300", "b1"),
    ]
    replace_bank_accounts(db, "R001", [], now=wall_now())
    assert relation_children(db)["R001"].bank_accounts == ()


def test_issues_about_replaced_values_are_dropped(db: sqlite_utils.Database) -> None:
    issues = [
        {"column": "KvK-nummer", "message": "KvK number must be 8 digits, not 7", "severity": "error"},
        {"column": "bezoekadres postcode", "message": "postcode …", "severity": "error"},
        {"column": "email", "message": "not an e-mail address", "severity": "error"},
    ]
    upsert_relation(db, RelationRecord("R002", name="Other", issues=issues), now=wall_now())
    assert drop_issues(db, "R002", ["kvk", "visit_postcode"]) == 2
    assert [issue["column"] for issue in get_relation_record(db, "R002").issues] == ["email"]  # type: ignore[union-attr]
    assert drop_issues(db, "R404", ["kvk"]) == 0
