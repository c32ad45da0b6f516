"""Reading the mirror's own records (``exactlink.domain.records``) from their tables, by their declared fields.

A record class's field names are its table's columns: :func:`columns_of` builds the ``SELECT`` list from the
class, so a column and an attribute cannot drift apart. Queries stay plain SQL (they are clearer that way);
writes of whole rows go through sqlite-utils.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")


def columns_of(kind: type[Any], prefix: str = "") -> str:
    """``a, b, c``: the columns that hold ``kind``'s fields, each with ``prefix`` (``"l."``) when given."""
    return ", ".join(f"{prefix}{spec.name}" for spec in dataclasses.fields(kind))


def select_records(
    db: sqlite_utils.Database,
    kind: type[T],
    sql: str,
    params: Sequence[Any] = (),
    *,
    convert: Callable[[tuple[Any, ...]], T] | None = None,
) -> list[T]:
    """Run ``sql`` (its select list from :func:`columns_of`) and make a ``kind`` of each row.

    ``convert`` builds the record when a column needs reading (JSON, 0/1 flags); by default the row's values
    are the record's fields in declaration order.
    """
    make = convert or (lambda row: kind(*row))
    return [make(tuple(row)) for row in db.conn.execute(sql, tuple(params))]
