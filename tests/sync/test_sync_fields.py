"""The field mapping and the diff rules of `sync` (exactlink.domain.sync_fields), without Exact or a database."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactlink.domain.sync_fields import (
    ACCOUNT_FIELDS,
    ADDRESS_TYPE_CODES,
    AddressValue,
    CrmContact,
    CrmSide,
    ExactAddress,
    ExactBankAccount,
    ExactContact,
    ExactSide,
    InboundPlan,
    OutboundPlan,
    link_contacts,
    normalise_phone,
    normalise_website,
    person_key,
    plan_inbound,
    plan_outbound,
    same_address,
    same_value,
)

ACCOUNT = "0b7f8a1e-0000-4000-8000-000000000001"
VISIT = AddressValue("Dorpsstraat 1", "2601 DC", "Delft", "NL")
POSTAL = AddressValue("Postbus 12", "2600 AA", "Delft", "NL")
IBAN_1 = "NL91ABNA0417164300"
IBAN_2 = "NL20INGB0001234567"

CRM_FIELDS = {
    "name": "Bakkerij De Vries B.V.",
    "vat_number": "NL999900018B01",
    "rsin": "999900018",
    "bsn": None,
    "kvk": "69599084",
    "phone": "015-1234567",
    "website": "https://devries.nl",
}


def crm_side(**changes: object) -> CrmSide:
    side = CrmSide(
        relation_number="R001",
        fields=dict(CRM_FIELDS),
        addresses={"visit": VISIT, "postal": POSTAL},
        address_ids={"visit": None, "postal": None},
        contacts=[CrmContact("Jan van der Berg", "Jan", "van der", "Berg", "jan@devries.nl", None)],
        ibans={IBAN_1: None},
    )
    return dataclasses.replace(side, **changes)  # type: ignore[arg-type]


def exact_side(**changes: object) -> ExactSide:
    side = ExactSide(
        account_id=ACCOUNT,
        code="R001",
        fields=dict(CRM_FIELDS),
        visit=VISIT,
        timestamp=100,
        addresses=[ExactAddress("addr-postal", 2, True, POSTAL, 90)],
        contacts=[ExactContact("contact-jan", "Jan van der Berg", "Jan", "van der", "Berg", "jan@devries.nl", None)],
        bank_accounts=[ExactBankAccount("bank-1", IBAN_1, True)],
    )
    return dataclasses.replace(side, **changes)  # type: ignore[arg-type]


def fields(**changes: str | None) -> dict[str, str | None]:
    return {**CRM_FIELDS, **changes}


def applied(plan: InboundPlan | OutboundPlan) -> list[str]:
    return [change.field for change in plan.changes if change.applied]


# ---------------------------------------------------------------------------------------------------
# Normalised comparison


@pytest.mark.parametrize(
    ("kind", "left", "right"),
    [
        ("kvk", "69599084", "6959.9084"),
        ("kvk", "69599084", " 6959 9084 "),
        ("fiscal", "999900018", "9999.00.018"),
        ("vat", "NL999900018B01", "nl 9999.00.018 b01"),
        ("phone", "+31 15 123 4567", "015-1234567"),
        ("phone", "0031 (0)15 1234567", "0151234567"),
        ("website", "https://www.devries.nl/", "devries.nl"),
        ("name", "Bakkerij  De Vries ", "Bakkerij De Vries"),
        ("name", None, "  "),
    ],
)
def test_formatting_differences_are_not_changes(kind: str, left: str | None, right: str | None) -> None:
    assert same_value(kind, left, right)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "left", "right"),
    [
        ("kvk", "69599084", "6959908"),  # a dropped digit is a different number
        ("phone", "015-1234567", "015-1234568"),
        ("name", "Bakkerij De Vries", "BAKKERIJ DE VRIES"),  # capitals are a real edit of the name
        ("website", "devries.nl", "devries.com"),
        ("fiscal", "999900018", None),
    ],
)
def test_real_differences_are_changes(kind: str, left: str | None, right: str | None) -> None:
    assert not same_value(kind, left, right)  # type: ignore[arg-type]


def test_addresses_compare_postcode_city_and_country_normalised() -> None:
    assert same_address(AddressValue("Dorpsstraat 1", "2601DC", "DELFT", None), VISIT)
    assert same_address(AddressValue("dorpsstraat  1", "2601 dc", "Delft", "Nederland"), VISIT)
    assert not same_address(AddressValue("Dorpsstraat 3", "2601 DC", "Delft", "NL"), VISIT)
    assert not same_address(AddressValue("Dorpsstraat 1", "2601 DC", "Delft", "BE"), VISIT)
    assert same_address(AddressValue(country="NL"), None), "a bare country is no address"


def test_normalisers() -> None:
    assert normalise_phone("+32 2 123 45 67") == "003221234567"
    assert normalise_website("HTTP://Example.NL/") == "example.nl"
    assert person_key("  José  van der BERG ") == "jose van der berg"
    assert person_key("J.P. de Vries") == "j p de vries"


def test_every_seed_field_is_mapped() -> None:
    mapped = {spec.key: spec.exact for spec in ACCOUNT_FIELDS}
    assert mapped == {
        "name": "Name",
        "vat_number": "VATNumber",
        "rsin": "RSIN",
        "bsn": "BSN",
        "kvk": "ChamberOfCommerce",
        "phone": "Phone",
        "website": "Website",
    }
    assert ADDRESS_TYPE_CODES == {"visit": 1, "postal": 2, "invoice": 3}


def test_the_sandbox_uses_the_same_address_types() -> None:
    from exactlink.sandbox.generator import generate
    from exactlink.sandbox.model import ACCOUNTS, ADDRESSES

    tables = (data := generate(60, seed=3)).divisions[data.office_division].tables
    accounts = tables[ACCOUNTS]
    types = {address["Type"] for address in tables[ADDRESSES].values()}
    assert types <= set(ADDRESS_TYPE_CODES.values()) and ADDRESS_TYPE_CODES["postal"] in types
    for address in tables[ADDRESSES].values():
        account = accounts[address["Account"]]
        if address["Type"] == ADDRESS_TYPE_CODES["visit"]:  # the account's own address fields are the visit address
            assert (address["AddressLine1"], address["Postcode"]) == (account["AddressLine1"], account["Postcode"])
        if address["AddressLine1"].startswith("Postbus"):  # a PO box is only ever a postal address
            assert address["Type"] == ADDRESS_TYPE_CODES["postal"]


# ---------------------------------------------------------------------------------------------------
# Inbound


def test_inbound_with_equal_sides_changes_nothing() -> None:
    plan = plan_inbound(crm_side(), exact_side())
    assert plan.changes == []
    assert plan.fields == {} and plan.addresses == {}
    # ...but the links found are remembered (once).
    assert plan.address_ids == {"postal": "addr-postal"}
    assert plan.ibans == [(IBAN_1, "bank-1")]
    assert [(update.full_name, update.exact_id, update.values) for update in plan.contacts] == [
        ("Jan van der Berg", "contact-jan", {})
    ]


def test_inbound_takes_exacts_values_in_the_crms_form() -> None:
    exact = exact_side(fields=fields(phone="+31 15 765 4321", kvk="6959.9084", website="devries.nl"))
    plan = plan_inbound(crm_side(), exact)
    assert applied(plan) == ["phone"]
    assert plan.fields == {"phone": "+31 15 765 4321"}
    assert plan.changes[0].crm_value == "015-1234567" and plan.changes[0].direction == "inbound"


def test_inbound_normalises_identifiers_it_writes() -> None:
    exact = exact_side(fields=fields(kvk="1234.5678", vat_number="nl 999900018 b02"))
    plan = plan_inbound(crm_side(), exact)
    assert plan.fields == {"kvk": "12345678", "vat_number": "NL999900018B02"}


def test_an_empty_identifier_in_exact_never_erases_the_crms() -> None:
    exact = exact_side(fields=fields(rsin=None, kvk=None, phone=None))
    plan = plan_inbound(crm_side(), exact)
    assert plan.fields == {"phone": None}, "a cleared phone number is followed, identifiers are kept"
    kept = {change.field: change.note for change in plan.changes if not change.applied}
    assert kept == {"rsin": "kept: Exact has no RSIN", "kvk": "kept: Exact has no KvK number"}


def test_an_address_deleted_in_exact_clears_it_in_the_crm() -> None:
    plan = plan_inbound(crm_side(), exact_side(addresses=[]))
    assert plan.addresses == {"postal": None}
    assert applied(plan) == ["postal_address"]


def test_new_exact_addresses_reach_the_crm_with_their_ids() -> None:
    invoice = AddressValue("Markt 3", "9999zz", "Ergens", "NL")
    exact = exact_side(addresses=[*exact_side().addresses, ExactAddress("addr-invoice", 3, True, invoice, 95)])
    plan = plan_inbound(crm_side(), exact)
    assert plan.addresses == {"invoice": AddressValue("Markt 3", "9999 ZZ", "Ergens", "NL")}
    assert plan.address_ids["invoice"] == "addr-invoice"


def test_the_visit_address_comes_from_the_newer_of_account_fields_and_type_1_record() -> None:
    moved = AddressValue("Nieuwe Weg 9", "2611 AB", "Delft", "NL")
    older_record = exact_side(addresses=[ExactAddress("addr-visit", 1, True, moved, 50)])
    assert "visit_address" not in applied(plan_inbound(crm_side(), older_record))
    newer_record = exact_side(addresses=[ExactAddress("addr-visit", 1, True, moved, 150)])
    plan = plan_inbound(crm_side(), newer_record)
    assert plan.addresses["visit"] == moved and plan.address_ids["visit"] == "addr-visit"


def test_the_main_record_stands_for_its_type() -> None:
    other = AddressValue("Elders 1", "1000 AA", "Amsterdam", "NL")
    exact = exact_side(
        addresses=[ExactAddress("old", 2, False, other, 200), ExactAddress("addr-postal", 2, True, POSTAL, 90)]
    )
    assert plan_inbound(crm_side(), exact).changes == []


def test_bank_accounts_follow_exact() -> None:
    exact = exact_side(bank_accounts=[ExactBankAccount("bank-2", IBAN_2), ExactBankAccount("bank-1", IBAN_1, True)])
    plan = plan_inbound(crm_side(ibans={IBAN_1: "bank-1", "NL02ABNA0123456789": None}), exact)
    assert plan.ibans == [(IBAN_1, "bank-1"), (IBAN_2, "bank-2")]
    assert {(change.crm_value, change.exact_value) for change in plan.changes} == {
        (None, IBAN_2),
        ("NL02ABNA0123456789", None),
    }


def test_contacts_get_exacts_details_but_are_never_created() -> None:
    exact_contacts = [
        ExactContact("contact-jan", "Jan van der Berg", "Jan", "van der", "Berg", "jan@devries.nl", "06-12345678"),
        ExactContact("contact-only-in-exact", "Els Bakker", "Els", None, "Bakker", "els@devries.nl", None),
    ]
    crm_contacts = [
        CrmContact("Jan van der Berg", None, None, "Berg", "jan@devries.nl"),
        CrmContact("Piet Jansen", "Piet", None, "Jansen", None),  # only in the CRM
    ]
    plan = plan_inbound(crm_side(contacts=crm_contacts), exact_side(contacts=exact_contacts))
    assert [(update.full_name, update.exact_id) for update in plan.contacts] == [("Jan van der Berg", "contact-jan")]
    assert plan.contacts[0].values == {"phone": "06-12345678", "first_name": "Jan", "middle_name": "van der"}


def test_an_empty_contact_detail_in_exact_erases_nothing() -> None:
    exact = exact_side(contacts=[ExactContact("contact-jan", "Jan van der Berg", "Jan", "van der", "Berg", None)])
    plan = plan_inbound(crm_side(), exact)
    assert plan.contacts[0].values == {}


def test_numbers_must_match_renumbers_inbound() -> None:
    exact = exact_side(code="204518")
    assert plan_inbound(crm_side(), exact).new_number is None
    plan = plan_inbound(crm_side(), exact, numbers_must_match=True)
    assert plan.new_number == "204518"
    assert [(c.field, c.crm_value, c.exact_value) for c in plan.changes] == [("relation_number", "R001", "204518")]


# ---------------------------------------------------------------------------------------------------
# Outbound


def test_outbound_puts_only_the_changed_fields() -> None:
    crm = crm_side(fields=fields(phone="015-7654321", website="https://devries.nl/", kvk="6959 9084"))
    plan = plan_outbound(crm, exact_side())
    assert plan.account == {"Phone": "015-7654321"}
    assert applied(plan) == ["phone"] and plan.calls == 1


def test_outbound_with_equal_sides_calls_nothing() -> None:
    plan = plan_outbound(crm_side(), exact_side())
    assert plan.calls == 0 and plan.changes == []
    assert plan.links_only, "links are remembered locally"


def test_outbound_never_pushes_invalid_or_empty_identifiers() -> None:
    crm = crm_side(fields=fields(kvk="1234567", rsin=None, name=""))
    plan = plan_outbound(crm, exact_side())
    assert plan.account == {}
    notes = {change.field: change.note for change in plan.changes}
    assert (notes["kvk"] or "").startswith("not pushed: ")
    assert notes["rsin"] == "kept: the CRM has no RSIN"
    assert notes["name"] == "kept: the CRM has no name"


def test_outbound_visit_address_goes_into_the_account_and_its_type_1_record() -> None:
    moved = AddressValue("Nieuwe Weg 9", "2611ab", "Delft", None)
    records = [ExactAddress("addr-visit", 1, True, VISIT, 90), *exact_side().addresses]
    plan = plan_outbound(crm_side(addresses={"visit": moved, "postal": POSTAL}), exact_side(addresses=records))
    body = {"AddressLine1": "Nieuwe Weg 9", "Postcode": "2611ab", "City": "Delft", "Country": "NL"}
    assert plan.account == body
    assert [(write.type, write.exact_id, write.body) for write in plan.addresses] == [("visit", "addr-visit", body)]
    assert applied(plan) == ["visit_address"]


def test_outbound_creates_a_missing_address_and_updates_a_changed_one() -> None:
    invoice = AddressValue("Markt 3", "9999 ZZ", "Ergens", "NL")
    postal = AddressValue("Postbus 99", "2600 AA", "Delft", "NL")
    crm = crm_side(addresses={"visit": VISIT, "postal": postal, "invoice": invoice})
    plan = plan_outbound(crm, exact_side())
    writes = {write.type: (write.exact_id, write.body) for write in plan.addresses}
    assert writes["postal"] == (
        "addr-postal",
        {"AddressLine1": "Postbus 99", "Postcode": "2600 AA", "City": "Delft", "Country": "NL"},
    )
    assert writes["invoice"] == (
        None,
        {"Type": 3, "Main": True, "AddressLine1": "Markt 3", "Postcode": "9999 ZZ", "City": "Ergens", "Country": "NL"},
    )
    assert plan.account == {}


def test_outbound_leaves_exact_only_addresses_and_bank_accounts_alone_unless_asked() -> None:
    crm = crm_side(addresses={"visit": VISIT}, ibans={})
    kept = plan_outbound(crm, exact_side())
    assert kept.calls == 0
    assert {change.note for change in kept.changes} == {
        "kept: the CRM has none",
        "kept: bank accounts are only deleted with --delete-in-exact",
    }
    deleting = plan_outbound(crm, exact_side(), delete_in_exact=True)
    assert deleting.address_deletes == [("postal", "addr-postal")]
    assert deleting.bank_deletes == [(IBAN_1, "bank-1")]


def test_outbound_posts_missing_bank_accounts_but_not_invalid_ones() -> None:
    crm = crm_side(ibans={IBAN_1: "bank-1", IBAN_2: None, "NL92ABNA0417164300": None})
    plan = plan_outbound(crm, exact_side())
    assert plan.bank_posts == [IBAN_2]
    (refused,) = [change for change in plan.changes if not change.applied]
    assert refused.crm_value == "NL92ABNA0417164300" and refused.note and "check digits" in refused.note


def test_outbound_contact_details_use_the_main_fields_and_never_create_contacts() -> None:
    crm_contacts = [
        CrmContact("Jan van der Berg", email="j.berg@devries.nl", phone="06-11112222"),
        CrmContact("Piet Jansen", email="piet@devries.nl"),
    ]
    exact = exact_side(contacts=[ExactContact("contact-jan", "Jan van der Berg", email="jan@devries.nl")])
    plan = plan_outbound(crm_side(contacts=crm_contacts), exact)
    assert plan.contacts == [
        ("Jan van der Berg", "contact-jan", {"Email": "j.berg@devries.nl", "Phone": "06-11112222"})
    ]
    assert plan.contact_ids == {"Jan van der Berg": "contact-jan"}


def test_outbound_numbers_must_match_pushes_the_padded_code() -> None:
    plan = plan_outbound(crm_side(), exact_side(code="204518"), numbers_must_match=True)
    assert plan.account == {"Code": "R001".rjust(18)}
    too_long = plan_outbound(crm_side(relation_number="R" * 19), exact_side(code="1"), numbers_must_match=True)
    assert too_long.account == {} and too_long.changes[0].note == "not pushed: an account code has 1-18 characters"


# ---------------------------------------------------------------------------------------------------
# Contact linking


def test_contacts_link_by_email_then_by_name_one_to_one() -> None:
    crm = [
        CrmContact("J. van der Berg", email="JAN@devries.nl"),
        CrmContact("Piet  Jansen"),
        CrmContact("Anna de Wit"),
        CrmContact("Anna de Wit ", email="other@x.nl"),
    ]
    exact = [
        ExactContact("c1", "Jan van der Berg", email="jan@devries.nl"),
        ExactContact("c2", "Piet Jansen"),
        ExactContact("c3", "Anna de Wit"),
    ]
    links = {link.crm.full_name: (link.exact.id, link.method) for link in link_contacts(crm, exact)}
    assert links == {"J. van der Berg": ("c1", "email"), "Piet  Jansen": ("c2", "name")}, "Anna is ambiguous"


def test_a_remembered_contact_link_stands() -> None:
    crm = [CrmContact("Someone Else", exact_id="c1")]
    exact = [ExactContact("c1", "Jan van der Berg")]
    assert [link.method for link in link_contacts(crm, exact)] == ["id"]


# ---------------------------------------------------------------------------------------------------
# Property: applying a plan leaves nothing to do


def _apply_inbound(crm: CrmSide, plan: InboundPlan) -> CrmSide:
    addresses = dict(crm.addresses)
    for kind, address in plan.addresses.items():
        if address is None:
            addresses.pop(kind, None)
        else:
            addresses[kind] = address
    contacts = []
    updates = {update.full_name: update for update in plan.contacts}
    for person in crm.contacts:
        update = updates.get(person.full_name)
        if update is not None:
            person = dataclasses.replace(person, exact_id=update.exact_id, **update.values)  # type: ignore[arg-type]
        contacts.append(person)
    return dataclasses.replace(
        crm,
        relation_number=plan.new_number or crm.relation_number,
        fields={**crm.fields, **plan.fields},
        addresses=addresses,
        address_ids={**crm.address_ids, **plan.address_ids},
        contacts=contacts,
        ibans=dict(plan.ibans) if plan.ibans is not None else crm.ibans,
    )


def _remember_links(crm: CrmSide, plan: OutboundPlan) -> CrmSide:
    """What the service records locally after an outbound run: the Exact ids of linked records."""
    contacts = [dataclasses.replace(p, exact_id=plan.contact_ids.get(p.full_name, p.exact_id)) for p in crm.contacts]
    return dataclasses.replace(
        crm,
        address_ids={**crm.address_ids, **plan.address_ids},
        contacts=contacts,
        ibans={iban: plan.bank_ids.get(iban, exact_id) for iban, exact_id in crm.ibans.items()},
    )


def _apply_outbound(exact: ExactSide, plan: OutboundPlan) -> ExactSide:
    by_exact = {spec.exact: spec.key for spec in ACCOUNT_FIELDS}
    fields_now = dict(exact.fields)
    visit = exact.visit
    for name, value in plan.account.items():
        if name in by_exact:
            fields_now[by_exact[name]] = value
    if "AddressLine1" in plan.account:
        visit = AddressValue(
            plan.account["AddressLine1"], plan.account["Postcode"], plan.account["City"], plan.account["Country"]
        )
    addresses = list(exact.addresses)
    for number, write in enumerate(plan.addresses):
        if write.exact_id is None:
            addresses.append(ExactAddress(f"new-{number}", ADDRESS_TYPE_CODES[write.type], True, write.address, 999))
        else:
            addresses = [
                dataclasses.replace(a, address=write.address) if a.id == write.exact_id else a for a in addresses
            ]
    banks = [*exact.bank_accounts, *(ExactBankAccount(f"bank-new-{iban}", iban) for iban in plan.bank_posts)]
    contacts = []
    for contact in exact.contacts:
        for _name, exact_id, body in plan.contacts:
            if exact_id == contact.id:
                contact = dataclasses.replace(
                    contact, email=body.get("Email", contact.email), phone=body.get("Phone", contact.phone)
                )
        contacts.append(contact)
    code = plan.account.get("Code", exact.code)
    return dataclasses.replace(
        exact,
        code=code.strip() if code else code,
        fields=fields_now,
        visit=visit,
        timestamp=1000,
        addresses=addresses,
        contacts=contacts,
        bank_accounts=banks,
    )


_text = st.one_of(st.none(), st.sampled_from(["", " ", "a", "B b", "Dorpsstraat 1", "x.nl", "+31 15 1234567"]))
_kvk = st.one_of(st.none(), st.sampled_from(["69599084", "6959.9084", "1234567", "01234567"]))
_postcode = st.one_of(st.none(), st.sampled_from(["2601DC", "2601 dc", "9999 ZZ", "0123 AB"]))
_address = st.builds(AddressValue, _text, _postcode, st.sampled_from([None, "Delft", "DELFT", "Ergens"]), st.none())
_iban = st.sampled_from([IBAN_1, IBAN_2, "NL02ABNA0123456789"])
_names = st.sampled_from(["Jan van der Berg", "Piet Jansen", "Anna de Wit"])
_email = st.one_of(st.none(), st.sampled_from(["jan@x.nl", "piet@x.nl", "JAN@x.nl"]))


@st.composite
def sides(draw: st.DrawFn) -> tuple[CrmSide, ExactSide]:
    def field_values() -> dict[str, str | None]:
        values = {spec.key: draw(_text) for spec in ACCOUNT_FIELDS}
        values["kvk"] = draw(_kvk)
        return values

    crm_addresses = {kind: draw(_address) for kind in ADDRESS_TYPE_CODES if draw(st.booleans())}
    crm = CrmSide(
        relation_number=draw(st.sampled_from(["R001", "204518"])),
        fields=field_values(),
        addresses={kind: address for kind, address in crm_addresses.items() if not address.is_empty()},
        contacts=[CrmContact(name, email=draw(_email), phone=draw(_text)) for name in draw(st.sets(_names))],
        ibans={iban: None for iban in draw(st.sets(_iban))},
    )
    exact = ExactSide(
        account_id=ACCOUNT,
        code=draw(st.sampled_from(["R001", "204518"])),
        fields=field_values(),
        visit=draw(_address),
        timestamp=draw(st.integers(0, 200)),
        addresses=[
            ExactAddress(f"a{index}", code, draw(st.booleans()), draw(_address), draw(st.integers(0, 200)))
            for index, code in enumerate(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=4)))
        ],
        contacts=[
            ExactContact(f"c{index}", name, email=draw(_email), phone=draw(_text))
            for index, name in enumerate(draw(st.lists(_names, max_size=3)))
        ],
        bank_accounts=[ExactBankAccount(f"b{index}", iban) for index, iban in enumerate(draw(st.sets(_iban)))],
    )
    return crm, exact


@settings(max_examples=300, deadline=None)
@given(sides(), st.booleans())
def test_after_an_inbound_sync_there_is_nothing_left_to_write(pair: tuple[CrmSide, ExactSide], numbers: bool) -> None:
    crm, exact = pair
    first = plan_inbound(crm, exact, numbers_must_match=numbers)
    second = plan_inbound(_apply_inbound(crm, first), exact, numbers_must_match=numbers)
    assert not second.writes_anything, second
    assert not [change for change in second.changes if change.applied]


@settings(max_examples=300, deadline=None)
@given(sides(), st.booleans())
def test_after_an_outbound_sync_there_is_nothing_left_to_push(pair: tuple[CrmSide, ExactSide], numbers: bool) -> None:
    crm, exact = pair
    first = plan_outbound(crm, exact, numbers_must_match=numbers)
    second = plan_outbound(_remember_links(crm, first), _apply_outbound(exact, first), numbers_must_match=numbers)
    assert second.calls == 0, second
    assert not [change for change in second.changes if change.applied]
