"""`crm export` (formulas neutralised, BSN masked, round trip), `crm list`/`show` JSON, `crm set --sbr-start`."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactlink.store.crm_csv import FORMULA_START, neutralise_formula, unneutralise
from exactlink.workspace import Workspace
from tests.cli import run_cli
from tests.crm.conftest import BAD_ROW, GOOD_ROW, PERSON_ROW, WriteCsv
from tests.stamps import wall_now


@pytest.fixture
def imported(write_csv: WriteCsv) -> None:
    result = run_cli("crm", "import", str(write_csv([GOOD_ROW, PERSON_ROW, BAD_ROW])))
    assert result.exit_code == 0, result.stderr


def test_export_masks_bsn_and_neutralises_formulas(write_csv: WriteCsv, tmp_path: Path) -> None:
    evil = {
        "relatienummer": "R7",
        "naam": '=HYPERLINK("http://evil","klik")',
        "telefoon": "+31 20 555 0000",
        "website": "@SUM(1+1)",
        "bsn": "999993653",
        "bezoekadres": "-2+3",
    }
    assert run_cli("crm", "import", str(write_csv([evil]))).exit_code == 0
    out = tmp_path / "export.csv"
    result = run_cli("crm", "export", str(out))
    assert result.exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "999993653" not in text and "*****3653" in text
    assert "'=HYPERLINK" in text and "'+31 20 555 0000" in text and "'@SUM(1+1)" in text and "'-2+3" in text
    for line in text.splitlines()[1:]:
        for cell in line.split(";"):
            assert not cell.lstrip('"').startswith(FORMULA_START)
    shown = run_cli("crm", "export", "-", "--show-bsn").stdout
    assert "999993653" in shown


def test_export_imports_back_unchanged(imported: None, tmp_path: Path) -> None:
    for flags in ([], ["--show-bsn"], ["--english-headers", "--delimiter", ","]):
        out = tmp_path / "round.csv"
        assert run_cli("crm", "export", str(out), *flags).exit_code == 0
        report = json.loads(run_cli("crm", "import", str(out), "--json").stdout)
        assert report["counts"]["unchanged"] == 3, (flags, report)
    # the masked BSN did not overwrite the stored one
    shown = json.loads(run_cli("crm", "show", "R002", "--json", "--show-bsn").stdout)
    assert shown["bsn"] == "999993653"


def test_export_masks_tax_numbers_and_free_text_and_imports_back(write_csv: WriteCsv, tmp_path: Path) -> None:
    owner = {
        "relatienummer": "R9",
        "naam": "Kapper 999993653",
        "rechtsvorm": "eenmanszaak",
        "btw-nummer": "NL999993653B01",
        "loonheffingennummer": "999993653L01",
        "bezoekadres": "Markt 3 (BSN 999993653)",
        "contactpersonen": "Anna 999993653 <anna@example.nl>",
    }
    assert run_cli("crm", "import", str(write_csv([owner]))).exit_code == 0
    out = tmp_path / "export.csv"
    for target in (str(out), "-"):
        result = run_cli("crm", "export", target)
        text = result.stdout if target == "-" else out.read_text(encoding="utf-8-sig")
        assert result.exit_code == 0 and "999993653" not in text, text
        assert "NL*****3653B01" in text and "*****3653L01" in text and "Kapper *****3653" in text
    report = json.loads(run_cli("crm", "import", str(out), "--json").stdout)
    assert report["counts"]["unchanged"] == 1 and report["flagged"] == [], report
    shown = json.loads(run_cli("crm", "show", "R9", "--json", "--show-bsn").stdout)
    assert shown["vat_number"] == "NL999993653B01" and shown["payroll_tax_number"] == "999993653L01"
    assert shown["name"] == "Kapper 999993653" and shown["contacts"][0]["full_name"] == "Anna 999993653"
    assert "999993653" in run_cli("crm", "export", "-", "--show-bsn").stdout


def test_show_bsn_setting_is_honoured(imported: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(run_cli("crm", "show", "R002", "--json").stdout)["bsn"] == "*****3653"
    monkeypatch.setenv("EXACTLINK_PRIVACY__SHOW_BSN", "true")
    assert json.loads(run_cli("crm", "show", "R002", "--json").stdout)["bsn"] == "999993653"


@given(st.text(max_size=30).filter(lambda text: not text.startswith("'")))
def test_neutralising_is_undone_on_import(cell: str) -> None:
    safe = neutralise_formula(cell)
    assert not safe.startswith(FORMULA_START)
    assert unneutralise(safe) == cell


def test_list_json_shape_and_filters(imported: None) -> None:
    from exactlink.store.db import open_db
    from exactlink.store.links import set_account_link, set_administration_link

    db = open_db()
    set_account_link(db, "R001", "acc-1", "1001", method="rsin", linked_by="auto", now=wall_now())
    set_administration_link(db, "R001", 4321, now=wall_now())
    db.close()
    rows = json.loads(run_cli("crm", "list", "--json").stdout)
    assert [row["relation"] for row in rows] == ["R001", "R002", "R003"]
    assert set(rows[0]) == {
        "relation",
        "name",
        "kvk",
        "rsin",
        "bsn",
        "account_code",
        "account_id",
        "administration",
        "issues",
    }
    assert rows[0]["account_code"] == "1001" and rows[0]["administration"] == 4321
    assert rows[1]["bsn"] == "*****3653"
    unlinked = json.loads(run_cli("crm", "list", "--json", "--unlinked").stdout)
    assert [row["relation"] for row in unlinked] == ["R002", "R003"]
    table = run_cli("crm", "list")
    assert table.exit_code == 0 and "R003" in table.stdout and "999993653" not in table.stdout


def test_show_json_has_everything(imported: None) -> None:
    from exactlink.domain.return_records import ReturnRecord
    from exactlink.store.db import open_db
    from exactlink.store.returns import upsert_returns

    db = open_db()
    upsert_returns(
        db,
        [
            ReturnRecord(
                "D1",
                division=4321,
                relation_number="R001",
                type=31,
                kind="btw",
                status=20,
                amount=1720.0,
                currency="EUR",
            )
        ],
        now=wall_now(),
    )
    db.close()
    data = json.loads(run_cli("crm", "show", "R001", "--json").stdout)
    for key in (
        "relation",
        "name",
        "kvk",
        "rsin",
        "bsn",
        "vat_number",
        "payroll_tax_number",
        "phone",
        "email",
        "website",
        "addresses",
        "contacts",
        "bank_accounts",
        "account",
        "administration",
        "sbr_start_date",
        "returns_window_start",
        "issues",
        "recent_returns",
    ):
        assert key in data
    assert [a["type"] for a in data["addresses"]] == ["visit", "postal"]
    assert data["recent_returns"][0]["document_id"] == "d1"
    assert data["account"] is None and data["administration"] is None
    text = run_cli("crm", "show", "R001")
    assert text.exit_code == 0 and "Dorpsstraat 1" in text.stdout
    assert "€ 1.720,00" in text.stdout and "1720.0" not in text.stdout, "amounts read as in `returns list`"
    missing = run_cli("crm", "show", "R404")
    assert missing.exit_code == 1 and "not in the local CRM mirror" in missing.stderr


def test_sbr_start_bounds(imported: None) -> None:
    today = Workspace().clock.today()
    earliest = today - timedelta(days=30)
    ok = run_cli("crm", "set", "R001", "--sbr-start", earliest.isoformat(), "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["sbr_start_date"] == earliest.isoformat()
    too_early = run_cli("crm", "set", "R001", "--sbr-start", (earliest - timedelta(days=1)).isoformat())
    assert too_early.exit_code == 2
    assert "30 dagen terug" in too_early.stderr
    future = (today + timedelta(days=10)).isoformat()
    result = json.loads(run_cli("crm", "set", "R001", "--sbr-start", future, "--json").stdout)
    assert result["previous"] == earliest.isoformat() and result["returns_window_start"] == future
    dutch = today.strftime("%d-%m-%Y")
    assert json.loads(run_cli("crm", "set", "R001", "--sbr-start", dutch, "--json").stdout)["sbr_start_date"] == (
        today.isoformat()
    )
    dry = json.loads(run_cli("crm", "set", "R001", "--clear", "--dry-run", "--json").stdout)
    assert dry["changed"] is True and dry["dry_run"] is True
    assert json.loads(run_cli("crm", "show", "R001", "--json").stdout)["sbr_start_date"] == today.isoformat()
    cleared = json.loads(run_cli("crm", "set", "R001", "--clear", "--json").stdout)
    assert cleared["sbr_start_date"] is None and cleared["returns_window_start"] == earliest.isoformat()
    assert run_cli("crm", "set", "R001").exit_code == 2
    assert run_cli("crm", "set", "R001", "--sbr-start", today.isoformat(), "--clear").exit_code == 2
    assert run_cli("crm", "set", "R001", "--sbr-start", "gisteren").exit_code == 2
    assert run_cli("crm", "set", "R404", "--clear").exit_code == 1


# -- crm edit ---------------------------------------------------------------------------------------


def _relation(number: str) -> dict[str, object]:
    return dict(json.loads(run_cli("crm", "show", number, "--json", "--show-bsn").stdout))


def test_edit_normalises_changes_only_what_differs_and_clears_the_flag(imported: None) -> None:
    assert any(issue["column"] == "kvk-nummer" for issue in _relation("R003")["issues"])  # type: ignore[attr-defined]
    result = run_cli(
        "crm", "edit", "R003", "--kvk", "6959 9084", "--phone", "015-1234567", "--name", "Foute Gegevens", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "relation": "R003", "changed": ["kvk", "phone"], "unchanged": ["name"], "dry_run": False,
    }  # fmt: skip
    after = _relation("R003")
    assert (after["kvk"], after["phone"], after["pending_push"]) == ("69599084", "015-1234567", True)
    columns = [issue["column"] for issue in after["issues"]]  # type: ignore[attr-defined]
    assert "kvk-nummer" not in columns and "bsn" in columns, "only the edited field's flag goes"
    cleared = json.loads(run_cli("crm", "edit", "R003", "--phone", "", "--json").stdout)
    assert cleared["changed"] == ["phone"] and _relation("R003")["phone"] is None
    assert "R003: kvk changed" in run_cli("crm", "edit", "R003", "--kvk", "01234567").stderr


def test_edit_refuses_invalid_values_and_writes_nothing(imported: None) -> None:
    before = _relation("R001")
    for flags, message in (
        (["--kvk", "1234567"], "KvK number must be 8 digits, not 7"),
        (["--phone", "010-1", "--bsn", "111222334"], "BSN fails the 11-proef"),
        (["--name", " "], "name cannot be empty"),
        ([], "give at least one field"),
    ):
        result = run_cli("crm", "edit", "R001", *flags)
        assert result.exit_code == 2 and message in result.stderr, (flags, result.stderr)
    assert _relation("R001") == before
    unknown = run_cli("crm", "edit", "R404", "--phone", "1")
    assert unknown.exit_code == 1 and "R404 is not in the local CRM mirror" in unknown.stderr


def test_edit_dry_run_writes_nothing(imported: None) -> None:
    before = _relation("R001")
    result = run_cli("crm", "edit", "R001", "--website", "nieuw.nl", "--dry-run")
    assert result.exit_code == 0 and "R001: website would change" in result.stderr
    assert _relation("R001") == before
