"""`crm import`: encodings, delimiters, headers, flagged values, idempotency, dry run, nothing written on failure."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest

from exactlink.sandbox.model import CRM_EXPORT_COLUMNS
from exactlink.store.crm_csv import header_names
from exactlink.store.db import open_db
from tests.cli import new_workspace, run_cli
from tests.crm.conftest import BAD_ROW, GOOD_ROW, PERSON_ROW, WriteCsv
from tests.stamps import wall_now


def _import(path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("crm", "import", str(path), "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _count(table: str) -> int:
    db = open_db()
    try:
        return int(db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


def test_export_header_is_the_generator_contract() -> None:
    assert header_names() == list(CRM_EXPORT_COLUMNS)


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("delimiter", [";", ","])
def test_bom_and_delimiters_are_handled(write_csv: WriteCsv, bom: bool, delimiter: str) -> None:
    path = write_csv([GOOD_ROW, PERSON_ROW], bom=bom, delimiter=delimiter)
    report = _import(path)
    assert report["counts"]["new"] == 2
    assert report["delimiter"] == delimiter
    assert report["ignored_columns"] == []
    assert len(report["columns"]) == len(CRM_EXPORT_COLUMNS)
    show = json.loads(run_cli("crm", "show", "R001", "--json").stdout)
    assert show["name"] == "Bakkerij De Vries B.V."
    assert show["addresses"][0]["postcode"] == "2601 DC"
    assert show["addresses"][0]["country"] == "NL"
    assert {c["full_name"] for c in show["contacts"]} == {"Jan van der Berg", "Piet Jansen"}
    jan = next(c for c in show["contacts"] if c["full_name"] == "Jan van der Berg")
    assert (jan["first_name"], jan["middle_name"], jan["last_name"], jan["email"]) == (
        "Jan",
        "van der",
        "Berg",
        "jan@devries.nl",
    )
    assert sorted(b["iban"] for b in show["bank_accounts"]) == ["NL20INGB0001234567", "NL91ABNA0417164300"]


def test_english_and_variant_headers(write_csv: WriteCsv) -> None:
    english = [
        "Relation Number",
        "NAME",
        "legal_form",
        "KvK",
        "RSIN",
        "BSN",
        "vat_number",
        "payroll_tax_number",
        "phone",
        "E-mail",
        "website",
        "visit_address",
        "visit_postcode",
        "visit_city",
        "visit_country",
        "iban",
        "contacts",
        "notes",
    ]
    row = {
        "Relation Number": "R9",
        "NAME": "Acme",
        "KvK": "6959 9084",
        "RSIN": "999900031",
        "visit_postcode": "2601 DC",
        "E-mail": "a@acme.nl",
        "contacts": "Jan <jan@acme.nl>",
        "notes": "ignored",
    }
    report = _import(write_csv([row], columns=english, delimiter=","))
    assert report["counts"]["new"] == 1
    assert report["ignored_columns"] == ["notes"]
    assert report["columns"]["kvk"] == "KvK"
    show = json.loads(run_cli("crm", "show", "R9", "--json").stdout)
    assert show["kvk"] == "69599084" and show["email"] == "a@acme.nl"


def test_dutch_synonyms(write_csv: WriteCsv) -> None:
    columns = ["Relatienummer", "Naam", "KvK-nummer", "OB-nummer", "Loonheffingsnummer", "Telefoonnummer", "Plaats"]
    row = {"Relatienummer": "R5", "Naam": "X", "OB-nummer": "NL999900018B01", "Plaats": "Delft"}
    report = _import(write_csv([row], columns=columns))
    assert report["columns"]["vat_number"] == "OB-nummer"
    assert report["columns"]["visit_city"] == "Plaats"
    # The OB number holds a BSN, so `crm show` masks it unless --show-bsn (security round two).
    assert json.loads(run_cli("crm", "show", "R5", "--json").stdout)["vat_number"] == "NL*****0018B01"
    assert json.loads(run_cli("crm", "show", "R5", "--json", "--show-bsn").stdout)["vat_number"] == "NL999900018B01"


def test_cp1252_is_detected_and_a_wrong_encoding_refused_with_a_hint(write_csv: WriteCsv, tmp_path: Path) -> None:
    path = write_csv([{"relatienummer": "R1", "naam": "Café Één"}], bom=False, encoding="cp1252")
    report = _import(path)  # Excel's plain "CSV" on Windows: not UTF-8, so read as Windows-1252
    assert report["encoding"] == "cp1252"
    assert json.loads(run_cli("crm", "show", "R1", "--json").stdout)["name"] == "Café Één"
    assert _import(path, "--encoding", "cp1252")["counts"]["unchanged"] == 1
    assert run_cli("crm", "import", str(path), "--encoding", "klingon").exit_code == 2
    wrong = run_cli("crm", "import", str(path), "--encoding", "utf-8")
    assert wrong.exit_code == 1 and "cannot be decoded as utf-8" in wrong.stderr
    assert "leave out --encoding" in wrong.stderr
    neither = tmp_path / "neither.csv"
    neither.write_bytes(b"relatienummer;naam\r\nR2;Caf\x81\r\n")  # 0x81 is no character in Windows-1252 either
    refused = run_cli("crm", "import", str(neither))
    assert refused.exit_code == 1 and "neither UTF-8 nor Windows-1252" in refused.stderr
    assert "--encoding" in refused.stderr and _count("relations") == 1


def test_invalid_values_are_imported_but_flagged_with_row_and_column(write_csv: WriteCsv) -> None:
    report = _import(write_csv([GOOD_ROW, BAD_ROW]))
    assert report["counts"]["new"] == 2 and report["counts"]["flagged"] == 1
    flagged = {(item["row"], item["relation"], item["column"]): item["message"] for item in report["flagged"]}
    assert flagged[(3, "R003", "bsn")] == "BSN fails the 11-proef"
    assert "8 digits" in flagged[(3, "R003", "kvk-nummer")]
    assert (3, "R003", "iban") in flagged
    assert (3, "R003", "bezoekadres postcode") in flagged
    assert (3, "R003", "email") in flagged
    assert "111222334" not in json.dumps(report)  # a BSN (even an invalid one) is never echoed
    show = json.loads(run_cli("crm", "show", "R003", "--json", "--show-bsn").stdout)
    assert show["kvk"] == "1234567" and show["bsn"] == "111222334"  # imported as given
    assert {issue["column"] for issue in show["issues"]} >= {"bsn", "kvk-nummer", "iban"}
    listed = json.loads(run_cli("crm", "list", "--flagged", "--json").stdout)
    assert [row["relation"] for row in listed] == ["R003"]


def test_cli_report_text(write_csv: WriteCsv) -> None:
    result = run_cli("crm", "import", str(write_csv([GOOD_ROW, BAD_ROW])), "--dry-run")
    assert result.exit_code == 0
    assert "dry run, nothing written" in result.stdout
    assert "BSN fails the 11-proef" in result.stdout
    assert "R003" in result.stdout


def test_reimport_is_idempotent_and_changes_are_field_level(write_csv: WriteCsv) -> None:
    path = write_csv([GOOD_ROW, PERSON_ROW])
    _import(path)
    counts = {table: _count(table) for table in ("relations", "addresses", "contacts", "bank_accounts")}
    for _ in range(2):
        again = _import(path)
        assert again["counts"]["unchanged"] == 2 and again["counts"]["new"] == again["counts"]["changed"] == 0
    assert {table: _count(table) for table in counts} == counts
    changed_row = {**GOOD_ROW, "telefoon": "015-7654321", "contactpersonen": "Jan van der Berg <jan@devries.nl>"}
    report = _import(write_csv([changed_row, PERSON_ROW], name="v2.csv"))
    assert report["changed"] == [{"relation": "R001", "fields": ["phone", "contacts"]}]
    assert report["unchanged"] == ["R002"]
    assert _count("contacts") == counts["contacts"] - 1


def test_dry_run_writes_nothing(write_csv: WriteCsv) -> None:
    path = write_csv([GOOD_ROW])
    report = _import(path, "--dry-run")
    assert report["dry_run"] is True and report["new"] == ["R001"]
    assert _count("relations") == 0
    assert _count("runs") == 0
    _import(path)
    changed = _import(write_csv([{**GOOD_ROW, "naam": "Nieuwe Naam"}], name="v2.csv"), "--dry-run")
    assert changed["changed"] == [{"relation": "R001", "fields": ["name"]}]
    assert json.loads(run_cli("crm", "show", "R001", "--json").stdout)["name"] == "Bakkerij De Vries B.V."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"naam;telefoon\r\nX;1\r\n", "required column relatienummer/relation_number is missing"),
        (b"", "is empty"),
        (b"relatienummer;naam\r\nR1;\x00\x00\r\n", "NUL"),
        (b"relatienummer naam\r\nR1 X\r\n", "cannot tell the delimiter"),
        (b"relatienummer;naam;Naam\r\nR1;X;Y\r\n", "both mean name"),
    ],
)
def test_unusable_file_changes_nothing(write_csv: WriteCsv, tmp_path: Path, content: bytes, message: str) -> None:
    _import(write_csv([GOOD_ROW]))
    before = run_cli("crm", "export", "-", "--show-bsn").stdout
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    result = run_cli("crm", "import", str(bad))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert run_cli("crm", "export", "-", "--show-bsn").stdout == before


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = run_cli("crm", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "No such file" in missing.stderr
    directory = run_cli("crm", "import", str(tmp_path))
    assert directory.exit_code in (1, 2)


def test_duplicate_and_missing_relation_numbers_are_reported(write_csv: WriteCsv) -> None:
    rows = [GOOD_ROW, {**GOOD_ROW, "naam": "Dubbel"}, {**PERSON_ROW, "relatienummer": ""}, PERSON_ROW]
    result = run_cli("crm", "import", str(write_csv(rows)), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["skipped"] == [
        {"row": 3, "reason": "relation number R001 appears again (first on row 2)"},
        {"row": 4, "reason": "no relation number"},
    ]
    assert report["new"] == ["R001", "R002"]
    assert json.loads(run_cli("crm", "show", "R001", "--json").stdout)["name"] == "Bakkerij De Vries B.V."


def test_row_with_too_many_cells_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("relatienummer;naam\r\nR1;A\r\nR2;B;extra\r\n", encoding="utf-8")
    result = run_cli("crm", "import", str(path), "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["new"] == ["R1"] and report["skipped"][0]["row"] == 3


def test_an_exception_mid_import_writes_nothing(write_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch) -> None:
    from exactlink.services.crm import import_crm
    from exactlink.store import relations

    real = relations.apply_relation
    calls = {"n": 0}

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the process were interrupted half-way
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(relations, "apply_relation", failing)
    with closing(new_workspace()) as ws, pytest.raises(KeyboardInterrupt):
        import_crm(ws, write_csv([GOOD_ROW, PERSON_ROW, BAD_ROW]))
    for table in ("relations", "addresses", "contacts", "bank_accounts"):
        assert _count(table) == 0
    monkeypatch.setattr(relations, "apply_relation", real)
    with closing(new_workspace()) as ws:
        assert import_crm(ws, write_csv([GOOD_ROW, PERSON_ROW, BAD_ROW])).counts()["new"] == 3


def test_columns_absent_from_the_file_keep_their_stored_values(write_csv: WriteCsv) -> None:
    _import(write_csv([GOOD_ROW]))
    report = _import(
        write_csv(
            [{"relatienummer": "R001", "naam": "Bakkerij De Vries B.V."}],
            columns=["relatienummer", "naam"],
            name="small.csv",
        )
    )
    assert report["unchanged"] == ["R001"]
    show = json.loads(run_cli("crm", "show", "R001", "--json").stdout)
    assert show["kvk"] == "69599084" and len(show["bank_accounts"]) == 2


def test_repair_leading_zeros_is_opt_in(write_csv: WriteCsv) -> None:
    path = write_csv([{"relatienummer": "R1", "naam": "X", "kvk-nummer": "1234567"}])
    assert _import(path, "--dry-run")["counts"]["flagged"] == 1
    report = _import(path, "--repair-leading-zeros")
    assert report["counts"]["flagged"] == 0 and report["counts"]["warnings"] == 1
    assert json.loads(run_cli("crm", "show", "R1", "--json").stdout)["kvk"] == "01234567"


def test_import_is_recorded_as_a_run(write_csv: WriteCsv) -> None:
    from exactlink.store.runs import last_runs

    _import(write_csv([GOOD_ROW]))
    db = open_db()
    runs = last_runs(db)
    db.close()
    assert runs[0].command == "crm import" and runs[0].outcome == "ok" and runs[0].summary["new"] == 1


def test_damaged_database_gives_one_line(write_csv: WriteCsv, exactlink_home: Path) -> None:
    from exactlink.paths import get_paths

    database = get_paths().database
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"\x00garbage" * 512)
    result = run_cli("crm", "import", str(write_csv([GOOD_ROW])))
    assert result.exit_code == 1
    assert "not a usable SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


def test_contact_details_from_exact_survive_a_reimport(write_csv: WriteCsv) -> None:
    from exactlink.store.relations import Contact, get_relation_record, upsert_relation

    path = write_csv([GOOD_ROW])
    _import(path)
    db = open_db()
    record = get_relation_record(db, "R001")
    assert record is not None
    record.contacts = [
        Contact("Jan van der Berg", "Jan", "van der", "Berg", "jan@devries.nl", "06-12345678"),
        *[c for c in record.contacts if c.full_name != "Jan van der Berg"],
    ]
    upsert_relation(db, record, mark_pending_push=False, now=wall_now())
    db.close()
    assert _import(path)["unchanged"] == ["R001"]
    show = json.loads(run_cli("crm", "show", "R001", "--json").stdout)
    jan = next(c for c in show["contacts"] if c["full_name"] == "Jan van der Berg")
    assert jan["phone"] == "06-12345678"


def test_the_sandbox_generators_export_imports(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from exactlink.sandbox.generator import generate, write_crm_export

    data = generate(200, seed=7, now=datetime(2026, 11, 2, 9, tzinfo=UTC))
    path = tmp_path / "generated.csv"
    write_crm_export(data, path)
    report = _import(path)
    assert report["ignored_columns"] == [] and report["skipped"] == []
    assert report["counts"]["new"] == len(data.crm_rows)
    assert _count("relations") == len(data.crm_rows)
    assert _import(path)["counts"]["unchanged"] == len(data.crm_rows)
