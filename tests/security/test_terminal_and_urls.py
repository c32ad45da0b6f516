"""Terminal hygiene and https-only endpoints.

Text from the CRM, Exact Online or any server may carry escape sequences: OSC 52 (write the clipboard), OSC 8
(a link), OSC 0 (the window title), ``CSI 2J`` (clear the screen), and C1 controls that some terminals read as
the same. Every string rendered on a terminal goes through ``exactlink.console.neutralise`` (the two consoles
apply it to everything they render): controls are shown as ``\\x1b``, long strings are cut off with a note.
``--json`` stays exact (the controls are JSON escapes). The base URL and the token endpoint must be https,
except on a loopback address (the sandbox).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from exactlink.console import json_text, neutralise
from exactlink.exitcodes import ExitCode
from tests.cli import run_cli
from tests.security.conftest import World, assert_one_clear_error, expire_stored_tokens
from tests.security.test_bad_server import JSON, CorruptingTransport
from tests.security.test_bad_server import corrupt as corrupt

CLIPBOARD = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J\x1b[H"
C1_CSI = "\x9b31m"
HOSTILE = f"Bakker{CLIPBOARD}{LINK}{TITLE}{CLEAR}{C1_CSI} B.V."


def assert_inert(text: str) -> None:
    """No byte in ``text`` can start a terminal control sequence."""
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\x9d" not in text, repr(text[:300])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("a\x9b31mb", "a\\x9b31mb"),
        ("x\x07y\x00z\x7f", "x\\x07y\\x00z\\x7f"),
        ("right\u202eto left", "right\\u202eto left"),
        ("two\nlines\tand tab", "two\nlines\tand tab"),
        ("gewoon café €", "gewoon café €"),
    ],
)
def test_neutralise_makes_controls_visible(text: str, shown: str) -> None:
    assert neutralise(text) == shown


def test_neutralise_caps_the_length_with_a_note() -> None:
    shown = neutralise("A" * 60_000, limit=100)
    assert shown.startswith("A" * 100) and shown.endswith("(59900 more characters not shown)")


def test_json_stays_exact_but_inert() -> None:
    data = {"name": HOSTILE}
    text = json_text(data)
    assert_inert(text)
    assert json.loads(text) == data


def strings(data: object) -> list[str]:
    """Every string value anywhere in a JSON document."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [text for value in data.values() for text in strings(value)]
    if isinstance(data, list):
        return [text for value in data for text in strings(value)]
    return []


def test_csv_to_stdout_is_exact_in_a_pipe_and_inert_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from exactlink.console import emit_text

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, expected in ((io.StringIO(), HOSTILE), (Terminal(), neutralise(HOSTILE, limit=None))):
        monkeypatch.setattr(sys, "stdout", stream)
        emit_text(HOSTILE)
        assert stream.getvalue() == expected
    assert_inert(neutralise(HOSTILE, limit=None))


def _seed_hostile(home: Path, relation: str) -> None:
    db = sqlite3.connect(home / "exactlink.db")
    with db:
        db.execute("UPDATE relations SET name = ?, email = ? WHERE relation_number = ?", (HOSTILE, LINK, relation))
        db.execute("UPDATE returns SET description = ?, period_description = ?", (HOSTILE, CLEAR))
        db.execute("UPDATE vraagposten SET description = ?", (HOSTILE,))
        db.execute("UPDATE accounts SET name = ?", (HOSTILE,))
    db.close()


@pytest.mark.parametrize(
    "args",
    [
        ("crm", "list"),
        ("crm", "show", "{relation}"),
        ("returns", "list"),
        ("returns", "list", "--kind", "vraagposten"),
        ("returns", "show", "{document}"),
        ("link-admin", "list"),
        ("match", "--dry-run", "--all"),
        ("status",),
    ],
)
def test_data_from_the_crm_and_exact_reaches_the_terminal_inert(
    populated: World, exactlink_home: Path, args: tuple[str, ...]
) -> None:
    _seed_hostile(exactlink_home, populated.relation)
    values = {"relation": populated.relation, "document": populated.document_id}
    result = run_cli(*(arg.format(**values) for arg in args))
    assert result.exit_code in (0, 3), result.stderr
    assert_inert(result.stdout + result.stderr)


@pytest.mark.parametrize(
    "args", [("crm", "show", "{relation}", "--json"), ("returns", "list", "--json"), ("crm", "list", "--json")]
)
def test_json_output_keeps_the_exact_text(populated: World, exactlink_home: Path, args: tuple[str, ...]) -> None:
    _seed_hostile(exactlink_home, populated.relation)
    result = run_cli(*(arg.format(relation=populated.relation) for arg in args))
    assert result.exit_code == 0, result.stderr
    assert_inert(result.stdout)
    assert HOSTILE in set(strings(json.loads(result.stdout))), "the value itself is unchanged"


def test_an_exact_error_text_full_of_escapes_is_one_inert_capped_line(
    populated: World, corrupt: Callable[..., CorruptingTransport]
) -> None:
    text = TITLE + CLIPBOARD + "Geen toegang\nerror: forged second line " + "A" * 60_000
    body = json.dumps({"error": {"code": "", "message": {"lang": "", "value": text}}}).encode()
    corrupt("system/Divisions", lambda original: (400, JSON, body))
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.ERROR
    line = assert_one_clear_error(result.stderr)
    assert_inert(result.stderr)
    assert "Geen toegang" in line and len(result.stderr) < 2_000, len(result.stderr)


def test_a_division_name_with_escapes_is_inert_in_the_table_and_exact_in_json(
    populated: World, corrupt: Callable[..., CorruptingTransport]
) -> None:
    from tests.security.test_bad_server import set_fields

    corrupt("system/Divisions", set_fields(Description=HOSTILE, CustomerName=HOSTILE))
    table = run_cli("tenant", "list")
    assert table.exit_code == 0, table.stderr
    assert_inert(table.stdout + table.stderr)
    assert "Bakker\\x1b]52;c;" in table.stdout, "shown, visibly"
    as_json = run_cli("tenant", "list", "--json")
    assert_inert(as_json.stdout)
    assert HOSTILE in {entry["name"] for entry in json.loads(as_json.stdout)["divisions"]}


def test_an_oauth_error_description_of_60000_characters_is_one_inert_capped_line(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport]
) -> None:
    expire_stored_tokens(exactlink_home)
    description = CLEAR + TITLE + "refused " + "B" * 60_000
    body = json.dumps({"error": "invalid_request", "error_description": description}).encode()
    corrupt("oauth2/token", lambda original: (400, JSON, body), forward=False)
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.LOGIN_REQUIRED, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert_inert(result.stderr)
    assert "refused" in line and len(result.stderr) < 2_000, len(result.stderr)


# -- https only ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://start.exactonline.nl", "http://localhost:8080", "http://10.0.0.5", "ftp://start.exactonline.nl"]
)
def test_a_base_url_without_https_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("EXACTLINK_BASE_URL", url)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE
    line = assert_one_clear_error(result.stderr)
    assert "exact.base_url" in line and "https://" in line, line


@pytest.mark.parametrize(
    "url", ["https://start.exactonline.nl", "http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:81"]
)
def test_https_and_loopback_base_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("EXACTLINK_BASE_URL", url)
    assert run_cli("config", "show").exit_code == 0


def test_the_client_and_the_token_endpoint_refuse_plain_http_whoever_builds_them() -> None:
    from exactlink.api.client import ExactClient
    from exactlink.auth.oauth import OAuthApp
    from exactlink.errors import ConfigError

    with pytest.raises(ConfigError, match="https"):
        OAuthApp("http://exact.example", "id", "secret", "http://127.0.0.1:8765/callback")
    with pytest.raises(ConfigError, match="https"):
        ExactClient("http://exact.example", tokens=None)  # type: ignore[arg-type]


def test_the_console_caps_each_line_so_a_long_listing_of_short_lines_stays_whole() -> None:
    from exactlink.console import MAX_RENDERED, neutralise_lines

    listing = "\n".join(f"line {n}" for n in range(1_000))
    assert neutralise_lines(listing) == listing
    capped = neutralise_lines("short\n" + "A" * (MAX_RENDERED + 10))
    assert capped.startswith("short\n") and capped.endswith("(10 more characters not shown)")
