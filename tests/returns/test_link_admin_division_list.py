"""``link-admin`` reuses the administrations ``tenant list`` (or an earlier ``link-admin``) listed, while fresh.

Listing every administration costs a call per 60 of them on the office administration; soon after a listing
``link-admin`` spends none. A stale listing is read again; an administration the listing does not hold costs one
filtered call; and whatever the listing says, the write path reads the SolutionLinks, so a link Exact already
holds is reused, never made twice. The sandbox over real HTTP counts the calls.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exactlink.services.admin_links import DIVISION_LIST_FRESH
from exactlink.store.divisions import save_division_list, stored_division_list
from exactlink.store.meta import get_value
from tests.cli import run_cli
from tests.returns.conftest import Office

LISTINGS = ("system/Divisions", "system/AllDivisions")


def _listing_calls(office: Office) -> int:
    """Unfiltered reads of the division lists: a listing of every administration."""
    return sum(1 for e in office.sandbox.request_log if e.endpoint in LISTINGS and "$filter" not in e.query)


def _lookups(office: Office) -> list[str]:
    """The filters of the division reads that asked for particular administrations."""
    return [e.query["$filter"] for e in office.sandbox.request_log if e.endpoint in LISTINGS and "$filter" in e.query]


def _csv_of(tmp_path: Path, pairs: list[tuple[str, int]]) -> Path:
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("".join(f"{relation};{division}\n" for relation, division in pairs), encoding="utf-8")
    return csv_file


def _date_listing(office: Office, age: timedelta) -> None:
    """Make the stored listing ``age`` old (as if it was read then)."""
    db = office.db()
    try:
        stored = stored_division_list(db)
        assert stored is not None
        read_at = datetime.now(UTC) - age
        save_division_list(db, stored.divisions, read_at=read_at, complete=stored.complete)
    finally:
        db.close()


def test_link_admin_soon_after_tenant_list_lists_no_administrations(office: Office, tmp_path: Path) -> None:
    pairs = office.candidates(with_returns=False)[:8]
    for relation, _ in pairs:
        office.link_account(relation)
    listed = run_cli("tenant", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert _listing_calls(office) >= 1
    office.sandbox.reset_counters()

    bulk = run_cli("link-admin", "--csv", str(_csv_of(tmp_path, pairs[:6])), "--json")
    single = run_cli("link-admin", pairs[6][0], str(pairs[6][1]), "--json")

    assert bulk.exit_code == 0, bulk.stderr
    assert {row["status"] for row in json.loads(bulk.stdout)["rows"]} == {"linked"}
    assert single.exit_code == 0, single.stderr
    assert json.loads(single.stdout)["status"] == "linked"
    assert _listing_calls(office) == 0 and _lookups(office) == [], "the stored listing was fresh"
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 7


def test_a_stale_listing_is_read_again_and_stored_for_the_next_run(office: Office) -> None:
    (relation, division), (other, other_division) = office.candidates(with_returns=False)[:2]
    office.link_account(relation)
    office.link_account(other)
    assert run_cli("tenant", "list").exit_code == 0
    _date_listing(office, DIVISION_LIST_FRESH + timedelta(minutes=1))
    office.sandbox.reset_counters()

    stale = run_cli("link-admin", relation, str(division))
    listed_then = _listing_calls(office)
    fresh = run_cli("link-admin", other, str(other_division))

    assert stale.exit_code == 0 and fresh.exit_code == 0, stale.stderr + fresh.stderr
    assert listed_then == 1, "one page of system/Divisions (a 30-client office)"
    assert _listing_calls(office) == 1, "the listing link-admin read was stored and reused"


def test_an_administration_missing_from_the_listing_costs_one_filtered_call(office: Office) -> None:
    relation, division = office.candidates(with_returns=False)[0]
    office.link_account(relation)
    assert run_cli("tenant", "list").exit_code == 0
    db = office.db()
    try:  # as if the administration was created in Exact after the listing
        db.conn.execute("DELETE FROM divisions WHERE code = ?", (division,))
    finally:
        db.close()
    office.sandbox.reset_counters()

    result = run_cli("link-admin", relation, str(division), "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "linked"
    assert _listing_calls(office) == 0
    assert _lookups(office) == [f"Code eq {division}"]


def test_a_link_exact_holds_already_is_reused_whatever_the_listing_says(office: Office) -> None:
    from exactlink.sandbox import model as sandbox_model

    relation, division = office.candidates(with_returns=False)[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    assert run_cli("tenant", "list").exit_code == 0
    # Linked in Exact by someone else after the listing; the mirror does not know it.
    office.sandbox.create(
        office.office_division,
        sandbox_model.SOLUTION_LINKS,
        Account=account_id,
        SolutionType=0,
        InternalSolutionDivision=division,
        Status=0,
    )
    office.sandbox.reset_counters()

    result = run_cli("link-admin", relation, str(division), "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["solution_link"] == "reused"
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 0
    internal = [link for link in office.solution_links(account_id) if link.get("InternalSolutionDivision") == division]
    assert len(internal) == 1


def test_a_dry_run_stores_no_listing(office: Office) -> None:
    relation, division = office.candidates(with_returns=False)[0]
    office.link_account(relation)

    assert run_cli("link-admin", relation, str(division), "--dry-run").exit_code == 0

    db = office.db()
    try:
        assert get_value(db, "division_list") is None and stored_division_list(db) is None
    finally:
        db.close()
