"""Fault injection: the bad days of a real API, on demand and reproducible.

Set ``sandbox.faults`` (or change its attributes) at any time; the CLI's ``sandbox serve`` flags fill it
too. Knobs:

- ``latency_ms``: added to every call (the server sleeps without holding its lock, so concurrent
  clients overlap as they would against Exact).
- ``error_rate``: share of calls answered 500/502/503 with an Exact-style error body, without
  processing the request. They count as failures for the error budget.
- ``drop_rate``: share of calls whose connection is closed without any answer, before the request is
  processed (over HTTP the socket closes; in-process ``httpx.RemoteProtocolError`` is raised).
- ``timeout_rate``: share of calls that are processed (a write IS applied) and then answered only after
  ``hang_seconds``; a client with a shorter read timeout gives up first (in-process: ``httpx.ReadTimeout``
  after the request's read timeout).
- ``burst_429``: the next N calls are answered 429 with minutely headers whose reset lies
  ``burst_reset_seconds`` ahead. The counter counts down as calls arrive.
- ``script(*kinds)`` (in-process only): the next calls get exactly these faults, in order (``"error"``,
  ``"drop"``, ``"hang"``, ``"burst"``, ``"unauthorized"`` (a 401 whose reason is "message expired", one
  that is not about the token), or ``"ok"`` for none), before any pending burst or random draw, so a test
  can say precisely which calls fail.

Faults never touch the OAuth ``/api/oauth2/auth`` pages; the token endpoint only gets them when
``include_token_endpoint`` is true. The random draws come from ``random.Random(seed)``, so a
single-threaded run sees the same faults every time.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_RATES = ("error_rate", "drop_rate", "timeout_rate")
_NON_NEGATIVE = ("latency_ms", "hang_seconds", "burst_429", "burst_reset_seconds")
SCRIPTABLE = ("error", "drop", "hang", "burst", "unauthorized", "ok")


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one call: nothing, or one of ``drop``, ``error``, ``hang``, ``burst``, ``unauthorized``."""

    kind: str | None = None
    status: int = 0


@dataclass
class Faults:
    """The fault knobs (see the module docstring). Rates are shares between 0 and 1."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    burst_429: int = 0
    burst_reset_seconds: float = 1.0
    include_token_endpoint: bool = False
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: Any = field(init=False, repr=False, compare=False)
    _scripted: deque[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rng", random.Random(self.seed))
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_scripted", deque())

    def script(self, *kinds: str) -> None:
        """Give the next calls exactly these faults, in order (one of :data:`SCRIPTABLE` each)."""
        unknown = sorted(set(kinds) - set(SCRIPTABLE))
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; use {', '.join(SCRIPTABLE)}")
        with self._lock:
            self._scripted.extend(kinds)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RATES and not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if name in _NON_NEGATIVE and float(value) < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
        object.__setattr__(self, name, value)
        if name == "seed" and hasattr(self, "_rng"):
            self._rng.seed(value)

    @property
    def active(self) -> bool:
        """True when any knob is set."""
        return bool(
            self.latency_ms
            or self.error_rate
            or self.drop_rate
            or self.timeout_rate
            or self.burst_429
            or self._scripted
        )

    def draw(self) -> FaultDecision:
        """Decide the fault for the next call (consumes one burst slot when a burst is pending)."""
        with self._lock:
            if self._scripted:
                kind = self._scripted.popleft()
                if kind == "ok":
                    return FaultDecision()
                if kind == "error":
                    return FaultDecision("error", self._rng.choice((500, 502, 503)))
                return FaultDecision(kind, {"burst": 429, "unauthorized": 401}.get(kind, 0))
            if self.burst_429 > 0:
                object.__setattr__(self, "burst_429", self.burst_429 - 1)
                return FaultDecision("burst", 429)
            if not (self.error_rate or self.drop_rate or self.timeout_rate):
                return FaultDecision()
            roll = self._rng.random()
            if roll < self.drop_rate:
                return FaultDecision("drop")
            roll -= self.drop_rate
            if roll < self.error_rate:
                return FaultDecision("error", self._rng.choice((500, 502, 503)))
            roll -= self.error_rate
            if roll < self.timeout_rate:
                return FaultDecision("hang")
            return FaultDecision()


ERROR_MESSAGES = {
    500: "An error occurred while processing this request.",
    502: "Bad Gateway: the server received an invalid response from an upstream server.",
    503: "Service Unavailable: the server is temporarily unable to handle the request.",
}
