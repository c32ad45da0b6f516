"""The vraagposten cursor stays trustworthy against the sandbox over real HTTP: a transaction line deleted in Exact
(sync/Deleted, EntityType 1) leaves the open items at the next day's read, and an administration moved to another
database (a new DivisionMoveDate, every Timestamp restarted lower) is read again from the start at the weekly check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import time_machine

from exactlink.domain.vraagposten import vraagposten_overview
from exactlink.sandbox import model as sandbox_model
from tests.cli import run_cli
from tests.returns.conftest import Office


def _vraagposten_division(office: Office) -> tuple[str, int, str]:
    for relation, division in office.candidates(with_returns=False):
        accounts = office.sandbox.records(division, sandbox_model.GL_ACCOUNTS).values()
        codes = [a["Code"] for a in accounts if "vraagpost" in str(a["Description"]).lower()]
        lines = [
            line
            for line in office.sandbox.records(division, sandbox_model.TRANSACTION_LINES).values()
            if codes and str(line["GLAccountCode"]).strip() == str(codes[0]).strip()
        ]
        if len(lines) >= 2:
            return relation, division, str(codes[0]).strip()
    raise AssertionError("the sandbox has no administration with vraagposten lines")


def _lines(office: Office, division: int) -> list[dict[str, Any]]:
    return [dict(line) for line in office.sandbox.records(division, sandbox_model.TRANSACTION_LINES).values()]


def _open_total(office: Office, division: int) -> Decimal:
    """What ``returns list`` shows open for the administration."""
    listed = json.loads(run_cli("returns", "list", "--kind", "vraagposten", "--json").stdout)
    return sum((Decimal(str(item["amount"])) for item in listed if item["division"] == division), Decimal(0))


def _filters(office: Office, division: int, endpoint: str) -> list[str]:
    log = office.sandbox.request_log
    return [e.query.get("$filter", "") for e in log if e.division == division and e.endpoint == endpoint]


def _fetch_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=True):
        result = run_cli("fetch-returns", "--json")
    assert result.exit_code == 0, result.stderr


def _sandbox_now(office: Office) -> datetime:
    return datetime.fromtimestamp(office.sandbox.clock.now(), UTC)


def test_a_line_deleted_in_exact_leaves_the_open_items_at_the_next_days_read(office: Office) -> None:
    relation, division, code = _vraagposten_division(office)
    office.link_admin_in_store(relation, division)
    start = _sandbox_now(office).replace(hour=8, minute=0)
    _fetch_at(start)
    before = _open_total(office, division)
    on_account = [line for line in _lines(office, division) if str(line["GLAccountCode"]).strip() == code]
    gone = max(on_account, key=lambda line: abs(float(line["AmountDC"])))
    office.sandbox.delete(division, sandbox_model.TRANSACTION_LINES, gone["ID"])
    expected = vraagposten_overview(_lines(office, division)).open_total
    assert expected != before, "the deleted line mattered"
    office.sandbox.reset_counters()

    _fetch_at(start + timedelta(hours=2))
    same_day = _open_total(office, division)
    _fetch_at(start + timedelta(days=1))

    assert same_day == before, "deletions are read once a day"
    assert _open_total(office, division) == expected
    assert len(_filters(office, division, "sync/Deleted")) == 1
    assert _filters(office, division, "sync/Financial/TransactionLines")[-1] != "Timestamp gt 1L", "no full read"


def test_a_moved_administration_is_read_again_at_the_weekly_check(office: Office) -> None:
    relation, division, code = _vraagposten_division(office)
    office.link_admin_in_store(relation, division)
    start = _sandbox_now(office).replace(hour=8, minute=0)
    _fetch_at(start)
    office.sandbox.move_division(division)
    template = next(line for line in _lines(office, division) if str(line["GLAccountCode"]).strip() == code)
    fields = {key: value for key, value in template.items() if key not in ("ID", "Timestamp", "Division")}
    office.sandbox.create(division, sandbox_model.TRANSACTION_LINES, **{**fields, "AmountDC": 12.34, "EntryID": None})
    expected = vraagposten_overview(_lines(office, division)).open_total
    office.sandbox.reset_counters()

    _fetch_at(start + timedelta(days=1))
    unseen = _open_total(office, division)
    _fetch_at(start + timedelta(days=8))

    assert unseen != expected, "a move is not seen before the weekly check: the new line's Timestamp is lower"
    assert _open_total(office, division) == expected
    assert _filters(office, division, "system/Divisions") == [f"Code eq {division}"]
    assert _filters(office, division, "sync/Financial/TransactionLines")[-1] == "Timestamp gt 1L"
    assert _filters(office, division, "sync/Financial/GLAccounts")[-1] == "Timestamp gt 1L"
