"""Run the exactlink CLI in-process, the way a user would from a shell."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from exactlink.cli.main import app


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Invoke ``exactlink ARGS``; ``result.stdout``/``result.stderr`` are separate, ``exit_code`` is set."""
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
