"""Run the exactlink CLI in-process, the way a user would from a shell, in a workspace the test chooses."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import typer.testing
from typer.testing import CliRunner, Result

from exactlink.cli.main import app

if TYPE_CHECKING:
    import pytest

    from exactlink.workspace import Workspace


def build_each_command_tree_once() -> None:
    """Let Typer's ``CliRunner`` build the Click command tree of an app once per test process, not per invocation.

    ``CliRunner.invoke`` turns the Typer app into Click commands on every call: for exactlink's ~50 commands that
    reads every signature and evaluates every annotation again, about 40 % of the CPU of an in-process command
    run in a test (measured with cProfile on tests/security/test_bad_input.py and tests/sync/test_sync_cli.py:
    20.3 s of 47.9 s). The tree depends only on the app's code, which does not change during a run. The tree
    holds the command functions themselves: a test patches what they call (module globals, looked up at call
    time), never a command function, so the cached tree runs what the test set up.
    A process runs ``exactlink`` once, so the product itself builds the tree once per run anyway.
    """
    build = typer.testing._get_command  # CliRunner.invoke's name for typer.main.get_command
    if getattr(build, "builds_once", False):
        return
    built: dict[int, tuple[typer.Typer, Any]] = {}

    def build_once(app: typer.Typer) -> Any:
        if id(app) not in built:
            built[id(app)] = (app, build(app))  # the app is kept, so its id is never reused
        return built[id(app)][1]

    build_once.builds_once = True  # type: ignore[attr-defined]
    typer.testing._get_command = build_once


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke ``exactlink ARGS``; ``result.stdout``/``result.stderr`` are separate, ``exit_code`` is set."""
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def set_workspace(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    """Every command run from now on gets a workspace with these fields (``transport``, ``sleep``, ``clock``,
    ``keyring_timeout`` …; see :class:`~exactlink.workspace.Workspace`), on top of those set before."""
    from exactlink.cli import context

    monkeypatch.setattr(context, "make_workspace", partial(context.make_workspace, **fields))


def new_workspace() -> Workspace:
    """A workspace like the one the next command gets (with what :func:`set_workspace` set), for calling a
    service directly; close it when done."""
    from exactlink.cli import context

    return context.make_workspace()


def database_rows() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the current exactlink database, to show that a dry run wrote nothing."""
    import sqlite3

    from exactlink.paths import get_paths

    connection = sqlite3.connect(get_paths().database)
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(connection.execute(f'SELECT * FROM "{table}"'), key=repr) for table in sorted(tables)}
    finally:
        connection.close()
