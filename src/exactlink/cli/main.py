"""The ``exactlink`` entry point: builds the Typer app and maps failures to the fixed exit codes.

Command modules import only Typer at module level and load heavy modules (httpx, pydantic,
sqlite-utils, rapidfuzz) inside the command body, so ``exactlink --help`` starts fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from exactlink.exitcodes import ExitCode

if TYPE_CHECKING:
    from exactlink.errors import ExactlinkError


class ExactlinkGroup(TyperGroup):
    """Root group: turns an ``ExactlinkError`` into one line on stderr and its exit code.

    Anything else that escapes a command is a bug; the user still gets one line (exit 1) instead of a
    traceback, and the traceback goes to the log file, scrubbed of secrets like every log line.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        """Refuse arguments that are not valid text before any command sees them (exit 2).

        A byte that is not UTF-8 in ``argv`` (a latin-1 name typed in another terminal) reaches Python as a lone
        surrogate, which SQLite, JSON and the terminal all refuse to encode.
        """
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                import os

                from typer._click.exceptions import UsageError

                shown = os.fsencode(arg).decode("ascii", "backslashreplace")[:80]  # the bytes as typed: caf\xe9
                raise UsageError(
                    f"the argument '{shown}' is not valid UTF-8 text (check the terminal's encoding)"
                ) from None
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        from typer._click.exceptions import ClickException

        from exactlink.errors import ExactlinkError

        try:
            return super().invoke(ctx)
        except ExactlinkError as exc:
            from exactlink.console import error_line

            error_line(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            from exactlink.console import error_line

            error_line("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except Exception as exc:
            explained = _explain(exc)
            if explained is None:
                _report_unexpected(exc)
                raise typer.Exit(int(ExitCode.ERROR)) from None
            from exactlink.console import error_line

            error_line(explained.message, explained.hint)
            raise typer.Exit(int(explained.exit_code)) from None


def _explain(exc: Exception) -> ExactlinkError | None:
    """A failure that is the user's situation, not a bug: the database turned out damaged half-way a command."""
    import sqlite3

    if isinstance(exc, sqlite3.DatabaseError):
        from exactlink.store.db import database_failure

        return database_failure(exc)
    return None


def _report_unexpected(exc: Exception) -> None:
    import logging
    import traceback

    from exactlink.console import error_line
    from exactlink.logging_setup import redact
    from exactlink.paths import get_paths

    # Passed as an argument, the traceback goes through the log's redacting filter.
    logging.getLogger("exactlink").error("unexpected error:\n%s", "".join(traceback.format_exception(exc)))
    error_line(
        f"unexpected error ({type(exc).__name__}): {redact(str(exc))}",
        hint=f"this is a bug in exactlink; the details are in {get_paths().log_file}",
    )


app = typer.Typer(
    name="exactlink",
    cls=ExactlinkGroup,
    help="Link your office's CRM to Exact Online: match relations, sync relation data, fetch tax returns.",
    no_args_is_help=False,  # bare `exactlink` prints the help and exits 0 (the callback does it)
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with Rich costs ~0.2 s of imports at start-up
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output on stderr (-vv: debug)."),
) -> None:
    """Link your office's CRM to Exact Online: match relations, sync relation data, fetch tax returns.

    Exit codes: 0 ok, 1 error, 2 usage, 3 partial failure in a bulk run, 4 login required,
    5 another run holds the lock, 130 interrupted.
    """
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from exactlink.cli.context import open_workspace
    from exactlink.console import reset_consoles
    from exactlink.logging_setup import setup_logging
    from exactlink.paths import get_paths

    reset_consoles()
    get_paths().ensure()  # every command refuses directories another user could change, before anything else
    setup_logging(verbose)
    open_workspace(ctx)


def _register() -> None:
    # Each command group lives in its own module; the order here is the order in --help.
    from exactlink.cli import auth_cmd, doctor_cmd, status_cmd, tenant_cmd

    auth_cmd.register(app)
    tenant_cmd.register(app)
    status_cmd.register(app)
    doctor_cmd.register(app)
    from exactlink.cli import completion_cmd, config_cmd, demo_cmd

    config_cmd.register(app)
    completion_cmd.register(app)
    demo_cmd.register(app)
    from exactlink.cli import crm_cmd

    crm_cmd.register(app)
    from exactlink.cli import match_cmd

    match_cmd.register(app)
    from exactlink.cli import sync_cmd

    sync_cmd.register(app)
    from exactlink.cli import admin_cmd, returns_cmd

    admin_cmd.register(app)
    returns_cmd.register(app)
    from exactlink.cli import report_cmd

    report_cmd.register(app)
    from exactlink.cli import schedule_cmd

    schedule_cmd.register(app)
    from exactlink.cli import sandbox_cmd

    sandbox_cmd.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="exactlink")
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))
