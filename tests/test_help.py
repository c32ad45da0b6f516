"""The help agrees with itself: every command's --help, walked through the command tree, follows the same rules.

The same thing has the same option name, short flag, placeholder and wording everywhere; every value has a
placeholder in capitals (never Typer's ``<int range>``, ``<list[str]>`` or ``{file}``); each command's line in
the command lists is its complete first sentence; every command that changes data has --dry-run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from exactlink.cli.options import first_sentence
from tests.cli import run_cli

# Commands that change the mirror or Exact Online: each has --dry-run.
MUTATING = {
    "crm import",
    "crm edit",
    "crm set",
    "match",
    "match review",
    "match link",
    "match unlink",
    "sync",
    "link-admin link",
    "link-admin suggest",
    "link-admin unlink",
    "link-admin vraagposten",
    "fetch-returns",
    "returns mark",
    "feedback",
    "tenant select",
}
# Commands that only read, or whose whole point is the one thing they write (a login, a file you name, a sandbox).
NOT_MUTATING = {
    "login",
    "logout",
    "status",
    "doctor",
    "completion",
    "demo",
    "report",  # writes the overview page, a file of its own; no data changes
    "schedule",
    "tenant list",
    "tenant show",
    "config path",
    "config show",
    "config init",
    "crm export",
    "crm list",
    "crm show",
    "link-admin list",
    "returns list",
    "returns show",
    "sandbox serve",
    "sandbox export-crm",
}
# Options that mean the same everywhere: same flags, placeholder, repeatability and wording.
SHARED = ("--json", "--dry-run", "--quiet", "--relation", "--show-bsn", "--encoding", "--delimiter", "--csv")
# Where the same name means something else on purpose, the wording may differ (flags and placeholder may not).
OWN_WORDING = {
    ("match", "--quiet"),  # one counts line instead of nothing
    ("crm export", "--delimiter"),  # the delimiter written, not read
    ("match link", "--csv"),  # what the file holds differs per command
    ("link-admin link", "--csv"),
}
# click's "[required]" is a note, not a placeholder.
BAD_PLACEHOLDER = re.compile(r"<[a-z][^>]*>|\{[a-z_]+\}|\[(?!required\])[a-z_]+\]")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9-]*$")


def root() -> Any:
    from exactlink.cli.main import app

    return typer.main.get_command(app)


def commands() -> Iterator[tuple[str, Any]]:
    """(path, click command) for every command and group, depth first."""

    def walk(command: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield f"{prefix}{name}", sub
            yield from walk(sub, f"{prefix}{name} ")

    yield from walk(root(), "")


def runnable(command: Any) -> bool:
    """A command a user runs: a leaf, or a group that does something itself (``match``)."""
    return not getattr(command, "commands", None) or bool(getattr(command, "invoke_without_command", False))


def options_of(command: Any) -> dict[str, Any]:
    return {opt: param for param in command.params for opt in param.opts if opt.startswith("--")}


def test_every_command_is_classified_as_mutating_or_not() -> None:
    runnable_paths = {path for path, command in commands() if runnable(command)}
    assert MUTATING.isdisjoint(NOT_MUTATING)
    assert runnable_paths == MUTATING | NOT_MUTATING, "classify the new command in tests/test_help.py"


@pytest.mark.parametrize("path", sorted(MUTATING))
def test_every_mutating_command_has_dry_run(path: str) -> None:
    command = dict(commands())[path]
    assert "--dry-run" in options_of(command)


def test_shared_options_agree_everywhere() -> None:
    seen: dict[str, dict[tuple[Any, ...], list[str]]] = {name: {} for name in SHARED}
    wording: dict[str, dict[str, list[str]]] = {name: {} for name in SHARED}
    for path, command in commands():
        for name, param in options_of(command).items():
            if name not in SHARED:
                continue
            shape = (tuple(param.opts), param.metavar, bool(getattr(param, "multiple", False)), param.is_flag)
            seen[name].setdefault(shape, []).append(path)
            if (path, name) not in OWN_WORDING:
                wording[name].setdefault(param.help or "", []).append(path)
    for name in SHARED:
        assert len(seen[name]) == 1, f"{name} differs between commands: {seen[name]}"
        assert len(wording[name]) <= 1, f"{name} is worded differently: {wording[name]}"
    [relation_shape] = seen["--relation"]
    assert relation_shape[:3] == (("-r", "--relation"), "REL", True) or relation_shape[:3] == (
        ("--relation", "-r"),
        "REL",
        True,
    )
    assert len(next(iter(seen["--relation"].values()))) >= 3, "sync, fetch-returns and returns list"


def test_every_value_has_a_placeholder_in_capitals() -> None:
    missing = []
    for path, command in commands():
        for param in command.params:
            takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
            if takes_value and not (param.metavar and PLACEHOLDER.match(param.metavar)):
                missing.append(f"{path} {param.name}: {param.metavar!r}")
    assert missing == []


@pytest.mark.parametrize("path", ["", *sorted(path for path, _ in commands())])
def test_help_shows_no_type_placeholders(path: str) -> None:
    result = run_cli(*path.split(), "--help", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    usage_and_options = [line for line in result.stdout.splitlines() if line.startswith(("Usage:", "  -"))]
    assert [line for line in usage_and_options if BAD_PLACEHOLDER.search(line)] == []
    assert "<int" not in result.stdout and "<list" not in result.stdout and "<str>" not in result.stdout


def test_command_lists_show_whole_first_sentences() -> None:
    for path, command in [("", root()), *commands()]:
        for name, sub in getattr(command, "commands", {}).items():
            line = sub.get_short_help_str(limit=45)
            assert not line.endswith("..."), f"{path} {name}: cut off"
            assert line == first_sentence(sub.help or ""), f"{path} {name}"


def test_first_sentence() -> None:
    assert first_sentence("Do a thing. Then more.\n\nDetails.") == "Do a thing."
    assert first_sentence("Use a code, e.g. 1043. More.") == "Use a code, e.g. 1043."
    assert first_sentence("No full stop\nacross lines") == "No full stop across lines"


def test_shell_completion_is_one_command() -> None:
    """Typer's guessing --show-completion/--install-completion are gone; `exactlink completion SHELL` stays."""
    help_text = run_cli("--help").stdout
    assert "--show-completion" not in help_text and "--install-completion" not in help_text
    assert run_cli("--show-completion", "zsh").exit_code == 2
    assert "#compdef exactlink" in run_cli("completion", "zsh").stdout
