"""Waiting in the main thread so that Ctrl-C (or SIGTERM turned into it) still stops the wait at once.

A signal sent to the process is delivered to one thread the kernel picks: the main thread, unless that one
already has a signal pending and is not running, when Linux gives it to another thread (an HTTP server's, the
login listener's). CPython runs the Python handler, which raises ``KeyboardInterrupt``, in the main thread only,
and only wakes the main thread's blocking wait when the signal reached that thread; otherwise a
``time.sleep(3600)`` or an ``Event.wait(300)`` goes on to its end and Ctrl-C seems ignored. Waiting in slices
lets the handler run within one slice, whichever thread received the signal (``tests/test_interrupts.py``
sends it to the other thread on purpose).
"""

from __future__ import annotations

import threading
import time

SLICE_SECONDS = 0.5  # the longest a Ctrl-C received by another thread waits for the main thread


def wait_for(event: threading.Event, timeout: float) -> bool:
    """``event.wait(timeout)`` in slices of at most :data:`SLICE_SECONDS`; True when the event was set."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return event.is_set()
        if event.wait(min(SLICE_SECONDS, remaining)):
            return True
