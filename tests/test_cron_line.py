"""The crontab line `exactlink schedule` prints works the first time: it runs under `env -i` against the sandbox
over real HTTP, a broken set-up fails at once even at night, and a healthy quiet run prints nothing."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
import pytest
import time_machine

from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser
from tests.auth.conftest import browser as browser
from tests.auth.test_tokens import RaisingKeyring
from tests.cli import run_cli
from tests.returns.conftest import Office, build_office

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NIGHT = datetime(2027, 3, 9, 2, 30, tzinfo=AMSTERDAM)  # a Tuesday, well outside 07:00–20:59


@pytest.fixture
def configured_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser: Browser) -> Iterator[Office]:
    """A logged-in office configured the way the README once told: EXACTLINK_* variables in the shell; one
    administration linked, with a return in Exact; office hours all day, so the run never depends on the hour."""
    monkeypatch.setenv("EXACTLINK_SCHEDULE__FIRST_HOUR", "0")
    monkeypatch.setenv("EXACTLINK_SCHEDULE__LAST_HOUR", "23")
    for office in build_office(monkeypatch, tmp_path, browser, clients=8, seed=3):
        relation, division = office.candidates()[0]
        office.link_admin_in_store(relation, division)
        yield office


def run_like_cron(shell_command: str) -> subprocess.CompletedProcess[str]:
    """The crontab line's command, run by sh with no environment at all (`env -i`)."""
    return subprocess.run(
        ["/bin/sh", "-c", shell_command], env={}, capture_output=True, text=True, timeout=120, check=False
    )


def stored_returns(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "exactlink.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM returns").fetchone()[0])


@pytest.mark.slow
def test_the_printed_line_fetches_returns_under_env_i(configured_by_environment: Office, exactlink_home: Path) -> None:
    office = configured_by_environment

    # Configured through the environment only: schedule says cron will not see it.
    printed = run_cli("schedule", "--cron")
    assert printed.exit_code == 0, printed.stderr
    warning = " ".join(printed.stderr.split())
    assert "cron will not see EXACTLINK_BASE_URL" in warning and "EXACTLINK_CLIENT_SECRET" in warning
    assert "exactlink schedule --write-config" in warning

    # Written once: the settings to config.toml (0600), the secret to the token store, never to config.toml.
    written = run_cli("schedule", "--write-config", "--cron")
    assert written.exit_code == 0, written.stderr
    config = exactlink_home / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert CLIENT_ID in text and office.server.base_url in text and "first_hour = 0" in text
    assert CLIENT_SECRET not in text and "client_secret" not in text.replace("# ", "")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "stored the client secret in file" in written.stderr
    assert "cron will not see" not in written.stderr

    plan = json.loads(run_cli("schedule", "--json", "--cron").stdout)
    assert plan["only_in_environment"] == []
    assert set(plan["environment"]) == {"HOME", "EXACTLINK_HOME", "LANG", "PATH"}
    assert plan["cron"]["line"].endswith(plan["cron"]["shell_command"])

    before = office.sandbox.calls("read/financial/Returns")
    assert stored_returns(exactlink_home) == 0
    ran = run_like_cron(plan["cron"]["shell_command"])
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", ""), "a healthy cron run prints nothing"
    assert office.sandbox.calls("read/financial/Returns") > before
    assert stored_returns(exactlink_home) >= 1

    checked = run_cli("schedule", "--check")
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.startswith("ok: the crontab line ran in an empty environment and fetched the returns")


def test_check_names_the_first_problem_of_a_fresh_home() -> None:
    checked = run_cli("schedule", "--check")
    assert checked.exit_code == 1
    lines = checked.stderr.splitlines()
    assert lines[0].startswith("error: the crontab line failed in an empty environment (exit 2): ")
    assert "no Exact Online app is configured (exact.client_id is empty)" in lines[0]
    assert lines[1].startswith("hint: set client_id under [exact] in config.toml")


def test_the_printed_line_of_a_fresh_home_fails_at_once_under_env_i() -> None:
    plan = json.loads(run_cli("schedule", "--json", "--cron").stdout)
    ran = run_like_cron(plan["cron"]["shell_command"])
    assert ran.returncode == 2
    assert ran.stderr.splitlines()[0] == "error: no Exact Online app is configured (exact.client_id is empty)"


@pytest.mark.parametrize(
    ("settings", "exit_code", "message"),
    [
        ({}, 2, "error: no Exact Online app is configured (exact.client_id is empty)"),
        ({"EXACTLINK_CLIENT_ID": CLIENT_ID}, 2, "error: the Exact Online client secret is not set"),
        (
            {"EXACTLINK_CLIENT_ID": CLIENT_ID, "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET},
            4,
            "error: not logged in to Exact Online",
        ),
    ],
    ids=["no-app", "no-secret", "no-login"],
)
def test_a_broken_set_up_fails_at_night_too(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], exit_code: int, message: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with time_machine.travel(NIGHT, tick=False):
        result = run_cli("fetch-returns", "--office-hours", "--skip-if-locked", "--quiet")
    assert result.exit_code == exit_code
    assert result.stderr.splitlines()[0] == message
    assert result.stdout == ""


@pytest.mark.slow
def test_logged_in_without_an_office_administration_fails_at_night(
    configured_by_environment: Office, exactlink_home: Path
) -> None:
    from exactlink.store.meta import OFFICE_KEY, delete_value

    db = configured_by_environment.db()
    try:
        assert delete_value(db, OFFICE_KEY)
    finally:
        db.close()
    # The coming night: the login made just now is still valid then.
    night = (datetime.now(AMSTERDAM) + timedelta(days=1)).replace(hour=2, minute=30)
    with time_machine.travel(night, tick=False):
        result = run_cli("fetch-returns", "--office-hours", "--quiet")
    assert result.exit_code != 0
    assert result.stderr.splitlines()[0] == "error: no office administration chosen"


@pytest.mark.slow
def test_quiet_run_keeps_the_keyring_fallback_to_itself_status_reports_it(
    configured_by_environment: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = configured_by_environment.sandbox.calls("read/financial/Returns")
    monkeypatch.delenv("EXACTLINK_EXACT__TOKEN_STORAGE")  # auto: the keyring first, the 0600 file as fallback
    keyring.set_keyring(RaisingKeyring())
    quiet = run_cli("fetch-returns", "--office-hours", "--skip-if-locked", "--quiet")
    assert quiet.exit_code == 0, quiet.stderr
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert configured_by_environment.sandbox.calls("read/financial/Returns") > before, "it did run"
    status = run_cli("status")
    assert status.exit_code == 0
    assert status.stderr.count("no usable OS keyring") == 1
