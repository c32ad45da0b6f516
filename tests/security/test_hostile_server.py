"""A hostile or broken server cannot hang or exhaust exactlink.

* drip-feed: an answer that arrives one byte at a time (each read in time, the whole never) ends at the call's
  total deadline (``exact.timeout_seconds``), retried like any time-out, so the command ends in seconds;
* paging: a ``__next`` link that repeats a page, or a chain that never ends, stops with a clear error
  (``exact.max_pages``) instead of calling on and on;
* a huge body: an answer past ``exact.max_answer_megabytes`` is refused while it streams in, so memory stays
  small (measured with tracemalloc);
* escape-laden error texts: ``tests/security/test_terminal_and_urls.py``.

Each command ends with one clear error line (or, in a run over many administrations, one failure line for
the administration concerned) and its documented exit code.
"""

from __future__ import annotations

import json
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from exactlink.exitcodes import ExitCode
from tests.cli import run_cli
from tests.security.conftest import World, assert_one_clear_error, expire_stored_tokens

JSON = "application/json; charset=utf-8"
Hostile = Callable[[httpx.Request], httpx.Response]


class Drip(httpx.SyncByteStream):
    """A body that never finishes: one byte every ``interval`` seconds (it gives up by itself after a while)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"d": {"results": ['
        stop = time.monotonic() + 20
        while time.monotonic() < stop:
            time.sleep(self.interval)
            yield b" "


class Huge(httpx.SyncByteStream):
    """A valid-looking JSON page of ``size`` bytes, generated as it is read (chunked, no Content-Length)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        row = json.dumps({"ID": "0b5e5a55-0000-4000-8000-000000000001", "Name": "x" * 900}).encode() + b","
        chunk = row * (65_536 // len(row))
        yield b'{"d": {"results": ['
        while self.sent < self.size:
            self.sent += len(chunk)
            yield chunk
        yield b"{}]}}"


class HostileTransport(httpx.BaseTransport):
    """The sandbox, except that requests whose path contains ``endpoint`` get ``answer(request)``."""

    def __init__(self, inner: httpx.BaseTransport, endpoint: str, answer: Hostile) -> None:
        self.inner, self.endpoint, self.answer = inner, endpoint, answer
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.endpoint not in request.url.path:
            return self.inner.handle_request(request)
        self.calls += 1
        return self.answer(request)


@pytest.fixture
def hostile(populated: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Hostile], HostileTransport]:
    from tests.cli import set_workspace

    def install(endpoint: str, answer: Hostile) -> HostileTransport:
        transport = HostileTransport(populated.sandbox.transport(), endpoint, answer)
        set_workspace(monkeypatch, transport=transport)
        return transport

    return install


def drip(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": JSON}, stream=Drip(0.1), request=request)


def _page(request: httpx.Request, next_link: str) -> httpx.Response:
    """A one-row page of whatever was asked, with ``next_link`` as its ``__next``."""
    real = HOSTILE_SANDBOX[0].handle_request(request)
    real.read()
    rows = real.json()["d"]["results"][:1] if real.status_code == 200 else []
    body = {"d": {"results": rows, "__next": next_link}}
    return httpx.Response(200, headers={"Content-Type": JSON}, json=body, request=request)


HOSTILE_SANDBOX: list[httpx.BaseTransport] = []


def repeating(request: httpx.Request) -> httpx.Response:
    return _page(request, str(request.url))


def runaway(request: httpx.Request) -> httpx.Response:
    url = str(request.url)
    match = re.search(r"skiptoken=(\d+)", url)
    following = int(match.group(1)) + 1 if match else 1
    base = re.sub(r"&?\$skiptoken=\d+", "", url)
    return _page(request, f"{base}&$skiptoken={following}")


COMMANDS = {
    "tenant list": (("tenant", "list"), "system/Divisions"),
    "match": (("match",), "sync/CRM/Accounts"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_drip_fed_answer_ends_the_command_at_its_deadline(
    populated: World,
    hostile: Callable[[str, Hostile], HostileTransport],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "0.5")
    args, endpoint = COMMANDS[command]
    transport = hostile(endpoint, drip)
    started = time.monotonic()
    result = run_cli(*args)
    elapsed = time.monotonic() - started
    assert transport.calls >= 1
    assert result.exit_code == ExitCode.ERROR, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "no complete answer within 0.5 s" in line, line
    # Four attempts of at most 0.5 s each (the backoff between them is shortened in these tests).
    assert elapsed < 4 * 0.5 + 1.5, elapsed


def test_a_drip_fed_administration_fails_alone_in_fetch_returns(
    populated: World, hostile: Callable[[str, Hostile], HostileTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "0.5")
    division = populated.division
    transport = hostile(f"/{division}/read/financial/Returns", drip)
    started = time.monotonic()
    result = run_cli("fetch-returns")
    assert time.monotonic() - started < 10
    assert transport.calls >= 1
    assert result.exit_code == ExitCode.PARTIAL, result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and f"administration {division}" in failures[0], result.stderr
    assert "no complete answer" in failures[0]


@pytest.mark.parametrize(("kind", "answer"), [("repeating", repeating), ("runaway", runaway)])
def test_endless_paging_stops_with_a_clear_error(
    populated: World,
    hostile: Callable[[str, Hostile], HostileTransport],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    answer: Hostile,
) -> None:
    monkeypatch.setenv("EXACTLINK_EXACT__MAX_PAGES", "25")
    HOSTILE_SANDBOX[:] = [populated.sandbox.transport()]
    transport = hostile("system/Divisions", answer)
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.ERROR, result.stderr
    line = assert_one_clear_error(result.stderr)
    if kind == "repeating":
        assert "already sent" in line and transport.calls == 1, (line, transport.calls)  # stopped before asking
    else:
        assert "past 25 pages" in line and transport.calls == 25, (line, transport.calls)
    assert "system/Divisions" in line


def test_a_huge_body_is_refused_while_it_streams_in_without_using_the_memory(
    populated: World, hostile: Callable[[str, Hostile], HostileTransport]
) -> None:
    bodies: list[Huge] = []

    def huge(request: httpx.Request) -> httpx.Response:
        bodies.append(Huge(100_000_000))
        return httpx.Response(200, headers={"Content-Type": JSON}, stream=bodies[-1], request=request)

    hostile("system/Divisions", huge)
    tracemalloc.start()
    try:
        result = run_cli("tenant", "list")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == ExitCode.ERROR, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "larger than 32 MB" in line and "max_answer_megabytes" in result.stderr, result.stderr
    assert all(body.sent < 40_000_000 for body in bodies), "reading stopped soon after the limit"
    assert peak < 120_000_000, f"peak {peak / 1e6:.0f} MB"


def test_a_declared_content_length_past_the_limit_is_refused_before_reading(
    populated: World, hostile: Callable[[str, Hostile], HostileTransport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXACTLINK_EXACT__MAX_ANSWER_MEGABYTES", "1")
    body = Huge(5_000_000)

    def declared(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": JSON, "Content-Length": "5000000"}, stream=body, request=request
        )

    hostile("system/Divisions", declared)
    result = run_cli("tenant", "list")
    assert result.exit_code == ExitCode.ERROR
    assert "larger than 1 MB" in assert_one_clear_error(result.stderr)
    assert body.sent == 0


def test_the_token_endpoint_is_bounded_too(
    populated: World,
    exactlink_home: Path,
    hostile: Callable[[str, Hostile], HostileTransport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from exactlink.auth import oauth

    expire_stored_tokens(exactlink_home)
    monkeypatch.setattr(oauth, "TOKEN_ANSWER_TIMEOUT", 0.5)
    monkeypatch.setenv("EXACTLINK_EXACT__TIMEOUT_SECONDS", "0.5")
    hostile("oauth2/token", drip)
    started = time.monotonic()
    result = run_cli("tenant", "list")
    assert time.monotonic() - started < 5
    assert result.exit_code == ExitCode.ERROR, result.stderr
    assert "token endpoint" in assert_one_clear_error(result.stderr)
