"""The ``match`` use cases: match CRM relations to the office administration's accounts, and review suggestions.

``run_match`` refreshes the local copy of the office accounts (:mod:`exactlink.services.office_mirror`), runs
the cascade engine (:func:`exactlink.domain.matching.match_relations`) with every decision a person made and
every link that exists, and links what is certain (``linked_by = auto``). Names only ever *suggest*; a
suggestion becomes a link when a person accepts it (:func:`review`) or links by hand
(:mod:`exactlink.services.manual_links`).

Decisions persist in the mirror: an accepted pair stays linked, a rejected pair (review → reject, or
``match unlink``) is never proposed again. Existing links are fed to the engine as decisions, so one
account is never linked to two relations and an earlier link is never overturned by a later run.
``review`` works on the local mirror only; ``run_match`` first refreshes it from Exact Online.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from datetime import datetime

    import sqlite_utils

    from exactlink.domain.entities import AccountAddress, OfficeAccount
    from exactlink.domain.matching import AccountKeys, MatchResult, RelationKeys
    from exactlink.domain.records import AccountLink
    from exactlink.services.office_mirror import MirrorStats, Progress
    from exactlink.store.relations import MatchingFields, RelationRecord
    from exactlink.workspace import Workspace

# One lock for everything that writes relation ↔ account links or refreshes the office mirror (match, sync).
LOCK_NAME = "relations"
COMMAND = "match"

Status = Literal["linked", "suggested", "conflict", "unmatched"]
STATUSES: tuple[Status, ...] = ("linked", "suggested", "conflict", "unmatched")


# --------------------------------------------------------------------------------------------------
# Matching keys from the mirror


def relation_keys(fields: MatchingFields) -> RelationKeys:
    """The engine's view of one CRM relation (its address: visit, else postal, else invoice)."""
    from exactlink.domain.matching import RelationKeys

    return RelationKeys(
        relation_number=fields.relation_number,
        name=fields.name,
        rsin=fields.rsin,
        bsn=fields.bsn,
        ob_number=fields.vat_number,
        payroll_number=fields.payroll_tax_number,
        kvk=fields.kvk,
        postcode=fields.postcode,
        house_number=fields.street,
        ibans=fields.ibans,
    )


@dataclass
class OfficeAccounts:
    """The mirrored office accounts with what matching and display need: accounts, visit addresses, IBANs."""

    accounts: dict[str, OfficeAccount]
    addresses: dict[str, AccountAddress]
    ibans: dict[str, list[str]]

    def keys(self) -> list[AccountKeys]:
        """The engine's view of every account."""
        from exactlink.domain.matching import AccountKeys

        result = []
        for account_id, account in self.accounts.items():
            postcode, line = account.postcode, account.address_line
            address = self.addresses.get(account_id)
            if not (postcode or line) and address is not None:
                postcode, line = address.postcode, address.address_line
            result.append(
                AccountKeys(
                    account_id=account_id,
                    code=account.code,
                    name=account.name,
                    rsin=account.rsin,
                    bsn=account.bsn,
                    vat_number=account.vat_number,
                    kvk=account.chamber_of_commerce,
                    postcode=postcode,
                    house_number=line,
                    ibans=tuple(self.ibans.get(account_id, ())),
                )
            )
        return result

    def address_of(self, account_id: str) -> tuple[str | None, str | None, str | None]:
        """(street line, postcode, city) of the account, from the account or its main/visit address."""
        account = self.accounts.get(account_id)
        if account is not None and (account.address_line or account.postcode):
            return account.address_line, account.postcode, account.city
        address = self.addresses.get(account_id)
        return (address.address_line, address.postcode, address.city) if address else (None, None, None)


def load_office_accounts(db: sqlite_utils.Database, division: int) -> OfficeAccounts:
    """Read the office accounts of ``division`` from the mirror."""
    from exactlink.domain.entities import AccountAddress, AccountBankAccount
    from exactlink.domain.sync_fields import ADDRESS_TYPE_CODES
    from exactlink.store.accounts import list_accounts, list_records

    visit = ADDRESS_TYPE_CODES["visit"]
    accounts = {account.id: account for account in list_accounts(db, division)}
    addresses: dict[str, AccountAddress] = {}
    ranks: dict[str, int] = {}
    for address in list_records(db, AccountAddress, division):
        # Prefer the visit address, then the main address, then any.
        rank = 0 if address.type == visit else 1 if address.main else 2
        account_id = address.account_id
        if account_id not in ranks or rank < ranks[account_id]:
            ranks[account_id] = rank
            addresses[account_id] = address
    ibans: dict[str, list[str]] = {}
    for bank in list_records(db, AccountBankAccount, division):
        if bank.bank_account:
            ibans.setdefault(bank.account_id, []).append(bank.bank_account)
    return OfficeAccounts(accounts, addresses, ibans)


# --------------------------------------------------------------------------------------------------
# Evaluating: the engine plus what the mirror already knows


@dataclass
class MatchRow:
    """The outcome for one relation, as ``match`` reports it.

    ``new_link`` is true when this run links (or, in a dry run, would link) the relation; ``linked_by`` says
    who made the link (``auto``, ``manual``, ``suggestion``) for linked relations. ``account_gone`` marks a
    link kept while its account is no longer in Exact Online (status ``linked``, account id and code as linked).
    """

    relation: str
    name: str
    status: Status
    account_id: str | None = None
    account_code: str | None = None
    account_name: str | None = None
    method: str | None = None
    reason: str = ""
    score: int | None = None
    why: str | None = None
    confidence: str | None = None
    alternatives: list[str] = field(default_factory=list)
    linked_by: str | None = None
    new_link: bool = False
    account_gone: bool = False

    def to_json(self, *, show_bsn: bool = False) -> dict[str, Any]:
        """The ``match --json`` object for this relation, masked by the masking home unless ``show_bsn``."""
        from exactlink.domain.privacy import mask_view

        return mask_view(
            {
                "relation": self.relation,
                "name": self.name,
                "account_code": self.account_code,
                "account_id": self.account_id,
                "account_name": self.account_name,
                "status": self.status,
                "method": self.method,
                "reason": self.reason,
                "score": self.score,
                "why": self.why,
                "confidence": self.confidence,
                "alternatives": list(self.alternatives),
                "linked_by": self.linked_by,
                "new_link": self.new_link,
                "account_gone": self.account_gone,
            },
            show_bsn=show_bsn,
        )


_STORED_REASONS = {
    "auto": "linked automatically earlier (on {method})",
    "manual": "linked by hand",
    "suggestion": "accepted suggestion ({method})",
}


def _decisions(db: sqlite_utils.Database, links: dict[str, AccountLink]) -> list[Any]:
    """Persisted decisions oldest first, then every existing link as an accepted decision (they are the truth)."""
    from exactlink.domain.matching import Decision
    from exactlink.store.links import list_decisions

    decisions = [Decision(row.relation_number, row.account_id, row.accepted) for row in list_decisions(db)]
    decisions.extend(Decision(number, link.account_id, True) for number, link in sorted(links.items()))
    return decisions


def evaluate(db: sqlite_utils.Database, division: int, *, numbers_must_match: bool) -> list[MatchRow]:
    """Match every CRM relation against the mirrored accounts of ``division``; writes nothing.

    Relations already linked keep their link (and report who made it); relations the engine links now have
    ``new_link`` set; the rest are suggestions, conflicts or unmatched, with the engine's reason.
    """
    from exactlink.domain.matching import match_relations
    from exactlink.store.links import list_account_links
    from exactlink.store.relations import matching_fields

    # Reading 20,000 relations and accounts creates ~10 objects each and no reference cycles: pause the cyclic
    # garbage collector, whose repeated full passes would otherwise cost more than the reading itself.
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        relations = matching_fields(db)
        accounts = load_office_accounts(db, division)
        links = {link.relation_number: link for link in list_account_links(db)}
        results = match_relations(
            [relation_keys(fields) for fields in relations],
            accounts.keys(),
            numbers_must_match=numbers_must_match,
            decisions=_decisions(db, links),
        )
        return [
            _row(fields, result, accounts, links.get(fields.relation_number))
            for fields, result in zip(relations, results, strict=True)
        ]
    finally:
        if collector_was_enabled:
            gc.enable()


ACCOUNT_GONE_REASON = "account gone in Exact Online: link kept; relink (match link) or unlink (match unlink)"


def _row(fields: MatchingFields, result: MatchResult, accounts: OfficeAccounts, link: AccountLink | None) -> MatchRow:
    if link is not None and link.account_id not in accounts.accounts:
        # The office decides what a vanished account means (merged, recreated, deleted by mistake): keep the link.
        return MatchRow(
            relation=fields.relation_number,
            name=fields.name,
            status="linked",
            account_id=link.account_id,
            account_code=link.account_code,
            method=link.method,
            reason=ACCOUNT_GONE_REASON,
            linked_by=link.linked_by,
            account_gone=True,
        )
    return _engine_row(fields, result, accounts, link)


def _engine_row(
    fields: MatchingFields, result: MatchResult, accounts: OfficeAccounts, link: AccountLink | None
) -> MatchRow:
    account = accounts.accounts.get(result.account_id or "") if result.account_id else None
    row = MatchRow(
        relation=fields.relation_number,
        name=fields.name,
        status=result.status,
        account_id=result.account_id,
        account_code=result.account_code,
        account_name=account.name if account else None,
        method=result.method,
        reason=result.reason,
        score=result.score,
        why=result.why,
        confidence=result.confidence,
        alternatives=list(result.alternatives),
    )
    if result.status != "linked":
        return row
    if link is not None and link.account_id == result.account_id:
        row.linked_by = link.linked_by
        row.method = link.method or result.method
        row.reason = _STORED_REASONS.get(link.linked_by, "linked").format(method=row.method)
    else:
        # Linked by the engine now (an identifier) or by an accepted decision whose link is missing.
        row.linked_by = "manual" if result.method == "manual" else "auto"
        row.new_link = True
    return row


def summarise(rows: Iterable[MatchRow]) -> dict[str, int]:
    """Counts per status, plus ``new_links`` (linked in this run)."""
    counts: dict[str, int] = {status: 0 for status in STATUSES}
    counts["new_links"] = 0
    counts["account_gone"] = 0
    for row in rows:
        counts[row.status] += 1
        counts["new_links"] += row.new_link
        counts["account_gone"] += row.account_gone
    return counts


# --------------------------------------------------------------------------------------------------
# match


@dataclass
class MatchReport:
    """What ``match`` did: one row per relation, the mirror refresh, links written, links lost to deletions."""

    rows: list[MatchRow]
    dry_run: bool
    office_division: int
    mirror: MirrorStats | None = None

    @property
    def account_gone(self) -> list[str]:
        """Relations whose link is kept while their account is no longer in Exact Online."""
        return [row.relation for row in self.rows if row.account_gone]

    def counts(self) -> dict[str, int]:
        """Counts per status plus ``new_links``."""
        return summarise(self.rows)

    def as_json(self, *, show_bsn: bool = False) -> list[dict[str, Any]]:
        """One object per relation (the ``--json`` document)."""
        return [row.to_json(show_bsn=show_bsn) for row in self.rows]


def write_new_links(db: sqlite_utils.Database, rows: list[MatchRow], *, now: datetime) -> int:
    """Store the links ``evaluate`` found (``new_link``) in one transaction, dated ``now``; return how many were
    written.

    A link that the store refuses (the account got linked elsewhere meanwhile) turns its row into a conflict.
    """
    from exactlink.store.db import transaction
    from exactlink.store.links import LinkConflict, set_account_link

    written = 0
    with transaction(db):
        for row in rows:
            if not row.new_link or row.account_id is None:
                continue
            try:
                set_account_link(
                    db,
                    row.relation,
                    row.account_id,
                    row.account_code,
                    method=row.method or "manual",
                    linked_by="manual" if row.linked_by == "manual" else "auto",
                    now=now,
                )
            except LinkConflict as exc:
                row.status, row.new_link, row.linked_by = "conflict", False, None
                row.reason = exc.message
                continue
            written += 1
    return written


def run_match(ws: Workspace, *, dry_run: bool = False, progress: Progress | None = None) -> MatchReport:
    """``match``: refresh the office mirror, match every relation, link what is certain (not in a dry run).

    A dry run reads Exact Online just the same (so the report is current) but does all of it in an in-memory
    copy of the database (:func:`~exactlink.store.db.scratch_copy`) that is thrown away: it links nothing,
    keeps nothing of the refresh (not even the links an account deleted in Exact would lose), records no run,
    and takes no lock.

    Raises:
        NotConfigured: no office administration chosen (``exactlink tenant select``).
        LoginRequired: not logged in.
        LockHeld: another run holds the relations lock (not in a dry run).
    """
    from contextlib import nullcontext

    from exactlink.services.office_mirror import refresh_office_mirror
    from exactlink.services.tenant import require_office_for
    from exactlink.store.db import scratch_copy

    db = ws.db
    office = require_office_for(ws)
    with ws.run(COMMAND, lock=LOCK_NAME, dry_run=dry_run) as run:
        with scratch_copy(db) if dry_run else nullcontext(db) as work:
            with ws.client() as client:
                mirror = refresh_office_mirror(client, work, office.division, progress=progress, now=ws.clock.now())
            rows = evaluate(work, office.division, numbers_must_match=ws.settings.sync.numbers_must_match)
            if not dry_run:
                write_new_links(work, rows, now=ws.clock.now())
        report = MatchReport(rows, dry_run, office.division, mirror)
        run.finish(0, {**report.counts(), "api_calls": mirror.calls})
    return report


# --------------------------------------------------------------------------------------------------
# review


@dataclass
class Side:
    """One side of a suggested pair, ready to show (identifiers masked unless asked otherwise)."""

    title: str
    name: str
    address: str
    identifiers: dict[str, str]


@dataclass
class ReviewItem:
    """A suggestion to decide on: the relation, the account, and why they were paired."""

    row: MatchRow
    relation: Side
    account: Side


def _address_text(street: str | None, postcode: str | None, city: str | None) -> str:
    parts = [part for part in (street, " ".join(p for p in (postcode, city) if p)) if part]
    return ", ".join(parts) or "(no address)"


def _identifiers(pairs: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    return {label: value for label, value in pairs if value}


def _relation_side(record: RelationRecord, show_bsn: bool) -> Side:
    from exactlink.domain.privacy import mask_personal

    address = next(
        (record.addresses[kind] for kind in ("visit", "postal", "invoice") if kind in record.addresses), None
    )
    address_text = _address_text(address.street, address.postcode, address.city) if address else "(no address)"
    return Side(
        title=f"relation {record.relation_number}",
        name=mask_personal(record.name, show_bsn=show_bsn) or "",
        address=mask_personal(address_text, show_bsn=show_bsn) or "",
        identifiers=_identifiers(
            (
                ("KvK", record.kvk),
                ("RSIN", record.rsin),
                ("BSN", mask_personal(record.bsn, "bsn", show_bsn=show_bsn)),
                ("OB/btw", mask_personal(record.vat_number, "fiscal", show_bsn=show_bsn)),
                ("loonheffingen", mask_personal(record.payroll_tax_number, "fiscal", show_bsn=show_bsn)),
                ("IBAN", ", ".join(record.ibans) or None),
            )
        ),
    )


def _account_side(account_id: str, accounts: OfficeAccounts, show_bsn: bool) -> Side:
    from exactlink.domain.entities import OfficeAccount
    from exactlink.domain.privacy import mask_personal

    account = accounts.accounts.get(account_id) or OfficeAccount(id=account_id)
    return Side(
        title=f"account {account.code or account_id}",
        name=mask_personal(account.name, show_bsn=show_bsn) or "",
        address=mask_personal(_address_text(*accounts.address_of(account_id)), show_bsn=show_bsn) or "",
        identifiers=_identifiers(
            (
                ("KvK", account.chamber_of_commerce),
                ("RSIN", account.rsin),
                ("BSN", mask_personal(account.bsn, "bsn", show_bsn=show_bsn)),
                ("OB/btw", mask_personal(account.vat_number, "fiscal", show_bsn=show_bsn)),
                ("IBAN", ", ".join(accounts.ibans.get(account_id, [])) or None),
            )
        ),
    )


def review_items(
    db: sqlite_utils.Database, division: int, *, numbers_must_match: bool, show_bsn: bool = False
) -> list[ReviewItem]:
    """The suggestions to review, most confident first (from the local mirror; nothing is fetched), masked by the
    masking home unless ``show_bsn``."""
    from exactlink.domain.privacy import mask_view
    from exactlink.store.relations import get_relation_record

    rows = [
        row
        for row in evaluate(db, division, numbers_must_match=numbers_must_match)
        if row.status == "suggested" and row.account_id
    ]
    rows.sort(key=lambda row: (row.confidence != "high", -(row.score or 0), row.relation))
    accounts = load_office_accounts(db, division)
    items = []
    for row in rows:
        record = get_relation_record(db, row.relation)
        if record is None or row.account_id is None:
            continue
        # Masking leaves what a decision rests on (relation, account id and code) as it is.
        shown = mask_view(row, show_bsn=show_bsn)
        items.append(
            ReviewItem(shown, _relation_side(record, show_bsn), _account_side(row.account_id, accounts, show_bsn))
        )
    return items


Answer = Literal["accept", "reject", "skip", "quit"]


@dataclass
class ReviewReport:
    """What a review session decided."""

    accepted: list[MatchRow] = field(default_factory=list)
    rejected: list[MatchRow] = field(default_factory=list)
    skipped: list[MatchRow] = field(default_factory=list)
    failed: list[tuple[MatchRow, str]] = field(default_factory=list)
    remaining: int = 0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """3 when an accepted pair could not be linked, else 0."""
        return 3 if self.failed else 0

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "accepted": [{"relation": r.relation, "account_code": r.account_code} for r in self.accepted],
            "rejected": [{"relation": r.relation, "account_code": r.account_code} for r in self.rejected],
            "skipped": [{"relation": r.relation, "account_code": r.account_code} for r in self.skipped],
            "failed": [{"relation": r.relation, "account_code": r.account_code, "error": e} for r, e in self.failed],
            "remaining": self.remaining,
            "dry_run": self.dry_run,
        }


def decide(db: sqlite_utils.Database, row: MatchRow, answer: Answer, *, now: datetime) -> str | None:
    """Apply one review answer (dated ``now``); returns an error text when an accepted pair cannot be linked.

    Accept links the pair (``linked_by = suggestion``; the store records the accepted decision); reject
    records the pair as rejected so it is never suggested again; skip and quit change nothing.
    """
    from exactlink.store.links import LinkConflict, record_decision, set_account_link

    if row.account_id is None:
        return "the suggestion has no account"
    if answer == "accept":
        try:
            set_account_link(
                db,
                row.relation,
                row.account_id,
                row.account_code,
                method=row.method or "name",
                linked_by="suggestion",
                now=now,
            )
        except LinkConflict as exc:
            return exc.message
    elif answer == "reject":
        record_decision(db, row.relation, row.account_id, "rejected", now=now)
    return None


def review(
    ws: Workspace,
    ask: Callable[[ReviewItem, int, int], Answer],
    *,
    accept_all_above: int | None = None,
    show_bsn: bool = False,
    dry_run: bool = False,
) -> ReviewReport:
    """``match review``: walk the suggestions; ``ask(item, position, total)`` returns the answer for each.

    With ``accept_all_above``, nobody is asked: every suggestion the engine rates high-confidence (same
    postcode and house number, no close runner-up, no holding/werkmaatschappij difference) with a score of
    at least that value is accepted and the rest is left for a person. A pair whose account got linked
    earlier in the same session is passed over. ``dry_run`` asks (or decides) the same and writes nothing.
    """
    from exactlink.services.tenant import require_office_for
    from exactlink.store.links import account_link_of_account

    db = ws.db
    office = require_office_for(ws)
    with ws.run("match review", lock=LOCK_NAME, dry_run=dry_run, record=False):
        items = review_items(
            db, office.division, numbers_must_match=ws.settings.sync.numbers_must_match, show_bsn=show_bsn
        )
        report = ReviewReport(dry_run=dry_run)
        accepted_accounts: set[str] = set()  # a dry run writes no link, so it remembers the accepted accounts
        for position, item in enumerate(items, start=1):
            row = item.row
            if row.account_id and (account_link_of_account(db, row.account_id) or row.account_id in accepted_accounts):
                continue
            if accept_all_above is not None:
                eligible = row.confidence == "high" and (row.score or 0) >= accept_all_above
                answer: Answer = "accept" if eligible else "skip"
            else:
                answer = ask(item, position, len(items))
            if answer == "quit":
                report.remaining = len(items) - position + 1
                break
            error = None if dry_run else decide(db, row, answer, now=ws.clock.now())
            if error:
                report.failed.append((row, error))
            elif answer == "accept":
                report.accepted.append(row)
                if dry_run and row.account_id:
                    accepted_accounts.add(row.account_id)
            elif answer == "reject":
                report.rejected.append(row)
            else:
                report.skipped.append(row)
        return report
