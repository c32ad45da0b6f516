"""The sandbox data generator: deterministic, valid Dutch identifiers, the CRM's mess at known rates."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from stdnum import iban as stdnum_iban
from stdnum.nl import bsn as stdnum_bsn
from stdnum.nl import btw as stdnum_btw
from stdnum.nl import postcode as stdnum_postcode

from exactlink.sandbox.generator import (
    ADMIN_USERNAME,
    RETURN_STATUSES,
    SUPPLETIE_DESCRIPTION,
    _move_leading_vof,
    generate,
    write_crm_export,
    write_ground_truth,
)
from exactlink.sandbox.model import (
    ACCOUNTS,
    ADDRESSES,
    BANK_ACCOUNTS,
    CONTACTS,
    CRM_EXPORT_COLUMNS,
    GL_ACCOUNTS,
    RETURNS,
    SOLUTION_LINKS,
    TRANSACTION_LINES,
    SandboxData,
)

NOW = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
DIVISION_FIELDS = (
    *("Code", "Description", "Hid", "Customer", "CustomerCode", "CustomerName", "Current", "IsMainDivision"),
    *("IsPracticeDivision", "IsDossierDivision", "IsHRDivision", "Status", "BlockingStatus", "Country", "Currency"),
    *("VATNumber", "ChamberOfCommerceNumber", "OBNumber", "AddressLine1", "Postcode", "City", "Email", "Phone"),
    *("Website", "StartDate", "ArchiveDate", "DivisionMoveDate"),
)


@pytest.fixture(scope="module")
def data() -> SandboxData:
    return generate(200, seed=7, now=NOW)


def office_table(data: SandboxData, table: str) -> list[dict]:
    return list(data.divisions[data.office_division].tables[table].values())


def client_divisions(data: SandboxData) -> list:
    return [division for code, division in data.divisions.items() if code != data.office_division]


def client_records(data: SandboxData, table: str) -> list[dict]:
    return [record for division in client_divisions(data) for record in division.tables[table].values()]


def digits(value: str) -> str:
    return re.sub(r"[ .\-]", "", value)


def is_fiscal_number(value: str) -> bool:
    return bool(re.fullmatch(r"\d{9}", value)) and stdnum_bsn.is_valid(value)


# ---- determinism and scale -----------------------------------------------------------------------


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    first, second = generate(60, seed=3, now=NOW), generate(60, seed=3, now=NOW)
    assert first == second
    for name, data in (("a", first), ("b", second)):
        write_crm_export(data, tmp_path / f"crm-{name}.csv")
        write_ground_truth(data, tmp_path / f"truth-{name}.csv")
    assert (tmp_path / "crm-a.csv").read_bytes() == (tmp_path / "crm-b.csv").read_bytes()
    assert (tmp_path / "truth-a.csv").read_bytes() == (tmp_path / "truth-b.csv").read_bytes()


def test_another_seed_gives_other_data() -> None:
    first, second = generate(60, seed=3, now=NOW), generate(60, seed=4, now=NOW)
    assert first.office_division != second.office_division
    assert [r["naam"] for r in first.crm_rows] != [r["naam"] for r in second.crm_rows]
    assert set(first.divisions) != set(second.divisions)


def test_default_now_is_the_current_time_and_everything_follows_it() -> None:
    moment = datetime(2027, 5, 14, 16, 40, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        data = generate(20, seed=1)
    assert data.now == moment and data.today == date(2027, 5, 14)
    created = [r["Created"] for r in client_records(data, RETURNS)]
    assert created
    assert all(moment - timedelta(days=90) <= created_at < moment for created_at in created)


def test_small_and_tiny_offices_generate() -> None:
    for clients in (1, 5, 20):
        data = generate(clients, seed=2, now=NOW)
        accounts = office_table(data, ACCOUNTS)
        assert sum(1 for a in accounts if a["Status"] == "C" and a["EndDate"] is None) >= clients
        assert len(data.users) == 2
    with pytest.raises(ValueError):
        generate(0)


def test_twenty_thousand_clients() -> None:
    # How fast is a benchmark's business (bench/bench_generator.py), not a timed test's.
    data = generate(20_000, seed=1, now=NOW)
    assert len(data.ground_truth) == len(data.crm_rows) == 21_000
    assert len(office_table(data, ACCOUNTS)) == 22_000
    assert 18_500 < len(data.divisions) < 19_500
    assert len(data.unconsented_divisions) == 10
    # Seed 1 draws the "move V.O.F. to the end" spelling twice for two names; it must not eat their first letters.
    assert not [row["naam"] for row in data.crm_rows if re.search(r"(?i)\bvof\s+vof\b", row["naam"])]


def test_moving_a_leading_vof_twice_changes_nothing_more() -> None:
    once = _move_leading_vof("V.O.F. Schrijf Van Leeuwen")
    assert once == "Schrijf Van Leeuwen VOF"
    assert _move_leading_vof(once) == once
    assert _move_leading_vof("VOF Bakkerij Post") == "VOF Bakkerij Post"


# ---- the office administration -------------------------------------------------------------------


def test_office_division_is_the_practice_division(data: SandboxData) -> None:
    record = data.divisions[data.office_division].record
    assert set(DIVISION_FIELDS) <= set(record)
    assert record["IsPracticeDivision"] is True and record["IsMainDivision"] is True and record["Current"] is True
    assert record["Code"] == data.office_division
    assert "kantoor" in record["Description"].lower() and record["Description"].endswith("B.V.")
    others = client_divisions(data)
    assert not any(d.record["IsPracticeDivision"] or d.record["IsMainDivision"] for d in others)
    codes = list(data.divisions)
    assert len(set(codes)) == len(codes)
    assert all(100_000 <= code < 10_000_000 for code in codes)
    assert data.office_division != generate(20, seed=8, now=NOW).office_division


def test_office_accounts_are_the_clients_plus_others(data: SandboxData) -> None:
    accounts = office_table(data, ACCOUNTS)
    assert all(GUID.fullmatch(a["ID"]) for a in accounts)
    assert all(len(a["Code"]) == 18 and a["Code"] == a["Code"].strip().rjust(18) for a in accounts)
    assert len({a["Code"] for a in accounts}) == len(accounts)
    assert all(a["Type"] == "A" and a["Blocked"] is False and a["Country"] == "NL" for a in accounts)
    statuses = Counter(a["Status"] for a in accounts)
    assert statuses["C"] >= 200 and statuses["P"] > 0 and statuses["A"] > 0
    assert sum(a["IsSupplier"] for a in accounts) > 0
    assert len(accounts) == 220  # the clients plus 10 % suppliers, prospects and former clients
    assert all("Timestamp" not in a for a in accounts)


def test_addresses_contacts_and_bank_accounts_belong_to_accounts(data: SandboxData) -> None:
    account_ids = {a["ID"] for a in office_table(data, ACCOUNTS)}
    addresses = office_table(data, ADDRESSES)
    contacts = office_table(data, CONTACTS)
    banks = office_table(data, BANK_ACCOUNTS)
    for table in (addresses, contacts, banks):
        assert {r["Account"] for r in table} <= account_ids
    assert {r["Type"] for r in addresses} == {1, 2, 3}
    assert len({r["Account"] for r in addresses if r["Type"] == 1}) == len(account_ids)
    assert all(r["Main"] is True for r in addresses)
    assert any(r["MiddleName"] for r in contacts) and all(r["LastName"] for r in contacts)
    assert all(
        r["FullName"] == " ".join(p for p in (r["FirstName"], r["MiddleName"], r["LastName"]) if p) for r in contacts
    )
    main = Counter(r["Account"] for r in contacts if r["IsMainContact"])
    assert max(main.values()) == 1
    assert all(r["Type"] == "A" for r in banks)
    assert any(r["Main"] is False for r in banks)


def test_every_generated_identifier_is_valid(data: SandboxData) -> None:
    accounts = office_table(data, ACCOUNTS)
    for account in accounts:
        if account["ChamberOfCommerce"] is not None:
            assert re.fullmatch(r"\d{8}", account["ChamberOfCommerce"])
        for number in (account["RSIN"], account["BSN"]):
            if number is not None:
                assert is_fiscal_number(number)
        if account["BSN"]:
            assert account["BSN"].startswith("999")  # RvIG's fictitious range, never a real person's number
        if account["VATNumber"]:
            assert stdnum_btw.is_valid(account["VATNumber"]) and re.fullmatch(r"NL\d{9}B\d{2}", account["VATNumber"])
        assert stdnum_postcode.validate(account["Postcode"]) == account["Postcode"]
    for address in office_table(data, ADDRESSES):
        assert stdnum_postcode.validate(address["Postcode"]) == address["Postcode"]
        assert not address["Postcode"].endswith((" SA", " SD", " SS"))
    for bank in office_table(data, BANK_ACCOUNTS):
        assert stdnum_iban.is_valid(bank["BankAccount"]) and bank["BankAccount"] == stdnum_iban.compact(
            bank["BankAccount"]
        )
        assert bank["BankAccount"][4:8] in {"ABNA", "INGB", "RABO", "SNSB", "TRIO", "KNAB", "BUNQ"}
        assert bank["BICCode"].startswith(bank["BankAccount"][4:8]) and bank["BICCode"][4:6] == "NL"
    for division in data.divisions.values():
        record = division.record
        for field in ("VATNumber", "OBNumber"):
            if record[field]:
                assert stdnum_btw.is_valid(record[field])
        if record["OBNumber"]:
            assert is_fiscal_number(record["OBNumber"][2:11]) and record["OBNumber"].endswith("B01")
        if record["ChamberOfCommerceNumber"]:
            assert re.fullmatch(r"\d{8}", record["ChamberOfCommerceNumber"])
        assert stdnum_postcode.is_valid(record["Postcode"])
    kvks = [a["ChamberOfCommerce"] for a in accounts if a["ChamberOfCommerce"]]
    assert len(set(kvks)) == len(kvks)


def test_sole_traders_have_a_mod97_btw_id_and_entities_an_rsin_based_one(data: SandboxData) -> None:
    accounts = office_table(data, ACCOUNTS)
    sole_traders = [a for a in accounts if a["BSN"] and a["VATNumber"]]
    entities = [a for a in accounts if a["RSIN"] and a["VATNumber"]]
    assert sole_traders and entities
    for account in sole_traders:
        assert not stdnum_bsn.is_valid(account["VATNumber"][2:11])  # a btw-id never hides the BSN
    for account in entities:
        assert account["VATNumber"] == f"NL{account['RSIN']}B01"
    with_bsn = {a["ID"]: a["BSN"] for a in sole_traders}
    divisions = [d.record for d in client_divisions(data) if d.record["Customer"] in with_bsn]
    assert divisions and all(r["OBNumber"] == f"NL{with_bsn[r['Customer']]}B01" for r in divisions)


def test_legal_forms_and_holding_pairs(data: SandboxData) -> None:
    names = [a["Name"] for a in office_table(data, ACCOUNTS)]
    for marker in (" B.V.", "V.O.F.", "Stichting ", "Maatschap "):
        assert any(marker in name for name in names), marker
    accounts = office_table(data, ACCOUNTS)
    pairs = 0
    for holding in (a for a in accounts if " Holding B.V." in a["Name"] or " Beheer B.V." in a["Name"]):
        family = holding["Name"].rsplit(" ", 2)[0].split(". ")[-1]
        siblings = [a for a in accounts if a is not holding and family in a["Name"] and a["Name"].endswith("B.V.")]
        for sibling in siblings:
            assert sibling["ChamberOfCommerce"] != holding["ChamberOfCommerce"]
            assert sibling["RSIN"] is None or sibling["RSIN"] != holding["RSIN"]
        pairs += bool(siblings)
    assert pairs >= 3


# ---- client administrations ----------------------------------------------------------------------


def test_client_divisions_and_their_owner_accounts(data: SandboxData) -> None:
    accounts = {a["ID"]: a for a in office_table(data, ACCOUNTS)}
    by_kvk = {a["ChamberOfCommerce"]: a for a in accounts.values() if a["ChamberOfCommerce"]}
    divisions = [d.record for d in client_divisions(data)]
    assert 180 <= len(divisions) <= 195  # about 5 % of the clients have no administration in Exact
    owned = [r for r in divisions if r["Customer"]]
    assert 0.75 < len(owned) / len(divisions) < 0.95
    for record in owned:
        owner = accounts[record["Customer"]]
        assert record["CustomerCode"] == owner["Code"] and record["CustomerName"] == owner["Name"]
    for record in divisions:
        if not record["Customer"]:
            assert record["ChamberOfCommerceNumber"] in by_kvk  # evidence for a link suggestion
    assert Counter(r["Status"] for r in divisions)[2] >= 5
    assert all(r["ArchiveDate"] for r in divisions if r["Status"] == 2)
    assert any(r["BlockingStatus"] == 1 for r in divisions)
    assert 2 <= len(data.unconsented_divisions) <= 10
    assert data.unconsented_divisions <= set(data.divisions) - {data.office_division}


def test_users_admin_sees_everything_colleague_not_the_office(data: SandboxData) -> None:
    admin, colleague = data.users
    assert admin.username == ADMIN_USERNAME and admin.password == "sandbox" and admin.is_admin
    assert set(admin.divisions) == set(data.divisions) and admin.current_division == data.office_division
    assert not colleague.is_admin and data.office_division not in colleague.divisions
    assert 1 <= len(colleague.divisions) <= 5 and colleague.current_division in colleague.divisions
    assert not set(colleague.divisions) & data.unconsented_divisions
    assert GUID.fullmatch(admin.user_id) and admin.user_id != colleague.user_id


def test_solution_links_point_at_real_divisions_and_accounts(data: SandboxData) -> None:
    links = office_table(data, SOLUTION_LINKS)
    account_ids = {a["ID"] for a in office_table(data, ACCOUNTS)}
    internal = [link for link in links if link["SolutionType"] == 0]
    assert 15 <= len(internal) <= 25
    for link in internal:
        assert link["InternalSolutionDivision"] in data.divisions and link["Account"] in account_ids
        assert link["Status"] == 0 and link["Name"] and link["Division"] == data.office_division
    linked = {link["InternalSolutionDivision"] for link in internal}
    assert len(linked) == len(internal)


def test_returns_cover_types_statuses_and_the_window(data: SandboxData) -> None:
    returns = client_records(data, RETURNS)
    assert {r["Type"] for r in returns} == {31, 32, 146}
    statuses = Counter(r["Status"] for r in returns)
    assert set(statuses) == set(RETURN_STATUSES)
    assert statuses[40] / len(returns) > 0.15
    midnight = datetime.combine(data.today, datetime.min.time(), UTC)
    ages = [(midnight - r["Created"]).days for r in returns]
    assert all(0 <= age < 90 for age in ages)
    assert sum(age < 30 for age in ages) > 50 and sum(age >= 30 for age in ages) > 50
    frequencies = Counter(r["Frequency"] for r in returns)
    assert {"M", "Q"} <= set(frequencies) and sum(frequencies[f] for f in "MQY") / len(returns) > 0.9
    assert any(r["Amount"] < 0 for r in returns) and any(r["Amount"] > 0 for r in returns)
    assert any(r["DueDate"] is None for r in returns)
    for r in returns:
        assert GUID.fullmatch(r["DocumentID"]) and GUID.fullmatch(r["Request"]) and r["Currency"] == "EUR"
        assert (r["PayrollDeclarationType"] is not None) == (r["Type"] == 146)
        assert re.fullmatch(r"(Kwartaal [1-4]|[A-Z][a-z]+|Jaar) \d{4}", r["PeriodDescription"])
        assert r["DocumentViewUrl"].startswith("https://") and r["DocumentID"] in r["DocumentViewUrl"]
        if r["DueDate"] is not None and r["Description"] == "Aangifte omzetbelasting" and r["Frequency"] == "Q":
            assert r["DueDate"].day in (30, 31) and r["DueDate"].month % 3 == 1
    suppleties = [
        r for r in returns if SUPPLETIE_DESCRIPTION in r["Description"] and SUPPLETIE_DESCRIPTION in r["Subject"]
    ]
    assert suppleties and all(r["Type"] == 31 for r in suppleties)
    assert {"Loonaangifte", "Correctiebericht"} >= {r["PayrollDeclarationType"] for r in returns if r["Type"] == 146}
    assert all(not d.tables[RETURNS] for d in client_divisions(data) if d.record["Status"] == 2)


def test_chart_of_accounts_and_vraagposten_lines(data: SandboxData) -> None:
    variants = Counter()
    open_lines = cleared_pairs = 0
    for division in client_divisions(data):
        accounts = list(division.tables[GL_ACCOUNTS].values())
        codes = {a["Code"] for a in accounts}
        assert {"1000", "1100", "1300", "1600", "1800", "8000"} <= codes
        assert all(a["BalanceType"] in ("B", "W") for a in accounts)
        suspense = [a for a in accounts if "vraagpost" in a["Description"].lower()]
        lines = list(division.tables[TRANSACTION_LINES].values())
        if not suspense:
            assert not lines
            continue
        (account,) = suspense
        variants[(account["Code"], account["Description"])] += 1
        for line in lines:
            assert line["GLAccount"] == account["ID"] and line["GLAccountCode"] == account["Code"]
            assert line["GLAccountDescription"] == account["Description"] and line["Division"] == division.code
            assert line["Status"] in (20, 50) and line["FinancialYear"] == line["Date"].year
        amounts = Counter(line["AmountDC"] for line in lines)
        for amount, count in amounts.items():
            if amount > 0 and amounts.get(-amount):
                cleared_pairs += 1
            elif not amounts.get(-amount):
                open_lines += count
    assert variants[("2300", "Vraagposten")] > 100
    assert len(variants) >= 3  # other codes (2100, 9100) and "Tussenrekening vraagposten"
    assert cleared_pairs > 20 and open_lines > 20


def test_all_dates_are_aware_utc(data: SandboxData) -> None:
    for division in data.divisions.values():
        records = [division.record] + [r for table in division.tables.values() for r in table.values()]
        for record in records:
            for value in record.values():
                if isinstance(value, datetime):
                    assert value.utcoffset() == timedelta(0)


# ---- the CRM export and the ground truth ---------------------------------------------------------


def test_ground_truth_is_consistent(data: SandboxData) -> None:
    codes = {a["Code"].strip() for a in office_table(data, ACCOUNTS)}
    assert [number for number, _ in data.ground_truth] == [row["relatienummer"] for row in data.crm_rows]
    linked = [code for _, code in data.ground_truth if code is not None]
    assert set(linked) <= codes
    assert len(set(linked)) == len(linked)
    numbers = [number for number, _ in data.ground_truth]
    assert len(set(numbers)) == len(numbers)
    not_in_exact = [number for number, code in data.ground_truth if code is None]
    assert len(not_in_exact) == 10 and not set(not_in_exact) & codes
    differing = [number for number, code in data.ground_truth if code is not None and code != number]
    assert 8 <= len(differing) <= 24  # "numbers must match" would miss these
    assert len(codes - set(linked)) == 20  # accounts that are not in the CRM


def test_crm_rows_carry_the_mess_at_the_expected_rates(data: SandboxData) -> None:
    rows = data.crm_rows
    total = len(rows)
    assert all(tuple(row) == CRM_EXPORT_COLUMNS for row in rows)
    accounts = {a["Code"].strip(): a for a in office_table(data, ACCOUNTS)}
    truth = dict(data.ground_truth)

    fiscal = [digits(row["rsin"] or row["bsn"]) for row in rows]
    broken_fiscal = [f for f in fiscal if f and not is_fiscal_number(f)]
    assert len(broken_fiscal) == round(0.01 * total)
    assert all(len(f) == 9 for f in broken_fiscal)  # one wrong digit, not a wrong length
    no_fiscal_but_ob = [
        row
        for row in rows
        if not row["rsin"]
        and not row["bsn"]
        and re.fullmatch(r"(?i)nl\d{9}b01", digits(row["btw-nummer"]))
        and is_fiscal_number(digits(row["btw-nummer"])[2:11])
    ]
    assert len(no_fiscal_but_ob) >= round(0.03 * total) - 1
    assert sum(1 for row in rows if not row["rsin"] and not row["bsn"]) >= round(0.06 * total) - 2

    bad_kvk = 0
    for row in rows:
        code = truth[row["relatienummer"]]
        if code is None or not row["kvk-nummer"]:
            continue
        if digits(row["kvk-nummer"]) != accounts[code]["ChamberOfCommerce"]:
            bad_kvk += 1
    assert bad_kvk == round(0.02 * total)

    for row in rows:
        code = truth[row["relatienummer"]]
        if code is not None and accounts[code]["BSN"]:
            assert not row["rsin"]  # an eenmanszaak has the owner's BSN, never an RSIN
    assert any(row["rsin"] and "." in row["rsin"] for row in rows)
    assert any(row["btw-nummer"] and row["btw-nummer"] != row["btw-nummer"].upper() for row in rows)
    assert any(re.fullmatch(r"\d{4}[A-Za-z]{2}", row["bezoekadres postcode"]) for row in rows)
    assert {"B.V.", "BV"} <= {row["rechtsvorm"] for row in rows}
    renamed = [
        row
        for row in rows
        if truth[row["relatienummer"]] and row["naam"] != accounts[truth[row["relatienummer"]]]["Name"]
    ]
    assert 0.1 < len(renamed) / total < 0.5
    assert any(" | " in row["iban"] for row in rows) and any(" " in row["iban"].split(" | ")[0] for row in rows)
    for row in rows:
        for iban in row["iban"].split(" | "):
            assert stdnum_iban.is_valid(iban)
        for contact in filter(None, row["contactpersonen"].split(" | ")):
            assert re.fullmatch(r"[^<>|]+( <[^<>@ ]+@[^<> ]+>)?", contact)


def test_crm_contacts_overlap_partly_with_exact(data: SandboxData) -> None:
    exact_names = {c["FullName"] for c in office_table(data, CONTACTS)}
    crm_names = [
        contact.split(" <")[0] for row in data.crm_rows for contact in filter(None, row["contactpersonen"].split(" | "))
    ]
    both = sum(name in exact_names for name in crm_names)
    assert 0.5 < both / len(crm_names) < 0.98


def test_csv_files_use_bom_semicolons_and_the_exact_header(data: SandboxData, tmp_path: Path) -> None:
    export, truth = tmp_path / "crm.csv", tmp_path / "truth.csv"
    write_crm_export(data, export)
    write_ground_truth(data, truth)
    raw = export.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw[3:].split(b"\r\n", 1)[0].decode() == ";".join(CRM_EXPORT_COLUMNS)
    with export.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.DictReader(handle, delimiter=";")) == data.crm_rows
    with truth.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ["relatienummer", "account_code"]
    assert rows[1:] == [[number, code or ""] for number, code in data.ground_truth]
