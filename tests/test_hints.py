"""Every hint names something that exists, and the first-run hints follow the real order of the set-up.

The commands a message recommends are collected from the source (every `exactlink …` in backticks, and every
``exactlink …`` in a ``hint=``), their placeholders filled in, and each is parsed through the real command tree:
an unknown command or option fails the test (``add --encoding cp1252`` on a command without ``--encoding`` was
such a hint).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click.exceptions import MissingParameter, NoArgsIsHelpError

from tests.cli import run_cli
from tests.stamps import wall_now

SOURCE = Path(__file__).resolve().parents[1] / "src" / "exactlink"
SAMPLE_VALUES = {
    "REL": "1001",
    "DIVISION": "123456",
    "CODE": "1001",
    "ACCOUNT": "1001",
    "DOC": "abcd1234",
    "FILE": __file__,  # a file that exists, for options that check
    "DIR": str(Path(__file__).parent),
    "DATE": "2026-01-01",
    "SCORE": "90",
    "SHELL": "bash",
    "CODES": "2300",
    "N": "1",
    "X": "1001",  # an f-string's value
}
WORD = r"(?:--?[\w-]+(?:\|--?[\w-]+)*|[A-Z][A-Z0-9_]*|\{X\}|\d+|[a-z][\w-]*(?:\|[a-z][\w-]*)*)"
COMMAND = rf"exactlink ([a-z][\w-]*(?: {WORD})*)"
# Outside backticks a command is recommended after words like these ("run exactlink login", "first: exactlink …");
# elsewhere "exactlink" is the subject of a sentence ("exactlink creates its own").
RECOMMENDING = re.compile(r"(?:\brun|\buse|\btry|\bwith|\bthen|:)\s*$", re.IGNORECASE)


def top_level_commands() -> set[str]:
    from exactlink.cli.main import app

    return set(getattr(typer.main.get_command(app), "commands", {}))


TOP_LEVEL = top_level_commands()


def text_of(node: ast.AST) -> str | None:
    """The text of a string literal, f-string (values as ``{X}``) or concatenation of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{X}" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = text_of(node.left), text_of(node.right)
        return left + right if left is not None and right is not None else None
    return None


def recommended_commands() -> Iterator[tuple[str, str]]:
    """(where, command line after ``exactlink``) for every command the code recommends to its user."""
    for path in sorted(SOURCE.rglob("*.py")):
        if "sandbox" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            text = text_of(node)
            if text is None or "exactlink " not in text:
                continue
            where = f"{path.relative_to(SOURCE)}:{getattr(node, 'lineno', '?')}"
            for quoted in re.findall(r"`(exactlink [^`]+)`", text):
                match = re.match(COMMAND, quoted)
                if match:
                    yield where, match.group(1)
            plain = re.sub(r"``.*?``|`[^`]*`", "", text, flags=re.DOTALL)
            for match in re.finditer(COMMAND, plain):
                # Unquoted, "run exactlink inside dbus-run-session" is prose: only a real command's line counts.
                if RECOMMENDING.search(plain[: match.start()]) and match.group(1).split()[0] in TOP_LEVEL:
                    yield where, match.group(1)


def argv_for(command: str) -> list[str]:
    """The command line with placeholders filled in and the first of each ``a|b`` alternative."""
    words = []
    for word in command.split():
        word = word.split("|")[0]
        bare = word.strip("{}")
        words.append(SAMPLE_VALUES.get(bare, word) if bare.isupper() or word == "{X}" else word)
    return words


def parse(argv: list[str]) -> None:
    """Walk ``argv`` through the command tree as the shell would hand it over; raise on an unknown word."""
    from exactlink.cli.main import app

    command: Any = typer.main.get_command(app)
    context = command.make_context("exactlink", list(argv))
    rest = [*context._protected_args, *context.args]
    while getattr(command, "commands", None) and rest:
        name, command, args = command.resolve_command(context, rest)
        try:
            context = command.make_context(name, args, parent=context)
        except MissingParameter:
            return  # "run `exactlink tenant select`" names the command; its argument is the reader's to give
        except NoArgsIsHelpError:
            return  # a group named alone ("see `exactlink tenant`") shows its commands
        except typer.Exit as stop:
            assert stop.exit_code == 0  # --help
            return
        rest = [*context._protected_args, *context.args]


RECOMMENDED = sorted(set(recommended_commands()))


def test_the_collection_finds_the_hints() -> None:
    commands = {command for _, command in RECOMMENDED}
    assert len(commands) > 30
    assert {"login", "tenant select", "crm import FILE", "doctor --record"} <= {c.split(" DIR")[0] for c in commands}


@pytest.mark.parametrize(("where", "command"), RECOMMENDED, ids=[f"{w} {c}" for w, c in RECOMMENDED])
def test_every_recommended_command_exists(where: str, command: str) -> None:
    parse(argv_for(command))


@pytest.mark.parametrize(
    "argv",
    [
        ["link-admin", "--csv", __file__, "--encoding", "cp1252"],
        ["crm", "import", __file__, "--encoding", "cp1252"],
        ["match", "link", "--csv", __file__, "--encoding", "cp1252"],
    ],
)
def test_every_csv_reader_takes_the_encoding_option(argv: list[str]) -> None:
    parse(argv)


def test_the_parser_check_refuses_what_does_not_exist() -> None:
    for argv in (["link-admin", "--csv", __file__, "--nonsense", "1"], ["returns", "nonsense"], ["login", "extra"]):
        with pytest.raises(Exception):  # noqa: B017  (click's own error types differ per case)
            parse(argv)


def test_first_run_hints_follow_the_set_up_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Configure → log in → choose the office administration: the hint names the first step not done."""
    monkeypatch.setenv("EXACTLINK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EXACTLINK_CLIENT_ID", raising=False)
    monkeypatch.setenv("EXACTLINK_EXACT__TOKEN_STORAGE", "file")
    fresh = run_cli("fetch-returns")
    assert fresh.exit_code == 1
    assert "client_id" in fresh.stderr and "exactlink tenant select" in fresh.stderr
    assert fresh.stderr.index("client_id") < fresh.stderr.index("exactlink login")
    assert fresh.stderr.index("exactlink login") < fresh.stderr.index("exactlink tenant select")

    monkeypatch.setenv("EXACTLINK_CLIENT_ID", "{an-app}")
    configured = run_cli("fetch-returns")
    assert "hint: log in first: `exactlink login`" in configured.stderr
    assert "client_id" not in configured.stderr


def test_an_unknown_relation_with_a_mirror_is_not_told_to_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXACTLINK_HOME", str(tmp_path / "home"))
    before = run_cli("crm", "show", "99999")
    assert before.exit_code == 1 and "import the CRM export first" in before.stderr
    export = tmp_path / "relaties.csv"
    export.write_text("relatienummer;naam\n1001;Bakkerij Jansen\n", encoding="utf-8")
    assert run_cli("crm", "import", str(export)).exit_code == 0
    after = run_cli("crm", "show", "99999")
    assert after.exit_code == 1 and "relation 99999 is not in the local CRM mirror" in after.stderr
    assert "import the CRM export" not in after.stderr and "exactlink crm list" in after.stderr


def test_the_unknown_relation_hint_every_command_uses() -> None:
    """`match link`, `link-admin`, `fetch-returns --relation` and `crm …` share this hint."""
    import sqlite_utils

    from exactlink.services.crm import unknown_relation_hint
    from exactlink.store.db import migrate
    from exactlink.store.relations import RelationRecord, upsert_relation

    db = sqlite_utils.Database(memory=True)
    migrate(db)
    assert "import the CRM export first" in unknown_relation_hint(db)
    upsert_relation(db, RelationRecord("1001", name="Bakkerij Jansen"), now=wall_now())
    assert unknown_relation_hint(db) == "check the number: `exactlink crm list` shows the relations"
    db.conn.close()
