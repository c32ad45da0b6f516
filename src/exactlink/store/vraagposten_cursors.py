"""Per administration: where the last vraagposten read stopped (sync cursors), the G/L choice, and the lines.

``vraagposten_cursors`` holds one row per administration: the configured codes the choice was made with, the
chosen accounts, the ``Timestamp`` cursors of ``sync/Financial/GLAccounts``, ``sync/Financial/TransactionLines``
and ``sync/Deleted`` and when each last moved, and the administration's ``DivisionMoveDate`` as last checked.
``vraagposten_ledger`` keeps every line on the chosen accounts (cleared or not), so a run that reads only the
changed lines can still apply the open-items rule to the whole account.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exactlink.domain.return_records import LedgerLine, columns
from exactlink.domain.vraagposten import GLAccountRef

if TYPE_CHECKING:
    import sqlite_utils

_LEDGER_COLUMNS = columns(LedgerLine)
_CURSOR_COLUMNS = (
    "division, configured, accounts, source, problem, gl_timestamp, gl_checked_at, lines_timestamp, lines_read_at, "
    "deleted_timestamp, deleted_read_at, move_date, move_checked_at"
)


@dataclass(frozen=True)
class VraagpostenCursor:
    """What the last vraagposten read of one administration left behind (``None`` cursors: never read)."""

    division: int
    configured: tuple[str, ...] = ()
    accounts: tuple[GLAccountRef, ...] = ()
    source: str | None = None
    problem: str | None = None
    gl_timestamp: int | None = None
    gl_checked_at: str | None = None
    lines_timestamp: int | None = None
    lines_read_at: str | None = None
    deleted_timestamp: int | None = None  # sync/Deleted cursor (deleted transaction lines)
    deleted_read_at: str | None = None
    move_date: str | None = None  # DivisionMoveDate as Exact gave it (None: none, or never checked)
    move_checked_at: str | None = None  # None: DivisionMoveDate never checked

    @property
    def codes(self) -> tuple[str, ...]:
        """The chosen accounts' codes."""
        return tuple(account.code for account in self.accounts)


def _accounts_json(accounts: Iterable[GLAccountRef]) -> str:
    return json.dumps([[account.id, account.code, account.description] for account in accounts])


def _accounts(text: str | None) -> tuple[GLAccountRef, ...]:
    return tuple(
        GLAccountRef(code=code, description=description, id=id_) for id_, code, description in json.loads(text or "[]")
    )


def all_cursors(db: sqlite_utils.Database) -> dict[int, VraagpostenCursor]:
    """Every administration's cursor row, by division."""
    result = {}
    for row in db.conn.execute(f"SELECT {_CURSOR_COLUMNS} FROM vraagposten_cursors"):
        division, configured, accounts, *rest = row
        result[int(division)] = VraagpostenCursor(
            int(division), tuple(json.loads(configured)), _accounts(accounts), *rest
        )
    return result


def save_cursor(db: sqlite_utils.Database, cursor: VraagpostenCursor) -> None:
    """Insert or replace the administration's cursor row (call inside the administration's transaction)."""
    rest = [getattr(cursor, spec.name) for spec in dataclasses.fields(cursor)[3:]]
    db.conn.execute(
        f"INSERT OR REPLACE INTO vraagposten_cursors ({_CURSOR_COLUMNS}) VALUES ({', '.join('?' * (3 + len(rest)))})",
        (cursor.division, json.dumps(list(cursor.configured)), _accounts_json(cursor.accounts), *rest),
    )


def ledger_lines(db: sqlite_utils.Database, division: int) -> list[LedgerLine]:
    """Every kept line on the administration's vraagposten accounts."""
    cursor = db.conn.execute(
        f"SELECT {', '.join(_LEDGER_COLUMNS)} FROM vraagposten_ledger WHERE division = ?", (int(division),)
    )
    return [LedgerLine(*row) for row in cursor.fetchall()]


def count_kept_lines(db: sqlite_utils.Database, division: int, ids: Iterable[str]) -> int:
    """How many of ``ids`` are kept lines of the administration."""
    row = db.conn.execute(
        "SELECT count(*) FROM vraagposten_ledger WHERE division = ? AND id IN (SELECT value FROM json_each(?))",
        (int(division), json.dumps(list(ids))),
    ).fetchone()
    return int(row[0])


def apply_ledger_changes(
    db: sqlite_utils.Database,
    division: int,
    changed: Iterable[LedgerLine],
    left_account_ids: Iterable[str] = (),
    *,
    from_start: bool,
) -> None:
    """Keep the changed lines (all on vraagposten accounts) and drop the ones that left those accounts.

    ``from_start`` (a read from the start of the sync API) drops every kept line of the division first.
    One statement each, whatever the number of lines.
    """
    if from_start:
        db.conn.execute("DELETE FROM vraagposten_ledger WHERE division = ?", (int(division),))
    else:
        db.conn.execute(
            "DELETE FROM vraagposten_ledger WHERE division = ? AND id IN (SELECT value FROM json_each(?))",
            (int(division), json.dumps(list(left_account_ids))),
        )
    db.conn.executemany(
        f"INSERT OR REPLACE INTO vraagposten_ledger ({', '.join(_LEDGER_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_LEDGER_COLUMNS))})",
        [dataclasses.astuple(line) for line in changed if line.id],
    )
