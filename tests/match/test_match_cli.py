"""`exactlink match` end to end over real HTTP against the sandbox: statuses vs ground truth, API economy,
changes and deletions made in Exact, JSON shape, "numbers must match", faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exactlink.sandbox import Faults
from tests.cli import run_cli
from tests.match.conftest import Office, import_crm, login_and_choose_office, query
from tests.templates import fresh_minute

SYNC_ENDPOINTS = ("sync/CRM/Accounts", "sync/CRM/Addresses", "sync/CRM/Contacts", "crm/BankAccounts", "sync/Deleted")
JSON_KEYS = {"relation", "name", "account_code", "account_id", "status", "method", "reason", "score"}


def test_match_links_on_identifiers_and_agrees_with_the_ground_truth(office: Office) -> None:
    rows = office.match()
    truth = office.truth
    assert [row["relation"] for row in rows] == sorted(truth)
    statuses = {row["status"] for row in rows}
    assert statuses <= {"linked", "suggested", "conflict", "unmatched"}
    linked = [row for row in rows if row["status"] == "linked"]
    # Every automatic link is right (a wrong one would show a client's returns to another).
    assert linked and all(truth[row["relation"]] == row["account_code"] for row in linked)
    assert all(row["new_link"] and row["linked_by"] == "auto" and row["method"] for row in linked)
    # Nearly every relation that exists in Exact is linked or suggested correctly.
    in_exact = [number for number, code in truth.items() if code]
    found = [
        row
        for row in rows
        if row["status"] in ("linked", "suggested") and truth[row["relation"]] == row["account_code"]
    ]
    assert len(found) >= 0.9 * len(in_exact)
    # Relations that are not in Exact are never linked, and say why.
    for row in rows:
        if truth[row["relation"]] is None:
            assert row["status"] != "linked"
            if row["status"] == "unmatched":
                assert row["reason"] and row["account_code"] is None
    stored = query("SELECT relation_number, account_code, linked_by FROM links ORDER BY relation_number")
    assert stored == [(row["relation"], row["account_code"], "auto") for row in linked]


def test_json_has_one_object_per_relation_with_the_documented_keys(office: Office) -> None:
    rows = office.match("--dry-run")
    assert rows and all(set(row) >= JSON_KEYS for row in rows)
    assert all(isinstance(row["reason"], str) for row in rows)
    # A dry run links nothing.
    assert query("SELECT count(*) FROM links") == [(0,)]
    assert any(row["new_link"] for row in rows)


def test_terminal_report_has_the_counts_and_the_details(office: Office) -> None:
    result = run_cli("match")
    assert result.exit_code == 0, result.stderr
    assert "Summary" in result.stdout and "linked now" in result.stdout
    assert "same RSIN/BSN" in result.stdout
    again = run_cli("match")
    assert "linked now" in again.stdout and "(new)" not in again.stdout


def test_second_run_fetches_only_changes_one_call_per_entity(office: Office) -> None:
    first = office.match()
    for endpoint in SYNC_ENDPOINTS:
        assert office.sandbox.calls(endpoint=endpoint) == 1  # 40 clients fit in one page each
    office.sandbox.reset_counters()
    second = office.match()
    for endpoint in SYNC_ENDPOINTS:
        assert office.sandbox.calls(endpoint=endpoint) == 1, endpoint
    # One more: the filtered system/Divisions read that checks the administration was not moved.
    assert office.sandbox.calls(endpoint="system/Divisions") == 1
    assert office.sandbox.calls() == len(SYNC_ENDPOINTS) + 1
    # Same outcome; what was linked the first time is now reported as an existing link.
    assert [(r["relation"], r["status"], r["account_code"]) for r in first] == [
        (r["relation"], r["status"], r["account_code"]) for r in second
    ]
    assert not any(row["new_link"] for row in second)
    assert all(row["reason"].startswith("linked automatically earlier") for row in second if row["status"] == "linked")


def test_a_change_and_a_deletion_in_exact_reach_the_mirror(office: Office) -> None:
    first = {row["relation"]: row for row in office.match()}
    linked = sorted(number for number, row in first.items() if row["status"] == "linked")
    renamed, deleted = office.account_by_code(linked[0]), office.account_by_code(linked[1])
    office.sandbox.mutate(office.division, "crm/Accounts", renamed["ID"], Name="Nieuwe Naam Holding B.V.")
    office.sandbox.delete(office.division, "crm/Accounts", deleted["ID"])
    office.sandbox.reset_counters()
    result = run_cli("match", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["relation"]: row for row in json.loads(result.stdout)}
    assert query("SELECT name FROM accounts WHERE id = ?", (renamed["ID"],)) == [("Nieuwe Naam Holding B.V.",)]
    assert query("SELECT count(*) FROM accounts WHERE id = ?", (deleted["ID"],)) == [(0,)]
    assert query("SELECT count(*) FROM account_addresses WHERE account_id = ?", (deleted["ID"],)) == [(0,)]
    # The relation whose account was deleted keeps its link, reported as gone: the office decides what it means.
    assert rows[linked[1]]["status"] == "linked" and rows[linked[1]]["account_gone"] is True
    assert rows[linked[1]]["reason"].startswith("account gone in Exact Online")
    assert query("SELECT count(*) FROM links WHERE relation_number = ?", (linked[1],)) == [(1,)]
    # The renamed account is still linked: the RSIN decided, not the name.
    assert rows[linked[0]]["status"] == "linked"
    assert office.sandbox.calls(endpoint="sync/Deleted") == 1
    assert office.sandbox.calls(endpoint="sync/CRM/Accounts") == 1


def test_a_deleted_account_warns_on_the_terminal(office: Office) -> None:
    first = {row["relation"]: row for row in office.match()}
    number = next(n for n, row in sorted(first.items()) if row["status"] == "linked")
    office.sandbox.delete(office.division, "crm/Accounts", office.account_by_code(first[number]["account_code"])["ID"])
    result = run_cli("match")
    assert result.exit_code == 0, result.stderr
    assert f"relation {number}: account {first[number]['account_code']} gone in Exact Online (link kept)" in (
        result.stderr
    )
    assert "1 account no longer in Exact: removed from the mirror" in result.stdout
    status = run_cli("status")
    assert f"account gone in Exact: 1 linked relation(s) ({number})" in status.stdout


def _whole_db() -> dict[str, list[tuple[Any, ...]]]:
    tables = [row[0] for row in query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {table: sorted(query(f"SELECT * FROM {table}"), key=repr) for table in tables}


def test_a_dry_run_reads_exact_but_writes_nothing_locally(office: Office) -> None:
    first = {row["relation"]: row for row in office.match()}
    number = next(n for n, row in sorted(first.items()) if row["status"] == "linked")
    account_id = office.account_by_code(first[number]["account_code"])["ID"]
    office.sandbox.delete(office.division, "crm/Accounts", account_id)
    before = _whole_db()
    dry = run_cli("match", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"relation {number}: account" in dry.stderr, "the report shows what Exact's deletion does..."
    assert "read from Exact Online (dry run: not kept)" in dry.stdout
    assert _whole_db() == before, "...but neither the link nor the local copy of the accounts changes"
    assert query("SELECT count(*) FROM accounts WHERE id = ?", (account_id.lower(),)) == [(1,)]
    real = run_cli("match")
    assert f"relation {number}: account" in real.stderr and "gone in Exact Online (link kept)" in real.stderr
    assert query("SELECT count(*) FROM links WHERE relation_number = ?", (number,)) == [(1,)]
    assert query("SELECT count(*) FROM accounts WHERE id = ?", (account_id.lower(),)) == [(0,)]


def _number_only_relation(office: Office, tmp_path: Path) -> str:
    """Import one relation with no identifiers whose number equals an unlinked account's code."""
    account = office.sandbox.create(
        office.division, "crm/Accounts", Code="777001", Name="Zonder Nummers Adviesbureau", Status="C"
    )
    assert account["Code"].strip() == "777001"
    path = tmp_path / "extra.csv"
    path.write_text("relatienummer;naam\n777001;Zonder Nummers Adviesbureau\n", encoding="utf-8")
    import_crm(path)
    return "777001"


def test_numbers_must_match_links_on_the_relation_number(office: Office, tmp_path: Path) -> None:
    number = _number_only_relation(office, tmp_path)
    rows = {row["relation"]: row for row in office.match("--dry-run")}
    assert rows[number]["status"] != "linked"
    assert "no RSIN/BSN in the CRM" in rows[number]["reason"] or rows[number]["status"] == "suggested"


def test_numbers_must_match_setting_on(office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    number = _number_only_relation(office, tmp_path)
    monkeypatch.setenv("EXACTLINK_SYNC__NUMBERS_MUST_MATCH", "true")
    rows = {row["relation"]: row for row in office.match()}
    assert rows[number]["status"] == "linked"
    assert rows[number]["method"] == "relation number" and rows[number]["account_code"] == number


def test_match_needs_an_office_and_a_login(tmp_path: Path) -> None:
    result = run_cli("match")
    assert result.exit_code != 0
    assert "office administration" in result.stderr or "login" in result.stderr


def _snapshot() -> dict[str, list[tuple[object, ...]]]:
    return {
        "links": query("SELECT relation_number, account_id, account_code, method, linked_by FROM links ORDER BY 1"),
        "accounts": query("SELECT id, code, name, rsin, bsn, chamber_of_commerce, timestamp FROM accounts ORDER BY 1"),
        "addresses": query("SELECT id, account_id, type, postcode FROM account_addresses ORDER BY 1"),
        "contacts": query("SELECT id, account_id, full_name FROM account_contacts ORDER BY 1"),
        "bank": query("SELECT id, account_id, bank_account FROM account_bank_accounts ORDER BY 1"),
        "cursors": query("SELECT entity, timestamp FROM sync_cursors ORDER BY 1"),
    }


def test_faults_end_with_the_same_database_as_a_clean_run(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_rows = office.match()
    clean = _snapshot()
    # A second home, the same Exact: this time with 5 % server errors and a 429 burst.
    second_home = tmp_path / "second-home"
    monkeypatch.setenv("EXACTLINK_HOME", str(second_home))
    login_and_choose_office(office.sandbox, monkeypatch, office.env)
    import_crm(office.crm_file)
    fresh_minute(office.sandbox)
    office.sandbox.faults = Faults(error_rate=0.05, burst_429=3, seed=11)
    office.sandbox.reset_counters()
    faulty_rows = office.match()
    assert office.sandbox.calls() > len(SYNC_ENDPOINTS)  # the faults did happen
    office.sandbox.faults = Faults()
    assert [(r["relation"], r["status"], r["account_code"]) for r in faulty_rows] == [
        (r["relation"], r["status"], r["account_code"]) for r in clean_rows
    ]
    faulty = _snapshot()
    assert faulty == clean


def test_unmatched_reasons_speak_the_faq(office: Office, tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "relatienummer;naam;bsn;rsin;kvk-nummer\n"
        "8001;Zzyzx Onbekend;;;\n"
        "8002;Qwerty Nergens;111222334;;\n"
        "8003;Plofkip Nowhere;;;12345678\n",
        encoding="utf-8",
    )
    import_crm(path)
    rows = {row["relation"]: row for row in office.match()}
    assert rows["8001"]["status"] == "unmatched" and "no RSIN/BSN in the CRM" in rows["8001"]["reason"]
    assert rows["8002"]["status"] == "unmatched" and "BSN fails the 11-proef" in rows["8002"]["reason"]
    assert "no account with this KvK number" in rows["8003"]["reason"]
    assert "111222334" not in json.dumps(rows)
