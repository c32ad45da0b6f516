"""The run lock: one mutating exactlink run at a time per ``EXACTLINK_HOME`` (cron and interactive alike).

The lock is an OS-level file lock, so the kernel releases it when its holder dies (kill -9 included). A run
that *hangs* would hold it for ever, and every later ``--skip-if-locked --quiet`` run would skip silently. So
the holder records itself next to the lock (``<name>.owner.json``: pid, command, start and deadline, the
deadline being ``runs.max_minutes`` later) and stops itself when it passes its deadline; and a run that finds
the lock held by an owner past its deadline (a process that is stopped or cannot run its watchdog) fails
with :class:`LockStuck` (exit 5, shown also under ``--quiet``) instead of skipping.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exactlink.errors import ExactlinkError, LockHeld
from exactlink.exitcodes import ExitCode
from exactlink.paths import create_private_file, get_paths, read_private_file, write_private_atomically

log = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 120 * 60.0  # runs.max_minutes' default


class LockStuck(ExactlinkError):
    """The lock is held by a run past its deadline: probably hung. Not a ``LockHeld``, so no one skips it quietly."""

    exit_code = ExitCode.LOCKED


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _owner_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.stem + ".owner.json")


def _read_owner(path: Path) -> dict[str, Any] | None:
    """The recorded owner, if the file is there, readable, and names a process that is still alive."""
    try:
        owner = json.loads(read_private_file(path, secret=False))
        pid = int(owner["pid"])
        float(owner["deadline"])
    except (OSError, ValueError, KeyError, TypeError, ExactlinkError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left by a holder that died; the one holding the lock now has not written its own yet
    except PermissionError:
        pass
    return dict(owner)


def _refusal(name: str, owner: dict[str, Any] | None, now: float) -> ExactlinkError:
    if owner is None:
        return LockHeld(
            f"another exactlink run holds the {name} lock",
            hint="wait for it to finish; cron runs skip quietly with --skip-if-locked",
        )
    who = f"`exactlink {owner.get('command') or '?'}` (pid {owner['pid']}, started {_iso(float(owner['started']))})"
    if now > float(owner["deadline"]):
        return LockStuck(
            f"the {name} lock is held by {who} past its deadline of {_iso(float(owner['deadline']))}; "
            "that run is probably hung",
            hint=f"stop it (kill {owner['pid']}); runs.max_minutes sets how long a run may take",
        )
    return LockHeld(
        f"another exactlink run holds the {name} lock: {who}",
        hint="wait for it to finish; cron runs skip quietly with --skip-if-locked",
    )


def _stop_overdue_run(name: str, max_seconds: float) -> None:
    """The watchdog: a run still holding the lock at its deadline is stopped (the kernel frees the lock)."""
    message = f"this run held the {name} lock for {max_seconds:g} s, past its deadline (runs.max_minutes); stopping it"
    log.error("%s", message)
    try:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)


@contextmanager
def run_lock(
    name: str = "run",
    *,
    wait_seconds: float = 0.0,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Iterator[None]:
    """Hold the named inter-process lock for the block; raise ``LockHeld`` (exit 5) if another run has it.

    Args:
        name: the lock (``returns``, ``relations`` …).
        wait_seconds: how long to wait for a busy lock.
        max_seconds: how long this run may hold it (``Workspace.run`` passes ``runs.max_minutes``); past that
            it is stopped.
        clock: epoch seconds for the recorded start and deadline (the workspace's clock).

    Raises:
        LockHeld: another run holds the lock.
        LockStuck: another run holds the lock past its recorded deadline (exit 5 too, never skipped quietly).
    """
    from filelock import FileLock, Timeout

    paths = get_paths()
    paths.ensure()
    path = paths.lock_file(name)
    create_private_file(path)
    owner_path = _owner_file(path)
    lock = FileLock(str(path), timeout=wait_seconds, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise _refusal(name, _read_owner(owner_path), clock()) from None
    limit = max_seconds
    watchdog = threading.Timer(limit, _stop_overdue_run, args=(name, limit))
    try:
        started = clock()
        owner = {
            "pid": os.getpid(),
            "command": " ".join(sys.argv[1:3]) if sys.argv[0].endswith("exactlink") else name,
            "started": started,
            "deadline": started + limit,
            "started_at": _iso(started),
            "deadline_at": _iso(started + limit),
        }
        write_private_atomically(owner_path, json.dumps(owner).encode("utf-8"))
        watchdog.daemon = True
        watchdog.start()
        yield
    finally:
        watchdog.cancel()
        owner_path.unlink(missing_ok=True)
        lock.release()
