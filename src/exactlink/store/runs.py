"""The run history: one row per command run (cron or interactive), a :class:`~exactlink.domain.records.RunRecord`
each, shown by ``exactlink status``.

A run starts with :func:`start_run` and ends with :func:`finish_run`. A run killed before it could
finish keeps no outcome; :func:`last_runs` reports it as ``running`` while its process lives and as
``interrupted`` afterwards. Summaries are masked for BSNs before they are stored.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import RunRecord, RunSummary
from exactlink.store.db import from_json, stored_at, to_json, transaction

if TYPE_CHECKING:
    import sqlite_utils

# The outcomes commands record; anything else is accepted but these are what `status` knows how to show.
OUTCOMES = ("ok", "partial", "failed", "skipped", "interrupted")


def start_run(db: sqlite_utils.Database, command: str, *, now: datetime) -> int:
    """Record that ``command`` (e.g. ``"fetch-returns"``) started now in this process; return the run id."""
    with transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO runs (command, started_at, pid) VALUES (?, ?, ?)", (command, stored_at(now), os.getpid())
        )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def finish_run(db: sqlite_utils.Database, run_id: int, outcome: str, summary: RunSummary, *, now: datetime) -> None:
    """Record the end of run ``run_id``: its ``outcome`` (see ``OUTCOMES``) and a JSON ``summary`` of counts."""
    from exactlink.domain.privacy import mask_personal

    with transaction(db):
        db.conn.execute(
            "UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?",
            (stored_at(now), outcome, mask_personal(to_json(summary)), run_id),
        )


def last_runs(db: sqlite_utils.Database, limit: int = 10, command: str | None = None) -> list[RunRecord]:
    """The newest runs first (optionally only of ``command``); an unfinished run's outcome is ``running`` while
    its process lives and ``interrupted`` after it died."""
    sql = "SELECT id, command, started_at, finished_at, outcome, summary, pid FROM runs"
    params: list[Any] = []
    if command is not None:
        sql += " WHERE command = ?"
        params.append(command)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    runs = []
    for run_id, name, started_at, finished_at, outcome, summary, pid in db.conn.execute(sql, params):
        if outcome is None:
            outcome = "running" if _process_alive(pid) else "interrupted"
        runs.append(RunRecord(int(run_id), name, started_at, finished_at, outcome, from_json(summary, {})))
    return runs


def _process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
