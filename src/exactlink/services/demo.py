"""``exactlink demo``: the whole story, narrated, against the embedded sandbox Exact Online.

The demo starts the sandbox on 127.0.0.1 (a random free port), registers an app for an https redirect
URI (as Exact's App Center insists), and then drives the real ``exactlink`` commands in child processes,
exactly as an administrator would type them: nothing in the story calls the sandbox's internals. The scripted
"browser" (``exactlink.sandbox.robot``) plays the user on the login-and-consent page and, as a person would,
copies the address the browser ends on into the terminal where ``exactlink login`` waits (the paste flow).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from exactlink.errors import ExactlinkError

if TYPE_CHECKING:
    from exactlink.sandbox import Sandbox
    from exactlink.sandbox.robot import Typist

# narrate(title, command): a step of the story and the exactlink command line it runs; an empty title is a
# command that continues the step before; an empty command is a remark of the narrator.
Narrate = Callable[[str, str], None]


@dataclass(frozen=True)
class Completed:
    """How one ``exactlink`` command of the story ended; stdout/stderr are None where they were not captured."""

    returncode: int
    stdout: bytes | None
    stderr: bytes | None


class CommandRunner(Protocol):
    """Runs ``exactlink ARGS`` with exactly the environment ``env``; ``typed`` is the person at its terminal."""

    def __call__(
        self,
        args: list[str],
        env: dict[str, str],
        capture_stdout: bool,
        capture_stderr: bool,
        typed: Typist | None = None,
    ) -> Completed: ...


@contextmanager
def terminal_input(typed: Typist | None) -> Iterator[int]:
    """A command's stdin: nothing (``/dev/null``), or a pipe into which ``typed``'s line goes once it has one.

    Yields the file descriptor to read; when the block ends, a typist still waiting is told the command ended.
    """
    if typed is None:
        with open(os.devnull, "rb") as nothing:
            yield nothing.fileno()
        return
    read_end, write_end = os.pipe()
    done = threading.Event()

    def type_line() -> None:
        try:
            line = typed(done)
            if line is not None:
                os.write(write_end, (line + "\n").encode("utf-8"))
        finally:
            os.close(write_end)

    typist = threading.Thread(target=type_line, name="demo-typist", daemon=True)
    typist.start()
    try:
        yield read_end
    finally:
        done.set()
        typist.join()
        os.close(read_end)


def run_in_child_process(
    args: list[str], env: dict[str, str], capture_stdout: bool, capture_stderr: bool, typed: Typist | None = None
) -> Completed:
    """The demo's way: ``python -m exactlink ARGS`` in a child process, as an administrator would type it."""
    with terminal_input(typed) as stdin:
        completed = subprocess.run(
            [sys.executable, "-m", "exactlink", *args],
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE if capture_stdout else None,
            stderr=subprocess.PIPE if capture_stderr else None,
            check=False,
        )
    return Completed(completed.returncode, completed.stdout, completed.stderr)


class DemoStepFailed(ExactlinkError):
    """A command of the demo story did not end as expected."""


@dataclass(frozen=True)
class ChildOutput:
    """What one child command wrote (kept only when the demo runs with ``capture=True``)."""

    command: str
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class CarryOn:
    """How to reopen the demo's world afterwards: the ``sandbox serve`` arguments and the commands' environment."""

    serve: list[str]
    environment: dict[str, str]

    def serve_lines(self) -> list[str]:
        """``exactlink sandbox serve …`` as shell lines to copy, one option per line."""
        options = [self.serve[index : index + 2] for index in range(2, len(self.serve), 2)]
        lines = ["exactlink " + shlex.join(self.serve[:2]) + " \\"]
        for number, pair in enumerate(options):
            lines.append("    " + shlex.join(pair) + (" \\" if number < len(options) - 1 else ""))
        return lines

    def export_lines(self) -> list[str]:
        """The environment as ``export NAME=value`` lines."""
        return [f"export {name}={shlex.quote(value)}" for name, value in self.environment.items()]


@dataclass
class DemoRun:
    """What the demo did: the commands in order and their exit codes (and their output when captured)."""

    home: Path
    base_url: str
    steps: list[tuple[str, int]] = field(default_factory=list)
    outputs: list[ChildOutput] = field(default_factory=list)
    carry_on: CarryOn | None = None


HEARTBEAT_SECONDS = 2.5


@contextmanager
def _heartbeat(note: Callable[[str], None], args: Sequence[str], *, enabled: bool) -> Iterator[None]:
    """While the block runs, a narrator line every ``HEARTBEAT_SECONDS`` saying the command is still at work."""
    if not enabled:
        yield
        return
    done = threading.Event()
    started = time.monotonic()
    name = " ".join(arg for arg in args[:2] if not arg.startswith("-"))

    def beat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            note(f"… `exactlink {name}` is still at work ({time.monotonic() - started:.0f} s)")

    watcher = threading.Thread(target=beat, name="demo-heartbeat", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _first_problem(stderr: bytes | None) -> str:
    """The refusal's message (its ``error:`` line without the word) and hint, from a command's stderr."""
    lines = [line.strip() for line in (stderr or b"").decode("utf-8", "replace").splitlines() if line.strip()]
    message = next((line.removeprefix("error: ") for line in lines if line.startswith("error: ")), None)
    message = message or (lines[0] if lines else "no reason given")
    hint = next((line.removeprefix("hint: ") for line in lines if line.startswith("hint: ")), None)
    return message + (f" ({hint})" if hint else "")


class _Story:
    def __init__(
        self,
        env: dict[str, str],
        narrate: Narrate,
        run: DemoRun,
        runner: CommandRunner,
        *,
        debug: bool = False,
        capture: bool = False,
        progress_visible: bool = False,
    ) -> None:
        self.env = env
        self.narrate = narrate
        self.run = run
        self.runner = runner
        self.debug = debug
        self.capture = capture
        self.progress_visible = progress_visible

    def command(
        self,
        title: str,
        *args: str,
        expect: Sequence[int] = (0,),
        capture_json: bool = False,
        typed: Typist | None = None,
    ) -> Any:
        """Narrate, run ``exactlink ARGS`` (in a child process unless another runner was given), check its exit code.

        ``typed`` is what the person types at the command's terminal (the demo's typist).

        A refusal the story expects (``0`` not in ``expect``) is told by the narrator, not shown as an error.
        A command that shows nothing while it works (``--json``, or no progress bar) gets a narrator line every
        few seconds, so the reader never looks at a silent screen.
        """
        self.narrate(title, "exactlink " + shlex.join(args))
        refusal = 0 not in expect
        quiet_while_working = capture_json or not self.progress_visible
        with _heartbeat(self.note, args, enabled=quiet_while_working):
            completed = self.runner(
                [*(["-vv"] if self.debug else []), *args],
                self.env,
                capture_json or self.capture,
                self.capture or refusal,
                typed,
            )
        self.run.steps.append((" ".join(args), completed.returncode))
        if self.capture:
            self.run.outputs.append(ChildOutput(" ".join(args), completed.stdout or b"", completed.stderr or b""))
        if completed.returncode not in expect:
            raise DemoStepFailed(f"`exactlink {shlex.join(args)}` exited {completed.returncode}")
        if refusal:
            self.note("refused, as intended: " + _first_problem(completed.stderr))
        if capture_json:
            return json.loads((completed.stdout or b"").decode("utf-8"))
        return None

    def note(self, text: str) -> None:
        """A remark of the narrator between commands (``narrate`` gets it with an empty command)."""
        self.narrate(text, "")


# What a later shell needs to reach the reopened sandbox with the demo's files and app registration.
CARRY_ON_VARIABLES = (
    "EXACTLINK_HOME",
    "EXACTLINK_BASE_URL",
    "EXACTLINK_CLIENT_ID",
    "EXACTLINK_CLIENT_SECRET",
    "EXACTLINK_REDIRECT_URI",
    "EXACTLINK_EXACT__TOKEN_STORAGE",
)
# The caller's settings that the story's commands keep; every other EXACTLINK_* variable would point them
# elsewhere than the demo's sandbox and home.
PASSED_ON = ("EXACTLINK_LOGGING__LEVEL",)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the story's commands: the caller's, without its ``EXACTLINK_*`` but ``PASSED_ON``."""
    return {name: value for name, value in environ.items() if not name.startswith("EXACTLINK_") or name in PASSED_ON}


def run_demo(
    *,
    clients: int,
    seed: int,
    home: Path | None,
    narrate: Narrate,
    debug: bool = False,
    capture: bool = False,
    progress_visible: bool = False,
    sandbox: Sandbox | None = None,
    runner: CommandRunner = run_in_child_process,
    then: Callable[[DemoRun, dict[str, str]], None] | None = None,
) -> DemoRun:
    """Run the story end to end; returns what ran. Raises ``DemoStepFailed`` when a step goes wrong.

    ``debug`` runs every child with ``-vv`` and ``logging.level = DEBUG`` (debug lines on its stderr and in the
    log file); ``capture`` keeps each child's stdout and stderr in ``DemoRun.outputs`` instead of passing them on;
    ``sandbox`` runs the story against that sandbox (``clients`` and ``seed`` are then unused), so a test can
    inspect it afterwards. ``runner`` runs each command (a test runs them in-process, on a clock it sets);
    ``then(run, env)`` is called after the story while the sandbox still serves, with the commands' environment.
    ``progress_visible``: the commands' progress bars reach a terminal (else the narrator fills long silences).
    """
    from exactlink.paths import create_private_file
    from exactlink.sandbox import Sandbox
    from exactlink.sandbox.app import HTTPS_REDIRECT_URI
    from exactlink.sandbox.generator import write_crm_export
    from exactlink.sandbox.robot import clipboard_in

    home = home or Path(tempfile.mkdtemp(prefix="exactlink-demo-"))
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sandbox is None:
        sandbox = Sandbox(clients=clients, seed=seed)
    client_id = "{" + secrets.token_hex(4) + "-demo-app}"
    client_secret = secrets.token_urlsafe(24)
    # The office's own https page, as the App Center insists: nothing needs to serve it, the address is pasted.
    redirect_uri = HTTPS_REDIRECT_URI
    sandbox.register_app(client_id, client_secret, redirect_uri)
    clipboard = clipboard_in(home)  # where the demo's browser copies the address it ends on
    clipboard.unlink(missing_ok=True)  # an address left by an earlier demo in this home belongs to another login
    crm_file = home / "crm-export.csv"
    create_private_file(crm_file)  # the office's export holds unmasked BSNs
    write_crm_export(sandbox.data, crm_file)

    with sandbox.serve() as server:
        env = child_environment(os.environ)
        env.update(
            EXACTLINK_HOME=str(home),
            EXACTLINK_BASE_URL=server.base_url,
            EXACTLINK_CLIENT_ID=client_id,
            EXACTLINK_CLIENT_SECRET=client_secret,
            EXACTLINK_REDIRECT_URI=redirect_uri,
            EXACTLINK_EXACT__TOKEN_STORAGE="file",
            BROWSER=shlex.join([sys.executable, "-m", "exactlink.sandbox.robot", "--clipboard", str(clipboard), "%s"]),
        )
        if debug:
            env["EXACTLINK_LOGGING__LEVEL"] = "DEBUG"
        run = DemoRun(home=home, base_url=server.base_url)
        story = _Story(env, narrate, run, runner, debug=debug, capture=capture, progress_visible=progress_visible)
        _tell(story, crm_file)
        if then is not None:
            then(run, env)
    run.carry_on = _save_for_later(sandbox, home, server.port, {name: env[name] for name in CARRY_ON_VARIABLES})
    return run


# Where the demo leaves its sandbox's world (data, changes, app registrations, tokens, clock) for `--state`.
STATE_FILE_NAME = "sandbox-state.json"


def _save_for_later(sandbox: Sandbox, home: Path, port: int, environment: dict[str, str]) -> CarryOn:
    """Save the stopped sandbox's world into the demo's home; the lines that reopen it with the same login.

    The port stays the demo's: exactlink keeps a login per Exact Online address (``EXACTLINK_BASE_URL``), so a
    sandbox reopened elsewhere would need ``exactlink login`` again.
    """
    from exactlink.sandbox.state_file import save_state

    state_file = home / STATE_FILE_NAME
    save_state(sandbox, state_file)
    return CarryOn(["sandbox", "serve", "--state", str(state_file), "--port", str(port)], environment)


def _tell(story: _Story, crm_file: Path) -> None:
    _login_and_tenant(story)
    story.command(
        "3. Import the office's CRM export (flagged values are reported, not dropped)",
        "crm",
        "import",
        str(crm_file),
        expect=(0, 3),
    )
    _match_and_review(story)
    _sync(story)
    _link_administrations(story)
    story.command(
        "7. Fetch the tax returns of the last 30 days from every linked administration", "fetch-returns", expect=(0, 3)
    )
    _returns(story)
    _feedback(story)
    story.command("10. The hourly office-hours run for cron (or `exactlink schedule --systemd`)", "schedule", "--cron")
    page = story.run.home / "overzicht.html"
    story.command("11. The office's overview page, for everyone in the office", "report", "--html", str(page))
    story.note(f"the overview page is at {page}; open it in a browser: {page.as_uri()}")


def _login_and_tenant(story: _Story) -> None:
    from exactlink.sandbox.robot import clipboard_in, paste_from

    story.command(
        "1. Log in once with the Exact Online admin account: the browser opens the consent page; after Accept, "
        "paste the address it ends on into the terminal (the demo's browser does both)",
        "login",
        typed=paste_from(clipboard_in(story.run.home)),
    )
    listing = story.command(
        "2. Which administrations does this login see?", "tenant", "list", "--json", capture_json=True
    )
    divisions = listing["divisions"]
    office = next(d for d in divisions if d.get("practice"))
    unusable = [d for d in divisions if not d.get("consented") or d.get("status") != "active" or d.get("blocked")]
    story.note(
        f"{len(divisions)} administrations: the office administration {office['code']} {office['name']} and "
        f"{len(divisions) - 1} client administrations, {len(unusable)} of them archived, blocked or without consent "
        "(`exactlink tenant list` shows them all)"
    )
    story.command(
        "   Pick the office administration (kantooradministratie)", "tenant", "select", str(office["code"]), "--yes"
    )


def _match_and_review(story: _Story) -> None:
    story.command(
        "4. Match CRM relations to Exact accounts: RSIN/BSN first, names only suggest",
        "match",
        "--quiet",
        expect=(0, 3),
    )
    story.command(
        "   What is left for a person (relations linked now are not listed again)", "match", "--dry-run", expect=(0, 3)
    )
    story.note(
        "`match review` asks about each suggestion; unattended, it accepts only high-confidence ones (same name, "
        "postcode and house number, no close runner-up). A conflict is never linked: a differing RSIN/BSN means "
        "another party, even under the same name"
    )
    review = story.command(
        "   Review: accept the high-confidence suggestions",
        "match",
        "review",
        "--accept-all-above",
        "95",
        "--json",
        expect=(0, 3),
        capture_json=True,
    )
    accepted = ", ".join(f"{row['relation']} ↔ account {row['account_code']}" for row in review["accepted"])
    left = len(review["skipped"]) + review["remaining"]
    if accepted:
        story.note(f"accepted: {accepted}")
    elif not left:
        story.note(
            "no suggestions in this office: every relation was linked on an identifier, or is a conflict or "
            "unknown to Exact (listed above)"
        )
    if left:
        story.note(f"{left} suggestion(s) not certain enough: left for `exactlink match review` at a terminal")


def _sync(story: _Story) -> None:
    preview = story.command(
        "5. Synchronise relation data, Exact Online leading: first a dry run",
        "sync",
        "--dry-run",
        "--json",
        capture_json=True,
    )
    changed = [relation for relation in preview["relations"] if relation["changes"]]
    if changed:
        # Count as the real run will: the fields it changes; differences it only reports are counted apart.
        planned = preview["counts"]["fields"]
        reported = sum(len(relation["changes"]) for relation in changed) - planned
        busiest = max(changed, key=lambda relation: len(relation["changes"]))
        only_reported = f" (and {reported} differences only reported)" if reported else ""
        story.note(
            f"{planned} fields to update in {preview['counts']['changed']} relations{only_reported}; "
            f"those of relation {busiest['relation']}:"
        )
        story.command("   One relation in full", "sync", "--dry-run", "--relation", busiest["relation"])
    done = story.command("   … and for real", "sync", "--json", expect=(0, 3), capture_json=True)
    counts = done["counts"]
    story.note(
        f"{counts['fields']} fields updated in {counts['changed']} of {counts['relations']} linked relations, "
        f"{counts['failed']} failed; {counts['refresh_calls']} calls to read Exact Online, "
        f"{counts['write_calls']} to write"
    )


def _link_administrations(story: _Story) -> None:
    unlinked = story.command(
        "6. Link each client's own administration: only for a relation linked to its account",
        "crm",
        "list",
        "--unlinked",
        "--json",
        capture_json=True,
    )
    if unlinked:
        stranger = unlinked[0]
        story.command(
            f"   Relation {stranger['relation']} has no Exact account, so its administration is refused",
            "link-admin",
            stranger["relation"],
            " ".join(str(stranger["name"]).split()),
            expect=(1,),
        )
    suggested = story.command(
        "   Which administration belongs to which relation? Exact knows the owners",
        "link-admin",
        "suggest",
        "--json",
        capture_json=True,
    )
    clear = suggested["suggestions"]
    # "same KvK number (12345678)" → "same KvK number"
    evidence = Counter(re.sub(r"\s*\(.*\)$", "", item["evidence"][0]) for item in clear)
    story.note(
        f"{len(clear)} clear suggestions, {len(suggested['ambiguous'])} ambiguous (left to a person); evidence: "
        + "; ".join(f"{count}× {text}" for text, count in evidence.most_common())
    )
    if not clear:
        return
    first = clear[0]
    story.command(
        "   Link one by hand (a SolutionLink in Exact, the SBR start date set)",
        "link-admin",
        first["relation"],
        str(first["division"]),
    )
    accepted = story.command(
        "   … and accept the other clear suggestions in one go",
        "link-admin",
        "suggest",
        "--accept",
        "--json",
        expect=(0, 3),
        capture_json=True,
    )
    links = Counter(row["solution_link"] or row["status"] for row in accepted["rows"])
    counts = accepted["counts"]
    not_linked = sum(count for status, count in counts.items() if status in ("invalid", "refused", "failed"))
    story.note(
        f"{accepted['counts'].get('linked', 0)} more administrations linked (SolutionLinks in Exact: "
        + ", ".join(f"{count} {what}" for what, count in sorted(links.items()))
        + f"); {not_linked} refused"
    )


def _returns(story: _Story) -> None:
    story.command(
        "8. Returns that still need work: overdue first, then due within three weeks",
        "returns",
        "list",
        "--due-within",
        "21",
    )
    open_items = story.command(
        "   Open vraagposten (questions for the client) per administration",
        "returns",
        "list",
        "--kind",
        "vraagposten",
        "--json",
        capture_json=True,
    )
    if open_items:
        per_relation = Counter(item["relation"] for item in open_items)
        busiest = per_relation.most_common(1)[0][0]
        story.note(
            f"{len(open_items)} open vraagposten in {len(per_relation)} administrations; those of relation {busiest}:"
        )
        story.command("   One client's vraagposten", "returns", "list", "--kind", "vraagposten", "--relation", busiest)


def _feedback(story: _Story) -> None:
    story.command(
        "9. Report back to Exact: possible for VAT and ICP returns in status 40 (gerealiseerd)",
        "returns",
        "list",
        "--kind",
        "btw",
        "--status",
        "40",
    )
    realised = story.command("", "returns", "list", "--kind", "btw", "--status", "40", "--json", capture_json=True)
    further = story.command(
        "   BTW returns Exact already processed itself (status 50)",
        "returns",
        "list",
        "--kind",
        "btw",
        "--status",
        "50",
        "--json",
        capture_json=True,
    )
    if realised:
        document = realised[0]["short_id"]
        story.command("   Report a realised return as processed", "feedback", document, "--processed")
        story.command("   Its status history: realised, then processed", "returns", "show", document)
    if further:
        other = further[0]
        story.note(
            f"return {other['short_id']} (relation {other['relation']}, {other['kind_label']} {other['period']}) "
            f"is in status {other['exact_status']} ({other['exact_status_text']}): Exact took it further itself"
        )
        story.command(
            "   Reporting one that is further along cannot work; exactlink says why, in plain words",
            "feedback",
            further[0]["short_id"],
            "--rejected",
            expect=(1,),
        )
