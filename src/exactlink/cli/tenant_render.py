"""Terminal rendering of ``tenant list``; JSON output needs none of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.services.tenant import TenantOverview


def print_divisions(overview: TenantOverview, office: dict[str, Any] | None) -> None:
    """Every administration the login sees, the chosen office administration marked ``*``."""
    from exactlink.cli.layout import Column, print_table

    rows = [
        [
            "*" if office and office["division"] == entry.code else "",
            str(entry.code),
            entry.name,
            entry.customer_name or "",
            ", ".join(entry.flags()),
        ]
        for entry in overview.divisions
    ]
    columns = [
        Column("", key=True),
        Column("code", key=True),
        Column("name", min_width=14),
        Column("customer", drop=1, fold_into="name", label="customer: "),
        Column("flags"),
    ]
    print_table(columns, rows)
