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
    from rich.markup import escape

    from exactlink.console import out
    from exactlink.services.demo import run_demo

    def narrate(title: str, command: str) -> None:
        if not command:
            out().print(f"[italic cyan]» {escape(title)}[/italic cyan]", highlight=False)
            return
        if title:
            out().rule(f"[bold]{escape(title)}")
        out().print(f"[dim]$ {escape(command)}[/dim]", highlight=False)

    run = run_demo(clients=clients, seed=seed, home=home, narrate=narrate)
    out().rule("[bold green]Done")
    out().print(
        f"{len(run.steps)} commands ran against the sandbox at {run.base_url}; files in {run.home}", highlight=False
    )
