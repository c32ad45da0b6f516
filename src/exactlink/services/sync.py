"""The ``sync`` use case: keep the synchronised relation data equal on both sides, in the configured direction.

Every run starts by bringing the local copy of the office administration up to date
(:func:`~exactlink.services.office_mirror.refresh_office_mirror`: the sync endpoints with Timestamp cursors,
``crm/BankAccounts`` by ``Modified``, ``sync/Deleted``), so a run with nothing changed costs one call per
entity and one ``system/Divisions`` read that checks the administration was not moved. Then, for every linked
relation, the field-level differences are computed locally (:mod:`exactlink.domain.sync_fields`) and only
those are written:

* **inbound** (Exact Online leads): the CRM relation takes the account's values. An address deleted in Exact
  clears it in the CRM. No call to Exact is made besides the refresh.
* a relation whose account is gone from Exact keeps its link and is skipped with "account gone in Exact
  Online" every run, in both directions, until someone relinks or unlinks it (``exactlink match link`` /
  ``unlink``): a vanished account may be merged, recreated or deleted by mistake, and only the office knows.
* **outbound** (the CRM leads): ``PUT crm/Accounts(guid'…')`` with only the changed properties, ``PUT`` or
  ``POST crm/Addresses`` per type, ``PUT crm/Contacts`` for linked persons, ``POST crm/BankAccounts`` for
  missing IBANs. Nothing is deleted in Exact unless ``delete_in_exact`` is given. After each call the local
  copy is updated with what was written. An account code ("numbers must match") is never written: Exact's
  API answers a PUT of ``Code`` with 500 "Gegeven bestaat reeds" or skips it, so the difference is reported
  with how to recode the account in Exact Online's web interface, and nothing local changes.

Crash safety: nothing about a run is remembered except the data itself. The next run refreshes the copy of
Exact (which then includes whatever the interrupted run wrote) and recomputes the differences, so it finishes
the work without writing anything twice. A POST whose outcome is unknown (a time-out, a 5xx) is followed by a
look-up in Exact before it is tried once more. Inbound changes to one relation are written in one
transaction. ``dry_run`` runs everything on an in-memory copy of the database that is thrown away
(:func:`~exactlink.store.db.scratch_copy`) and writes nothing to Exact.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from exactlink.domain.entities import (
    AccountAddress,
    AccountBankAccount,
    AccountContact,
    MirroredRecord,
    OfficeAccount,
    exact_fields,
    from_exact,
    updated,
)
from exactlink.domain.records import AccountLink, RelationChildren, StoredRelation
from exactlink.domain.sync_fields import (
    ACCOUNT_FIELDS,
    ADDRESS_TYPE_CODES,
    ADDRESS_TYPE_NAMES,
    RELATION_NUMBER,
    AddressValue,
    Change,
    CrmContact,
    CrmSide,
    ExactAddress,
    ExactBankAccount,
    ExactContact,
    ExactSide,
    InboundPlan,
    OutboundPlan,
    synced_values,
)
from exactlink.errors import ExactlinkError, UsageError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.services.office_mirror import MirrorStats
    from exactlink.settings import Settings
    from exactlink.store.accounts import AccountChildren
    from exactlink.workspace import Workspace

log = logging.getLogger(__name__)

Direction = Literal["inbound", "outbound"]
ADDRESS_PARTS = ("street", "postcode", "city", "country")
LOCK_NAME = "relations"  # shared with match: both change relations, links and the copy of Exact
RUN_COMMAND = "sync"
ACCOUNT_GONE = (
    "account gone in Exact Online: the link is kept; link the relation to another account "
    "(exactlink match link) or unlink it (exactlink match unlink)"
)
DIRECT_ADVICE = (
    "direct synchronisation is on while {count} relation(s) are not linked yet; the advice is to switch it on "
    "only after all existing relations are linked (exactlink match)"
)

ProgressHook = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: stage ``refresh:<entity>`` (rows so far) or ``relations``."""


@dataclass
class RelationResult:
    """What the run did (or, in a dry run, would do) for one linked relation.

    ``status``: ``changed``, ``unchanged``, ``failed`` (``error`` says why) or ``skipped``.
    """

    relation: str
    name: str = ""
    account_id: str | None = None
    account_code: str | None = None
    administration: int | None = None
    status: str = "unchanged"
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    calls: int = 0

    @property
    def applied(self) -> list[Change]:
        """The changes that are (or would be) written."""
        return [change for change in self.changes if change.applied]

    def as_json(self, *, show_bsn: bool = False) -> dict[str, Any]:
        """JSON form, masked by the masking home unless ``show_bsn``."""
        from exactlink.domain.privacy import mask_personal

        return {
            "relation": self.relation,
            "name": mask_personal(self.name, show_bsn=show_bsn),
            "account_code": self.account_code,
            "administration": self.administration,
            "status": self.status,
            "changes": [masked_change(change, show_bsn=show_bsn) for change in self.changes],
            "error": mask_personal(self.error, show_bsn=show_bsn),
            "calls": self.calls,
        }


@dataclass
class SyncReport:
    """The outcome of one sync run."""

    direction: Direction
    dry_run: bool
    division: int
    numbers_must_match: bool = False
    delete_in_exact: bool = False
    mirror: MirrorStats | None = None
    results: list[RelationResult] = field(default_factory=list)
    account_gone: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Relations per status, field changes written, write calls to Exact, refresh calls."""
        statuses = [result.status for result in self.results]
        return {
            "relations": len(self.results),
            "changed": statuses.count("changed"),
            "unchanged": statuses.count("unchanged"),
            "failed": statuses.count("failed"),
            "skipped": statuses.count("skipped"),
            "fields": sum(len(result.applied) for result in self.results),
            "account_gone": len(self.account_gone),
            "write_calls": sum(result.calls for result in self.results),
            "refresh_calls": self.mirror.calls if self.mirror else 0,
        }

    @property
    def exit_code(self) -> int:
        """0, or 3 (partial failure) when some relation could not be synchronised."""
        return 3 if any(result.status == "failed" for result in self.results) else 0

    def changes(self) -> list[Change]:
        """Every difference found, relation by relation."""
        return [change for result in self.results for change in result.changes]

    def summary(self) -> dict[str, Any]:
        """The run-history summary (counts only)."""
        return {"direction": self.direction, "dry_run": self.dry_run, **self.counts()}

    def as_json(self, *, show_bsn: bool = False) -> dict[str, Any]:
        """The report as one JSON document; relations without any difference are only counted."""
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "office_administration": self.division,
            "numbers_must_match": self.numbers_must_match,
            "delete_in_exact": self.delete_in_exact,
            "counts": self.counts(),
            "relations": [
                result.as_json(show_bsn=show_bsn)
                for result in self.results
                if result.changes or result.status != "unchanged"
            ],
            "account_gone": list(self.account_gone),
            "removed": self.mirror.removed_lines() if self.mirror else [],
            "warnings": list(self.warnings),
            "mirror": self.mirror.to_json() if self.mirror else None,
        }


def masked_change(change: Change, *, show_bsn: bool = False) -> dict[str, Any]:
    """A change as JSON, masked by the masking home unless ``show_bsn``: the values as the changed field's kind
    says (a BSN, an OB number, free text), the field (it may name a contact person) and the note as free text."""
    from exactlink.domain.privacy import kind_of_field, mask_personal

    data = change.as_json()
    if show_bsn:
        return data
    kind = kind_of_field(change.field)
    if kind is not None:
        data["crm_value"] = mask_personal(change.crm_value, kind)
        data["exact_value"] = mask_personal(change.exact_value, kind)
    data["field"] = mask_personal(change.field)
    data["note"] = mask_personal(change.note)
    return data


# ---------------------------------------------------------------------------------------------------
# Reading both sides from the mirror


@dataclass
class _Snapshot:
    """The linked relations and both sides' data, read in a handful of queries."""

    links: list[AccountLink]
    relations: dict[str, StoredRelation]
    children: dict[str, RelationChildren]
    accounts: dict[str, OfficeAccount]
    account_children: dict[str, AccountChildren]
    administrations: dict[str, int]

    @classmethod
    def load(cls, db: sqlite_utils.Database, division: int) -> _Snapshot:
        from exactlink.store.accounts import children_by_account, list_accounts
        from exactlink.store.links import list_account_links, list_administration_links
        from exactlink.store.relation_updates import relation_children
        from exactlink.store.relations import relation_overviews

        return cls(
            links=list_account_links(db),
            relations={row.relation.relation_number: row.relation for row in relation_overviews(db)},
            children=relation_children(db),
            accounts={account.id: account for account in list_accounts(db, division)},
            account_children=children_by_account(db, division),
            administrations={row.relation_number: row.division for row in list_administration_links(db)},
        )

    def crm_side(self, number: str) -> CrmSide:
        relation = self.relations[number]
        children = self.children.get(number) or RelationChildren()
        return CrmSide(
            relation_number=number,
            fields={spec.key: getattr(relation, spec.key) for spec in ACCOUNT_FIELDS},
            addresses={
                row.type: AddressValue(row.street, row.postcode, row.city, row.country) for row in children.addresses
            },
            address_ids={row.type: row.exact_address_id for row in children.addresses},
            contacts=[
                CrmContact(
                    row.full_name,
                    row.first_name,
                    row.middle_name,
                    row.last_name,
                    row.email,
                    row.phone,
                    row.exact_contact_id,
                )
                for row in children.contacts
            ],
            ibans={row.iban: row.exact_bank_account_id for row in children.bank_accounts},
        )

    def exact_side(self, account_id: str) -> ExactSide | None:
        from exactlink.store.accounts import AccountChildren

        account = self.accounts.get(account_id.lower())
        if account is None:
            return None
        children = self.account_children.get(account.id) or AccountChildren()
        return ExactSide(
            account_id=account.id,
            code=account.code,
            fields=synced_values(account),
            visit=AddressValue(account.address_line, account.postcode, account.city, account.country),
            timestamp=account.timestamp,
            addresses=[
                ExactAddress(
                    row.id,
                    row.type,
                    row.main,
                    AddressValue(row.address_line, row.postcode, row.city, row.country),
                    row.timestamp,
                )
                for row in children.addresses
                if row.type is not None and row.type in ADDRESS_TYPE_NAMES
            ],
            contacts=[
                ExactContact(
                    row.id, row.full_name, row.first_name, row.middle_name, row.last_name, row.email, row.phone
                )
                for row in children.contacts
            ],
            bank_accounts=[
                ExactBankAccount(bank.id, bank.bank_account, bank.main)
                for bank in children.bank_accounts
                if bank.bank_account
            ],
        )


# ---------------------------------------------------------------------------------------------------
# The engine


@dataclass
class SyncOptions:
    """How one run behaves (resolved from flags and settings)."""

    direction: Direction
    dry_run: bool = False
    numbers_must_match: bool = False
    delete_in_exact: bool = False
    only: Sequence[str] | None = None


def sync_office(
    client: ExactClient,
    db: sqlite_utils.Database,
    division: int,
    options: SyncOptions,
    *,
    progress: ProgressHook | None = None,
    now: datetime,
) -> SyncReport:
    """Refresh the copy of Exact, then synchronise every linked relation (or ``options.only``).

    ``now`` (the workspace clock) lets the refresh judge whether its cursors can still be trusted
    (:func:`~exactlink.services.office_mirror.refresh_office_mirror`) and dates what the run writes.

    The caller holds the run lock (unless it is a dry run) and, for a dry run, passes a scratch copy of the
    database (:func:`~exactlink.store.db.scratch_copy`). A failure on one relation is recorded and the others
    carry on; a failure that concerns the whole administration (error budget, daily limit, access) stops the
    run and marks the relations not reached as failed.
    """
    from exactlink.services.office_mirror import refresh_office_mirror

    report = SyncReport(
        options.direction, options.dry_run, division, options.numbers_must_match, options.delete_in_exact
    )

    def refreshed(entity: str, rows: int) -> None:
        if progress is not None:
            progress(f"refresh:{entity}", rows, None)

    report.mirror = refresh_office_mirror(client, db, division, progress=refreshed, now=now)
    snapshot = _Snapshot.load(db, division)
    links = [link for link in snapshot.links if options.only is None or link.relation_number in options.only]
    report.account_gone = sorted(
        link.relation_number for link in links if link.account_id.lower() not in snapshot.accounts
    )
    report.results.extend(_not_linked(snapshot, options.only))
    stop: str | None = None
    for done, link in enumerate(links):
        result = _result_for(snapshot, link)
        report.results.append(result)
        if stop is not None:
            result.status, result.error = "failed", f"not attempted: {stop}"
            continue
        try:
            sides = _sides(snapshot, link, result)  # None: skipped, the account is not in the copy of Exact
            if sides is not None and options.direction == "inbound":
                _sync_inbound(db, snapshot, link, *sides, options, result, now)
            elif sides is not None:
                _sync_outbound(client, db, division, snapshot, link, *sides, options, result, now)
        except ExactlinkError as exc:
            result.status, result.error = "failed", exc.message
            log.warning("sync of relation %s failed: %s", link.relation_number, exc.message)
            if _stops_the_run(exc):
                stop = exc.message
        if progress is not None:
            progress("relations", done + 1, len(links))
    return report


def _not_linked(snapshot: _Snapshot, only: Sequence[str] | None) -> list[RelationResult]:
    """Results for relations asked for by number that cannot be synchronised (unknown or not linked)."""
    if only is None:
        return []
    linked = {link.relation_number for link in snapshot.links}
    results = []
    for number in only:
        if number in linked:
            continue
        if number not in snapshot.relations:
            reason = "not in the local CRM mirror"
        else:
            reason = "not linked to an account of the office administration (exactlink match)"
        relation = snapshot.relations.get(number)
        name = relation.name if relation is not None else ""
        results.append(RelationResult(number, name=name, status="skipped", error=reason))
    return results


def _result_for(snapshot: _Snapshot, link: AccountLink) -> RelationResult:
    number = link.relation_number
    relation = snapshot.relations.get(number)
    return RelationResult(
        number,
        name=relation.name if relation is not None else "",
        account_id=link.account_id,
        account_code=link.account_code,
        administration=snapshot.administrations.get(number),
    )


def _stops_the_run(exc: ExactlinkError) -> bool:
    from exactlink.api.errors import ErrorBudgetExhausted, ForbiddenError, RateLimitExhausted

    return isinstance(exc, ErrorBudgetExhausted | RateLimitExhausted | ForbiddenError) or exc.exit_code == 4


def _sides(snapshot: _Snapshot, link: AccountLink, result: RelationResult) -> tuple[CrmSide, ExactSide] | None:
    """Both sides of one link, or None (``result`` marked skipped) when the account is not in the copy of Exact."""
    exact = snapshot.exact_side(link.account_id)
    if exact is None:
        result.status = "skipped"
        result.error = ACCOUNT_GONE
        return None
    return snapshot.crm_side(link.relation_number), exact


# -- inbound -------------------------------------------------------------------------------------------


def _sync_inbound(
    db: sqlite_utils.Database,
    snapshot: _Snapshot,
    link: AccountLink,
    crm: CrmSide,
    exact: ExactSide,
    options: SyncOptions,
    result: RelationResult,
    now: datetime,
) -> None:
    from exactlink.domain.sync_fields import plan_inbound

    plan = plan_inbound(crm, exact, numbers_must_match=options.numbers_must_match)
    if plan.new_number and plan.new_number in snapshot.relations:
        _refuse(plan.changes, RELATION_NUMBER, f"not renumbered: relation {plan.new_number} already exists")
        plan.new_number = None
    result.changes = plan.changes
    if plan.new_number:
        result.relation = plan.new_number
    result.status = "changed" if result.applied else "unchanged"
    code_stale = (link.account_code or "") != (exact.code or "")
    if plan.writes_anything or code_stale:
        _apply_inbound(db, link, plan, exact, now)


def _refuse(changes: list[Change], field_name: str, note: str) -> None:
    for index, change in enumerate(changes):
        if change.field == field_name:
            changes[index] = replace(change, applied=False, note=note)


def _apply_inbound(
    db: sqlite_utils.Database, link: AccountLink, plan: InboundPlan, exact: ExactSide, now: datetime
) -> None:
    """Write one relation's inbound plan into the CRM mirror, all in one transaction."""
    from exactlink.store.db import transaction
    from exactlink.store.links import set_account_link
    from exactlink.store.relation_updates import drop_issues, renumber_relation, replace_bank_accounts, update_contact
    from exactlink.store.relations import (
        Address,
        delete_address,
        set_address,
        set_exact_address_id,
        update_relation_fields,
    )

    number = link.relation_number
    with transaction(db):
        if plan.new_number:
            renumber_relation(db, number, plan.new_number, now=now)
            number = plan.new_number
        if plan.fields:
            update_relation_fields(db, number, plan.fields, now=now)
        for kind, address in plan.addresses.items():
            if address is None:
                delete_address(db, number, kind)
            else:
                values = Address(kind, address.street, address.postcode, address.city, address.country)
                set_address(db, number, values, now=now, exact_address_id=plan.address_ids.get(kind))
        for kind, exact_id in plan.address_ids.items():
            if kind not in plan.addresses:
                set_exact_address_id(db, number, kind, exact_id)
        for update in plan.contacts:
            update_contact(db, number, update.full_name, update.values, now=now, exact_contact_id=update.exact_id)
        if plan.ibans is not None:
            replace_bank_accounts(db, number, plan.ibans, now=now)
        replaced = [*plan.fields, *(f"{kind}_{part}" for kind in plan.addresses for part in ADDRESS_PARTS)]
        if replaced or plan.ibans is not None:
            # Values now taken from Exact: their import flags (a 7-digit KvK number …) no longer apply.
            drop_issues(db, number, [*replaced, *(["ibans"] if plan.ibans is not None else [])])
        if (link.account_code or "") != (exact.code or ""):
            set_account_link(
                db,
                number,
                link.account_id,
                exact.code,
                method=link.method or "manual",
                linked_by=link.linked_by,
                now=now,
            )


# -- outbound ------------------------------------------------------------------------------------------


def _sync_outbound(
    client: ExactClient,
    db: sqlite_utils.Database,
    division: int,
    snapshot: _Snapshot,
    link: AccountLink,
    crm: CrmSide,
    exact: ExactSide,
    options: SyncOptions,
    result: RelationResult,
    now: datetime,
) -> None:
    from exactlink.domain.sync_fields import plan_outbound

    plan = plan_outbound(
        crm, exact, numbers_must_match=options.numbers_must_match, delete_in_exact=options.delete_in_exact
    )
    if "Code" in plan.account:
        code = plan.account.pop("Code").strip()
        taken = _code_owner(snapshot, code, exact.account_id)
        if taken is not None:
            _refuse(plan.changes, RELATION_NUMBER, f"not pushed: account code {code} belongs to {taken}")
        else:
            _refuse(plan.changes, RELATION_NUMBER, recode_advice(exact.code, code))
    result.changes = plan.changes
    result.status = "changed" if result.applied else "unchanged"
    if options.dry_run:
        result.calls = plan.calls
        return
    _push(client, db, division, plan, result, now)


def recode_advice(current: str | None, wanted: str) -> str:
    """Why an account code is reported, not written, and how the office changes it in Exact Online.

    Exact's API does not reliably take a new ``crm/Accounts.Code``: PUTs carrying it were answered
    ``500 "Gegeven bestaat reeds"`` (even with the same value) or skipped (exact-evidence §2).
    """
    return (
        f"not written: Exact Online's API does not reliably change an account code; recode account "
        f"{(current or '').strip() or '(no code)'} to {wanted} in Exact Online's web interface, and the next "
        "sync sees it"
    )


def _code_owner(snapshot: _Snapshot, code: str, account_id: str) -> str | None:
    for account in snapshot.accounts.values():
        if account.code == code and account.id != account_id:
            return f"account {account.name or account.id}"
    return None


def _patch_mirror(
    db: sqlite_utils.Database, kind: type[MirroredRecord], record_id: str, body: Mapping[str, Any], now: datetime
) -> None:
    """After a successful PUT of ``body``: the mirrored record (when there is one) holds what Exact now holds."""
    from exactlink.store.accounts import get_record, save_records

    record = get_record(db, kind, record_id)
    if record is not None:
        save_records(db, [updated(record, body)], now=now)


def _push(
    client: ExactClient,
    db: sqlite_utils.Database,
    division: int,
    plan: OutboundPlan,
    result: RelationResult,
    now: datetime,
) -> None:
    """Execute one relation's outbound plan; after every call the local copy is updated at once."""
    from exactlink.api.odata import key_path
    from exactlink.store.db import transaction
    from exactlink.store.relations import (
        clear_pending_push,
        set_exact_address_id,
        set_exact_bank_account_id,
        set_exact_contact_id,
    )

    number, account_id = plan.relation, plan.account_id
    if plan.address_ids or plan.contact_ids or plan.bank_ids:
        with transaction(db):
            for kind, exact_id in plan.address_ids.items():
                set_exact_address_id(db, number, kind, exact_id)
            for full_name, exact_id in plan.contact_ids.items():
                set_exact_contact_id(db, number, full_name, exact_id)
            for iban, exact_id in plan.bank_ids.items():
                set_exact_bank_account_id(db, number, iban, exact_id)
    if plan.account:
        client.put(division, key_path("crm/Accounts", account_id), plan.account)
        result.calls += 1
        held = _read_back(client, division, "crm/Accounts", account_id, plan.account)
        with transaction(db):
            _patch_mirror(db, OfficeAccount, account_id, held, now)
        _report_ignored(result, plan.account, held)
    _push_addresses(client, db, division, plan, result, now)
    for full_name, exact_id, body in plan.contacts:
        client.put(division, key_path("crm/Contacts", exact_id), body)
        result.calls += 1
        held = _read_back(client, division, "crm/Contacts", exact_id, body)
        with transaction(db):
            _patch_mirror(db, AccountContact, exact_id, held, now)
            set_exact_contact_id(db, number, full_name, exact_id)
        ignored = _ignored(body, held)
        if ignored:
            labels = {"Email": "e-mail", "Phone": "phone"}
            fields = {f"contact {full_name}: {labels.get(name, name)}" for name in ignored}
            _mark_ignored(result, fields, [f"{name} of contact {full_name}" for name in ignored])
    _push_bank_accounts(client, db, division, plan, result, now)
    clear_pending_push(db, [number])


def _read_back(
    client: ExactClient, division: int, resource: str, record_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """What Exact holds for the properties just PUT (one read): Exact skips what it does not take, silently."""
    from exactlink.api.odata import guid_literal

    row = client.get_first(division, resource, select=sorted(body), filter=f"ID eq {guid_literal(record_id)}")
    return {name: (row or {}).get(name) for name in body}


def _ignored(body: Mapping[str, Any], held: Mapping[str, Any]) -> list[str]:
    """The properties of ``body`` whose value the read after the write does not show."""
    from exactlink.domain.sync_fields import same_value

    kinds = {spec.exact: spec.kind for spec in ACCOUNT_FIELDS}

    def same(name: str, value: Any) -> bool:
        if name in kinds:
            return same_value(kinds[name], value, held.get(name))
        return " ".join(str(value or "").split()).casefold() == " ".join(str(held.get(name) or "").split()).casefold()

    return [name for name, value in body.items() if not same(name, value)]


def _mark_ignored(result: RelationResult, fields: set[str], ignored: list[str]) -> None:
    """Mark the changes of ``fields`` as not taken (a read shows the old value) and fail the relation."""
    note = f"Exact ignored the change to {', '.join(ignored)} (a read after the write shows the old value)"
    for index, change in enumerate(result.changes):
        if change.field in fields and change.applied:
            result.changes[index] = replace(change, applied=False, note=note)
    error = f"Exact ignored the change to {', '.join(ignored)}"
    result.status = "failed"
    result.error = error if result.error is None else f"{result.error}; {error}"


def _report_ignored(result: RelationResult, body: Mapping[str, Any], held: Mapping[str, Any]) -> None:
    """The account PUT: mark the changes Exact did not take and fail the relation, naming them."""
    ignored = _ignored(body, held)
    if not ignored:
        return
    fields = {spec.key for spec in ACCOUNT_FIELDS if spec.exact in ignored}
    if set(ignored) - {spec.exact for spec in ACCOUNT_FIELDS}:
        fields.add("visit_address")
    _mark_ignored(result, fields, ignored)


def _push_addresses(
    client: ExactClient,
    db: sqlite_utils.Database,
    division: int,
    plan: OutboundPlan,
    result: RelationResult,
    now: datetime,
) -> None:
    from exactlink.api.odata import key_path
    from exactlink.store.accounts import remove_record, save_records
    from exactlink.store.db import transaction
    from exactlink.store.relations import set_exact_address_id

    number, account_id = plan.relation, plan.account_id
    for write in plan.addresses:
        if write.exact_id is not None:
            client.put(division, key_path("crm/Addresses", write.exact_id), write.body)
            result.calls += 1
            held = _read_back(client, division, "crm/Addresses", write.exact_id, write.body)
            with transaction(db):
                _patch_mirror(db, AccountAddress, write.exact_id, held, now)
                set_exact_address_id(db, number, write.type, write.exact_id)
            ignored = _ignored(write.body, held)
            if ignored:
                _mark_ignored(
                    result, {f"{write.type}_address"}, [f"{name} of the {write.type} address" for name in ignored]
                )
            continue
        type_code = ADDRESS_TYPE_CODES[write.type]
        created, calls = _create_once(
            client,
            division,
            AccountAddress,
            {"Account": account_id, **write.body},
            lookup=f"Account eq guid'{account_id}' and Type eq {type_code}",
            is_same=_same_address(write.address),
        )
        result.calls += calls
        with transaction(db):
            save_records(db, [from_exact(AccountAddress, created, division=division)], now=now)
            set_exact_address_id(db, number, write.type, str(created["ID"]).lower())
    for _kind, exact_id in plan.address_deletes:
        client.delete(division, key_path("crm/Addresses", exact_id))
        result.calls += 1
        remove_record(db, AccountAddress, exact_id)


def _push_bank_accounts(
    client: ExactClient,
    db: sqlite_utils.Database,
    division: int,
    plan: OutboundPlan,
    result: RelationResult,
    now: datetime,
) -> None:
    from exactlink.api.odata import key_path
    from exactlink.store.accounts import remove_record, save_records
    from exactlink.store.db import transaction
    from exactlink.store.relations import set_exact_bank_account_id

    number, account_id = plan.relation, plan.account_id
    for iban in plan.bank_posts:
        created, calls = _create_once(
            client,
            division,
            AccountBankAccount,
            {"Account": account_id, "BankAccount": iban},
            lookup=f"Account eq guid'{account_id}'",
            is_same=_same_iban(iban),
        )
        result.calls += calls
        with transaction(db):
            save_records(db, [from_exact(AccountBankAccount, created, division=division)], now=now)
            set_exact_bank_account_id(db, number, iban, str(created["ID"]).lower())
    for _iban, exact_id in plan.bank_deletes:
        client.delete(division, key_path("crm/BankAccounts", exact_id))
        result.calls += 1
        remove_record(db, AccountBankAccount, exact_id)


def _same_address(address: AddressValue) -> Callable[[Mapping[str, Any]], bool]:
    def test(row: Mapping[str, Any]) -> bool:
        found = AddressValue(row.get("AddressLine1"), row.get("Postcode"), row.get("City"), row.get("Country"))
        return found.key() == address.key()

    return test


def _same_iban(iban: str) -> Callable[[Mapping[str, Any]], bool]:
    def test(row: Mapping[str, Any]) -> bool:
        return _compact_iban(row.get("BankAccount")) == iban

    return test


def _compact_iban(value: Any) -> str:
    from exactlink.domain.identifiers import compact_iban

    return compact_iban(str(value or ""))


def _create_once(
    client: ExactClient,
    division: int,
    kind: type[MirroredRecord],
    body: Mapping[str, Any],
    *,
    lookup: str,
    is_same: Callable[[Mapping[str, Any]], bool],
) -> tuple[dict[str, Any], int]:
    """POST ``body`` so that it exists exactly once; returns the entity and the calls it took.

    When the POST fails in a way that leaves its outcome unknown (no answer in time, a 5xx), Exact is asked
    whether the entity exists now (``lookup`` filter, ``is_same`` test) before it is tried once more.
    """
    from exactlink.api.errors import TransientApiError

    path = kind.ENTITY.resource
    try:
        return client.post(division, path, body), 1
    except TransientApiError as exc:
        log.info("creating %s did not answer clearly (%s); looking it up before trying again", path, exc.message)
    calls = 1
    for page in client.get_pages(division, path, select=list(exact_fields(kind)), filter=lookup):
        calls += 1
        for row in page:
            if is_same(row):
                return row, calls
    return client.post(division, path, body), calls + 1


# ---------------------------------------------------------------------------------------------------
# Runs: lock, history, dry-run guard


def resolve_options(
    settings: Settings,
    *,
    direction: str | None = None,
    dry_run: bool = False,
    relations: Sequence[str] | None = None,
    delete_in_exact: bool = False,
) -> SyncOptions:
    """Flags over settings: the direction and "numbers must match" come from ``[sync]`` unless given."""
    chosen = settings.sync.direction if direction is None else direction
    if chosen not in ("inbound", "outbound"):
        raise UsageError(f"--direction must be inbound or outbound, not {chosen!r}")
    if delete_in_exact and chosen != "outbound":
        raise UsageError("--delete-in-exact only applies to outbound synchronisation")
    return SyncOptions(
        direction=chosen,  # type: ignore[arg-type]
        dry_run=dry_run,
        numbers_must_match=settings.sync.numbers_must_match,
        delete_in_exact=delete_in_exact,
        only=list(dict.fromkeys(relations)) if relations else None,
    )


def run_sync(
    ws: Workspace,
    *,
    direction: str | None = None,
    dry_run: bool = False,
    relations: Sequence[str] | None = None,
    delete_in_exact: bool = False,
    progress: ProgressHook | None = None,
) -> SyncReport:
    """``exactlink sync``: one run under the run lock, recorded in the run history.

    Raises ``LockHeld`` (another sync runs), ``NotConfigured`` (no office administration), ``LoginRequired``.
    A dry run takes no lock, records no run and writes nothing: it reads Exact (so the diff is current) into
    an in-memory copy of the database that is thrown away, so it never holds the database's write lock either.
    """
    from exactlink.services.tenant import require_office_for
    from exactlink.store.db import scratch_copy

    settings = ws.settings
    options = resolve_options(
        settings, direction=direction, dry_run=dry_run, relations=relations, delete_in_exact=delete_in_exact
    )
    with ws.run(RUN_COMMAND, lock=LOCK_NAME, dry_run=dry_run, begin=False) as run:
        db = ws.db
        office = require_office_for(ws)
        with ws.client() as client:
            with scratch_copy(db) if dry_run else nullcontext(db) as work:
                run.begin({"direction": options.direction})
                report = sync_office(client, work, office.division, options, progress=progress, now=ws.clock.now())
            run.finish(report.exit_code, report.summary())
        report.warnings.extend(direct_sync_warnings(db, settings))
    return report


def direct_sync_warnings(db: sqlite_utils.Database, settings: Settings) -> list[str]:
    """The advice: direct synchronisation only once every existing relation is linked."""
    from exactlink.store.relations import relation_overviews

    if not settings.sync.direct:
        return []
    unlinked = len(relation_overviews(db, unlinked=True))
    return [DIRECT_ADVICE.format(count=unlinked)] if unlinked else []


# ---------------------------------------------------------------------------------------------------
# Watch (inbound) and direct synchronisation (outbound)


@dataclass
class WatchSummary:
    """What ``sync --watch`` did over all its polls."""

    polls: int = 0
    fields: int = 0
    changed_relations: int = 0
    failed: int = 0
    skipped_polls: int = 0
    failed_polls: int = 0
    account_gone: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 (also after Ctrl-C), or 3 when a poll failed or left relations unsynchronised."""
        return 3 if self.failed or self.failed_polls else 0

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "polls": self.polls,
            "skipped_polls": self.skipped_polls,
            "failed_polls": self.failed_polls,
            "fields": self.fields,
            "changed_relations": self.changed_relations,
            "failed": self.failed,
            "account_gone": list(self.account_gone),
            "interrupted": self.interrupted,
        }


def watch(
    ws: Workspace,
    *,
    direction: str | None = None,
    interval_minutes: float | None = None,
    max_polls: int | None = None,
    relations: Sequence[str] | None = None,
    on_poll: Callable[[SyncReport], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> WatchSummary:
    """``sync --watch``: an inbound sync every ``interval_minutes`` (``sync.watch_interval_minutes``).

    Each poll takes the run lock for its own duration (a poll that finds it held is skipped), so other
    commands can run in between. Ctrl-C ends the watch with the summary so far; ``max_polls`` ends it
    after that many polls. ``on_start`` is called once the options are found valid, before the first poll.
    The wait between polls is ``sleep`` (default: the workspace's).
    """
    from exactlink.errors import ConfigError, LockHeld, LoginRequired, NotConfigured

    settings = ws.settings
    if (settings.sync.direction if direction is None else direction) != "inbound":
        raise UsageError(
            "sync --watch polls Exact Online for changes, which only makes sense inbound; the direction is outbound",
            hint="use direct synchronisation (sync.direct) to push CRM changes as they are made",
        )
    minutes = interval_minutes if interval_minutes is not None else settings.sync.watch_interval_minutes
    if not 0 < minutes < math.inf:  # also refuses nan
        raise UsageError(f"--interval must be a number of minutes more than 0, not {minutes:g}")
    if on_start is not None:
        on_start()
    wait = sleep or ws.sleep
    summary = WatchSummary()
    try:
        while max_polls is None or summary.polls + summary.skipped_polls < max_polls:
            try:
                report = run_sync(ws, direction="inbound", relations=relations)
            except LockHeld:
                summary.skipped_polls += 1
                log.info("sync --watch: another run holds the lock; skipping this poll")
            except (ConfigError, LoginRequired, NotConfigured):
                raise
            except ExactlinkError as exc:
                # Exact unreachable, an error budget used up …: this poll failed, the next one may not.
                summary.skipped_polls += 1
                summary.failed_polls += 1
                ws.output.warn(f"sync --watch: this poll failed: {exc.message}")
            else:
                summary.polls += 1
                counts = report.counts()
                summary.fields += counts["fields"]
                summary.changed_relations += counts["changed"]
                summary.failed += counts["failed"]
                summary.account_gone = list(report.account_gone)
                if on_poll is not None:
                    on_poll(report)
            if max_polls is not None and summary.polls + summary.skipped_polls >= max_polls:
                break
            wait(minutes * 60)
    except KeyboardInterrupt:
        summary.interrupted = True
    return summary


def push_relations(ws: Workspace, numbers: Sequence[str]) -> SyncReport | None:
    """Direct synchronisation: push CRM changes to Exact Online at once (outbound only).

    Called by the ``crm`` service after it changed relations. Does nothing (returns None) unless
    ``sync.direct`` is on and ``sync.direction`` is outbound; pushes only the given relations that are
    linked. When it cannot run (not logged in, another sync holds the lock …) it warns and returns None:
    the next ``exactlink sync`` pushes the changes, as they stay marked as pending.
    """
    try:
        return _push_changed(ws, numbers)
    except ExactlinkError as exc:
        ws.output.warn(f"direct synchronisation did not run: {exc.message}; `exactlink sync` will push the changes")
        return None


def _push_changed(ws: Workspace, numbers: Sequence[str]) -> SyncReport | None:
    from exactlink.store.links import list_account_links

    settings = ws.settings
    if not settings.sync.direct or settings.sync.direction != "outbound" or not numbers:
        return None
    linked = {link.relation_number for link in list_account_links(ws.db)}
    advice = direct_sync_warnings(ws.db, settings)
    for line in advice:
        ws.output.warn(line)
    wanted = [number for number in dict.fromkeys(numbers) if number in linked]
    if not wanted:
        return None
    report = run_sync(ws, direction="outbound", relations=wanted)
    report.warnings = [line for line in report.warnings if line not in advice]
    failed = report.counts()["failed"]
    if failed:
        ws.output.warn(
            f"direct synchronisation: {failed} relation(s) could not be pushed; `exactlink sync` retries them"
        )
    return report
