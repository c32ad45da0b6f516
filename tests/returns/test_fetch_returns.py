"""``fetch-returns`` end to end over real HTTP: the window, the SBR start date, the backlog, the settings,
suppletie, vraagposten, idempotence, the lock, failures per administration and the run history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exactlink.domain.returns import return_kind_of
from exactlink.sandbox import model as sandbox_model
from tests.cli import database_rows, run_cli
from tests.returns.conftest import Office, office_today

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KIND_FOR_SETTING = {"btw": "vat", "btw_suppletie": "vat", "icp": "vat", "loonheffing": "payroll"}


def stored_returns(office: Office) -> dict[str, dict[str, Any]]:
    db = office.db()
    try:
        cursor = db.conn.execute("SELECT * FROM returns")
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
    finally:
        db.close()


def expected_returns(
    office: Office, divisions: list[int], *, since: date | None = None, kinds: set[str] | None = None
) -> dict[str, int]:
    """Document id → Exact status of every return the rules say to keep."""
    start = since or office_today() - timedelta(days=30)
    moment = datetime(start.year, start.month, start.day, tzinfo=AMSTERDAM)  # Exact reads the window on its clock
    wanted = kinds or {"btw", "btw_suppletie", "icp", "loonheffing"}
    result = {}
    for division in divisions:
        for record in office.returns_of(division).values():
            if record["Created"] >= moment and return_kind_of(record).value in wanted:
                result[record["DocumentID"]] = record["Status"]
    return result


def link(office: Office, count: int, **kwargs: Any) -> list[tuple[str, int]]:
    pairs = office.candidates(**kwargs)[:count]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    return pairs


def test_one_filtered_returns_call_per_administration_inside_the_window(office: Office) -> None:
    pairs = link(office, 4)
    divisions = [division for _, division in pairs]

    result = run_cli("fetch-returns", "--json")

    assert result.exit_code == 0, result.stderr
    start = (office_today() - timedelta(days=30)).isoformat()
    for division in divisions:
        calls = [
            e for e in office.sandbox.request_log if e.endpoint == "read/financial/Returns" and e.division == division
        ]
        assert len(calls) == 1
        assert calls[0].query["$filter"] == f"Created ge datetime'{start}'"
        assert office.sandbox.calls("sync/Financial/TransactionLines", division) <= 1
    stored = stored_returns(office)
    assert {doc: row["status"] for doc, row in stored.items()} == expected_returns(office, divisions)
    older = [r for d in divisions for r in office.returns_of(d).values() if r["DocumentID"] not in stored]
    assert older, "the sandbox has returns outside the window, and they were not fetched"
    report = json.loads(result.stdout)
    assert report["totals"]["new"] == len(stored)


def test_a_second_run_adds_nothing_and_keeps_the_status_history(office: Office) -> None:
    pairs = link(office, 3)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    first = stored_returns(office)
    division = pairs[0][1]
    document = next(iter(expected_returns(office, [division])))
    office.sandbox.mutate(division, sandbox_model.RETURNS, document, Status=50)

    again = run_cli("fetch-returns", "--json")

    totals = json.loads(again.stdout)["totals"]
    assert (totals["new"], totals["changed"]) == (0, 1 if first[document]["status"] != 50 else 0)
    assert set(stored_returns(office)) == set(first)
    shown = json.loads(run_cli("returns", "show", document, "--json").stdout)
    statuses = [entry["status"] for entry in shown["history"]]
    assert statuses[-1] == 50 and len(statuses) == len(set(statuses))
    third = json.loads(run_cli("fetch-returns", "--json").stdout)["totals"]
    assert (third["new"], third["changed"]) == (0, 0)


def test_the_sbr_start_date_moves_the_window(office: Office) -> None:
    relation, division = link(office, 1)[0]
    returns = sorted(office.returns_in_window(division), key=lambda record: record["Created"])
    later = returns[-1]["Created"].date()
    assert run_cli("crm", "set", relation, "--sbr-start", later.isoformat()).exit_code == 0

    assert run_cli("fetch-returns").exit_code == 0

    expected = expected_returns(office, [division], since=later)
    assert set(stored_returns(office)) == set(expected)
    call = next(e for e in office.sandbox.request_log if e.endpoint == "read/financial/Returns")
    assert call.query["$filter"] == f"Created ge datetime'{later.isoformat()}'"


def test_an_sbr_start_date_in_the_future_fetches_nothing_and_says_why(office: Office) -> None:
    from exactlink.store.relations import set_sbr_start

    relation, _ = link(office, 1)[0]
    db = office.db()
    set_sbr_start(db, relation, office_today() + timedelta(days=5))
    db.close()

    result = run_cli("fetch-returns")

    assert result.exit_code == 0
    assert office.sandbox.calls("read/financial/Returns") == 0
    assert "lies in the future" in result.stderr


def test_the_backlog_after_linking_is_explained_once(office: Office) -> None:
    relation, division = office.candidates()[0]
    office.link_account(relation)
    assert run_cli("link-admin", relation, str(division)).exit_code == 0

    first = run_cli("fetch-returns")
    second = run_cli("fetch-returns")

    told = " ".join(first.stderr.split())  # status lines wrap at the terminal's width
    assert "arrived at once" in told
    assert f"exactlink crm set {relation} --sbr-start DATE" in told
    assert "arrived at once" not in second.stderr


def test_the_backlog_of_many_new_links_is_one_grouped_line(office: Office, tmp_path: Any) -> None:
    pairs = office.candidates()[:3]
    for relation, _ in pairs:
        office.link_account(relation)
    csv_file = tmp_path / "links.csv"
    csv_file.write_text("".join(f"{relation};{division}\n" for relation, division in pairs), encoding="utf-8")
    assert run_cli("link-admin", "--csv", str(csv_file)).exit_code == 0
    expected = expected_returns(office, [division for _, division in pairs])

    first = run_cli("fetch-returns")

    backlog = [line for line in first.stderr.splitlines() if "arrived at once" in line]
    assert len(backlog) == 1, first.stderr
    assert backlog[0].startswith(f"{len(expected)} returns of 3 newly linked administrations (relations ")
    assert all(relation in backlog[0] for relation, _ in pairs)
    assert "exactlink crm set REL --sbr-start DATE" in first.stderr
    again = json.loads(run_cli("fetch-returns", "--json").stdout)
    assert [item["backlog"] for item in again["administrations"]] == [None, None, None]


def test_an_empty_administration_is_explained_in_the_seeds_words(office: Office) -> None:
    relation, division = office.candidates(with_returns=False)[0]
    office.link_admin_in_store(relation, division)
    for document in list(office.returns_of(division)):
        office.sandbox.delete(division, sandbox_model.RETURNS, document)

    result = run_cli("fetch-returns", "--relation", relation)

    assert result.exit_code == 0
    assert "no returns in the last 30 days" in result.stderr
    assert "check that the SBR settings are active in Exact Online" in result.stderr


def test_relation_without_an_administration_says_why(office: Office) -> None:
    relation, _ = office.candidates()[0]

    unlinked = run_cli("fetch-returns", "--relation", relation)
    office.link_account(relation)
    no_admin = run_cli("fetch-returns", "--relation", relation)

    assert unlinked.exit_code == 1 and "not linked to an account of the office administration" in unlinked.stderr
    assert no_admin.exit_code == 1 and f"exactlink link-admin {relation} DIVISION" in no_admin.stderr
    assert run_cli("fetch-returns").exit_code == 0  # nothing linked at all is no error


def test_an_administration_whose_relation_lost_its_account_link_is_not_fetched(office: Office) -> None:
    (relation, division), (_, other_division) = link(office, 2)
    assert run_cli("match", "unlink", relation).exit_code == 0

    result = run_cli("fetch-returns", "--json")

    assert result.exit_code == 0, result.stderr
    outcomes = {item["relation"]: item for item in json.loads(result.stdout)["administrations"]}
    assert outcomes[relation]["empty_reason"] == "no_relation_link"
    assert "not linked to an account of the office administration" in outcomes[relation]["note"]
    assert office.sandbox.calls("read/financial/Returns", division) == 0
    assert office.sandbox.calls("read/financial/Returns", other_division) == 1
    assert {row["division"] for row in stored_returns(office).values()} <= {other_division}
    assert "not linked to an account of the office administration" in run_cli("fetch-returns").stderr


@pytest.mark.parametrize(
    ("variable", "dropped"),
    [
        ("EXACTLINK_RETURNS__PROCESS_VAT", {"btw", "btw_suppletie", "icp"}),
        ("EXACTLINK_RETURNS__PROCESS_PAYROLL", {"loonheffing"}),
    ],
)
def test_settings_decide_which_kinds_are_kept(
    office: Office, monkeypatch: pytest.MonkeyPatch, variable: str, dropped: set[str]
) -> None:
    divisions = [division for _, division in link(office, 6)]
    monkeypatch.setenv(variable, "false")

    result = run_cli("fetch-returns", "--json")

    kept = {"btw", "btw_suppletie", "icp", "loonheffing"} - dropped
    assert set(stored_returns(office)) == set(expected_returns(office, divisions, kinds=kept))
    assert {row["kind"] for row in stored_returns(office).values()} <= kept
    assert json.loads(result.stdout)["totals"]["skipped_by_settings"] == len(expected_returns(office, divisions)) - len(
        expected_returns(office, divisions, kinds=kept)
    )


def test_vat_and_payroll_off_means_no_returns_call(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    link(office, 2)
    monkeypatch.setenv("EXACTLINK_RETURNS__PROCESS_VAT", "false")
    monkeypatch.setenv("EXACTLINK_RETURNS__PROCESS_PAYROLL", "false")

    result = run_cli("fetch-returns")

    assert result.exit_code == 0
    assert office.sandbox.calls("read/financial/Returns") == 0
    assert "switched off" in result.stderr


def test_suppletie_is_told_apart(office: Office) -> None:
    _, division = link(office, 1)[0]
    created = office.make_return(
        division,
        Period=2,
        Frequency="Q",
        PeriodDescription="Kwartaal 2 2026",
        Description="Suppletie omzetbelasting",
        Subject="Suppletie omzetbelasting Kwartaal 2 2026",
        Amount=-120.0,
        Created=datetime.now(UTC) - timedelta(days=2),
    )

    assert run_cli("fetch-returns").exit_code == 0

    row = stored_returns(office)[created["DocumentID"]]
    assert row["kind"] == "btw_suppletie"
    listed = json.loads(run_cli("returns", "list", "--kind", "btw_suppletie", "--json").stdout)
    assert [item["document_id"] for item in listed] == [created["DocumentID"]]
    assert listed[0]["due_date"] is None and listed[0]["due_date_source"] == "none"


def _vraagposten_division(office: Office) -> tuple[str, int, str]:
    for relation, division in office.candidates(with_returns=False):
        accounts = office.sandbox.records(division, sandbox_model.GL_ACCOUNTS).values()
        codes = [a["Code"] for a in accounts if "vraagpost" in str(a["Description"]).lower()]
        lines = office.sandbox.records(division, sandbox_model.TRANSACTION_LINES)
        if codes and len(lines) >= 2:
            return relation, division, codes[0]
    raise AssertionError("the sandbox has no administration with vraagposten lines")


def test_vraagposten_are_read_from_the_suspense_account_and_the_choice_is_cached(office: Office) -> None:
    relation, division, code = _vraagposten_division(office)
    office.link_admin_in_store(relation, division)
    lines = list(office.sandbox.records(division, sandbox_model.TRANSACTION_LINES).values())

    first = run_cli("fetch-returns", "--json")
    second = run_cli("fetch-returns", "--json")

    assert first.exit_code == 0 and second.exit_code == 0
    assert office.sandbox.calls("sync/Financial/GLAccounts", division) == 1
    assert office.sandbox.calls("sync/Financial/TransactionLines", division) == 2
    first_call, second_call = [e for e in office.sandbox.request_log if e.endpoint == "sync/Financial/TransactionLines"]
    assert first_call.query["$filter"] == "Timestamp gt 1L"
    assert second_call.query["$filter"] != "Timestamp gt 1L", "the second run reads from the stored cursor"
    listed = json.loads(run_cli("returns", "list", "--kind", "vraagposten", "--json").stdout)
    open_total = round(sum(item["amount"] for item in listed), 2)
    from exactlink.domain.vraagposten import vraagposten_overview

    assert open_total == float(vraagposten_overview(lines).open_total)
    assert json.loads(first.stdout)["administrations"][0]["vraagposten_accounts"] == [code]


def test_configured_vraagposten_accounts_win(office: Office) -> None:
    relation, division, code = _vraagposten_division(office)
    office.link_admin_in_store(relation, division)

    set_result = run_cli("link-admin", "vraagposten", relation, "--accounts", "1100")
    fetched = json.loads(run_cli("fetch-returns", "--json").stdout)["administrations"][0]

    assert set_result.exit_code == 0
    assert fetched["vraagposten_accounts"] == ["1100"]
    assert run_cli("link-admin", "vraagposten", relation, "--accounts", "4711").exit_code == 0
    missing = json.loads(run_cli("fetch-returns", "--json").stdout)["administrations"][0]
    assert "4711 do not exist" in (missing["vraagposten_note"] or "")
    before = database_rows()
    trial = run_cli("link-admin", "vraagposten", relation, "--default", "--dry-run", "--json")
    assert trial.exit_code == 0 and json.loads(trial.stdout)["dry_run"] is True
    assert database_rows() == before, "a dry run writes nothing"
    assert run_cli("link-admin", "vraagposten", relation, "--default").exit_code == 0
    back = json.loads(run_cli("fetch-returns", "--json").stdout)["administrations"][0]
    assert back["vraagposten_accounts"] == [code]


def test_vraagposten_off_means_no_ledger_calls(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    link(office, 3)
    monkeypatch.setenv("EXACTLINK_RETURNS__PROCESS_VRAAGPOSTEN", "false")

    assert run_cli("fetch-returns").exit_code == 0

    assert office.sandbox.calls("sync/Financial/GLAccounts") == 0
    assert office.sandbox.calls("sync/Financial/TransactionLines") == 0
    assert office.sandbox.calls("bulk/Financial/TransactionLines") == 0


def test_quiet_prints_nothing_on_success_and_each_run_is_recorded(office: Office) -> None:
    from exactlink.store.runs import last_runs

    link(office, 2)
    result = run_cli("fetch-returns", "--quiet")

    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    db = office.db()
    runs = last_runs(db, command="fetch-returns")
    db.close()
    assert runs[0].outcome == "ok" and runs[0].summary["administrations"] == 2


def test_a_failing_administration_never_stops_the_others(office: Office) -> None:
    from exactlink.store.runs import last_runs

    pairs = link(office, 4)
    broken = pairs[0][1]
    office.sandbox.update_division(broken, BlockingStatus=1)

    result = run_cli("fetch-returns", "--quiet")

    assert result.exit_code == 3
    failure_lines = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failure_lines) == 1 and str(broken) in failure_lines[0] and "blocked" in failure_lines[0]
    others = [division for _, division in pairs[1:]]
    assert set(stored_returns(office)) == set(expected_returns(office, others))
    db = office.db()
    assert last_runs(db, command="fetch-returns")[0].outcome == "partial"
    db.close()
    for _, division in pairs[1:]:
        office.sandbox.update_division(division, BlockingStatus=1)
    assert run_cli("fetch-returns", "--quiet").exit_code == 1


def test_the_lock_exits_5_or_skips_quietly(office: Office) -> None:
    from exactlink.services.locking import run_lock
    from exactlink.store.runs import last_runs

    link(office, 1)
    with run_lock("returns"):
        held = run_cli("fetch-returns")
        skipped = run_cli("fetch-returns", "--skip-if-locked", "--quiet")
        skipped_loud = run_cli("fetch-returns", "--skip-if-locked")  # cron without --quiet mails nothing either

    assert held.exit_code == 5 and "lock" in held.stderr
    assert skipped.exit_code == 0 and skipped.stdout == "" and skipped.stderr == ""
    assert skipped_loud.exit_code == 0 and skipped_loud.stdout == "" and skipped_loud.stderr == ""
    assert office.sandbox.calls("read/financial/Returns") == 0
    db = office.db()
    runs = last_runs(db, command="fetch-returns")
    db.close()
    assert [run.outcome for run in runs[:2]] == ["skipped", "skipped"]  # each skip is on record
    assert run_cli("fetch-returns", "--quiet").exit_code == 0  # the lock is free again: the next run works
    assert office.sandbox.calls("read/financial/Returns") == 1


def test_dry_run_writes_nothing(office: Office) -> None:
    link(office, 2)

    result = run_cli("fetch-returns", "--dry-run", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["new"] > 0
    assert stored_returns(office) == {}
