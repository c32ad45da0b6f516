"""The matching engine: identifier cascade, conflicts, one-to-one, decisions, fuzzy suggestions."""

from __future__ import annotations

import json

from exactlink.domain.matching import (
    AccountKeys,
    Decision,
    MatchResult,
    RelationKeys,
    match_relations,
    summarise,
)

# Synthetic numbers from the domain reference (§1.4).
RSIN_A, RSIN_B, RSIN_C = "999900018", "999900031", "999900043"
BSN_OWNER = "999993653"
KVK_A, KVK_B = "69599084", "01234567"
BTW_ID = "NL000099998B57"


def relation(number: str = "1001", name: str = "Bakkerij Jansen B.V.", **fields: object) -> RelationKeys:
    return RelationKeys(relation_number=number, name=name, **fields)  # type: ignore[arg-type]


def account(
    ident: str = "acc-1", code: str = "1001", name: str = "Bakkerij Jansen B.V.", **fields: object
) -> AccountKeys:
    return AccountKeys(account_id=ident, code=code.rjust(18), name=name, **fields)  # type: ignore[arg-type]


def only(results: list[MatchResult]) -> MatchResult:
    assert len(results) == 1
    return results[0]


# -- identifier tiers ------------------------------------------------------------------------------------


def test_equal_rsin_links_even_with_another_name_and_trims_the_code() -> None:
    result = only(match_relations([relation(rsin=RSIN_A)], [account(name="Totaal Anders BV", rsin=RSIN_A)]))
    assert (result.status, result.method, result.account_id, result.account_code) == ("linked", "rsin", "acc-1", "1001")


def test_bsn_with_dots_links_on_bsn() -> None:
    result = only(match_relations([relation(bsn="9999.93.653")], [account(bsn=BSN_OWNER)]))
    assert (result.status, result.method) == ("linked", "bsn")


def test_fiscal_number_inside_an_ob_number_links() -> None:
    relations = [relation(ob_number=f"nl{RSIN_A}b01")]
    result = only(match_relations(relations, [account(rsin=RSIN_A)]))
    assert (result.status, result.method) == ("linked", "fiscal number in OB number")
    # … and the other way round: the account's VATNumber is the OB number.
    result = only(match_relations([relation(rsin=RSIN_A)], [account(vat_number=f"NL{RSIN_A}B01")]))
    assert (result.status, result.method) == ("linked", "fiscal number in OB number")


def test_fiscal_number_inside_a_loonheffingennummer_links() -> None:
    result = only(match_relations([relation(payroll_number=f"{RSIN_B}L01")], [account(rsin=RSIN_B)]))
    assert (result.status, result.method) == ("linked", "fiscal number in loonheffingennummer")


def test_a_btw_id_holds_no_fiscal_number_but_links_as_btw_id() -> None:
    result = only(match_relations([relation(btw_id=BTW_ID)], [account(vat_number=BTW_ID.lower())]))
    assert (result.status, result.method) == ("linked", "btw-id")


def test_kvk_links_when_the_fiscal_number_is_missing_on_one_side() -> None:
    result = only(match_relations([relation(rsin=RSIN_A, kvk="6959 9084")], [account(kvk=KVK_A)]))
    assert (result.status, result.method) == ("linked", "kvk")


def test_the_first_identifier_both_sides_have_decides() -> None:
    # Same RSIN, KvK mistyped (two digits swapped) in the CRM: the RSIN decides, the pair links.
    result = only(match_relations([relation(rsin=RSIN_A, kvk="69590984")], [account(rsin=RSIN_A, kvk=KVK_A)]))
    assert (result.status, result.method) == ("linked", "rsin")
    assert result.reason == "same RSIN/BSN; the KvK number differs, check it"
    same = only(match_relations([relation(rsin=RSIN_A, kvk=KVK_A)], [account(rsin=RSIN_A, kvk=KVK_A)]))
    assert same.reason == "same RSIN/BSN"


def test_invalid_identifiers_are_ignored_and_explained() -> None:
    result = only(match_relations([relation(bsn="999993654", name="X")], [account(bsn=BSN_OWNER, name="Y")]))
    assert result.status == "unmatched"
    assert result.reason.startswith("BSN fails the 11-proef")


# -- conflicts ------------------------------------------------------------------------------------------


def test_conflicting_fiscal_number_is_a_non_match_even_with_identical_names() -> None:
    result = only(match_relations([relation(rsin=RSIN_A)], [account(rsin=RSIN_B)]))
    assert result.status == "conflict"
    assert result.account_code == "1001"
    assert (result.method, result.differs) == ("name", "RSIN/BSN")
    assert result.reason == "name matches account 1001 (name 100), but the RSIN/BSN differs"


def test_conflicting_kvk_is_a_non_match_even_with_identical_names() -> None:
    result = only(match_relations([relation(kvk=KVK_A)], [account(kvk=KVK_B)]))
    assert result.status == "conflict"
    assert result.differs == "KvK number"
    assert "KvK number differs" in result.reason


def test_kvk_match_with_a_different_fiscal_number_is_a_conflict() -> None:
    result = only(match_relations([relation(rsin=RSIN_A, kvk=KVK_A)], [account(rsin=RSIN_B, kvk=KVK_A)]))
    assert (result.status, result.method, result.differs) == ("conflict", "kvk", "RSIN/BSN")
    assert result.reason == "KvK number matches account 1001, but the RSIN/BSN differs"


def test_holding_and_werkmaatschappij_are_not_confused() -> None:
    relations = [
        relation("1", "Van den Berg Beheer B.V.", rsin=RSIN_A, postcode="1234 AB", house_number="Hoofdstraat 1"),
        relation("2", "Van den Berg B.V.", postcode="1234 AB", house_number="Hoofdstraat 1"),
    ]
    accounts = [
        account(
            "holding", "1", "Van den Berg Beheer B.V.", rsin=RSIN_A, postcode="1234AB", house_number="Hoofdstraat 1"
        ),
        account("werk", "2", "Van den Berg B.V.", rsin=RSIN_B, postcode="1234AB", house_number="Hoofdstraat 1"),
    ]
    holding, werk = match_relations(relations, accounts)
    assert (holding.status, holding.account_id) == ("linked", "holding")
    # Without numbers the werkmaatschappij is only suggested, and never the holding.
    assert (werk.status, werk.account_id) == ("suggested", "werk")


def test_a_holding_name_is_never_a_high_confidence_suggestion_for_the_werkmaatschappij() -> None:
    result = only(
        match_relations(
            [relation(name="Van den Berg B.V.", postcode="1234 AB", house_number="Hoofdstraat 1")],
            [account(name="Van den Berg Beheer B.V.", postcode="1234 AB", house_number="Hoofdstraat 1")],
        )
    )
    assert result.status == "suggested"
    assert result.confidence == "review"
    assert result.why is not None and "holding/beheer on one side only" in result.why
    assert result.score is not None and result.score < 80


def test_name_only_without_address_support_for_a_holding_is_not_suggested() -> None:
    result = only(match_relations([relation(name="Jansen B.V.")], [account(name="Jansen Holding B.V.")]))
    assert result.status == "unmatched"


# -- name never links -----------------------------------------------------------------------------------


def test_identical_name_and_address_is_only_suggested() -> None:
    result = only(
        match_relations(
            [relation(name="V.O.F. De Vries & Zn.", postcode="2601 dc", house_number="Markt 12a")],
            [account(name="De Vries en Zonen VOF", postcode="2601DC", house_number="Markt 12 A")],
        )
    )
    assert result.status == "suggested"
    assert result.method == "name+postcode"
    assert result.confidence == "high"
    assert result.why == "name 100, same postcode and house number"


def test_name_alone_elsewhere_is_a_suggestion_for_review() -> None:
    result = only(
        match_relations(
            [relation(name="Noordzee Transport B.V.", postcode="9711 AA")],
            [account(name="Noordzee Transport BV", postcode="1011 AB")],
        )
    )
    assert (result.status, result.method, result.confidence) == ("suggested", "name", "review")
    assert "other postcode" in (result.why or "")


def test_an_initial_matches_the_first_name() -> None:
    result = only(
        match_relations(
            [relation(name="Sluiter, G.", postcode="8011 AB", house_number="Kerkstraat 3")],
            [account(name="Gerrit Sluiter", postcode="8011 AB", house_number="Kerkstraat 3")],
        )
    )
    assert result.status == "suggested"


def test_dissimilar_names_stay_unmatched_with_a_reason() -> None:
    result = only(match_relations([relation(name="Bakkerij Jansen")], [account(name="Garage Pietersen")]))
    assert result.status == "unmatched"
    assert result.reason == "no RSIN/BSN in the CRM; no account with a similar name"


def test_unmatched_reasons_name_each_identifier_that_found_nothing() -> None:
    result = only(
        match_relations([relation(name="Bakkerij Jansen", rsin=RSIN_A, kvk="1234567")], [account(name="Garage Piet")])
    )
    assert (
        result.reason
        == "no account with this RSIN/BSN; KvK number must be 8 digits, not 7; no account with a similar name"
    )


# -- one to one ---------------------------------------------------------------------------------------------


def test_an_identifier_on_two_accounts_is_not_auto_linked() -> None:
    result = only(
        match_relations(
            [relation(rsin=RSIN_A, name="Bakkerij Jansen")],
            [account("a", "10", "Garage Jansen", rsin=RSIN_A), account("b", "11", "Bakkerij Jansen", rsin=RSIN_A)],
        )
    )
    assert result.status == "suggested"
    assert result.account_id == "b"  # the better name of the two
    assert result.alternatives == ("10",)
    assert "2 accounts (10, 11)" in result.reason


def test_two_relations_with_one_identifier_are_not_auto_linked() -> None:
    results = match_relations(
        [relation("1", rsin=RSIN_A), relation("2", rsin=RSIN_A)], [account("a", "10", rsin=RSIN_A)]
    )
    assert [result.status for result in results] == ["suggested", "suggested"]
    assert all("2 relations (1, 2)" in result.reason for result in results)


def test_fuzzy_suggestions_are_one_to_one() -> None:
    relations = [
        relation("1", "Bakkerij Jansen", postcode="1234 AB", house_number="1"),
        relation("2", "Bakkerij Jansen", postcode="9999 ZZ"),
    ]
    results = match_relations(
        relations, [account("a", "10", "Bakkerij Jansen BV", postcode="1234AB", house_number="1")]
    )
    first, second = results
    assert (first.status, first.account_id) == ("suggested", "a")
    assert second.status == "unmatched"
    assert "fits relation 1 better" in second.reason


def test_an_account_linked_by_identifier_is_not_suggested_to_another_relation() -> None:
    results = match_relations(
        [relation("1", rsin=RSIN_A), relation("2", postcode="1234 AB", house_number="1")],
        [account("a", "10", rsin=RSIN_A, postcode="1234 AB", house_number="1")],
    )
    assert [result.status for result in results] == ["linked", "unmatched"]


# -- decisions ------------------------------------------------------------------------------------------------


def test_a_rejected_pair_is_never_suggested_again() -> None:
    relations = [relation(postcode="1234 AB", house_number="1")]
    accounts = [account("a", postcode="1234 AB", house_number="1")]
    assert only(match_relations(relations, accounts)).status == "suggested"
    result = only(match_relations(relations, accounts, decisions=[Decision("1001", "a", accepted=False)]))
    assert result.status == "unmatched"
    assert result.account_id is None


def test_a_rejected_pair_is_not_linked_on_its_identifier_either() -> None:
    result = only(
        match_relations([relation(rsin=RSIN_A)], [account("a", rsin=RSIN_A)], decisions=[Decision("1001", "a", False)])
    )
    assert result.status == "unmatched"
    assert "the account with this RSIN/BSN was rejected earlier" in result.reason


def test_an_accepted_pair_is_linked_by_hand_and_takes_the_account() -> None:
    results = match_relations(
        [relation("1", name="Iets"), relation("2", rsin=RSIN_A)],
        [account("a", "10", rsin=RSIN_A)],
        decisions=[Decision("1", "a", accepted=True)],
    )
    manual, other = results
    assert (manual.status, manual.method, manual.account_id) == ("linked", "manual", "a")
    assert other.status == "conflict"
    assert other.reason == "the account with this RSIN/BSN (10) is already linked to relation 1"


def test_the_latest_decision_wins() -> None:
    decisions = [Decision("1001", "a", True), Decision("1001", "a", False)]
    result = only(match_relations([relation(name="X")], [account("a", name="Y")], decisions=decisions))
    assert result.status == "unmatched"
    decisions = [Decision("1001", "a", True), Decision("1001", "b", True)]
    result = only(match_relations([relation()], [account("a"), account("b", "2")], decisions=decisions))
    assert (result.status, result.account_id) == ("linked", "b")


def test_decisions_for_unknown_relations_or_accounts_are_ignored() -> None:
    result = only(
        match_relations(
            [relation(rsin=RSIN_A)],
            [account("a", rsin=RSIN_A)],
            decisions=[Decision("nope", "a", True), Decision("1001", "gone", True)],
        )
    )
    assert (result.status, result.method) == ("linked", "rsin")


# -- numbers must match ---------------------------------------------------------------------------------------


def test_relation_number_equal_to_account_code_links_only_when_numbers_must_match() -> None:
    relations = [relation("0042", "Bakkerij Jansen")]
    accounts = [account("a", "42", "Bakkerij Jansen en Zonen")]
    assert only(match_relations(relations, accounts)).status != "linked"
    result = only(match_relations(relations, accounts, numbers_must_match=True))
    assert (result.status, result.method) == ("linked", "relation number")


def test_equal_numbers_with_unrelated_names_are_only_suggested() -> None:
    result = only(
        match_relations(
            [relation("42", "Bakkerij Jansen")], [account("a", "42", "Garage Pietersen")], numbers_must_match=True
        )
    )
    assert (result.status, result.method) == ("suggested", "relation number")


def test_identifiers_come_before_the_number_and_a_differing_number_is_noted() -> None:
    results = match_relations(
        [relation("1", rsin=RSIN_A)],
        [account("a", "1", rsin=RSIN_B), account("b", "2", rsin=RSIN_A)],
        numbers_must_match=True,
    )
    result = only(results)
    assert (result.status, result.account_id) == ("linked", "b")
    assert "relation number differs from account code 2" in result.reason


def test_equal_numbers_with_a_conflicting_identifier_are_a_conflict() -> None:
    result = only(
        match_relations([relation("1", rsin=RSIN_A)], [account("a", "1", rsin=RSIN_B)], numbers_must_match=True)
    )
    assert result.status == "conflict"


# -- output -----------------------------------------------------------------------------------------------


def test_results_keep_input_order_and_serialise_to_json() -> None:
    results = match_relations(
        [relation("2", rsin=RSIN_A), relation("1", name="Zomaar iets")], [account("a", "10", rsin=RSIN_A)]
    )
    assert [result.relation_number for result in results] == ["2", "1"]
    document = json.loads(json.dumps([result.to_json() for result in results]))
    assert {"relation", "account_code", "status", "method", "reason"} <= set(document[0])
    assert document[0]["relation"] == "2"
    assert summarise(results) == {"linked": 1, "suggested": 0, "conflict": 0, "unmatched": 1}


def test_reasons_never_contain_a_bsn() -> None:
    results = match_relations(
        [
            relation("1", bsn=BSN_OWNER, name="A"),
            relation("2", bsn="999993654", name="B"),
            relation("3", bsn=BSN_OWNER),
        ],
        [account("a", "10", bsn=RSIN_C, name="A"), account("b", "11", bsn=BSN_OWNER)],
    )
    for result in results:
        assert BSN_OWNER not in json.dumps(result.to_json())


def test_empty_inputs() -> None:
    assert match_relations([], []) == []
    assert only(match_relations([relation()], [])).status == "unmatched"


def test_scale_smoke_many_duplicates_stay_one_to_one() -> None:
    relations = [relation(str(number), f"Bakkerij Jansen {number % 7}", postcode="1234 AB") for number in range(300)]
    accounts = [
        account(f"a{number}", str(number), f"Bakkerij Jansen {number % 7}", postcode="1234 AB") for number in range(300)
    ]
    results = match_relations(relations, accounts)
    suggested = [result.account_id for result in results if result.status == "suggested"]
    assert len(suggested) == len(set(suggested))
    assert all(result.status != "linked" for result in results)
