"""The moment a test's set-up writes rows at, when the test does not care which moment it is.

The store never reads the clock itself: every write is dated by its caller (a service passes ``ws.clock.now()``).
Set-up code that writes straight into the store passes :func:`wall_now`, the clock as the test sees it (a
time-machine travel moves it too); a test that needs a particular moment names that moment instead.
"""

from __future__ import annotations

from datetime import UTC, datetime


def wall_now() -> datetime:
    """Now, as an aware UTC datetime (moved by time-machine like every clock of the suite)."""
    return datetime.now(UTC)
