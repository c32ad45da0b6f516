"""The whole demo at debug level, then a scan of everything it left behind for secrets and unmasked BSNs.

``exactlink demo``'s story (login → tenant → CRM import → match → review → sync → link-admin → fetch-returns →
returns → feedback → status → schedule) runs in child processes with ``-vv`` and ``logging.level = DEBUG``
against the sandbox; the sandbox clock jumps past the access token's lifetime twice on the way, so the story
also refreshes (and rotates) the tokens twice. Afterwards ``config init`` and ``config show`` (table and JSON)
run in the same home with the client secret in the environment.

What is searched for (every value the sandbox ever issued or received, read from its OAuth state):

* every access token and refresh token, every authorization code, every PKCE ``code_verifier`` the token
  endpoint received, the client secret (as is, URL-encoded, and a 16-character tail of each, so a
  truncated copy is caught too);
* every BSN of the generated data (the office accounts' ``BSN`` in every administration and the CRM export's
  ``bsn`` column, as written and as 9 digits).

Where it is searched: each child's stdout and stderr, the log file(s), every file under ``EXACTLINK_HOME``
(state files next to the token file, lock files, the config), every text and blob cell of every table of
the SQLite database plus the raw bytes of the database file (free pages and a WAL included), and the VCR
cassettes under ``tests/cassettes``.

What is allowed, and why:

* ``state/tokens.json`` holds the *current* access and refresh token: it is the designed 0600 fallback
  token store (the demo uses ``token_storage = file``). It must hold nothing else secret (no client
  secret, code or verifier, no BSN) and no token that was rotated away.
* The database holds BSNs in exactly the columns that are the CRM's data: ``relations.bsn`` and
  ``accounts.bsn`` (the BSN of an eenmanszaak is what matching rests on), and as part of
  ``relations.payroll_tax_number`` (a natural person's loonheffingennummer is the BSN + ``L01`` by law).
  Nowhere else: not in ``runs`` summaries, issues, returns or any other table.
* ``crm-export.csv`` is the office's own CRM export the demo imports (input, not written by exactlink);
  it is created 0600.
* ``sandbox-state.json`` is the sandbox's own world (the Exact Online side, not exactlink's), saved when the
  demo ends so ``sandbox serve --state`` reopens it with the same login: by design it holds every token and
  code the sandbox issued, the app's client secret and the generated BSNs, like Exact's own database would.
  It is created 0600 and must be the world of this demo's sandbox (its tokens are the ones issued).
Nothing else may contain any of the values.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from exactlink.sandbox import Sandbox
from exactlink.services.demo import DemoRun, run_demo
from tests.api.cassettes import CASSETTES, find_leaks
from tests.story import assert_the_story

# The demo in child processes at debug level takes as long as tests/test_demo.py's (same limit).
pytestmark = pytest.mark.timeout(300)

# The CRM's own data: BSNs are stored here on purpose (see the module docstring).
BSN_COLUMNS = {("relations", "bsn"), ("accounts", "bsn")}
BSN_INSIDE_COLUMNS = {("relations", "payroll_tax_number")}
INPUT_FILE = "crm-export.csv"
SANDBOX_STATE_FILE = "sandbox-state.json"
TOKEN_FILE = "state/tokens.json"


@dataclass
class Evidence:
    """What the demo left behind and what it must not contain."""

    run: DemoRun
    sandbox: Sandbox
    secrets: dict[str, str] = field(default_factory=dict)  # label → value
    current_tokens: set[str] = field(default_factory=set)
    bsns: set[str] = field(default_factory=set)
    outputs: dict[str, str] = field(default_factory=dict)  # label → text
    notes: list[str] = field(default_factory=list)  # the narrator's lines that name no command


def _bsns(sandbox: Sandbox) -> set[str]:
    from exactlink.sandbox.model import ACCOUNTS

    found: set[str] = set()
    for division in sandbox.data.divisions.values():
        found.update(str(record["BSN"]) for record in division.tables[ACCOUNTS].values() if record.get("BSN"))
    found.update(row["bsn"] for row in sandbox.data.crm_rows if row.get("bsn"))
    found |= {re.sub(r"\D", "", bsn) for bsn in found}
    return {bsn for bsn in found if len(re.sub(r"\D", "", bsn)) >= 8}


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    """Run the demo once, at debug level, with every child's output captured."""
    home = tmp_path_factory.mktemp("secrets") / "demo-home"
    sandbox = Sandbox(clients=10, seed=4)
    notes: list[str] = []

    def narrate(title: str, command: str) -> None:
        if not command:
            notes.append(title)
        # Past the access token's 600 s: the next command gets a 401 and refreshes (rotating the refresh token).
        if command in ("exactlink sync --json", "exactlink fetch-returns"):
            sandbox.advance(601)

    run = run_demo(clients=10, seed=4, home=home, narrate=narrate, debug=True, capture=True, sandbox=sandbox)
    issued = sandbox.oauth.issued_secrets()
    evidence = Evidence(run, sandbox, bsns=_bsns(sandbox), notes=notes)
    labelled = {
        "access token": issued.access_tokens,
        "refresh token": issued.refresh_tokens,
        "authorization code": issued.authorization_codes,
        "PKCE verifier": issued.code_verifiers,
        "client secret": issued.client_secrets,
    }
    for label, values in labelled.items():
        for number, value in enumerate(sorted(values)):
            evidence.secrets[f"{label} {number}"] = value
    for output in run.outputs:
        evidence.outputs[f"`{output.command}` stdout"] = output.stdout.decode("utf-8", "replace")
        evidence.outputs[f"`{output.command}` stderr"] = output.stderr.decode("utf-8", "replace")
    # The configuration commands, with the demo app's secret in the environment.
    app = next(app for app in sandbox.oauth.apps.values() if app.client_id.endswith("-demo-app}"))
    env = {
        "EXACTLINK_HOME": str(home),
        "EXACTLINK_BASE_URL": run.base_url,
        "EXACTLINK_CLIENT_ID": app.client_id,
        "EXACTLINK_CLIENT_SECRET": app.client_secret,
        "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
        "EXACTLINK_LOGGING__LEVEL": "DEBUG",
        "PATH": "/usr/bin:/bin",
    }
    for args in (("config", "init"), ("config", "show"), ("config", "show", "--json"), ("status", "--json")):
        done = subprocess.run(
            [sys.executable, "-m", "exactlink", "-vv", *args], env=env, capture_output=True, check=False, timeout=60
        )
        evidence.outputs[f"`{' '.join(args)}` stdout"] = done.stdout.decode("utf-8", "replace")
        evidence.outputs[f"`{' '.join(args)}` stderr"] = done.stderr.decode("utf-8", "replace")
    token_text = (home / TOKEN_FILE).read_text(encoding="utf-8")
    evidence.current_tokens = {value for value in issued.access_tokens | issued.refresh_tokens if value in token_text}
    yield evidence


def _forms(secret: str) -> set[str]:
    """The secret, URL-encoded, and its last 16 characters (a truncated or re-encoded copy is a leak too)."""
    return {secret, urllib.parse.quote(secret, safe=""), secret[-16:]}


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(label for label, secret in secrets.items() if any(form in text for form in _forms(secret)))


def _bsn_hits(text: str, bsns: set[str]) -> list[str]:
    return sorted(bsn for bsn in bsns if bsn in text)


def test_the_scan_has_something_to_find(evidence: Evidence) -> None:
    labels = " ".join(evidence.secrets)
    assert labels.count("access token") >= 3 and labels.count("refresh token") >= 3, "two refreshes happened"
    assert "authorization code" in labels and "PKCE verifier" in labels and "client secret" in labels
    assert len(evidence.bsns) >= 2
    assert len(evidence.current_tokens) == 2, "the token file holds the newest access and refresh token"
    steps = [command for command, _ in evidence.run.steps]
    assert "fetch-returns" in steps and any(step.startswith("feedback") for step in steps)
    debug_lines = [text for label, text in evidence.outputs.items() if "stderr" in label and "DEBUG exactlink" in text]
    assert debug_lines, "the children logged at debug level on stderr"
    assert "DEBUG exactlink" in (evidence.run.home / "log" / "exactlink.log").read_text(encoding="utf-8")


def test_the_demo_in_child_processes_runs_every_step_of_the_story(evidence: Evidence) -> None:
    """The story's checks for the demo as ``exactlink demo`` runs it: every command a child process.

    (The story in-process is checked at six moments by tests/test_every_day.py, and ``exactlink demo`` itself
    by tests/test_demo.py; this run is the same child-process story, so it carries these checks too.)
    """
    assert_the_story(evidence.run, evidence.notes)


def test_no_secret_or_bsn_on_stdout_or_stderr(evidence: Evidence) -> None:
    for label, text in evidence.outputs.items():
        assert _leaks(text, evidence.secrets) == [], label
        assert _bsn_hits(text, evidence.bsns) == [], label


def test_no_secret_or_bsn_in_any_file_but_the_designed_ones(evidence: Evidence) -> None:
    home = evidence.run.home
    files = [path for path in sorted(home.rglob("*")) if path.is_file()]
    names = {path.relative_to(home).as_posix() for path in files}
    assert {"exactlink.db", "config.toml", TOKEN_FILE, "log/exactlink.log"} <= names
    for path in files:
        name = path.relative_to(home).as_posix()
        if name == INPUT_FILE:
            continue
        if name == SANDBOX_STATE_FILE:
            refresh_tokens = evidence.sandbox.oauth.issued_secrets().refresh_tokens
            assert refresh_tokens and all(token in path.read_text(encoding="utf-8") for token in refresh_tokens)
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if name == TOKEN_FILE:
            allowed = {label for label, value in evidence.secrets.items() if value in evidence.current_tokens}
            assert [label for label in _leaks(text, evidence.secrets) if label not in allowed] == [], name
        else:
            assert _leaks(text, evidence.secrets) == [], name
        if not name.startswith("exactlink.db"):
            assert _bsn_hits(text, evidence.bsns) == [], name


def test_bsns_in_the_database_only_in_the_crm_columns(evidence: Evidence) -> None:
    import sqlite3

    db = sqlite3.connect(evidence.run.home / "exactlink.db")
    try:
        seen: set[tuple[str, str]] = set()
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info('{table}')")]
            for row in db.execute(f"SELECT * FROM '{table}'"):
                for column, value in zip(columns, row, strict=True):
                    if value is None or isinstance(value, (int, float)):
                        continue
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    assert _leaks(text, evidence.secrets) == [], (table, column)
                    hits = _bsn_hits(text, evidence.bsns)
                    if not hits:
                        continue
                    seen.add((table, column))
                    if (table, column) in BSN_INSIDE_COLUMNS:
                        assert text[:9] in evidence.bsns and text[9:] == "L01", (table, column, "payroll number")
                    else:
                        assert (table, column) in BSN_COLUMNS, (table, column)
    finally:
        db.close()
    assert ("relations", "bsn") in seen, "the scan reads the cells (the CRM mirror does hold BSNs)"


def test_no_secret_or_bsn_in_the_cassettes(evidence: Evidence) -> None:
    cassettes = sorted(CASSETTES.rglob("*.yaml"))
    assert cassettes
    for path in cassettes:
        text = path.read_text(encoding="utf-8")
        assert find_leaks(text, tuple(evidence.secrets.values())) == [], path
        assert _bsn_hits(text, evidence.bsns) == [], path
        for candidate in re.findall(r"(?<![\dA-Za-z])\d{9}(?![\dA-Za-z])", text):
            weighted = sum(int(digit) * weight for digit, weight in zip(candidate[:8], range(9, 1, -1), strict=True))
            assert (weighted - int(candidate[8])) % 11 != 0, (path, "a 9-digit number passing the 11-proef")


def test_the_files_are_private(evidence: Evidence) -> None:
    home = evidence.run.home
    for path in [home, *sorted(home.rglob("*"))]:
        mode = path.stat().st_mode & 0o777
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, (path.relative_to(home).as_posix() or ".", oct(mode))
    names = {path.relative_to(home).as_posix() for path in home.rglob("*")}
    assert {"state/locks", "log", "state/tokens.json", "exactlink.db", "config.toml"} <= names
    assert any(name.endswith(".lock") for name in names)
