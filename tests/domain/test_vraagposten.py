"""Vraagposten: choosing the suspense accounts and telling open items from cleared ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from exactlink.domain.vraagposten import (
    AccountSource,
    ClearedBy,
    select_vraagposten_accounts,
    vraagposten_overview,
)

GL_ACCOUNTS = [
    {"ID": "g1", "Code": "1100", "Description": "Bank"},
    {"ID": "g2", "Code": "2300", "Description": "Vraagposten"},
    {"ID": "g3", "Code": "  2310", "Description": "Tussenrekening VRAAGPOST bank"},
    {"ID": "g4", "Code": "8000", "Description": "Omzet"},
]


def test_default_rule_picks_accounts_whose_description_mentions_vraagpost() -> None:
    found = select_vraagposten_accounts(GL_ACCOUNTS)
    assert found.source is AccountSource.DESCRIPTION
    assert found.codes == ("2300", "2310")
    assert found.accounts[0].id == "g2"
    assert found.problem() is None


def test_configured_codes_win_over_the_description() -> None:
    found = select_vraagposten_accounts(GL_ACCOUNTS, configured_codes=["8000 "])
    assert found.source is AccountSource.CONFIGURED
    assert found.codes == ("8000",)
    assert found.problem() is None


def test_missing_configured_code_is_reported() -> None:
    found = select_vraagposten_accounts(GL_ACCOUNTS, configured_codes=["2300", "9100", "9100"])
    assert found.codes == ("2300",)
    assert found.missing_codes == ("9100",)
    assert "9100 do not exist" in (found.problem() or "")


def test_empty_configuration_falls_back_to_the_description() -> None:
    assert select_vraagposten_accounts(GL_ACCOUNTS, configured_codes=["", " "]).source is AccountSource.DESCRIPTION


def test_none_found_is_reported() -> None:
    found = select_vraagposten_accounts([{"Code": "1100", "Description": "Bank"}])
    assert found.accounts == ()
    assert "no vraagposten G/L account found" in (found.problem() or "")
    custom = select_vraagposten_accounts(GL_ACCOUNTS, description_text="suspense")
    assert custom.accounts == () and "'suspense'" in (custom.problem() or "")


def line(id_: str, day: object, amount: Any, code: str = "2300", **extra: Any) -> dict[str, Any]:
    return {"ID": id_, "EntryID": f"e-{id_}", "Date": day, "AmountDC": amount, "GLAccountCode": code, **extra}


def test_equal_opposite_amounts_clear_each_other() -> None:
    overview = vraagposten_overview(
        [
            line("a", "2026-03-01", 120.50),
            line("b", "2026-03-02", 99.99),
            line("c", "2026-03-10", -120.50),
            line("d", "2026-03-11", -12.00),
        ]
    )
    by_id = {item.id: item for item in overview.lines}
    assert overview.balance == Decimal("87.99")
    assert by_id["a"].cleared and by_id["a"].cleared_by is ClearedBy.PAIR and by_id["a"].paired_with == "c"
    assert by_id["c"].paired_with == "a"
    assert [item.id for item in overview.open_lines] == ["b", "d"]
    assert overview.open_total == Decimal("87.99")


def test_each_line_pairs_only_once_and_with_the_earliest_partner() -> None:
    overview = vraagposten_overview(
        [
            line("a", "2026-01-05", 50),
            line("b", "2026-01-06", 50),
            line("c", "2026-01-07", -50),
            line("d", "2026-01-08", 7),
        ]
    )
    by_id = {item.id: item for item in overview.lines}
    assert by_id["c"].paired_with == "a"
    assert not by_id["b"].cleared
    assert overview.balance == Decimal("57.00")


def test_lines_before_the_balance_was_last_zero_are_settled() -> None:
    overview = vraagposten_overview(
        [
            line("a", "2026-01-01", 100),
            line("b", "2026-01-02", -60),
            line("c", "2026-01-03", -40),  # balance back to 0 here
            line("d", "2026-02-01", 25),
        ]
    )
    cleared = {item.id: item.cleared_by for item in overview.lines}
    assert cleared == {"a": ClearedBy.SETTLED, "b": ClearedBy.SETTLED, "c": ClearedBy.SETTLED, "d": None}
    assert overview.balance == Decimal("25.00")


def test_opening_balance_shifts_the_zero_point_and_the_total() -> None:
    rows = [line("a", "2026-01-01", -100), line("b", "2026-01-02", 30)]
    plain = vraagposten_overview(rows)
    assert [item.cleared for item in plain.lines] == [False, False]
    with_opening = vraagposten_overview(rows, opening_balances={"2300": 100})
    assert [item.cleared_by for item in with_opening.lines] == [ClearedBy.SETTLED, None]
    assert with_opening.balance == Decimal("30.00")


def test_pairs_only_within_one_account() -> None:
    overview = vraagposten_overview([line("a", "2026-01-01", 10, "2300"), line("b", "2026-01-02", -10, "2310")])
    assert overview.balance == 0
    assert [item.cleared for item in overview.lines] == [False, False]


def test_lines_are_returned_in_date_order_with_mixed_date_forms() -> None:
    overview = vraagposten_overview(
        [
            line("late", "/Date(1772409600000)/", 1),  # 2026-03-02 UTC
            line("mid", datetime(2026, 2, 1, 12, tzinfo=UTC), 2),
            line("early", date(2026, 1, 1), 3),
            line("undated", None, 4),
        ]
    )
    assert [item.id for item in overview.lines] == ["undated", "early", "mid", "late"]
    assert overview.lines[-1].day == date(2026, 3, 2)


def test_float_amounts_are_exact_cents_and_zero_lines_are_cleared() -> None:
    overview = vraagposten_overview(
        [
            line("a", "2026-01-01", 0.1),
            line("b", "2026-01-02", 0.2),
            line("c", "2026-01-03", -0.3),
            line("z", "2026-01-04", 0),
        ]
    )
    assert overview.balance == Decimal("0.00")
    # the running balance returns to exactly zero after c (no float drift), so a-c are settled
    assert [item.cleared_by for item in overview.lines] == [ClearedBy.SETTLED] * 3 + [ClearedBy.SETTLED]


def test_zero_line_after_the_last_zero_point() -> None:
    overview = vraagposten_overview([line("a", "2026-01-01", 5), line("z", "2026-01-02", "0.00")])
    assert [item.cleared_by for item in overview.lines] == [None, ClearedBy.ZERO]


def test_sync_header_rows_are_skipped() -> None:
    overview = vraagposten_overview(
        [line("h", "2026-01-01", 80, LineNumber=0), line("a", "2026-01-01", 80, LineNumber=1)]
    )
    assert [item.id for item in overview.lines] == ["a"]
    assert overview.balance == Decimal("80.00")


def test_bad_amount_or_date_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="amount"):
        vraagposten_overview([line("a", "2026-01-01", "twelve")])
    with pytest.raises(ValueError, match="date"):
        vraagposten_overview([line("a", "yesterday", 1)])


def test_no_lines_no_balance() -> None:
    overview = vraagposten_overview([])
    assert overview.balance == 0 and overview.lines == () and overview.open_total == 0


def test_the_choice_after_changed_accounts_equals_a_read_of_the_whole_chart() -> None:
    from exactlink.domain.vraagposten import select_vraagposten_accounts, vraagposten_accounts_after_changes

    chart = [
        {"ID": "a1", "Code": "1100", "Description": "Bank"},
        {"ID": "a2", "Code": "2300", "Description": "Vraagposten"},
        {"ID": "a3", "Code": "2310", "Description": "Kruisposten"},
    ]
    before = select_vraagposten_accounts(chart)
    changed = [
        {"ID": "a2", "Code": "2300", "Description": "Tussenrekening"},  # renamed: no longer a vraagposten account
        {"ID": "a4", "Code": "2320", "Description": "Vraagposten bank"},  # new
    ]
    after = vraagposten_accounts_after_changes(before.accounts, changed)
    whole = select_vraagposten_accounts([chart[0], changed[0], chart[2], changed[1]])
    assert after.codes == whole.codes == ("2320",)
    configured = vraagposten_accounts_after_changes(before.accounts, [], ["2300", "9999"])
    assert configured.codes == ("2300",) and configured.missing_codes == ("9999",)
