"""Linking client administrations (divisions) to relations: ``link-admin``, one at a time or in bulk.

A link needs the relation to be linked to its office account first (``exactlink match``): the link is
recorded in Exact Online as an ``accountancy/SolutionLinks`` record of that account in the office
administration (SolutionType 0 "internal", ``InternalSolutionDivision`` = the client's division) and
locally in ``admin_links``. Linking sets the relation's SBR start date to today − 30 days when none is
set, so the first fetch brings in up to 30 days of returns at once (the FAQ of `fetch-returns` explains this).

Idempotence: before writing, the account's SolutionLinks are read. An active internal link to the same
division is reused as is; an active internal link to another division is moved with PUT; otherwise a new
one is created with POST. The POST is never retried blindly (see ``exactlink.api.budget``), so a run
killed or timed out after Exact created the link finds it on the next run instead of creating a second
one. Exact is written before the local mirror, so a killed run leaves at worst a SolutionLink the next
run reuses.

What Exact accepts (exact-evidence §2): ``Status`` is GET-only and a PUT or POST carrying it is skipped
silently, so it is never written: an inactive or archived link cannot be reactivated (a new one is
created next to it), and unlinking DELETEs the link. A write counts only once a read shows it: a POST's
answer, or one read of the account's links after a PUT or DELETE; otherwise the row fails with "Exact
ignored the change to …". An active *external* link (SolutionType 1/2: the client keeps its books in
another package) is the office's record of that package and is never overwritten without ``--force``;
such rows are reported as ``refused``.

Bulk (``--csv``): every row is validated first against one listing of the administrations, and the
SolutionLinks are read once for all rows (or per account, when that takes fewer calls); a bad row is reported
and never stops or changes the others. The listing of the
administrations is reused from ``tenant list`` or an earlier run while it is fresh (:data:`DIVISION_LIST_FRESH`);
the SolutionLinks are always read, so an existing link is found however old that listing is.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.domain.records import AdministrationState, KnownDivision, StoredRelation
from exactlink.errors import ExactlinkError, UsageError

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.api.models import SolutionLinkDetail
    from exactlink.clock import Clock
    from exactlink.domain.day_budget import DayBudget
    from exactlink.domain.records import DivisionList
    from exactlink.settings import Settings
    from exactlink.store.meta import OfficeAdministration
    from exactlink.workspace import Workspace

SOLUTION_LINKS = "accountancy/SolutionLinks"
SOLUTION_TYPE_INTERNAL = 0
SOLUTION_TYPES_EXTERNAL = (1, 2)  # 1 a well-known external package, 2 another one
LINK_ACTIVE = 0  # Status is GET-only in Exact: read, never written
# Up to this many rows, the SolutionLinks are read per account; above it, all of them once unless that takes more
# calls (see read_solution_links_at_once).
PER_ACCOUNT_LOOKUP_LIMIT = 5
SOLUTION_LINKS_PAGE = 60  # rows per page of accountancy/SolutionLinks (no sync or bulk twin)
LOCK_NAME = "link-admin"

_RELATION_HEADERS = frozenset({"relation", "relation_number", "relationnumber", "relatie", "relatienummer", "rel"})
_DIVISION_HEADERS = frozenset(
    {"division", "division_code", "divisioncode", "administration", "administratie", "administratiecode", "code"}
)


class LinkRefused(ExactlinkError):
    """The relation and administration cannot be linked (the message says why)."""


class WriteIgnored(ExactlinkError):
    """Exact Online answered a write as done, but a read shows it did not take (the message names what)."""


# ---------------------------------------------------------------------------------------------------
# The administrations the login sees


@dataclass(frozen=True, slots=True)
class AdminDivision(KnownDivision):
    """A division as ``system/Divisions`` describes it (the fields of :class:`KnownDivision`), and whether it may be
    linked."""

    def problem(self, office_division: int) -> str | None:
        """Why this administration cannot be linked to a relation, or None."""
        from exactlink.services.tenant import STATUS_WORDS

        label = f"administration {self.code} ({self.name})"
        if not self.consented:
            return (
                f"{label} is not available to exactlink: the app was not given consent for it "
                "(or this login has no access rights); log in again and consent for all administrations"
            )
        if self.code == office_division or self.practice:
            return f"{label} is the office administration, not a client administration"
        if self.status is not None and self.status != 1:
            return f"{label} is {STATUS_WORDS.get(self.status, f'in status {self.status}')} in Exact Online"
        if self.blocking:
            return f"{label} is blocked in Exact Online (BlockingStatus {self.blocking})"
        return None


class DivisionDirectory:
    """The divisions the login sees, resolved by code or name: read once per run, or reused from the last listing
    (``tenant list`` or an earlier ``link-admin``) when it is younger than :data:`DIVISION_LIST_FRESH`.

    ``system/Divisions`` is listed when no fresh listing is stored (and the result stored for the next run);
    ``system/AllDivisions`` only when a division is not found, to tell "no consent" from "unknown". With a stored
    listing, a code it does not hold (an administration created since) is looked up with one filtered call.
    Whether Exact already holds a SolutionLink is never taken from here: the write path reads the SolutionLinks.
    """

    def __init__(
        self, client: ExactClient, office_division: int, *, stored: DivisionList | None = None, now: datetime
    ) -> None:
        from exactlink.domain.times import stored_moment

        self._client = client
        self.office_division = office_division
        self._unconsented: dict[int, AdminDivision] | None = None
        read_at = stored_moment(stored.read_at) if stored is not None else None
        self.reused = stored is not None and read_at is not None and now - read_at <= DIVISION_LIST_FRESH
        if self.reused and stored is not None:
            self.divisions = [_admin_division(known) for known in stored.divisions if known.consented]
            if stored.complete:
                self._unconsented = {
                    known.code: _admin_division(known) for known in stored.divisions if not known.consented
                }
        else:
            self.divisions = [_admin_division(known) for known in self._read("system/Divisions", True)]
        self._by_code = {division.code: division for division in self.divisions}

    def _read(self, path: str, consented: bool, filter: str | None = None) -> list[KnownDivision]:
        from exactlink.api.models import Division
        from exactlink.services.tenant import known_division

        rows = self._client.get_collection(self.office_division, path, select=Division.select(), filter=filter)
        return [known_division(Division.parse(row), consented=consented) for row in rows]

    def remember(self, db: sqlite_utils.Database, read_at: datetime) -> None:
        """Store what this run listed (read at ``read_at``) for the next run; nothing when it reused a listing."""
        from exactlink.store.divisions import save_division_list

        if self.reused:
            return
        known: list[KnownDivision] = [*self.divisions, *(self._unconsented or {}).values()]
        save_division_list(db, known, read_at=read_at, complete=self._unconsented is not None)

    def get(self, code: int) -> AdminDivision | None:
        """The division with this code among the consented ones, or None."""
        return self._by_code.get(code)

    def _look_up(self, code: int) -> AdminDivision | None:
        """A division missing from a reused listing, read with one filtered call (None: not consented/unknown)."""
        from exactlink.api.errors import ApiError

        try:
            found = self._read("system/Divisions", True, filter=f"Code eq {code}")
        except ApiError:
            return None
        for known in found:
            division = _admin_division(known)
            self.divisions.append(division)
            self._by_code[division.code] = division
        return self._by_code.get(code)

    def _all_divisions(self) -> dict[int, AdminDivision]:
        from exactlink.api.errors import ApiError

        if self._unconsented is None:
            self._unconsented = {}
            try:
                for known in self._read("system/AllDivisions", False):
                    if known.code not in self._by_code:
                        self._unconsented[known.code] = _admin_division(known)
            except ApiError:
                pass
        return self._unconsented

    def resolve(self, selector: str, *, select_command: str = "exactlink link-admin REL") -> AdminDivision:
        """The division meant by ``selector``: its code, its exact name, or a unique part of its name.

        Administrations without consent are found too (``problem`` then says why they cannot be linked).

        Raises:
            LinkRefused: no administration given.
            UsageError: nothing matches, or several names do (the candidates are listed).
        """
        from exactlink.services.tenant import find_division

        wanted = selector.strip()
        if not wanted:
            raise LinkRefused("no administration given")
        # ASCII digits of a sane length only: int() refuses thousands of digits, and '²' is a digit to isdigit().
        if wanted.isascii() and wanted.isdigit() and len(wanted) <= 18:
            code = int(wanted)
            found = self._by_code.get(code)
            if found is None and self.reused and code not in (self._unconsented or {}):
                found = self._look_up(code)
            if found is not None:
                return found
        pool = self.divisions + list(self._all_divisions().values())
        return find_division(pool, wanted, select_command=select_command)


# How old a stored listing of the divisions may be for link-admin to reuse it. Whether a division may be linked
# (its status, blocking, consent and owner account) can change in Exact; an hour covers preparing a CSV right after
# `tenant list` and a bulk run going on, and keeps a picture from yesterday from deciding today's links.
DIVISION_LIST_FRESH = timedelta(hours=1)


def _admin_division(known: KnownDivision) -> AdminDivision:
    return AdminDivision(**{spec.name: getattr(known, spec.name) for spec in dataclasses.fields(known)})


# ---------------------------------------------------------------------------------------------------
# SolutionLinks in the office administration


class SolutionLinkIndex:
    """The office administration's SolutionLinks per account: all read at once, or per account on demand."""

    def __init__(self, client: ExactClient, office_division: int, *, read_all: bool) -> None:
        self._client = client
        self.office_division = office_division
        self._by_account: dict[str, list[SolutionLinkDetail]] = {}
        self._complete = read_all
        if read_all:
            for row in self._read(None):
                self._by_account.setdefault(row.Account or "", []).append(row)

    def _read(self, account_id: str | None) -> list[SolutionLinkDetail]:
        from exactlink.api.models import SolutionLinkDetail
        from exactlink.api.odata import guid_literal

        filter_text = f"Account eq {guid_literal(account_id)}" if account_id else None
        rows = self._client.get_collection(
            self.office_division, SOLUTION_LINKS, select=SolutionLinkDetail.select(), filter=filter_text
        )
        return SolutionLinkDetail.parse_all(rows)

    def for_account(self, account_id: str) -> list[SolutionLinkDetail]:
        """The account's SolutionLinks (read from Exact now unless everything was read up front)."""
        key = account_id.lower()
        if not self._complete and key not in self._by_account:
            self._by_account[key] = self._read(key)
        return self._by_account.get(key, [])

    def reread(self, account_id: str) -> list[SolutionLinkDetail]:
        """The account's SolutionLinks read from Exact now (one call), replacing what was known."""
        key = account_id.lower()
        self._by_account[key] = self._read(key)
        return self._by_account[key]

    def remember(self, account_id: str, link: SolutionLinkDetail) -> None:
        """Record a link this run created or changed, so a later row sees it."""
        links = self._by_account.setdefault(account_id.lower(), [])
        links[:] = [other for other in links if other.ID != link.ID] + [link]


def _describe_external(link: SolutionLinkDetail) -> str:
    """An external SolutionLink in words: the package's name and address, as far as Exact gives them."""
    name = link.OtherExternalSolutionName or link.ExternalSolutionName or link.Name
    parts = [part.strip() for part in (name, link.ExternalSolutionUrl) if part and part.strip()]
    return f"an external SolutionLink ({', '.join(parts)})" if parts else "an external SolutionLink"


def _is_active(link: SolutionLinkDetail) -> bool:
    return link.Status in (None, LINK_ACTIVE)


def choose_solution_link(
    links: Sequence[SolutionLinkDetail], division: int, *, force: bool = False
) -> tuple[str, SolutionLinkDetail | None]:
    """What to do with an account's SolutionLinks to link ``division``.

    ``reuse`` an active internal link to the division; ``external`` (refused) when the account has an active
    external link (SolutionType 1/2: the client keeps its books elsewhere), or ``convert`` it with ``force``;
    ``update`` an active internal link to another division; else ``create`` a new one. Inactive and
    archived links are left alone: their Status is read-only in Exact, so they cannot be reactivated.
    """
    active = [link for link in links if _is_active(link)]
    for link in active:
        if link.SolutionType == SOLUTION_TYPE_INTERNAL and link.InternalSolutionDivision == division:
            return "reuse", link
    for link in active:
        if link.SolutionType in SOLUTION_TYPES_EXTERNAL:
            return ("convert" if force else "external"), link
    for link in active:
        if link.SolutionType == SOLUTION_TYPE_INTERNAL:
            return "update", link
    return "create", None


def solution_link_body(action: str, account_id: str, division: int) -> dict[str, Any]:
    """The body of the write for ``action``: only properties Exact accepts on that method (never ``Status``)."""
    if action == "create":
        return {"Account": account_id, "SolutionType": SOLUTION_TYPE_INTERNAL, "InternalSolutionDivision": division}
    if action == "convert":
        return {"SolutionType": SOLUTION_TYPE_INTERNAL, "InternalSolutionDivision": division}
    return {"InternalSolutionDivision": division}


def ignored_properties(wanted: dict[str, int], found: SolutionLinkDetail | None) -> list[str]:
    """The properties of ``wanted`` that ``found`` (the record as Exact now holds it) does not show."""
    if found is None:
        return sorted(wanted)
    return [name for name, value in wanted.items() if getattr(found, name) != value]


def write_solution_link(
    client: ExactClient,
    links: SolutionLinkIndex,
    account_id: str,
    division: int,
    action: str,
    link: SolutionLinkDetail | None,
) -> SolutionLinkDetail:
    """Carry out :func:`choose_solution_link`'s decision in Exact Online; return the link as Exact now holds it.

    A write counts only when a read shows it (Exact skips what it does not accept, silently): a POST's answer
    is the stored entity; after a PUT the account's links are read back once.

    Raises:
        WriteIgnored: Exact answered but does not hold the change.
    """
    from exactlink.api.odata import key_path

    if action == "reuse" and link is not None:
        return link
    body = solution_link_body(action, account_id, division)
    expected = {"SolutionType": SOLUTION_TYPE_INTERNAL, "InternalSolutionDivision": division, "Status": LINK_ACTIVE}
    if action in ("update", "convert") and link is not None:
        client.put(links.office_division, key_path(SOLUTION_LINKS, str(link.ID)), body)
        found = next((row for row in links.reread(account_id) if row.ID == link.ID), None)
    else:
        from exactlink.api.models import SolutionLinkDetail

        created = SolutionLinkDetail.parse(client.post(links.office_division, SOLUTION_LINKS, body))
        found = created.model_copy(update={"Account": created.Account or account_id})
    ignored = ignored_properties(expected, found)
    if ignored:
        raise WriteIgnored(
            f"Exact ignored the change to {', '.join(ignored)} of the SolutionLink "
            f"{getattr(found or link, 'ID', None) or ''}".rstrip()
        )
    assert found is not None
    links.remember(account_id, found)
    return found


# ---------------------------------------------------------------------------------------------------
# Planning and carrying out links


@dataclass
class LinkRow:
    """One requested link (a CSV row or the command line) and what became of it.

    ``status``: ``planned`` (valid, not written: dry run), ``linked``, ``already_linked``, ``invalid``
    (refused before anything was written), ``refused`` (the account has an external SolutionLink and
    ``--force`` was not given; nothing written), ``failed`` (Exact refused or ignored the write) or
    ``deferred`` (bulk work stopped at the day's reserve before this row; the next run links it).
    """

    relation_number: str
    selector: str
    row: int | None = None
    relation_name: str | None = None
    division: AdminDivision | None = None
    account_id: str | None = None
    account_code: str | None = None
    status: str = "planned"
    message: str = ""
    hint: str | None = None
    solution_link: str | None = None
    solution_link_id: str | None = None
    sbr_start_date: str | None = None
    sbr_start_set: bool = False
    # Why the administration named could not be resolved (unknown or ambiguous): raised as it is for one link.
    resolve_error: ExactlinkError | None = None

    @property
    def ok(self) -> bool:
        """True unless the row is invalid, refused or failed."""
        return self.status not in ("invalid", "refused", "failed")

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form of one row."""
        return {
            "row": self.row,
            "relation": self.relation_number,
            "relation_name": self.relation_name,
            "division": self.division.code if self.division else None,
            "division_name": self.division.name if self.division else None,
            "requested": self.selector,
            "status": self.status,
            "message": self.message,
            "solution_link": self.solution_link,
            "solution_link_id": self.solution_link_id,
            "sbr_start_date": self.sbr_start_date,
            "sbr_start_set": self.sbr_start_set,
        }


@dataclass(frozen=True)
class ReserveStop:
    """Bulk linking stopped at the office administration's day reserve: how far it got and when it goes on."""

    done: int  # rows linked (or found linked) so far, this run and earlier ones
    total: int  # rows of the request
    reserve_calls: int
    reserve_percent: float
    resumes_at: datetime | None  # the day limit's reset (UTC); None when Exact did not say

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "done": self.done,
            "total": self.total,
            "reserve_calls": self.reserve_calls,
            "reserve_percent": self.reserve_percent,
            "resumes_at": self.resumes_at.isoformat() if self.resumes_at else None,
        }


@dataclass
class LinkReport:
    """The outcome of ``link-admin`` for one or many rows."""

    rows: list[LinkRow] = field(default_factory=list)
    dry_run: bool = False
    window_days: int = 30
    stopped: ReserveStop | None = None

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        result: dict[str, int] = {}
        for row in self.rows:
            result[row.status] = result.get(row.status, 0) + 1
        return result

    @property
    def exit_code(self) -> int:
        """0 when every row is fine, 3 when some failed or bulk work stopped at the day's reserve, 1 when all
        failed."""
        failed = sum(1 for row in self.rows if not row.ok)
        if not failed:
            return 3 if self.stopped is not None else 0
        return 1 if failed == len(self.rows) else 3

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "stopped_at_reserve": self.stopped.as_json() if self.stopped else None,
            "rows": [row.as_json() for row in self.rows],
        }


@dataclass
class _Context:
    db: sqlite_utils.Database
    client: ExactClient
    office: OfficeAdministration
    directory: DivisionDirectory
    settings: Settings
    today: date
    clock: Clock
    started: datetime
    force: bool = False


def _refuse(row: LinkRow, message: str, hint: str | None = None) -> LinkRow:
    row.status, row.message, row.hint = "invalid", message, hint
    return row


def validate_row(context: _Context, row: LinkRow, *, force: bool = False) -> LinkRow:
    """Check one requested link against the mirror and Exact's division list; nothing is written."""
    from exactlink.services.crm import unknown_relation_hint
    from exactlink.store.links import administration_link_of_division, get_account_link, get_administration_link
    from exactlink.store.relations import get_relation

    db = context.db
    relation = get_relation(db, row.relation_number)
    if relation is None:
        return _refuse(
            row,
            f"relation {row.relation_number} is not in the local CRM mirror",
            unknown_relation_hint(db),
        )
    row.relation_name = relation.name or None
    link = get_account_link(db, row.relation_number)
    if link is None:
        return _refuse(
            row,
            f"relation {row.relation_number} is not linked to an Exact account yet: run `exactlink match` first",
        )
    row.account_id, row.account_code = link.account_id, link.account_code
    try:
        division = context.directory.resolve(row.selector, select_command=f"exactlink link-admin {row.relation_number}")
    except ExactlinkError as error:
        row.resolve_error = error
        return _refuse(row, error.message, error.hint)
    row.division = division
    problem = division.problem(context.office.division)
    if problem:
        return _refuse(row, problem)
    current = get_administration_link(db, row.relation_number)
    if current is not None and current.division != division.code:
        return _refuse(
            row,
            f"relation {row.relation_number} is already linked to administration {current.division}",
            f"unlink it first: exactlink link-admin unlink {row.relation_number}",
        )
    other = administration_link_of_division(db, division.code)
    if other is not None and other.relation_number != row.relation_number:
        return _refuse(
            row,
            f"administration {division.code} ({division.name}) is already linked to relation {other.relation_number}",
            f"unlink it first: exactlink link-admin unlink {other.relation_number}",
        )
    if division.customer and division.customer != str(row.account_id).lower() and not force:
        owner = " ".join(part for part in (division.customer_code, division.customer_name) if part) or division.customer
        return _refuse(
            row,
            f"administration {division.code} ({division.name}) belongs to account {owner} in Exact Online (its "
            f"owner), not to relation {row.relation_number}'s account {row.account_code or row.account_id}",
            "check the pair; link anyway with --force",
        )
    if current is not None and current.solution_link_id:
        row.status = "already_linked"
        row.solution_link_id = current.solution_link_id
        row.message = f"relation {row.relation_number} is already linked to administration {division.code}"
    return row


def carry_out(context: _Context, row: LinkRow, links: SolutionLinkIndex, *, dry_run: bool) -> LinkRow:
    """Write one valid link: the SolutionLink in Exact, then the mirror, then the SBR start date."""
    from exactlink.api.errors import ApiError
    from exactlink.domain.returns import default_sbr_start
    from exactlink.store.admin import update_administration_state
    from exactlink.store.db import transaction
    from exactlink.store.links import set_administration_link
    from exactlink.store.relations import get_sbr_start, set_sbr_start

    if row.status != "planned" or row.division is None or row.account_id is None:
        return row
    division = row.division
    existing_start = get_sbr_start(context.db, row.relation_number)
    start = existing_start or default_sbr_start(context.today, context.settings.returns.window_days)
    row.sbr_start_date, row.sbr_start_set = start.isoformat(), existing_start is None
    try:
        action, link = choose_solution_link(links.for_account(row.account_id), division.code, force=context.force)
    except ApiError as error:
        row.status, row.message = "failed", f"could not read the SolutionLinks in Exact Online: {error.message}"
        return row
    if action == "external" and link is not None:
        row.status = "refused"
        row.message = (
            f"relation {row.relation_number}'s account {row.account_code or row.account_id} has "
            f"{_describe_external(link)} in Exact Online: the client keeps its books outside Exact; "
            f"`exactlink link-admin {row.relation_number} {division.code} --force` turns it into a link to "
            f"administration {division.code}"
        )
        return row
    if dry_run:
        row.solution_link = action
        row.message = f"would link relation {row.relation_number} to administration {division.code} ({division.name})"
        if action == "convert" and link is not None:
            row.message += f", turning {_describe_external(link)} into an internal link (--force)"
        return row
    try:
        written = write_solution_link(context.client, links, row.account_id, division.code, action, link)
    except ApiError as error:
        row.status, row.message = "failed", f"Exact Online refused the SolutionLink: {error.message}"
        return row
    except WriteIgnored as error:
        row.status, row.message = "failed", error.message
        return row
    row.solution_link = {"reuse": "reused", "update": "updated", "convert": "converted", "create": "created"}[action]
    row.solution_link_id = written.ID
    now = context.clock.now()
    with transaction(context.db):
        set_administration_link(
            context.db, row.relation_number, division.code, now=now, solution_link_id=row.solution_link_id
        )
        update_administration_state(context.db, division.code, now=now, name=division.name)
        if existing_start is None:
            set_sbr_start(context.db, row.relation_number, start)
    row.status = "linked"
    row.message = f"linked relation {row.relation_number} to administration {division.code} ({division.name})"
    return row


def _check_duplicates(rows: Sequence[LinkRow]) -> None:
    """A relation or an administration named twice in one file: the second row is refused."""
    seen_relations: dict[str, LinkRow] = {}
    seen_divisions: dict[int, LinkRow] = {}
    for row in rows:
        if not row.ok:
            continue
        first = seen_relations.get(row.relation_number)
        if first is not None:
            _refuse(
                row, f"relation {row.relation_number} appears twice in the file (row {first.row} and row {row.row})"
            )
            continue
        seen_relations[row.relation_number] = row
        if row.division is not None:
            earlier = seen_divisions.get(row.division.code)
            if earlier is not None:
                _refuse(
                    row,
                    f"administration {row.division.code} appears twice in the file "
                    f"(row {earlier.row} and row {row.row})",
                )
                continue
            seen_divisions[row.division.code] = row


def _open_context(ws: Workspace, client: ExactClient, *, force: bool = False, reuse: bool = True) -> _Context:
    from exactlink.services.tenant import require_office_for
    from exactlink.store.divisions import stored_division_list

    office = require_office_for(ws)
    now = ws.clock.now()
    stored = stored_division_list(ws.db) if reuse else None
    directory = DivisionDirectory(client, office.division, stored=stored, now=now)
    return _Context(
        db=ws.db,
        client=client,
        office=office,
        directory=directory,
        started=now,
        settings=ws.settings,
        today=ws.clock.today(),
        clock=ws.clock,
        force=force,
    )


def link_rows(
    ws: Workspace,
    requests: Iterable[tuple[int | None, str, str]],
    *,
    dry_run: bool = False,
    force: bool = False,
    bulk: bool = False,
) -> LinkReport:
    """Validate every ``(row, relation, division)`` request, then carry out the valid ones one by one.

    Rows that are invalid are reported and skipped; a row Exact refuses is reported as failed; neither
    affects the others. Takes the ``link-admin`` run lock unless ``dry_run``.

    ``bulk`` work (a CSV, accepted suggestions) can wait: it leaves ``runs.bulk_reserve_percent`` of the office
    administration's day for match, sync and fetch-returns, stops before a link would eat into it (the rest
    ``deferred``, ``report.stopped`` says how far it got and when the day resets), and the same command run
    again goes on where it stopped: rows already linked cost no call and are never linked twice.
    """
    rows = [
        LinkRow(relation_number=str(rel).strip(), selector=str(div).strip(), row=number)
        for number, rel, div in requests
    ]
    report = LinkReport(rows=rows, dry_run=dry_run, window_days=ws.settings.returns.window_days)
    if not rows:
        return report
    with ws.run("link-admin", lock=LOCK_NAME, dry_run=dry_run, record=False), ws.client() as client:
        if bulk:
            client.limiter.kind = "bulk"
        context = _open_context(ws, client, force=force)
        for row in rows:
            if not row.relation_number:
                _refuse(row, "no relation number in this row")
            elif not row.selector:
                _refuse(row, f"no administration given for relation {row.relation_number}")
            else:
                validate_row(context, row, force=force)
        if not dry_run:
            context.directory.remember(context.db, context.started)
        _check_duplicates(rows)
        planned = [row for row in rows if row.status == "planned"]
        reserve = _DayReserve(ws, client, context.office.division) if bulk and not dry_run else None
        if reserve is not None and not reserve.allows(CALLS_PER_LINK):
            report.stopped = reserve.stop(rows, planned)
            return report
        from exactlink.store.links import count_administration_links

        read_all = read_solution_links_at_once(len(planned), count_administration_links(context.db))
        links = SolutionLinkIndex(client, context.office.division, read_all=read_all)
        with ws.output.progress("linking administrations", len(planned), show=bulk) as advance:
            for position, row in enumerate(planned):
                if reserve is not None and not reserve.allows(CALLS_PER_LINK):
                    report.stopped = reserve.stop(rows, planned[position:])
                    break
                carry_out(context, row, links, dry_run=dry_run)
                advance()
    return report


def read_solution_links_at_once(planned: int, linked: int) -> bool:
    """Whether to read every SolutionLink of the office administration once rather than each account's own.

    Per account costs a call per planned link; all at once a call per 60 links Exact holds, about the
    administrations linked here plus the planned ones. A small CSV in an office with thousands of links reads per
    account; a large one at once. Either way the links are read from Exact before any write.
    """
    pages = -(-(linked + planned) // SOLUTION_LINKS_PAGE)
    return planned > PER_ACCOUNT_LOOKUP_LIMIT and planned > pages


# The most calls one link takes in the office administration: the account's SolutionLinks (when not read in
# bulk), the write, and the read-back that checks Exact kept what was written.
CALLS_PER_LINK = 3


class _DayReserve:
    """The office administration's day budget as the client last saw it, against the bulk reserve."""

    def __init__(self, ws: Workspace, client: ExactClient, office_division: int) -> None:
        self.client = client
        self.office_division = office_division
        self.percent = ws.settings.runs.bulk_reserve_percent

    def _budget(self) -> DayBudget:
        from exactlink.api.ratelimit import division_key
        from exactlink.domain.day_budget import DayBudget

        state = self.client.limiter.states().get(division_key(self.office_division))
        if state is None:
            return DayBudget(None, None)
        resets = datetime.fromtimestamp(state.daily_reset, UTC) if state.daily_reset is not None else None
        return DayBudget(state.daily_limit, state.daily_remaining, resets)

    def allows(self, calls: int) -> bool:
        """Whether ``calls`` more leave the reserve."""
        from exactlink.domain.day_budget import bulk_may_spend

        return bulk_may_spend(self._budget(), calls, self.percent)

    def stop(self, rows: list[LinkRow], left: list[LinkRow]) -> ReserveStop:
        """Mark ``left`` deferred and say how far the request got."""
        from exactlink.domain.day_budget import reserve_calls

        for row in left:
            row.status = "deferred"
            row.message = "waits for the next run: today's calls down to the reserve for match, sync and fetch-returns"
        budget = self._budget()
        return ReserveStop(
            done=sum(1 for row in rows if row.status in ("linked", "already_linked")),
            total=len(rows),
            reserve_calls=reserve_calls(budget.limit or 0, self.percent),
            reserve_percent=self.percent,
            resumes_at=budget.resets_at,
        )


def link_one(ws: Workspace, relation: str, division: str, *, dry_run: bool = False, force: bool = False) -> LinkRow:
    """``link-admin REL DIVISION``: link one administration; a refusal is raised (exit 1) with its reason.

    An administration that matches none or several is a usage error (exit 2), as in ``tenant select``.
    """
    report = link_rows(ws, [(None, relation, division)], dry_run=dry_run, force=force)
    row = report.rows[0]
    if row.resolve_error is not None:
        raise row.resolve_error
    if not row.ok:
        raise LinkRefused(row.message, hint=row.hint)
    return row


# ---------------------------------------------------------------------------------------------------
# CSV in and out


def read_link_csv(
    path: Path, *, encoding: str | None = None, delimiter: str | None = None
) -> list[tuple[int | None, str, str]]:
    """Read ``relation number, division`` rows from a CSV (read as every ``--csv`` is; the header is optional).

    A header row is recognised by its names (``relatienummer``/``relation``…, ``administratie``/
    ``division``…) and may carry more columns, which are ignored (so ``suggest --csv-out`` files feed
    back unchanged). Without a header the first two columns are taken. Rows are numbered as in a
    spreadsheet (the header is row 1).

    Raises:
        CsvUnreadable: the file cannot be read, has no rows or lacks a column (exit 1, as for the other CSVs).
    """
    from exactlink.store.crm_csv import CsvUnreadable, read_csv_table, unneutralise

    records = read_csv_table(path, encoding=encoding, delimiter=delimiter).records
    header = [cell.strip().casefold().replace(" ", "_").replace("-", "_") for cell in records[0]]
    relation_column = next((i for i, name in enumerate(header) if name in _RELATION_HEADERS), None)
    division_column = next((i for i, name in enumerate(header) if name in _DIVISION_HEADERS), None)
    has_header = relation_column is not None or division_column is not None
    if has_header and (relation_column is None or division_column is None):
        raise CsvUnreadable(
            f"{path}: the header needs a relation column (relatienummer/relation) and an administration "
            "column (administratie/division)"
        )
    relation_index = relation_column if relation_column is not None else 0
    division_index = division_column if division_column is not None else 1
    result: list[tuple[int | None, str, str]] = []
    for number, record in enumerate(records, start=1):
        if has_header and number == 1:
            continue
        if not any(cell.strip() for cell in record):
            continue
        relation = unneutralise(record[relation_index].strip()) if len(record) > relation_index else ""
        division = record[division_index].strip() if len(record) > division_index else ""
        result.append((number, relation, division))
    if not result:
        raise CsvUnreadable(f"{path} has no rows")
    return result


def link_from_csv(
    ws: Workspace,
    path: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> LinkReport:
    """``link-admin --csv FILE``: link every row of the file (bulk work, see :func:`link_rows`)."""
    rows = read_link_csv(path, encoding=encoding, delimiter=delimiter)
    return link_rows(ws, rows, dry_run=dry_run, force=force, bulk=True)


# ---------------------------------------------------------------------------------------------------
# Suggestions from what Exact knows


@dataclass
class Suggestion:
    """A proposed (relation, administration) pair and the evidence for it."""

    relation_number: str
    relation_name: str
    division: int
    division_name: str
    evidence: list[str]
    strength: int
    ambiguous: bool = False
    competitors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "relation": self.relation_number,
            "relation_name": self.relation_name,
            "division": self.division,
            "division_name": self.division_name,
            "evidence": self.evidence,
            "ambiguous": self.ambiguous,
            "competitors": self.competitors,
        }


@dataclass(frozen=True)
class _DivisionKeys:
    """A division's identifiers, normalised once."""

    division: AdminDivision
    kvk: str | None
    vats: frozenset[str]
    fiscal: str | None


def _division_keys(division: AdminDivision) -> _DivisionKeys:
    from exactlink.domain.identifiers import check_kvk, check_vat_number, fiscal_number_from

    vats = frozenset(
        value for value in (check_vat_number(v).value for v in (division.vat_number, division.ob_number)) if value
    )
    fiscal = fiscal_number_from(ob_number=division.ob_number) or fiscal_number_from(ob_number=division.vat_number)
    return _DivisionKeys(division, check_kvk(division.kvk).value, vats, fiscal)


def _evidence(
    relation: StoredRelation, account_id: str, keys: _DivisionKeys, linked_in_exact: bool
) -> tuple[list[str], int]:
    """Evidence that the relation owns the division, and its strength (0 none, 1 identifiers, 2 Exact's own)."""
    from exactlink.domain.identifiers import check_kvk, check_vat_number, fiscal_number_from

    division = keys.division
    found: list[str] = []
    if linked_in_exact:
        found.append("Exact Online already has a SolutionLink from the relation's account to this administration")
    if division.customer and division.customer == account_id:
        found.append("the administration's owner account (Customer) is the relation's Exact account")
    if found:
        return found, 2
    relation_kvk = check_kvk(relation.kvk).value
    if relation_kvk and keys.kvk and relation_kvk != keys.kvk:
        return [], 0  # a conflicting identifier is a non-match
    if relation_kvk and relation_kvk == keys.kvk:
        found.append(f"same KvK number ({relation_kvk})")
    relation_vat = check_vat_number(relation.vat_number).value
    if relation_vat and relation_vat in keys.vats:
        found.append("same VAT/OB number")
    relation_fiscal = fiscal_number_from(rsin=relation.rsin, ob_number=relation.vat_number)
    if relation_fiscal and relation_fiscal == keys.fiscal and not found:
        found.append("same RSIN (inside the OB number)")
    return found, 1 if found else 0


def _candidate_divisions(
    relation: StoredRelation,
    account_id: str,
    in_exact: set[int],
    index: dict[tuple[str, str], list[_DivisionKeys]],
    by_code: dict[int, _DivisionKeys],
) -> list[_DivisionKeys]:
    """The divisions sharing anything with the relation (so not every pair has to be compared)."""
    from exactlink.domain.identifiers import check_kvk, check_vat_number, fiscal_number_from

    found: dict[int, _DivisionKeys] = {code: by_code[code] for code in in_exact if code in by_code}
    probes = [
        ("customer", account_id),
        ("kvk", check_kvk(relation.kvk).value),
        ("vat", check_vat_number(relation.vat_number).value),
        ("fiscal", fiscal_number_from(rsin=relation.rsin, ob_number=relation.vat_number)),
    ]
    for kind, value in probes:
        if value:
            for keys in index.get((kind, value), []):
                found[keys.division.code] = keys
    return list(found.values())


@dataclass
class SuggestReport:
    """All suggestions, the clear ones first."""

    suggestions: list[Suggestion] = field(default_factory=list)

    @property
    def clear(self) -> list[Suggestion]:
        """Suggestions without a competitor: safe to accept as a batch."""
        return [suggestion for suggestion in self.suggestions if not suggestion.ambiguous]

    @property
    def ambiguous(self) -> list[Suggestion]:
        """Suggestions with a competing relation or administration: decide by hand."""
        return [suggestion for suggestion in self.suggestions if suggestion.ambiguous]

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "suggestions": [suggestion.as_json() for suggestion in self.clear],
            "ambiguous": [suggestion.as_json() for suggestion in self.ambiguous],
        }


def suggest_links(ws: Workspace) -> SuggestReport:
    """Propose administrations for relations linked to an office account but not yet to an administration.

    Evidence, strongest first: an internal SolutionLink Exact already holds for the relation's account;
    the division's owner account (``Customer``); equal KvK, VAT/OB number or RSIN. A conflicting KvK
    number rules a pair out. Where one relation has several candidates of the best strength, or one
    administration several relations, all of them are marked ambiguous.
    """
    from exactlink.store.links import list_account_links, list_administration_links
    from exactlink.store.relations import get_relation

    db = ws.db
    with ws.client() as client:
        # The stored listing has no VAT or OB numbers (they may hold a BSN): suggestions need them, so list.
        context = _open_context(ws, client, reuse=False)
        links = SolutionLinkIndex(client, context.office.division, read_all=True)
        administration_links = list_administration_links(db)
        linked_relations = {row.relation_number for row in administration_links}
        linked_divisions = {row.division for row in administration_links}
        free = [
            _division_keys(division)
            for division in context.directory.divisions
            if division.code not in linked_divisions and division.problem(context.office.division) is None
        ]
        by_code = {keys.division.code: keys for keys in free}
        index: dict[tuple[str, str], list[_DivisionKeys]] = {}
        for keys in free:
            for kind, value in (("customer", keys.division.customer), ("kvk", keys.kvk), ("fiscal", keys.fiscal)):
                if value:
                    index.setdefault((kind, value), []).append(keys)
            for vat in keys.vats:
                index.setdefault(("vat", vat), []).append(keys)
        candidates: list[Suggestion] = []
        for link in list_account_links(db):
            number = link.relation_number
            if number in linked_relations:
                continue
            relation = get_relation(db, number)
            if relation is None:
                continue
            account_id = link.account_id.lower()
            in_exact = {
                row.InternalSolutionDivision
                for row in links.for_account(account_id)
                if row.SolutionType == SOLUTION_TYPE_INTERNAL
                and row.Status == LINK_ACTIVE
                and row.InternalSolutionDivision is not None
            }
            for keys in _candidate_divisions(relation, account_id, in_exact, index, by_code):
                evidence, strength = _evidence(relation, account_id, keys, keys.division.code in in_exact)
                if strength:
                    division = keys.division
                    candidates.append(
                        Suggestion(number, relation.name, division.code, division.name, evidence, strength)
                    )
        # Only once every read succeeded: a run that fails on a nonsense answer writes nothing.
        context.directory.remember(db, context.started)
    return SuggestReport(_resolve_competition(candidates))


def _resolve_competition(candidates: list[Suggestion]) -> list[Suggestion]:
    """Keep each relation's strongest candidates; mark pairs that compete for a relation or an administration."""
    best_per_relation: dict[str, int] = {}
    for suggestion in candidates:
        best_per_relation[suggestion.relation_number] = max(
            best_per_relation.get(suggestion.relation_number, 0), suggestion.strength
        )
    kept = [s for s in candidates if s.strength == best_per_relation[s.relation_number]]
    by_relation: dict[str, list[Suggestion]] = {}
    by_division: dict[int, list[Suggestion]] = {}
    for suggestion in kept:
        by_relation.setdefault(suggestion.relation_number, []).append(suggestion)
        by_division.setdefault(suggestion.division, []).append(suggestion)
    for suggestion in kept:
        rivals = [s for s in by_relation[suggestion.relation_number] if s is not suggestion]
        rivals += [s for s in by_division[suggestion.division] if s is not suggestion]
        if rivals:
            suggestion.ambiguous = True
            suggestion.competitors = sorted({f"{s.relation_number} ↔ {s.division}" for s in rivals})
    return sorted(kept, key=lambda s: (s.ambiguous, s.relation_number, s.division))


def check_output_folder(path: Path) -> None:
    """Refuse an output file whose folder does not exist, before the work whose result it would hold."""
    folder = path.expanduser().parent
    if not folder.is_dir():
        raise ExactlinkError(f"cannot write {path}: {folder} is not a folder")


def write_suggestions_csv(report: SuggestReport, path: Path) -> int:
    """Write the clear suggestions as a CSV ``link-admin --csv`` reads back (mode 0600); returns the number of rows."""
    from exactlink.paths import write_private_atomically
    from exactlink.store.crm_csv import neutralise_formula

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["relatienummer", "administratie", "relatienaam", "administratienaam", "bewijs"])
    for suggestion in report.clear:
        # Every text cell: a relation number from the CRM can start with '=' as well as a name can.
        writer.writerow(
            [
                neutralise_formula(suggestion.relation_number),
                suggestion.division,
                neutralise_formula(suggestion.relation_name),
                neutralise_formula(suggestion.division_name),
                neutralise_formula("; ".join(suggestion.evidence)),
            ]
        )
    try:
        write_private_atomically(path, ("\ufeff" + buffer.getvalue()).encode("utf-8"))
    except OSError as exc:
        raise ExactlinkError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(report.clear)


def accept_suggestions(ws: Workspace, report: SuggestReport, *, dry_run: bool = False) -> LinkReport:
    """``suggest --accept``: link every clear suggestion (ambiguous ones are left for a person)."""
    return link_rows(
        ws,
        [(index, s.relation_number, str(s.division)) for index, s in enumerate(report.clear, start=1)],
        dry_run=dry_run,
        bulk=True,
    )


# ---------------------------------------------------------------------------------------------------
# List, unlink, vraagposten accounts


def list_admin_links_view(ws: Workspace) -> list[dict[str, Any]]:
    """``link-admin list``: every linked administration with its relation, SBR start date and last fetch."""
    from exactlink.store.admin import administration_states
    from exactlink.store.links import list_administration_links

    db = ws.db
    states = administration_states(db)
    result = []
    for row in list_administration_links(db):
        state = states.get(row.division) or AdministrationState(row.division)
        result.append(
            {
                "relation": row.relation_number,
                "relation_name": row.relation_name or None,
                "division": row.division,
                "division_name": state.name,
                "solution_link_id": row.link.solution_link_id,
                "linked_at": row.link.linked_at,
                "sbr_start_date": row.sbr_start_date.isoformat() if row.sbr_start_date else None,
                "backlog_fetched_at": row.link.backlog_fetched_at,
                "vraagposten_accounts": list(state.vraagposten_configured or state.vraagposten_codes or ()),
                "last_fetch_at": state.last_fetch_at,
                "last_fetch_note": state.last_fetch_note,
            }
        )
    return result


def _links_to_unlink(
    client: ExactClient, office_division: int, link_id: str | None, account_id: str | None, division: int
) -> list[SolutionLinkDetail]:
    """The internal SolutionLinks to ``division`` to delete: the recorded one, or the account's (any status)."""
    from exactlink.api.models import SolutionLinkDetail
    from exactlink.api.odata import guid_literal

    if link_id:
        filter_text = f"ID eq {guid_literal(link_id)}"
    elif account_id:
        filter_text = f"Account eq {guid_literal(account_id)}"
    else:
        return []
    select = SolutionLinkDetail.select()
    rows = client.get_collection(office_division, SOLUTION_LINKS, select=select, filter=filter_text)
    return [
        link
        for link in SolutionLinkDetail.parse_all(rows)
        if link.SolutionType == SOLUTION_TYPE_INTERNAL and link.InternalSolutionDivision == division
    ]


def unlink(ws: Workspace, relation: str, *, dry_run: bool = False) -> dict[str, Any]:
    """``link-admin unlink REL``: delete the SolutionLink in Exact, check it is gone, then forget the link locally.

    Exact has no way to set a SolutionLink inactive through the API (``Status`` is read-only and a PUT of it
    is skipped silently), so unlinking deletes it. Only an internal link to the relation's administration is
    deleted; an external one or a link to another administration is left alone. Fetched returns stay in the
    mirror (they are history).

    Raises:
        LinkRefused: the relation has no linked administration.
        WriteIgnored: Exact still shows the SolutionLink after the DELETE (the local link is kept).
    """
    from exactlink.api.errors import ApiError
    from exactlink.api.odata import key_path
    from exactlink.services.tenant import require_office_for
    from exactlink.store.links import get_account_link, get_administration_link, remove_administration_link

    with ws.run("link-admin unlink", lock=LOCK_NAME, dry_run=dry_run, record=False):
        db = ws.db
        office = require_office_for(ws)
        current = get_administration_link(db, relation)
        if current is None:
            raise LinkRefused(f"relation {relation} has no linked administration")
        division = current.division
        account = get_account_link(db, relation)
        account_id = account.account_id if account is not None else None
        outcome: dict[str, Any] = {
            "relation": relation,
            "division": division,
            "solution_link_id": None,
            "deleted": False,
            "dry_run": dry_run,
        }
        with ws.client() as client:
            targets = _links_to_unlink(client, office.division, current.solution_link_id, account_id, division)
            outcome["solution_link_id"] = targets[0].ID if targets else None
            if targets and not dry_run:
                for link in targets:
                    try:
                        client.delete(office.division, key_path(SOLUTION_LINKS, str(link.ID)))
                    except ApiError as error:
                        if error.status != 404:
                            raise
                deleted = {link.ID for link in targets}
                if account_id:
                    seen = _links_to_unlink(client, office.division, None, account_id, division)
                else:
                    seen = [
                        row for key in deleted for row in _links_to_unlink(client, office.division, key, None, division)
                    ]
                left = [row for row in seen if row.ID in deleted]
                if left:
                    raise WriteIgnored(
                        f"Exact ignored the deletion of SolutionLink {left[0].ID}: it still links relation "
                        f"{relation}'s account to administration {division}; the link is kept locally"
                    )
                outcome["deleted"] = True
        if not dry_run:
            remove_administration_link(db, relation)
    return outcome


def set_vraagposten_accounts(
    ws: Workspace, relation: str, codes: Sequence[str] | None, *, dry_run: bool = False
) -> dict[str, Any]:
    """Configure the vraagposten G/L account codes of the relation's administration (None: back to the default).

    The next ``fetch-returns`` reads the chart of accounts again to check the codes. ``dry_run`` checks the
    same and writes nothing.

    Raises:
        UsageError: ``codes`` is given but names no code (``--accounts ""`` or ``","``).
    """
    from exactlink.store.admin import forget_vraagposten_choice, update_administration_state
    from exactlink.store.db import transaction
    from exactlink.store.links import get_administration_link

    cleaned = [code.strip() for code in codes or () if code.strip()]
    if codes is not None and not cleaned:
        raise UsageError(
            "--accounts names no G/L account code", hint="use --default for the accounts named 'vraagpost'"
        )
    db = ws.db
    current = get_administration_link(db, relation)
    if current is None:
        raise LinkRefused(f"relation {relation} has no linked administration")
    division = current.division
    if not dry_run:
        with transaction(db):
            forget_vraagposten_choice(db, division, now=ws.clock.now())
            update_administration_state(db, division, now=ws.clock.now(), vraagposten_configured=cleaned or None)
    return {
        "relation": relation,
        "division": division,
        "vraagposten_accounts": cleaned,
        "default": not cleaned,
        "dry_run": dry_run,
    }
