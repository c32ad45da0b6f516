"""The ``crm`` use cases: import the office's CRM export, export it again, list, show, set the SBR start date.

Importing validates everything before it writes anything: the file is read and mapped, every row is
turned into a :class:`~exactlink.store.relations.RelationRecord` (identifiers normalised and checked
by :func:`check_value`), the changes are planned against the mirror, and only then are they written,
all in one transaction. Invalid identifiers are imported as given and flagged (row, column, reason);
a file that cannot be read, or lacks a required column, changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import ExactlinkError, UsageError
from exactlink.store.crm_csv import CrmCsv, CsvRow, parse_contact_item, split_multi_value
from exactlink.store.relations import (
    ADDRESS_TYPES,
    RELATION_FIELDS,
    Address,
    Contact,
    RelationChange,
    RelationRecord,
)

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.workspace import Workspace


class RelationUnknown(ExactlinkError):
    """The relation number is not in the local mirror."""


def relation_not_in_mirror(db: sqlite_utils.Database, relation_number: str) -> RelationUnknown:
    """The error for a relation number the mirror does not hold; its hint depends on whether there is a mirror."""
    return RelationUnknown(f"relation {relation_number} is not in the local CRM mirror", hint=unknown_relation_hint(db))


def unknown_relation_hint(db: sqlite_utils.Database) -> str:
    """What to do about an unknown relation number: import the CRM first, or look the number up."""
    from exactlink.store.relations import has_relations

    if has_relations(db):
        return "check the number: `exactlink crm list` shows the relations"
    return "import the CRM export first: exactlink crm import FILE"


# ---------------------------------------------------------------------------------------------------
# Validation: one call per value, so the rules live in exactlink.domain.identifiers only.


@dataclass(frozen=True)
class FieldCheck:
    """The result of checking one cell: the value to store, and an error or warning to flag."""

    value: str | None
    error: str | None = None
    warning: str | None = None


_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def check_value(
    field_name: str, raw: str, *, country: str | None = None, repair_leading_zeros: bool = False
) -> FieldCheck:
    """Normalise and validate one CSV value of ``field_name``.

    Identifiers (``kvk``, ``rsin``, ``bsn``, ``vat_number``, ``payroll_tax_number``, ``iban``,
    ``postcode``) go through :mod:`exactlink.domain.identifiers`; ``email`` gets a shape check; other
    fields are stored as given. An invalid value is kept as given (trimmed) with the error.
    """
    from exactlink.domain import identifiers

    text = raw.strip()
    if not text:
        return FieldCheck(None)
    checks: dict[str, Callable[[], identifiers.Checked]] = {
        "kvk": lambda: identifiers.check_kvk(text, repair_leading_zeros=repair_leading_zeros),
        "rsin": lambda: identifiers.check_rsin(text, repair_leading_zeros=repair_leading_zeros),
        "bsn": lambda: identifiers.check_bsn(text, repair_leading_zeros=repair_leading_zeros),
        "vat_number": lambda: identifiers.check_vat_number(text),
        "payroll_tax_number": lambda: identifiers.check_payroll_number(text),
        "iban": lambda: identifiers.check_iban(text),
        "postcode": lambda: identifiers.check_postcode(text, country=country),
    }
    if field_name in checks:
        checked = checks[field_name]()
        if checked.value is None:
            return FieldCheck(text, error=checked.error)
        return FieldCheck(checked.value, warning=checked.warning)
    if field_name == "email" and not _EMAIL.match(text):
        return FieldCheck(text, error="not an e-mail address")
    return FieldCheck(text)


Validator = Callable[..., FieldCheck]


def normalise_country(raw: str | None) -> str | None:
    """``Nederland``/``the Netherlands``/``nl`` → ``NL``; other two-letter codes upper-cased; else as given."""
    from exactlink.domain.identifiers import is_dutch_country

    text = (raw or "").strip()
    if not text:
        return None
    if is_dutch_country(text):
        return "NL"
    return text.upper() if len(text) == 2 and text.isalpha() else text


# ---------------------------------------------------------------------------------------------------
# Building records from CSV rows


@dataclass
class RowIssue:
    """A flagged value: the spreadsheet row, the relation, the column as written in the file, and why."""

    row: int
    relation_number: str
    column: str
    message: str
    severity: str  # "error" (invalid, imported as given) or "warning" (valid but doubtful)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "row": self.row,
            "relation": self.relation_number,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


def build_record(
    row: CsvRow,
    headers: dict[str, str],
    stored: RelationRecord | None,
    *,
    repair_leading_zeros: bool = False,
    validate: Validator = check_value,
) -> tuple[RelationRecord, list[RowIssue]]:
    """Turn one CSV row into a record and the issues found in it.

    ``headers`` maps field → header text (for messages). A masked cell (an export made without
    ``--show-bsn``) keeps the stored value instead of overwriting it (:func:`unmask_cells`). Columns absent
    from the file keep the stored value, so a file with fewer columns never wipes data it does not carry.
    """
    values = unmask_cells(row.values, stored)
    number = values["relation_number"].strip()
    issues: list[RowIssue] = []

    def flag(field_name: str, check: FieldCheck) -> None:
        column = headers.get(field_name, field_name)
        if check.error:
            issues.append(RowIssue(row.row, number, column, check.error, "error"))
        elif check.warning:
            issues.append(RowIssue(row.row, number, column, check.warning, "warning"))

    record = RelationRecord(relation_number=number)
    for field_name in ("name", "legal_form", "kvk", "rsin", "bsn", "vat_number", "payroll_tax_number"):
        if field_name not in headers:
            setattr(record, field_name, getattr(stored, field_name) if stored else None)
            continue
        check = validate(field_name, values[field_name], repair_leading_zeros=repair_leading_zeros)
        setattr(record, field_name, check.value)
        flag(field_name, check)
    for field_name in ("phone", "email", "website"):
        if field_name not in headers:
            setattr(record, field_name, getattr(stored, field_name) if stored else None)
            continue
        check = validate(field_name, values[field_name])
        setattr(record, field_name, check.value)
        flag(field_name, check)
    record.name = record.name or ""
    if not record.name:
        issues.append(RowIssue(row.row, number, headers.get("name", "name"), "the name is empty", "error"))
    record.addresses = _addresses(values, headers, stored, flag, validate)
    record.ibans = _ibans(values, headers, stored, flag, validate)
    record.contacts = _contacts(row, number, values, headers, stored, issues, validate)
    record.issues = [{"column": i.column, "message": i.message, "severity": i.severity} for i in issues]
    return record, issues


def unmask_cells(values: dict[str, str], stored: RelationRecord | None) -> dict[str, str]:
    """The cells of one CSV row with every cell that ``crm export`` masked read back as the stored value.

    The stored record is exported the way ``crm export --show-bsn`` writes it, and each cell is compared
    with it by the masking home (:func:`~exactlink.domain.privacy.unmasked`).
    """
    from exactlink.domain.privacy import kind_of_field, unmasked

    cells = record_to_row(stored, show_bsn=True) if stored else {}
    result: dict[str, str] = {}
    for name, shown in values.items():
        kind = kind_of_field(name)
        result[name] = shown if kind is None else unmasked(shown, cells.get(name), kind) or ""
    return result


def _addresses(
    values: dict[str, str],
    headers: dict[str, str],
    stored: RelationRecord | None,
    flag: Callable[[str, FieldCheck], None],
    validate: Validator,
) -> dict[str, Address]:
    addresses: dict[str, Address] = {}
    for kind in ADDRESS_TYPES:
        parts = [f"{kind}_{part}" for part in ("street", "postcode", "city", "country")]
        if not any(part in headers for part in parts):
            if stored and kind in stored.addresses:
                addresses[kind] = stored.addresses[kind]
            continue
        country = normalise_country(values.get(f"{kind}_country"))
        postcode_check = validate("postcode", values.get(f"{kind}_postcode", ""), country=country)
        flag(f"{kind}_postcode", postcode_check)
        address = Address(
            kind,
            street=values.get(f"{kind}_street") or None,
            postcode=postcode_check.value,
            city=values.get(f"{kind}_city") or None,
            country=country,
        )
        if not address.is_empty():
            addresses[kind] = address
    return addresses


def _ibans(
    values: dict[str, str],
    headers: dict[str, str],
    stored: RelationRecord | None,
    flag: Callable[[str, FieldCheck], None],
    validate: Validator,
) -> list[str]:
    if "ibans" not in headers:
        return list(stored.ibans) if stored else []
    ibans: list[str] = []
    for item in split_multi_value(values["ibans"]):
        check = validate("iban", item)
        flag("ibans", check)
        if check.value and check.value not in ibans:
            ibans.append(check.value)
    return ibans


def _contacts(
    row: CsvRow,
    number: str,
    values: dict[str, str],
    headers: dict[str, str],
    stored: RelationRecord | None,
    issues: list[RowIssue],
    validate: Validator,
) -> list[Contact]:
    from exactlink.domain.person_names import split_person_name

    if "contacts" not in headers:
        return list(stored.contacts) if stored else []
    column = headers["contacts"]
    stored_contacts = {contact.full_name: contact for contact in stored.contacts} if stored else {}
    contacts: dict[str, Contact] = {}
    for item in split_multi_value(values["contacts"]):
        full_name, email = parse_contact_item(item)
        if not full_name:
            issues.append(RowIssue(row.row, number, column, f"contact person {item!r} has no name; skipped", "error"))
            continue
        if full_name in contacts:
            issues.append(RowIssue(row.row, number, column, f"contact person {full_name!r} appears twice", "warning"))
            continue
        if email is not None:
            check = validate("email", email)
            if check.error:
                issues.append(RowIssue(row.row, number, column, f"{full_name}: {check.error}", "error"))
        known = stored_contacts.get(full_name)
        if known is not None:
            # The CSV has no columns for the name parts or a contact's phone: keep what the mirror has
            # (it may come from Exact Online) instead of re-deriving or wiping it.
            contacts[full_name] = Contact(
                full_name, known.first_name, known.middle_name, known.last_name, email, known.phone
            )
        else:
            first, middle, last = split_person_name(full_name)
            contacts[full_name] = Contact(full_name, first, middle, last, email)
    return list(contacts.values())


# ---------------------------------------------------------------------------------------------------
# Import


@dataclass
class ImportReport:
    """What ``crm import`` did (or, with ``dry_run``, would do)."""

    path: str
    encoding: str
    delimiter: str
    dry_run: bool
    columns: dict[str, str]
    ignored_columns: list[str]
    new: list[str] = field(default_factory=list)
    changed: list[RelationChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    flagged: list[RowIssue] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    direct_sync: dict[str, Any] | None = None  # what direct synchronisation pushed (sync.direct, outbound)

    @property
    def exit_code(self) -> int:
        """0, or 3 (partial) when some rows could not be imported at all. Flagged values do not count."""
        return 3 if self.skipped else 0

    def counts(self) -> dict[str, int]:
        """Counts per outcome."""
        return {
            "rows": len(self.new) + len(self.changed) + len(self.unchanged) + len(self.skipped),
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "flagged": len({issue.relation_number for issue in self.flagged if issue.severity == "error"}),
            "warnings": len([issue for issue in self.flagged if issue.severity == "warning"]),
            "skipped": len(self.skipped),
        }

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON document (no BSN values in it)."""
        extra = {"direct_sync": self.direct_sync} if self.direct_sync is not None else {}
        return {
            "file": self.path,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "dry_run": self.dry_run,
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "counts": self.counts(),
            "new": self.new,
            "changed": [{"relation": c.relation_number, "fields": c.changed_fields} for c in self.changed],
            "unchanged": self.unchanged,
            "flagged": [issue.as_dict() for issue in self.flagged],
            "skipped": [{"row": row, "reason": reason} for row, reason in self.skipped],
        } | extra


def plan_import(
    db: sqlite_utils.Database, parsed: CrmCsv, *, repair_leading_zeros: bool = False, dry_run: bool = False
) -> tuple[ImportReport, list[tuple[RelationRecord, RelationRecord | None]]]:
    """Validate a file read by :func:`~exactlink.store.crm_csv.read_crm_csv` against the mirror, writing nothing.

    Returns the report and the (record, stored) pairs to write.
    """
    from exactlink.store.relations import diff_relation, iter_relation_records

    stored_records = {record.relation_number: record for record in iter_relation_records(db)}
    report = ImportReport(
        path=parsed.path,
        encoding=parsed.encoding,
        delimiter="tab" if parsed.delimiter == "\t" else parsed.delimiter,
        dry_run=dry_run,
        columns=parsed.headers,
        ignored_columns=parsed.ignored_columns,
        skipped=list(parsed.bad_rows),
    )
    first_row: dict[str, int] = {}
    plan: list[tuple[RelationRecord, RelationRecord | None]] = []
    for row in parsed.rows:
        number = row.values["relation_number"].strip()
        if not number:
            report.skipped.append((row.row, "no relation number"))
            continue
        if number in first_row:
            report.skipped.append(
                (row.row, f"relation number {number} appears again (first on row {first_row[number]})")
            )
            continue
        first_row[number] = row.row
        stored = stored_records.get(number)
        record, issues = build_record(row, parsed.headers, stored, repair_leading_zeros=repair_leading_zeros)
        report.flagged.extend(issues)
        change = diff_relation(stored, record)
        if change.status == "new":
            report.new.append(number)
        elif change.status == "changed":
            report.changed.append(change)
        else:
            report.unchanged.append(number)
        plan.append((record, stored))
    report.skipped.sort()
    return report, plan


def import_crm(
    ws: Workspace,
    path: Path,
    *,
    dry_run: bool = False,
    encoding: str | None = None,
    delimiter: str | None = None,
    repair_leading_zeros: bool = False,
) -> ImportReport:
    """``crm import``: read the file, plan every row, then (unless ``dry_run``) write it all in one transaction.

    A file that cannot be used raises :class:`~exactlink.store.crm_csv.CsvUnreadable` before the
    database is touched. Re-importing the same file changes nothing. The run is recorded in the history.
    """
    from exactlink.store.crm_csv import read_crm_csv
    from exactlink.store.db import transaction
    from exactlink.store.relations import apply_relation

    parsed = read_crm_csv(path, encoding=encoding, delimiter=delimiter)
    db = ws.db
    report, plan = plan_import(db, parsed, repair_leading_zeros=repair_leading_zeros, dry_run=dry_run)
    if dry_run:
        return report
    with ws.run("crm import") as run:
        run.begin({"file": Path(path).name})
        with transaction(db):
            for record, stored in plan:
                apply_relation(db, record, stored, now=ws.clock.now(), mark_pending_push=True)
        run.finish(report.exit_code, {"file": Path(path).name, **report.counts()})
    _push_directly(ws, report)
    return report


def _push_directly(ws: Workspace, report: ImportReport) -> None:
    """Direct synchronisation (``sync.direct``, outbound): push the imported changes to Exact Online at once."""
    from exactlink.services.sync import push_relations

    pushed = push_relations(ws, [*report.new, *(change.relation_number for change in report.changed)])
    if pushed is not None:
        report.direct_sync = pushed.as_json()


# ---------------------------------------------------------------------------------------------------
# Edit


EDITABLE_FIELDS: tuple[str, ...] = RELATION_FIELDS  # the relation's own fields; children are edited by import
_FIELD_LABELS = {"kvk": "KvK number", "rsin": "RSIN", "bsn": "BSN", "vat_number": "OB number / btw-id"}


def edit_relation(
    ws: Workspace, relation_number: str, values: dict[str, str], *, dry_run: bool = False
) -> dict[str, Any]:
    """``crm edit REL --FIELD VALUE …``: change some of a relation's own fields by hand.

    Each value is normalised and checked like an imported one (:func:`check_value`); unlike an import, an
    invalid value is refused (exit 2), since whoever types it can correct it at once. An empty value clears
    the field (never the name). A changed field loses its import flag, and the relation is marked for the
    outbound push; with direct synchronisation on (``sync.direct``, outbound) it is pushed to Exact Online
    at once (``direct_sync`` in the result). Returns ``relation``, ``changed``, ``unchanged``, ``dry_run``.

    Raises:
        UsageError: no field given, an unknown field, an invalid value, or an empty name.
        RelationUnknown: the relation is not in the mirror.
    """
    from exactlink.store.db import transaction
    from exactlink.store.relation_updates import drop_issues
    from exactlink.store.relations import get_relation, update_relation_fields

    if not values:
        raise UsageError("give at least one field to change, e.g. --phone 015-1234567", hint="see crm edit --help")
    unknown = sorted(set(values).difference(EDITABLE_FIELDS))
    if unknown:
        raise UsageError(f"not a field of a relation: {', '.join(unknown)}")
    checked: dict[str, str | None] = {}
    for name, raw in values.items():
        check = check_value(name, raw)
        if check.error:
            raise UsageError(f"{_FIELD_LABELS.get(name, name.replace('_', ' '))}: {check.error}; nothing was changed")
        checked[name] = check.value
    if "name" in checked and not checked["name"]:
        raise UsageError("a relation's name cannot be empty")
    db = ws.db
    row = get_relation(db, relation_number)
    if row is None:
        raise relation_not_in_mirror(db, relation_number)
    changed = [name for name, value in checked.items() if (getattr(row, name) or None) != (value or None)]
    if changed and not dry_run:
        with ws.run("crm edit") as run:
            run.begin({"relation": relation_number, "fields": changed})
            with transaction(db):
                update_relation_fields(db, relation_number, checked, now=ws.clock.now(), mark_pending_push=True)
                drop_issues(db, relation_number, changed)
    result: dict[str, Any] = {
        "relation": relation_number,
        "changed": changed,
        "unchanged": [name for name in checked if name not in changed],
        "dry_run": dry_run,
    }
    if changed and not dry_run:
        from exactlink.services.sync import push_relations

        pushed = push_relations(ws, [relation_number])
        if pushed is not None:
            result["direct_sync"] = pushed.as_json()
    return result


# ---------------------------------------------------------------------------------------------------
# Export


def record_to_row(record: RelationRecord, *, show_bsn: bool) -> dict[str, str | None]:
    """One record as CSV cells keyed by field name; unless ``show_bsn``, every cell masked by the masking home
    (the BSN, the OB and loonheffingen numbers, and any BSN in free text: names, addresses, contacts)."""
    from exactlink.domain.privacy import mask_view
    from exactlink.store.crm_csv import MULTI_VALUE_SEPARATOR, format_contact_item

    row: dict[str, str | None] = {"relation_number": record.relation_number, **record.field_values()}
    for kind, address in record.addresses.items():
        row[f"{kind}_street"] = address.street
        row[f"{kind}_postcode"] = address.postcode
        row[f"{kind}_city"] = address.city
        row[f"{kind}_country"] = address.country
    row["ibans"] = MULTI_VALUE_SEPARATOR.join(record.ibans)
    row["contacts"] = MULTI_VALUE_SEPARATOR.join(format_contact_item(c.full_name, c.email) for c in record.contacts)
    return mask_view(row, show_bsn=show_bsn)


def export_crm(
    ws: Workspace, path: Path | None, *, delimiter: str | None = None, show_bsn: bool = False, english: bool = False
) -> tuple[int, str | None]:
    """``crm export``: write every relation as CSV (UTF-8 with BOM, mode 0600) to ``path``.

    With ``path`` None the CSV text is returned instead (for stdout). Returns (count, text or None).
    """
    from exactlink.paths import write_private_atomically
    from exactlink.store.crm_csv import render_csv, resolve_delimiter
    from exactlink.store.relations import iter_relation_records

    separator = resolve_delimiter(delimiter) or ";"
    rows = [record_to_row(record, show_bsn=show_bsn) for record in iter_relation_records(ws.db)]
    text = render_csv(rows, delimiter=separator, english=english)
    if path is None:
        return len(rows), text
    try:
        write_private_atomically(Path(path), ("\ufeff" + text).encode("utf-8"))
    except OSError as exc:
        raise ExactlinkError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(rows), None


# ---------------------------------------------------------------------------------------------------
# List and show


def effective_show_bsn(ws: Workspace, flag: bool) -> bool:
    """``--show-bsn`` or the ``privacy.show_bsn`` setting."""
    return flag or bool(ws.settings.privacy.show_bsn)


def list_relations_view(
    ws: Workspace, *, show_bsn: bool = False, flagged: bool = False, unlinked: bool = False
) -> list[dict[str, Any]]:
    """``crm list``: one dict per relation (``relation``, ``name``, ``kvk``, ``rsin``, ``bsn``, ``account_code``,
    ``account_id``, ``administration``, ``issues``), masked by the masking home unless ``show_bsn``."""
    from exactlink.domain.privacy import mask_view
    from exactlink.store.relations import relation_overviews

    views = [
        {
            "relation": row.relation.relation_number,
            "name": row.relation.name,
            "kvk": row.relation.kvk,
            "rsin": row.relation.rsin,
            "bsn": row.relation.bsn,
            "account_code": row.account_code,
            "account_id": row.account_id,
            "administration": row.division,
            "issues": row.relation.issues,
        }
        for row in relation_overviews(ws.db, flagged=flagged, unlinked=unlinked)
    ]
    return mask_view(views, show_bsn=show_bsn)


def show_relation(ws: Workspace, relation_number: str, *, show_bsn: bool = False) -> dict[str, Any]:
    """``crm show``: everything the mirror knows about one relation, as one dict, masked by the masking home
    unless ``show_bsn``."""
    from exactlink.domain.privacy import mask_view
    from exactlink.domain.returns import returns_window_start
    from exactlink.store.accounts import get_account
    from exactlink.store.links import get_account_link, get_administration_link
    from exactlink.store.relations import (
        CONTACT_FIELDS,
        get_addresses,
        get_bank_accounts,
        get_contacts,
        get_relation,
    )
    from exactlink.store.returns import relation_returns

    db = ws.db
    row = get_relation(db, relation_number)
    if row is None:
        raise relation_not_in_mirror(db, relation_number)
    link = get_account_link(db, relation_number)
    account = get_account(db, link.account_id) if link else None
    admin = get_administration_link(db, relation_number)
    sbr_start = date.fromisoformat(row.sbr_start_date) if row.sbr_start_date else None
    day = ws.clock.today()
    result: dict[str, Any] = {
        "relation": relation_number,
        **{name: getattr(row, name) for name in ("name", "legal_form", "kvk", "rsin")},
        "bsn": row.bsn,
        **{name: getattr(row, name) for name in ("vat_number", "payroll_tax_number", "phone", "email", "website")},
        "addresses": [
            {k: getattr(a, k) for k in ("type", "street", "postcode", "city", "country", "exact_address_id")}
            for a in get_addresses(db, relation_number)
        ],
        "contacts": [
            {k: getattr(c, k) for k in ("full_name", *CONTACT_FIELDS, "exact_contact_id")}
            for c in get_contacts(db, relation_number)
        ],
        "bank_accounts": [
            {"iban": b.iban, "exact_bank_account_id": b.exact_bank_account_id}
            for b in get_bank_accounts(db, relation_number)
        ],
        "account": None
        if link is None
        else {
            "account_id": link.account_id,
            "account_code": link.account_code,
            "account_name": account.name if account else None,
            "method": link.method,
            "linked_by": link.linked_by,
            "linked_at": link.linked_at,
        },
        "administration": None
        if admin is None
        else {
            "division": admin.division,
            "solution_link_id": admin.solution_link_id,
            "linked_at": admin.linked_at,
            "backlog_fetched_at": admin.backlog_fetched_at,
        },
        "sbr_start_date": row.sbr_start_date,
        "returns_window_start": returns_window_start(day, sbr_start).isoformat(),
        "issues": row.issues,
        "pending_push": row.pending_push,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "recent_returns": [
            {
                "document_id": r.document_id,
                "kind": r.exact.kind,
                "year": r.exact.year,
                "period": r.exact.period,
                "period_description": r.exact.period_description,
                "status": r.exact.status,
                "amount": r.exact.amount,
                "currency": r.exact.currency,
                "due_date": r.exact.due_date.isoformat() if r.exact.due_date else None,
                "local_status": r.local_status,
                "feedback_state": r.feedback_state,
            }
            for r in relation_returns(db, relation_number, limit=10)
        ],
    }
    return mask_view(result, show_bsn=show_bsn)


# ---------------------------------------------------------------------------------------------------
# crm set --sbr-start


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` or the Dutch ``DD-MM-YYYY``; anything else is a usage error."""
    value = text.strip()
    for pattern in ("%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise UsageError(f"not a date: {text!r} (use YYYY-MM-DD, e.g. 2026-11-03)")


def check_sbr_start(start: date, today: date) -> None:
    """Refuse an SBR start date more than 30 days back ("tot een maximum van 30 dagen terug")."""
    from exactlink.domain.returns import MAX_WINDOW_DAYS

    earliest = today - timedelta(days=MAX_WINDOW_DAYS)
    if start < earliest:
        raise UsageError(
            f'the SBR start date can go back at most {MAX_WINDOW_DAYS} days ("tot een maximum van 30 dagen '
            f'terug"): {start.isoformat()} is before {earliest.isoformat()}',
            hint=f"use {earliest.isoformat()} or later; returns older than that are not fetched",
        )


def set_sbr_start_date(
    ws: Workspace, relation_number: str, value: str | None, *, clear: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """``crm set REL --sbr-start DATE`` / ``--clear``: move the start of the relation's returns window.

    Returns ``relation``, ``previous``, ``sbr_start_date``, ``returns_window_start``, ``changed``, ``dry_run``.
    """
    from exactlink.domain.returns import returns_window_start
    from exactlink.store.relations import get_sbr_start, relation_exists, set_sbr_start

    if clear == (value is not None):
        raise UsageError("give either --sbr-start DATE or --clear")
    day = ws.clock.today()
    start = None if clear else parse_date(value or "")
    if start is not None:
        check_sbr_start(start, day)
    db = ws.db
    if not relation_exists(db, relation_number):
        raise relation_not_in_mirror(db, relation_number)
    previous = get_sbr_start(db, relation_number)
    changed = previous != start
    if changed and not dry_run:
        set_sbr_start(db, relation_number, start)
    return {
        "relation": relation_number,
        "previous": previous.isoformat() if previous else None,
        "sbr_start_date": start.isoformat() if start else None,
        "returns_window_start": returns_window_start(day, start).isoformat(),
        "changed": changed,
        "dry_run": dry_run,
    }
