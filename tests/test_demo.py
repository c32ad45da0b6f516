"""The README's main job: `exactlink demo` tells the whole story against the sandbox, end to end.

The story's own checks (every step ran, the intended refusals, the links, the page and the database) are made
on a demo run in child processes by tests/security/test_secrets_scan.py, which runs that story anyway, and
in-process at six moments of the calendar by tests/test_every_day.py.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from exactlink.services.demo import Completed, run_in_child_process


def test_the_story_keeps_the_callers_log_level_and_nothing_else_of_exactlink() -> None:
    from exactlink.services.demo import child_environment

    env = child_environment(
        {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG", "EXACTLINK_BASE_URL": "https://elsewhere.example"}
    )
    assert env == {"PATH": "/usr/bin", "EXACTLINK_LOGGING__LEVEL": "DEBUG"}


def _stream(command: list[str], env: dict[str, str]) -> tuple[int, list[tuple[float, str]]]:
    """Run ``command``; every line of its output (stdout and stderr together) with the moment it arrived."""
    import subprocess
    import time

    lines: list[tuple[float, str]] = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append((time.monotonic(), raw.decode("utf-8").rstrip("\n")))
        return process.wait(), lines


def _one_line_by_nature(line: str) -> bool:
    """A URL to open, a crontab entry or an `export` line to copy: one line whatever the width (wrapping would
    break it)."""
    text = line.strip()
    url = " " not in text and "://" in text
    crontab = text.lstrip("# ").startswith("0 ") and "fetch-returns" in text
    export = text.startswith("export EXACTLINK_") and " " not in text.removeprefix("export ")
    path_option = text.startswith("--state /") and len(text.removesuffix(" \\").split()) == 2
    return url or crontab or export or path_option


def _carry_on(text: list[str]) -> tuple[list[str], dict[str, str]]:
    """The `sandbox serve` arguments and the exported variables the demo's last lines give."""
    import shlex

    start = next(index for index, line in enumerate(text) if line.strip().startswith("exactlink sandbox serve"))
    serve = ""
    for line in text[start:]:
        serve += line.strip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            break
    exports = {}
    for line in text:
        if line.strip().startswith("export EXACTLINK_"):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0]
    return shlex.split(serve)[1:], exports


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_reads_at_80_columns_and_can_be_carried_on(tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items() if not name.startswith("EXACTLINK_")}
    env["COLUMNS"] = "80"
    home = tmp_path / "demo"
    code, stream = _stream([sys.executable, "-m", "exactlink", "demo", "--clients", "12", "--home", str(home)], env)
    text = [line for _, line in stream]
    assert code == 0, "\n".join(text[-30:])

    too_wide = [line for line in text if len(line) > 80 and not _one_line_by_nature(line)]
    assert too_wide == [], too_wide
    gaps = [(later - earlier, line) for (earlier, _), (later, line) in itertools.pairwise(stream)]
    assert max(gaps)[0] < 4.0, f"a silent step: {max(gaps)}"

    told = " ".join(" ".join(text).split())
    assert (
        "1. Log in once with the Exact Online admin account: the browser opens the consent page; after Accept, "
        "paste the address it ends on into the terminal (the demo's browser does both)"
    ) in told
    assert "redirect_uri=https%3A%2F%2F" in told, "an https redirect URI, as Exact's App Center insists"
    assert "error:" not in told, "intended refusals are told by the narrator, not shown as errors"
    assert told.count("refused, as intended:") == 2
    assert "not processed by the settings" not in told and "exactonline.nl" not in told
    assert "$ exactlink returns list --due-within 21" in told and "returns list --overdue" not in told
    refused = re.search(r"\$ exactlink feedback (\w+) --rejected", told)
    assert refused is not None and told.index(f"return {refused.group(1)} ") < refused.start(), "id shown first"

    # The lines printed at the end reopen the same world with the same login: no login, the demo's links are in it.
    serve, exports = _carry_on(text)
    assert exports["EXACTLINK_HOME"] == str(home)
    state_file = home / "sandbox-state.json"
    assert serve[:3] == ["sandbox", "serve", "--state"] and serve[3] == str(state_file)
    assert state_file.stat().st_mode & 0o777 == 0o600
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "exactlink", *serve], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert sandbox.stdout is not None
        assert f"running at {exports['EXACTLINK_BASE_URL']}" in sandbox.stdout.readline().decode()
        later = {**env, **exports}  # no BROWSER: a login would have to ask a person

        def exactlink(*args: str) -> Completed:
            return run_in_child_process(list(args), later, True, True)

        status = exactlink("status")
        assert status.returncode == 0, status.stderr
        fetched = exactlink("fetch-returns")
        assert fetched.returncode == 0, fetched.stderr
        links = json.loads(exactlink("link-admin", "list", "--json").stdout)
        assert len(links) >= 5
        first = links[0]
        again = exactlink("link-admin", first["relation"], str(first["division"]), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["status"] == "already_linked", "the demo's SolutionLink is still in Exact"
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
