"""Input limits: a CRM import is checked while it streams in, and ids from Exact Online are GUIDs where they enter.

``crm import /dev/zero`` used to read gigabytes before any check; now size and binary content are checked per
chunk, so it stops at the first one. An id from Exact that is not a GUID (it would be pasted into an OData
``guid'…'`` filter such as ``Account eq guid'{id}'``) is refused where it enters: the API models and the
mirror's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exactlink.exitcodes import ExitCode
from tests.cli import run_cli
from tests.security.conftest import World, assert_one_clear_error, database_dump
from tests.security.test_bad_server import CorruptingTransport, add_row, unchanged_but_runs
from tests.security.test_bad_server import corrupt as corrupt

INJECTION = "00000000-0000-0000-0000-000000000000') or (ID ne guid'00000000-0000-0000-0000-000000000000"


def test_importing_dev_zero_stops_at_the_first_chunk() -> None:
    started = time.monotonic()
    result = run_cli("crm", "import", "/dev/zero")
    assert time.monotonic() - started < 5
    assert result.exit_code != 0
    assert "not a text file" in assert_one_clear_error(result.stderr)


def test_a_file_past_the_size_limit_is_refused_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exactlink.store import crm_csv

    monkeypatch.setattr(crm_csv, "MAX_CSV_BYTES", 3_000_000)
    big = tmp_path / "big.csv"
    big.write_bytes(b"relatienummer;naam\r\n" + b"R1;Bakker\r\n" * 400_000)  # 4.4 MB
    reads: list[int] = []
    original = crm_csv._read_limited

    def counting(path: Path, name: str, **options: object) -> bytes:
        reads.append(1)
        return original(path, name, max_bytes=crm_csv.MAX_CSV_BYTES, utf16=bool(options["utf16"]))

    monkeypatch.setattr(crm_csv, "_read_limited", counting)
    result = run_cli("crm", "import", str(big), "--dry-run")
    assert result.exit_code != 0 and reads
    assert "larger than 3 MB" in assert_one_clear_error(result.stderr)


def test_a_nul_byte_after_the_first_megabyte_is_still_refused(tmp_path: Path) -> None:
    late = tmp_path / "late.csv"
    late.write_bytes(b"relatienummer;naam\r\n" + b"R1;Bakker\r\n" * 200_000 + b"R2;\x00\r\n")
    result = run_cli("crm", "import", str(late), "--dry-run")
    assert result.exit_code != 0
    assert "NUL" in assert_one_clear_error(result.stderr)


@pytest.mark.parametrize(
    ("args", "endpoint", "row"),
    [
        (("match",), "sync/CRM/Accounts", {"ID": INJECTION, "Timestamp": "999999999", "Name": "Ghost"}),
        (
            ("sync",),
            "sync/CRM/Addresses",
            {"ID": "0b5e5a55-0000-4000-8000-000000000002", "Account": INJECTION, "Timestamp": "999999999"},
        ),
    ],
)
def test_an_exact_id_that_is_not_a_guid_is_refused_where_it_enters(
    populated: World,
    exactlink_home: Path,
    corrupt: Callable[..., CorruptingTransport],
    args: tuple[str, ...],
    endpoint: str,
    row: dict[str, str],
) -> None:
    corrupt(endpoint, add_row(row))
    before = database_dump(exactlink_home)
    result = run_cli(*args)
    assert result.exit_code == ExitCode.ERROR, (result.stdout[-300:], result.stderr)
    line = assert_one_clear_error(result.stderr)
    assert "Exact Online sent" in line and "not a GUID" in line, line
    unchanged_but_runs(before, database_dump(exactlink_home))


def test_the_api_models_refuse_a_guid_field_that_is_not_one() -> None:
    from exactlink.api.errors import ApiError
    from exactlink.api.models import Account

    assert Account.parse({"ID": "0B5E5A55-0000-4000-8000-000000000001"}).ID == "0b5e5a55-0000-4000-8000-000000000001"
    with pytest.raises(ApiError, match="not a GUID"):
        Account.parse({"ID": INJECTION})
