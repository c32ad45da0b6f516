"""The run lock: one mutating exactlink run at a time per ``EXACTLINK_HOME`` (cron and interactive alike)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from exactlink.errors import LockHeld
from exactlink.paths import create_private_file, get_paths


@contextmanager
def run_lock(name: str = "run", *, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the named inter-process lock for the block; raise ``LockHeld`` (exit 5) if another run has it.

    The lock is an OS-level file lock, so it is released by the kernel when a process dies (kill -9
    included): a crashed run never blocks the next one.
    """
    from filelock import FileLock, Timeout

    paths = get_paths()
    paths.ensure()
    path = paths.lock_file(name)
    create_private_file(path)
    lock = FileLock(str(path), timeout=wait_seconds, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"another exactlink run holds the {name} lock",
            hint="wait for it to finish; cron runs skip quietly with --skip-if-locked",
        ) from None
    try:
        yield
    finally:
        lock.release()
