"""A server that answers nonsense: HTML, truncated JSON, an empty 200, ``{"d":{}}``, unknown enum values.

The sandbox is wrapped in a transport (the workspace's ``transport``, set with ``tests.cli.set_workspace``) that
corrupts the answers of one endpoint. Each command must then end with one clear error line (no traceback, no
exception repr) and a documented exit code, and leave nothing written half:

* a command that cannot do its work exits 1 and the database is exactly as before (a finished ``failed`` run
  aside; ``feedback`` also notes on the return why the feedback failed);
* a bulk run over many administrations in which one administration's answers are corrupt exits 3: that
  administration's data is untouched, the others are done;
* values Exact may add later (a return ``Status`` 99, a ``Type`` 999, a division ``Status`` 7) are not a crash:
  they are shown as unknown or reported as skipped.

Token-endpoint answers are corrupted *instead of* reaching the sandbox, so no refresh token is rotated away from
the template the other tests copy.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exactlink.exitcodes import ExitCode
from tests.cli import run_cli, set_workspace
from tests.security.conftest import World, assert_one_clear_error, database_dump, expire_stored_tokens

JSON = "application/json; charset=utf-8"
Answer = tuple[int, str, bytes]
Corruption = Callable[[bytes], Answer]


def _rows_of(data: Any) -> list[dict[str, Any]]:
    payload = data["d"]
    if isinstance(payload, dict) and "results" in payload:
        return list(payload["results"])
    return payload if isinstance(payload, list) else [payload]


def set_fields(**fields: Any) -> Corruption:
    """Every row of the answer gets ``fields`` (an unknown enum value, a value of the wrong type)."""

    def corrupt(body: bytes) -> Answer:
        data = json.loads(body)
        for row in _rows_of(data):
            row.update(fields)
        return 200, JSON, json.dumps(data).encode()

    return corrupt


def add_row(row: dict[str, Any]) -> Corruption:
    """The answer gets one more row (e.g. one without its key or its sync Timestamp)."""

    def corrupt(body: bytes) -> Answer:
        data = json.loads(body)
        payload = data["d"]
        if isinstance(payload, dict) and "results" in payload:
            payload["results"].append(row)
        return 200, JSON, json.dumps(data).encode()

    return corrupt


PAGE_CORRUPTIONS: dict[str, Corruption] = {
    "HTML": lambda body: (200, "text/html; charset=utf-8", b"<html><body><h1>Service Unavailable</h1></body></html>"),
    "truncated JSON": lambda body: (200, JSON, body[: max(1, len(body) // 2)]),
    "empty 200": lambda body: (200, JSON, b""),
    '{"d":{}}': lambda body: (200, JSON, b'{"d":{}}'),
    '{"d":null}': lambda body: (200, JSON, b'{"d":null}'),
    "results not a list": lambda body: (200, JSON, b'{"d":{"results":"many"}}'),
    "not OData": lambda body: (200, JSON, b"[1, 2, 3]"),
}


class CorruptingTransport(httpx.BaseTransport):
    """The sandbox, except that answers of ``endpoint`` (in ``division``, if given) are corrupted.

    ``forward=False`` answers without the sandbox ever seeing the call (for calls that change its state).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        endpoint: str,
        corrupt: Corruption,
        *,
        division: int | None = None,
        forward: bool = True,
    ) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.corrupt = corrupt
        self.division = division
        self.forward = forward
        self.corrupted = 0

    def _targets(self, request: httpx.Request) -> bool:
        path = request.url.path
        return self.endpoint in path and (self.division is None or f"/{self.division}/" in path)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self._targets(request):
            return self.inner.handle_request(request)
        if self.forward:
            original = self.inner.handle_request(request)
            body = original.read()
            if original.status_code >= 300:
                return httpx.Response(original.status_code, headers=original.headers, content=body, request=request)
            headers = {k: v for k, v in original.headers.items() if k.lower() not in ("content-length", "content-type")}
        else:
            request.read()
            body, headers = b'{"d": {"results": []}}', {}
        status, content_type, content = self.corrupt(body)
        self.corrupted += 1
        headers["Content-Type"] = content_type
        return httpx.Response(status, headers=headers, content=content, request=request)


@pytest.fixture
def corrupt(populated: World, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CorruptingTransport]:
    """``corrupt(endpoint, corruption, division=, forward=)`` installs the corrupting transport."""

    def install(endpoint: str, corruption: Corruption, **options: Any) -> CorruptingTransport:
        transport = CorruptingTransport(populated.sandbox.transport(), endpoint, corruption, **options)
        set_workspace(monkeypatch, transport=transport)
        return transport

    return install


def unchanged_but_runs(before: dict[str, list[str]], after: dict[str, list[str]]) -> None:
    """Every table as before; ``runs`` may only gain finished ``failed`` runs."""
    runs_before, runs_after = before.pop("runs", []), after.pop("runs", [])
    before.pop("sqlite_sequence", None), after.pop("sqlite_sequence", None)
    assert after == before, "nothing is written"
    assert runs_after[: len(runs_before)] == runs_before
    assert all("'failed'" in line for line in runs_after[len(runs_before) :]), runs_after


# -- whole commands whose one source of data answers nonsense ------------------------------------------------------

COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "tenant list (current/Me)": (("tenant", "list"), "current/Me"),
    "tenant list (Divisions)": (("tenant", "list"), "system/Divisions"),
    "tenant select": (("tenant", "select", "{office}", "--yes"), "system/Divisions"),
    "match (accounts)": (("match",), "sync/CRM/Accounts"),
    "sync (addresses)": (("sync",), "sync/CRM/Addresses"),
    "link-admin suggest": (("link-admin", "suggest", "--accept"), "accountancy/SolutionLinks"),
    "feedback (re-reading the return)": (("feedback", "{document}", "--processed"), "read/financial/Returns"),
}


@pytest.mark.parametrize("corruption", list(PAGE_CORRUPTIONS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_nonsense_answer_is_one_clear_error_and_writes_nothing(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport], command: str, corruption: str
) -> None:
    args, endpoint = COMMANDS[command]
    values = {"office": str(populated.sandbox.data.office_division), "document": populated.document_id}
    transport = corrupt(endpoint, PAGE_CORRUPTIONS[corruption])
    before = database_dump(exactlink_home)
    feedback_before = _feedback_free_returns(exactlink_home)
    result = run_cli(*(arg.format(**values) for arg in args))
    assert transport.corrupted >= 1, "the corrupted endpoint was called"
    assert result.exit_code == ExitCode.ERROR, (result.exit_code, result.stdout[-400:], result.stderr)
    line = assert_one_clear_error(result.stderr)
    assert "Exact Online" in line and endpoint.split("/")[-1] in line, line
    after = database_dump(exactlink_home)
    if args[0] == "feedback":
        # feedback records the decision and why reporting it failed (FEEDBACK_COLUMNS); nothing else changes.
        assert _feedback_free_returns(exactlink_home) == feedback_before
        before.pop("returns"), after.pop("returns")
    unchanged_but_runs(before, after)


# `feedback DOC --processed` first records the office's decision on the return (local_status) and then the outcome of
# reporting it (feedback_state, feedback_message, reported_at): a failed report leaves the decision pending for
# `feedback --pending`, by design. Every other column stays as it was.
FEEDBACK_COLUMNS = ("local_status", "feedback_state", "feedback_message", "reported_at", "last_seen_at")


def _feedback_free_returns(home: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(home / "exactlink.db")
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(returns)")]
        kept = ", ".join(c for c in columns if c not in FEEDBACK_COLUMNS)
        return db.execute(f"SELECT {kept} FROM returns ORDER BY document_id").fetchall()
    finally:
        db.close()


# -- rows the client cannot use --------------------------------------------------------------------------------------

BAD_ROWS: dict[str, tuple[tuple[str, ...], str, Corruption]] = {
    "an account without ID": (("match",), "sync/CRM/Accounts", add_row({"Timestamp": "999999999", "Name": "Ghost"})),
    "an account without Timestamp": (
        ("match",),
        "sync/CRM/Accounts",
        add_row({"ID": "0b5e5a55-0000-4000-8000-000000000001", "Name": "Ghost"}),
    ),
    "an address with a text Timestamp": (
        ("sync",),
        "sync/CRM/Addresses",
        add_row({"ID": "0b5e5a55-0000-4000-8000-000000000002", "Timestamp": "soon"}),
    ),
    "a division whose Code is text": (("tenant", "list"), "system/Divisions", set_fields(Code="abc")),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_row_the_client_cannot_use_is_one_clear_error_and_writes_nothing(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport], case: str
) -> None:
    args, endpoint, corruption = BAD_ROWS[case]
    corrupt(endpoint, corruption)
    before = database_dump(exactlink_home)
    result = run_cli(*args)
    assert result.exit_code == ExitCode.ERROR, (result.exit_code, result.stdout[-400:], result.stderr)
    line = assert_one_clear_error(result.stderr)
    assert "Exact Online sent" in line, line
    unchanged_but_runs(before, database_dump(exactlink_home))


# -- one administration of a bulk run answers nonsense ------------------------------------------------------------


def _returns_of(home: Path, division: int) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(home / "exactlink.db")
    try:
        return db.execute("SELECT * FROM returns WHERE division = ? ORDER BY document_id", (division,)).fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("corruption", ["HTML", "truncated JSON", '{"d":{}}', "not OData"])
def test_one_administration_answering_nonsense_fails_alone_in_fetch_returns(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport], corruption: str
) -> None:
    division = populated.division
    corrupt("read/financial/Returns", PAGE_CORRUPTIONS[corruption], division=division)
    before = _returns_of(exactlink_home, division)
    assert before, "the administration has returns in the mirror"
    result = run_cli("fetch-returns")
    assert result.exit_code == ExitCode.PARTIAL, (result.stdout[-400:], result.stderr)
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and f"administration {division}" in failures[0], result.stderr
    assert "Exact Online" in failures[0] and "Returns" in failures[0]
    assert _returns_of(exactlink_home, division) == before, "the failed administration's returns are untouched"


# -- values Exact may add later ------------------------------------------------------------------------------------


def test_a_return_with_an_unknown_status_is_kept_and_shown_as_unknown(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport]
) -> None:
    corrupt("read/financial/Returns", set_fields(Status=99), division=populated.division)
    result = run_cli("fetch-returns")
    assert result.exit_code == 0, result.stderr
    listed = run_cli("returns", "show", populated.document_id)
    assert listed.exit_code == 0, listed.stderr
    assert "99" in listed.stdout and "unknown" in listed.stdout.lower()
    shown = json.loads(run_cli("returns", "list", "--json").stdout)
    ours = [row for row in shown if row["document_id"] == populated.document_id]
    assert ours and ours[0]["exact_status"] == 99 and "99" in ours[0]["exact_status_text"], ours


def test_feedback_on_a_return_exact_now_shows_in_an_unknown_status_is_refused_in_plain_words(
    populated: World, corrupt: Callable[..., CorruptingTransport]
) -> None:
    transport = corrupt("read/financial/Returns", set_fields(Status=99))
    result = run_cli("feedback", populated.document_id, "--processed")
    assert transport.corrupted == 1
    assert result.exit_code == ExitCode.ERROR
    line = assert_one_clear_error(result.stderr)
    assert "status 99" in line and "status 40" in line, line
    assert populated.sandbox.calls("financial/ProcessReturn") == 0, "nothing is sent to Exact"


def test_returns_of_an_unknown_type_are_reported_and_not_stored(
    populated: World, exactlink_home: Path, corrupt: Callable[..., CorruptingTransport]
) -> None:
    division = populated.division
    corrupt("read/financial/Returns", set_fields(Type=999), division=division)
    before = _returns_of(exactlink_home, division)
    result = run_cli("fetch-returns", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    ours = [row for row in report["administrations"] if row["division"] == division]
    assert ours and ours[0]["unknown_type"] >= 1, ours
    assert _returns_of(exactlink_home, division) == before
    text = run_cli("fetch-returns")
    assert "of a type exactlink does not know" in text.stderr


def test_a_division_with_an_unknown_status_is_listed_not_a_crash(
    populated: World, corrupt: Callable[..., CorruptingTransport]
) -> None:
    corrupt("system/Divisions", set_fields(Status=7))
    result = run_cli("tenant", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["divisions"]
    table = run_cli("tenant", "list")
    assert table.exit_code == 0 and "Traceback" not in table.stderr


# -- the token endpoint answering nonsense ------------------------------------------------------------------------


@pytest.fixture
def expired(exactlink_home: Path) -> Path:
    """The stored access token counts as expired, so the next call refreshes first."""
    expire_stored_tokens(exactlink_home)
    return exactlink_home / "state" / "tokens.json"


@pytest.mark.parametrize("corruption", ["HTML", "truncated JSON", "empty 200", '{"d":{}}', "not OData"])
def test_a_nonsense_refresh_answer_keeps_the_stored_login(
    populated: World, expired: Path, corrupt: Callable[..., CorruptingTransport], corruption: str
) -> None:
    before = expired.read_bytes()
    transport = corrupt("oauth2/token", PAGE_CORRUPTIONS[corruption], forward=False)
    result = run_cli("tenant", "list")
    assert transport.corrupted >= 1
    assert result.exit_code in (ExitCode.ERROR, ExitCode.LOGIN_REQUIRED), result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "token" in line.lower() or "login" in line.lower(), line
    assert expired.read_bytes() == before, "the stored tokens are not replaced by anything half"


@pytest.mark.parametrize("corruption", ["HTML", "truncated JSON", "empty 200", '{"d":{}}'])
def test_a_nonsense_answer_to_the_code_exchange_stores_nothing(
    populated: World,
    exactlink_home: Path,
    corrupt: Callable[..., CorruptingTransport],
    monkeypatch: pytest.MonkeyPatch,
    corruption: str,
) -> None:
    import webbrowser

    from tests.auth.conftest import Browser

    monkeypatch.setattr(webbrowser, "open", Browser().open)
    token_file = exactlink_home / "state" / "tokens.json"
    before = token_file.read_bytes()
    corrupt("oauth2/token", PAGE_CORRUPTIONS[corruption], forward=False)
    result = run_cli("login")
    assert result.exit_code == ExitCode.ERROR, result.stderr
    # login first prints the URL to open and that it waits for the browser or a pasted address; then the one error.
    error_part = re.split(r"ends on\s+here:\n", result.stderr, maxsplit=1)[1]
    line = assert_one_clear_error(error_part)
    assert "token" in line, line
    assert token_file.read_bytes() == before


@pytest.fixture
def restored_return(populated: World) -> Iterator[None]:
    """Put the feedback return back the way it was in the shared sandbox."""
    from exactlink.sandbox.model import RETURNS

    records = populated.sandbox.records(populated.division, RETURNS)
    saved = {key: dict(record) for key, record in records.items()}
    yield
    for key, record in saved.items():
        records[key].update(record)


@pytest.mark.parametrize("corruption", ["HTML", "truncated JSON", "not OData"])
def test_a_nonsense_answer_to_the_feedback_leaves_the_return_pending(
    populated: World,
    exactlink_home: Path,
    corrupt: Callable[..., CorruptingTransport],
    restored_return: None,
    corruption: str,
) -> None:
    corrupt("financial/ProcessReturn", PAGE_CORRUPTIONS[corruption], forward=False)
    before = _feedback_free_returns(exactlink_home)
    result = run_cli("feedback", populated.document_id, "--processed")
    assert result.exit_code == ExitCode.ERROR, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "pending" in line, line
    assert _feedback_free_returns(exactlink_home) == before, "the return's status is not changed locally"
    shown = json.loads(run_cli("returns", "show", populated.document_id, "--json").stdout)
    assert shown["exact_status"] == 40
