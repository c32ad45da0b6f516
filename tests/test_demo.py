"""The README's main job: `exactlink demo` tells the whole story against the sandbox, end to end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from exactlink.services.demo import run_demo


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_runs_every_step_of_the_story(tmp_path: Path) -> None:
    notes: list[str] = []

    def narrate(title: str, command: str) -> None:
        if not command:
            notes.append(title)

    run = run_demo(clients=12, seed=2, home=tmp_path / "demo", narrate=narrate)

    commands = [command for command, _ in run.steps]
    for expected in (
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
    ):
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
    database = tmp_path / "demo" / "exactlink.db"
    assert database.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(database) as db:
        states = dict(db.execute("SELECT feedback_state, COUNT(*) FROM returns GROUP BY feedback_state").fetchall())
        linked = db.execute("SELECT COUNT(*) FROM admin_links").fetchone()[0]
    assert states.get("reported") == 1 and states.get("failed") == 1, states
    assert linked >= 5
