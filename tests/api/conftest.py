"""Fixtures for the API client's unit tests: a fake clock/sleep and a scripted MockTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from exactlink.api.budget import Backoff, ErrorBudget
from exactlink.api.client import ExactClient
from exactlink.api.ratelimit import RateLimiter

BASE = "https://start.exactonline.test"


class FakeTime:
    """A clock that only moves when something sleeps on it (so tests never really wait)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class StaticTokens:
    """A TokenSource with a list of tokens: each 401-refresh hands out the next one."""

    tokens: list[str] = field(default_factory=lambda: ["token-1", "token-2", "token-3"])
    index: int = 0
    refreshes: int = 0
    newer: str | None = None  # what another process stored meanwhile

    def access_token(self) -> str:
        return self.tokens[self.index]

    def refresh_after_unauthorized(self, rejected: str) -> str:
        self.refreshes += 1
        self.index += 1
        return self.tokens[self.index]

    def newer_token_than(self, rejected: str) -> str | None:
        return self.newer


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., ExactClient]]:
    """Build an ExactClient over a MockTransport handler, with the fake clock everywhere."""
    clients: list[ExactClient] = []

    def build(
        handler: Handler, *, tokens: StaticTokens | None = None, budget: ErrorBudget | None = None
    ) -> ExactClient:
        client = ExactClient(
            BASE,
            tokens or StaticTokens(),
            transport=httpx.MockTransport(handler),
            limiter=RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep),
            budget=budget or ErrorBudget(clock=fake_time.clock),
            backoff=Backoff(sleep=fake_time.sleep, rng=lambda: 0.5),
            sleep=fake_time.sleep,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def page(
    rows: list[dict[str, object]], next_link: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A collection answer in Exact's shape."""
    body: dict[str, object] = {"results": rows}
    if next_link:
        body["__next"] = next_link
    return httpx.Response(200, json={"d": body}, headers=headers or {})


def exact_error(status: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """An error answer in Exact's shape."""
    return httpx.Response(
        status, json={"error": {"code": "", "message": {"lang": "", "value": text}}}, headers=headers or {}
    )
