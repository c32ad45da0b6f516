"""Terminal output: data goes to stdout, everything else (progress, warnings, errors) to stderr.

Commands print through these helpers so that ``--json`` output stays one clean JSON document on
stdout and cron (``--quiet``) gets nothing on success.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


@cache
def out() -> Console:
    """The stdout console (data)."""
    from rich.console import Console

    return Console(soft_wrap=True)


@cache
def err() -> Console:
    """The stderr console (status, warnings, errors)."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def reset_consoles() -> None:
    """Forget cached consoles (tests swap ``sys.stdout``/``sys.stderr`` between invocations)."""
    out.cache_clear()
    err.cache_clear()


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document to stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def info(message: str, *, quiet: bool = False) -> None:
    """A status line on stderr, suppressed by ``--quiet``."""
    if not quiet:
        err().print(message, highlight=False)


def warn(message: str) -> None:
    """A warning on stderr (shown even with ``--quiet``: cron should mail it)."""
    err().print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def error_line(message: str, hint: str | None = None) -> None:
    """The one-line error every failure ends with, plus an optional hint."""
    from rich.markup import escape

    err().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    if hint:
        err().print(f"hint: {escape(hint)}", highlight=False)


def progress(*, quiet: bool = False) -> Progress:
    """A Rich progress bar on an interactive stderr; disabled under cron, pipes and ``--quiet``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = err()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )


class ConsoleOutput:
    """The Rich-backed output the CLI gives a workspace: status lines and warnings on stderr, a progress bar."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        """A status line on stderr (not with ``quiet``)."""
        info(message, quiet=self.quiet)

    def warn(self, message: str) -> None:
        """A warning on stderr."""
        warn(message)

    @contextmanager
    def progress(self, description: str, total: int | None, *, show: bool = True) -> Iterator[Callable[[], None]]:
        """A Rich progress bar for the block (only on an interactive stderr, and not with ``quiet``)."""
        bar = progress(quiet=self.quiet or not show)
        with bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)
