"""A populated exactlink for the bad-input and bad-server tests, built once per module and copied per test.

``world`` runs the real story once (login through the test browser, office selected, CRM imported, matched,
synced, administrations linked, returns fetched) against the sandbox served on 127.0.0.1, into a template
``EXACTLINK_HOME``. ``populated`` copies that template into the test's own ``EXACTLINK_HOME`` and points the
``EXACTLINK_*`` variables at the still-running sandbox, so every test starts from the same full database
without paying for the story again. Tokens live in the 0600 file (``token_storage = file``) so the copy
carries the login.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exactlink.sandbox import RunningServer, Sandbox
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, HTTPS_REDIRECT, Browser
from tests.cli import run_cli, set_workspace
from tests.templates import forget_rate_limits


@dataclass
class World:
    """The sandbox, its server, the environment that points exactlink at it, and the populated template home."""

    sandbox: Sandbox
    server: RunningServer
    env: dict[str, str]
    template: Path
    crm_csv: Path
    relation: str  # a linked relation with a linked administration that has returns and open vraagposten
    document_id: str  # a fetched VAT return in status 40 (realised: feedback is possible)
    division: int  # the client administration of that return


def _story(template: Path, sandbox: Sandbox) -> tuple[str, str, int]:
    from exactlink.sandbox.generator import write_crm_export

    steps = [
        ("login",),
        ("tenant", "select", str(sandbox.data.office_division), "--yes"),
        ("crm", "import", str(template.parent / "crm.csv")),
        ("match",),
        ("match", "review", "--accept-all-above", "95"),
        ("sync",),
        ("link-admin", "suggest", "--accept"),
        ("fetch-returns",),
    ]
    write_crm_export(sandbox.data, template.parent / "crm.csv")
    for args in steps:
        result = run_cli(*args)
        assert result.exit_code in (0, 3), (args, result.stderr)
    # A VAT return waiting for feedback (status 40): the one `feedback` works on; the scenario promises it.
    document, division = (
        sandbox.data.scenario.document("realised_vat"),
        sandbox.data.scenario.division_of("realised_vat"),
    )
    db = sqlite3.connect(template / "exactlink.db")
    try:
        # The relation of the administration whose vraagposten the scenario keeps open, on any day.
        relation = db.execute("SELECT relation_number FROM admin_links WHERE division = ?", (division,)).fetchone()[0]
        stored = db.execute("SELECT kind, status FROM returns WHERE document_id = ?", (document,)).fetchone()
    finally:
        db.close()
    assert stored == ("btw", 40), stored
    return str(relation), str(document), int(division)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Build the populated template once per module (and per xdist worker)."""
    import webbrowser

    base = tmp_path_factory.mktemp("world")
    template = base / "home"
    sandbox = Sandbox(clients=12, seed=7)
    redirect_uri = HTTPS_REDIRECT  # as the App Center insists; the test browser relays
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    with sandbox.serve() as server:
        env = {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": redirect_uri,
            "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
        }
        with pytest.MonkeyPatch.context() as patch:
            for name in [name for name in os.environ if name.startswith("EXACTLINK_")]:
                patch.delenv(name)
            patch.setenv("EXACTLINK_HOME", str(template))
            for name, value in env.items():
                patch.setenv(name, value)
            patch.setattr(webbrowser, "open", Browser().open)
            set_workspace(patch, sleep=lambda seconds: time.sleep(min(seconds, 0.02)))
            relation, document, division = _story(template, sandbox)
        yield World(sandbox, server, env, template, base / "crm.csv", relation, document, division)


@pytest.fixture
def populated(world: World, exactlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """This test's EXACTLINK_HOME holds a copy of the populated template; EXACTLINK_* point at the sandbox."""
    shutil.rmtree(exactlink_home, ignore_errors=True)
    shutil.copytree(world.template, exactlink_home)
    for name, value in world.env.items():
        monkeypatch.setenv(name, value)
    set_workspace(monkeypatch, sleep=lambda seconds: time.sleep(min(seconds, 0.02)))
    world.sandbox.reset_limits()  # many tests share one office administration's minutely limit …
    forget_rate_limits(exactlink_home)  # … and exactlink forgets the minute the story used
    return world


def database_dump(home: Path) -> dict[str, list[str]]:
    """Every table's rows (as SQL text), keyed by table; ``runs`` separately (a failed run is recorded on purpose)."""
    db = sqlite3.connect(f"file:{home / 'exactlink.db'}?mode=ro", uri=True)
    try:
        tables: dict[str, list[str]] = {}
        for line in db.iterdump():
            match = re.match(r'INSERT INTO "([^"]+)"', line)
            key = match.group(1) if match else "(schema)"
            tables.setdefault(key, []).append(line)
        return tables
    finally:
        db.close()


_EXCEPTION_REPR = re.compile(
    r"Traceback|unexpected error|File \"|\b[A-Z][A-Za-z]*(Error|Exception|Warning)\(|<class '"
    r"|\b(KeyError|ValueError|TypeError|AttributeError|IndexError|AssertionError|UnicodeDecodeError"
    r"|UnicodeEncodeError|ValidationError|JSONDecodeError|DatabaseError|OperationalError)\b"
)
_ALLOWED_LINE = re.compile(r"^(Usage: |Try '|hint: |warning: |\s*$)")


def assert_one_clear_error(stderr: str) -> str:
    """stderr holds exactly one error line (``error: …`` or click's ``Error: …``), no traceback, no exception repr.

    Other lines may only be click's usage lines, a hint or warnings. Returns the error line.
    """
    assert not _EXCEPTION_REPR.search(stderr), stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith(("error: ", "Error: "))]
    assert len(errors) == 1, stderr
    others = [line for line in lines if line not in errors and not _ALLOWED_LINE.match(line)]
    assert others == [], stderr
    return errors[0]


def expire_stored_tokens(home: Path) -> None:
    """Make the stored access token count as expired, so the next call refreshes first."""
    import json

    token_file = home / "state" / "tokens.json"
    stored = json.loads(token_file.read_text(encoding="utf-8"))
    for entry in stored.values():
        tokens = json.loads(entry["tokens"])
        tokens["expires_at"] = 0
        entry["tokens"] = json.dumps(tokens)
    token_file.write_text(json.dumps(stored), encoding="utf-8")


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run the test with ``umask 000``: only an explicit mode keeps a file private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)
