"""20 processes share one login and all find an expired access token: exactly one refresh, nobody logs out.

The processes are started through a multiprocessing forkserver (exactlink preloaded, so they start in
milliseconds and really race). They use the file token store (an in-memory keyring cannot be shared
between processes) and talk to the sandbox over real HTTP; the sandbox counts the token-endpoint calls.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from exactlink.auth.oauth import TokenSet
from exactlink.auth.tokens import TokenStore
from tests.auth.conftest import CLIENT_ID, Browser, Exact
from tests.auth.refresh_worker import call_me
from tests.cli import run_cli

PROCESSES = 20


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_twenty_processes_one_refresh(exact: Exact, monkeypatch: pytest.MonkeyPatch, exactlink_home: Path) -> None:
    monkeypatch.setenv("EXACTLINK_EXACT__TOKEN_STORAGE", "file")
    import webbrowser

    monkeypatch.setattr(webbrowser, "open", Browser().open)
    assert run_cli("login").exit_code == 0
    store = TokenStore(exact.base_url, CLIENT_ID, mode="file")
    tokens = store.load()
    assert tokens is not None
    # Every process will find the access token expired; Exact agrees that a refresh is due.
    store.save(TokenSet(tokens.access_token, tokens.refresh_token, time.time() - 5, tokens.refreshed_at, tokens.user))
    exact.sandbox.advance(600)
    exact.sandbox.reset_counters()

    gate = exactlink_home / "go"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.auth.refresh_worker"])
    results = context.Queue()
    workers = [context.Process(target=call_me, args=(str(gate), dict(os.environ), results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    gate.touch()
    answers = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [answer for answer in answers if answer[0] != "ok"] == []
    assert all(worker.exitcode == 0 for worker in workers)
    assert all(answer[1] == "admin@kantoor.example" for answer in answers)
    assert sum(answer[2] for answer in answers) == 1
    assert exact.sandbox.token_calls["refresh_token"] == 1
    assert exact.sandbox.token_calls["authorization_code"] == 0, "nobody had to log in again"
    assert exact.sandbox.calls("current/Me") == PROCESSES
    fresh = store.load()
    assert fresh is not None and fresh.refresh_token != tokens.refresh_token
    assert run_cli("tenant", "list").exit_code == 0, "the stored login still works afterwards"
