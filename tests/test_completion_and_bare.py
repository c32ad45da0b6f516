"""Bare `exactlink` shows the help (exit 0); `exactlink completion SHELL` prints a working script for bash,
zsh and fish (the script's own protocol is exercised: the shell's completion request is answered)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli import run_cli


def test_bare_exactlink_prints_the_help_and_exits_0() -> None:
    result = run_cli()
    assert result.exit_code == 0
    assert "Usage: exactlink" in result.stdout and "completion" in result.stdout


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "#compdef exactlink"), ("fish", "complete --command exactlink")],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    result = run_cli("completion", shell)
    assert result.exit_code == 0
    assert marker in result.stdout and "_EXACTLINK_COMPLETE" in result.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = run_cli("completion", "tcsh")
    assert result.exit_code == 2 and "bash, zsh or fish" in result.stderr


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"_EXACTLINK_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "exactlink ten"}, "tenant"),
        ({"_EXACTLINK_COMPLETE": "complete_bash", "COMP_WORDS": "exactlink ret", "COMP_CWORD": "1"}, "returns"),
        (
            {
                "_EXACTLINK_COMPLETE": "complete_fish",
                "_TYPER_COMPLETE_FISH_ACTION": "get-args",
                "_TYPER_COMPLETE_ARGS": "exactlink sy",
            },
            "sync",
        ),
    ],
    ids=["zsh", "bash", "fish"],
)
def test_the_shell_gets_its_completions(variables: dict[str, str], expected: str) -> None:
    env = {**os.environ, **variables}
    code = "import sys; sys.argv[0] = 'exactlink'; from exactlink.cli.main import main; main()"
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert expected in answer.stdout, answer.stderr
