"""Links between the two worlds: relation ↔ office account, match decisions, relation ↔ client administration.

One relation links to at most one office account and one account to at most one relation (the table
enforces both). A rejected (relation, account) pair is remembered so that matching never suggests it
again. A relation links to at most one client administration (division) and a division to one relation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from exactlink.errors import ExactlinkError
from exactlink.store.db import now_iso, transaction

if TYPE_CHECKING:
    import sqlite_utils

LinkedBy = Literal["auto", "manual", "suggestion"]
Decision = Literal["accepted", "rejected"]


class LinkConflict(ExactlinkError):
    """The relation or the account (or the division) is already linked elsewhere."""


def _one(db: sqlite_utils.Database, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    cursor = db.conn.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return {description[0]: value for description, value in zip(cursor.description, row, strict=True)}


def _all(db: sqlite_utils.Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cursor = db.conn.execute(sql, params)
    names = [description[0] for description in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------------
# Relation ↔ office account


def get_link(db: sqlite_utils.Database, relation_number: str) -> dict[str, Any] | None:
    """The relation's account link (``account_id``, ``account_code``, ``method``, ``linked_at``, ``linked_by``)."""
    return _one(db, "SELECT * FROM links WHERE relation_number = ?", (relation_number,))


def link_for_account(db: sqlite_utils.Database, account_id: str) -> dict[str, Any] | None:
    """The link that uses office account ``account_id``, or None."""
    return _one(db, "SELECT * FROM links WHERE account_id = ?", (account_id,))


def list_links(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every relation ↔ account link, by relation number."""
    return _all(db, "SELECT * FROM links ORDER BY relation_number")


def set_link(
    db: sqlite_utils.Database,
    relation_number: str,
    account_id: str,
    account_code: str | None,
    *,
    method: str,
    linked_by: LinkedBy,
    replace: bool = False,
) -> bool:
    """Link a relation to an office account; True when the link is new or changed, False when it already existed.

    ``method`` says on what the link rests (``rsin``, ``bsn``, ``kvk``, ``vat``, ``code``, ``name`` …).
    Raises :class:`LinkConflict` when the account is linked to another relation, or the relation to
    another account (unless ``replace``, which moves the relation to the new account). Also keeps
    ``relations.exact_account_id`` in step, and records an ``accepted`` match decision for manual
    and suggestion links.
    """
    code = account_code.strip() if account_code else account_code
    with transaction(db):
        other = link_for_account(db, account_id)
        if other and other["relation_number"] != relation_number:
            raise LinkConflict(
                f"account {code or account_id} is already linked to relation {other['relation_number']}",
                hint=f"unlink it first: exactlink match unlink {other['relation_number']}",
            )
        current = get_link(db, relation_number)
        if current and current["account_id"] == account_id:
            if current["account_code"] != code:
                db.conn.execute("UPDATE links SET account_code = ? WHERE relation_number = ?", (code, relation_number))
            return False
        if current and not replace:
            linked_to = current["account_code"] or current["account_id"]
            raise LinkConflict(
                f"relation {relation_number} is already linked to account {linked_to}",
                hint=f"unlink it first: exactlink match unlink {relation_number}",
            )
        db.conn.execute(
            "INSERT INTO links (relation_number, account_id, account_code, method, linked_at, linked_by) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (relation_number) DO UPDATE SET account_id = excluded.account_id, "
            "account_code = excluded.account_code, method = excluded.method, linked_at = excluded.linked_at, "
            "linked_by = excluded.linked_by",
            (relation_number, account_id, code, method, now_iso(), linked_by),
        )
        db.conn.execute(
            "UPDATE relations SET exact_account_id = ? WHERE relation_number = ?", (account_id, relation_number)
        )
        if linked_by != "auto":
            record_decision(db, relation_number, account_id, "accepted")
    return True


def remove_link(db: sqlite_utils.Database, relation_number: str) -> dict[str, Any] | None:
    """Remove the relation's account link; return the link that was removed (None when there was none).

    The pair's match decision is kept unless the caller records another one.
    """
    with transaction(db):
        current = get_link(db, relation_number)
        if current is None:
            return None
        db.conn.execute("DELETE FROM links WHERE relation_number = ?", (relation_number,))
        db.conn.execute("UPDATE relations SET exact_account_id = NULL WHERE relation_number = ?", (relation_number,))
    return current


# ---------------------------------------------------------------------------------------------------
# Match decisions


def record_decision(db: sqlite_utils.Database, relation_number: str, account_id: str, decision: Decision) -> None:
    """Remember that a person accepted or rejected the pair (replaces an earlier decision on the same pair)."""
    if decision not in ("accepted", "rejected"):
        raise ValueError("decision must be 'accepted' or 'rejected'")
    with transaction(db):
        db.conn.execute(
            "INSERT INTO match_decisions (relation_number, account_id, decision, decided_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (relation_number, account_id) DO UPDATE SET decision = excluded.decision, "
            "decided_at = excluded.decided_at",
            (relation_number, account_id, decision, now_iso()),
        )


def get_decision(db: sqlite_utils.Database, relation_number: str, account_id: str) -> str | None:
    """``accepted``, ``rejected`` or None for a pair nobody decided on."""
    row = db.conn.execute(
        "SELECT decision FROM match_decisions WHERE relation_number = ? AND account_id = ?",
        (relation_number, account_id),
    ).fetchone()
    return row[0] if row else None


def rejected_pairs(db: sqlite_utils.Database) -> set[tuple[str, str]]:
    """Every (relation_number, account_id) pair a person rejected: never suggest these again."""
    return {
        (row[0], row[1])
        for row in db.conn.execute(
            "SELECT relation_number, account_id FROM match_decisions WHERE decision = 'rejected'"
        )
    }


def list_decisions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every decision (``relation_number``, ``account_id``, ``decision``, ``decided_at``), oldest first."""
    return _all(db, "SELECT * FROM match_decisions ORDER BY decided_at, rowid")


def forget_decision(db: sqlite_utils.Database, relation_number: str, account_id: str) -> bool:
    """Drop the decision on a pair; True when there was one."""
    with transaction(db):
        cursor = db.conn.execute(
            "DELETE FROM match_decisions WHERE relation_number = ? AND account_id = ?", (relation_number, account_id)
        )
        return cursor.rowcount > 0


# ---------------------------------------------------------------------------------------------------
# Relation ↔ client administration (division)


def get_admin_link(db: sqlite_utils.Database, relation_number: str) -> dict[str, Any] | None:
    """The relation's administration link: ``division``, ``solution_link_id``, ``linked_at``, ``backlog_fetched_at``."""
    return _one(db, "SELECT * FROM admin_links WHERE relation_number = ?", (relation_number,))


def admin_link_for_division(db: sqlite_utils.Database, division: int) -> dict[str, Any] | None:
    """The link that uses administration ``division``, or None."""
    return _one(db, "SELECT * FROM admin_links WHERE division = ?", (int(division),))


def list_admin_links(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every relation ↔ administration link with the relation's name and SBR start date, by relation number."""
    return _all(
        db,
        "SELECT a.*, r.name AS name, r.sbr_start_date AS sbr_start_date FROM admin_links a "
        "LEFT JOIN relations r ON r.relation_number = a.relation_number ORDER BY a.relation_number",
    )


def set_admin_link(
    db: sqlite_utils.Database, relation_number: str, division: int, *, solution_link_id: str | None = None
) -> bool:
    """Link a relation to its client administration; True when new, False when exactly this link existed.

    A later call with a ``solution_link_id`` fills it in. Raises :class:`LinkConflict` when the division
    belongs to another relation or the relation to another division. The relation must exist.
    """
    division = int(division)
    with transaction(db):
        other = admin_link_for_division(db, division)
        if other and other["relation_number"] != relation_number:
            raise LinkConflict(
                f"administration {division} is already linked to relation {other['relation_number']}",
                hint=f"unlink it first: exactlink link-admin unlink {other['relation_number']}",
            )
        current = get_admin_link(db, relation_number)
        if current and current["division"] != division:
            raise LinkConflict(
                f"relation {relation_number} is already linked to administration {current['division']}",
                hint=f"unlink it first: exactlink link-admin unlink {relation_number}",
            )
        if current:
            if solution_link_id and current["solution_link_id"] != solution_link_id:
                db.conn.execute(
                    "UPDATE admin_links SET solution_link_id = ? WHERE relation_number = ?",
                    (solution_link_id, relation_number),
                )
            return False
        db.conn.execute(
            "INSERT INTO admin_links (relation_number, division, solution_link_id, linked_at) VALUES (?, ?, ?, ?)",
            (relation_number, division, solution_link_id, now_iso()),
        )
    return True


def mark_backlog_fetched(db: sqlite_utils.Database, relation_number: str) -> None:
    """Record that the first fetch after linking (the 30-day backlog) happened now."""
    with transaction(db):
        db.conn.execute(
            "UPDATE admin_links SET backlog_fetched_at = ? WHERE relation_number = ? AND backlog_fetched_at IS NULL",
            (now_iso(), relation_number),
        )


def remove_admin_link(db: sqlite_utils.Database, relation_number: str) -> dict[str, Any] | None:
    """Remove the relation's administration link; return what was removed (None when there was none)."""
    with transaction(db):
        current = get_admin_link(db, relation_number)
        if current is not None:
            db.conn.execute("DELETE FROM admin_links WHERE relation_number = ?", (relation_number,))
    return current
