"""Helpers for the crm tests: write CRM exports the way spreadsheets and the sandbox generator do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from exactlink.sandbox.model import CRM_EXPORT_COLUMNS

WriteCsv = Callable[..., Path]

# Two relations as the generator would write them (Dutch header), plus one with invalid values.
GOOD_ROW = {
    "relatienummer": "R001",
    "naam": "Bakkerij De Vries B.V.",
    "rechtsvorm": "BV",
    "kvk-nummer": "69599084",
    "rsin": "999900018",
    "btw-nummer": "NL999900018B01",
    "loonheffingennummer": "999900018L01",
    "telefoon": "+31 15 123 4567",
    "email": "info@devries.nl",
    "website": "https://devries.nl",
    "bezoekadres": "Dorpsstraat 1",
    "bezoekadres postcode": "2601dc",
    "bezoekadres plaats": "Delft",
    "bezoekadres land": "Nederland",
    "postadres": "Postbus 12",
    "postadres postcode": "2600 AA",
    "postadres plaats": "Delft",
    "postadres land": "NL",
    "iban": "NL91ABNA0417164300 | NL20INGB0001234567",
    "contactpersonen": "Jan van der Berg <jan@devries.nl> | Piet Jansen",
}
PERSON_ROW = {
    "relatienummer": "R002",
    "naam": "Kapsalon Anna",
    "rechtsvorm": "eenmanszaak",
    "kvk-nummer": "01234567",
    "bsn": "999993653",
    "btw-nummer": "NL000099998B57",
    "bezoekadres": "Markt 3",
    "bezoekadres postcode": "9999 ZZ",
    "bezoekadres plaats": "Ergens",
}
BAD_ROW = {
    "relatienummer": "R003",
    "naam": "Foute Gegevens",
    "kvk-nummer": "1234567",
    "bsn": "111222334",
    "email": "geen-email",
    "bezoekadres postcode": "0123 AB",
    "iban": "NL92ABNA0417164300",
}


def render(
    rows: Sequence[dict[str, str]],
    *,
    columns: Sequence[str] = CRM_EXPORT_COLUMNS,
    delimiter: str = ";",
) -> str:
    """CSV text with ``columns`` as the header; cells quoted only when needed."""
    import csv
    import io

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue()


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write rows to a CSV file: ``write_csv(rows, name=, columns=, delimiter=, bom=, encoding=)``."""

    def write(
        rows: Sequence[dict[str, str]],
        *,
        name: str = "crm.csv",
        columns: Sequence[str] = CRM_EXPORT_COLUMNS,
        delimiter: str = ";",
        bom: bool = True,
        encoding: str = "utf-8",
    ) -> Path:
        text = render(rows, columns=columns, delimiter=delimiter)
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
        return path

    return write
