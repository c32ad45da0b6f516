"""``exactlink config``: where the configuration lives and what it says."""

from __future__ import annotations

import typer

from exactlink.cli.layout import WIDE_OPTION

config_app = typer.Typer(help="Show and create the configuration file.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("path")
def config_path(
    json_output: bool = typer.Option(False, "--json", help="Print every path (database, token fallback, log …)."),
) -> None:
    """Print the path of config.toml; with --json also the database, token fallback, state and log paths."""
    from exactlink.console import emit_json, emit_text
    from exactlink.services.config_view import file_locations

    locations = file_locations()
    if json_output:
        emit_json(locations)
        return
    emit_text(locations["config_file"] + "\n")  # for scripts: $(exactlink config path)


@config_app.command("show")
def config_show(
    wide: bool = WIDE_OPTION, json_output: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Print every effective setting and where it came from (secrets are never shown)."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json
    from exactlink.services.config_view import effective_config

    rows = effective_config(workspace())
    if json_output:
        emit_json(rows)
        return
    from exactlink.cli.layout import Column, print_table

    columns = [Column("key", key=True), Column("value"), Column("source", key=True)]
    print_table(columns, [[row["key"], str(row["value"]), row["source"]] for row in rows])  # literal text, no markup


@config_app.command("init")
def config_init(force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented config.toml with every key at its default."""
    from exactlink.console import info
    from exactlink.services.config_view import write_example_config

    path = write_example_config(force=force)
    info(f"wrote {path}")
