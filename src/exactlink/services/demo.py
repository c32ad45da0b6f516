"""``exactlink demo``: the whole story, narrated, against the embedded sandbox Exact Online.

The demo starts the sandbox on 127.0.0.1 (a random free port), registers an app for a loopback
redirect URI, and then drives the real ``exactlink`` commands in child processes, exactly as an
administrator would type them: nothing in the story calls the sandbox's internals. The scripted
"browser" (``exactlink.sandbox.robot``) plays the user on the login-and-consent page.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    from exactlink.sandbox import Sandbox

Narrate = Callable[[str, str], None]


class DemoStepFailed(ExactlinkError):
    """A command of the demo story did not end as expected."""


@dataclass(frozen=True)
class ChildOutput:
    """What one child command wrote (kept only when the demo runs with ``capture=True``)."""

    command: str
    stdout: bytes
    stderr: bytes


@dataclass
class DemoRun:
    """What the demo did: the commands in order and their exit codes (and their output when captured)."""

    home: Path
    base_url: str
    steps: list[tuple[str, int]] = field(default_factory=list)
    outputs: list[ChildOutput] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Story:
    def __init__(
        self, env: dict[str, str], narrate: Narrate, run: DemoRun, *, debug: bool = False, capture: bool = False
    ) -> None:
        self.env = env
        self.narrate = narrate
        self.run = run
        self.debug = debug
        self.capture = capture

    def command(self, title: str, *args: str, expect: Sequence[int] = (0,), capture_json: bool = False) -> Any:
        """Narrate, run ``exactlink ARGS`` in a child process, check its exit code."""
        self.narrate(title, "exactlink " + shlex.join(args))
        completed = subprocess.run(
            [sys.executable, "-m", "exactlink", *(["-vv"] if self.debug else []), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_json or self.capture else None,
            stderr=subprocess.PIPE if self.capture else None,
            check=False,
        )
        self.run.steps.append((" ".join(args), completed.returncode))
        if self.capture:
            self.run.outputs.append(ChildOutput(" ".join(args), completed.stdout, completed.stderr))
        if completed.returncode not in expect:
            raise DemoStepFailed(f"`exactlink {shlex.join(args)}` exited {completed.returncode}")
        if capture_json:
            return json.loads(completed.stdout.decode("utf-8"))
        return None


def run_demo(
    *,
    clients: int,
    seed: int,
    home: Path | None,
    narrate: Narrate,
    debug: bool = False,
    capture: bool = False,
    sandbox: Sandbox | None = None,
) -> DemoRun:
    """Run the story end to end; returns what ran. Raises ``DemoStepFailed`` when a step goes wrong.

    ``debug`` runs every child with ``-vv`` and ``logging.level = DEBUG`` (debug lines on its stderr and in the
    log file); ``capture`` keeps each child's stdout and stderr in ``DemoRun.outputs`` instead of passing them on;
    ``sandbox`` runs the story against that sandbox (``clients`` and ``seed`` are then unused), so a test can
    inspect it afterwards.
    """
    from exactlink.paths import create_private_file
    from exactlink.sandbox import Sandbox
    from exactlink.sandbox.generator import write_crm_export

    home = home or Path(tempfile.mkdtemp(prefix="exactlink-demo-"))
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sandbox is None:
        sandbox = Sandbox(clients=clients, seed=seed)
    client_id = "{" + secrets.token_hex(4) + "-demo-app}"
    client_secret = secrets.token_urlsafe(24)
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    sandbox.register_app(client_id, client_secret, redirect_uri)
    crm_file = home / "crm-export.csv"
    create_private_file(crm_file)  # the office's export holds unmasked BSNs
    write_crm_export(sandbox.data, crm_file)

    with sandbox.serve() as server:
        env = {name: value for name, value in os.environ.items() if not name.startswith("EXACTLINK_")}
        env.update(
            EXACTLINK_HOME=str(home),
            EXACTLINK_BASE_URL=server.base_url,
            EXACTLINK_CLIENT_ID=client_id,
            EXACTLINK_CLIENT_SECRET=client_secret,
            EXACTLINK_REDIRECT_URI=redirect_uri,
            EXACTLINK_EXACT__TOKEN_STORAGE="file",
            BROWSER=f"{shlex.quote(sys.executable)} -m exactlink.sandbox.robot %s",
            # The children write to our terminal (or pipe): give their tables the width we have.
            COLUMNS=str(max(shutil.get_terminal_size((160, 40)).columns, 120)),
        )
        if debug:
            env["EXACTLINK_LOGGING__LEVEL"] = "DEBUG"
        run = DemoRun(home=home, base_url=server.base_url)
        story = _Story(env, narrate, run, debug=debug, capture=capture)
        _tell(story, crm_file)
    return run


def _tell(story: _Story, crm_file: Path) -> None:
    story.command("1. Log in once with the Exact Online admin account (the browser opens the consent page)", "login")
    divisions = story.command("2. Which administrations does this login see?", "tenant", "list", "--json",
                              capture_json=True)
    office = next(d for d in divisions["divisions"] if d.get("practice"))
    story.command("   Pick the office administration (kantooradministratie)", "tenant", "select", str(office["code"]),
                  "--yes")
    story.command("3. Import the office's CRM export (flagged values are reported, not dropped)",
                  "crm", "import", str(crm_file), expect=(0, 3))
    story.command("4. Match CRM relations to Exact accounts: RSIN/BSN first, names only suggest", "match",
                  expect=(0, 3))
    story.command("   Review the suggestions (the demo accepts the near-certain ones)",
                  "match", "review", "--accept-all-above", "95", expect=(0, 3))
    story.command("5. Synchronise relation data, Exact Online leading (dry run first)", "sync", "--dry-run")
    story.command("   … and for real", "sync", expect=(0, 3))
    story.command("6. Link each client's own administration (suggested from what Exact knows)",
                  "link-admin", "suggest", "--accept", expect=(0, 3))
    story.command("7. Fetch the tax returns of the last 30 days from every linked administration",
                  "fetch-returns", expect=(0, 3))
    story.command("8. The returns, with due dates", "returns", "list", "--due-within", "60")
    realised = story.command("9. Report a processed VAT return back to Exact (only possible in status 40)",
                             "returns", "list", "--kind", "btw", "--status", "40", "--json", capture_json=True)
    further = story.command("   … and one that is further along in Exact (already processed there)", "returns",
                            "list", "--kind", "btw", "--status", "50", "--json", capture_json=True)
    if realised:
        story.command("   feedback on the realised return", "feedback", realised[0]["document_id"], "--processed")
    if further:
        story.command("   reporting it as rejected cannot work: Exact has it as processed; exactlink explains why",
                      "feedback", further[0]["document_id"], "--rejected", expect=(1,))
    story.command("10. Where things stand", "status")
    story.command("11. The hourly office-hours run for cron or systemd", "schedule", "--cron")
