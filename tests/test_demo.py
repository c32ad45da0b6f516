"""The README's main job: `exactlink demo` tells the whole story against the sandbox, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from exactlink.services.demo import run_demo


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_runs_every_step_of_the_story(tmp_path: Path) -> None:
    titles: list[str] = []
    run = run_demo(clients=12, seed=2, home=tmp_path / "demo", narrate=lambda title, command: titles.append(command))
    commands = [command for command, _ in run.steps]
    for expected in ("login", "tenant select", "crm import", "match", "match review", "sync", "link-admin suggest",
                     "fetch-returns", "returns list", "feedback", "status", "schedule"):
        assert any(command.startswith(expected) for command in commands), f"the demo never ran `{expected}`"
    feedback_codes = [code for command, code in run.steps if command.startswith("feedback")]
    assert feedback_codes == [0, 1], "one feedback succeeds, one is refused for its status"
    assert (tmp_path / "demo" / "exactlink.db").stat().st_mode & 0o777 == 0o600
