"""One table layout for every command: readable in an 80-column terminal, every column with ``--wide``.

Each column says what it holds. A *key* column (an id, a relation or account number, a date, an amount, a
count) is never cut, wrapped or folded: it gets the width of its longest value. A text column (a name, a
description, a message) wraps at word boundaries and shares the width that is left. When the terminal is too
narrow for all columns, the least important ones go first (the highest ``drop``): folded as an extra line
into another column when they name one (``fold_into``), else left out, and one line on stderr says which
(``--wide`` shows them all, however wide the table gets). A wide terminal gets the widths the values need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

WIDE_KEY = "exactlink.wide"
TEXT_MIN_WIDTH = 10  # the narrowest a wrapping text column gets (a short word per line still reads)
LONG_WORD = 15  # a text column is at least as wide as its longest word, up to this (longer ones are folded)


def _remember_wide(ctx: typer.Context, _parameter: typer.CallbackParam, value: bool) -> bool:
    ctx.meta[WIDE_KEY] = bool(value) or bool(ctx.meta.get(WIDE_KEY))
    return value


WIDE_OPTION = typer.Option(
    False,
    "--wide",
    help="Show every column, even when the table gets wider than the terminal.",
    callback=_remember_wide,
)


def wide_requested() -> bool:
    """Whether the running command was given ``--wide``."""
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    return bool(context is not None and context.meta.get(WIDE_KEY))


@dataclass(frozen=True)
class Column:
    """One column: its header, whether its values may never be cut (``key``), and how it gives way.

    ``drop``: 0 is always shown; at a narrow width the column with the highest ``drop`` goes first.
    ``fold_into``: the header of the column that takes its value as an extra line instead (with ``label``).
    ``min_width``: the narrowest a text column gets before columns that give way are exhausted.
    """

    header: str
    key: bool = False
    drop: int = 0
    fold_into: str | None = None
    label: str = ""
    justify: Literal["left", "right"] = "left"
    min_width: int = TEXT_MIN_WIDTH


def _text(value: str | Text) -> Text:
    """A cell as Rich text, made inert: a name or message from the CRM or a server may hold terminal escapes,
    and Text, unlike a printed string, does not pass through the safe console's neutralising."""
    from rich.text import Text

    from exactlink.console import neutralise_lines

    if isinstance(value, Text):
        return Text(neutralise_lines(value.plain), style=value.style)  # cells are styled whole, never in spans
    return Text(neutralise_lines(value))


def _longest_line(text: Text) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.plain.split("\n")), default=0)


def _longest_word(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in text.split()), default=0)


def _overhead(count: int) -> int:
    # The default box: a rule on both edges and between columns, one space of padding on each side of a cell.
    return 3 * count + 1


@dataclass
class _Layout:
    columns: list[Column]
    rows: list[list[Text]]

    def needed(self, index: int) -> int:
        """The least width column ``index`` can have: its longest value (key) or a useful wrapping width."""
        column = self.columns[index]
        header = _longest_word(column.header)
        if column.key:  # never wrapped, not even its header
            whole = _longest_line(_text(column.header))
            return max(whole, *(_longest_line(row[index]) for row in self.rows)) if self.rows else whole
        words = max((_longest_word(row[index].plain) for row in self.rows), default=0)
        return min(self.natural(index), max(column.min_width, header, min(words, LONG_WORD)))

    def floor(self, index: int) -> int:
        """The narrowest text column ``index`` may get when all else fails: its ``min_width`` or header word."""
        column = self.columns[index]
        return min(self.natural(index), max(column.min_width, _longest_word(column.header)))

    def natural(self, index: int) -> int:
        """The width column ``index`` takes when nothing is short of room."""
        from rich.cells import cell_len

        lines = [_longest_line(row[index]) for row in self.rows]
        return max(cell_len(self.columns[index].header), *lines) if lines else cell_len(self.columns[index].header)

    def total_needed(self) -> int:
        return sum(self.needed(index) for index in range(len(self.columns))) + _overhead(len(self.columns))

    def give_way(self, index: int) -> str:
        """Remove column ``index``: folded into its ``fold_into`` column when that is shown, else dropped."""
        column = self.columns[index]
        headers = [other.header for other in self.columns]
        target = headers.index(column.fold_into) if column.fold_into in headers else None
        for row in self.rows:
            value = row[index]
            if target is not None and value.plain.strip():
                cell = row[target]
                if cell.plain:
                    cell.append("\n")
                cell.append_text(_text(column.label) + value)
            del row[index]
        del self.columns[index]
        return column.header

    def widths(self, available: int) -> list[int]:
        """Key columns their need; text columns share what is left, each up to its natural width."""
        count = len(self.columns)
        widths = [self.needed(index) for index in range(count)]
        naturals = [self.natural(index) if not self.columns[index].key else widths[index] for index in range(count)]
        left = available - _overhead(count) - sum(widths)
        while left < 0:  # still too wide: narrow the widest text column, down to a floor (key columns never)
            text = [i for i in range(count) if not self.columns[i].key and widths[i] > self.floor(i)]
            if not text:
                break
            widest = max(text, key=lambda i: widths[i])
            widths[widest] -= 1
            left += 1
        growing = [index for index in range(count) if naturals[index] > widths[index]]
        while left > 0 and growing:
            share = max(1, left // len(growing))
            for index in list(growing):
                step = min(share, naturals[index] - widths[index], left)
                widths[index] += step
                left -= step
                if widths[index] >= naturals[index]:
                    growing.remove(index)
                if not left:
                    break
        return widths


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Text]],
    *,
    console: Console | None = None,
    title: str | None = None,
) -> tuple[Table, list[str]]:
    """The table for ``console``'s width (see the module docstring) and the headers that gave way."""
    from rich.table import Table

    from exactlink.console import out

    console = console or out()
    layout = _Layout(list(columns), [[_text(cell) for cell in row] for row in rows])
    gave_way: list[str] = []
    width = console.width
    if not wide_requested():
        while layout.total_needed() > width:
            candidates = [index for index, column in enumerate(layout.columns) if column.drop]
            if not candidates:
                break
            index = max(candidates, key=lambda i: (layout.columns[i].drop, i))
            gave_way.append(layout.give_way(index))
    else:
        width = max(width, sum(layout.natural(i) for i in range(len(layout.columns))) + _overhead(len(layout.columns)))
    widths = layout.widths(width)
    table = Table(title=title, title_justify="left", width=None)
    for column, column_width in zip(layout.columns, widths, strict=True):
        table.add_column(
            column.header,
            justify=column.justify,
            width=column_width,
            no_wrap=column.key,
            overflow="fold",
        )
    for row in layout.rows:
        table.add_row(*row)
    return table, gave_way


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Text]],
    *,
    console: Console | None = None,
    title: str | None = None,
) -> None:
    """Print :func:`fitted_table`; say on stderr which columns gave way and how to see them (``--wide``)."""
    from exactlink.console import info, out

    console = console or out()
    table, gave_way = fitted_table(columns, rows, console=console, title=title)
    # The widths are set per column; a table wider than the terminal (--wide, or key values that cannot be
    # narrowed) is printed whole, for the terminal to wrap, rather than with values cut.
    width = sum(column.width or 0 for column in table.columns) + _overhead(len(table.columns))
    terminal = console.width
    if width > terminal:
        console.width = width  # print(width=…) never goes past the console's own width
    try:
        console.print(table)
    finally:
        console.width = terminal
    left_out = [header for header in gave_way if not _folded(columns, header, gave_way)]
    if left_out:
        info(f"not shown at this width: {', '.join(left_out)} (--wide shows every column)")


def _folded(columns: Sequence[Column], header: str, gave_way: list[str]) -> bool:
    column = next(column for column in columns if column.header == header)
    return column.fold_into is not None and column.fold_into not in gave_way


def print_fields(
    fields: Sequence[tuple[str, str]], *, console: Console | None = None, justify: Literal["left", "right"] = "left"
) -> None:
    """Labelled lines (``label: value``), each value wrapped under itself at the terminal's width."""
    from rich.table import Table

    from exactlink.console import out

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, justify=justify)
    grid.add_column(overflow="fold")
    for label, value in fields:
        grid.add_row(_text(f"{label}:"), _text(value))
    (console or out()).print(grid)


def print_lines(lines: Sequence[str], *, console: Console | None = None) -> None:
    """Plain lines of text (no markup), word-wrapped at the terminal's width."""
    from exactlink.console import out

    console = console or out()
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=False)


def shown_time(moment: str | None, *, seconds: bool = False) -> str:
    """A stored moment (ISO, UTC) in the office's zone (``schedule.timezone``) for a human-readable line."""
    from exactlink.cli.context import workspace
    from exactlink.domain.times import office_time

    return office_time(moment, workspace().settings.schedule.timezone, seconds=seconds)
