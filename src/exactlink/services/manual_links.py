"""Linking by hand: ``match link REL ACCOUNT``, ``match link --csv FILE`` and ``match unlink REL``.

An account is found by its Exact id, its code (trimmed or in Exact's 18-character padded form) or its
name. Every link is checked first (:func:`plan_link`): the relation must be in the CRM mirror, the account
must be found and unambiguous, and one relation links to one account. ``--force`` moves a link and records
the pair it breaks as rejected, so matching does not propose it again. ``unlink`` records the pair as
rejected for the same reason; linking by hand undoes that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError, UsageError
from exactlink.services.matching import LOCK_NAME

if TYPE_CHECKING:
    from datetime import datetime

    import sqlite_utils

    from exactlink.domain.entities import OfficeAccount
    from exactlink.workspace import Workspace


class AccountNotFound(ExactlinkError):
    """No office account has that code or name."""


class AmbiguousAccount(UsageError):
    """A name fits several office accounts: the user must say which (exit 2)."""

    def __init__(self, message: str, candidates: list[dict[str, Any]], *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.candidates = candidates


def _looks_like_guid(text: str) -> bool:
    try:
        uuid.UUID(text.strip().strip("{}"))
    except ValueError:
        return False
    return True


def _candidate(account: OfficeAccount) -> dict[str, Any]:
    return {"account_id": account.id, "account_code": account.code, "name": account.name, "city": account.city}


def find_account(db: sqlite_utils.Database, division: int, text: str) -> OfficeAccount:
    """The office account meant by ``text``: its Exact id, its code (trimmed or Exact's padded form) or its name.

    A code wins over a name. A name matches case-insensitively, whole first, else as a part.

    Raises:
        AccountNotFound: nothing fits.
        AmbiguousAccount: several accounts fit the name (their ``candidates`` are listed, exit 2).
    """
    from exactlink.store.accounts import find_accounts_by_code, find_accounts_by_name, get_account

    query = text.strip()
    if not query:
        raise UsageError("give an account code or name")
    if _looks_like_guid(query):
        account = get_account(db, query.strip("{}"))
        if account is not None and account.division == division:
            return account
    by_code = find_accounts_by_code(db, division, query)
    if len(by_code) == 1:
        return by_code[0]
    matches = by_code or find_accounts_by_name(db, division, query)
    if not matches:
        raise AccountNotFound(
            f"no account of the office administration has code or name {query!r}",
            hint="check the code in Exact Online; `exactlink match` refreshes the local copy of the accounts",
        )
    if len(matches) > 1:
        raise AmbiguousAccount(
            f"{len(matches)} accounts fit {query!r}: give the account code",
            [_candidate(row) for row in matches],
            hint="exactlink match link REL CODE",
        )
    return matches[0]


@dataclass
class LinkPlan:
    """One manual link, checked: what would happen (``action``) or why it cannot (``error``)."""

    relation: str
    account_query: str
    row: int | None = None
    account_id: str | None = None
    account_code: str | None = None
    account_name: str | None = None
    action: str = ""  # link, relink, unchanged (and "linked"/"relinked" once done)
    replaces: str | None = None  # the relation's previous account code (relink)
    takes_from: str | None = None  # the relation that held the account (--force)
    error: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the link can be (or was) made."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one per CSV row in bulk reports)."""
        data: dict[str, Any] = {
            "relation": self.relation,
            "account": self.account_query,
            "account_code": self.account_code,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "action": self.action,
            "ok": self.ok,
            "error": self.error,
        }
        if self.row is not None:
            data["row"] = self.row
        if self.replaces:
            data["replaces"] = self.replaces
        if self.takes_from:
            data["takes_from"] = self.takes_from
        if self.candidates:
            data["candidates"] = self.candidates
        return data


def plan_link(db: sqlite_utils.Database, division: int, relation: str, account_text: str, *, force: bool) -> LinkPlan:
    """Check one manual link against the mirror: relation known, account found, one relation ↔ one account."""
    from exactlink.store.links import account_link_of_account, get_account_link
    from exactlink.store.relations import relation_exists

    plan = LinkPlan(relation=relation.strip(), account_query=account_text)
    if not plan.relation:
        plan.error = "no relation number"
        return plan
    if not relation_exists(db, plan.relation):
        plan.error = f"relation {plan.relation} is not in the local CRM mirror"
        return plan
    try:
        account = find_account(db, division, account_text)
    except AmbiguousAccount as exc:
        plan.error, plan.candidates = exc.message, exc.candidates
        return plan
    except ExactlinkError as exc:
        plan.error = exc.message
        return plan
    plan.account_id, plan.account_code, plan.account_name = account.id, account.code, account.name
    current = get_account_link(db, plan.relation)
    holder = account_link_of_account(db, account.id)
    if current and current.account_id == account.id:
        plan.action = "unchanged"
        return plan
    if holder and holder.relation_number != plan.relation:
        if not force:
            plan.error = (
                f"account {account.code} is already linked to relation {holder.relation_number} "
                "(one relation, one account): unlink it first or use --force"
            )
            return plan
        plan.takes_from = holder.relation_number
    if current:
        if not force:
            plan.error = (
                f"relation {plan.relation} is already linked to account {current.account_code}: "
                "unlink it first or use --force"
            )
            return plan
        plan.replaces = current.account_code or current.account_id
    plan.action = "relink" if (plan.replaces or plan.takes_from) else "link"
    return plan


def apply_link(db: sqlite_utils.Database, plan: LinkPlan, *, now: datetime) -> None:
    """Carry out a checked plan in one transaction (``linked_by = manual``), dated ``now``.

    Taking an account from another relation (``--force``) unlinks that relation and records the old pair as
    rejected, so matching does not propose it again; a replaced link of this relation likewise.
    """
    from exactlink.store.db import transaction
    from exactlink.store.links import get_account_link, record_decision, remove_account_link, set_account_link

    if not plan.ok or plan.action == "unchanged" or plan.account_id is None:
        return
    with transaction(db):
        if plan.takes_from:
            removed = remove_account_link(db, plan.takes_from)
            if removed is not None:
                record_decision(db, plan.takes_from, removed.account_id, "rejected", now=now)
        current = get_account_link(db, plan.relation)
        if current is not None and current.account_id != plan.account_id:
            remove_account_link(db, plan.relation)
            record_decision(db, plan.relation, current.account_id, "rejected", now=now)
        set_account_link(
            db, plan.relation, plan.account_id, plan.account_code, method="manual", linked_by="manual", now=now
        )
    plan.action = {"link": "linked", "relink": "relinked"}.get(plan.action, plan.action)


def _refresh_quietly(ws: Workspace, division: int) -> bool:
    """Refresh the mirror once (an account created in Exact a minute ago); False when that is not possible."""
    from exactlink.services.office_mirror import refresh_office_mirror

    try:
        with ws.client() as client:
            # A quick look for a just-created account: the freshness checks (and their bookkeeping) are left
            # to the next match or sync, so a look-up that finds nothing leaves the database as it was.
            refresh_office_mirror(client, ws.db, division, now=ws.clock.now(), trust_cursors=True)
    except ExactlinkError:
        return False
    return True


def link_manually(
    ws: Workspace, relation: str, account_text: str, *, force: bool = False, dry_run: bool = False
) -> LinkPlan:
    """``match link REL ACCOUNT``: link a relation to an office account by hand.

    When the account is not in the local mirror, the mirror is refreshed once from Exact Online (not in a
    dry run) and the lookup repeated.

    Raises:
        AmbiguousAccount: the name fits several accounts (exit 2, with the candidates).
        AccountNotFound, RelationUnknown, LinkConflict: the link cannot be made (exit 1).
    """
    from exactlink.services.tenant import require_office_for

    db = ws.db
    office = require_office_for(ws)
    with ws.run("match link", lock=LOCK_NAME, dry_run=dry_run, record=False):
        plan = plan_link(db, office.division, relation, account_text, force=force)
        if (
            not dry_run
            and plan.account_id is None
            and not plan.candidates
            and plan.error
            and plan.error.startswith("no account")
            and _refresh_quietly(ws, office.division)
        ):
            plan = plan_link(db, office.division, relation, account_text, force=force)
        _raise_for(db, plan)
        if not dry_run:
            apply_link(db, plan, now=ws.clock.now())
        return plan


def _raise_for(db: sqlite_utils.Database, plan: LinkPlan) -> None:
    from exactlink.services.crm import RelationUnknown, unknown_relation_hint
    from exactlink.store.links import LinkConflict

    if plan.ok:
        return
    message = plan.error or "cannot link"
    if plan.candidates:
        raise AmbiguousAccount(message, plan.candidates, hint="give the account code: exactlink match link REL CODE")
    if plan.account_id is None and message.startswith("relation"):
        raise RelationUnknown(message, hint=unknown_relation_hint(db))
    if plan.account_id is None:
        raise AccountNotFound(message, hint="check the code in Exact Online, or run `exactlink match` first")
    raise LinkConflict(message, hint="exactlink match unlink REL, or add --force to move the link")


def unlink(ws: Workspace, relation: str, *, dry_run: bool = False) -> dict[str, Any]:
    """``match unlink REL``: remove the relation's account link and reject the pair for future matching.

    Returns ``{"relation", "account_code", "account_id", "unlinked"}``; ``unlinked`` is false when the
    relation had no link (nothing to do, not an error).

    Raises:
        RelationUnknown: the relation is not in the mirror.
    """
    from exactlink.services.crm import relation_not_in_mirror
    from exactlink.store.db import transaction
    from exactlink.store.links import get_account_link, record_decision, remove_account_link
    from exactlink.store.relations import relation_exists

    number = relation.strip()
    db = ws.db
    if not relation_exists(db, number):
        raise relation_not_in_mirror(db, number)
    with ws.run("match unlink", lock=LOCK_NAME, dry_run=dry_run, record=False):
        link = get_account_link(db, number)
        result = {
            "relation": number,
            "account_code": link.account_code if link else None,
            "account_id": link.account_id if link else None,
            "unlinked": link is not None,
            "dry_run": dry_run,
        }
        if link is not None and not dry_run:
            with transaction(db):
                remove_account_link(db, number)
                record_decision(db, number, link.account_id, "rejected", now=ws.clock.now())
        return result


# --------------------------------------------------------------------------------------------------
# Bulk links from a CSV


RELATION_HEADERS = ("relatienummer", "relatie", "relatienr", "relation", "relationnumber", "relationno", "nummer")
ACCOUNT_HEADERS = (
    "account",
    "accountcode",
    "code",
    "exactaccount",
    "exactcode",
    "debiteurnummer",
    "klantnummer",
    "accountnaam",
    "accountname",
    "naam",
    "name",
    "relatienaam",
)


@dataclass
class BulkLinkReport:
    """The outcome of ``match link --csv``: one plan per data row."""

    path: str
    dry_run: bool
    plans: list[LinkPlan] = field(default_factory=list)

    @property
    def failed(self) -> list[LinkPlan]:
        """Rows that could not be linked."""
        return [plan for plan in self.plans if not plan.ok]

    @property
    def exit_code(self) -> int:
        """3 when some rows failed, else 0."""
        return 3 if self.failed else 0

    def counts(self) -> dict[str, int]:
        """Rows per outcome."""
        counts = {"rows": len(self.plans), "failed": len(self.failed)}
        for plan in self.plans:
            if plan.ok:
                counts[plan.action] = counts.get(plan.action, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: counts and one object per row."""
        return {
            "file": self.path,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "rows": [plan.to_json() for plan in self.plans],
        }


def read_link_csv(
    path: Path, *, encoding: str | None = None, delimiter: str | None = None
) -> list[tuple[int, str, str]]:
    """The (row number, relation, account) rows of a bulk-link CSV; the header is row 1.

    Headers are matched like the CRM import's (case, spaces, dashes and dots ignored), Dutch or English:
    ``relatienummer``/``relation`` and ``account``/``accountcode``/``code``/``naam``/``name``.

    Raises:
        CsvUnreadable: the file cannot be read or lacks one of the two columns (nothing is linked).
    """
    from exactlink.store.crm_csv import CsvUnreadable, header_key, read_csv_table, unneutralise

    records = iter(read_csv_table(path, encoding=encoding, delimiter=delimiter).records)
    header = next(records, [])
    keys = [header_key(name) for name in header]
    relation_column = next((keys.index(name) for name in RELATION_HEADERS if name in keys), None)
    account_column = next((keys.index(name) for name in ACCOUNT_HEADERS if name in keys), None)
    if relation_column is None or account_column is None:
        missing = "relation number (relatienummer)" if relation_column is None else "account (account code or name)"
        raise CsvUnreadable(
            f"{path}: no {missing} column in the header ({', '.join(header) or 'empty'})",
            hint="the header needs e.g. 'relatienummer;account' (or 'relation,account code')",
        )
    rows = []
    for number, cells in enumerate(records, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        relation = unneutralise(cells[relation_column].strip()) if relation_column < len(cells) else ""
        account = unneutralise(cells[account_column].strip()) if account_column < len(cells) else ""
        rows.append((number, relation, account))
    return rows


def link_from_csv(
    ws: Workspace,
    path: Path,
    *,
    force: bool = False,
    dry_run: bool = False,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> BulkLinkReport:
    """``match link --csv FILE``: check every row first, then link the good ones, each in its own transaction.

    A row fails (and is reported with its row number) when its relation is unknown, its account is not found
    or ambiguous, a link would break one relation ↔ one account (also between rows of the file), or the store
    refuses it. Failed rows never stop or change the others. A dry run checks and reports only.
    """
    from exactlink.services.tenant import require_office_for
    from exactlink.store.links import LinkConflict

    rows = read_link_csv(path, encoding=encoding, delimiter=delimiter)
    report = BulkLinkReport(path=str(path), dry_run=dry_run)
    db = ws.db
    office = require_office_for(ws)
    with ws.run("match link --csv", lock=LOCK_NAME, dry_run=dry_run, begin=False) as run:
        seen_relations: dict[str, int] = {}
        seen_accounts: dict[str, int] = {}
        for number, relation, account in rows:
            plan = plan_link(db, office.division, relation, account, force=force)
            plan.row = number
            if plan.ok and plan.relation in seen_relations:
                plan.error = f"relation {plan.relation} is also on row {seen_relations[plan.relation]}"
            elif plan.ok and plan.account_id in seen_accounts:
                plan.error = (
                    f"account {plan.account_code} is also on row {seen_accounts[plan.account_id]} "
                    "(one relation, one account)"
                )
            if plan.ok:
                seen_relations[plan.relation] = number
                seen_accounts[str(plan.account_id)] = number
            report.plans.append(plan)
        if dry_run:
            return report
        run.begin()
        for plan in report.plans:
            if not plan.ok:
                continue
            try:
                apply_link(db, plan, now=ws.clock.now())
            except (LinkConflict, ExactlinkError) as exc:
                plan.error = exc.message
        run.finish(report.exit_code, report.counts())
        return report
