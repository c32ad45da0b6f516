"""``link-admin`` end to end over real HTTP: every command form, refusals, SolutionLinks never duplicated, bulk CSV."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from exactlink.domain.records import AdministrationLink
from exactlink.sandbox import Evidence
from exactlink.sandbox import model as sandbox_model
from tests.cli import run_cli
from tests.returns.conftest import Office, office_today


def _admin_link(office: Office, relation: str) -> AdministrationLink | None:
    from exactlink.store.links import get_administration_link

    db = office.db()
    try:
        return get_administration_link(db, relation)
    finally:
        db.close()


def _linked_division(office: Office, relation: str) -> int | None:
    link = _admin_link(office, relation)
    return None if link is None else link.division


def _sbr_start(office: Office, relation: str) -> date | None:
    from exactlink.store.relations import get_sbr_start

    db = office.db()
    try:
        return get_sbr_start(db, relation)
    finally:
        db.close()


def test_refused_for_a_relation_not_linked_to_an_exact_account(office: Office) -> None:
    relation, division = office.candidates()[0]

    result = run_cli("link-admin", relation, str(division))

    assert result.exit_code == 1
    assert f"relation {relation} is not linked to an Exact account yet: run `exactlink match` first" in result.stderr
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 0
    assert _admin_link(office, relation) is None


def test_link_records_the_solution_link_and_the_sbr_start_date(office: Office) -> None:
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    before = len(office.solution_links(account_id))

    result = run_cli("link-admin", relation, str(division))

    assert result.exit_code == 0, result.stderr
    assert f"linked relation {relation} to administration {division}" in result.stdout
    assert "all returns of the last 30 days are fetched at once" in result.stderr
    links = office.solution_links(account_id)
    assert len(links) == before + 1
    created = next(link for link in links if link.get("InternalSolutionDivision") == division)
    assert (created["SolutionType"], created["Status"]) == (0, 0)
    stored = _admin_link(office, relation)
    assert stored is not None and stored.division == division and stored.solution_link_id == created["ID"]
    assert _sbr_start(office, relation) == office_today() - timedelta(days=30)


def test_dry_run_writes_nothing(office: Office) -> None:
    relation, division = office.candidates()[0]
    office.link_account(relation)

    result = run_cli("link-admin", relation, str(division), "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "would link" in result.stdout and "would create" in result.stderr
    assert office.sandbox.calls(method="POST") == office.sandbox.calls(method="PUT") == 0
    assert _admin_link(office, relation) is None and _sbr_start(office, relation) is None


def test_division_by_name_and_an_existing_sbr_start_date_is_kept(office: Office) -> None:
    from exactlink.store.relations import set_sbr_start

    relation, division = office.candidates()[1]
    office.link_account(relation)
    chosen = office_today() - timedelta(days=3)
    db = office.db()
    set_sbr_start(db, relation, chosen)
    db.close()
    name = str(office.division_record(division)["Description"])

    result = run_cli("link-admin", "link", relation, name, "--json")

    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert (row["division"], row["status"], row["sbr_start_set"]) == (division, "linked", False)
    assert _sbr_start(office, relation) == chosen


def test_a_rerun_after_a_killed_run_reuses_the_solution_link(office: Office) -> None:
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    assert run_cli("link-admin", relation, str(division)).exit_code == 0
    # A run killed after Exact created the SolutionLink but before the mirror recorded it:
    db = office.db()
    db.conn.execute("DELETE FROM admin_links WHERE relation_number = ?", (relation,))
    db.close()

    again = run_cli("link-admin", relation, str(division), "--json")
    twice = run_cli("link-admin", relation, str(division), "--json")

    assert json.loads(again.stdout)["solution_link"] == "reused"
    assert json.loads(twice.stdout)["status"] == "already_linked"
    internal = [link for link in office.solution_links(account_id) if link.get("InternalSolutionDivision") == division]
    assert len(internal) == 1
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 1


def _only_link(office: Office, account_id: str, **fields: object) -> dict:
    """Replace the account's SolutionLinks in Exact by one with ``fields``."""
    for link in office.solution_links(account_id):
        office.sandbox.delete(office.office_division, sandbox_model.SOLUTION_LINKS, link["ID"])
    return office.sandbox.create(
        office.office_division, sandbox_model.SOLUTION_LINKS, Account=account_id, **{"Status": 0, **fields}
    )


EXTERNAL = {
    "SolutionType": 2,
    "OtherExternalSolutionName": "SnelStart",
    "ExternalSolutionUrl": "https://snelstart.example/x",
}


def test_an_inactive_link_is_left_alone_and_a_new_one_created(office: Office) -> None:
    """Status is read-only in Exact: an inactive link cannot be reactivated, so a new one is created next to it."""
    office.sandbox.evidence = Evidence.strict()
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    old = _only_link(office, account_id, SolutionType=0, InternalSolutionDivision=division, Status=1)

    result = run_cli("link-admin", relation, str(division), "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["solution_link"] == "created"
    links = {link["ID"]: link for link in office.solution_links(account_id)}
    assert links.pop(old["ID"])["Status"] == 1, "the inactive link is kept as it was"
    ((new_id, new),) = links.items()
    assert (new["SolutionType"], new["InternalSolutionDivision"], new["Status"]) == (0, division, 0)
    stored = _admin_link(office, relation)
    assert stored is not None and stored.solution_link_id == new_id
    assert office.sandbox.calls("accountancy/SolutionLinks", method="PUT") == 0


def test_an_external_solution_link_is_refused_without_force(office: Office) -> None:
    office.sandbox.evidence = Evidence.strict()
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id, code = office.account_by_relation[relation]
    external = _only_link(office, account_id, **EXTERNAL)

    dry = run_cli("link-admin", relation, str(division), "--dry-run")
    refused = run_cli("link-admin", relation, str(division))

    for result in (dry, refused):
        assert result.exit_code == 1
        (line,) = [text for text in result.stderr.splitlines() if text.strip()]
        assert f"account {code} has an external SolutionLink (SnelStart, https://snelstart.example/x)" in line
        assert f"`exactlink link-admin {relation} {division} --force`" in line
    assert office.solution_links(account_id) == [external]
    assert office.sandbox.calls(method="PUT") == office.sandbox.calls(method="POST") == 0
    assert _admin_link(office, relation) is None and _sbr_start(office, relation) is None


def test_force_turns_the_external_link_into_an_internal_one(office: Office) -> None:
    office.sandbox.evidence = Evidence.strict()
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    external = _only_link(office, account_id, **EXTERNAL)

    planned = run_cli("link-admin", relation, str(division), "--force", "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    assert "turning an external SolutionLink (SnelStart, https://snelstart.example/x) into an internal" in (
        planned.stdout
    )
    assert office.sandbox.calls(method="PUT") == 0

    forced = run_cli("link-admin", relation, str(division), "--force", "--json")

    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["solution_link"] == "converted"
    (link,) = office.solution_links(account_id)
    assert link["ID"] == external["ID"]
    assert (link["SolutionType"], link["InternalSolutionDivision"], link["Status"]) == (0, division, 0)
    stored = _admin_link(office, relation)
    assert stored is not None and stored.solution_link_id == external["ID"]


def test_bulk_reports_external_links_as_refused(office: Office, tmp_path: Path) -> None:
    pairs = office.candidates()[:2]
    for relation, _ in pairs:
        office.link_account(relation)
    kept_relation = pairs[1][0]
    account_id = office.account_by_relation[kept_relation][0]
    external = _only_link(office, account_id, **EXTERNAL)
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("".join(f"{relation};{division}\n" for relation, division in pairs), encoding="utf-8")

    planned = run_cli("link-admin", "--csv", str(csv_file), "--dry-run", "--json")
    result = run_cli("link-admin", "--csv", str(csv_file), "--json")
    table = run_cli("link-admin", "--csv", str(csv_file))

    for report in (planned, result):
        assert report.exit_code == 3
        rows = {row["relation"]: row for row in json.loads(report.stdout)["rows"]}
        assert rows[kept_relation]["status"] == "refused"
        assert "external SolutionLink (SnelStart" in rows[kept_relation]["message"]
    assert rows[pairs[0][0]]["status"] == "linked"
    assert "1 refused" in table.stderr
    assert office.solution_links(account_id) == [external]
    assert _admin_link(office, kept_relation) is None


def test_an_ignored_solution_link_change_fails_the_row(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exact skips a property it does not accept: made read-only here, the move shows in a read as not done."""
    from exactlink.sandbox import endpoints

    office.sandbox.evidence = Evidence.strict()
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    other = next(code for _, code in office.candidates()[1:] if code != division)
    old = _only_link(office, account_id, SolutionType=0, InternalSolutionDivision=other)
    name = "accountancy/SolutionLinks"
    strict = replace(endpoints.ENDPOINTS[name], read_only_on_write=frozenset({"Status", "InternalSolutionDivision"}))
    monkeypatch.setitem(endpoints.ENDPOINTS, name, strict)
    monkeypatch.setitem(endpoints._BY_FOLDED_SERVICE, ("accountancy", "SolutionLinks"), strict)

    result = run_cli("link-admin", relation, str(division))

    assert result.exit_code == 1
    assert f"Exact ignored the change to InternalSolutionDivision of the SolutionLink {old['ID']}" in result.stderr
    assert office.sandbox.calls("accountancy/SolutionLinks", method="PUT") == 1
    assert _admin_link(office, relation) is None


def test_refusals_name_the_reason(office: Office) -> None:
    relation, division = office.candidates()[0]
    other_relation, other_division = office.candidates()[1]
    office.link_account(relation)
    office.link_account(other_relation)
    archived = next(
        code
        for code, data in office.sandbox.data.divisions.items()
        if data.record.get("Status") == 2 and code != office.office_division
    )
    unconsented = next(iter(office.sandbox.data.unconsented_divisions))

    cases = {
        str(archived): "is archived in Exact Online",
        str(unconsented): "the app was not given consent",
        str(office.office_division): "is the office administration",
        str(other_division): "belongs to account",
    }
    for selector, reason in cases.items():
        result = run_cli("link-admin", relation, selector)
        assert result.exit_code == 1, selector
        assert reason in result.stderr, (selector, result.stderr)
    # An administration the command line names that does not exist is a usage error, as in `tenant select`.
    missing = run_cli("link-admin", relation, "9999999")
    assert missing.exit_code == 2 and "is not among the administrations this login sees" in missing.stderr
    forced = run_cli("link-admin", relation, str(other_division), "--force")
    assert forced.exit_code == 0, forced.stderr
    taken = run_cli("link-admin", other_relation, str(other_division))
    assert taken.exit_code == 1 and f"is already linked to relation {relation}" in taken.stderr
    unknown = run_cli("link-admin", "nope", str(division))
    assert unknown.exit_code == 1 and "relation nope is not in the local CRM mirror" in unknown.stderr
    assert run_cli("link-admin", relation).exit_code == 2
    several = run_cli("link-admin", relation, "B.V.")
    assert several.exit_code == 2 and "'B.V.' matches" in several.stderr
    assert f"select by code, e.g. `exactlink link-admin {relation} " in several.stderr
    nameless = run_cli("link-admin", relation, "no such administration")
    assert nameless.exit_code == 2 and "no administration is called 'no such administration'" in nameless.stderr


def test_bulk_csv_validates_every_row_and_reports_each(office: Office, tmp_path: Path) -> None:
    good = office.candidates()[:3]
    unlinked_relation, unlinked_division = office.candidates()[3]
    for relation, _ in good:
        office.link_account(relation)
    archived = next(
        code
        for code, data in office.sandbox.data.divisions.items()
        if data.record.get("Status") == 2 and code != office.office_division
    )
    spare = next(relation for relation in office.account_by_relation if relation not in dict(office.candidates()))
    office.link_account(spare)
    lines = ["relatienummer;administratie"]
    lines += [f"{relation};{division}" for relation, division in good]
    lines += [
        "99999;1234567",  # unknown relation
        f"{unlinked_relation};{unlinked_division}",  # relation not linked to an account
        f"{spare};{archived}",  # archived administration
        f"{good[2][0]};{good[2][1]}",  # the same row twice
        f"{good[1][0]};",  # no administration
    ]
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")

    planned = run_cli("link-admin", "--csv", str(csv_file), "--dry-run", "--json")
    assert planned.exit_code == 3
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 0
    assert all(_admin_link(office, relation) is None for relation, _ in good)

    result = run_cli("link-admin", "--csv", str(csv_file), "--json")

    assert result.exit_code == 3
    rows = {row["row"]: row for row in json.loads(result.stdout)["rows"]}
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["linked"] * 3
    assert rows[5]["status"] == "invalid" and "not in the local CRM mirror" in rows[5]["message"]
    assert "not linked to an Exact account yet" in rows[6]["message"]
    assert "archived" in rows[7]["message"]
    assert f"relation {good[2][0]} appears twice in the file (row 4 and row 8)" in rows[8]["message"]
    assert rows[9]["status"] == "invalid"
    assert all(_linked_division(office, relation) == division for relation, division in good)
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 3

    rerun = run_cli("link-admin", "--csv", str(csv_file), "--json")
    assert rerun.exit_code == 3
    assert [row["status"] for row in json.loads(rerun.stdout)["rows"][:3]] == ["already_linked"] * 3
    assert office.sandbox.calls("accountancy/SolutionLinks", method="POST") == 3


def test_bulk_csv_row_that_exact_refuses_leaves_the_others_linked(office: Office, tmp_path: Path) -> None:
    pairs = office.candidates()[:3]
    for relation, _ in pairs:
        office.link_account(relation)
    refused_relation, refused_division = pairs[1]
    # The relation's office account was deleted in Exact after `match` linked it: the row is valid locally,
    # and Exact refuses the SolutionLink when it is written.
    account_id = office.account_by_relation[refused_relation][0]
    for link in office.solution_links(account_id):
        office.sandbox.delete(office.office_division, sandbox_model.SOLUTION_LINKS, link["ID"])
    office.sandbox.delete(office.office_division, sandbox_model.ACCOUNTS, account_id)
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("".join(f"{relation},{division}\n" for relation, division in pairs), encoding="utf-8")

    result = run_cli("link-admin", "--csv", str(csv_file), "--json")

    assert result.exit_code == 3
    rows = {row["relation"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows[refused_relation]["status"] == "failed"
    assert rows[refused_relation]["message"].startswith("Exact Online refused the SolutionLink:")
    assert _admin_link(office, refused_relation) is None and _sbr_start(office, refused_relation) is None
    for relation, division in (pairs[0], pairs[2]):
        assert rows[relation]["status"] == "linked"
        assert _linked_division(office, relation) == division
    table = run_cli("link-admin", "--csv", str(csv_file))
    assert table.exit_code == 3 and "1 failed" in table.stderr and "2 already_linked" in table.stderr
    listed = json.loads(run_cli("link-admin", "list", "--json").stdout)
    assert refused_division not in {row["division"] for row in listed}


def test_bulk_csv_of_only_bad_rows_exits_1(office: Office, tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("99998,1\n99999,2\n", encoding="utf-8")

    result = run_cli("link-admin", "--csv", str(csv_file))

    assert result.exit_code == 1
    assert "not in the local CRM mirror" in result.stdout


def test_suggest_proposes_from_owner_and_kvk_and_accept_links_them(office: Office, tmp_path: Path) -> None:
    owned = office.candidates(with_returns=False)[:4]
    unowned = office.candidates(owned=False, with_returns=False)[:2]
    for relation, _ in owned + unowned:
        office.link_account(relation)

    result = run_cli("link-admin", "suggest", "--json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    proposed = {(item["relation"], item["division"]): item for item in report["suggestions"]}
    for pair in owned:
        assert pair in proposed, pair
        assert any("owner account" in text or "SolutionLink" in text for text in proposed[pair]["evidence"])
    for pair in unowned:
        found = proposed.get(pair) or next(
            (item for item in report["ambiguous"] if (item["relation"], item["division"]) == pair), None
        )
        assert found is not None, pair
        assert any("KvK" in text or "VAT" in text or "RSIN" in text for text in found["evidence"])

    out = tmp_path / "suggested.csv"
    written = run_cli("link-admin", "suggest", "--csv-out", str(out))
    assert written.exit_code == 0 and out.read_text(encoding="utf-8-sig").startswith("relatienummer;administratie")
    accepted = run_cli("link-admin", "--csv", str(out), "--json")
    assert accepted.exit_code == 0, accepted.stdout
    for relation, division in owned:
        assert _linked_division(office, relation) == division
    again = run_cli("link-admin", "suggest", "--accept", "--json")
    assert again.exit_code == 0


def test_list_unlink_and_relink(office: Office) -> None:
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    assert run_cli("link-admin", relation, str(division)).exit_code == 0

    listed = json.loads(run_cli("link-admin", "list", "--json").stdout)
    assert [(row["relation"], row["division"]) for row in listed] == [(relation, division)]
    assert run_cli("link-admin", "list").exit_code == 0

    dry = run_cli("link-admin", "unlink", relation, "--dry-run")
    assert dry.exit_code == 0 and "would be deleted in Exact Online" in dry.stderr
    assert _admin_link(office, relation) is not None
    assert office.sandbox.calls("accountancy/SolutionLinks", method="DELETE") == 0
    unlinked = run_cli("link-admin", "unlink", relation)
    assert unlinked.exit_code == 0, unlinked.stderr
    assert "is deleted in Exact Online" in unlinked.stderr
    assert _admin_link(office, relation) is None
    assert [row for row in office.solution_links(account_id) if row.get("InternalSolutionDivision") == division] == []
    assert office.sandbox.calls("accountancy/SolutionLinks", method="PUT") == 0
    assert run_cli("link-admin", "unlink", relation).exit_code == 1

    relinked = run_cli("link-admin", relation, str(division), "--json")
    assert json.loads(relinked.stdout)["solution_link"] == "created"
    (link,) = [row for row in office.solution_links(account_id) if row.get("InternalSolutionDivision") == division]
    assert link["Status"] == 0


def test_unlink_deletes_the_link_where_a_put_of_status_is_ignored(office: Office) -> None:
    """Against the strict evidence (a PUT of Status is skipped silently) a read after unlink shows the link gone."""
    office.sandbox.evidence = Evidence.strict()
    relation, division = office.candidates()[0]
    office.link_account(relation)
    account_id = office.account_by_relation[relation][0]
    assert run_cli("link-admin", relation, str(division)).exit_code == 0
    office.sandbox.reset_counters()

    result = run_cli("link-admin", "unlink", relation, "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] is True
    assert office.sandbox.calls("accountancy/SolutionLinks", method="DELETE") == 1
    assert office.sandbox.calls("accountancy/SolutionLinks", method="PUT") == 0
    calls = [(e.method, e.endpoint) for e in office.sandbox.request_log if e.endpoint == "accountancy/SolutionLinks"]
    assert calls[-2:] == [("DELETE", "accountancy/SolutionLinks"), ("GET", "accountancy/SolutionLinks")]
    assert all(row.get("InternalSolutionDivision") != division for row in office.solution_links(account_id))
    relinked = run_cli("link-admin", relation, str(division), "--json")
    assert relinked.exit_code == 0 and json.loads(relinked.stdout)["solution_link"] == "created"


def test_help_forms() -> None:
    for args in (("link-admin", "--help"), ("link-admin", "link", "--help"), ("link-admin", "suggest", "--help")):
        result = run_cli(*args)
        assert result.exit_code == 0
        assert "Usage" in result.stdout
