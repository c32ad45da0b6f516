"""Tax-return rules: kinds, statuses, the 30-day window, periods, due dates, feedback and the FAQ texts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from exactlink.domain.returns import (
    PAYROLL_FEEDBACK_REFUSAL,
    DueDateSource,
    EmptyReason,
    ReturnKind,
    backlog_explanation,
    computed_due_date,
    days_to_deadline,
    default_sbr_start,
    diagnose_empty_fetch,
    effective_due_date,
    explain_empty_fetch,
    explain_process_return_error,
    feedback_refusal,
    four_weekly_period_end,
    is_four_weekly,
    is_processed_by_settings,
    kind_label,
    period_label,
    period_label_of,
    return_kind,
    return_kind_of,
    returns_window_start,
    roll_past_weekend,
    sbr_start_note,
    status_label,
    status_name,
    window_is_closed,
)

TODAY = date(2026, 11, 16)


# --- kinds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_code", "description", "subject", "expected"),
    [
        (31, "Aangifte omzetbelasting 2026 Q3", None, ReturnKind.BTW),
        (31, "Suppletie omzetbelasting 2025", None, ReturnKind.BTW_SUPPLETIE),
        (31, "BTW", "suppletieaangifte 2024", ReturnKind.BTW_SUPPLETIE),
        (31, "SUPPLETIE", None, ReturnKind.BTW_SUPPLETIE),
        (31, "Supplementary VAT return", None, ReturnKind.BTW_SUPPLETIE),
        (31, None, "VAT return correction 2025 Q2", ReturnKind.BTW_SUPPLETIE),
        (31, "Correctie aangifte omzetbelasting", None, ReturnKind.BTW_SUPPLETIE),
        ("31", "Aangifte omzetbelasting", "", ReturnKind.BTW),
        (32, "Opgaaf ICP", None, ReturnKind.ICP),
        (146, "Loonaangifte", None, ReturnKind.LOONHEFFING),
        (146.0, None, None, ReturnKind.LOONHEFFING),
        (99, "Aangifte", None, ReturnKind.UNKNOWN),
        (None, None, None, ReturnKind.UNKNOWN),
        ("vat", None, None, ReturnKind.UNKNOWN),
        (True, None, None, ReturnKind.UNKNOWN),
    ],
)
def test_return_kind(type_code: object, description: str | None, subject: str | None, expected: ReturnKind) -> None:
    assert return_kind(type_code, description, subject) is expected


def test_suppletie_words_do_not_turn_icp_or_payroll_into_suppletie() -> None:
    assert return_kind(32, "Correctie opgaaf ICP") is ReturnKind.ICP
    assert return_kind(146, "Correctie loonaangifte") is ReturnKind.LOONHEFFING


def test_return_kind_of_a_record() -> None:
    record = {"Type": 31, "Description": "Omzetbelasting", "Subject": "Suppletie 2025"}
    assert return_kind_of(record) is ReturnKind.BTW_SUPPLETIE
    assert return_kind_of({}) is ReturnKind.UNKNOWN


def test_kind_labels() -> None:
    assert kind_label(ReturnKind.BTW_SUPPLETIE) == "BTW suppletie"
    assert kind_label("icp") == "ICP"
    assert kind_label("other") == "other"


# --- statuses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "label", "name"),
    [
        (-10, "geen status", "Null"),
        (0, "vervallen", "Void"),
        (5, "afgekeurd", "Rejected"),
        (10, "concept", "Draft"),
        (20, "open", "Open"),
        (30, "goedgekeurd", "Approved"),
        (40, "gerealiseerd (wacht op terugkoppeling)", "Realized"),
        (50, "verwerkt", "Processed"),
        ("50", "verwerkt", "Processed"),
        (25, "unknown (25)", "unknown (25)"),
        (None, "unknown (None)", "unknown (None)"),
    ],
)
def test_status_words(status: object, label: str, name: str) -> None:
    assert status_label(status) == label
    assert status_name(status) == name


# --- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "vat", "payroll", "expected"),
    [
        (ReturnKind.BTW, True, False, True),
        (ReturnKind.BTW_SUPPLETIE, True, False, True),
        (ReturnKind.ICP, True, False, True),
        (ReturnKind.LOONHEFFING, True, False, False),
        (ReturnKind.BTW, False, True, False),
        (ReturnKind.BTW_SUPPLETIE, False, True, False),
        (ReturnKind.ICP, False, True, False),
        (ReturnKind.LOONHEFFING, False, True, True),
        (ReturnKind.UNKNOWN, True, True, False),
        ("loonheffing", False, True, True),
        ("pension", True, True, False),
    ],
)
def test_is_processed_by_settings(kind: ReturnKind, vat: bool, payroll: bool, expected: bool) -> None:
    assert is_processed_by_settings(kind, vat, payroll) is expected


# --- window ------------------------------------------------------------------------------------------


def test_window_without_sbr_start_is_30_days() -> None:
    assert returns_window_start(TODAY, None) == date(2026, 10, 17)
    assert default_sbr_start(TODAY) == date(2026, 10, 17)


def test_sbr_start_inside_the_window_moves_its_start() -> None:
    assert returns_window_start(TODAY, date(2026, 11, 1)) == date(2026, 11, 1)
    assert returns_window_start(TODAY, TODAY) == TODAY


def test_sbr_start_older_than_30_days_is_clamped() -> None:
    assert returns_window_start(TODAY, date(2026, 1, 1)) == date(2026, 10, 17)
    assert returns_window_start(TODAY, date(2026, 10, 16)) == date(2026, 10, 17)
    assert returns_window_start(TODAY, date(2026, 10, 17)) == date(2026, 10, 17)


def test_future_sbr_start_closes_the_window() -> None:
    start = returns_window_start(TODAY, date(2026, 12, 1))
    assert start == date(2026, 12, 1)
    assert window_is_closed(start, TODAY)
    assert not window_is_closed(returns_window_start(TODAY, None), TODAY)
    assert not window_is_closed(TODAY, TODAY)


def test_sbr_start_note() -> None:
    assert sbr_start_note(date(2026, 11, 1), TODAY) is None
    old = sbr_start_note(date(2026, 1, 1), TODAY)
    assert old is not None and "fetched from 2026-10-17" in old and "30 days" in old
    future = sbr_start_note(date(2026, 12, 1), TODAY)
    assert future is not None and "in the future" in future


def test_shorter_window_and_bad_window_days() -> None:
    assert returns_window_start(TODAY, None, window_days=7) == date(2026, 11, 9)
    for bad in (0, 31, -1):
        with pytest.raises(ValueError, match="window_days"):
            returns_window_start(TODAY, None, window_days=bad)


def test_window_across_a_year_boundary() -> None:
    assert returns_window_start(date(2027, 1, 10), None) == date(2026, 12, 11)


# --- periods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "period", "frequency", "kind", "description", "expected"),
    [
        (2026, 3, "Q", ReturnKind.BTW, None, "2026 Q3"),
        (2026, 3, "q", ReturnKind.BTW, None, "2026 Q3"),
        (2026, 12, "Q", ReturnKind.BTW, None, "2026 Q4"),
        (2026, 2, "A", ReturnKind.ICP, None, "2026 Q2"),
        (2026, 10, "M", ReturnKind.BTW, None, "2026-10"),
        (2026, 1, "m", ReturnKind.LOONHEFFING, None, "2026-01"),
        (2026, 1, "Y", ReturnKind.BTW, None, "2026"),
        (2026, None, "y", ReturnKind.BTW, None, "2026"),
        (2026, 4, "4W", ReturnKind.LOONHEFFING, None, "2026 periode 4 (4-weken)"),
        (2026, 13, "M", ReturnKind.LOONHEFFING, None, "2026 periode 13 (4-weken)"),
        (2026, 4, None, ReturnKind.LOONHEFFING, "Periode 4 (4 weken)", "2026 periode 4 (4-weken)"),
        (2026, 13, "M", ReturnKind.BTW, "periode 13", "periode 13"),
        (2026, 7, "X", ReturnKind.BTW, None, "2026 periode 7"),
        (2026, 5, "Q", ReturnKind.BTW, "Mei 2026", "Mei 2026"),
        (None, 3, "Q", ReturnKind.BTW, "Q3 2026", "Q3 2026"),
        (None, None, None, ReturnKind.BTW, None, "?"),
    ],
)
def test_period_label(
    year: int | None,
    period: int | None,
    frequency: str | None,
    kind: ReturnKind,
    description: str | None,
    expected: str,
) -> None:
    assert period_label(year, period, frequency, kind, description) == expected


def test_period_label_of_a_record() -> None:
    record = {"Type": 32, "Year": 2026, "Period": 3, "Frequency": "Q", "PeriodDescription": "kwartaal 3"}
    assert period_label_of(record) == "2026 Q3"


def test_four_weekly_detection_only_for_payroll() -> None:
    assert is_four_weekly(ReturnKind.LOONHEFFING, 4, "4w")
    assert is_four_weekly(ReturnKind.LOONHEFFING, 4, None, "4-wekelijks tijdvak 4")
    assert not is_four_weekly(ReturnKind.LOONHEFFING, 4, "M")
    assert not is_four_weekly(ReturnKind.BTW, 13, "4W")


def test_four_weekly_period_ends() -> None:
    assert four_weekly_period_end(2026, 1) == date(2026, 1, 28)
    assert four_weekly_period_end(2026, 12) == date(2026, 12, 2)
    assert four_weekly_period_end(2026, 13) == date(2026, 12, 31)
    with pytest.raises(ValueError):
        four_weekly_period_end(2026, 14)


# --- due dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "year", "period", "frequency", "expected"),
    [
        (ReturnKind.BTW, 2026, 1, "Q", date(2026, 4, 30)),
        (ReturnKind.BTW, 2026, 2, "Q", date(2026, 7, 31)),
        (ReturnKind.BTW, 2026, 3, "Q", date(2026, 10, 31)),
        (ReturnKind.BTW, 2026, 4, "Q", date(2027, 1, 31)),
        (ReturnKind.BTW, 2026, 12, "q", date(2027, 1, 31)),
        (ReturnKind.BTW, 2026, 1, "M", date(2026, 2, 28)),
        (ReturnKind.BTW, 2028, 1, "M", date(2028, 2, 29)),
        (ReturnKind.BTW, 2026, 2, "M", date(2026, 3, 31)),
        (ReturnKind.BTW, 2026, 3, "M", date(2026, 4, 30)),
        (ReturnKind.BTW, 2026, 12, "M", date(2027, 1, 31)),
        (ReturnKind.BTW, 2026, 1, "Y", date(2027, 3, 31)),
        (ReturnKind.ICP, 2026, 4, "Q", date(2027, 1, 31)),
        (ReturnKind.ICP, 2026, 6, "M", date(2026, 7, 31)),
        (ReturnKind.ICP, 2026, 1, "Y", date(2027, 1, 31)),
        (ReturnKind.LOONHEFFING, 2026, 1, "M", date(2026, 2, 28)),
        (ReturnKind.LOONHEFFING, 2026, 4, "M", date(2026, 5, 31)),
        (ReturnKind.LOONHEFFING, 2026, 12, "M", date(2027, 1, 31)),
        (ReturnKind.LOONHEFFING, 2026, 1, "4W", date(2026, 2, 28)),
        (ReturnKind.LOONHEFFING, 2026, 2, "4W", date(2026, 3, 25)),
        (ReturnKind.LOONHEFFING, 2026, 13, "4W", date(2027, 1, 31)),
    ],
)
def test_computed_due_date(kind: ReturnKind, year: int, period: int, frequency: str, expected: date) -> None:
    due = computed_due_date(kind, year, period, frequency)
    assert due.due == expected
    assert due.source is DueDateSource.COMPUTED
    assert due.reason


def test_suppletie_has_no_due_date_and_says_why() -> None:
    due = computed_due_date(ReturnKind.BTW_SUPPLETIE, 2026, 3, "Q")
    assert due.due is None
    assert due.source is DueDateSource.NONE
    assert "8 weeks" in due.reason


@pytest.mark.parametrize(
    ("kind", "year", "period", "frequency"),
    [
        (ReturnKind.UNKNOWN, 2026, 3, "Q"),
        (ReturnKind.BTW, None, 3, "Q"),
        (ReturnKind.BTW, 2026, 13, "M"),
        (ReturnKind.BTW, 2026, 5, "Q"),
        (ReturnKind.BTW, 2026, 3, "X"),
        (ReturnKind.BTW, 2026, None, "M"),
    ],
)
def test_no_due_date_when_the_period_makes_no_sense(
    kind: ReturnKind, year: int | None, period: int | None, frequency: str
) -> None:
    due = computed_due_date(kind, year, period, frequency)
    assert due.due is None
    assert due.reason


def test_weekend_roll_forward_is_optional() -> None:
    # Q2 2028 is due 31 July 2028, a Monday; Q3 2026 is due Saturday 31 October 2026.
    assert computed_due_date(ReturnKind.BTW, 2026, 3, "Q").due == date(2026, 10, 31)
    rolled = computed_due_date(ReturnKind.BTW, 2026, 3, "Q", roll_weekends=True)
    assert rolled.due == date(2026, 11, 2)
    assert "weekend" in rolled.reason
    assert computed_due_date(ReturnKind.BTW, 2028, 2, "Q", roll_weekends=True).due == date(2028, 7, 31)
    assert roll_past_weekend(date(2026, 11, 1)) == date(2026, 11, 2)  # Sunday
    assert roll_past_weekend(date(2026, 11, 3)) == date(2026, 11, 3)  # Tuesday


def test_exact_due_date_wins_over_the_computed_one() -> None:
    exact = effective_due_date(datetime(2026, 11, 2, tzinfo=UTC), ReturnKind.BTW, 2026, 3, "Q")
    assert (exact.due, exact.source) == (date(2026, 11, 2), DueDateSource.EXACT)
    fallback = effective_due_date(None, ReturnKind.BTW, 2026, 3, "Q")
    assert (fallback.due, fallback.source) == (date(2026, 10, 31), DueDateSource.COMPUTED)
    assert effective_due_date(date(2026, 5, 1), ReturnKind.BTW_SUPPLETIE, 2026, 1, "Q").due == date(2026, 5, 1)


def test_days_to_deadline() -> None:
    assert days_to_deadline(date(2026, 11, 30), TODAY) == 14
    assert days_to_deadline(TODAY, TODAY) == 0
    assert days_to_deadline(date(2026, 10, 31), TODAY) == -16
    assert days_to_deadline(datetime(2026, 11, 17, 0, 0), TODAY) == 1
    assert days_to_deadline(None, TODAY) is None


# --- feedback ----------------------------------------------------------------------------------------


def test_feedback_allowed_for_realised_vat_and_icp() -> None:
    assert feedback_refusal(31, 40) is None
    assert feedback_refusal("32", "40") is None


def test_feedback_refused_for_payroll_whatever_the_status() -> None:
    for status in (10, 40, 50):
        assert feedback_refusal(146, status) == PAYROLL_FEEDBACK_REFUSAL
    assert "report payroll returns in Exact itself" in PAYROLL_FEEDBACK_REFUSAL


def test_feedback_refused_for_an_unknown_type() -> None:
    refusal = feedback_refusal(77, 40)
    assert refusal is not None and "only for VAT and ICP" in refusal and "77" in refusal


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (50, "further along"),
        (30, "not yet realised"),
        (10, "not yet realised"),
        (5, "rejected or voided"),
        (-10, "further along (or not yet realised)"),
    ],
)
def test_feedback_refused_for_other_statuses(status: int, words: str) -> None:
    refusal = feedback_refusal(31, status)
    assert refusal is not None
    assert refusal.startswith(f"this return has status {status} (")
    assert words in refusal
    assert "check it in Exact Online and update it there if needed" in refusal


def test_feedback_refusal_names_the_status_in_words() -> None:
    assert "status 50 (verwerkt)" in (feedback_refusal(31, 50) or "")


@pytest.mark.parametrize(
    "message",
    [
        "No returns found for document id '3f2a6c1e-0000-4000-8000-000000000001' with status 40.",
        "No returns found for document id ''3f2a6c1e-0000-4000-8000-000000000001'' with status 40",
        "no returns found for document id ‘3f2a6c1e-0000-4000-8000-000000000001’ with status 40",
        "Error: No returns found for document id 3f2a6c1e-0000-4000-8000-000000000001 with status 40",
    ],
)
def test_explain_process_return_error(message: str) -> None:
    explanation = explain_process_return_error(message)
    assert explanation is not None
    assert "3f2a6c1e-0000-4000-8000-000000000001" in explanation
    assert "status 40" in explanation
    assert "further in Exact" in explanation
    assert "update it there if needed" in explanation


def test_other_process_return_errors_are_left_alone() -> None:
    assert explain_process_return_error("Forbidden") is None
    assert explain_process_return_error("No returns found for document id 'x' with status 50") is None
    assert explain_process_return_error(None) is None
    assert explain_process_return_error("") is None


# --- why nothing was fetched; the backlog -----------------------------------------------------------


def diagnose(**overrides: object) -> EmptyReason:
    arguments: dict[str, object] = {
        "relation_linked": True,
        "administration_linked": True,
        "window_start": date(2026, 10, 17),
        "today": TODAY,
        "any_returns_in_administration": None,
    }
    arguments.update(overrides)
    return diagnose_empty_fetch(**arguments)  # type: ignore[arg-type]


def test_diagnose_in_the_faq_order() -> None:
    assert diagnose(relation_linked=False, administration_linked=False) is EmptyReason.NO_RELATION_LINK
    assert diagnose(administration_linked=False) is EmptyReason.NO_LINKED_ADMINISTRATION
    assert diagnose(window_start=date(2026, 12, 1)) is EmptyReason.SBR_START_IN_FUTURE
    assert diagnose(any_returns_in_administration=False) is EmptyReason.SBR_NOT_ACTIVE
    assert diagnose(any_returns_in_administration=True) is EmptyReason.NOTHING_IN_WINDOW
    assert diagnose() is EmptyReason.NO_RECENT_RETURNS


def test_every_empty_reason_has_an_explanation() -> None:
    start = date(2026, 10, 17)
    texts = {reason: explain_empty_fetch(reason, window_start=start, relation="R042") for reason in EmptyReason}
    assert "exactlink match" in texts[EmptyReason.NO_RELATION_LINK]
    assert "exactlink link-admin R042 DIVISION" in texts[EmptyReason.NO_LINKED_ADMINISTRATION]
    assert "SBR settings are active" in texts[EmptyReason.SBR_NOT_ACTIVE]
    assert "last 30 days (since 2026-10-17)" in texts[EmptyReason.NOTHING_IN_WINDOW]
    assert "SBR settings" in texts[EmptyReason.NO_RECENT_RETURNS]
    assert "crm set R042 --sbr-start DATE" in texts[EmptyReason.SBR_START_IN_FUTURE]
    assert len(set(texts.values())) == len(EmptyReason)


def test_backlog_explanation() -> None:
    text = backlog_explanation("R042")
    assert "all returns of the last 30 days are fetched at once" in text
    assert "exactlink crm set R042 --sbr-start DATE" in text
