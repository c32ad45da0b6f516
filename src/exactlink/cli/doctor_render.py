"""Terminal rendering of ``exactlink doctor``: one table, readable at 80 columns; JSON needs none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.doctor import DoctorReport

_STYLES = {"ok": "green", "warn": "yellow", "fallback": "yellow", "refused": "red", "failed": "red", "skipped": "dim"}


def print_doctor_report(report: DoctorReport) -> None:
    """The checks as a table (area, check, result, what was found), then the hints and a verdict."""
    from rich.text import Text

    from exactlink.cli.layout import Column, print_table
    from exactlink.console import neutralise, out

    rows: list[list[str | Text]] = [
        [check.area, check.name, Text(check.status, style=_STYLES.get(check.status, "")), check.detail]
        for check in report.checks
    ]
    console = out()
    columns = [
        Column("area", drop=1, fold_into="check", label=""),
        Column("check"),
        Column("result", key=True),
        Column("details", min_width=20),
    ]
    print_table(columns, rows, console=console)
    hints = [check for check in report.checks if check.hint and check.status not in ("ok", "skipped")]
    for check in hints:
        # A Text is not rendered from markup, so the console's own neutralising never sees it: done here.
        console.print(Text(neutralise(f"hint ({check.name}): {check.hint}")), soft_wrap=False)  # wrapped
    verdict = "all checks passed" if report.healthy else "some checks failed: see above"
    if report.failed_calls:
        verdict += f" ({report.failed_calls} call(s) refused by Exact Online while probing)"
    console.print(Text(neutralise(verdict)), soft_wrap=False)
    if report.recording:
        console.print(Text(neutralise(f"recorded (scrubbed) in {report.recording}")), soft_wrap=False)
