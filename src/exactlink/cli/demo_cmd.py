"""``exactlink demo``: the whole story against the embedded sandbox Exact Online."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    clients: int = typer.Option(40, "--clients", min=5, max=2000, help="How many clients the sandbox office has."),
    seed: int = typer.Option(2, "--seed", help="Seed of the generated data."),
    home: Path | None = typer.Option(None, "--home", help="Keep the demo's files here (default: a temp dir)."),
) -> None:
    """Run login → tenant → CRM import → match → review → sync → link-admin → fetch-returns → returns → feedback
    against the embedded sandbox Exact Online, narrated. Nothing real is touched."""
    from exactlink.cli.demo_render import narrate, print_carry_on
    from exactlink.console import err, out
    from exactlink.services.demo import run_demo

    out().print(f"Starting a sandbox Exact Online with {clients} client administrations on 127.0.0.1 …")
    run = run_demo(clients=clients, seed=seed, home=home, narrate=narrate, progress_visible=err().is_terminal)
    out().rule("[bold green]Done")
    out().print(f"{len(run.steps)} commands ran against the sandbox; files in {run.home}", highlight=False)
    if run.carry_on is not None:
        print_carry_on(run.carry_on)
