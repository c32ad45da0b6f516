"""``exactlink sandbox``: the embedded Exact Online look-alike (demo, tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

import typer

from exactlink.cli import options

sandbox_app = typer.Typer(
    help="Run the embedded sandbox Exact Online, or export its generated CRM data.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
def serve(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    clients: int = typer.Option(200, "--clients", help="Client administrations to generate."),
    seed: int = typer.Option(1, "--seed", help="Seed of the data generator and of the faults."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Latency added to every API call."),
    error_rate: float = typer.Option(0.0, "--error-rate", help="Share of calls answered 500/502/503 (0-1)."),
    drop_rate: float = typer.Option(0.0, "--drop-rate", help="Share of connections dropped unanswered (0-1)."),
    timeout_rate: float = typer.Option(0.0, "--timeout-rate", help="Share of calls answered only after 30 s (0-1)."),
    burst_429: int = typer.Option(0, "--burst-429", help="Answer the first N calls with 429."),
    client_id: str | None = typer.Option(None, "--client-id", help="Register the app with this client ID."),
    client_secret: str | None = typer.Option(None, "--client-secret", help="…and this client secret."),
    redirect_uri: str | None = typer.Option(None, "--redirect-uri", help="…and this redirect URI (default: config)."),
    allow_http_loopback: bool = typer.Option(
        False, "--allow-http-loopback", help="Accept an http://127.0.0.1 redirect URI (Exact: https only)."
    ),
    now: str | None = typer.Option(
        None, "--now", metavar="ISO-TIME", help="Start the clock here (e.g. 2027-01-01T00:30Z)."
    ),
    state: Path | None = typer.Option(
        None, "--state", metavar="FILE", help="Reopen the world saved in FILE (or start one there); keep saving it."
    ),
    json_output: bool = options.JSON,
) -> None:
    """Serve the sandbox Exact Online on 127.0.0.1 until Ctrl-C; prints the URL, app registration and login.

    It answers as the public evidence says the real Exact Online does (https redirect URIs only, unless
    `--allow-http-loopback`); `--now` generates the office for another moment and runs the sandbox's clock from
    there (exactlink itself keeps the real time).
    `--state FILE` reopens a saved world with its logins (the demo leaves one); a new FILE is created.
    """
    from exactlink.console import emit_json, info
    from exactlink.sandbox import runner

    options = runner.ServeOptions(
        port,
        clients,
        seed,
        latency_ms,
        error_rate,
        drop_rate,
        timeout_rate,
        burst_429,
        client_id,
        client_secret,
        redirect_uri,
        allow_http_loopback,
        now,
        state=state,
    )
    runner.check_serve_options(options)
    from exactlink.cli.context import workspace

    sandbox, server = runner.start_sandbox(options, workspace().settings.exact.redirect_uri)
    details = runner.connection_info(sandbox, server)

    def announce() -> None:
        if json_output:
            emit_json(details)
        else:
            print("\n".join(runner.describe(details)), flush=True)
        info("Press Ctrl-C to stop.")

    runner.wait_until_interrupted(server, announce, keeper=runner.keep_state(sandbox, options))


@sandbox_app.command("export-crm")
def export_crm(
    file: Path = typer.Argument(..., help="Where to write the CRM export (CSV, ';', UTF-8 with BOM)."),
    clients: int = typer.Option(200, "--clients", help="Client administrations to generate."),
    seed: int = typer.Option(1, "--seed", help="Seed of the data generator."),
    ground_truth: Path | None = typer.Option(None, "--ground-truth", help="Also write relation → account code."),
    json_output: bool = options.JSON,
) -> None:
    """Write the generated office's CRM export (the file `crm import` reads), optionally with the ground truth."""
    from exactlink.console import emit_json, info
    from exactlink.sandbox import runner

    summary = runner.export_crm(file, ground_truth, clients, seed)
    if json_output:
        emit_json(summary)
    else:
        info(
            f"wrote {summary['relations']} relations to {file}"
            + (f" and the ground truth to {ground_truth}" if ground_truth else "")
        )
