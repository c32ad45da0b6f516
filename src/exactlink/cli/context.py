"""The command glue's workspace: the root callback builds one per command, commands hand it to the services.

``make_workspace`` is the one seam for tests and the sandbox: it is called once per command and returns the
workspace that command runs in. Tests replace it (see ``tests/conftest.py``, ``workspace_fields``) to give
every command a fake transport, a clock of their own or no sleeping; production code never changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer._click.core import Context

    from exactlink.workspace import Workspace


def default_workspace(**fields: Any) -> Workspace:
    """The real world: settings from config.toml and the environment, the system clock, Rich on stderr."""
    from exactlink.console import ConsoleOutput
    from exactlink.workspace import Workspace

    fields.setdefault("output", ConsoleOutput())
    return Workspace(**fields)


make_workspace = default_workspace


def open_workspace(ctx: Context) -> None:
    """Build the command's workspace into the root context; it is closed when the command ends."""
    workspace = make_workspace()
    ctx.obj = workspace
    ctx.call_on_close(workspace.close)


def workspace() -> Workspace:
    """The workspace of the running command (built by the root callback)."""
    from typer._click.globals import get_current_context

    root = get_current_context().find_root()
    if root.obj is None:
        open_workspace(root)
    result: Workspace = root.obj
    return result
