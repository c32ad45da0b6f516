"""`exactlink doctor` against the sandbox: every check passes on a lenient one; on one that follows the public
evidence (and refuses the uncertain filter forms) each refused form is reported with Exact's message and its
fallback taken, at most one failed call per endpoint and administration, and the choices are remembered."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from exactlink.sandbox.evidence import UNSUPPORTED_FILTER, Evidence
from tests.cli import run_cli
from tests.returns.conftest import Office


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


def test_every_check_passes_against_a_lenient_exact(office: Office) -> None:
    division = link_showcase(office)
    office.sandbox.reset_counters()

    code, report = doctor_json()

    assert code == 0, report
    checks = by_name(report)
    assert report["healthy"] and report["failed_calls"] == 0
    assert checks["logged in"]["status"] == "ok" and checks["client secret"]["status"] == "ok"
    assert checks["redirect URI"]["status"] == "warn" and "https" in checks["redirect URI"]["detail"]
    assert checks["server time"]["status"] == "ok"
    assert checks["office administration"]["status"] == "ok"
    probes = [check for check in report["checks"] if check["area"] == "probes"]
    assert {check["status"] for check in probes} == {"ok"}
    assert any(str(division) in check["detail"] for check in probes if "returns" in check["name"])
    assert office.sandbox.error_counts == {}
    assert office.sandbox.calls(method="POST") == office.sandbox.calls(method="PUT") == 0, "read-only"


def test_refused_forms_are_reported_and_their_fallbacks_taken(office: Office) -> None:
    division = link_showcase(office)
    office.sandbox.evidence = Evidence.strict(
        refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True
    )
    office.sandbox.reset_counters()

    code, report = doctor_json()

    checks = by_name(report)
    assert code == 0 and report["healthy"], report
    for name, fallback in (
        ("returns (created since)", "returns (no filter)"),
        ("G/L accounts", "G/L accounts (sync)"),
        ("vraagposten lines (by account code)", "vraagposten lines (sync)"),
    ):
        assert checks[name]["status"] == "fallback", checks[name]
        assert report["forms"][name] == fallback
    assert UNSUPPORTED_FILTER in checks["returns (created since)"]["detail"]
    assert "mandatory filtering" in checks["G/L accounts"]["detail"]
    assert checks["one return (feedback)"]["status"] == "skipped", "an endpoint is not probed after its refusal"
    assert report["failed_calls"] == 3
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
