"""The README's main job: `exactlink demo` tells the whole story against the sandbox, end to end.

Each run of the story in child processes costs about 20 s of CPU, so the suite makes two and checks all on them:

* tests/test_wheel.py runs `exactlink demo` from the installed wheel, outside the clone, at 80 columns, as a
  person would, and carries on with the lines it prints at the end (tests/demo_checks.py);
* tests/security/test_secrets_scan.py runs the story at debug level and makes the story's own checks (every step
  ran, the intended refusals, the links, the page and the database) besides its scan;
* tests/test_every_day.py runs the story in-process at six moments of the calendar.
"""

from __future__ import annotations


def test_the_story_keeps_the_callers_log_level_and_nothing_else_of_exactlink() -> None:
    from exactlink.services.demo import child_environment

    env = child_environment(
        {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG", "EXACTLINK_BASE_URL": "https://elsewhere.example"}
    )
    assert env == {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG"}
