"""The faults of the reliability tests: 5 % of one kind (or all kinds) of failure, and some of it forced.

A random 5 % may well miss a command that makes five calls, and then the test proves nothing. So on top
of the random share, the fault is *forced* on a call chosen (seeded) among the calls a clean run makes and
on the first POST to each endpoint (a POST is the call that must not be repeated blindly: a time-out there
means Exact created the entity but exactlink never heard so). Every fault handed out is counted, so a test
can assert that its run really met the fault.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from exactlink.sandbox import Faults, Sandbox
from exactlink.sandbox.faults import FaultDecision

# Fault kind → (the Faults knobs at 5 %, the decision forced on the chosen calls).
KINDS: dict[str, dict[str, float]] = {
    "5xx": {"error_rate": 0.05},
    "timeouts": {"timeout_rate": 0.05},
    "drops": {"drop_rate": 0.05},
    "429 bursts": {"burst_rate": 0.05},
    "mixed": {"error_rate": 0.05, "timeout_rate": 0.05, "drop_rate": 0.05, "burst_rate": 0.05},
}
_FORCED: dict[str, tuple[str, ...]] = {
    "5xx": ("error",),
    "timeouts": ("hang",),
    "drops": ("drop",),
    "429 bursts": ("burst",),
    "mixed": ("error", "hang", "drop", "burst"),
}


@dataclass
class InjectedFaults(Faults):
    """:class:`exactlink.sandbox.Faults` plus random 429 bursts and faults forced on chosen calls.

    ``burst_rate``: share of calls that start a 429 burst: every call is refused with 429 until
    ``burst_reset_seconds`` have passed on ``clock`` (the sandbox's clock), as when the minutely limit is used
    up by another app of the office. ``forced``: call number (1-based, among the calls that draw faults) →
    fault kind (``error``, ``hang``, ``drop`` or ``burst``). ``injected`` counts the faults handed out.
    """

    burst_rate: float = 0.0
    forced: dict[int, str] = field(default_factory=dict)
    first_post: str | None = None
    clock: Callable[[], float] = time.time
    injected: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    burst_until: float = 0.0
    _extra_rng: Any = field(init=False, repr=False, compare=False)
    _count_lock: Any = field(init=False, repr=False, compare=False)
    _request: Any = field(init=False, repr=False, compare=False)
    _posted: set[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_extra_rng", random.Random(f"bursts/{self.seed}"))
        object.__setattr__(self, "_count_lock", threading.Lock())
        object.__setattr__(self, "_request", threading.local())
        object.__setattr__(self, "_posted", set())

    def watch(self, sandbox: Sandbox) -> None:
        """Let :meth:`draw` know which request it decides for (the sandbox's ``draw()`` takes no arguments)."""
        original = sandbox.handle

        def handle(method: str, url: str, headers: Any, body: bytes = b"", **options: Any) -> Any:
            self._request.current = (method.upper(), urlsplit(url).path.split("(", 1)[0])
            return original(method, url, headers, body, **options)

        sandbox.handle = handle  # type: ignore[method-assign]

    @property
    def active(self) -> bool:
        """Always drawing: forced faults and bursts come on top of the rates."""
        return True

    def draw(self) -> FaultDecision:
        """The forced fault of this call, else a burst start (``burst_rate``), else the random rates."""
        now = self.clock()
        with self._count_lock:
            self.calls += 1
            number = self.calls
            forced = self.forced.get(number)
            method, path = getattr(self._request, "current", ("", ""))
            if self.first_post and method == "POST" and path not in self._posted:
                self._posted.add(path)
                forced = self.first_post
            if forced is None and self.burst_rate and self._extra_rng.random() < self.burst_rate:
                forced = "burst"
            if forced == "burst":
                self.burst_until = now + self.burst_reset_seconds
            bursting = now < self.burst_until
        if bursting:
            decision = FaultDecision("burst", 429)
        elif forced == "error":
            decision = FaultDecision("error", 503)
        elif forced in ("hang", "drop"):
            decision = FaultDecision(forced)
        else:
            decision = super().draw()
        if decision.kind is not None:
            with self._count_lock:
                self.injected[decision.kind] += 1
        return decision


def inject(
    kind: str,
    *,
    seed: int,
    clean_calls: int,
    hang_seconds: float,
    clock: Callable[[], float],
    token_endpoint: bool = False,
) -> InjectedFaults:
    """5 % of ``kind`` with a fault of each forced kind on a call chosen among the first ``clean_calls``."""
    rng = random.Random(f"forced/{kind}/{seed}")
    forced: dict[int, str] = {}
    for forced_kind in _FORCED[kind]:
        forced[rng.randint(1, max(1, clean_calls))] = forced_kind
    if token_endpoint:
        forced[1] = _FORCED[kind][0]  # the refresh itself (the first call of a run with an expired token)
    return InjectedFaults(
        seed=seed,
        hang_seconds=hang_seconds,
        include_token_endpoint=token_endpoint,
        burst_reset_seconds=2.0,
        clock=clock,
        forced=forced,
        first_post=rng.choice(_FORCED[kind]),
        **KINDS[kind],  # type: ignore[arg-type]
    )
