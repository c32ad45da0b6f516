"""One CSV reader for `crm import`, `match link --csv` and `link-admin --csv`: the same file in every encoding and
delimiter an office's spreadsheet writes reads the same, and every reader takes `--encoding` and `--delimiter`."""

from __future__ import annotations

from pathlib import Path

import pytest

from exactlink.errors import UsageError
from exactlink.services.admin_links import read_link_csv
from exactlink.services.manual_links import read_link_csv as read_account_link_csv
from exactlink.store.crm_csv import CsvUnreadable, read_csv_table

ROWS = [["relatienummer", "administratie"], ["1001", "Café Één"], ["1002", "Bakkerij 't Hoekje"]]


def write(tmp_path: Path, encoding: str, delimiter: str) -> Path:
    path = tmp_path / f"table-{encoding}-{ord(delimiter)}.csv"
    path.write_bytes("".join(delimiter.join(row) + "\r\n" for row in ROWS).encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_every_encoding_and_delimiter_reads_the_same(tmp_path: Path, encoding: str, delimiter: str) -> None:
    table = read_csv_table(write(tmp_path, encoding, delimiter))
    assert table.records == ROWS
    assert table.delimiter == delimiter
    assert table.encoding == {"utf-8-sig": "utf-8"}.get(encoding, encoding)


def test_given_options_win_over_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "cp1252", ";")
    assert read_csv_table(path, encoding="latin-1", delimiter=";").records == ROWS
    assert read_csv_table(path, delimiter=",").records == [[";".join(row)] for row in ROWS]
    with pytest.raises(UsageError):
        read_csv_table(path, delimiter="#")
    with pytest.raises(UsageError):
        read_csv_table(path, encoding="klingon")
    with pytest.raises(CsvUnreadable, match="cannot be decoded as utf-8"):
        read_csv_table(path, encoding="utf-8")


def test_no_delimiter_in_the_first_line_asks_for_the_option(tmp_path: Path) -> None:
    path = tmp_path / "one-column.csv"
    path.write_text("relatienummer\n1001\n", encoding="utf-8")
    with pytest.raises(CsvUnreadable) as caught:
        read_csv_table(path)
    assert caught.value.hint == "give it with --delimiter"


def test_the_link_readers_read_through_it(tmp_path: Path) -> None:
    windows = write(tmp_path, "cp1252", ";")
    assert read_link_csv(windows) == [(2, "1001", "Café Één"), (3, "1002", "Bakkerij 't Hoekje")]
    piped = tmp_path / "piped.csv"
    piped.write_text("relatienummer|account|administratie\n1001|1001|123456\n", encoding="utf-8")
    assert read_account_link_csv(piped, delimiter="|", encoding=None) == [(2, "1001", "1001")]
    assert read_link_csv(piped, delimiter="|") == [(2, "1001", "123456")]
