"""``exactlink completion SHELL``: the tab-completion script for bash, zsh or fish."""

from __future__ import annotations

import typer

SHELLS = ("bash", "zsh", "fish")


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)


def completion(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print the tab-completion script for SHELL; add its output to your shell's start-up file.

    bash: `exactlink completion bash >> ~/.bashrc`; zsh: `exactlink completion zsh > "${fpath[1]}/_exactlink"`;
    fish: `exactlink completion fish > ~/.config/fish/completions/exactlink.fish`.
    """
    from typer._completion_shared import get_completion_script

    from exactlink.errors import UsageError

    if shell not in SHELLS:
        raise UsageError(f"no completion for {shell!r}: choose bash, zsh or fish")
    typer.echo(get_completion_script(prog_name="exactlink", complete_var="_EXACTLINK_COMPLETE", shell=shell))
