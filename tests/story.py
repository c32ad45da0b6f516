"""What `exactlink demo` must always tell, shared by the demo test (child processes, real time) and the date
tests (in-process, at named moments)."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import webbrowser
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from exactlink.sandbox.robot import Typist
from exactlink.services.demo import Completed, DemoRun, terminal_input

STORY_COMMANDS = (
    "login",
    "tenant list",
    "tenant select",
    "crm import",
    "match",
    "match review",
    "sync",
    "link-admin suggest",
    "fetch-returns",
    "returns list",
    "feedback",
    "returns show",
    "schedule",
    "report",
)


def assert_the_story(run: DemoRun, notes: list[str]) -> None:
    """Every step ran, one feedback succeeded and one was refused, one link refused, the rest linked."""
    commands = [command for command, _ in run.steps]
    for expected in STORY_COMMANDS:
        assert any(command.startswith(expected) for command in commands), f"the demo never ran `{expected}`"
    feedback_codes = [code for command, code in run.steps if command.startswith("feedback")]
    assert feedback_codes == [0, 1], "one feedback succeeds, one is refused for its status"
    refused_links = [
        code
        for command, code in run.steps
        if command.startswith("link-admin ") and " suggest" not in command and code != 0
    ]
    assert refused_links == [1], "linking the administration of a relation without an Exact account is refused"
    assert any(note.startswith("accepted: ") or "no suggestions" in note for note in notes), notes
    assert any("administrations: the office administration" in note for note in notes), notes
    assert any("more administrations linked" in note for note in notes), notes
    page = run.home / "overzicht.html"
    assert page.stat().st_mode & 0o777 == 0o600 and "Aandacht nodig" in page.read_text(encoding="utf-8")
    assert notes[-1].startswith(f"the overview page is at {page}"), "the demo ends by saying where its page is"
    database = run.home / "exactlink.db"
    assert database.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(database) as db:
        states = dict(db.execute("SELECT feedback_state, COUNT(*) FROM returns GROUP BY feedback_state").fetchall())
        linked = db.execute("SELECT COUNT(*) FROM admin_links").fetchone()[0]
    assert states.get("reported") == 1 and states.get("failed") == 1, states
    assert linked >= 5


def run_in_process(
    args: list[str], env: dict[str, str], capture_stdout: bool, capture_stderr: bool, typed: Typist | None = None
) -> Completed:
    """The demo's command runner for tests: the CLI in this process (so time-machine's clock reaches it).

    Only the ``EXACTLINK_*`` variables of ``env`` apply (any others of this process are unset for the command);
    ``typed`` types into the terminal ``exactlink login`` reads a pasted address from, as the demo's own runner
    does (CliRunner's stdin is given whole up front, so the login reads that line from a pipe instead).
    """
    from exactlink.cli import auth_cmd
    from exactlink.cli.main import app

    overrides: dict[str, str | None] = {name: None for name in os.environ if name.startswith("EXACTLINK_")}
    overrides.update({name: value for name, value in env.items() if name.startswith("EXACTLINK_")})
    with terminal_input(typed) as stdin, os.fdopen(stdin, "r", encoding="utf-8", closefd=False) as terminal:
        read_line = auth_cmd._read_line

        def read_from_terminal() -> str:
            given, sys.stdin = sys.stdin, terminal
            try:
                return read_line()
            finally:
                sys.stdin = given

        with mock.patch.object(auth_cmd, "_read_line", read_from_terminal if typed else read_line):
            result = CliRunner().invoke(app, args, env=overrides, catch_exceptions=False)
    return Completed(result.exit_code, result.stdout_bytes, result.stderr_bytes)


@pytest.fixture
def robot_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """``webbrowser.open`` hands the URL to the sandbox's scripted user in a thread (for in-process logins); it
    copies the address it ends on to the demo's clipboard in ``EXACTLINK_HOME``, as the demo's ``$BROWSER`` does."""
    from exactlink.sandbox import robot

    def open_url(url: str, *args: object, **kwargs: object) -> bool:
        clipboard = robot.clipboard_in(Path(os.environ["EXACTLINK_HOME"]))
        threading.Thread(target=robot.browse, args=(url, clipboard), daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", open_url)


def demo_home(tmp_path: Path) -> Path:
    """Where a test's demo keeps its files."""
    return tmp_path / "demo"
