"""The world a use case runs in: settings, clock, database, Exact Online client, output and the run lifecycle.

The CLI builds one :class:`Workspace` per command (``exactlink.cli.context``) and hands it to the service; the
service takes everything it needs from it and builds nothing itself. So a service never loads the settings, opens
the database, reads the wall clock or prints: tests give it a workspace with a frozen clock, a fake transport and
a :class:`RecordingOutput`, and the CLI one with the real ones and a Rich-backed output.

:meth:`Workspace.run` is the one run lifecycle: the run lock (or a quiet, recorded skip), the row in the run
history, and how the run ended (``ok``/``partial``/``failed`` from its exit code, ``failed`` with the error, or
``interrupted`` on Ctrl-C).

This module imports only the standard library at module level: the CLI imports it at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from exactlink.clock import Clock
from exactlink.errors import ExactlinkError, LockHeld
from exactlink.exitcodes import ExitCode

if TYPE_CHECKING:
    import httpx
    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.auth.tokens import TokenStore
    from exactlink.settings import Settings

log = logging.getLogger(__name__)

KEYRING_TIMEOUT_SECONDS = 10.0


class Output(Protocol):
    """Where a use case's messages and progress go (stderr through Rich in the CLI, a list in tests)."""

    def info(self, message: str) -> None:
        """A status line."""

    def warn(self, message: str) -> None:
        """A warning (shown even under cron)."""

    def progress(
        self, description: str, total: int | None, *, show: bool = True
    ) -> AbstractContextManager[Callable[[], None]]:
        """A progress bar for the block; the block calls what it yields once per item done."""


@dataclass
class RecordingOutput:
    """An :class:`Output` that keeps everything in lists (for tests)."""

    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    progress_done: dict[str, int] = field(default_factory=dict)

    def info(self, message: str) -> None:
        """Keep a status line."""
        self.infos.append(message)

    def warn(self, message: str) -> None:
        """Keep a warning."""
        self.warnings.append(message)

    @contextmanager
    def progress(self, description: str, total: int | None, *, show: bool = True) -> Iterator[Callable[[], None]]:
        """Count the items done under ``description``."""
        self.progress_done.setdefault(description, 0)

        def advance() -> None:
            self.progress_done[description] += 1

        yield advance


def outcome_for(exit_code: int) -> str:
    """The run-history outcome of an exit code: 0 ``ok``, 3 ``partial``, anything else ``failed``."""
    return {ExitCode.OK: "ok", ExitCode.PARTIAL: "partial"}.get(ExitCode(exit_code), "failed")


@dataclass
class Run:
    """One run inside :meth:`Workspace.run`: its history row and how it ended.

    ``skipped`` is true when the lock was held and the run was asked to skip quietly: the block should return
    at once. ``summary`` is what the row keeps; until :meth:`finish` it is the summary of a failed run.
    """

    command: str
    db: Callable[[], sqlite_utils.Database] | None
    clock: Clock = field(default_factory=Clock)
    id: int | None = None
    skipped: bool = False
    outcome: str = "ok"
    summary: dict[str, Any] = field(default_factory=dict)

    def begin(self, summary: dict[str, Any] | None = None) -> None:
        """Start the history row now (once; not in a dry run); ``summary`` is kept if the run fails."""
        from exactlink.store.runs import start_run

        if summary is not None:
            self.summary = dict(summary)
        if self.db is not None and self.id is None:
            self.id = start_run(self.db(), self.command, now=self.clock.now())

    def finish(self, exit_code: int, summary: dict[str, Any]) -> None:
        """How the run ended when it did not raise: its exit code (see :func:`outcome_for`) and summary."""
        self.outcome = outcome_for(exit_code)
        self.summary = summary

    def end(self, outcome: str, summary: dict[str, Any]) -> None:
        """Write the outcome into the history row, if the run has one."""
        from exactlink.store.runs import finish_run

        if self.db is not None and self.id is not None:
            finish_run(self.db(), self.id, outcome, summary, now=self.clock.now())


class Workspace:
    """Everything a use case needs, built once per command and closed at its end.

    Args:
        settings: the settings; loaded from config.toml and the environment on first use when not given.
        clock: the clock (its ``today()`` is always in ``schedule.timezone``); the system clock when not given.
        output: where messages and progress go; the Rich consoles when not given.
        transport: the httpx transport of every Exact Online client (``None``: the real network).
        sleep: how clients wait (back-off, rate limits) and how ``sync --watch`` waits between polls.
        keyring_timeout: seconds an OS keyring call may take before the file store is used.
        database: the database file (``get_paths().database`` when not given).
        db: an open, migrated database to use instead of opening ``database`` (a use-case test's in-memory one);
            the workspace closes it at the end like its own.
        client_factory: builds the Exact Online client instead of the logged-in one (a use-case test's client on
            recorded answers); ``None``: the stored login and ``transport``.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        output: Output | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        keyring_timeout: float = KEYRING_TIMEOUT_SECONDS,
        database: Path | None = None,
        db: sqlite_utils.Database | None = None,
        client_factory: Callable[[], ExactClient] | None = None,
    ) -> None:
        self._settings = settings
        self._given_clock = clock
        self._clock: Clock | None = None
        self._output = output
        self.transport = transport
        self.sleep = sleep
        self.keyring_timeout = keyring_timeout
        self.database = database
        self._db: sqlite_utils.Database | None = db
        self.client_factory = client_factory

    @property
    def settings(self) -> Settings:
        """The settings (loaded on first use).

        Raises:
            ConfigError: config.toml or an ``EXACTLINK_*`` variable is invalid.
        """
        if self._settings is None:
            from exactlink.settings import load_settings

            self._settings = load_settings()
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self._clock = None

    @property
    def clock(self) -> Clock:
        """The one "now" of this command, with ``today()`` in the office's time zone."""
        if self._clock is None:
            self._clock = (self._given_clock or Clock()).in_zone(self.settings.schedule.timezone)
        return self._clock

    @property
    def output(self) -> Output:
        """Where messages and progress go."""
        if self._output is None:
            from exactlink.console import ConsoleOutput

            self._output = ConsoleOutput()
        return self._output

    @property
    def db(self) -> sqlite_utils.Database:
        """The database, opened (and migrated) on first use; one connection for the whole command."""
        if self._db is None:
            from exactlink.store.db import open_db

            # The given clock, not ``self.clock``: that one reads the settings, which the database does not need.
            self._db = open_db(self.database, clock=self._given_clock or Clock())
        return self._db

    def client(self, *, store: TokenStore | None = None) -> ExactClient:
        """A new authenticated Exact Online client; close it (or use ``with``) when done.

        ``store`` reuses a token store the caller already has (so a broken keyring is probed only once).

        Raises:
            ConfigError: no client id or client secret is configured.
            LoginRequired: nobody is logged in (exit 4).
        """
        from exactlink.services.session import open_client

        if self.client_factory is not None:
            return self.client_factory()
        return open_client(self, store=store)

    def token_store(self, *, announce_fallback: bool = False) -> TokenStore:
        """The token store of the configured site and app; ``announce_fallback`` shows a keyring fallback on the
        terminal (``login``, ``status``, ``doctor``) instead of only in the log."""
        from exactlink.services.session import token_store

        return token_store(self, announce_fallback=announce_fallback)

    def close(self) -> None:
        """Close the database if it was opened."""
        if self._db is not None:
            db, self._db = self._db, None
            db.conn.close()

    @contextmanager
    def run(
        self,
        command: str,
        *,
        lock: str | None = None,
        dry_run: bool = False,
        record: bool = True,
        begin: bool = True,
        skip_if_locked: bool = False,
    ) -> Iterator[Run]:
        """The run lifecycle around the block: the lock, the run-history row and the outcome.

        Args:
            command: the name in the run history (``"sync"``, ``"fetch-returns"``, ``"match link --csv"``).
            lock: the run lock to hold for the block (``None``: none).
            dry_run: take no lock and record nothing.
            record: keep a row in the run history (``False``: the lock only).
            begin: start the row on entry; with ``False`` the block calls ``run.begin()`` once the work starts
                (so a run that stops before it, e.g. with nothing to do, leaves no row).
            skip_if_locked: when the lock is held, record a ``skipped`` run and yield with ``run.skipped`` set,
                instead of raising ``LockHeld``.

        The row ends as the block says (``run.finish(exit_code, summary)``, else ``ok``); ``interrupted`` on
        Ctrl-C and ``failed`` on any other exception, keeping ``run.summary`` plus the error's message.
        Raises ``LockHeld`` (exit 5) when the lock is held and ``skip_if_locked`` is false.
        """
        from exactlink.services.locking import run_lock

        keep = record and not dry_run
        run = Run(command, (lambda: self.db) if keep else None, self.clock)
        with ExitStack() as stack:
            if lock is not None and not dry_run:
                try:
                    limit = float(self.settings.runs.max_minutes) * 60
                    stack.enter_context(run_lock(lock, max_seconds=limit, clock=self.clock.time))
                except LockHeld:
                    if not skip_if_locked:
                        raise
                    log.info("%s skipped: another run holds the %s lock", command, lock)
                    if keep:
                        run.begin()
                        run.end("skipped", {"skipped": f"another run held the {lock} lock"})
                    run.skipped = True
                    yield run
                    return
            if begin:
                run.begin()
            try:
                yield run
            except KeyboardInterrupt:
                run.end("interrupted", {**run.summary, "error": "interrupted"})
                raise
            except ExactlinkError as error:
                run.end("failed", {**run.summary, "error": error.message})
                raise
            except BaseException:
                run.end("failed", run.summary)
                raise
            run.end(run.outcome, run.summary)
