"""Two exactlink clients (separate processes in real life) spending the office administration's minute at once.

The sandbox over real HTTP with a small minute (10 calls). Each client has its own ``RateLimiter``; they share
only the live window file (``SharedWindows``), as two processes on one machine do. Waiting moves the sandbox
clock instead of sleeping. Without the share the second client runs into Exact's 429; with it, never.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactlink.api.client import ExactClient
from exactlink.api.ratelimit import RateLimiter, SharedWindows
from exactlink.sandbox import Sandbox
from exactlink.sandbox.clock import Clock

MINUTE = 10


class _Tokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the issued token stays valid")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(clients=3, seed=2, minutely_limit=MINUTE, clock=Clock())
    with box.serve() as server:
        box.base_url = server.base_url  # type: ignore[attr-defined]
        yield box


def _client(sandbox: Sandbox, shared: SharedWindows | None) -> ExactClient:
    office = sandbox.data.office_division
    limiter = RateLimiter(
        clock=sandbox.clock.now, sleep=sandbox.clock.advance, shared=shared, live=(office,) if shared else ()
    )
    token = sandbox.issue_tokens()["access_token"]
    return ExactClient(
        sandbox.base_url,  # type: ignore[attr-defined]
        _Tokens(token),
        limiter=limiter,
        sleep=sandbox.clock.advance,
        max_attempts=1,
    )


def _one_call(client: ExactClient, office: int) -> None:
    client.get_first(office, "system/Divisions", select="Code")


def _answers_429(sandbox: Sandbox) -> int:
    return sum(1 for entry in sandbox.request_log if entry.status == 429)


def test_without_the_share_the_second_client_runs_into_429(sandbox: Sandbox) -> None:
    from exactlink.errors import ExactlinkError

    office = sandbox.data.office_division
    first, second = _client(sandbox, None), _client(sandbox, None)
    with first, second:
        try:
            for _ in range(MINUTE):
                _one_call(first, office)
                _one_call(second, office)
        except ExactlinkError:
            pass
    assert _answers_429(sandbox) > 0, "each client alone believes it has room left"


def test_two_clients_sharing_the_window_never_get_429(sandbox: Sandbox, tmp_path: Path) -> None:
    office = sandbox.data.office_division
    shared = SharedWindows(tmp_path / "live")
    first, second = _client(sandbox, shared), _client(sandbox, shared)
    with first, second:
        for _ in range(MINUTE):  # 20 calls, alternating: two minutes' worth
            _one_call(first, office)
            _one_call(second, office)

    assert _answers_429(sandbox) == 0
    assert len(sandbox.request_log) == 2 * MINUTE


def test_two_clients_in_threads_at_once_never_get_429(sandbox: Sandbox, tmp_path: Path) -> None:
    office = sandbox.data.office_division
    shared = SharedWindows(tmp_path / "live")
    clients = [_client(sandbox, shared), _client(sandbox, shared)]
    failures: list[BaseException] = []

    def spend(client: ExactClient) -> None:
        try:
            with client:
                for _ in range(12):
                    _one_call(client, office)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=spend, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures, failures
    assert _answers_429(sandbox) == 0
    assert len(sandbox.request_log) == 24
