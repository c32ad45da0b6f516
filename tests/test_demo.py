"""The README's main job: `exactlink demo` tells the whole story against the sandbox, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from exactlink.services.demo import run_demo
from tests.story import assert_the_story


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_runs_every_step_of_the_story(tmp_path: Path) -> None:
    notes: list[str] = []

    def narrate(title: str, command: str) -> None:
        if not command:
            notes.append(title)

    run = run_demo(clients=12, seed=2, home=tmp_path / "demo", narrate=narrate)

    assert_the_story(run, notes)


def test_the_story_keeps_the_callers_log_level_and_nothing_else_of_exactlink() -> None:
    from exactlink.services.demo import child_environment

    env = child_environment(
        {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG", "EXACTLINK_BASE_URL": "https://elsewhere.example"}
    )
    assert env == {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG"}
