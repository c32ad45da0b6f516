"""Company-name normalisation, house numbers and postcode keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from exactlink.domain.names import (
    extract_house_number,
    first_significant_token,
    normalise_name,
    parse_company_name,
    postcode_key,
    strip_accents,
)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("V.O.F. De Vries & Zn.", "De Vries en Zonen VOF"),
        ("Bakkerij Jansen B.V.", "Bakkerij Jansen BV"),
        ("Bakkerij Jansen B. V.", "bakkerij jansen bv"),
        ("Coöperatie Zuivel U.A.", "Zuivel"),
        ("C.V. Zeevaart", "Zeevaart CV"),
        ("Jansen B.V. i.o.", "Jansen"),
        ("Jansen B.V.i.o.", "Jansen"),
        ("Gebr. Bakker", "Gebroeders Bakker"),
        ("v.d. Berg Installatietechniek", "Van der Berg Installatietechniek"),
        ("Stichting Muziekschool Zwolle", "Muziekschool Zwolle"),
        ("Besloten Vennootschap Jansen", "Jansen B.V."),
        ("Kapsalon Sanne (eenmanszaak", "Kapsalon Sanne"),
        ("Café Ré", "Cafe Re"),
        ("Van 't Hof Bouw", "Van t Hof Bouw"),
    ],
)
def test_spellings_of_the_same_name_normalise_equal(left: str, right: str) -> None:
    assert normalise_name(left) == normalise_name(right)


def test_normalisation_lifts_the_domain_reference_example_to_100() -> None:
    raw = fuzz.WRatio("V.O.F. De Vries & Zn.", "De Vries en Zonen VOF")
    normalised = fuzz.token_sort_ratio(normalise_name("V.O.F. De Vries & Zn."), normalise_name("De Vries en Zonen VOF"))
    assert raw < 80
    assert normalised == 100


def test_legal_forms_are_reported() -> None:
    parsed = parse_company_name("Coöperatie Zuivel U.A.")
    assert parsed.key == "zuivel"
    assert parsed.legal_forms == ("cooperatie", "ua")


def test_holding_and_beheer_are_a_feature_not_silently_stripped() -> None:
    holding = parse_company_name("Van den Berg Beheer B.V. i.o.")
    werkmaatschappij = parse_company_name("Van den Berg N.V.")
    assert holding.roles == frozenset({"beheer"})
    assert holding.is_holding
    assert not werkmaatschappij.is_holding
    assert holding.roles != werkmaatschappij.roles
    assert parse_company_name("Jansen Holding BV").roles == frozenset({"holding"})


def test_short_forms_in_the_middle_of_a_name_are_kept() -> None:
    # "CV" at the start is a legal form; "cv" inside a name is a central-heating boiler.
    assert normalise_name("Jansen CV Service") == "jansen cv service"
    assert normalise_name("CV Jansen") == "jansen"


def test_a_name_of_only_legal_forms_keeps_its_words() -> None:
    assert normalise_name("Holding B.V.") == "holding bv"
    assert normalise_name("") == ""
    assert normalise_name(None) == ""


def test_sorted_key_ignores_word_order() -> None:
    assert parse_company_name("Jansen Bakkerij").sorted_key == parse_company_name("Bakkerij Jansen B.V.").sorted_key


def test_first_significant_token_skips_articles_and_tussenvoegsels() -> None:
    assert first_significant_token(normalise_name("De Vries en Zonen")) == "vries"
    assert first_significant_token(normalise_name("Van den Berg Bouw")) == "berg"
    assert first_significant_token("de") == "de"
    assert first_significant_token("") == ""


def test_strip_accents() -> None:
    assert strip_accents("Coöperatie Hüseyin Ayşe Zoë") == "Cooperatie Huseyin Ayse Zoe"


name_text = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFÖÉëçß&.,-'() 0123456789")), max_size=40
)


@given(name_text | st.sampled_from(["V.O.F. De Vries & Zn.", "Holding B.V.", "bv io cv", "Van der Berg", "v d"]))
def test_normalisation_is_idempotent(name: str) -> None:
    key = normalise_name(name)
    assert normalise_name(key) == key


@given(name_text)
def test_normalised_names_are_plain_lower_case_words(name: str) -> None:
    key = normalise_name(name)
    assert key == key.strip()
    assert "  " not in key
    assert all(char.isascii() and (char.isalnum() or char == " ") for char in key)
    assert key == key.lower()


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("Hoofdstraat 12", "12"),
        ("Hoofdstraat 12a", "12A"),
        ("Hoofdstraat 12 A", "12A"),
        ("Hoofdstraat 12-a", "12A"),
        ("Kade 7-2", "7-2"),
        ("Kade 7/2", "7-2"),
        ("Laan 1940-1945 3", "3"),
        ("2e Kruisstraat 5 bis", "5BIS"),
        ("Kon. Wilhelminaplein 030", "30"),
        ("Hoofdstraat 12 (achterom)", "12"),
        ("12", "12"),
        ("Hoofdstraat", None),
        ("", None),
        (None, None),
    ],
)
def test_house_number_extraction(line: str | None, number: str | None) -> None:
    assert extract_house_number(line) == number


def test_postcode_key_is_compact_and_lenient() -> None:
    assert postcode_key("1234 ab") == "1234AB"
    assert postcode_key(" 1234-AB ") == "1234AB"
    assert postcode_key("B-1000") == "B1000"
    assert postcode_key(None) == ""
