"""Bad input: every argument and CSV column wrong, empty, huge or in the wrong encoding; a corrupt or foreign
database; a configuration with wrong types.

Each case runs one command against a fully populated exactlink (``populated``: logged in, office selected, CRM
imported, matched, synced, administrations linked, returns fetched) and must end with

* exactly one clear error line on stderr (``error: …``, or click's ``Error: …`` after its usage lines), with no
  traceback and no Python exception repr;
* the documented exit code: 2 for a usage mistake (a malformed value, a missing or contradictory option, a broken
  configuration), 1 for an input that is well-formed but cannot be used (an unknown relation, a file that cannot
  be read, a database that is not ours);
* nothing written half: every table of the database is exactly as before, and a failed run is recorded as
  finished (``runs`` never keeps a dangling row).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bench.bench_crm_import import write_export

from exactlink.exitcodes import ExitCode
from tests.cli import run_cli
from tests.security.conftest import World, assert_one_clear_error, database_dump

USAGE, ERROR = ExitCode.USAGE, ExitCode.ERROR
HUGE = "9" * 1_000_000  # a 1 MB argument
SURROGATE = "caf\udce9"  # what Python makes of a latin-1 byte in argv on a UTF-8 system


def assert_rejected(home: Path, args: tuple[str, ...], code: int, *, input: str | None = None) -> str:
    """Run ``exactlink ARGS``: one clear error, exit ``code``, the database exactly as before. Returns stderr."""
    before = database_dump(home)
    result = run_cli(*args, input=input)
    assert result.exit_code == code, (args[:4], result.exit_code, result.stdout[-500:], result.stderr[-2000:])
    assert_one_clear_error(result.stderr)
    after = database_dump(home)
    # The run history may gain a finished 'failed' run (and the AUTOINCREMENT counter of runs moves with it).
    runs_before, runs_after = before.pop("runs", []), after.pop("runs", [])
    before.pop("sqlite_sequence", None), after.pop("sqlite_sequence", None)
    assert after == before, "nothing is written"
    assert runs_after[: len(runs_before)] == runs_before
    for line in runs_after[len(runs_before) :]:
        assert "'failed'" in line or "'skipped'" in line, line
    return result.stderr


# -- every command argument and option, fed wrong -----------------------------------------------------------------

ARGUMENTS: list[tuple[str, tuple[str, ...], int]] = [
    # tenant
    ("tenant select empty", ("tenant", "select", "", "--yes"), USAGE),
    ("tenant select unknown code", ("tenant", "select", "99999999999999999999", "--yes"), USAGE),
    ("tenant select negative", ("tenant", "select", "-5", "--yes"), USAGE),
    ("tenant select huge", ("tenant", "select", HUGE, "--yes"), USAGE),
    ("tenant select superscript digit", ("tenant", "select", "\u00b2", "--yes"), USAGE),
    ("tenant select latin-1", ("tenant", "select", SURROGATE, "--yes"), USAGE),
    # crm
    ("crm show empty", ("crm", "show", ""), ERROR),
    ("crm show unknown", ("crm", "show", "NOPE-1"), ERROR),
    ("crm show huge", ("crm", "show", HUGE), ERROR),
    ("crm show latin-1", ("crm", "show", SURROGATE), USAGE),
    ("crm show sql", ("crm", "show", "x' OR '1'='1"), ERROR),
    ("crm set no change", ("crm", "set", "{relation}"), USAGE),
    ("crm set both", ("crm", "set", "{relation}", "--sbr-start", "2026-01-01", "--clear"), USAGE),
    ("crm set empty date", ("crm", "set", "{relation}", "--sbr-start", ""), USAGE),
    ("crm set impossible date", ("crm", "set", "{relation}", "--sbr-start", "2026-02-30"), USAGE),
    ("crm set year 10000", ("crm", "set", "{relation}", "--sbr-start", "10000-01-01"), USAGE),
    ("crm set far past", ("crm", "set", "{relation}", "--sbr-start", "1900-01-01"), USAGE),
    ("crm set huge date", ("crm", "set", "{relation}", "--sbr-start", HUGE), USAGE),
    ("crm set unknown", ("crm", "set", "NOPE-1", "--clear"), ERROR),
    ("crm import missing", ("crm", "import", "/nonexistent/crm.csv"), ERROR),
    ("crm import delimiter", ("crm", "import", "{crm_csv}", "--delimiter", "::"), USAGE),
    ("crm import empty delimiter", ("crm", "import", "{crm_csv}", "--delimiter", ""), USAGE),
    ("crm import encoding", ("crm", "import", "{crm_csv}", "--encoding", "klingon-8"), USAGE),
    ("crm import empty encoding", ("crm", "import", "{crm_csv}", "--encoding", ""), USAGE),
    ("crm export delimiter", ("crm", "export", "-", "--delimiter", "::"), USAGE),
    ("crm export under a file", ("crm", "export", "{crm_csv}/out.csv"), ERROR),
    ("crm export onto a directory", ("crm", "export", "{home}"), ERROR),
    ("crm export empty path", ("crm", "export", ""), USAGE),
    # match
    ("match review score text", ("match", "review", "--accept-all-above", "abc"), USAGE),
    ("match review score negative", ("match", "review", "--accept-all-above", "-5"), USAGE),
    ("match review score too high", ("match", "review", "--accept-all-above", "1000"), USAGE),
    ("match review score nan", ("match", "review", "--accept-all-above", "nan"), USAGE),
    ("match link nothing", ("match", "link"), USAGE),
    ("match link one", ("match", "link", "{relation}"), USAGE),
    ("match link unknown relation", ("match", "link", "NOPE-1", "1"), ERROR),
    ("match link empty account", ("match", "link", "{relation}", ""), USAGE),
    ("match link huge account", ("match", "link", "{relation}", HUGE), ERROR),
    ("match link latin-1 account", ("match", "link", "{relation}", SURROGATE), USAGE),
    ("match link csv missing", ("match", "link", "--csv", "/nonexistent/links.csv"), ERROR),
    ("match unlink unknown", ("match", "unlink", "NOPE-1"), ERROR),
    ("match unlink empty", ("match", "unlink", ""), ERROR),
    # sync
    ("sync direction", ("sync", "--direction", "sideways"), USAGE),
    ("sync empty direction", ("sync", "--direction", ""), USAGE),
    ("sync interval text", ("sync", "--watch", "--interval", "soon"), USAGE),
    ("sync interval negative", ("sync", "--watch", "--interval", "-1", "--max-polls", "1"), USAGE),
    ("sync interval nan", ("sync", "--watch", "--interval", "nan", "--max-polls", "1"), USAGE),
    ("sync interval inf", ("sync", "--watch", "--interval", "inf", "--max-polls", "1"), USAGE),
    ("sync max polls zero", ("sync", "--watch", "--max-polls", "0"), USAGE),
    ("sync watch outbound", ("sync", "--watch", "--direction", "outbound", "--max-polls", "1"), USAGE),
    # link-admin
    ("link-admin link nothing", ("link-admin", "link"), USAGE),
    ("link-admin link empty division", ("link-admin", "link", "{relation}", ""), USAGE),
    ("link-admin link unknown division", ("link-admin", "link", "{relation}", "99999999"), USAGE),
    ("link-admin link huge division", ("link-admin", "link", "{relation}", HUGE), USAGE),
    ("link-admin link unknown relation", ("link-admin", "link", "NOPE-1", "1"), ERROR),
    ("link-admin link csv missing", ("link-admin", "link", "--csv", "/nonexistent/admins.csv"), ERROR),
    ("link-admin vraagposten empty", ("link-admin", "vraagposten", "{relation}", "--accounts", ""), USAGE),
    ("link-admin unlink unknown", ("link-admin", "unlink", "NOPE-1"), ERROR),
    ("link-admin vraagposten nothing", ("link-admin", "vraagposten", "{relation}"), USAGE),
    ("link-admin vraagposten commas", ("link-admin", "vraagposten", "{relation}", "--accounts", ",,,"), USAGE),
    ("link-admin vraagposten unknown", ("link-admin", "vraagposten", "NOPE-1", "--default"), ERROR),
    ("link-admin suggest csv-out under a file", ("link-admin", "suggest", "--csv-out", "{crm_csv}/out.csv"), ERROR),
    # fetch-returns
    ("fetch-returns unknown relation", ("fetch-returns", "--relation", "NOPE-1"), ERROR),
    ("fetch-returns empty relation", ("fetch-returns", "--relation", ""), ERROR),
    # returns
    ("returns list kind", ("returns", "list", "--kind", "nonsense"), USAGE),
    ("returns list empty kind", ("returns", "list", "--kind", ""), USAGE),
    ("returns list status", ("returns", "list", "--status", "exploded"), USAGE),
    ("returns list due text", ("returns", "list", "--due-within", "abc"), USAGE),
    ("returns list due negative", ("returns", "list", "--due-within", "-1"), USAGE),
    ("returns show empty", ("returns", "show", ""), ERROR),
    ("returns show unknown", ("returns", "show", "00000000-0000-0000-0000-000000000000"), ERROR),
    ("returns show huge", ("returns", "show", HUGE), ERROR),
    ("returns mark no flag", ("returns", "mark", "{document}"), USAGE),
    ("returns mark two flags", ("returns", "mark", "{document}", "--processed", "--rejected"), USAGE),
    ("returns mark unknown", ("returns", "mark", "NOPE", "--processed"), ERROR),
    # feedback
    ("feedback no flag", ("feedback", "{document}"), USAGE),
    ("feedback two flags", ("feedback", "{document}", "--processed", "--rejected"), USAGE),
    ("feedback empty id", ("feedback", "", "--processed"), ERROR),
    ("feedback unknown id", ("feedback", "00000000-0000-0000-0000-000000000000", "--processed"), ERROR),
    ("feedback huge id", ("feedback", HUGE, "--processed"), ERROR),
    ("feedback latin-1 id", ("feedback", SURROGATE, "--processed"), USAGE),
    ("feedback pending with id", ("feedback", "{document}", "--pending"), USAGE),
    # schedule, login, sandbox, demo
    ("login region", ("login", "--region", "mars"), USAGE),
    ("login base url", ("login", "--base-url", "not a url"), USAGE),
    ("login base url ftp", ("login", "--base-url", "ftp://start.exactonline.nl"), USAGE),
    ("sandbox serve port", ("sandbox", "serve", "--port", "99999"), USAGE),
    ("sandbox serve negative port", ("sandbox", "serve", "--port", "-1"), USAGE),
    ("sandbox serve error rate", ("sandbox", "serve", "--error-rate", "2"), USAGE),
    ("sandbox serve clients", ("sandbox", "serve", "--clients", "0"), USAGE),
    ("sandbox export-crm clients", ("sandbox", "export-crm", "out.csv", "--clients", "-3"), USAGE),
    ("sandbox export-crm under a file", ("sandbox", "export-crm", "{crm_csv}/out.csv"), USAGE),
    ("demo clients", ("demo", "--clients", "1"), USAGE),
    ("unknown command", ("frobnicate",), USAGE),
    ("unknown option", ("status", "--frobnicate"), USAGE),
]


@pytest.mark.parametrize(("args", "code"), [case[1:] for case in ARGUMENTS], ids=[case[0] for case in ARGUMENTS])
def test_a_wrong_argument_is_one_clear_error_and_writes_nothing(
    populated: World, exactlink_home: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], code: int
) -> None:
    import webbrowser

    # A login that wrongly went ahead must not wait minutes for a browser.
    monkeypatch.setattr(webbrowser, "open", lambda url, *args, **kwargs: True)
    monkeypatch.setenv("EXACTLINK_EXACT__LOGIN_TIMEOUT_SECONDS", "1")
    values = {
        "relation": populated.relation,
        "document": populated.document_id,
        "crm_csv": str(populated.crm_csv),
        "home": str(exactlink_home),
    }
    assert_rejected(exactlink_home, tuple(arg.format(**values) if "{" in arg else arg for arg in args), code)


# -- a corrupt, foreign or unreadable database --------------------------------------------------------------------

DATABASE_COMMANDS: list[tuple[str, ...]] = [
    ("status",),
    ("crm", "list"),
    ("crm", "import", "{crm_csv}"),
    ("crm", "show", "{relation}"),
    ("match", "--dry-run"),
    ("sync", "--dry-run"),
    ("link-admin", "list"),
    ("fetch-returns",),
    ("returns", "list"),
    ("feedback", "{document}", "--processed"),
    ("tenant", "show"),
]


def _garbage(database: Path) -> None:
    database.write_bytes(bytes(range(256)) * 64)


def _foreign(database: Path) -> None:
    database.unlink()
    other = sqlite3.connect(database)
    other.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    other.execute("INSERT INTO users (name) VALUES ('someone else')")
    other.commit()
    other.close()


def _truncated(database: Path) -> None:
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 3])


def _damaged_pages(database: Path) -> None:
    data = bytearray(database.read_bytes())
    page = 4096
    for start in range(2 * page, len(data), 3 * page):  # keep the header page, scribble over later pages
        data[start + 8 : start + 200] = b"\xa5" * 192
    database.write_bytes(bytes(data))


def _directory(database: Path) -> None:
    database.unlink()
    database.mkdir()


def _newer(database: Path) -> None:
    db = sqlite3.connect(database)
    db.execute("INSERT INTO _exactlink_migrations (name, applied_at) VALUES ('m999_from_the_future', 'later')")
    db.commit()
    db.close()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "garbage": _garbage,
    "foreign": _foreign,
    "truncated": _truncated,
    "damaged pages": _damaged_pages,
    "directory": _directory,
    "newer": _newer,
}


def _snapshot(path: Path) -> bytes | str:
    return "directory" if path.is_dir() else path.read_bytes()


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_an_unusable_database_is_one_clear_error_for_every_command_and_is_left_alone(
    populated: World, exactlink_home: Path, damage: str
) -> None:
    database = exactlink_home / "exactlink.db"
    DAMAGES[damage](database)
    before = _snapshot(database)
    values = {"relation": populated.relation, "document": populated.document_id, "crm_csv": str(populated.crm_csv)}
    for args in DATABASE_COMMANDS:
        command = tuple(arg.format(**values) for arg in args)
        result = run_cli(*command)
        assert result.exit_code == ERROR, (damage, command, result.exit_code, result.stdout[-300:], result.stderr)
        line = assert_one_clear_error(result.stderr)
        assert str(database) in line, (damage, command, line)
        assert _snapshot(database) == before, (damage, command, "the damaged file is not touched")


def test_a_table_found_damaged_half_way_a_command_is_one_clear_error(populated: World, exactlink_home: Path) -> None:
    """Opening succeeds (the schema is intact); the damage shows only when the returns table is read."""
    database = exactlink_home / "exactlink.db"
    db = sqlite3.connect(database)
    root_page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'returns'").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(database.read_bytes())
    data[(root_page - 1) * page_size : root_page * page_size] = b"\xa5" * page_size
    database.write_bytes(bytes(data))
    assert run_cli("crm", "list").exit_code == 0, "the other tables are still readable"
    for args in (("returns", "list"), ("fetch-returns",), ("feedback", populated.document_id, "--processed")):
        result = run_cli(*args)
        assert result.exit_code == ERROR, (args, result.stderr)
        line = assert_one_clear_error(result.stderr)
        assert f"{database} is not a usable SQLite database" in line, line
        if args[0] != "feedback":
            assert database.read_bytes() == data, "the damaged file is not touched"
    db = sqlite3.connect(database)
    try:
        last = db.execute("SELECT command, outcome, finished_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        db.close()
    assert last[0] == "feedback" and last[1] == "failed" and last[2], "feedback records its failed run, finished"


# -- CSV files: wrong encoding, binary, huge, broken quoting ------------------------------------------------------

CSV_READERS: dict[str, tuple[str, ...]] = {
    "crm import": ("crm", "import", "{file}"),
    "match link --csv": ("match", "link", "--csv", "{file}"),
    "link-admin link --csv": ("link-admin", "link", "--csv", "{file}"),
}
_HEADER = "relatienummer;naam;account;administratie\r\n"
CSV_FILES: dict[str, bytes | None] = {
    "empty": b"",
    "blank lines": b"\r\n \r\n\t\r\n",
    "neither UTF-8 nor Windows-1252": (_HEADER + "R1;Caf\u00e9 De Hoek;1;1\r\n").encode("latin-1") + b"R2;\x81;2;2\r\n",
    "utf-16 without a byte order mark": (_HEADER + "R1;X;1;1\r\n").encode("utf-16-le"),
    "binary": bytes(range(256)) * 16,
    "binary without NUL": bytes(range(1, 256)) * 16,
    "1 MB cell": (_HEADER + "R1;" + "A" * 1_000_000 + ";1;1\r\n").encode(),
    "1 MB header": ("x" * 1_000_000 + ";naam\r\n").encode(),
    "unclosed quote": (_HEADER + 'R1;"Bakkerij;1;1\r\nR2;Slagerij;2;2\r\n').encode(),
    "a directory": None,
}


@pytest.mark.parametrize("content", list(CSV_FILES))
@pytest.mark.parametrize("reader", list(CSV_READERS))
def test_an_unusable_csv_file_is_one_clear_error_and_writes_nothing(
    populated: World, exactlink_home: Path, tmp_path: Path, reader: str, content: str
) -> None:
    path = tmp_path / "input.csv"
    data = CSV_FILES[content]
    if data is None:
        path.mkdir()
    else:
        path.write_bytes(data)
    args = tuple(arg.format(file=path) for arg in CSV_READERS[reader])
    # click itself refuses a directory where crm import's FILE argument wants a file (a usage error).
    code = USAGE if (reader, content) == ("crm import", "a directory") else ERROR
    line = assert_rejected(exactlink_home, args, code)
    assert str(path) in line


def test_a_utf16_file_with_a_byte_order_mark_imports_like_utf8(tmp_path: Path) -> None:
    from tests.crm.conftest import GOOD_ROW, PERSON_ROW, render

    text = render([GOOD_ROW, PERSON_ROW], delimiter="\t")  # Excel's "Unicode Text": UTF-16 LE, BOM, tabs
    utf16 = tmp_path / "unicode.txt"
    utf16.write_bytes(text.encode("utf-16"))
    result = run_cli("crm", "import", str(utf16), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["new"] == 2
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text(text, encoding="utf-8-sig")
    again = json.loads(run_cli("crm", "import", str(utf8), "--json").stdout)
    assert again["counts"]["unchanged"] == 2, "the same data, read the same way"


# -- every CRM column fed wrong, empty or huge --------------------------------------------------------------------

CELL_VARIANTS = {
    "empty": "",
    "wrong": '=1+2 \u2603 <b>x</b> \' "quoted" ;,\t| 0x00',
    "huge": "9" * 100_000,  # 100 KB: under the csv module's 128 KB cell limit, so the file is read
}


@pytest.mark.parametrize("variant", list(CELL_VARIANTS))
def test_every_crm_column_fed_wrong_empty_or_huge_is_flagged_and_the_rest_imported(
    tmp_path: Path, exactlink_home: Path, variant: str
) -> None:
    from exactlink.sandbox.model import CRM_EXPORT_COLUMNS
    from tests.crm.conftest import GOOD_ROW, render

    value = CELL_VARIANTS[variant]
    rows = [dict(GOOD_ROW)]
    for number, column in enumerate(CRM_EXPORT_COLUMNS):
        row = {**GOOD_ROW, "relatienummer": f"C{number:02d}", "naam": f"Kolom {column}", column: value}
        rows.append(row)
    path = tmp_path / "columns.csv"
    path.write_text(render(rows), encoding="utf-8-sig")
    started = time.monotonic()
    result = run_cli("crm", "import", str(path), "--json")
    assert result.exit_code in (0, 3), result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    skipped = report["counts"]["skipped"]
    # Only a row without a usable relation number may be left out, and it is reported as skipped (exit 3).
    assert skipped == (1 if variant == "empty" else 0), report["skipped"]
    assert result.exit_code == (3 if skipped else 0)
    numbers = {row["relation"] for row in json.loads(run_cli("crm", "list", "--json", "--show-bsn").stdout)}
    assert "R001" in numbers and len(numbers) == len(rows) - skipped
    good = json.loads(run_cli("crm", "show", "R001", "--json").stdout)
    assert good["name"] == "Bakkerij De Vries B.V." and good["kvk"] == "69599084", "the good row is untouched"
    for number in sorted(numbers - {"R001"}):
        shown = run_cli("crm", "show", number, "--json")
        assert shown.exit_code == 0, (number, shown.stderr)
    exported = run_cli("crm", "export", "-")
    assert exported.exit_code == 0 and exported.stdout.count("\n") >= len(numbers)
    assert time.monotonic() - started < 30


def test_a_10k_row_crm_export_imports_every_row_once(tmp_path: Path, exactlink_home: Path) -> None:
    # How fast 100,000 rows import (the 45 s bar) is bench/bench_crm_import.py's business, not a timed test's.
    path = tmp_path / "big.csv"
    write_export(path, 10_000)
    result = run_cli("crm", "import", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["new"] == 10_000
    db = sqlite3.connect(exactlink_home / "exactlink.db")
    try:
        assert db.execute("SELECT count(*) FROM relations").fetchone() == (10_000,)
        assert db.execute("SELECT kvk FROM relations WHERE relation_number = 'R009999'").fetchone() == ("10009999",)
    finally:
        db.close()
    again = run_cli("crm", "import", str(path), "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["counts"]["new"] == 0, "a second import of the same export adds nothing"


# -- a configuration with wrong types or values -------------------------------------------------------------------

BAD_CONFIGS = {
    "number as text": ('[exact]\ntimeout_seconds = "soon"\n', "exact.timeout_seconds"),
    "nan": ("[exact]\ntimeout_seconds = nan\n", "exact.timeout_seconds"),
    "negative": ("[exact]\nmax_concurrent_divisions = -3\n", "exact.max_concurrent_divisions"),
    "number for text": ("[returns]\nvraagposten_description = 5\n", "returns.vraagposten_description"),
    "unknown choice": ('[sync]\ndirection = "sideways"\n', "sync.direction"),
    "bool as text": ('[sync]\ndirect = "maybe"\n', "sync.direct"),
    "window over 30 days": ("[returns]\nwindow_days = 45\n", "returns.window_days"),
    "hour 25": ("[schedule]\nfirst_hour = 25\n", "schedule.first_hour"),
    "unknown time zone": ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone: unknown time zone"),
    "log level": ('[logging]\nlevel = "LOUD"\n', "logging.level"),
    "section as a value": ("sync = 5\n", "sync"),
    "array of tables": ("[[sync]]\ndirect = true\n", "sync"),
    "date for text": ("[exact]\nregion = 2026-01-01\n", "exact.region"),
    "unknown section": ("[frobnicate]\nx = 1\n", "frobnicate: unknown key"),
    "utf-16": (None, "not valid TOML"),
}
CONFIG_COMMANDS = [("status",), ("crm", "list"), ("returns", "list"), ("match", "--dry-run"), ("fetch-returns",)]


@pytest.mark.parametrize("config", list(BAD_CONFIGS))
def test_a_config_with_wrong_types_stops_every_command_with_exit_2(
    populated: World, exactlink_home: Path, config: str
) -> None:
    text, expected = BAD_CONFIGS[config]
    target = exactlink_home / "config.toml"
    if text is None:
        target.write_bytes('[exact]\nregion = "nl"\n'.encode("utf-16"))
    else:
        target.write_text(text, encoding="utf-8")
    for args in CONFIG_COMMANDS:
        line = assert_rejected(exactlink_home, args, USAGE)
        assert expected in line, (args, line)
