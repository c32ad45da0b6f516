"""The run lock is exclusive across processes and released when its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from exactlink.errors import LockHeld
from exactlink.exitcodes import ExitCode
from exactlink.services.locking import run_lock

HOLD_LOCK = """
import sys, time
from exactlink.services.locking import run_lock
with run_lock("run"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_holder_is_refused_with_exit_code_5() -> None:
    with run_lock("run"), pytest.raises(LockHeld) as caught, run_lock("run"):
        pass
    assert caught.value.exit_code == ExitCode.LOCKED


def test_lock_of_a_killed_process_is_free_again() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(LockHeld), run_lock("run"):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while True:
            try:
                with run_lock("run"):
                    break
            except LockHeld:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()


def test_lock_file_is_private(exactlink_home) -> None:  # type: ignore[no-untyped-def]
    with run_lock("run"):
        pass
    mode = (exactlink_home / "state" / "locks" / "run.lock").stat().st_mode & 0o777
    assert mode == 0o600
