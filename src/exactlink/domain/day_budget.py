"""The office administration's day budget: how much of it work that can wait may spend.

Exact allows each administration about 5,000 calls a day, and the office administration's are shared by
everything the office does: ``match``, ``sync`` and ``fetch-returns`` must keep working while a bulk job
(``link-admin --csv``, ``link-admin suggest --accept``) links thousands of administrations over days. So bulk
work keeps a reserve (``run.bulk_reserve_percent`` of the day limit, default 20 %) and stops once one more
step would eat into it; the next run, after the day limit's reset, goes on where it stopped.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DayBudget:
    """What Exact's last answer said about one administration's day (None: not known yet)."""

    limit: int | None
    remaining: int | None
    resets_at: datetime | None = None


def reserve_calls(limit: int, reserve_percent: float) -> int:
    """The calls of a day limit that bulk work leaves for the rest (rounded up)."""
    return math.ceil(limit * reserve_percent / 100)


def bulk_may_spend(budget: DayBudget, calls: int, reserve_percent: float) -> bool:
    """Whether bulk work may make ``calls`` more calls and still leave the reserve.

    An unknown budget (no answer seen yet today) lets it go on: the next answer tells.
    """
    if budget.limit is None or budget.remaining is None:
        return True
    return budget.remaining - calls >= reserve_calls(budget.limit, reserve_percent)
