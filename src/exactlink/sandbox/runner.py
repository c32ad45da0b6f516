"""What ``exactlink sandbox serve`` and ``export-crm`` do, behind the thin Typer commands."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from exactlink.errors import UsageError
from exactlink.interrupts import SLICE_SECONDS

if TYPE_CHECKING:
    from exactlink.sandbox.app import Sandbox
    from exactlink.sandbox.evidence import Evidence
    from exactlink.sandbox.server import RunningServer
    from exactlink.sandbox.state_file import StateKeeper


@dataclass(frozen=True)
class ServeOptions:
    """The ``sandbox serve`` flags."""

    port: int = 0
    clients: int = 200
    seed: int = 1
    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    timeout_rate: float = 0.0
    burst_429: int = 0
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None
    allow_http_loopback: bool = False
    now: str | None = None
    state: Path | None = None

    def evidence(self) -> Evidence:
        """What the sandbox follows: the public evidence, with an App Center that accepts an http loopback
        redirect URI when ``--allow-http-loopback`` says so."""
        from exactlink.sandbox.evidence import Evidence

        return Evidence(allow_http_loopback=self.allow_http_loopback)

    def start(self) -> datetime | None:
        """The moment of ``--now`` (aware; a time without a zone is UTC), or None for the real time.

        Raises:
            UsageError: not an ISO-8601 time.
        """
        if self.now is None:
            return None
        try:
            moment = datetime.fromisoformat(self.now.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--now must be an ISO-8601 time such as 2027-01-01T00:30Z, got {self.now!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_generation(clients: int) -> None:
    """Refuse client counts the generator cannot (or should not) produce."""
    if not 1 <= clients <= 100_000:
        raise UsageError(f"--clients must be between 1 and 100000, got {clients}")


def check_serve_options(options: ServeOptions) -> None:
    """Refuse impossible flags with one clear line (exit 2)."""
    if not 0 <= options.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {options.port}")
    check_generation(options.clients)
    for flag, value in (
        ("--error-rate", options.error_rate),
        ("--drop-rate", options.drop_rate),
        ("--timeout-rate", options.timeout_rate),
    ):
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"{flag} must be between 0 and 1, got {value}")
    if options.error_rate + options.drop_rate + options.timeout_rate > 1.0:
        raise UsageError("--error-rate, --drop-rate and --timeout-rate together must not exceed 1")
    if options.latency_ms < 0:
        raise UsageError(f"--latency-ms must not be negative, got {options.latency_ms}")
    options.start()
    if options.burst_429 < 0:
        raise UsageError(f"--burst-429 must not be negative, got {options.burst_429}")
    if options.client_id is not None and not options.client_id.strip():
        raise UsageError("--client-id must not be empty")
    if options.redirect_uri is not None and not options.redirect_uri.startswith(("http://", "https://")):
        raise UsageError(f"--redirect-uri must be an http(s) URL, got {options.redirect_uri!r}")
    if options.redirect_uri is not None and options.evidence().refused_redirect_uri(options.redirect_uri):
        raise UsageError(
            f"--redirect-uri {options.redirect_uri}: Exact's App Center registers only https redirect URIs"
            + ("" if options.allow_http_loopback else " (--allow-http-loopback: one that accepts http://127.0.0.1)")
        )


def start_sandbox(options: ServeOptions, default_redirect_uri: str) -> tuple[Sandbox, RunningServer]:
    """Generate the data, register the app and start the HTTP server on 127.0.0.1."""
    from exactlink.sandbox.app import HTTPS_REDIRECT_URI, Sandbox
    from exactlink.sandbox.faults import Faults

    faults = Faults(
        latency_ms=options.latency_ms,
        error_rate=options.error_rate,
        drop_rate=options.drop_rate,
        timeout_rate=options.timeout_rate,
        burst_429=options.burst_429,
        seed=options.seed,
    )
    evidence = options.evidence()
    if evidence.refused_redirect_uri(default_redirect_uri):
        default_redirect_uri = HTTPS_REDIRECT_URI
    if options.state is not None and options.state.exists():
        sandbox = reopen_saved(options, evidence=evidence, faults=faults)
    else:
        sandbox = Sandbox(
            clients=options.clients,
            seed=options.seed,
            now=options.start(),
            evidence=evidence,
            client_id=options.client_id,
            client_secret=options.client_secret,
            redirect_uri=options.redirect_uri or default_redirect_uri,
            faults=faults,
        )
    try:
        server = sandbox.start_background(port=options.port)
    except OSError as problem:
        raise UsageError(f"cannot listen on 127.0.0.1:{options.port}: {problem.strerror or problem}") from None
    return sandbox, server


def reopen_saved(options: ServeOptions, **running: object) -> Sandbox:
    """The world saved in ``--state`` (its data, logins and clock; ``--clients``, ``--seed`` and ``--now`` unused).

    An app given with ``--client-id`` is registered in it besides the saved ones (``--redirect-uri`` defaults to
    the saved default app's).
    """
    from exactlink.sandbox.state_file import open_state

    assert options.state is not None
    sandbox = open_state(options.state, **running)
    if options.client_id is not None:
        sandbox.default_app = sandbox.register_app(
            options.client_id,
            options.client_secret or sandbox.default_app.client_secret,
            options.redirect_uri or sandbox.default_app.redirect_uri,
        )
    return sandbox


def keep_state(sandbox: Sandbox, options: ServeOptions) -> StateKeeper | None:
    """With ``--state``: save the world now and on every change until the keeper is stopped (else None)."""
    if options.state is None:
        return None
    from exactlink.sandbox.state_file import StateKeeper

    return StateKeeper(sandbox, options.state)


def connection_info(sandbox: Sandbox, server: RunningServer) -> dict[str, object]:
    """Everything a user needs to point exactlink at the running sandbox."""
    app = sandbox.default_app
    user = sandbox.default_user
    office = sandbox.data.divisions[sandbox.data.office_division].record
    return {
        "base_url": server.base_url,
        "office_division": sandbox.data.office_division,
        "office_name": office.get("Description"),
        "client_divisions": len(sandbox.data.divisions) - 1,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "redirect_uri": app.redirect_uri,
        "username": user.username,
        "password": user.password,
        "env": {
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": app.client_id,
            "EXACTLINK_CLIENT_SECRET": app.client_secret,
            "EXACTLINK_REDIRECT_URI": app.redirect_uri,
        },
    }


def describe(info: dict[str, object]) -> list[str]:
    """The human-readable start-up text of ``sandbox serve``."""
    env = info["env"]
    assert isinstance(env, dict)
    return [
        f"Sandbox Exact Online running at {info['base_url']}",
        f"Office administration: {info['office_division']} ({info['office_name']}), "
        f"{info['client_divisions']} client administrations",
        "App registration (a throw-away sandbox secret, so it is shown):",
        f"  client id:     {info['client_id']}",
        f"  client secret: {info['client_secret']}",
        f"  redirect URI:  {info['redirect_uri']}",
        f"Log in as:       {info['username']} / {info['password']}",
        *(
            [
                "  then copy the address the browser ends on (that page need not load) into",
                "  the terminal where `exactlink login` waits",
            ]
            if str(info["redirect_uri"]).startswith("https://")
            else []
        ),
        "Use it from another shell:",
        *(f"  export {name}={shlex.quote(str(value))}" for name, value in env.items()),
    ]


def wait_until_interrupted(
    server: RunningServer,
    announce: Callable[[], None] = lambda: None,
    pause: Callable[[float], None] = time.sleep,
    keeper: StateKeeper | None = None,
) -> None:
    """Announce the server, serve until Ctrl-C, then stop it cleanly (Ctrl-C is the normal way to stop: no error).

    The announcement runs inside the interrupt handling: a Ctrl-C that arrives while it is being printed (a
    script may press it as soon as it reads the URL) still stops the server instead of leaving its thread running.
    With a ``keeper`` (``--state``), a SIGTERM stops as Ctrl-C does, and the world is saved once the server stopped.
    """
    if keeper is not None:
        _stop_on_sigterm()
    try:
        announce()
        while True:
            pause(SLICE_SECONDS)  # short: a Ctrl-C another thread received interrupts no long sleep (interrupts.py)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if keeper is not None:
            keeper.stop()


def _stop_on_sigterm() -> None:
    """Let SIGTERM (``kill``, systemd, a test's terminate()) end ``serve`` like Ctrl-C, so the last save happens."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def export_crm(path: Path, ground_truth: Path | None, clients: int, seed: int) -> dict[str, object]:
    """Generate the data and write the office's CRM export (and the matching ground truth)."""
    check_generation(clients)
    from exactlink.sandbox.generator import generate, write_crm_export, write_ground_truth

    data = generate(clients, seed)
    try:
        write_crm_export(data, path)
        if ground_truth is not None:
            write_ground_truth(data, ground_truth)
    except OSError as problem:
        raise UsageError(f"cannot write {problem.filename}: {problem.strerror}") from None
    return {
        "crm_export": str(path),
        "relations": len(data.crm_rows),
        "ground_truth": str(ground_truth) if ground_truth is not None else None,
    }
