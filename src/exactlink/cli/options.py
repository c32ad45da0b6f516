"""The options several commands share, defined once so that name, short flag, placeholder and wording agree.

Also the help's finishing touches, applied to the whole command tree in one place: a placeholder for every
value (``--clients N``, ``FILE``) instead of Typer's type names (``<int range>``, ``{file}``), and each
command's one-line description in the command lists being its whole first sentence, never cut off.
Only Typer is imported here: every command module loads this at start-up.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperArgument

from exactlink.cli.layout import WIDE_OPTION  # layout imports only Typer at start-up

WIDE = WIDE_OPTION
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show what would change; write nothing.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print nothing on success (for cron).")
SHOW_BSN = typer.Option(False, "--show-bsn", help="Show BSNs in full (masked by default).")
RELATIONS = typer.Option(None, "--relation", "-r", metavar="REL", help="Only this relation (repeatable).")
FILE_MODE = typer.Option(
    None, "--mode", metavar="MODE", help="The written file's mode, octal (default 0600: only you can read it)."
)
CSV_ENCODING = typer.Option(
    None, "--encoding", metavar="ENCODING", help="The CSV's encoding (default: UTF-8, BOM and cp1252 detected)."
)
CSV_DELIMITER = typer.Option(
    None, "--delimiter", metavar="CHAR", help="The CSV's delimiter: ';', ',', '|' or 'tab' (default: detected)."
)

# The placeholder of a value, by parameter name; a name not listed gets its own name in capitals.
PLACEHOLDERS = {
    "relation": "REL",
    "file": "FILE",
    "csv_file": "FILE",
    "csv_out": "FILE",
    "ground_truth": "FILE",
    "home": "DIR",
    "document_id": "DOC",
    "division": "DIVISION",
    "account": "ACCOUNT",
    "clients": "N",
    "seed": "N",
    "max_polls": "N",
    "burst_429": "N",
    "port": "PORT",
    "interval": "MINUTES",
    "due_within": "DAYS",
    "latency_ms": "MS",
    "error_rate": "RATE",
    "drop_rate": "RATE",
    "timeout_rate": "RATE",
    "base_url": "URL",
    "redirect_uri": "URI",
    "client_id": "ID",
    "client_secret": "SECRET",
    "accounts": "CODES",
    "sbr_start": "DATE",
    "delimiter": "CHAR",
}


class PlainArgument(TyperArgument):
    """A positional argument shown as ``FILE`` (required) or ``[FILE]`` (optional), as click shows them.

    Typer wraps a required argument in braces (``{file}``), which reads as "one of these choices", and adds
    a type name to its help line; a placeholder says it all.
    """

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def first_sentence(text: str) -> str:
    """The first sentence of a command's help (its first paragraph, up to the first full stop and a space)."""
    paragraph = text.strip().split("\n\n", 1)[0]
    paragraph = " ".join(paragraph.split())
    match = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", paragraph)
    return paragraph[: match.start() + 1] if match else paragraph


def polish(command: Any) -> None:
    """Give every value a placeholder and every command a complete one-line description, recursively."""
    for param in getattr(command, "params", []):
        takes_value = not getattr(param, "is_flag", False) and not getattr(param, "count", False)
        if param.metavar is None and takes_value and param.name not in ("help",):
            param.metavar = PLACEHOLDERS.get(param.name or "", (param.name or "value").upper().replace("_", "-"))
        if type(param) is TyperArgument:
            # Typer builds its own argument objects; this one only changes how the argument is shown.
            param.__class__ = PlainArgument
    for sub in getattr(command, "commands", {}).values():
        if sub.help and not sub.short_help:
            sub.short_help = first_sentence(sub.help)
        polish(sub)
