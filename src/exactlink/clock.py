"""The product's one "now": every moment exactlink acts on comes from a :class:`Clock`.

A clock reads epoch seconds from its ``source`` (``time.time`` unless a test or the sandbox gives another) and
answers in three forms: ``time()`` (epoch seconds, for token expiry, budgets and rate limits), ``now()`` (an aware
UTC datetime) and ``today()`` (the calendar date in the office's time zone, ``schedule.timezone``).
``time-machine`` moves the default source too, since it patches ``time.time`` itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

OFFICE_TIMEZONE = "Europe/Amsterdam"


@dataclass(frozen=True)
class Clock:
    """Now, as epoch seconds, an aware UTC datetime, or the office's calendar date."""

    source: Callable[[], float] = time.time
    timezone: str = OFFICE_TIMEZONE

    @classmethod
    def frozen(cls, moment: datetime, timezone: str = OFFICE_TIMEZONE) -> Clock:
        """A clock that always answers ``moment`` (an aware datetime)."""
        seconds = moment.timestamp()
        return cls(lambda: seconds, timezone)

    def time(self) -> float:
        """Now in epoch seconds."""
        return self.source()

    def now(self) -> datetime:
        """Now as an aware UTC datetime."""
        return datetime.fromtimestamp(self.source(), UTC)

    def today(self) -> date:
        """Today's date in the office's time zone."""
        from zoneinfo import ZoneInfo

        return self.now().astimezone(ZoneInfo(self.timezone)).date()

    def in_zone(self, timezone: str) -> Clock:
        """The same source, with ``today()`` in ``timezone``."""
        return replace(self, timezone=timezone)
