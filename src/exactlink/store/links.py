"""Account links, match decisions and administration links: the ties between the CRM and Exact Online.

An **account link** (:class:`~exactlink.domain.records.AccountLink`) ties a relation to an office account: one
relation links to at most one account and one account to at most one relation (the table enforces both). A
rejected (relation, account) pair is remembered as a match decision so that matching never suggests it again.
An **administration link** (:class:`~exactlink.domain.records.AdministrationLink`) ties a relation to its client
administration (division): one each way. Every function here takes and returns those records.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import (
    AccountLink,
    AdministrationLink,
    DecisionValue,
    LinkedAdministration,
    LinkedBy,
    MatchDecision,
)
from exactlink.errors import ExactlinkError
from exactlink.store.db import stored_at, transaction
from exactlink.store.records import columns_of, select_records

if TYPE_CHECKING:
    import sqlite_utils

Decision = DecisionValue


class LinkConflict(ExactlinkError):
    """The relation or the account (or the division) is already linked elsewhere."""


_ACCOUNT_LINK = f"SELECT {columns_of(AccountLink)} FROM links"
_ADMINISTRATION_LINK = f"SELECT {columns_of(AdministrationLink)} FROM admin_links"


def _first(found: list[Any]) -> Any:
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------------
# Account links: relation ↔ office account


def get_account_link(db: sqlite_utils.Database, relation_number: str) -> AccountLink | None:
    """The relation's account link, or None."""
    return _first(select_records(db, AccountLink, f"{_ACCOUNT_LINK} WHERE relation_number = ?", (relation_number,)))


def account_link_of_account(db: sqlite_utils.Database, account_id: str) -> AccountLink | None:
    """The account link that uses office account ``account_id``, or None."""
    return _first(select_records(db, AccountLink, f"{_ACCOUNT_LINK} WHERE account_id = ?", (account_id,)))


def list_account_links(db: sqlite_utils.Database) -> list[AccountLink]:
    """Every account link, by relation number."""
    return select_records(db, AccountLink, f"{_ACCOUNT_LINK} ORDER BY relation_number")


def set_account_link(
    db: sqlite_utils.Database,
    relation_number: str,
    account_id: str,
    account_code: str | None,
    *,
    method: str,
    linked_by: LinkedBy,
    now: datetime,
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
        other = account_link_of_account(db, account_id)
        if other and other.relation_number != relation_number:
            raise LinkConflict(
                f"account {code or account_id} is already linked to relation {other.relation_number}",
                hint=f"unlink it first: exactlink match unlink {other.relation_number}",
            )
        current = get_account_link(db, relation_number)
        if current and current.account_id == account_id:
            if current.account_code != code:
                db.conn.execute("UPDATE links SET account_code = ? WHERE relation_number = ?", (code, relation_number))
            return False
        if current and not replace:
            linked_to = current.account_code or current.account_id
            raise LinkConflict(
                f"relation {relation_number} is already linked to account {linked_to}",
                hint=f"unlink it first: exactlink match unlink {relation_number}",
            )
        link = AccountLink(relation_number, account_id, code, method, stored_at(now), linked_by)
        db["links"].upsert(_row(link), pk="relation_number")  # type: ignore[union-attr]
        db.conn.execute(
            "UPDATE relations SET exact_account_id = ? WHERE relation_number = ?", (account_id, relation_number)
        )
        if linked_by != "auto":
            record_decision(db, relation_number, account_id, "accepted", now=now)
    return True


def remove_account_link(db: sqlite_utils.Database, relation_number: str) -> AccountLink | None:
    """Remove the relation's account link; return the link that was removed (None when there was none).

    The pair's match decision is kept unless the caller records another one.
    """
    with transaction(db):
        current = get_account_link(db, relation_number)
        if current is None:
            return None
        db.conn.execute("DELETE FROM links WHERE relation_number = ?", (relation_number,))
        db.conn.execute("UPDATE relations SET exact_account_id = NULL WHERE relation_number = ?", (relation_number,))
    return current


def _row(record: AccountLink | AdministrationLink) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(record)


# ---------------------------------------------------------------------------------------------------
# Match decisions


def record_decision(
    db: sqlite_utils.Database, relation_number: str, account_id: str, decision: Decision, *, now: datetime
) -> None:
    """Remember that a person accepted or rejected the pair (replaces an earlier decision on the same pair)."""
    if decision not in ("accepted", "rejected"):
        raise ValueError("decision must be 'accepted' or 'rejected'")
    with transaction(db):
        db.conn.execute(
            "INSERT INTO match_decisions (relation_number, account_id, decision, decided_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (relation_number, account_id) DO UPDATE SET decision = excluded.decision, "
            "decided_at = excluded.decided_at",
            (relation_number, account_id, decision, stored_at(now)),
        )


def get_decision(db: sqlite_utils.Database, relation_number: str, account_id: str) -> Decision | None:
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


def list_decisions(db: sqlite_utils.Database) -> list[MatchDecision]:
    """Every match decision, oldest first."""
    return select_records(
        db, MatchDecision, f"SELECT {columns_of(MatchDecision)} FROM match_decisions ORDER BY decided_at, rowid"
    )


def forget_decision(db: sqlite_utils.Database, relation_number: str, account_id: str) -> bool:
    """Drop the decision on a pair; True when there was one."""
    with transaction(db):
        cursor = db.conn.execute(
            "DELETE FROM match_decisions WHERE relation_number = ? AND account_id = ?", (relation_number, account_id)
        )
        return cursor.rowcount > 0


# ---------------------------------------------------------------------------------------------------
# Administration links: relation ↔ client administration (division)


def get_administration_link(db: sqlite_utils.Database, relation_number: str) -> AdministrationLink | None:
    """The relation's administration link, or None."""
    return _first(
        select_records(db, AdministrationLink, f"{_ADMINISTRATION_LINK} WHERE relation_number = ?", (relation_number,))
    )


def administration_link_of_division(db: sqlite_utils.Database, division: int) -> AdministrationLink | None:
    """The administration link that uses administration ``division``, or None."""
    return _first(
        select_records(db, AdministrationLink, f"{_ADMINISTRATION_LINK} WHERE division = ?", (int(division),))
    )


def _linked_administration(row: tuple[Any, ...]) -> LinkedAdministration:
    *link, name, sbr_start = row
    return LinkedAdministration(
        AdministrationLink(*link), name or "", date.fromisoformat(sbr_start) if sbr_start else None
    )


def count_administration_links(db: sqlite_utils.Database) -> int:
    """How many relations are linked to an administration."""
    return int(db.conn.execute("SELECT count(*) FROM admin_links").fetchone()[0])


def list_administration_links(db: sqlite_utils.Database) -> list[LinkedAdministration]:
    """Every administration link with the relation's name and SBR start date, by relation number."""
    return select_records(
        db,
        LinkedAdministration,
        f"SELECT {columns_of(AdministrationLink, 'a.')}, r.name, r.sbr_start_date FROM admin_links a "
        "LEFT JOIN relations r ON r.relation_number = a.relation_number ORDER BY a.relation_number",
        convert=_linked_administration,
    )


def set_administration_link(
    db: sqlite_utils.Database,
    relation_number: str,
    division: int,
    *,
    now: datetime,
    solution_link_id: str | None = None,
) -> bool:
    """Link a relation to its client administration; True when new, False when exactly this link existed.

    A later call with a ``solution_link_id`` (the id of Exact's SolutionLink) fills it in. Raises
    :class:`LinkConflict` when the division belongs to another relation or the relation to another division.
    The relation must exist.
    """
    division = int(division)
    with transaction(db):
        other = administration_link_of_division(db, division)
        if other and other.relation_number != relation_number:
            raise LinkConflict(
                f"administration {division} is already linked to relation {other.relation_number}",
                hint=f"unlink it first: exactlink link-admin unlink {other.relation_number}",
            )
        current = get_administration_link(db, relation_number)
        if current and current.division != division:
            raise LinkConflict(
                f"relation {relation_number} is already linked to administration {current.division}",
                hint=f"unlink it first: exactlink link-admin unlink {relation_number}",
            )
        if current:
            if solution_link_id and current.solution_link_id != solution_link_id:
                db.conn.execute(
                    "UPDATE admin_links SET solution_link_id = ? WHERE relation_number = ?",
                    (solution_link_id, relation_number),
                )
            return False
        db["admin_links"].insert(  # type: ignore[union-attr]
            _row(AdministrationLink(relation_number, division, solution_link_id, stored_at(now)))
        )
    return True


def mark_backlog_fetched(db: sqlite_utils.Database, relation_number: str, *, now: datetime) -> None:
    """Record that the first fetch after linking (the 30-day backlog) happened now."""
    with transaction(db):
        db.conn.execute(
            "UPDATE admin_links SET backlog_fetched_at = ? WHERE relation_number = ? AND backlog_fetched_at IS NULL",
            (stored_at(now), relation_number),
        )


def remove_administration_link(db: sqlite_utils.Database, relation_number: str) -> AdministrationLink | None:
    """Remove the relation's administration link; return what was removed (None when there was none)."""
    with transaction(db):
        current = get_administration_link(db, relation_number)
        if current is not None:
            db.conn.execute("DELETE FROM admin_links WHERE relation_number = ?", (relation_number,))
    return current
