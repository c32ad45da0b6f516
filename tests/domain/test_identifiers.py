"""Dutch identifier checks: the examples of the domain reference (§1.2, §1.4) and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_97_10
from stdnum.nl import bsn as stdnum_bsn

from exactlink.domain.identifiers import (
    IdKind,
    check_bsn,
    check_fiscal_number,
    check_iban,
    check_kvk,
    check_payroll_number,
    check_postcode,
    check_rsin,
    check_vat_number,
    check_vestigingsnummer,
    classify_vat_number,
    compact_postcode,
    fiscal_number_from,
    format_iban,
    passes_elf_proef,
)

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def _with_check_digit(first_eight: str) -> str | None:
    """Complete 8 digits to a number passing the 11-proef, or None when no last digit works."""
    remainder = sum(int(digit) * weight for digit, weight in zip(first_eight, WEIGHTS, strict=True)) % 11
    return first_eight + str(remainder) if remainder < 10 else None


elf_proef_numbers = (
    st.text("0123456789", min_size=8, max_size=8)
    .map(_with_check_digit)
    .filter(lambda number: number is not None and number != "000000000")
)


# -- BSN / RSIN -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["999900018", "999900031", "999900043", "999900055", "999900067", "999900079", "999900109", "999993653"],
)
def test_synthetic_and_published_test_numbers_are_valid(value: str) -> None:
    assert check_bsn(value).value == value
    assert check_rsin(value).value == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1112.22.333", "111222333"),
        ("111-222-333", "111222333"),
        (" 111 222 333 ", "111222333"),
        ("123456782", "123456782"),
    ],
)
def test_separators_are_stripped(value: str, expected: str) -> None:
    assert check_bsn(value).value == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("999900019", "BSN fails the 11-proef"),
        ("111222334", "BSN fails the 11-proef"),
        ("12345678", "BSN fails the 11-proef"),
        ("1234567890", "BSN must be 9 digits, not 10"),
        ("000000000", "BSN cannot be all zeros"),
        ("11122233a", "BSN must contain only digits"),
    ],
)
def test_invalid_bsn_reasons(value: str, error: str) -> None:
    checked = check_bsn(value)
    assert checked.value is None
    assert checked.error == error
    assert value.strip() not in checked.error  # a reason never repeats the number


def test_short_numbers_are_not_silently_padded() -> None:
    # stdnum pads "9921" to 000009921; the Dutch rule refuses it unless the import asks to repair zeros.
    refused = check_bsn("9921")
    assert refused.value is None
    assert "must be 9 digits, not 4" in (refused.error or "")
    repaired = check_bsn("9921", repair_leading_zeros=True)
    assert repaired.value == "000009921"
    assert repaired.warning is not None


def test_eight_digit_numbers_get_a_leading_zero() -> None:
    assert check_bsn("00009921").value == "000009921"
    assert check_bsn("000009921").value == "000009921"


def test_rsin_and_fiscal_number_use_their_own_label() -> None:
    assert check_rsin("999900019").error == "RSIN fails the 11-proef"
    assert check_fiscal_number("999900019").error == "RSIN/BSN fails the 11-proef"
    assert check_rsin("999900018").kind is IdKind.RSIN


def test_empty_input_is_missing_not_invalid() -> None:
    for checked in (check_bsn(None), check_rsin("  "), check_kvk(""), check_vat_number(None), check_iban("")):
        assert checked.missing
        assert not checked.ok


@given(elf_proef_numbers, st.lists(st.sampled_from([" ", ".", "-"]), min_size=8, max_size=8))
def test_any_elf_proef_number_round_trips_through_separators(number: str, separators: list[str]) -> None:
    formatted = "".join(digit + separator for digit, separator in zip(number, [*separators, ""], strict=False))
    assert check_bsn(formatted).value == number
    assert check_rsin(f" {formatted} ").value == number


@given(st.text("0123456789", min_size=9, max_size=9))
def test_numbers_failing_the_elf_proef_never_validate(number: str) -> None:
    total = sum(int(digit) * weight for digit, weight in zip(number, WEIGHTS, strict=False)) - int(number[8])
    if total % 11 != 0 or number == "000000000":
        assert check_bsn(number).value is None
        assert check_rsin(number).value is None


@given(st.text("0123456789", min_size=9, max_size=9))
def test_our_elf_proef_agrees_with_stdnum(number: str) -> None:
    assert passes_elf_proef(number) == stdnum_bsn.is_valid(number)


# -- KvK / vestigingsnummer -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["69599084", "01234567", "6959 9084", "69.59.90.84"])
def test_valid_kvk_numbers_keep_leading_zeros(value: str) -> None:
    checked = check_kvk(value)
    assert checked.ok
    assert checked.value is not None and len(checked.value) == 8


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1234567", "KvK number must be 8 digits, not 7"),
        ("1234567a", "KvK number must contain only digits"),
        ("123456789", "KvK number must be 8 digits, not 9"),
        ("000012345678", "KvK number must be 8 digits, not 12 (12 digits is a vestigingsnummer)"),
    ],
)
def test_invalid_kvk_numbers(value: str, error: str) -> None:
    assert check_kvk(value).error == error


@given(elf_proef_numbers)
def test_a_nine_digit_fiscal_number_is_never_a_kvk_or_vestigingsnummer(number: str) -> None:
    # A RSIN typed into the KvK column passes the 11-proef; it must still fail on its length.
    assert check_kvk(number).error == "KvK number must be 8 digits, not 9"
    assert check_vestigingsnummer(number).error == "vestigingsnummer must be 12 digits, not 9"
    assert check_kvk(number, repair_leading_zeros=True).value is None


@given(st.text("0123456789", min_size=1, max_size=14))
def test_kvk_and_vestigingsnummer_accept_exactly_their_length(digits: str) -> None:
    assert check_kvk(digits).ok == (len(digits) == 8)
    assert check_vestigingsnummer(digits).ok == (len(digits) == 12)


def test_kvk_leading_zeros_are_restored_only_on_request() -> None:
    assert check_kvk("1234567").value is None
    assert check_kvk("1234567", repair_leading_zeros=True).value == "01234567"


def test_vestigingsnummer_is_twelve_digits() -> None:
    assert check_vestigingsnummer("000012345678").value == "000012345678"
    assert (
        check_vestigingsnummer("69599084").error
        == "vestigingsnummer must be 12 digits, not 8 (8 digits is a KvK number)"
    )


# -- OB number vs btw-id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "normalised"),
    [
        ("NL999900018B01", IdKind.OB_NUMBER, "NL999900018B01"),
        ("999900031B02", IdKind.OB_NUMBER, "NL999900031B02"),
        ("nl999993653b01", IdKind.OB_NUMBER, "NL999993653B01"),
        ("NL 9999.93.653.B01", IdKind.OB_NUMBER, "NL999993653B01"),
        ("NL999900001B83", IdKind.BTW_ID, "NL999900001B83"),
        ("NL123456789B13", IdKind.BTW_ID, "NL123456789B13"),
        ("NL000099998B57", IdKind.BTW_ID, "NL000099998B57"),
        ("NL002455799B11", IdKind.BTW_ID, "NL002455799B11"),
    ],
)
def test_vat_numbers_are_classified(value: str, kind: IdKind, normalised: str) -> None:
    checked = check_vat_number(value)
    assert (checked.kind, checked.value) == (kind, normalised)
    assert classify_vat_number(value) is kind


def test_an_ob_number_contains_the_fiscal_number_and_a_btw_id_does_not() -> None:
    ob_number = check_vat_number("NL999900018B01")
    assert ob_number.fiscal_number == "999900018"
    assert ob_number.note is not None and "BSN" in ob_number.note
    assert check_vat_number("NL000099998B57").fiscal_number is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("NL999900019B01", "VAT number fails both the 11-proef (OB number) and the mod-97 check (btw-id)"),
        ("NL000099998B58", "VAT number fails both the 11-proef (OB number) and the mod-97 check (btw-id)"),
        ("NL999900018B00", "OB number must end in B01 or higher, not B00"),
        ("NL4495445B01", "VAT number must have 9 digits between NL and B, not 7"),
        ("NL99990001B01", "VAT number must have 9 digits between NL and B, not 8"),
        ("NL999993653L01", "this is a loonheffingennummer (…L01), not a VAT number"),
        ("NL12345", "VAT number must look like NL123456789B01"),
    ],
)
def test_invalid_vat_numbers(value: str, error: str) -> None:
    checked = check_vat_number(value)
    assert checked.value is None
    assert checked.error == error
    assert classify_vat_number(value) is None


def test_foreign_vat_number_is_kept_with_a_warning() -> None:
    checked = check_vat_number("BE 0123.456.749")
    assert checked.value == "BE0123456749"
    assert checked.kind is IdKind.VAT_NUMBER
    assert checked.warning is not None


@given(st.text("0123456789", min_size=9, max_size=9), st.integers(min_value=0, max_value=99))
def test_vat_classification_is_never_both(digits: str, suffix: int) -> None:
    value = f"NL{digits}B{suffix:02d}"
    checked = check_vat_number(value)
    elf = passes_elf_proef(digits)
    mod97 = mod_97_10.is_valid(value)
    if checked.kind is IdKind.OB_NUMBER and checked.ok:
        assert elf and suffix > 0
    elif checked.kind is IdKind.BTW_ID:
        assert mod97 and not elf
    else:
        assert not (elf and suffix > 0) and not (mod97 and not elf)


@given(elf_proef_numbers, st.integers(min_value=1, max_value=99))
def test_any_ob_number_round_trips(digits: str, volgnummer: int) -> None:
    formatted = f"nl {digits[:4]}.{digits[4:]} b{volgnummer:02d}"
    checked = check_vat_number(formatted)
    assert checked.value == f"NL{digits}B{volgnummer:02d}"
    assert checked.fiscal_number == digits


# -- loonheffingennummer ---------------------------------------------------------------------------------


def test_payroll_numbers() -> None:
    assert check_payroll_number("999900031L01").value == "999900031L01"
    assert check_payroll_number("9999.00.031.l01").value == "999900031L01"
    assert check_payroll_number("999900031L01").fiscal_number == "999900031"
    assert check_payroll_number("999900031L00").error == "loonheffingennummer subnummer must be L01 or higher, not L00"
    assert check_payroll_number("999900019L01").error == "loonheffingennummer: the 9 digits fail the 11-proef"
    assert check_payroll_number("999900031B01").error == "loonheffingennummer must look like 123456789L01"


# -- IBAN -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["NL91ABNA0417164300", "nl91 abna 0417 1643 00", "NL44RABO0123456789", "NL20INGB0001234567"]
)
def test_valid_ibans(value: str) -> None:
    checked = check_iban(value)
    assert checked.ok and checked.warning is None
    assert checked.value == value.replace(" ", "").upper()


def test_unknown_dutch_bank_code_is_a_warning_not_an_error() -> None:
    checked = check_iban("NL64XXXX0123456789")
    assert checked.value == "NL64XXXX0123456789"
    assert checked.warning == "IBAN has an unknown Dutch bank code XXXX"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("NL92ABNA0417164300", "IBAN check digits do not match (a typing error?)"),
        ("NL91ABNA041716430", "IBAN has the wrong length (a Dutch IBAN has 18 characters, not 17)"),
        ("NL61 1234 0123456789", "IBAN is malformed"),
    ],
)
def test_invalid_ibans(value: str, error: str) -> None:
    assert check_iban(value).error == error


def test_iban_display_format() -> None:
    assert format_iban("NL91ABNA0417164300") == "NL91 ABNA 0417 1643 00"


# -- postcode ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "display"),
    [
        ("2601 DC", "2601 DC"),
        ("2601dc", "2601 DC"),
        ("2601-DC", "2601 DC"),
        ("NL-2611ET", "2611 ET"),
        ("9999 ZZ", "9999 ZZ"),
    ],
)
def test_valid_postcodes(value: str, display: str) -> None:
    assert check_postcode(value).value == display
    assert compact_postcode(value) == display.replace(" ", "")


@pytest.mark.parametrize(
    ("value", "error_part"),
    [("0123 AB", "4 digits"), ("1234ABC", "4 digits"), ("2611 SS", "SA, SD and SS"), ("2611 SA", "SA, SD and SS")],
)
def test_invalid_postcodes(value: str, error_part: str) -> None:
    checked = check_postcode(value)
    assert checked.value is None
    assert error_part in (checked.error or "")
    assert compact_postcode(value) is None


def test_foreign_postcode_is_only_trimmed() -> None:
    assert check_postcode(" b-1000 ", country="BE").value == "B-1000"
    assert check_postcode("1234ab", country="Nederland").value == "1234 AB"


# -- fiscal number from several fields --------------------------------------------------------------------------


def test_fiscal_number_from_fields_in_order() -> None:
    assert fiscal_number_from(rsin="999900018", bsn="999900031") == "999900018"
    assert fiscal_number_from(rsin="999900019", bsn="999900031") == "999900031"
    assert fiscal_number_from(ob_number="NL999900043B01") == "999900043"
    assert fiscal_number_from(payroll_number="999900055L02") == "999900055"
    assert fiscal_number_from(ob_number="NL000099998B57") is None  # a btw-id holds no RSIN/BSN
    assert fiscal_number_from(ob_number="NL000099998B57", payroll_number="999900031L01") == "999900031"
    assert fiscal_number_from() is None
