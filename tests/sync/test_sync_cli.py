"""`exactlink sync` end to end over real HTTP against the sandbox: import → match → sync, both directions."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from exactlink.exitcodes import ExitCode
from exactlink.paths import get_paths
from exactlink.sandbox import Faults
from tests.cli import new_workspace, run_cli, set_workspace
from tests.match.conftest import start_office
from tests.sync.conftest import Killed, RecordingTransport, SyncOffice, query, start_sync_office
from tests.templates import fresh_minute

CRM_TABLES = {
    "relations": "relation_number, name, kvk, rsin, bsn, vat_number, phone, website",
    "addresses": "relation_number, type, street, postcode, city, country",
    "contacts": "relation_number, full_name, first_name, middle_name, last_name, email, phone",
    "bank_accounts": "relation_number, iban",
    "links": "relation_number, account_id, account_code",
}


def crm_state() -> dict[str, list[tuple[Any, ...]]]:
    """The CRM mirror's synchronised content (no timestamps, no Exact ids)."""
    return {table: query(f"SELECT {columns} FROM {table} ORDER BY {columns}") for table, columns in CRM_TABLES.items()}


def whole_db() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (for "writes nothing")."""
    tables = [row[0] for row in query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {table: sorted(query(f"SELECT * FROM {table}"), key=repr) for table in tables}


def edit_crm_file(path: Path, relation: str, **cells: str) -> None:
    """Change cells (Dutch header names, ``_`` for spaces) of one relation in the generator's CRM export."""
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    header = list(rows[0])
    for row in rows:
        if row["relatienummer"] == relation:
            for name, value in cells.items():
                row[name.replace("_", " ")] = value
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, delimiter=";")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")


def import_crm(path: Path, *args: str) -> dict[str, Any]:
    result = run_cli("crm", "import", str(path), "--json", *args)
    assert result.exit_code in (0, 3), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def relation_with(synced: SyncOffice, table: str, type_code: int | None = None) -> str:
    """A linked relation whose account has at least one ``table`` row (of Exact ``Type`` ``type_code``)."""
    for relation in synced.linked:
        rows = synced.children(table, relation)
        if any(type_code is None or row.get("Type") == type_code for row in rows):
            return relation
    raise AssertionError(f"no linked relation with {table} {type_code}")


# ---------------------------------------------------------------------------------------------------
# Inbound


def test_inbound_follows_changes_and_deletions_made_in_exact(synced: SyncOffice) -> None:
    first = synced.sync()
    assert first["direction"] == "inbound" and first["counts"]["relations"] == len(synced.linked)
    assert synced.sync()["counts"]["fields"] == 0, "a second run finds nothing to do"

    changed = relation_with(synced, "crm/Addresses", 2)
    account = synced.account_of(changed)
    synced.sandbox.mutate(synced.division, "crm/Accounts", account["ID"], Phone="010-9998877", Website="nieuw.nl")
    (postal,) = [row for row in synced.children("crm/Addresses", changed) if row["Type"] == 2][:1]
    synced.sandbox.delete(synced.division, "crm/Addresses", postal["ID"])
    gone = next(relation for relation in synced.linked if relation != changed)
    synced.sandbox.delete(synced.division, "crm/Accounts", synced.account_of(gone)["ID"])

    report = synced.sync()
    (result,) = [row for row in report["relations"] if row["relation"] == changed]
    fields = {change["field"]: change for change in result["changes"]}
    assert fields["phone"]["exact_value"] == "010-9998877" and fields["phone"]["direction"] == "inbound"
    assert fields["website"]["exact_value"] == "nieuw.nl"
    assert fields["postal_address"]["exact_value"] is None
    assert query("SELECT phone, website FROM relations WHERE relation_number = ?", (changed,)) == [
        ("010-9998877", "nieuw.nl")
    ]
    assert query("SELECT count(*) FROM addresses WHERE relation_number = ? AND type = 'postal'", (changed,)) == [(0,)]
    assert report["account_gone"] == [gone]
    assert "1 account no longer in Exact: removed from the mirror" in report["removed"]
    assert query("SELECT count(*) FROM links WHERE relation_number = ?", (gone,)) == [(1,)], "the link is kept"
    (skipped,) = [row for row in report["relations"] if row["relation"] == gone]
    assert skipped["status"] == "skipped" and skipped["error"].startswith("account gone in Exact Online")
    assert synced.writes() == [], "inbound never writes to Exact"
    assert report["counts"]["refresh_calls"] == 6, "five entities and the division-move check"


def test_inbound_fixes_a_flagged_value_and_its_flag(synced: SyncOffice) -> None:
    relation = next(r for r in synced.linked if synced.account_of(r)["ChamberOfCommerce"])
    edit_crm_file(synced.office.crm_file, relation, **{"kvk-nummer": "1234567"})
    import_crm(synced.office.crm_file)
    assert "kvk-nummer" in query("SELECT issues FROM relations WHERE relation_number = ?", (relation,))[0][0]
    synced.sync()
    kvk, issues = query("SELECT kvk, issues FROM relations WHERE relation_number = ?", (relation,))[0]
    assert kvk == synced.account_of(relation)["ChamberOfCommerce"]
    assert "kvk-nummer" not in issues


def test_dry_run_shows_the_field_diff_and_writes_nothing(synced: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    from exactlink.cli import sync_render

    relation = synced.linked[0]
    account = synced.account_of(relation)
    synced.sandbox.mutate(synced.division, "crm/Accounts", account["ID"], Phone="010-1112233")
    synced.sandbox.delete(synced.division, "crm/Accounts", synced.account_of(synced.linked[1])["ID"])
    before = whole_db()
    report = synced.sync("--dry-run")
    assert report["dry_run"] is True
    change = next(c for row in report["relations"] if row["relation"] == relation for c in row["changes"])
    assert set(change) >= {"relation", "field", "crm_value", "exact_value", "direction"}
    assert report["account_gone"] == [synced.linked[1]], "the deletion is shown..."
    assert whole_db() == before, "...but nothing is written, not even the copy of Exact"
    outbound = synced.sync("--dry-run", "--direction", "outbound")
    assert outbound["counts"]["write_calls"] > 0, "the planned writes are counted"
    assert synced.writes() == [] and whole_db() == before

    table = run_cli("sync", "--dry-run")
    assert table.exit_code == 0
    assert "dry run, nothing written" in table.stdout and "Exact → CRM" in table.stdout
    assert "010-1112233" in table.stdout and "would change" in table.stdout

    monkeypatch.setattr(sync_render, "TABLE_LIMIT", 0)
    clipped = " ".join(run_cli("sync", "--dry-run", "--direction", "outbound").stdout.split())
    assert "more differences: `exactlink sync --direction outbound --dry-run --json` lists them all" in clipped


def test_a_dry_run_leaves_the_database_free_for_other_writers(
    synced: SyncOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactlink.services import office_mirror

    refresh = office_mirror.refresh_office_mirror
    writes_while_reading: list[int] = []

    def refresh_while_cron_writes(*args: Any, **kwargs: Any) -> Any:
        # Another process wants the write lock while the dry run reads Exact: it must get it at once.
        other = sqlite3.connect(get_paths().database, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT OR REPLACE INTO meta (key, value, updated_at) VALUES ('probe', '1', 'now')")
            other.execute("COMMIT")
            writes_while_reading.append(1)
        finally:
            other.close()
        return refresh(*args, **kwargs)

    monkeypatch.setattr(office_mirror, "refresh_office_mirror", refresh_while_cron_writes)
    for direction in ("inbound", "outbound"):
        synced.sync("--dry-run", "--direction", direction)
    assert writes_while_reading == [1, 1]
    assert query("SELECT count(*) FROM meta WHERE key = 'probe'") == [(1,)], "the other writer's row stays"


def test_contact_persons_are_linked_only_when_they_exist_on_both_sides(synced: SyncOffice) -> None:
    names_before = query("SELECT relation_number, full_name FROM contacts ORDER BY 1, 2")
    synced.sync()
    synced.sync("--direction", "outbound")
    assert query("SELECT relation_number, full_name FROM contacts ORDER BY 1, 2") == names_before
    assert synced.writes("POST", "crm/Contacts") == [], "no contact is ever created in Exact"
    linked = query(
        "SELECT relation_number, full_name, email, exact_contact_id FROM contacts WHERE relation_number IN "
        f"({', '.join('?' * len(synced.linked))})",
        tuple(synced.linked),
    )
    assert any(row[3] for row in linked) and any(row[3] is None for row in linked)
    contacts = synced.sandbox.records(synced.division, "crm/Contacts")
    for relation, full_name, email, contact_id in linked:
        if contact_id is None:
            continue
        exact = contacts[contact_id]
        assert exact["Account"] == synced.account_of(relation)["ID"]
        assert (email or "").lower() == (exact["Email"] or "").lower() or exact["FullName"] == full_name


# ---------------------------------------------------------------------------------------------------
# Outbound


def test_outbound_writes_only_changed_fields_creates_once_and_then_nothing(outbound: SyncOffice) -> None:
    outbound.sync()
    assert outbound.sync()["counts"]["write_calls"] == 0
    writes_before = len(outbound.transport.writes)
    assert query(
        "SELECT count(*) FROM relations WHERE pending_push = 1 AND relation_number IN "
        f"({', '.join('?' * len(outbound.linked))})",
        tuple(outbound.linked),
    ) == [(0,)]

    relation = next(
        r for r in outbound.linked if not any(a["Type"] == 3 for a in outbound.children("crm/Addresses", r))
    )
    crm_file = outbound.office.crm_file
    iban_cell = query("SELECT group_concat(iban, ' | ') FROM bank_accounts WHERE relation_number = ?", (relation,))[0][
        0
    ]
    new_iban = "NL20INGB0001234567"
    edit_crm_file(
        crm_file,
        relation,
        telefoon="030-1234567",
        factuuradres="Factuurweg 1",
        factuuradres_postcode="3511AB",
        factuuradres_plaats="Utrecht",
        iban=" | ".join(filter(None, [iban_cell, new_iban])),
    )
    import_crm(crm_file)
    report = outbound.sync()
    new = outbound.transport.writes[writes_before:]
    account_id = outbound.account_of(relation)["ID"]
    puts = [w for w in new if w.method == "PUT" and w.endpoint == "crm/Accounts"]
    assert [w.body for w in puts] == [{"Phone": "030-1234567"}], "only the changed field"
    (address_post,) = [w for w in new if w.method == "POST" and w.endpoint == "crm/Addresses"]
    assert address_post.body is not None and address_post.body["Type"] == 3
    assert address_post.body["Account"] == account_id and address_post.body["Postcode"] == "3511 AB"
    (bank_post,) = [w for w in new if w.method == "POST" and w.endpoint == "crm/BankAccounts"]
    assert bank_post.body == {"Account": account_id, "BankAccount": new_iban}
    assert report["counts"]["write_calls"] == len(new) == 3
    assert outbound.account_of(relation)["Phone"] == "030-1234567"
    invoices = [a for a in outbound.children("crm/Addresses", relation) if a["Type"] == 3]
    assert len(invoices) == 1 and invoices[0]["City"] == "Utrecht"
    assert query("SELECT exact_bank_account_id IS NOT NULL FROM bank_accounts WHERE iban = ?", (new_iban,)) == [(1,)]

    again = outbound.sync()
    assert again["counts"]["write_calls"] == 0 and len(outbound.transport.writes) == writes_before + 3


def test_a_post_exact_applied_but_never_answered_is_looked_up_not_repeated(
    outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbound.sync()
    relation = next(
        r for r in outbound.linked if not any(a["Type"] == 3 for a in outbound.children("crm/Addresses", r))
    )
    edit_crm_file(
        outbound.office.crm_file,
        relation,
        factuuradres="Factuurweg 9",
        factuuradres_postcode="3511AB",
        factuuradres_plaats="Utrecht",
    )
    import_crm(outbound.office.crm_file)
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "1")
    outbound.sandbox.faults = Faults(hang_seconds=1.5)

    def hang_the_post(write: Any) -> None:
        if write.method == "POST":  # Exact stores the address, but its answer comes after we gave up
            outbound.sandbox.faults.script("hang")

    outbound.transport.before_write = hang_the_post
    posts_before = len(outbound.writes("POST"))
    report = outbound.sync()
    outbound.transport.before_write = None
    outbound.sandbox.faults = Faults()

    (result,) = [row for row in report["relations"] if row["relation"] == relation]
    assert result["status"] == "changed" and result["calls"] == 2, "the POST, then one look-up instead of a second POST"
    assert len(outbound.writes("POST")) == posts_before + 1
    invoices = [a for a in outbound.children("crm/Addresses", relation) if a["Type"] == 3]
    assert len(invoices) == 1 and invoices[0]["AddressLine1"] == "Factuurweg 9"
    assert query(
        "SELECT exact_address_id FROM addresses WHERE relation_number = ? AND type = 'invoice'", (relation,)
    ) == [(invoices[0]["ID"].lower(),)]
    assert outbound.sync()["counts"]["write_calls"] == 0


def test_one_relation_failing_does_not_stop_the_others(outbound: SyncOffice) -> None:
    for relation in outbound.linked[:3]:
        edit_crm_file(outbound.office.crm_file, relation, telefoon="030-1234567")
    import_crm(outbound.office.crm_file)
    victim = outbound.linked[1]
    victim_account = outbound.account_of(victim)["ID"]

    def delete_first(write: Any) -> None:
        if victim_account in write.path and write.endpoint == "crm/Accounts":
            outbound.sandbox.delete(outbound.division, "crm/Accounts", victim_account)

    outbound.transport.before_write = delete_first
    report = outbound.sync(expect=ExitCode.PARTIAL)
    outbound.transport.before_write = None
    statuses = {row["relation"]: (row["status"], row["error"]) for row in report["relations"]}
    assert statuses[victim][0] == "failed" and "not found" in statuses[victim][1]
    assert statuses[outbound.linked[0]][0] == statuses[outbound.linked[2]][0] == "changed"
    assert outbound.account_of(outbound.linked[2])["Phone"] == "030-1234567"
    assert query("SELECT outcome FROM runs WHERE command = 'sync' ORDER BY id DESC LIMIT 1") == [("partial",)]
    after = outbound.sync()
    assert after["account_gone"] == [victim], "the next run sees the deletion and reports the relation"


def test_outbound_deletes_in_exact_only_when_asked(outbound: SyncOffice) -> None:
    outbound.sync()
    relation = relation_with(outbound, "crm/BankAccounts")
    edit_crm_file(outbound.office.crm_file, relation, iban="")
    import_crm(outbound.office.crm_file)
    kept = outbound.sync("--relation", relation)
    assert any(c["note"] and "--delete-in-exact" in c["note"] for c in kept["relations"][0]["changes"])
    assert outbound.children("crm/BankAccounts", relation), "kept without the flag"
    outbound.sync("--relation", relation, "--delete-in-exact")
    assert outbound.children("crm/BankAccounts", relation) == []
    assert {w.method for w in outbound.writes(endpoint="crm/BankAccounts")} == {"DELETE"}


def test_a_change_exact_ignores_is_reported_after_one_read(
    outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact skips read-only properties silently (strict evidence): Phone is made read-only here for the test."""
    from dataclasses import replace

    from exactlink.sandbox import Evidence, endpoints

    outbound.sync()
    outbound.sandbox.evidence = Evidence.strict()
    read_only = replace(endpoints.ENDPOINTS["crm/Accounts"], read_only_on_write=frozenset({"Phone"}))
    monkeypatch.setitem(endpoints.ENDPOINTS, "crm/Accounts", read_only)
    monkeypatch.setitem(endpoints._BY_FOLDED_SERVICE, ("crm", "Accounts"), read_only)
    relation = outbound.linked[0]
    old_phone = outbound.account_of(relation)["Phone"]
    edit_crm_file(outbound.office.crm_file, relation, telefoon="030-7654321", website="www.nieuw-adres.nl")
    import_crm(outbound.office.crm_file)
    reads_before = outbound.sandbox.calls("crm/Accounts", method="GET")

    report = outbound.sync("--relation", relation, expect=3)

    (result,) = report["relations"]
    assert result["status"] == "failed" and result["error"] == "Exact ignored the change to Phone"
    changes = {change["field"]: change for change in result["changes"]}
    assert changes["phone"]["applied"] is False and "Exact ignored the change to Phone" in changes["phone"]["note"]
    assert changes["website"]["applied"] is True
    assert outbound.account_of(relation)["Website"] == "www.nieuw-adres.nl"
    assert outbound.sandbox.calls("crm/Accounts", method="GET") == reads_before + 1, "one cheap read"
    mirrored = query("SELECT phone, website FROM accounts WHERE id = ?", (outbound.account_of(relation)["ID"],))
    assert mirrored == [(old_phone, "www.nieuw-adres.nl")], "the mirror holds what Exact holds"


# ---------------------------------------------------------------------------------------------------
# Numbers must match


def test_numbers_must_match_inbound_renumbers_the_relation(synced: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    synced.sync()
    monkeypatch.setenv("EXACTLINK_SYNC__NUMBERS_MUST_MATCH", "true")
    relation = relation_with(synced, "crm/Addresses")
    account = synced.account_of(relation)
    synced.sandbox.mutate(synced.division, "crm/Accounts", account["ID"], Code="990001")
    children = {t: query(f"SELECT count(*) FROM {t} WHERE relation_number = ?", (relation,)) for t in CRM_TABLES}
    report = synced.sync()
    (result,) = [row for row in report["relations"] if row["relation"] == "990001"]
    assert {"field": "relation_number", "crm_value": relation, "exact_value": "990001"}.items() <= (
        result["changes"][0].items()
    )
    assert query("SELECT count(*) FROM relations WHERE relation_number = ?", (relation,)) == [(0,)]
    moved = {t: query(f"SELECT count(*) FROM {t} WHERE relation_number = '990001'") for t in CRM_TABLES}
    assert moved == children
    assert query("SELECT account_code FROM links WHERE relation_number = '990001'") == [("990001",)]


def test_numbers_must_match_outbound_reports_the_code_and_never_puts_it(
    outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact answers a PUT of Code with 500 "Gegeven bestaat reeds" or skips it: the office recodes in Exact."""
    relation = outbound.linked[0]
    account = outbound.account_of(relation)
    outbound.sandbox.mutate(outbound.division, "crm/Accounts", account["ID"], Code="990002")
    monkeypatch.setenv("EXACTLINK_SYNC__NUMBERS_MUST_MATCH", "1")
    links_before = query("SELECT * FROM links")

    report = outbound.sync("--relation", relation)

    assert not [w for w in outbound.writes("PUT", "crm/Accounts") if w.body and "Code" in w.body]
    (result,) = report["relations"]
    (change,) = [c for c in result["changes"] if c["field"] == "relation_number"]
    assert (change["crm_value"], change["exact_value"], change["applied"]) == (relation, "990002", False)
    assert "recode account 990002 to " + relation + " in Exact Online's web interface" in change["note"]
    assert outbound.account_of(relation)["Code"].strip() == "990002"
    assert query("SELECT * FROM links") == links_before, "nothing stored locally as if the code changed"
    assert query("SELECT code FROM accounts WHERE id = ?", (account["ID"],)) == [("990002",)]
    again = outbound.sync("--relation", relation)
    assert again["counts"]["write_calls"] == 0
    table = run_cli("sync", "--relation", relation)
    assert "Exact Online's web interface" in table.stdout


# ---------------------------------------------------------------------------------------------------
# Crashes and faults


def exact_state(synced: SyncOffice) -> list[tuple[Any, ...]]:
    """The office administration's relation data in the sandbox, without keys and audit stamps."""
    skip = {"ID", "Timestamp", "Created", "Creator", "CreatorFullName", "Modified", "Modifier", "ModifierFullName"}
    accounts = synced.sandbox.records(synced.division, "crm/Accounts")
    rows = []
    for table in ("crm/Accounts", "crm/Addresses", "crm/Contacts", "crm/BankAccounts"):
        for record in synced.sandbox.records(synced.division, table).values():
            owner = accounts.get(record.get("Account") or record["ID"], {}).get("Code")
            content = tuple(sorted((k, repr(v)) for k, v in record.items() if k not in skip and k != "Account"))
            rows.append((table, owner, content))
    return sorted(rows)


def test_a_run_killed_half_way_is_finished_by_the_next_without_duplicates(outbound: SyncOffice) -> None:
    ibans = iter(["NL20INGB0001234567", "NL02ABNA0123456789", "NL91ABNA0417164300"])
    for relation in outbound.linked[:3]:
        edit_crm_file(
            outbound.office.crm_file,
            relation,
            telefoon="030-1234567",
            factuuradres="Factuurweg 1",
            factuuradres_postcode="3511AB",
            factuuradres_plaats="Utrecht",
            iban=next(ibans),
        )
    import_crm(outbound.office.crm_file)
    kills = 0
    # Many runs in a few seconds: a minute large enough for all of them (exactlink paces from the headers, and
    # every run knows the minute the others used, so resetting the sandbox's counters would not do).
    outbound.sandbox.limits.minutely_limit = 1_000
    while True:
        outbound.transport.crash_after = len(outbound.transport.writes) + 1
        try:
            outbound.sync()
            break
        except Killed:
            kills += 1
    assert kills >= 6, "the first push needs several writes, each one was interrupted once"
    outbound.transport.crash_after = None
    assert outbound.sync()["counts"]["write_calls"] == 0
    posts = Counter((w.endpoint, json.dumps(w.body, sort_keys=True)) for w in outbound.writes("POST"))
    assert posts and max(posts.values()) == 1, "nothing was created twice"
    per_type = Counter(
        (record["Account"], record["Type"])
        for record in outbound.sandbox.records(outbound.division, "crm/Addresses").values()
    )
    assert max(per_type.values()) == 1
    banks = Counter(
        (record["Account"], record["BankAccount"])
        for record in outbound.sandbox.records(outbound.division, "crm/BankAccounts").values()
    )
    assert max(banks.values()) == 1
    assert outbound.sync("--dry-run")["counts"]["fields"] == 0, "Exact holds everything the CRM has"


def sync_until_done(synced: SyncOffice, *args: str, attempts: int = 5) -> int:
    """Run `sync ARGS` until it exits 0 (a partial run is finished by the next one); returns the runs it took."""
    for attempt in range(1, attempts + 1):
        fresh_minute(synced.sandbox)  # many runs in a few seconds: stay under 60 calls a minute
        result = run_cli("sync", "--json", *args)
        assert result.exit_code in (0, ExitCode.PARTIAL), result.stderr
        if result.exit_code == 0:
            return attempt
    raise AssertionError(f"sync {' '.join(args)} did not complete in {attempts} runs")


def test_faults_end_in_the_same_state_as_a_clean_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_sleep: None
) -> None:
    states = []
    for faulty in (False, True):
        monkeypatch.setenv("EXACTLINK_HOME", str(tmp_path / f"home-{faulty}"))
        (tmp_path / f"office-{faulty}").mkdir()
        for office in start_sync_office(monkeypatch, tmp_path / f"office-{faulty}", clients=10, seed=11):
            synced = office
            if faulty:
                synced.sandbox.faults = Faults(error_rate=0.05, burst_429=4, seed=5)
            sync_until_done(synced, "--direction", "outbound")
            sync_until_done(synced, "--direction", "inbound")
            synced.sandbox.faults = Faults()
            for direction in ("outbound", "inbound"):
                assert synced.sync("--dry-run", "--direction", direction)["counts"]["fields"] == 0
            states.append((crm_state(), exact_state(synced)))
            if faulty:
                assert any(entry.status >= 500 for entry in synced.sandbox.request_log)
                assert sum(entry.status == 429 for entry in synced.sandbox.request_log) >= 4
    assert states[0] == states[1]


def test_import_match_review_and_sync_both_ways_under_faults_end_like_a_clean_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_sleep: None
) -> None:
    """The whole story over real HTTP: crm import → match → match review → sync outbound → sync inbound."""

    states, reviewed = [], []
    for faulty in (False, True):
        monkeypatch.setenv("EXACTLINK_HOME", str(tmp_path / f"home-{faulty}"))
        (tmp_path / f"office-{faulty}").mkdir()
        for office in start_office(monkeypatch, tmp_path / f"office-{faulty}", clients=16, seed=2):
            transport = RecordingTransport()
            set_workspace(monkeypatch, transport=transport)
            synced = SyncOffice(office, transport)
            # A relation without any number, named and addressed like an account only Exact has: a suggestion.
            in_crm = {code for _number, code in office.sandbox.data.ground_truth if code}
            exact_only = min(
                (a for a in office.accounts().values() if a["Code"].strip() not in in_crm and a["Postcode"]),
                key=lambda a: a["Code"],
            )
            extra = tmp_path / f"extra-{faulty}.csv"
            extra.write_text(
                "relatienummer;naam;bezoekadres;bezoekadres postcode;bezoekadres plaats\n"
                f"9901;{exact_only['Name']};{exact_only['AddressLine1']};{exact_only['Postcode']};{exact_only['City']}\n",
                encoding="utf-8",
            )
            import_crm(extra)
            if faulty:
                office.sandbox.faults = Faults(error_rate=0.05, drop_rate=0.03, burst_429=4, seed=8)
            match = run_cli("match", "--json")
            assert match.exit_code == 0, match.stderr
            review = run_cli("match", "review", "--stdin", "--json", input="a\n" * 40)
            assert review.exit_code == 0, review.stderr
            reviewed.append(json.loads(review.stdout)["accepted"])
            edit_crm_file(
                office.crm_file, query("SELECT min(relation_number) FROM links")[0][0], telefoon="030-7654321"
            )
            import_crm(office.crm_file)
            sync_until_done(synced, "--direction", "outbound")
            last = query("SELECT max(relation_number) FROM links")[0][0]
            office.sandbox.mutate(
                office.division, "crm/Accounts", synced.account_of(last)["ID"], Website="x.example.nl"
            )
            sync_until_done(synced, "--direction", "inbound")
            office.sandbox.faults = Faults()
            for direction in ("outbound", "inbound"):
                assert synced.sync("--dry-run", "--direction", direction)["counts"]["fields"] == 0
            states.append((crm_state(), exact_state(synced)))
            if faulty:
                statuses = [entry.status for entry in office.sandbox.request_log]
                assert any(status >= 500 for status in statuses) and statuses.count(429) >= 4
    assert [row["relation"] for row in reviewed[0]] == ["9901"], "the review accepted the suggestion"
    assert reviewed[0] == reviewed[1]
    assert states[0] == states[1]


# ---------------------------------------------------------------------------------------------------
# Direct synchronisation and watch


def test_direct_sync_pushes_a_crm_import_at_once(outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    outbound.sync()
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECT", "true")
    relation = outbound.linked[0]
    edit_crm_file(outbound.office.crm_file, relation, telefoon="020-7654321")
    before = len(outbound.transport.writes)
    result = run_cli("crm", "import", str(outbound.office.crm_file), "--json")
    assert result.exit_code in (0, 3), result.stderr
    report = json.loads(result.stdout)
    assert report["direct_sync"]["direction"] == "outbound"
    assert [w.body for w in outbound.transport.writes[before:]] == [{"Phone": "020-7654321"}]
    assert outbound.account_of(relation)["Phone"] == "020-7654321"
    assert "switch it on only after all existing relations are linked" in result.stderr


def test_direct_sync_pushes_a_crm_edit_at_once(outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    outbound.sync()
    relation = outbound.linked[1]
    before = len(outbound.transport.writes)
    quiet = run_cli("crm", "edit", relation, "--website", "zonder-direct.nl", "--json")
    assert quiet.exit_code == 0 and "direct_sync" not in json.loads(quiet.stdout)
    assert len(outbound.transport.writes) == before, "without sync.direct the next `sync` pushes it"
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECT", "true")
    result = run_cli("crm", "edit", relation, "--phone", "020-7654321", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["direct_sync"]["direction"] == "outbound"
    assert [w.body for w in outbound.transport.writes[before:]] == [
        {"Phone": "020-7654321", "Website": "zonder-direct.nl"}
    ]
    assert query("SELECT pending_push FROM relations WHERE relation_number = ?", (relation,)) == [(0,)]


def test_direct_sync_that_cannot_run_only_warns(outbound: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECT", "true")
    assert run_cli("logout").exit_code == 0
    relation = outbound.linked[0]
    edit_crm_file(outbound.office.crm_file, relation, telefoon="020-7654321")
    result = run_cli("crm", "import", str(outbound.office.crm_file))
    assert result.exit_code in (0, 3)
    assert "direct synchronisation did not run" in result.stderr and "exactlink sync" in result.stderr
    assert query("SELECT pending_push FROM relations WHERE relation_number = ?", (relation,)) == [(1,)]
    assert outbound.writes() == []


def test_direct_sync_does_nothing_inbound(synced: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_SYNC__DIRECT", "true")
    edit_crm_file(synced.office.crm_file, synced.linked[0], telefoon="020-7654321")
    report = import_crm(synced.office.crm_file)
    assert "direct_sync" not in report and synced.writes() == []


def test_watch_polls_until_told_to_stop(synced: SyncOffice, monkeypatch: pytest.MonkeyPatch) -> None:
    from exactlink.services.sync import SyncReport, watch

    result = run_cli("sync", "--watch", "--max-polls", "2", "--interval", "0.001", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["polls"] == 2

    relation = synced.linked[0]
    account_id = synced.account_of(relation)["ID"]
    seen: list[SyncReport] = []

    def between_polls(report: SyncReport) -> None:
        seen.append(report)
        synced.sandbox.mutate(synced.division, "crm/Accounts", account_id, Website="na-de-eerste-poll.nl")

    with closing(new_workspace()) as ws:
        summary = watch(ws, interval_minutes=0.001, max_polls=2, on_poll=between_polls, sleep=lambda seconds: None)
    assert summary.polls == 2 and summary.fields >= 1
    assert [c.exact_value for c in seen[1].changes() if c.field == "website"] == ["na-de-eerste-poll.nl"]

    synced.sandbox.update_division(synced.division, BlockingStatus=1)

    def unblock(seconds: float) -> None:
        synced.sandbox.update_division(synced.division, BlockingStatus=0)

    with closing(new_workspace()) as ws:
        recovered = watch(ws, interval_minutes=0.001, max_polls=2, sleep=unblock)
    assert (recovered.failed_polls, recovered.polls, recovered.exit_code) == (1, 1, ExitCode.PARTIAL)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    set_workspace(monkeypatch, sleep=interrupt)
    stopped = run_cli("sync", "--watch")
    assert stopped.exit_code == 0, stopped.stderr
    assert "stopped with Ctrl-C" in stopped.stdout and "1 poll(s)" in stopped.stdout

    outbound_watch = run_cli("sync", "--watch", "--direction", "outbound")
    assert outbound_watch.exit_code == ExitCode.USAGE


# ---------------------------------------------------------------------------------------------------
# Run bookkeeping and selection


def test_runs_are_recorded_and_one_sync_at_a_time(synced: SyncOffice) -> None:
    from exactlink.services.locking import run_lock

    synced.sync()
    assert query("SELECT command, outcome FROM runs WHERE command = 'sync'") == [("sync", "ok")]
    with run_lock("relations"):
        held = run_cli("sync")
    assert held.exit_code == ExitCode.LOCKED


def test_only_the_relations_asked_for(synced: SyncOffice) -> None:
    unlinked = query(
        "SELECT relation_number FROM relations WHERE relation_number NOT IN (SELECT relation_number FROM links)"
    )
    report = synced.sync("--relation", synced.linked[0], "--relation", unlinked[0][0], "--relation", "NOPE")
    statuses = {row["relation"]: (row["status"], row["error"]) for row in report["relations"]}
    assert report["counts"]["relations"] == 3
    assert statuses[unlinked[0][0]][0] == "skipped" and "not linked" in statuses[unlinked[0][0]][1]
    assert statuses["NOPE"] == ("skipped", "not in the local CRM mirror")


def test_bsns_are_masked_in_the_diff(synced: SyncOffice) -> None:
    account = synced.account_of(synced.linked[0])
    synced.sandbox.mutate(synced.division, "crm/Accounts", account["ID"], BSN="111222333")
    masked = run_cli("sync", "--dry-run")
    assert "*****2333" in masked.stdout and "111222333" not in masked.stdout
    shown = synced.sync("--dry-run", "--show-bsn")
    assert "111222333" in json.dumps(shown)
    quiet = run_cli("sync", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
