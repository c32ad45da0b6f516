"""What a person sees of `exactlink demo`: run it as they would, then check how it reads and that it carries on.

Used by tests/test_wheel.py, which runs the demo from the installed wheel at 80 columns (one demo run proves
both that the package is complete and that the story reads well; each run costs about 20 s of CPU).
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path


def stream(
    command: Sequence[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 600
) -> tuple[int, list[tuple[float, str]]]:
    """Run ``command``; every line of its output (stdout and stderr together) with the moment it arrived.

    A command still running after ``timeout`` seconds is killed (its exit code is then negative).
    """
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(list(command), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as child:
        watchdog = threading.Timer(timeout, child.kill)
        watchdog.start()
        try:
            assert child.stdout is not None
            for raw in child.stdout:
                lines.append((time.monotonic(), raw.decode("utf-8").rstrip("\n")))
            return child.wait(), lines
        finally:
            watchdog.cancel()


def one_line_by_nature(line: str) -> bool:
    """A URL to open, a crontab entry or an `export` line to copy: one line whatever the width (wrapping would
    break it)."""
    text = line.strip()
    url = " " not in text and "://" in text
    crontab = text.lstrip("# ").startswith("0 ") and "fetch-returns" in text
    export = text.startswith("export EXACTLINK_") and " " not in text.removeprefix("export ")
    path_option = text.startswith("--state /") and len(text.removesuffix(" \\").split()) == 2
    return url or crontab or export or path_option


def assert_the_demo_reads_at_80_columns(code: int, lines: list[tuple[float, str]]) -> None:
    """The story ran, fits 80 columns, never stays silent for long and tells what a person needs to know."""
    text = [line for _, line in lines]
    assert code == 0, "\n".join(text[-30:])

    too_wide = [line for line in text if len(line) > 80 and not one_line_by_nature(line)]
    assert too_wide == [], too_wide
    gaps = [(later - earlier, line) for (earlier, _), (later, line) in itertools.pairwise(lines)]
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
    assert re.search(r"\d+ commands ran against the sandbox", told)
    refused = re.search(r"\$ exactlink feedback (\w+) --rejected", told)
    assert refused is not None and told.index(f"return {refused.group(1)} ") < refused.start(), "id shown first"


def carry_on_lines(text: list[str]) -> tuple[list[str], dict[str, str]]:
    """The `sandbox serve` arguments and the exported variables the demo's last lines give."""
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


def assert_the_demo_carries_on(text: list[str], home: Path, exactlink: Sequence[str], env: dict[str, str]) -> None:
    """The lines printed at the end reopen the same world with the same login: no login, the demo's links are in it.

    ``exactlink`` is how to start the tool (the installed executable); ``env`` the shell's environment.
    """
    serve, exports = carry_on_lines(text)
    assert exports["EXACTLINK_HOME"] == str(home)
    state_file = home / "sandbox-state.json"
    assert serve[:3] == ["sandbox", "serve", "--state"] and serve[3] == str(state_file)
    assert state_file.stat().st_mode & 0o777 == 0o600
    sandbox = subprocess.Popen([*exactlink, *serve], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert sandbox.stdout is not None
        assert f"running at {exports['EXACTLINK_BASE_URL']}" in sandbox.stdout.readline().decode()
        later = {**env, **exports}  # no BROWSER: a login would have to ask a person

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*exactlink, *args], env=later, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )

        status = run("status")
        assert status.returncode == 0, status.stderr
        fetched = run("fetch-returns")
        assert fetched.returncode == 0, fetched.stderr
        links = json.loads(run("link-admin", "list", "--json").stdout)
        assert len(links) >= 5
        first = links[0]
        again = run("link-admin", first["relation"], str(first["division"]), "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["status"] == "already_linked", "the demo's SolutionLink is still in Exact"
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
