"""CSV files exactlink writes neutralise spreadsheet formulas in every text cell, and read back unchanged.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by Excel and
LibreOffice (CSV injection); exactlink writes it with a leading ``'`` and its CSV readers drop that ``'`` again.
``tests/crm/test_export_list_show_set.py`` covers ``= + - @`` through ``crm import``/``crm export`` and the
neutralise/unneutralise pair for any text; here: tab and CR (which the import strips, so they can only come from
the mirror itself, e.g. synced from Exact), every column, and the ``link-admin suggest --csv-out`` file.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from exactlink.store.crm_csv import FORMULA_START
from tests.cli import run_cli
from tests.crm.conftest import GOOD_ROW, render

EVIL = ['=HYPERLINK("http://evil","klik")', "+31 20 555 0000", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1"]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1:]


@pytest.mark.parametrize("value", EVIL, ids=["=", "+", "-", "@", "tab", "CR"])
def test_crm_export_neutralises_every_column(tmp_path: Path, exactlink_home: Path, value: str) -> None:
    source = tmp_path / "crm.csv"
    source.write_text(render([GOOD_ROW]), encoding="utf-8-sig")
    assert run_cli("crm", "import", str(source)).exit_code == 0
    db = sqlite3.connect(exactlink_home / "exactlink.db")
    columns = [row[1] for row in db.execute("PRAGMA table_info(relations)")]
    text_columns = [
        c for c in ("name", "legal_form", "kvk", "rsin", "vat_number", "phone", "email", "website") if c in columns
    ]
    with db:
        db.execute(f"UPDATE relations SET {', '.join(f'{c} = ?' for c in text_columns)}", [value] * len(text_columns))
        db.execute("UPDATE addresses SET street = ?, city = ?", (value, value))
    db.close()
    exported = run_cli("crm", "export", "-")
    assert exported.exit_code == 0, exported.stderr
    rows = _cells(exported.stdout.lstrip("\ufeff"))
    assert rows
    dangerous = [cell for row in rows for cell in row if cell.startswith(FORMULA_START)]
    assert dangerous == []
    assert sum(cell == "'" + value for row in rows for cell in row) >= len(text_columns)


def test_the_link_admin_suggestions_file_is_neutralised_and_reads_back(tmp_path: Path) -> None:
    from exactlink.services.admin_links import Suggestion, SuggestReport, read_link_csv, write_suggestions_csv

    report = SuggestReport(
        [
            Suggestion(value, f"{value} B.V.", 1000 + number, value, [value], strength=1)
            for number, value in enumerate(EVIL[:4])
        ]
    )
    path = tmp_path / "suggestions.csv"
    assert write_suggestions_csv(report, path) == 4
    text = path.read_text(encoding="utf-8-sig")
    dangerous = [cell for row in _cells(text) for cell in row if cell.startswith(FORMULA_START)]
    assert dangerous == []
    read_back = [(relation, division) for _, relation, division in read_link_csv(path)]
    assert read_back == [(value, str(1000 + number)) for number, value in enumerate(EVIL[:4])]
