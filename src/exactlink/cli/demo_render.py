"""Terminal side of ``exactlink demo``: the narrator's headings and remarks, and how to carry on afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.demo import CarryOn


def narrate(title: str, command: str) -> None:
    """A step (a rule, its title wrapped at the width, never cut), a command line, or a narrator's remark."""
    from rich.markup import escape

    from exactlink.console import out

    if not command:
        out().print(f"[italic cyan]» {escape(title)}[/italic cyan]", highlight=False)
        return
    if title and not title.startswith(" "):
        out().rule(style="dim")
    if title:
        out().print(f"[bold]{escape(title.strip())}[/bold]", highlight=False)
    out().print(f"[dim]$ {escape(command)}[/dim]", highlight=False)


def print_carry_on(carry_on: CarryOn) -> None:
    """How to reopen the same office with the demo's files and app registration (lines to copy, unwrapped)."""
    from exactlink.console import out

    console = out()

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    def copy(lines: list[str]) -> None:
        for line in lines:
            console.print("  " + line, highlight=False, markup=False, soft_wrap=True)

    say("To carry on with this office: the sandbox stopped with the demo and saved its world. Reopen it with")
    copy(carry_on.serve_lines())
    say("and, in a second terminal, use the demo's files and login:")
    copy([*carry_on.export_lines(), "exactlink status", "exactlink returns list"])
    say(
        "No new login is needed: the reopened sandbox has the demo's data, its changes (SolutionLinks, synced "
        "relations, reported returns) and its tokens, on the same port; it keeps saving them until Ctrl-C."
    )
