"""Which administrations (divisions) the login sees, and choosing the office administration.

Listing follows Exact's advice (exact-api.md §4.2): ``current/Me`` first (no division in the URL), then
``/{CurrentDivision}/system/Divisions`` (what the user may access *and* consented to) and
``/{CurrentDivision}/system/AllDivisions`` (everything of the licence). A division that is only in
AllDivisions was not given consent (or the user lacks access rights) and cannot be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from exactlink.errors import NotConfigured, UsageError

if TYPE_CHECKING:
    from datetime import datetime

    import sqlite_utils

    from exactlink.api.client import ExactClient
    from exactlink.api.models import Division, Me
    from exactlink.domain.records import KnownDivision
    from exactlink.store.meta import OfficeAdministration
    from exactlink.workspace import Workspace

STATUS_WORDS = {0: "inactive", 1: "active", 2: "archived"}
BLOCKING_WORDS = {
    1: "backup/restore in progress",
    2: "conversion busy",
    3: "conversion shadow",
    4: "conversion waiting",
    5: "copy data waiting",
    6: "copy data busy",
}


@dataclass(frozen=True)
class DivisionEntry:
    """One administration as ``tenant list`` shows it."""

    code: int
    name: str
    customer_code: str | None = None
    customer_name: str | None = None
    practice: bool = False
    main: bool = False
    current: bool = False
    status: str = "active"
    blocked: str | None = None
    consented: bool = True

    @property
    def usable(self) -> bool:
        """Whether the app can work in it (consented, not archived, not blocked)."""
        return self.consented and self.status == "active" and self.blocked is None

    def flags(self) -> list[str]:
        """Short markers: practice, main, current, archived/inactive, blocked, no consent."""
        marks = []
        if self.practice:
            marks.append("practice")
        if self.main:
            marks.append("main")
        if self.current:
            marks.append("current")
        if self.status != "active":
            marks.append(self.status)
        if self.blocked:
            marks.append(f"blocked ({self.blocked})")
        if not self.consented:
            marks.append("no consent")
        return marks

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "code": self.code,
            "name": self.name,
            "customer_code": self.customer_code,
            "customer_name": self.customer_name,
            "practice": self.practice,
            "main": self.main,
            "current": self.current,
            "status": self.status,
            "blocked": self.blocked,
            "consented": self.consented,
        }


@dataclass
class TenantOverview:
    """Who is logged in and every administration they see."""

    user: Me
    divisions: list[DivisionEntry] = field(default_factory=list)
    all_divisions_checked: bool = True
    # The same administrations with what linking needs to know (the owner account, KvK, VAT/OB numbers).
    known: list[KnownDivision] = field(default_factory=list)

    def practice_divisions(self) -> list[DivisionEntry]:
        """The administrations Exact marks as an accountancy practice (office) administration."""
        return [entry for entry in self.divisions if entry.practice and entry.consented]


def _display_name(division: Division) -> str:
    """The administration's description, or ``administration CODE`` when Exact gives none."""
    return (division.Description or "").strip() or f"administration {division.Code}"


def _entry(division: Division, *, consented: bool) -> DivisionEntry:
    return DivisionEntry(
        code=division.Code,
        name=_display_name(division),
        customer_code=division.CustomerCode,
        customer_name=division.CustomerName,
        practice=bool(division.IsPracticeDivision),
        main=bool(division.IsMainDivision),
        current=bool(division.Current),
        status=STATUS_WORDS.get(division.Status if division.Status is not None else 1, "unknown"),
        blocked=BLOCKING_WORDS.get(division.BlockingStatus or 0, f"status {division.BlockingStatus}")
        if division.BlockingStatus
        else None,
        consented=consented,
    )


def known_division(division: Division, *, consented: bool) -> KnownDivision:
    """What linking needs to know of one row of ``system/Divisions`` (``consented``) or ``system/AllDivisions``."""
    from exactlink.domain.records import KnownDivision

    return KnownDivision(
        code=division.Code,
        name=_display_name(division),
        customer=division.Customer,
        customer_code=division.CustomerCode,
        customer_name=division.CustomerName,
        vat_number=division.VATNumber,
        kvk=division.ChamberOfCommerceNumber,
        ob_number=division.OBNumber,
        status=division.Status,
        blocking=division.BlockingStatus,
        practice=bool(division.IsPracticeDivision),
        consented=consented,
    )


def list_divisions(client: ExactClient) -> TenantOverview:
    """``current/Me``, then ``system/Divisions`` and ``system/AllDivisions`` of the user's current division.

    When the current division itself is not accessible (the user left it out at consent), the user's
    accounting division is tried instead.
    """
    from exactlink.api.errors import ApiError

    anchor, accessible = _divisions(client, "system/Divisions")
    overview = TenantOverview(user=client.me())
    seen = {division.Code for division in accessible}
    entries = [_entry(division, consented=True) for division in accessible]
    overview.known = [known_division(division, consented=True) for division in accessible]
    try:
        _, everything = _divisions(client, "system/AllDivisions", anchor=anchor)
        unconsented = [division for division in everything if division.Code not in seen]
        entries += [_entry(division, consented=False) for division in unconsented]
        overview.known += [known_division(division, consented=False) for division in unconsented]
    except ApiError:
        overview.all_divisions_checked = False
    overview.divisions = sorted(entries, key=lambda entry: (not entry.practice, not entry.consented, entry.code))
    return overview


def _divisions(
    client: ExactClient, path: str, *, filter: str | None = None, anchor: int | None = None
) -> tuple[int, list[Division]]:
    """``path`` (``system/Divisions`` or ``system/AllDivisions``) read in the user's current division, or in the
    accounting division when the current one was left out at consent; returns that division and the rows."""
    from exactlink.api.errors import ForbiddenError
    from exactlink.api.models import Division

    me = client.me()
    anchors = [anchor] if anchor is not None else list(dict.fromkeys([me.CurrentDivision, me.AccountingDivision]))
    anchors = [code for code in anchors if code is not None]
    if not anchors:
        raise UsageError("Exact Online reports no current administration for this login")
    last_error: ForbiddenError | None = None
    for code in anchors:
        try:
            rows = client.get_collection(code, path, select=Division.select(), filter=filter)
            return code, Division.parse_all(rows)
        except ForbiddenError as error:
            last_error = error
    assert last_error is not None
    raise last_error


def practice_divisions(client: ExactClient) -> list[DivisionEntry]:
    """The practice (office) administrations this login sees: one filtered call after ``current/Me``.

    Falls back to listing every administration when Exact refuses the filter.
    """
    from exactlink.api.errors import ApiError
    from exactlink.api.forms import refuses_form

    try:
        _, rows = _divisions(client, "system/Divisions", filter="IsPracticeDivision eq true")
    except ApiError as error:
        if not refuses_form(error):
            raise
        return list_divisions(client).practice_divisions()
    return [_entry(division, consented=True) for division in rows if division.IsPracticeDivision]


def division_by_code(client: ExactClient, code: int) -> DivisionEntry | None:
    """The administration with this code as the login sees it (consented or not), or None: one filtered call
    (two when it is not among the consented ones) instead of listing every administration."""
    from exactlink.api.errors import ApiError
    from exactlink.api.forms import refuses_form

    condition = f"Code eq {int(code)}"
    try:
        anchor, rows = _divisions(client, "system/Divisions", filter=condition)
        if rows:
            return _entry(rows[0], consented=True)
        _, rows = _divisions(client, "system/AllDivisions", filter=condition, anchor=anchor)
    except ApiError as error:
        if not refuses_form(error):
            raise
        return next((entry for entry in list_divisions(client).divisions if entry.code == code), None)
    return _entry(rows[0], consented=False) if rows else None


class NamedDivision(Protocol):
    """Anything with a division code and name (``DivisionEntry``, ``admin_links.AdminDivision``)."""

    @property
    def code(self) -> int:
        """The division code."""
        ...

    @property
    def name(self) -> str:
        """The division's name."""
        ...


_Division = TypeVar("_Division", bound=NamedDivision)


def find_division(
    entries: Sequence[_Division], selector: str, *, select_command: str = "exactlink tenant select"
) -> _Division:
    """The administration a user means by ``selector``: its code, its exact name, or a unique part of its name.

    ``select_command`` is the command the hint for an ambiguous name suggests, followed by a code.

    Raises:
        UsageError: nothing matches, or several names match (the candidates are listed).
    """
    wanted = selector.strip()
    if wanted.isascii() and wanted.isdigit():
        # Compared as text: int() refuses numbers of thousands of digits, and no code has more than a few.
        for entry in entries:
            if str(entry.code) == wanted.lstrip("0"):
                return entry
        raise UsageError(
            f"administration {wanted} is not among the administrations this login sees",
            hint="run `exactlink tenant list`",
        )
    folded = wanted.casefold()
    exact = [entry for entry in entries if entry.name.casefold() == folded]
    candidates = exact or [entry for entry in entries if folded in entry.name.casefold()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UsageError(f"no administration is called {wanted!r}", hint="run `exactlink tenant list`")
    listed = "; ".join(f"{entry.code} {entry.name}" for entry in candidates[:10])
    more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    raise UsageError(
        f"{wanted!r} matches {len(candidates)} administrations: {listed}{more}",
        hint=f"select by code, e.g. `{select_command} {candidates[0].code}`",
    )


def choose_office(client: ExactClient, selector: str) -> tuple[DivisionEntry, list[str]]:
    """Resolve ``selector`` to an administration that can be the office administration; also warnings.

    Raises:
        UsageError: no match, an ambiguous name, or an administration the app has no consent for.
    """
    wanted = selector.strip()
    if wanted.isascii() and wanted.isdigit() and len(wanted.lstrip("0")) <= 10:
        found = division_by_code(client, int(wanted))
        if found is None:
            raise UsageError(
                f"administration {wanted} is not among the administrations this login sees",
                hint="run `exactlink tenant list`",
            )
        entry = found
    else:
        entry = find_division(list_divisions(client).divisions, selector)
    if not entry.consented:
        raise UsageError(
            f"the app was not given consent for administration {entry.code} {entry.name} "
            "(or this login has no access rights to it)",
            hint="run `exactlink login` again and consent for all administrations",
        )
    warnings = []
    if not entry.practice:
        warnings.append(
            f"administration {entry.code} is not marked as a practice (office) administration in Exact Online"
        )
    if entry.status != "active":
        warnings.append(f"administration {entry.code} is {entry.status}")
    if entry.blocked:
        warnings.append(f"administration {entry.code} is blocked: {entry.blocked}")
    return entry, warnings


def resolve_office(ws: Workspace, selector: str) -> tuple[DivisionEntry, list[str]]:
    """For ``tenant select``: ask Exact which administrations the login sees and resolve ``selector`` among them."""
    with ws.client() as client:
        return choose_office(client, selector)


def selection_json(entry: DivisionEntry, warnings: list[str], *, dry_run: bool) -> dict[str, Any]:
    """The ``tenant select --json`` document."""
    return {
        "division": entry.code,
        "name": entry.name,
        "flags": entry.flags(),
        "stored": not dry_run,
        "warnings": warnings,
    }


def selection_message(entry: DivisionEntry, *, dry_run: bool) -> str:
    """The line ``tenant select`` confirms its choice with."""
    if dry_run:
        return f"Would set the office administration to {entry.code} {entry.name} (dry run: nothing stored)"
    return f"Office administration set to {entry.code} {entry.name}"


def store_office(db: sqlite_utils.Database, entry: DivisionEntry, *, now: datetime) -> OfficeAdministration:
    """Record ``entry`` as the office administration, chosen at ``now``."""
    from exactlink.store.meta import set_office

    return set_office(db, entry.code, entry.name, now=now)


def current_office(db: sqlite_utils.Database) -> OfficeAdministration | None:
    """The chosen office administration, or ``None``."""
    from exactlink.store.meta import get_office

    return get_office(db)


def require_office(db: sqlite_utils.Database) -> OfficeAdministration:
    """The chosen office administration; every command that needs it calls this.

    Raises:
        NotConfigured: none was chosen yet.
    """
    office = current_office(db)
    if office is None:
        raise NotConfigured("no office administration chosen", hint="run `exactlink tenant select`")
    return office


def require_office_for(ws: Workspace) -> OfficeAdministration:
    """:func:`require_office` for a command: its refusal names the first set-up step still to do.

    Raises:
        NotConfigured: none was chosen yet; the hint follows the real order (configure, log in, select).
    """
    office = current_office(ws.db)
    if office is None:
        raise NotConfigured("no office administration chosen", hint=first_set_up_step(ws))
    return office


def first_set_up_step(ws: Workspace) -> str:
    """The next step of the set-up: configure the app, log in, or choose the office administration."""
    from exactlink.services.session import token_store

    if not ws.settings.exact.client_id.strip():
        return (
            "set up exactlink first: set client_id under [exact] in config.toml (`exactlink config init` writes "
            "the file), then `exactlink login` and `exactlink tenant select`"
        )
    if token_store(ws).load() is None:
        return "log in first: `exactlink login`, then `exactlink tenant select`"
    return "run `exactlink tenant select`"


def office_json(office: OfficeAdministration | None) -> dict[str, Any] | None:
    """The ``--json`` form of the office administration."""
    return (
        None
        if office is None
        else {"division": office.division, "name": office.name, "selected_at": office.selected_at}
    )


def list_divisions_with_office(ws: Workspace) -> tuple[TenantOverview, dict[str, Any] | None]:
    """For ``tenant list``: every administration the login sees, and the chosen office (``None`` if none).

    The listing is stored, so that a ``link-admin`` soon after does not read it again.
    """
    from exactlink.store.divisions import save_division_list

    read_at = ws.clock.now()  # before the reading: the picture is at least this old
    with ws.client() as client:
        overview = list_divisions(client)
    save_division_list(ws.db, overview.known, read_at=read_at, complete=overview.all_divisions_checked)
    return overview, office_json(current_office(ws.db))


def save_office(ws: Workspace, entry: DivisionEntry) -> OfficeAdministration:
    """For ``tenant select``: store ``entry`` as the office administration in the database."""
    return store_office(ws.db, entry, now=ws.clock.now())


def office_or_fail(ws: Workspace) -> OfficeAdministration:
    """The chosen office administration, or ``NotConfigured``."""
    return require_office_for(ws)
