"""How long the sandbox takes to generate a large office (it starts every demo, test world and benchmark).

    uv run python -m bench --only generator

The bar (8 s for 20,000 clients on a 2-core machine) keeps `sandbox serve --clients 20000` and the large-office
benchmarks quick to start; the figure is reported with its ratio to the bar.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

SECONDS_BAR = 8.0
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def run(clients: int = 20_000, repeats: int = 3) -> dict[str, Any]:
    """The best of ``repeats`` generations of ``clients`` clients, against the bar scaled to that size."""
    from exactlink.sandbox.generator import generate

    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        data = generate(clients, seed=1, now=NOW)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    bar = SECONDS_BAR * clients / 20_000
    return {
        "clients": clients,
        "divisions": len(data.divisions),
        "seconds": round(best, 2),
        "bar_seconds": bar,
        "ratio_to_bar": round(best / bar, 2),
        "ok": best < bar,
    }
