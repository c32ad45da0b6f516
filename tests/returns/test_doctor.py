"""`exactlink doctor` against the sandbox: every check passes on a lenient one; on one that follows the public
evidence (and refuses the uncertain filter forms) each refused form is reported with Exact's message and its
fallback taken, at most one failed call per endpoint and administration, and the choices are remembered."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exactlink.sandbox import model
from exactlink.sandbox.evidence import UNSUPPORTED_FILTER, Evidence
from tests.cli import run_cli
from tests.returns.conftest import Office, build_office
from tests.stamps import wall_now
from tests.templates import fresh_minute


def doctor_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("doctor", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def link_showcase(office: Office) -> int:
    scenario = office.sandbox.data.scenario
    division = scenario.administrations[0]
    office.link_admin_in_store(scenario.relation_of(division), division)
    return division


def test_every_check_passes_against_a_lenient_exact(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    division = link_showcase(office)
    office.sandbox.reset_counters()

    code, report = doctor_json()

    assert code == 0, report
    checks = by_name(report)
    assert report["healthy"] and report["failed_calls"] == 0
    assert checks["logged in"]["status"] == "ok" and checks["client secret"]["status"] == "ok"
    assert checks["redirect URI"]["status"] == "ok", "the office registered an https redirect URI"
    assert checks["server time"]["status"] == "ok"
    assert checks["office administration"]["status"] == "ok"
    probes = [check for check in report["checks"] if check["area"] == "probes"]
    assert {check["status"] for check in probes} == {"ok"}
    assert any(str(division) in check["detail"] for check in probes if "returns" in check["name"])
    assert office.sandbox.error_counts == {}
    assert office.sandbox.calls(method="POST") == office.sandbox.calls(method="PUT") == 0, "read-only"
    # The same set-up configured with an http loopback redirect URI: a warning (the App Center wants https).
    monkeypatch.setenv("EXACTLINK_REDIRECT_URI", "http://127.0.0.1:8765/callback")
    fresh_minute(office.sandbox)
    _, again = doctor_json()
    redirect = by_name(again)["redirect URI"]
    assert redirect["status"] == "warn" and "https" in redirect["detail"], redirect


def test_refused_forms_are_reported_and_their_fallbacks_taken(office: Office) -> None:
    division = link_showcase(office)
    office.sandbox.evidence = Evidence.strict(
        refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True
    )
    office.sandbox.reset_counters()

    code, report = doctor_json()

    checks = by_name(report)
    assert code == 0 and report["healthy"], report
    assert checks["returns (created since)"]["status"] == "fallback", checks["returns (created since)"]
    assert report["forms"]["returns (created since)"] == "returns (no filter)"
    # fetch-returns reads the vraagposten lines through the sync API only: that is the form doctor probes.
    assert checks["vraagposten lines (sync)"]["status"] == "ok"
    assert "vraagposten lines (by account code)" not in checks
    assert UNSUPPORTED_FILTER in checks["returns (created since)"]["detail"]
    assert checks["G/L accounts (sync)"]["status"] == "ok", "G/L accounts are read through their sync API"
    assert checks["one return (feedback)"]["status"] == "skipped", "an endpoint is not probed after its refusal"
    assert report["failed_calls"] == 1, "the one uncertain form exactlink uses (Returns filtered on Created)"
    per_endpoint = Counter((key[1], key[2]) for key in office.sandbox.error_counts)
    assert set(per_endpoint.values()) == {1} and {key[0] for key in per_endpoint} == {division}

    stored = json.loads(run_cli("doctor", "--json").stdout)["forms"]  # a second run learns the same
    assert stored == report["forms"]


def test_without_a_login_nothing_is_probed(office: Office) -> None:
    assert run_cli("logout").exit_code == 0
    office.sandbox.reset_counters()

    result = run_cli("doctor")

    assert result.exit_code == 1
    assert "run `exactlink login`" in result.stdout and "skipped" in result.stdout
    assert office.sandbox.calls() == 0


def test_the_table_reads_at_80_columns(office: Office) -> None:
    link_showcase(office)
    result = run_cli("doctor", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    for word in ("configuration", "login", "clock", "access", "probes", "all checks passed"):
        assert word in result.stdout


# -- --record: scrubbed cassettes that replay through the real code --------------------------------------

SHIPPED = Path(__file__).resolve().parents[1] / "cassettes" / "doctor"


def personal_values(office: Office) -> set[str]:
    """Every name, e-mail, phone, IBAN and fiscal number the sandbox could have answered with."""
    data = office.sandbox.data
    found: set[str] = set()
    for division in data.divisions.values():
        found.update(str(division.record.get(key) or "") for key in ("Description", "Email", "Phone", "VATNumber"))
        for table in (model.ACCOUNTS, model.CONTACTS, model.BANK_ACCOUNTS, model.ADDRESSES):
            for row in division.tables[table].values():
                for key in (
                    "Name",
                    "FullName",
                    "LastName",
                    "Email",
                    "Phone",
                    "Mobile",
                    "BankAccount",
                    "BSN",
                    "RSIN",
                    "AccountName",
                    "AddressLine1",
                    "BankAccountHolderName",
                    "VATNumber",
                ):
                    found.add(str(row.get(key) or ""))
    for user in data.users:
        found.update((user.full_name, user.email, user.username))
    return {value for value in found if len(value) >= 6}


def record(office: Office, directory: Path) -> tuple[Path, dict[str, Any]]:
    link_showcase(office)
    office.sandbox.evidence = Evidence.strict(
        refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True
    )
    result = run_cli("doctor", "--json", "--record", str(directory))
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    return Path(report["recording"]), report


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_a_recording_holds_no_token_or_personal_data(office: Office, tmp_path: Path) -> None:
    cassette, report = record(office, tmp_path / "recording")
    text = cassette.read_text(encoding="utf-8")
    tokens = json.loads((Path(os.environ["EXACTLINK_HOME"]) / "state" / "tokens.json").read_text())
    secrets = {value for value in _strings(tokens) if len(value) > 12}
    secrets.add(office.env["EXACTLINK_CLIENT_SECRET"])
    leaked = {value for value in secrets | personal_values(office) if value in text}
    assert leaked == set()
    assert not re.search(r"\b9999\d{5}\b", text), "a BSN from RvIG's test range"
    interactions = json.loads(text)["interactions"]
    assert len(interactions) >= 15 and cassette.stat().st_mode & 0o777 == 0o600
    assert any(UNSUPPORTED_FILTER in item["response"]["body"]["string"] for item in interactions)
    assert all("authorization" not in {name.lower() for name in item["request"]["headers"]} for item in interactions)
    assert report["forms"]["returns (created since)"] == "returns (no filter)"


def replay(cassette: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run `doctor --json` with no server at all: the answers come from ``cassette`` (vcrpy, nothing recorded)."""
    import vcr

    from exactlink.auth.oauth import TokenSet
    from exactlink.clock import Clock
    from exactlink.store.links import set_administration_link
    from exactlink.store.meta import set_office
    from exactlink.store.relations import RelationRecord, apply_relation
    from tests.cli import new_workspace, set_workspace

    recorded = json.loads(cassette.with_name(cassette.name.replace(".json", ".report.json")).read_text())
    moment = datetime.fromisoformat(recorded["recorded_at"])
    first = json.loads(cassette.read_text())["interactions"][0]["request"]["uri"]
    base = first.split("/api/")[0]
    for name, value in {
        "EXACTLINK_BASE_URL": base,
        "EXACTLINK_CLIENT_ID": "{cassette-app}",
        "EXACTLINK_CLIENT_SECRET": "cassette-secret",
        "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
    }.items():
        monkeypatch.setenv(name, value)
    set_workspace(monkeypatch, clock=Clock.frozen(moment))
    office_division = next(
        int(check["detail"].split()[0]) for check in recorded["checks"] if check["name"] == "office administration"
    )
    client = next(
        int(match.group(1))
        for check in recorded["checks"]
        if check["name"] == "returns (created since)" and (match := re.search(r" in (\d+)", check["detail"]))
    )

    ws = new_workspace()
    try:
        set_office(ws.db, office_division, "Kantoor", now=wall_now())
        apply_relation(ws.db, RelationRecord(relation_number="1001", name="Klant"), None, now=wall_now())
        set_administration_link(ws.db, "1001", client, now=wall_now())
        now = moment.timestamp()
        ws.token_store().save(TokenSet("replayed-access", "replayed-refresh", expires_at=now + 600, refreshed_at=now))
    finally:
        ws.close()
    player = vcr.VCR(serializer="json", record_mode="none", match_on=("method", "path", "query"))
    with player.use_cassette(str(cassette)):
        result = run_cli("doctor", "--json")
    return json.loads(result.stdout) | {"exit_code": result.exit_code}


def test_a_recording_replays_through_the_real_code(
    office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette, report = record(office, tmp_path / "recording")
    probes = {check["name"]: check["status"] for check in report["checks"] if check["area"] == "probes"}
    shutil.rmtree(Path(os.environ["EXACTLINK_HOME"]))

    office.sandbox.evidence = Evidence.lenient()  # the live sandbox would now accept every form …
    office.sandbox.reset_counters()

    replayed = replay(cassette, monkeypatch)

    assert office.sandbox.calls() == 0, "… but no request reached it: every answer came from the cassette"
    assert replayed["exit_code"] == 0, replayed
    assert {check["name"]: check["status"] for check in replayed["checks"] if check["area"] == "probes"} == probes
    assert replayed["forms"] == report["forms"]


def test_the_shipped_recording_replays(monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded once with `exactlink doctor --record` against the strict sandbox refusing both uncertain filters
    # (test_a_recording_replays_through_the_real_code makes the same kind); replayed on any day, no server.
    cassettes = sorted(SHIPPED.glob("doctor-*Z.json"))
    assert len(cassettes) == 1, cassettes
    replayed = replay(cassettes[0], monkeypatch)
    assert replayed["exit_code"] == 0, replayed
    statuses = {check["name"]: check["status"] for check in replayed["checks"] if check["area"] == "probes"}
    assert statuses["returns (created since)"] == "fallback"
    assert statuses["vraagposten lines (sync)"] == "ok"
    assert statuses["accounts (sync)"] == "ok"


# -- a frugal doctor: its calls do not grow with the number of administrations ------------------------------


@pytest.fixture
def large_office(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser: Any) -> Iterator[Office]:
    """A logged-in exactlink with a 2,000-client office, every owned administration linked in the store."""
    from exactlink.store.links import set_administration_link

    for office in build_office(monkeypatch, tmp_path, browser, clients=2000, seed=3):
        db = office.db()
        try:
            for relation, division in sorted(office.division_by_relation.items()):
                set_administration_link(db, relation, division, now=wall_now())
        finally:
            db.close()
        yield office


def test_doctor_costs_the_same_few_calls_at_2000_clients(large_office: Office) -> None:
    office = large_office
    linked = len(office.division_by_relation)
    assert linked > 1000, "most administrations are linked"
    office.sandbox.evidence = Evidence.strict(
        refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True
    )
    office.sandbox.reset_counters()

    code, report = doctor_json()

    assert code == 0 and report["healthy"], report
    calls = office.sandbox.calls()
    probes = [check for check in report["checks"] if check["area"] == "probes"]
    # The office and one client administration (one filtered call each), one call per probe and per fallback.
    assert calls <= len(probes) + report["failed_calls"] + 2, f"{calls} calls"
    assert calls <= 20, f"{calls} calls, whatever the number of administrations"
    assert office.sandbox.calls(endpoint="system/Divisions") == 3, "office, one client, and its $top=1 probe"
    assert office.sandbox.calls(endpoint="system/AllDivisions") == 1, "only its $top=1 probe"
    listing = [entry.query for entry in office.sandbox.request_log if entry.endpoint == "system/Divisions"]
    assert all(query.get("$top") == "1" for query in listing), "no listing of every administration"
    assert report["failed_calls"] == 1, "one refused form per uncertain endpoint exactlink uses"
    per_endpoint = Counter((key[1], key[2]) for key in office.sandbox.error_counts)
    assert set(per_endpoint.values()) == {1}, "far below Exact's ten failed calls per endpoint and hour"
    access = by_name(report)["client administrations"]
    assert access["status"] == "ok" and f"first of {linked} linked" in access["detail"]


def test_a_linked_administration_without_consent_is_named_and_another_is_probed(office: Office) -> None:
    division = link_showcase(office)
    office.sandbox.data.unconsented_divisions.add(division)
    office.sandbox.reset_counters()

    code, report = doctor_json()

    assert code == 0, report
    access = by_name(report)["client administrations"]
    assert access["status"] == "warn" and f"{division} (first of 1 linked): no consent" in access["detail"]
    probed = [check["detail"] for check in report["checks"] if check["name"] == "one return (feedback)"]
    assert probed and str(division) not in probed[0], "the probes use another administration the login sees"
    assert office.sandbox.calls(endpoint="system/AllDivisions") == 2, "the explanation and the $top=1 probe"


def test_hint_and_verdict_lines_are_neutralised(capsys: pytest.CaptureFixture[str]) -> None:
    from exactlink.cli.doctor_render import print_doctor_report
    from exactlink.console import reset_consoles
    from exactlink.services.doctor import DoctorReport

    report = DoctorReport(recording="/tmp/doctor\x1b]0;owned\x07.json")
    report.add("exact", "division", "failed", "Exact said \x1b[2J", hint="Exact said: \x1b[31mrun rm -rf\x1b[0m")
    reset_consoles()
    print_doctor_report(report)
    shown = capsys.readouterr().out
    reset_consoles()
    assert "\x1b" not in shown and "\x07" not in shown, "no escape sequence reaches the terminal"
    assert "hint (division): Exact said: \\x1b[31mrun rm -rf\\x1b[0m" in shown
    assert "\\x1b]0;owned\\x07" in shown
