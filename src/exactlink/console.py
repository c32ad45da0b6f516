"""Terminal output: data goes to stdout, everything else (progress, warnings, errors) to stderr.

Commands print through these helpers so that ``--json`` output stays one clean JSON document on
stdout and cron (``--quiet``) gets nothing on success.

Terminal hygiene lives here, in :func:`neutralise`: text from the CRM, Exact Online or any server may hold
escape sequences (OSC 52 writes the clipboard, OSC 8 makes links, ``CSI 2J`` clears the screen). Both consoles
pass every string they render through it (tables, messages, errors), so no render path can forget it;
``--json`` stays exact (control characters are JSON-escaped, which the parsed value does not see).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


MAX_RENDERED = 2_000
"""The longest line (of a table cell or a message) shown on a terminal; the rest is cut off with a note."""
MAX_ERROR = 600
"""The longest error or warning message shown (a server's error text can be any length)."""

# C0 controls but newline and tab, DEL, C1 controls (U+0080–U+009F: 8-bit CSI/OSC to some terminals), and the
# Unicode bidi overrides and line separators that make text display as something else than it is.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def neutralise(text: str, limit: int | None = MAX_RENDERED) -> str:
    """``text`` made safe for a terminal: control characters shown as ``\\x1b``, longer than ``limit`` cut off.

    Newlines and tabs are kept. A cut-off string ends with a note saying how much was left out.
    """
    if limit is not None and len(text) > limit:
        text = text[:limit] + f" … ({len(text) - limit} more characters not shown)"
    return _UNSAFE.sub(_visible, text)


def neutralise_lines(text: str, limit: int = MAX_RENDERED) -> str:
    """:func:`neutralise` with the length cap applied per line (a long listing of short lines stays whole)."""
    if len(text) <= limit:
        return neutralise(text, limit=None)
    return "\n".join(neutralise(line, limit) for line in text.split("\n"))


def _safe_console(**options: Any) -> Console:
    from rich.console import Console

    class SafeConsole(Console):
        """A Rich console that neutralises every string it renders (see :func:`neutralise`)."""

        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(neutralise_lines(text), **kwargs)

    return SafeConsole(**options)


# Both consoles word-wrap what they print at the terminal's width (80 columns in a pipe), so that no line is
# wider than the terminal. Text that must stay on one line whatever the width (a URL to open, a crontab line)
# is printed with soft_wrap=True; text for scripts goes through emit_text/emit_json.


@cache
def out() -> Console:
    """The stdout console (data)."""
    return _safe_console()


@cache
def err() -> Console:
    """The stderr console (status, warnings, errors)."""
    return _safe_console(stderr=True)


def reset_consoles() -> None:
    """Forget cached consoles (tests swap ``sys.stdout``/``sys.stderr`` between invocations)."""
    out.cache_clear()
    err.cache_clear()


def json_text(data: Any) -> str:
    """``data`` as indented JSON; every character a terminal could act on is written as a ``\\u`` escape."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    # json.dumps escapes C0 already; C1 and the bidi controls are legal raw in JSON strings, so escape them too.
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document to stdout (no colour, no wrapping)."""
    sys.stdout.write(json_text(data) + "\n")
    sys.stdout.flush()


def emit_text(text: str) -> None:
    """Write machine text (CSV, a listing) to stdout as it is, except that a terminal gets it neutralised."""
    sys.stdout.write(neutralise(text, limit=None) if sys.stdout.isatty() else text)
    sys.stdout.flush()


def info(message: str, *, quiet: bool = False, wrap: bool = True) -> None:
    """A status line on stderr, suppressed by ``--quiet``; ``message`` is plain text (no Rich markup).

    ``wrap=False`` keeps it on one line however wide (a URL the reader copies).
    """
    if not quiet:
        err().print(message, highlight=False, markup=False, soft_wrap=not wrap)


def warn(message: str) -> None:
    """A warning on stderr (shown even with ``--quiet``: cron should mail it); ``message`` is plain text."""
    from rich.markup import escape

    err().print(f"[yellow]warning:[/yellow] {escape(neutralise(message, MAX_ERROR))}", highlight=False)


def error_line(message: str, hint: str | None = None) -> None:
    """The one-line error every failure ends with, plus an optional hint."""
    from rich.markup import escape

    one_line = neutralise(message, MAX_ERROR).replace("\n", "\\n")  # a server's text must not fake a second line
    # One line whatever the width: cron mails, logs and `schedule --check` read it as one.
    err().print(f"[red]error:[/red] {escape(one_line)}", highlight=False, soft_wrap=True)
    if hint:
        err().print(f"hint: {escape(neutralise(hint, MAX_ERROR))}", highlight=False)


def progress(*, quiet: bool = False) -> Progress:
    """A Rich progress bar on an interactive stderr; disabled under cron, pipes and ``--quiet``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = err()
    # Short labels and a 20-cell bar keep the line inside 80 columns, so a redraw never leaves lines behind.
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
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
