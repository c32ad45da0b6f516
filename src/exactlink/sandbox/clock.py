"""The sandbox's clock: real time plus an offset that tests can move forward.

Every time-dependent rule of the sandbox (token lifetimes, authorization-code expiry, rate-limit
windows, the error budget, ``Modified`` stamps) reads this clock, so a test can jump ten minutes or
thirty days ahead with :meth:`Clock.advance` instead of sleeping. The offset is shared by the
in-process transport and the real HTTP server because both run the same ``Sandbox`` object.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time (epoch seconds) shifted by an adjustable offset."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start.timestamp() - time.time()

    @property
    def offset(self) -> float:
        """Seconds between this clock and the real time (what a saved sandbox keeps of its clock)."""
        return self._offset

    def now(self) -> float:
        """Current sandbox time in epoch seconds."""
        return time.time() + self._offset

    def now_datetime(self) -> datetime:
        """Current sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (a negative value moves it back)."""
        with self._lock:
            self._offset += seconds

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (an aware datetime); time keeps running from there."""
        with self._lock:
            self._offset = moment.timestamp() - time.time()
