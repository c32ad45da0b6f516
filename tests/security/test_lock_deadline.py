"""A hung run cannot hold the run lock for ever, and later cron runs do not skip silently behind it.

The holder records its pid, start and deadline (``runs.max_minutes``) next to the lock and stops itself at the
deadline. A run that finds the lock held past the recorded deadline (a holder that is stopped, so its watchdog
cannot run) fails with exit 5 and one line naming the pid, even with ``--skip-if-locked --quiet``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactlink.errors import LockHeld
from exactlink.exitcodes import ExitCode
from exactlink.services.locking import run_lock
from tests.cli import run_cli
from tests.security.conftest import assert_one_clear_error

HOLD = """
import sys, time
from exactlink.services.locking import run_lock
with run_lock(sys.argv[1], max_seconds=float(sys.argv[2])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def hold(started: list[subprocess.Popen[bytes]], name: str, max_seconds: float) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, name, str(max_seconds)], stdout=subprocess.PIPE, env=os.environ.copy()
    )
    started.append(process)
    assert process.stdout is not None and process.stdout.readline().strip() == b"held"
    return process


def test_the_lock_records_its_owner_start_and_deadline(exactlink_home: Path) -> None:
    with run_lock("run", max_seconds=600):
        owner = json.loads((exactlink_home / "state" / "locks" / "run.owner.json").read_text())
        assert owner["pid"] == os.getpid()
        assert owner["deadline"] - owner["started"] == pytest.approx(600)
        assert owner["started_at"] and owner["deadline_at"]
    assert not (exactlink_home / "state" / "locks" / "run.owner.json").exists()


def test_a_run_past_its_deadline_stops_itself_and_frees_the_lock(
    exactlink_home: Path, holder: list[subprocess.Popen[bytes]]
) -> None:
    process = hold(holder, "returns", max_seconds=1.0)
    with pytest.raises(LockHeld), run_lock("returns"):
        pass
    assert process.wait(timeout=10) == -signal.SIGTERM, "the watchdog stopped the overdue run"
    with run_lock("returns"):
        pass


def test_a_hung_holder_past_its_deadline_is_reported_even_with_skip_if_locked_quiet(
    exactlink_home: Path, holder: list[subprocess.Popen[bytes]]
) -> None:
    process = hold(holder, "returns", max_seconds=1.0)
    process.send_signal(signal.SIGSTOP)  # hung: not even its watchdog runs
    try:
        time.sleep(1.3)
        result = run_cli("fetch-returns", "--skip-if-locked", "--quiet")
    finally:
        process.send_signal(signal.SIGCONT)
    assert result.exit_code == ExitCode.LOCKED, (result.stdout, result.stderr)
    line = assert_one_clear_error(result.stderr)
    assert f"pid {process.pid}" in line and "past its deadline" in line and "hung" in line, line
    assert f"kill {process.pid}" in result.stderr


def test_a_busy_holder_within_its_deadline_is_still_skipped_quietly(
    exactlink_home: Path, holder: list[subprocess.Popen[bytes]]
) -> None:
    hold(holder, "returns", max_seconds=600)
    result = run_cli("fetch-returns", "--skip-if-locked", "--quiet")
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == "", result.stderr
    refused = run_cli("fetch-returns")
    assert refused.exit_code == ExitCode.LOCKED
    assert "pid" in assert_one_clear_error(refused.stderr)
