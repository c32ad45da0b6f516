"""How many client administrations an hourly run works on at once.

Exact's fair-use text asks apps not to fire multi-threaded requests, and each administration has its own
60 calls/minute, so the default is modest: 4 administrations at once. A large office would then not finish
the hourly run within the hour, so ``auto`` raises the number only as far as the run needs to finish within
its time budget (10 minutes) at the pace measured so far, never above 32. It plans for 8 of the 10 minutes: planned
to the last second, every slow answer, retry and the run's tail (the last administrations finish one by one) would
carry it past the budget. An explicit number always wins.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from typing import Literal

AUTO = "auto"
DEFAULT_AT_ONCE = 4
MOST_AT_ONCE = 32
RUN_BUDGET_SECONDS = 600.0
PLANNED_SECONDS = 480.0


def divisions_at_once(
    setting: int | Literal["auto"],
    *,
    remaining: int,
    seconds_each: float | None,
    seconds_left: float,
    default: int = DEFAULT_AT_ONCE,
    cap: int = MOST_AT_ONCE,
) -> int:
    """The number of administrations to work on at once from here on.

    Args:
        setting: ``exact.max_concurrent_divisions``: a number (always wins) or ``"auto"``.
        remaining: administrations not finished yet.
        seconds_each: the measured wall time of one administration's calls (None before any finished).
        seconds_left: what is left of the run's time budget.
        default: the modest number used while it suffices (and before anything was measured).
        cap: the most ``auto`` ever chooses.
    """
    if setting != AUTO:
        return max(1, int(setting))
    if seconds_each is None or remaining <= 0:
        return default
    if seconds_left <= 0:
        return cap
    needed = math.ceil(remaining * seconds_each / seconds_left)
    return max(default, min(cap, needed))
