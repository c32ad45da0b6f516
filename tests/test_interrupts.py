"""Ctrl-C stops a wait of the main thread at once, even when the kernel delivered it to another thread.

Before: ``sandbox serve`` slept ``time.sleep(3600)`` between checks and the login waited ``Event.wait(300)``;
a SIGINT that reached the HTTP server's thread instead tripped Python's handler but did not wake the main
thread, so the process ran on (seen in the suite under load: still serving 10 s after Ctrl-C). Here the signal
is sent to the other thread on purpose (``pthread_kill``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

from exactlink.auth.loopback import LoopbackListener
from exactlink.interrupts import SLICE_SECONDS, wait_for
from exactlink.sandbox import Sandbox, runner


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt() -> Iterator[None]:
    """Python's own SIGINT handler, as in a command started at a terminal (a test run started in the background
    by a script ignores SIGINT, as POSIX has such commands do)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_thread_soon(thread: threading.Thread, after: float = 0.2) -> threading.Thread:
    def send() -> None:
        time.sleep(after)
        assert thread.ident is not None
        signal.pthread_kill(thread.ident, signal.SIGINT)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


@pytest.mark.timeout(30)
def test_serve_stops_when_the_server_thread_receives_the_ctrl_c() -> None:
    server = Sandbox(clients=1, seed=1).serve()
    _interrupt_thread_soon(server._thread)
    started = time.monotonic()
    runner.wait_until_interrupted(server)
    assert time.monotonic() - started < 0.2 + SLICE_SECONDS + 1.0


@pytest.mark.timeout(30)
def test_the_login_wait_ends_when_the_listener_thread_receives_the_ctrl_c() -> None:
    with LoopbackListener.on_free_port() as listener:
        _interrupt_thread_soon(listener._thread)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            listener.wait(20)
    assert time.monotonic() - started < 0.2 + SLICE_SECONDS + 1.0


def test_wait_for_answers_like_event_wait() -> None:
    event = threading.Event()
    started = time.monotonic()
    assert wait_for(event, 0.3) is False
    assert 0.3 <= time.monotonic() - started < 2.0  # loose: a loaded machine may wake the thread late
    event.set()
    assert wait_for(event, 10) is True
    assert wait_for(event, 0) is True
