"""Terminal rendering of ``exactlink doctor``: one table, readable at 80 columns; JSON needs none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exactlink.services.doctor import DoctorReport

_STYLES = {"ok": "green", "warn": "yellow", "fallback": "yellow", "refused": "red", "failed": "red", "skipped": "dim"}


def print_doctor_report(report: DoctorReport) -> None:
    """The checks as a table (area, check, result, what was found), then the hints and a verdict."""
    from rich.table import Table
    from rich.text import Text

    from exactlink.console import out

    table = Table("area", "check", "result", "details", title_justify="left", expand=False)
    for check in report.checks:
        table.add_row(
            Text(check.area),
            Text(check.name),
            Text(check.status, style=_STYLES.get(check.status, "")),
            Text(check.detail, overflow="fold"),
        )
    console = out()
    console.print(table)
    hints = [check for check in report.checks if check.hint and check.status not in ("ok", "skipped")]
    for check in hints:
        console.print(Text(f"hint ({check.name}): {check.hint}"), soft_wrap=False)  # wrapped to the width
    verdict = "all checks passed" if report.healthy else "some checks failed: see above"
    if report.failed_calls:
        verdict += f" ({report.failed_calls} call(s) refused by Exact Online while probing)"
    console.print(Text(verdict), soft_wrap=False)
    if report.recording:
        console.print(Text(f"recorded (scrubbed) in {report.recording}"), soft_wrap=False)
