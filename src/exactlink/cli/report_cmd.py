"""``exactlink report``: the office's overview page, one self-contained HTML file anyone can open."""

from __future__ import annotations

from pathlib import Path

import typer

from exactlink.cli import options

LANG_OPTION = typer.Option("nl", "--lang", help="Language of the page: nl (default) or en.")


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    html: Path = typer.Option(..., "--html", metavar="FILE", help="Write the page to this file (replaced atomically)."),
    lang: str = LANG_OPTION,
    mode: str | None = options.FILE_MODE,
) -> None:
    """Write the overview page: what needs attention, every return (sortable, filterable), and per relation
    its returns, open vraagposten and link health.

    One HTML file with no external assets; it makes no network request. No BSN appears on it. Refresh it
    after every hourly run with `fetch-returns --report FILE`.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import info
    from exactlink.services.overview import parse_mode, write_overview

    written = write_overview(workspace(), html, lang=lang, mode=parse_mode(mode))
    info(f"wrote the overview of {written.items} returns to {written.path} ({written.size / 1_000_000:.1f} MB)")
