"""20 exactlink processes at once on one login and one database: cron runs and interactive runs together.

The processes are the real ``exactlink`` executable, started together against one ``EXACTLINK_HOME``
(file token store, the access token expired at the start) and one sandbox over real HTTP whose every
call, the token endpoint's included, takes ``LATENCY_MS``. The mix: the hourly cron run
(``fetch-returns --skip-if-locked --quiet``), interactive ``fetch-returns``, ``sync``, ``tenant list``,
``returns list``, ``status`` and ``crm list``. Checked:

- exactly one token refresh in all (and no new login needed afterwards);
- no ``database is locked`` (or any other traceback or busy error) on any stderr;
- the run lock: at no moment did two fetch-returns runs work (the sandbox counts the calls to client
  administrations in flight; each run makes one at a time), the runs that found the lock held skipped
  quietly (cron, exit 0, nothing printed) or said so and exited 5 (interactive), and at least one did
  the work;
- every process exits with a documented code, the one its situation calls for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exactlink.exitcodes import ExitCode
from exactlink.sandbox import Faults, Sandbox
from tests.reliability.world import Template, budget_used, integrity_problems, open_world

LATENCY_MS = 60.0
# Calls a fetch-returns run makes to the client administrations (one at a time with the setting below).
CLIENT_ENDPOINTS = ("/read/financial/Returns", "/financial/GLAccounts", "/bulk/Financial/TransactionLines")

CRON = ("fetch-returns", "--skip-if-locked", "--quiet")
FETCH = ("fetch-returns",)
SYNC = ("sync", "--quiet")
PROCESSES: list[tuple[str, ...]] = list(
    [CRON] * 5
    + [FETCH] * 3
    + [SYNC] * 3
    + [("tenant", "list", "--json")] * 3
    + [("returns", "list", "--json")] * 2
    + [("status", "--json")] * 2
    + [("crm", "list", "--json")] * 2
)


class InFlight:
    """Counts the calls to client administrations the sandbox is answering at any moment (the maximum too)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.now = 0
        self.most = 0
        self.total = 0
        self._lock = threading.Lock()
        original = sandbox.handle

        def handle(method: str, url: str, headers: Any, body: bytes = b"", **options: Any) -> Any:
            counted = any(endpoint in url for endpoint in CLIENT_ENDPOINTS)
            if counted:
                with self._lock:
                    self.now += 1
                    self.total += 1
                    self.most = max(self.most, self.now)
            try:
                return original(method, url, headers, body, **options)
            finally:
                if counted:
                    with self._lock:
                        self.now -= 1

        sandbox.handle = handle  # type: ignore[method-assign]


@dataclass
class Finished:
    """One process's command line, exit code and output."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


def _runs(database: Path) -> list[tuple[str, str | None, int]]:
    import sqlite3

    conn = sqlite3.connect(str(database))
    try:
        return list(conn.execute("SELECT command, outcome, pid FROM runs ORDER BY id"))
    finally:
        conn.close()


@pytest.mark.slow
def test_twenty_processes_share_one_login_and_one_database(templates: dict[str, Template], tmp_path: Path) -> None:
    with open_world(templates["returns"], tmp_path, expired_token=True, sandbox_time=False) as world:
        world.sandbox.faults = Faults(latency_ms=LATENCY_MS, include_token_endpoint=True)
        in_flight = InFlight(world.sandbox)
        env = {**world.subprocess_env(), "EXACTLINK_EXACT__MAX_CONCURRENT_DIVISIONS": "1"}
        before = {pid for _, _, pid in _runs(world.database)}

        processes = [
            (
                args,
                subprocess.Popen(
                    [sys.executable, "-m", "exactlink", *args],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
            for args in PROCESSES
        ]
        finished = []
        for args, process in processes:
            stdout, stderr = process.communicate(timeout=90)
            finished.append(Finished(args, process.returncode, stdout, stderr))

        problems = [
            f"{' '.join(done.args)}: {done.stderr.strip()}"
            for done in finished
            if any(text in done.stderr.lower() for text in ("database is locked", "busy", "traceback"))
        ]
        assert problems == []
        assert world.sandbox.token_calls["refresh_token"] == 1
        assert world.sandbox.token_calls["authorization_code"] == 0

        for done in finished:
            if done.args == CRON:
                assert (done.code, done.stdout, done.stderr) == (0, "", ""), done
            elif done.args in (FETCH, SYNC):
                assert done.code in (ExitCode.OK, ExitCode.LOCKED), done
                if done.code == ExitCode.LOCKED:
                    assert "holds the" in done.stderr and "lock" in done.stderr, done
                    assert len(done.stderr.strip().splitlines()) <= 2, done
            else:
                assert done.code == ExitCode.OK, done
                json.loads(done.stdout)

        fetch_runs = [(outcome, pid) for command, outcome, pid in _runs(world.database) if command == "fetch-returns"]
        fetch_runs = [(outcome, pid) for outcome, pid in fetch_runs if pid not in before]
        worked = [pid for outcome, pid in fetch_runs if outcome == "ok"]
        skipped = [pid for outcome, pid in fetch_runs if outcome == "skipped"]
        locked_out = [done for done in finished if done.args == FETCH and done.code == ExitCode.LOCKED]
        assert worked, "no fetch-returns run did the work"
        assert len(worked) + len(skipped) + len(locked_out) == PROCESSES.count(CRON) + PROCESSES.count(FETCH)
        assert in_flight.most == 1, "two fetch-returns runs called Exact at the same time"
        assert in_flight.total >= len(worked) * len(templates["returns"].data["pairs"])
        assert integrity_problems(world.database) == []

        world.sandbox.faults = Faults()
        world.sandbox.advance(601)
        again = subprocess.run(
            [sys.executable, "-m", "exactlink", "tenant", "list", "--json"], env=env, capture_output=True, text=True
        )
        assert again.returncode == 0, f"the stored (rotated) login no longer works: {again.stderr}"
        assert world.sandbox.token_calls["authorization_code"] == 0
        print(
            f"figures: {len(worked)} fetch-returns run(s) did the work, {len(skipped)} skipped quietly, "
            f"{len(locked_out)} exited 5; 1 token refresh; most client calls in flight: {in_flight.most}"
        )


@pytest.mark.slow
def test_an_outage_seen_by_many_runs_at_once_stays_within_the_error_budget(
    templates: dict[str, Template], tmp_path: Path
) -> None:
    # Exact answers every call with 503 while five runs start together, twice: their retries together
    # must still stop at Exact's 10 failed calls per endpoint, or Exact blocks the app for everyone. Five
    # runs' retries alone would make well over 10 failed calls; each run is a process (~0.6 s of CPU to start).
    with open_world(templates["office"], tmp_path, sandbox_time=False) as world:
        world.sandbox.faults = Faults(error_rate=1.0, latency_ms=LATENCY_MS)
        env = world.subprocess_env()
        finished = []
        for _ in range(2):
            processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "exactlink", "tenant", "list", "--json"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(5)
            ]
            finished += [(process.wait(timeout=90), process.communicate()[1]) for process in processes]

        assert world.sandbox.blocked_endpoints == {}
        assert budget_used(world.sandbox) == 10
        assert all(code == ExitCode.ERROR and line_count(stderr) == 1 for code, stderr in finished), finished


def line_count(text: str) -> int:
    """Lines of output (an error is one line; this one has no hint line)."""
    return len(text.strip().splitlines())
