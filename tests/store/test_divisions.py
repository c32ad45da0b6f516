"""The stored listing of administrations (``divisions``, m009): replaced as a whole, flags and time kept, no VAT
or OB number (it may hold a BSN)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlite_utils

from exactlink.domain.records import KnownDivision
from exactlink.store.divisions import save_division_list, stored_division_list

EIGHT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HALF_PAST_NINE = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

OFFICE = KnownDivision(code=100, name="Kantoor", practice=True)
CLIENT = KnownDivision(
    code=2001,
    name="Bakkerij Jansen",
    customer="0b7f8a1e-0000-4000-8000-000000000001",
    customer_code="R1",
    customer_name="Bakkerij Jansen B.V.",
    vat_number="NL001234567B01",
    kvk="12345678",
    ob_number="NL001234567B01",
    status=1,
    blocking=0,
)
WITHOUT_CONSENT = KnownDivision(code=2002, name="Garage Pietersen", status=2, blocking=1, consented=False)


def test_nothing_is_stored_before_a_listing(db: sqlite_utils.Database) -> None:
    assert stored_division_list(db) is None


def test_a_listing_comes_back_as_it_was_stored(db: sqlite_utils.Database) -> None:
    save_division_list(
        db,
        [OFFICE, CLIENT, WITHOUT_CONSENT],
        read_at=EIGHT,
        complete=True,
    )

    stored = stored_division_list(db)

    assert stored is not None
    assert stored.divisions == (OFFICE, replace(CLIENT, vat_number=None, ob_number=None), WITHOUT_CONSENT)
    assert (stored.read_at, stored.complete) == ("2026-11-02T08:00:00+00:00", True)


def test_no_vat_or_ob_number_is_stored(db: sqlite_utils.Database) -> None:
    save_division_list(db, [CLIENT], read_at=EIGHT, complete=True)

    columns = {row[1] for row in db.conn.execute("PRAGMA table_info('divisions')")}
    cells = [str(value) for row in db.conn.execute("SELECT * FROM divisions") for value in row]

    assert not {"vat_number", "ob_number"} & columns, "an eenmanszaak's OB number holds the owner's BSN"
    assert not any("001234567" in cell for cell in cells)


def test_a_new_listing_replaces_the_old_one(db: sqlite_utils.Database) -> None:
    save_division_list(
        db,
        [OFFICE, CLIENT, WITHOUT_CONSENT],
        read_at=EIGHT,
        complete=True,
    )

    save_division_list(db, [OFFICE], read_at=HALF_PAST_NINE, complete=False)

    stored = stored_division_list(db)
    assert stored is not None
    assert stored.divisions == (OFFICE,), "administrations gone from Exact's list are gone here too"
    assert (stored.read_at, stored.complete) == ("2026-11-02T09:30:00+00:00", False)
