"""Links, decisions, administration links, the office-account mirror, cursors and deletions."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlite_utils

from exactlink.domain.entities import AccountAddress, AccountContact, OfficeAccount, from_exact
from exactlink.store.accounts import (
    AccountChildren,
    Deletions,
    account_children,
    accounts_gone,
    apply_deletions,
    find_accounts_by_code,
    find_accounts_by_name,
    get_account,
    get_cursor,
    list_accounts,
    reset_cursor,
    save_records,
    set_cursor,
)
from exactlink.store.links import (
    LinkConflict,
    administration_link_of_division,
    get_account_link,
    get_administration_link,
    get_decision,
    list_account_links,
    list_administration_links,
    list_decisions,
    mark_backlog_fetched,
    record_decision,
    rejected_pairs,
    remove_account_link,
    remove_administration_link,
    set_account_link,
    set_administration_link,
)
from exactlink.store.relations import RelationRecord, get_relation, set_exact_address_id, upsert_relation
from tests.stamps import wall_now

ACCOUNT = "0b0c5f5e-0000-4000-8000-000000000001"
OTHER = "0b0c5f5e-0000-4000-8000-000000000002"


@pytest.fixture
def relations(db: sqlite_utils.Database) -> sqlite_utils.Database:
    for number in ("R1", "R2"):
        upsert_relation(db, RelationRecord(relation_number=number, name=f"Relation {number}"), now=wall_now())
    return db


def _exact_account_of(db: sqlite_utils.Database, relation_number: str) -> str | None:
    relation = get_relation(db, relation_number)
    assert relation is not None
    return relation.exact_account_id


def test_link_is_one_to_one_and_idempotent(relations: sqlite_utils.Database) -> None:
    db = relations
    assert (
        set_account_link(db, "R1", ACCOUNT, "          1001", method="rsin", linked_by="auto", now=wall_now()) is True
    )
    assert set_account_link(db, "R1", ACCOUNT, "1001", method="rsin", linked_by="auto", now=wall_now()) is False
    link = get_account_link(db, "R1")
    assert link is not None and (link.account_code, link.method, link.linked_by) == ("1001", "rsin", "auto")
    assert _exact_account_of(db, "R1") == ACCOUNT
    with pytest.raises(LinkConflict, match="already linked to relation R1"):
        set_account_link(db, "R2", ACCOUNT, "1001", method="manual", linked_by="manual", now=wall_now())
    with pytest.raises(LinkConflict, match="already linked to account 1001"):
        set_account_link(db, "R1", OTHER, "1002", method="kvk", linked_by="auto", now=wall_now())
    assert set_account_link(db, "R1", OTHER, "1002", method="manual", linked_by="manual", replace=True, now=wall_now())
    assert get_decision(db, "R1", OTHER) == "accepted"
    removed = remove_account_link(db, "R1")
    assert removed is not None and removed.account_id == OTHER
    assert remove_account_link(db, "R1") is None
    assert _exact_account_of(db, "R1") is None
    assert [(d.relation_number, d.account_id, d.accepted) for d in list_decisions(db)] == [("R1", OTHER, True)]
    assert list_account_links(db) == []


def test_rejected_pairs_are_remembered(relations: sqlite_utils.Database) -> None:
    record_decision(relations, "R1", ACCOUNT, "rejected", now=wall_now())
    record_decision(relations, "R1", ACCOUNT, "rejected", now=wall_now())
    assert rejected_pairs(relations) == {("R1", ACCOUNT)}
    record_decision(relations, "R1", ACCOUNT, "accepted", now=wall_now())
    assert rejected_pairs(relations) == set()


def test_admin_links(relations: sqlite_utils.Database) -> None:
    db = relations
    assert set_administration_link(db, "R1", 1234, now=wall_now()) is True
    assert set_administration_link(db, "R1", 1234, solution_link_id="sl-1", now=wall_now()) is False
    link = get_administration_link(db, "R1")
    assert link is not None and (link.division, link.solution_link_id, link.backlog_fetched_at) == (1234, "sl-1", None)
    with pytest.raises(LinkConflict):
        set_administration_link(db, "R2", 1234, now=wall_now())
    with pytest.raises(LinkConflict):
        set_administration_link(db, "R1", 5678, now=wall_now())
    mark_backlog_fetched(db, "R1", now=wall_now())
    fetched = get_administration_link(db, "R1")
    mark_backlog_fetched(db, "R1", now=wall_now())
    assert fetched is not None and fetched.backlog_fetched_at
    assert get_administration_link(db, "R1") == fetched, "the first fetch is recorded once"
    assert administration_link_of_division(db, 1234) == fetched
    [listed] = list_administration_links(db)
    assert (listed.relation_number, listed.division, listed.relation_name, listed.sbr_start_date) == (
        "R1",
        1234,
        "Relation R1",
        None,
    )
    assert remove_administration_link(db, "R1") is not None
    assert get_administration_link(db, "R1") is None


def test_account_mirror_upserts_trims_codes_and_finds(db: sqlite_utils.Database) -> None:
    rows = [
        from_exact(OfficeAccount, {"ID": ACCOUNT.upper(), "Code": "1001".rjust(18), "Name": "Bakkerij De Vries"}),
        from_exact(OfficeAccount, {"ID": OTHER, "Code": "   1002", "Name": "De Vries Holding"}),
    ]
    rows = [replace(row, division=100, timestamp=stamp) for row, stamp in zip(rows, (10, 11), strict=True)]
    assert save_records(db, rows, now=wall_now()) == 2
    assert save_records(db, rows, now=wall_now()) == 2
    assert db.conn.execute("SELECT count(*) FROM accounts").fetchone()[0] == 2
    account = get_account(db, ACCOUNT)
    assert account is not None and account.code == "1001" and account.timestamp == 10
    assert account == rows[0]
    assert [a.id for a in find_accounts_by_code(db, 100, " 1002")] == [OTHER]
    assert [a.code for a in find_accounts_by_name(db, 100, "bakkerij de vries")] == ["1001"]
    assert [a.code for a in find_accounts_by_name(db, 100, "vries")] == ["1001", "1002"]
    assert [(a.id, a.code) for a in list_accounts(db, 100)] == [(ACCOUNT, "1001"), (OTHER, "1002")]
    with pytest.raises(TypeError, match="records of one kind"):
        save_records(db, [rows[0], AccountAddress(id="a1", account_id=ACCOUNT)], now=wall_now())


def test_cursor_never_moves_back(db: sqlite_utils.Database) -> None:
    assert get_cursor(db, 100, "accounts") is None
    set_cursor(db, 100, "accounts", 500, now=wall_now())
    set_cursor(db, 100, "accounts", 400, now=wall_now())
    assert get_cursor(db, 100, "accounts") == 500
    reset_cursor(db, 100, "accounts")
    assert get_cursor(db, 100, "accounts") is None


def test_deletions_drop_children_and_crm_side_ids_and_keep_links(relations: sqlite_utils.Database) -> None:
    db = relations
    from exactlink.store.relations import Address, set_address

    save_records(db, [OfficeAccount(id=ACCOUNT, code="1001", name="A", division=100)], now=wall_now())
    save_records(db, [AccountAddress(id="addr-1", account_id=ACCOUNT, type=1, main=True, division=100)], now=wall_now())
    save_records(db, [AccountContact(id="c-1", account_id=ACCOUNT, full_name="Jan", division=100)], now=wall_now())
    set_account_link(db, "R1", ACCOUNT, "1001", method="rsin", linked_by="auto", now=wall_now())
    set_address(db, "R1", Address("visit", "Straat 1"), now=wall_now())
    set_exact_address_id(db, "R1", "visit", "addr-1")
    assert apply_deletions(db, 3, ["ADDR-1"]) == Deletions(deleted=1, gone=[])
    assert db.conn.execute("SELECT exact_address_id FROM addresses").fetchone()[0] is None
    save_records(db, [AccountAddress(id="addr-2", account_id=ACCOUNT, type=1, main=True, division=100)], now=wall_now())
    set_exact_address_id(db, "R1", "visit", "addr-2")
    result = apply_deletions(db, OfficeAccount, [ACCOUNT, "never-seen"])
    assert result == Deletions(deleted=1, gone=["R1"])
    assert account_children(db, ACCOUNT) == AccountChildren(addresses=[], contacts=[], bank_accounts=[])
    link = get_account_link(db, "R1")
    assert link is not None and link.account_id == ACCOUNT, "the link is kept (reported as account gone)"
    assert accounts_gone(db, 100) == [], "no accounts cursor yet: the mirror was never read"
    set_cursor(db, 100, "accounts", 1, now=wall_now())
    assert accounts_gone(db, 100) == [("R1", "1001")]
    assert db.conn.execute("SELECT exact_address_id FROM addresses").fetchall() == [(None,)], "children's ids go"
    with pytest.raises(ValueError):
        apply_deletions(db, 999, ["x"])
