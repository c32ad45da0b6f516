"""`match review`, `match link` (by code, padded code, name; one-to-one; --force), `match unlink` and
`match link --csv`, end to end against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import database_rows, run_cli
from tests.match.conftest import Office, WriteFile, import_crm, query

# Accounts created in Exact and CRM relations without identifiers that resemble them: names can only suggest.
NEW_ACCOUNTS = (
    ("880001", "Bakkerij Zonnebloem", "Dorpsstraat 5", "1234 AB", "Ergenshuizen"),
    ("880002", "Garage Ten Brink", "Industrieweg 12", "7001 XY", "Doetinchem"),
    ("880003", "Kapsalon Mooi", "Markt 7", "9711 AA", "Groningen"),
)
CRM_ROWS = (
    "relatienummer;naam;bezoekadres;bezoekadres postcode;bezoekadres plaats\n"
    "9001;Bakkerij Zonnebloem B.V.;Dorpsstraat 5;1234AB;Ergenshuizen\n"
    "9002;Autobedrijf Garage Ten Brink;Industrieweg 12;7001 XY;Doetinchem\n"
    "9003;Kapsalon Mooi;Stationsplein 1;8011 CW;Zwolle\n"
)


@pytest.fixture
def suggestions(office: Office, tmp_path: Path) -> Office:
    """The office with three name-only look-alikes added on both sides, after `match`."""
    for code, name, street, postcode, city in NEW_ACCOUNTS:
        office.sandbox.create(
            office.division,
            "crm/Accounts",
            Code=code,
            Name=name,
            AddressLine1=street,
            Postcode=postcode,
            City=city,
            Status="C",
        )
    path = tmp_path / "lookalikes.csv"
    path.write_text(CRM_ROWS, encoding="utf-8")
    import_crm(path)
    rows = {row["relation"]: row for row in office.match()}
    for number in ("9001", "9002", "9003"):
        assert rows[number]["status"] == "suggested", rows[number]
    return office


def _rows() -> dict[str, dict[str, Any]]:
    result = run_cli("match", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["relation"]: row for row in json.loads(result.stdout)}


def _link(number: str) -> tuple[Any, ...] | None:
    rows = query("SELECT account_code, method, linked_by FROM links WHERE relation_number = ?", (number,))
    return rows[0] if rows else None


# --------------------------------------------------------------------------------------------------
# review


def test_review_without_a_terminal_refuses_with_a_hint(suggestions: Office) -> None:
    result = run_cli("match", "review")
    assert result.exit_code == 2
    assert "not a terminal" in result.stderr and "--accept-all-above" in result.stderr


def test_review_dry_run_asks_the_same_and_writes_nothing(suggestions: Office) -> None:
    before = database_rows()
    trial = run_cli("match", "review", "--stdin", "--dry-run", "--json", input="a\nr\ns\n")
    assert trial.exit_code == 0, trial.stderr
    report = json.loads(trial.stdout)
    assert report["dry_run"] is True
    assert len(report["accepted"]) == len(report["rejected"]) == len(report["skipped"]) == 1
    assert database_rows() == before, "a dry run writes nothing"
    told = run_cli("match", "review", "--stdin", "--dry-run", input="a\n")
    assert "dry run, nothing written: would have accepted 1" in told.stderr


def test_review_accept_reject_skip_persist(suggestions: Office) -> None:
    result = run_cli("match", "review", "--stdin", "--json", input="a\nr\ns\n")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["accepted"]) == len(report["rejected"]) == len(report["skipped"]) == 1
    # The dialogue (on stderr) shows both sides.
    assert "Suggestion 1/3" in result.stderr and "[a]ccept" in result.stderr
    accepted, rejected = report["accepted"][0], report["rejected"][0]
    link = _link(accepted["relation"])
    assert link is not None and link[0] == accepted["account_code"] and link[2] == "suggestion"
    assert query(
        "SELECT m.decision FROM match_decisions m JOIN accounts a ON a.id = m.account_id "
        "WHERE m.relation_number = ? AND a.code = ?",
        (rejected["relation"], rejected["account_code"]),
    ) == [("rejected",)]
    rows = _rows()
    assert rows[accepted["relation"]]["status"] == "linked"
    assert rows[accepted["relation"]]["linked_by"] == "suggestion"
    # A rejected pair is never suggested again.
    again = rows[rejected["relation"]]
    assert not (again["status"] == "suggested" and again["account_code"] == rejected["account_code"])
    skipped = report["skipped"][0]
    assert rows[skipped["relation"]]["status"] == "suggested"


def test_review_shows_masked_identifiers(suggestions: Office, write_file: WriteFile) -> None:
    # Give 9003 a BSN: the dialogue must mask it.
    import_crm(write_file("bsn.csv", "relatienummer;naam;bsn\n9003;Kapsalon Mooi;111222333\n"))
    result = run_cli("match", "review", "--stdin", input="s\ns\ns\n")
    assert result.exit_code == 0, result.stderr
    assert "111222333" not in result.stderr + result.stdout
    assert "*****2333" in result.stderr


def test_review_quit_and_end_of_input_leave_the_rest(suggestions: Office) -> None:
    result = run_cli("match", "review", "--stdin", "--json", input="q\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["remaining"] == 3
    assert query("SELECT count(*) FROM match_decisions") == [(0,)]
    result = run_cli("match", "review", "--stdin", "--json", input="")
    assert json.loads(result.stdout)["remaining"] == 3


def test_review_accept_all_above_takes_only_high_confidence(suggestions: Office) -> None:
    result = run_cli("match", "review", "--accept-all-above", "80", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [row["relation"] for row in report["accepted"]] == ["9001"]  # same postcode and house number
    assert {row["relation"] for row in report["skipped"]} == {"9002", "9003"}
    assert _link("9001") == ("880001", "name+postcode", "suggestion")


# --------------------------------------------------------------------------------------------------
# link / unlink


def test_link_by_code_padded_code_and_name(suggestions: Office) -> None:
    assert run_cli("match", "link", "9001", "880001").exit_code == 0
    padded = "880002".rjust(18)
    result = run_cli("match", "link", "9002", padded, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["account_code"] == "880002"
    result = run_cli("match", "link", "9003", "kapsalon mooi")
    assert result.exit_code == 0, result.stderr
    assert "linked to account 880003" in result.stderr
    assert [_link(n) for n in ("9001", "9002", "9003")] == [
        ("880001", "manual", "manual"),
        ("880002", "manual", "manual"),
        ("880003", "manual", "manual"),
    ]
    rows = _rows()
    assert all(rows[n]["status"] == "linked" and rows[n]["linked_by"] == "manual" for n in ("9001", "9002", "9003"))
    again = run_cli("match", "link", "9001", "880001")
    assert again.exit_code == 0 and "already linked" in again.stderr


def test_ambiguous_name_lists_the_candidates(suggestions: Office) -> None:
    result = run_cli("match", "link", "9001", "Van der")
    assert result.exit_code == 2
    assert "accounts fit 'Van der'" in result.stderr
    assert "1031" in result.stderr and "1016" in result.stderr
    as_json = run_cli("match", "link", "9001", "Van der", "--json")
    assert as_json.exit_code == 2
    candidates = json.loads(as_json.stdout)["candidates"]
    assert {c["account_code"] for c in candidates} >= {"1031", "1016", "1022", "1009"}
    assert _link("9001") is None


def test_unknown_relation_or_account(suggestions: Office) -> None:
    result = run_cli("match", "link", "NOPE", "880001")
    assert result.exit_code == 1 and "not in the local CRM mirror" in result.stderr
    result = run_cli("match", "link", "9001", "999999")
    assert result.exit_code == 1 and "no account" in result.stderr
    assert run_cli("match", "link", "9001").exit_code == 2


def test_one_relation_one_account_and_force(suggestions: Office) -> None:
    assert (_link("1001") or ("",))[0] == "1001"
    result = run_cli("match", "link", "9001", "1001")
    assert result.exit_code == 1
    assert "already linked to relation 1001" in result.stderr
    assert _link("9001") is None
    # A relation that has a link is not silently moved either.
    result = run_cli("match", "link", "1001", "880001")
    assert result.exit_code == 1 and "already linked to account 1001" in result.stderr
    dry = run_cli("match", "link", "9001", "1001", "--force", "--dry-run")
    assert dry.exit_code == 0 and "would be linked" in dry.stderr and "taken from relation 1001" in dry.stderr
    assert _link("9001") is None
    result = run_cli("match", "link", "9001", "1001", "--force")
    assert result.exit_code == 0, result.stderr
    assert _link("9001") == ("1001", "manual", "manual")
    assert _link("1001") is None
    # The old pair is rejected: the next match does not give the account back to relation 1001.
    rows = _rows()
    assert rows["9001"]["status"] == "linked" and rows["1001"]["status"] != "linked"


def test_unlink_rejects_the_pair_for_matching(matched: Office) -> None:
    dry = run_cli("match", "unlink", "1001", "--dry-run", "--json")
    assert json.loads(dry.stdout)["unlinked"] is True and _link("1001") is not None
    result = run_cli("match", "unlink", "1001")
    assert result.exit_code == 0 and "unlinked from account 1001" in result.stderr
    assert _link("1001") is None
    rows = _rows()
    assert rows["1001"]["status"] != "linked"
    assert "rejected earlier" in rows["1001"]["reason"]
    nothing = run_cli("match", "unlink", "1001")
    assert nothing.exit_code == 0 and "was not linked" in nothing.stderr
    # Linking by hand undoes it.
    assert run_cli("match", "link", "1001", "1001").exit_code == 0
    assert _rows()["1001"]["status"] == "linked"


# --------------------------------------------------------------------------------------------------
# bulk


BULK = (
    "relatienummer;account\n"
    "9001;880001\n"
    "9002;            880002\n"
    "9003;Kapsalon Mooi\n"
    "9999;880001\n"
    "1034;1002\n"
    "9001;880003\n"
    "\n"
    "1034;Van der\n"
    "1061;\n"
)


def _bulk_rows(stdout: str) -> dict[int, dict[str, Any]]:
    return {row["row"]: row for row in json.loads(stdout)["rows"]}


def test_bulk_dry_run_prints_the_plan_and_writes_nothing(suggestions: Office, write_file: WriteFile) -> None:
    before = query("SELECT * FROM links ORDER BY 1"), query("SELECT * FROM match_decisions ORDER BY 1")
    result = run_cli("match", "link", "--csv", str(write_file("links.csv", BULK)), "--dry-run", "--json")
    assert result.exit_code == 3
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    rows = _bulk_rows(result.stdout)
    assert [rows[n]["action"] for n in (2, 3, 4)] == ["link", "link", "link"]
    assert (query("SELECT * FROM links ORDER BY 1"), query("SELECT * FROM match_decisions ORDER BY 1")) == before
    table = run_cli("match", "link", "--csv", str(write_file("links.csv", BULK)), "--dry-run")
    assert "dry run, nothing linked" in table.stdout


def test_bulk_links_the_good_rows_and_reports_the_bad_ones(suggestions: Office, write_file: WriteFile) -> None:
    result = run_cli("match", "link", "--csv", str(write_file("links.csv", BULK)), "--json")
    assert result.exit_code == 3
    rows = _bulk_rows(result.stdout)
    assert [rows[n]["ok"] for n in (2, 3, 4)] == [True, True, True]
    assert [rows[n]["action"] for n in (2, 3, 4)] == ["linked", "linked", "linked"]
    assert "not in the local CRM mirror" in rows[5]["error"]
    assert "already linked to relation 1002" in rows[6]["error"]
    assert "also on row 2" in rows[7]["error"]
    assert rows[9]["candidates"] and "accounts fit" in rows[9]["error"]
    assert rows[10]["ok"] is False
    assert 8 not in rows  # the empty line is skipped
    assert [_link(n)[0] for n in ("9001", "9002", "9003")] == ["880001", "880002", "880003"]  # type: ignore[index]
    assert _link("1034") is None
    counts = json.loads(result.stdout)["counts"]
    assert counts == {"rows": 8, "failed": 5, "linked": 3}
    # Re-running is safe: the good rows are unchanged now.
    again = run_cli("match", "link", "--csv", str(write_file("links.csv", BULK)), "--json")
    assert [_bulk_rows(again.stdout)[n]["action"] for n in (2, 3, 4)] == ["unchanged"] * 3


def test_bulk_english_header_and_comma(suggestions: Office, write_file: WriteFile) -> None:
    path = write_file("links.csv", "\ufeffRelation number,Account code\n9001,880001\n9002,880002\n")
    result = run_cli("match", "link", "--csv", str(path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "linked 2" in result.stdout
    assert _link("9002") == ("880002", "manual", "manual")


def test_bulk_without_the_columns_changes_nothing(suggestions: Office, write_file: WriteFile) -> None:
    result = run_cli("match", "link", "--csv", str(write_file("links.csv", "foo;bar\n9001;880001\n")))
    assert result.exit_code == 1
    assert "no relation number" in result.stderr
    assert _link("9001") is None
    both = run_cli("match", "link", "9001", "--csv", str(write_file("x.csv", "relatienummer;account\n")))
    assert both.exit_code == 2
