"""`exactlink tenant list|select|show` and `exactlink status`, over real HTTP against the sandbox."""

from __future__ import annotations

import json
import time

import pytest

from exactlink.clock import Clock
from exactlink.errors import NotConfigured
from exactlink.exitcodes import ExitCode
from exactlink.services.tenant import DivisionEntry, find_division, require_office
from exactlink.store.db import open_db
from tests.auth.conftest import Exact
from tests.cli import run_cli, set_workspace
from tests.stamps import wall_now


def test_tenant_list_marks_practice_main_and_unconsented(logged_in: Exact) -> None:
    data = logged_in.sandbox.data
    result = run_cli("tenant", "list", "--json")
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    by_code = {row["code"]: row for row in listing["divisions"]}
    office = by_code[data.office_division]
    assert office["practice"] and office["main"] and office["consented"]
    assert listing["divisions"][0]["code"] == data.office_division, "the practice administration comes first"
    for code in data.unconsented_divisions:
        assert by_code[code]["consented"] is False
    assert listing["office"] is None
    # Calls: current/Me first (no division), then Divisions and AllDivisions of the current division.
    paths = [entry.path for entry in logged_in.sandbox.request_log]
    assert paths[-3:] == [
        "/api/v1/current/Me",
        f"/api/v1/{data.office_division}/system/Divisions",
        f"/api/v1/{data.office_division}/system/AllDivisions",
    ]


def test_tenant_list_table(logged_in: Exact) -> None:
    result = run_cli("tenant", "list")
    assert result.exit_code == 0
    assert "practice, main" in result.stdout
    assert "no consent" in result.stdout


def test_blocked_and_archived_administrations_are_marked(logged_in: Exact) -> None:
    codes = [code for code in logged_in.sandbox.data.divisions if code != logged_in.sandbox.data.office_division]
    logged_in.sandbox.update_division(codes[0], Status=2)
    logged_in.sandbox.update_division(codes[1], BlockingStatus=1)
    rows = {row["code"]: row for row in json.loads(run_cli("tenant", "list", "--json").stdout)["divisions"]}
    assert rows[codes[0]]["status"] == "archived"
    assert rows[codes[1]]["blocked"] == "backup/restore in progress"


def test_tenant_select_by_code_then_show(logged_in: Exact) -> None:
    office = logged_in.sandbox.data.office_division
    before = run_cli("tenant", "show")
    assert before.exit_code == ExitCode.ERROR
    assert "no office administration chosen" in before.stderr and "exactlink tenant select" in before.stderr
    result = run_cli("tenant", "select", str(office))
    assert result.exit_code == 0, result.stderr
    assert f"Office administration set to {office} Boekhoudkantoor Het Grootboek B.V." in result.stdout
    shown = json.loads(run_cli("tenant", "show", "--json").stdout)
    assert shown["division"] == office and shown["name"] == "Boekhoudkantoor Het Grootboek B.V."
    assert f"{office} Boekhoudkantoor" in run_cli("tenant", "show").stdout
    listing = json.loads(run_cli("tenant", "list", "--json").stdout)
    assert listing["office"]["division"] == office


def test_tenant_select_by_name(logged_in: Exact) -> None:
    result = run_cli("tenant", "select", "het grootboek", "--yes")
    assert result.exit_code == 0, result.stderr
    assert str(logged_in.sandbox.data.office_division) in result.stdout


def test_ambiguous_name_lists_the_candidates(logged_in: Exact) -> None:
    result = run_cli("tenant", "select", "B.V.")
    assert result.exit_code == ExitCode.USAGE
    assert "matches" in result.stderr and "Boekhoudkantoor Het Grootboek B.V." in result.stderr
    assert "select by code" in result.stderr


def test_selecting_an_unconsented_or_unknown_administration_is_refused(logged_in: Exact) -> None:
    unconsented = next(iter(logged_in.sandbox.data.unconsented_divisions))
    result = run_cli("tenant", "select", str(unconsented))
    assert result.exit_code == ExitCode.USAGE
    assert "not given consent" in result.stderr
    unknown = run_cli("tenant", "select", "999999999")
    assert unknown.exit_code == ExitCode.USAGE and "tenant list" in unknown.stderr


def test_selecting_a_client_administration_warns(logged_in: Exact) -> None:
    client = next(code for code in logged_in.sandbox.data.divisions if code != logged_in.sandbox.data.office_division)
    result = run_cli("tenant", "select", str(client))
    assert result.exit_code == 0
    assert "not marked as a practice (office) administration" in result.stderr


def test_require_office_is_the_shared_check() -> None:
    db = open_db()
    try:
        with pytest.raises(NotConfigured) as caught:
            require_office(db)
    finally:
        db.close()
    assert caught.value.hint == "run `exactlink tenant select`"


def test_find_division_rules() -> None:
    entries = [DivisionEntry(1, "Alpha B.V."), DivisionEntry(2, "Alpha Holding B.V."), DivisionEntry(3, "Beta")]
    assert find_division(entries, "alpha b.v.").code == 1, "an exact name wins over partial matches"
    assert find_division(entries, "holding").code == 2
    assert find_division(entries, "3").code == 3


def test_status_after_login_and_select(logged_in: Exact) -> None:
    office = logged_in.sandbox.data.office_division
    run_cli("tenant", "select", str(office))
    result = run_cli("status", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["logged_in"] is True
    assert report["user"]["full_name"] == "Joost van der Horst"
    assert report["token_storage"]["kind"] == "keyring"
    assert report["access_token"]["valid"] is True
    assert 29.9 <= report["refresh_token"]["days_left"] <= 30
    assert report["office"]["division"] == office
    budget = {row["division"]: row for row in report["api_budget"]}
    assert budget[office]["minutely_limit"] == 60 and budget[office]["daily_limit"] == 5000
    assert budget[office]["minutely_remaining"] < 60
    assert report["last_runs"] == []
    text = run_cli("status").stdout
    assert "logged in as: Joost van der Horst <admin@kantoor.example>" in text
    assert f"office administration: {office}" in text
    assert "API budget" in text


def test_status_shows_last_runs(logged_in: Exact) -> None:
    from exactlink.store.runs import finish_run, start_run

    db = open_db()
    try:
        run_id = start_run(db, "fetch-returns", now=wall_now())
        finish_run(db, run_id, "partial", {"failed": 1}, now=wall_now())
    finally:
        db.close()
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["last_runs"][0]["command"] == "fetch-returns"
    assert report["last_runs"][0]["outcome"] == "partial"
    assert "fetch-returns: partial" in run_cli("status").stdout


def test_status_when_not_logged_in_exits_4(exact: Exact) -> None:
    result = run_cli("status")
    assert result.exit_code == ExitCode.LOGIN_REQUIRED
    assert "logged in: no" in result.stdout
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["logged_in"] is False and report["office"] is None


def test_commands_without_a_login_exit_4(exact: Exact) -> None:
    for args in (("tenant", "list"), ("tenant", "select", "1")):
        result = run_cli(*args)
        assert result.exit_code == ExitCode.LOGIN_REQUIRED
        assert "not logged in" in result.stderr and "run `exactlink login`" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_used_up_daily_limit_ends_cleanly_and_says_when_to_try_again(logged_in: Exact) -> None:
    sandbox = logged_in.sandbox
    # Two hours ahead, the sandbox's daily reset (its next UTC midnight) is far from our real clock's now,
    # so the client cannot decide to just wait for it.
    sandbox.advance(2 * 3600)
    sandbox.limits.daily_limit = 0
    sandbox.reset_counters()
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.ERROR
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "the daily Exact Online API limit for the current administration is used up; try again after" in lines[0]
    assert lines[0].rstrip().endswith("UTC")
    assert [entry.status for entry in sandbox.request_log if entry.endpoint != "oauth2/token"] == [429], (
        "one refused call, then exactlink stops instead of hammering Exact"
    )
    budget = {row["division"]: row for row in json.loads(run_cli("status", "--json").stdout)["api_budget"]}
    assert budget["current"]["daily_remaining"] == 0


def test_status_shows_failed_calls_and_an_expiring_login(logged_in: Exact, monkeypatch: pytest.MonkeyPatch) -> None:
    set_workspace(monkeypatch, sleep=lambda seconds: None)  # no real back-off waits
    logged_in.sandbox.faults.error_rate = 1.0
    failed = run_cli("tenant", "list")
    assert failed.exit_code == ExitCode.ERROR
    assert "GET current/Me for the current administration failed: Exact Online answered HTTP 5" in failed.stderr
    logged_in.sandbox.faults.error_rate = 0.0
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["error_budget"] == [{"division": "current", "endpoint": "current/Me", "failures": 4, "limit": 10}]
    text = run_cli("status").stdout
    assert "failed calls to current/Me in the current administration: 4 of 10 in the last hour" in text

    # 28 days later (our clock), the login has two days left: status says so.
    now = time.time()
    set_workspace(monkeypatch, clock=Clock(lambda: now + 28 * 86_400))
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["refresh_token"]["expires_soon"] is True and report["refresh_token"]["days_left"] <= 2
    assert "<- expires soon" in run_cli("status").stdout


def test_tenant_list_under_injected_faults_gives_the_clean_result_within_the_error_budget(
    logged_in: Exact, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = logged_in.sandbox
    clean = run_cli("tenant", "list", "--json")
    set_workspace(monkeypatch, sleep=lambda seconds: None)  # back-off and 429 waits cost no time
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "0.3")
    sandbox.faults.hang_seconds = 0.6
    sandbox.reset_counters()
    # current/Me: a 429 and three failures, then it works; Divisions: a time-out and a drop; AllDivisions: two 5xx.
    sandbox.faults.script("burst", "error", "drop", "hang", "ok", "hang", "drop", "ok", "error", "error")
    faulty = run_cli("tenant", "list", "--json")
    assert faulty.exit_code == 0, faulty.stderr
    assert json.loads(faulty.stdout) == json.loads(clean.stdout)
    statuses = [entry.status for entry in sandbox.request_log if entry.endpoint != "oauth2/token"]
    assert statuses.count(429) == 1 and statuses.count(0) == 2 and sum(s >= 500 for s in statuses) == 3
    assert len(statuses) == 3 + 8, "each failed call was retried once more, nothing else"
    assert sandbox.blocked_endpoints == {} and max(sandbox.error_counts.values()) <= 10

    # One more failure than the retries allow: a clear one-line error, never a traceback.
    sandbox.faults.script("error", "error", "error", "error")
    failed = run_cli("tenant", "list", "--json")
    assert failed.exit_code == ExitCode.ERROR and failed.stdout == ""
    assert "GET current/Me for the current administration failed: Exact Online answered HTTP 5" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_tenant_select_dry_run_stores_nothing_and_json_says_what_was_chosen(logged_in: Exact) -> None:
    office = logged_in.sandbox.data.office_division
    dry = run_cli("tenant", "select", str(office), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"Would set the office administration to {office} " in dry.stdout and "nothing stored" in dry.stdout
    assert run_cli("tenant", "show").exit_code == ExitCode.ERROR, "the dry run stored nothing"
    dry_json = json.loads(run_cli("tenant", "select", str(office), "--dry-run", "--json").stdout)
    assert dry_json["division"] == office and dry_json["stored"] is False
    chosen = run_cli("tenant", "select", str(office), "--json")
    assert chosen.exit_code == 0, chosen.stderr
    document = json.loads(chosen.stdout)
    assert document["stored"] is True and "practice" in document["flags"] and document["warnings"] == []
    assert json.loads(run_cli("tenant", "show", "--json").stdout)["division"] == office


def test_status_summarises_the_api_budget_in_two_lines(logged_in: Exact) -> None:
    from exactlink.api.ratelimit import LimitState
    from exactlink.services.session import rate_limit_log

    office = logged_in.sandbox.data.office_division
    assert run_cli("tenant", "select", str(office), "--yes").exit_code == 0
    now = time.time()
    states = {
        str(office): LimitState(60, 41, now + 30, 5000, 4200, now + 3600, now),
        **{str(code): LimitState(60, 59, now + 30, 5000, 5000 - code % 97, now + 3600, now) for code in range(1, 41)},
        "7": LimitState(60, 59, now + 30, 5000, 120, now + 3600, now),
    }
    rate_limit_log().record(states)

    text = run_cli("status").stdout
    budget = [line for line in text.splitlines() if line.startswith("API budget")]
    assert budget == [
        "API budget of the office administration: 41/60 this minute, 4200/5000 today",
        "API budget of 40 client administrations: lowest 120/5000 today (administration 7), 1 near the limit "
        "(`exactlink status --verbose` lists them all)",
    ]
    verbose = run_cli("status", "--verbose").stdout
    listed = {line.split(":")[0] for line in verbose.splitlines() if line.startswith("API budget ")}
    assert {f"API budget {code}" for code in [office, *range(1, 41)]} <= listed
