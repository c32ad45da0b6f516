"""Every form of `exactlink match` parses: the group runs matching without a subcommand, and has review/link/unlink."""

from __future__ import annotations

import pytest

from tests.cli import run_cli


@pytest.mark.parametrize(
    "args",
    [
        ("match", "--help"),
        ("match", "review", "--help"),
        ("match", "link", "--help"),
        ("match", "unlink", "--help"),
    ],
)
def test_help_of_every_form(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert "Usage: exactlink match" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("match",),
        ("match", "--dry-run", "--json", "--show-bsn", "--all", "--quiet"),
        ("match", "review", "--accept-all-above", "95", "--json"),
        ("match", "review", "--stdin", "--show-bsn"),
        ("match", "link", "R1", "ACC", "--force", "--dry-run", "--json"),
        ("match", "link", "--csv", "links.csv", "--dry-run", "--delimiter", ";", "--encoding", "utf-8"),
        ("match", "unlink", "R1", "--dry-run", "--json"),
    ],
)
def test_every_form_parses_and_then_needs_the_office(args: tuple[str, ...], tmp_path: object) -> None:
    # Parsing succeeds (no usage error from Typer); the command then stops for lack of an office administration
    # or a CSV file, never with a traceback.
    result = run_cli(*args)
    assert result.exit_code in (1, 2), result.stdout + result.stderr
    assert "No such option" not in result.stderr and "Missing argument" not in result.stderr
    assert "error:" in result.stderr


def test_bad_forms_are_usage_errors() -> None:
    assert run_cli("match", "link").exit_code == 2
    assert run_cli("match", "unlink").exit_code == 2
    assert run_cli("match", "review", "--accept-all-above", "many").exit_code == 2
    assert run_cli("match", "--no-such-flag").exit_code == 2
