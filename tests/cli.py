"""Run the exactlink CLI in-process, the way a user would from a shell, in a workspace the test chooses."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from typer.testing import CliRunner, Result

from exactlink.cli.main import app

if TYPE_CHECKING:
    import pytest

    from exactlink.workspace import Workspace


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
