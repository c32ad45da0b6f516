"""Keep the local mirror of the office administration's accounts up to date, at the fewest API calls.

``match`` and ``sync`` both start with :func:`refresh_office_mirror`. What it reads (exact-api.md §3, §4.8):

* ``sync/CRM/Accounts``, ``sync/CRM/Addresses``, ``sync/CRM/Contacts``: 1000 rows a page, ``$select`` with only
  the fields we use, ``$filter=Timestamp gt NL`` where N is the highest ``Timestamp`` stored for the entity
  (the first run asks ``Timestamp gt 1``). The plain ``crm/…`` lists are refused by Exact without a filter
  (mandatory filtering), and the sync endpoints are the ones Exact recommends for a full copy.
* ``crm/BankAccounts``: Exact has no sync twin for it, so it is read with ``$filter=Modified ge datetime'…'``
  (60 rows a page). The first run filters from 1900-01-01 (a filter that names no account, so it also passes
  mandatory filtering); later runs start :data:`MODIFIED_OVERLAP` before the newest ``Modified`` seen. The
  overlap covers rows changed while the previous run was reading (pages are cut by key, not by date, so a row
  edited behind the reader would otherwise be skipped for good) and ``Modified`` values that share a second.
  Rows re-read through the overlap whose ``Modified`` did not change are not written again.
* ``sync/Deleted`` (cursor like the sync endpoints): EntityType 2 accounts, 3 addresses and 5 contacts are
  applied to the mirror (an account's deletion also drops its children; a relation linked to it keeps its link
  and is reported as "account gone in Exact"); other entity types are skipped, 48 included: it sits among the
  payroll types and is probably ``sync/Payroll/BankAccounts`` (exact-evidence §4).

Full re-reads (exact-evidence §4). Cursors are only as good as the log behind them, so unless it is told to
trust them (``trust_cursors``) the refresh first checks two things, at one call:

* ``system/Divisions.DivisionMoveDate`` of the administration (one filtered read, ``Code eq N``): when it
  differs from the one stored, Exact moved the division to another database and every Timestamp restarted,
  so every entity is read again from the top.
* the age of the last complete ``sync/Deleted`` read: Exact forgets deletions after two months, so a read
  older than :data:`DELETED_LOG_TRUST` may have missed some; accounts, addresses and contacts are read again
  from the top.

Bank accounts have no deletion log at all: they are read from the top every
:data:`BANK_ACCOUNTS_FULL_READ_EVERY` (and on a division move). A full read remembers every ID Exact sent; at
its end, the mirrored rows Exact no longer sent are removed (the run reports how many). A full re-read once
decided is stored as pending, so a run killed in the middle starts it again rather than trusting a half read.

Crash safety: rows are written page by page, as Exact sent them (:meth:`ExactClient.get_pages`), and each page
is committed together with the entity's cursor in ONE transaction before the next page is requested. A run
killed at any point resumes from the last committed page; rows are upserted by Exact ``ID``, so reading a row
twice never duplicates it. The cursor stored after a page in the middle of the stream is the page's highest
``Timestamp`` *minus one*: a strict ``gt`` cursor at a page boundary would drop
rows that share the boundary's Timestamp (the Nango review in anchors.md), and minus one re-reads at most
those rows. It is only moved while the stream is observed in ascending ``Timestamp`` order (the order Exact
pages sync endpoints in); if a stream ever arrives out of order, no mid-stream checkpoint is taken and the
cursor moves only once the whole stream has been read. At the end of a complete stream the cursor is the
exact highest Timestamp seen, so a run with nothing changed costs exactly one call per entity and reads no
rows (plus, unless ``trust_cursors``, the one ``system/Divisions`` call above).

"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from exactlink.domain.entities import (
    BY_DELETED_TYPE,
    BY_NAME,
    MIRRORED,
    AccountAddress,
    AccountBankAccount,
    AccountContact,
    MirroredRecord,
    OfficeAccount,
    from_exact,
    select,
)

if TYPE_CHECKING:
    import sqlite_utils

    from exactlink.api.client import ExactClient

log = logging.getLogger(__name__)

SYNC_PAGE_SIZE = 1000
CRUD_PAGE_SIZE = 60
MODIFIED_OVERLAP = timedelta(minutes=10)
FIRST_MODIFIED_DAY = date(1900, 1, 1)
FIRST_TIMESTAMP = 1
DELETED_LOG_TRUST = timedelta(days=55)
"""How old the last complete ``sync/Deleted`` read may be before deletions could have been missed. Exact keeps
deleted entries for two months only (exact-evidence §4); the shortest two months (February and March) are 59
days, and 55 leaves a margin for a long run and a clock that is a little off."""
BANK_ACCOUNTS_FULL_READ_EVERY = timedelta(days=7)
"""How often ``crm/BankAccounts`` is read from the top to find deleted bank accounts (Exact reports no CRM bank
account deletions). At 60 rows a call this costs one call per 60 bank accounts a week; a bank account deleted
in Exact stays in the mirror at most this long."""
DIVISIONS_ENDPOINT = "system/Divisions"
DIVISION = "division"

ACCOUNTS = OfficeAccount.ENTITY.name
ADDRESSES = AccountAddress.ENTITY.name
CONTACTS = AccountContact.ENTITY.name
BANK_ACCOUNTS = AccountBankAccount.ENTITY.name
DELETED = "deleted"

ALL_ENTITIES: tuple[str, ...] = (ACCOUNTS, ADDRESSES, CONTACTS, BANK_ACCOUNTS, DELETED)

# What each entity reads and where it goes is declared once, in ``exactlink.domain.entities``.
DELETED_FIELDS: tuple[str, ...] = ("Timestamp", "EntityKey", "EntityType")
BANK_ACCOUNTS_ENDPOINT = AccountBankAccount.ENTITY.endpoint
DELETED_ENDPOINT = "sync/Deleted"

_SYNCED: dict[str, type[MirroredRecord]] = {
    kind.ENTITY.name: kind for kind in (OfficeAccount, AccountAddress, AccountContact)
}

ENDPOINTS: dict[str, str] = {**{kind.ENTITY.name: kind.ENTITY.endpoint for kind in MIRRORED}, DELETED: DELETED_ENDPOINT}
PAGE_SIZES: dict[str, int] = {
    ACCOUNTS: SYNC_PAGE_SIZE,
    ADDRESSES: SYNC_PAGE_SIZE,
    CONTACTS: SYNC_PAGE_SIZE,
    BANK_ACCOUNTS: CRUD_PAGE_SIZE,
    DELETED: SYNC_PAGE_SIZE,
}

Progress = Callable[[str, int], None]


@dataclass
class EntityStats:
    """What refreshing one entity cost and brought.

    ``calls`` counts the pages Exact answered (one successful GET each; an empty answer is one call; retries of
    5xx/429 answers are not counted, the client's error budget and rate-limit state keep those).
    ``rows`` is what Exact sent, ``changed`` what was written (or, for
    ``deleted``, removed from the mirror). ``full`` is true on the first read (no cursor yet).
    """

    entity: str
    endpoint: str
    page_size: int
    calls: int = 0
    rows: int = 0
    changed: int = 0
    full: bool = False
    cursor_before: int | None = None
    cursor_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "entity": self.entity,
            "endpoint": self.endpoint,
            "calls": self.calls,
            "rows": self.rows,
            "changed": self.changed,
            "full": self.full,
            "cursor_before": self.cursor_before,
            "cursor_after": self.cursor_after,
        }


@dataclass
class MirrorStats:
    """The outcome of :func:`refresh_office_mirror`: per-entity stats, deletions and links dropped with them.

    ``gone`` lists the relation numbers whose linked account was removed from the mirror in this refresh (their
    link is kept and reported as "account gone in Exact"). ``deleted`` counts mirror rows removed per entity,
    whether ``sync/Deleted`` named them or a full read no longer found them. ``full_reads`` says, per entity
    read again from the top, why (a first read is not listed). The ``division`` entry of ``entities`` is the
    ``system/Divisions`` read that checks for a division move.
    """

    division: int
    entities: dict[str, EntityStats] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    full_reads: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        """Pages requested over all entities."""
        return sum(stats.calls for stats in self.entities.values())

    @property
    def rows(self) -> int:
        """Rows received over all entities."""
        return sum(stats.rows for stats in self.entities.values())

    @property
    def changed(self) -> int:
        """Rows written or removed over all entities."""
        return sum(stats.changed for stats in self.entities.values())

    def calls_by_entity(self) -> dict[str, int]:
        """``{entity: calls}``."""
        return {name: stats.calls for name, stats in self.entities.items()}

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``entities`` keyed by entity name)."""
        return {
            "division": self.division,
            "calls": self.calls,
            "rows": self.rows,
            "changed": self.changed,
            "entities": {name: stats.to_json() for name, stats in self.entities.items()},
            "deleted": dict(self.deleted),
            "gone": list(self.gone),
            "full_reads": dict(self.full_reads),
        }

    def removed_lines(self) -> list[str]:
        """One line per entity with removed rows, as an office reads it."""
        return [
            f"{count} {(_SINGULAR if count == 1 else _PLURAL)[entity]} no longer in Exact: removed from the mirror"
            for entity, count in self.deleted.items()
            if count
        ]


_SINGULAR = {ACCOUNTS: "account", ADDRESSES: "address", CONTACTS: "contact person", BANK_ACCOUNTS: "bank account"}
_PLURAL = {ACCOUNTS: "accounts", ADDRESSES: "addresses", CONTACTS: "contact persons", BANK_ACCOUNTS: "bank accounts"}


def lower_bound_calls(rows_per_entity: Mapping[str, int]) -> int:
    """The fewest calls the page sizes allow for these row counts (at least one call per entity)."""
    return sum(max(1, -(-rows // PAGE_SIZES[entity])) for entity, rows in rows_per_entity.items())


def select_fields(entity: str) -> list[str]:
    """The ``$select`` list used for ``entity``."""
    if entity == DELETED:
        return list(DELETED_FIELDS)
    return select(BY_NAME[entity])


def refresh_office_mirror(
    client: ExactClient,
    db: sqlite_utils.Database,
    office_division: int,
    *,
    entities: Sequence[str] = ALL_ENTITIES,
    progress: Progress | None = None,
    now: datetime,
    trust_cursors: bool = False,
) -> MirrorStats:
    """Bring the mirror of the office administration up to date with Exact Online; return what it cost.

    Args:
        client: an authenticated client (``Workspace.client()``).
        db: the open mirror (``Workspace.db``).
        office_division: the office administration's division code.
        entities: which of ``accounts``, ``addresses``, ``contacts``, ``bank_accounts``, ``deleted`` to refresh,
            refreshed in the order of :data:`ALL_ENTITIES` whatever the order given.
        progress: called as ``progress(entity, rows_so_far)`` after every committed page (and once when an
            entity is done). An exception it raises stops the refresh; everything committed so far stays.
        now: the workspace clock's time: it dates every row and cursor written. Unless ``trust_cursors``, the
            refresh first checks whether its cursors can still be trusted (a division move, an old ``sync/Deleted``
            read, bank accounts due a full read; see the module text) and remembers when each entity was read.
        trust_cursors: take the cursors as they are (a full re-read decided earlier and not finished is still
            carried out), as a quick refresh before one manual link does.

    The caller holds the run lock. API errors (``exactlink.api.errors``) propagate after the pages already
    read were committed, so the next run carries on from there.

    Raises:
        ValueError: an unknown entity name.
    """
    from exactlink.store.accounts import get_mirror_state, save_mirror_state

    unknown = sorted(set(entities).difference(ALL_ENTITIES))
    if unknown:
        raise ValueError(f"unknown mirror entities: {', '.join(unknown)}")
    stats = MirrorStats(division=int(office_division))
    if not trust_cursors:
        _plan_full_reads(client, db, stats, entities, now)
    for entity in ALL_ENTITIES:
        if entity not in entities:
            continue
        if entity == BANK_ACCOUNTS:
            stats.entities[entity] = _refresh_bank_accounts(client, db, stats, progress, now)
        elif entity == DELETED:
            stats.entities[entity] = _refresh_deleted(client, db, stats, progress, now)
        else:
            stats.entities[entity] = _refresh_sync_entity(client, db, stats, entity, progress, now)
        entity_stats = stats.entities[entity]
        if not trust_cursors and (entity == DELETED or entity_stats.full):
            # Only what a later run judges by: when sync/Deleted was read, and when each full read was.
            state = get_mirror_state(db, stats.division)
            moment = now.astimezone(UTC).isoformat(timespec="seconds")
            if entity == DELETED:
                state.read_at[entity] = moment
            if entity_stats.full:
                state.full_read_at[entity] = moment
            save_mirror_state(db, stats.division, state, now=now)
        log.info(
            "office mirror %s: %d call(s), %d row(s), %d changed%s",
            entity,
            entity_stats.calls,
            entity_stats.rows,
            entity_stats.changed,
            " (full read)" if entity_stats.full else "",
        )
    stats.gone.sort()
    return stats


def _plan_full_reads(
    client: ExactClient, db: sqlite_utils.Database, stats: MirrorStats, entities: Sequence[str], now: datetime
) -> None:
    """Decide (and store as pending) which entities must be read again from the top, and why."""
    from exactlink.store.accounts import CURSOR_NAMES, get_cursor, get_mirror_state, reset_cursor, save_mirror_state
    from exactlink.store.db import transaction

    division = stats.division
    state = get_mirror_state(db, division)
    move_date = _division_move_date(client, stats)
    has_cursors = any(get_cursor(db, division, name) is not None for name in CURSOR_NAMES)
    reasons: dict[str, str] = {}
    moved = move_date != state.move_date if state.move_date_known else move_date is not None and has_cursors
    if moved and has_cursors:
        when = move_date[:10] if move_date else "an unknown date"
        for entity in ALL_ENTITIES:
            if entity != DELETED:
                reasons[entity] = f"the administration was moved to another database in Exact Online ({when})"
    else:
        moved = False
        deleted_read = state.read_at.get(DELETED)
        if DELETED in entities and any(get_cursor(db, division, name) is not None for name in _SYNCED):
            age = _age(now, deleted_read)
            if age is None or age > DELETED_LOG_TRUST:
                why = (
                    f"sync/Deleted was last read {age.days} days ago and Exact keeps deletions for two months only"
                    if age is not None
                    else "it is not known when sync/Deleted was last read (Exact keeps deletions for two months only)"
                )
                for entity in (ACCOUNTS, ADDRESSES, CONTACTS):
                    reasons[entity] = why
        if BANK_ACCOUNTS in entities and get_cursor(db, division, BANK_ACCOUNTS) is not None:
            age = _age(now, state.full_read_at.get(BANK_ACCOUNTS))
            if age is None or age > BANK_ACCOUNTS_FULL_READ_EVERY:
                reasons[BANK_ACCOUNTS] = "bank accounts are read in full weekly to find the ones deleted in Exact"
    pending = [entity for entity in ALL_ENTITIES if entity in reasons or entity in state.pending_full]
    if moved or (move_date, True, pending) != (state.move_date, state.move_date_known, state.pending_full):
        # Written only when something changed: a run that then fails leaves the database as it was.
        with transaction(db):
            if moved:
                # Every Timestamp restarted lower: no stored cursor means anything any more, sync/Deleted's included.
                reset_cursor(db, division)
            state.move_date, state.move_date_known, state.pending_full = move_date, True, pending
            save_mirror_state(db, division, state, now=now)
    stats.full_reads.update(reasons)
    for entity, why in reasons.items():
        log.info("office mirror %s: reading it again from the top: %s", entity, why)


def _division_move_date(client: ExactClient, stats: MirrorStats) -> str | None:
    """``DivisionMoveDate`` of the administration (ISO text, or None when Exact has none): one filtered read."""
    from exactlink.api.errors import ApiError
    from exactlink.api.odata import parse_date

    division = stats.division
    row = client.get_first(
        division, DIVISIONS_ENDPOINT, select=["Code", "DivisionMoveDate"], filter=f"Code eq {division}"
    )
    stats.entities[DIVISION] = EntityStats(DIVISION, DIVISIONS_ENDPOINT, 1, calls=1, rows=1 if row else 0)
    if row is None:
        raise ApiError(
            f"Exact Online did not list administration {division} in system/Divisions (no access, or no consent)",
            division=division,
            endpoint=DIVISIONS_ENDPOINT,
        )
    moved = parse_date(row.get("DivisionMoveDate"))
    return moved.isoformat(timespec="seconds") if moved is not None else None


def _age(now: datetime, moment: str | None) -> timedelta | None:
    if not moment:
        return None
    return now.astimezone(UTC) - datetime.fromisoformat(moment)


def _finish_full_read(
    db: sqlite_utils.Database, stats: MirrorStats, kind: type[MirroredRecord], seen: set[str], now: datetime
) -> int:
    """After a complete read from the top: remove what Exact no longer sent; the entity is no longer pending."""
    from exactlink.store.accounts import apply_deletions, get_mirror_state, missing_ids, save_mirror_state
    from exactlink.store.db import transaction

    name = kind.ENTITY.name
    with transaction(db):
        outcome = apply_deletions(db, kind, missing_ids(db, kind, stats.division, seen))
        state = get_mirror_state(db, stats.division)
        if name in state.pending_full:
            state.pending_full.remove(name)
            save_mirror_state(db, stats.division, state, now=now)
    if outcome.deleted:
        stats.deleted[name] = stats.deleted.get(name, 0) + outcome.deleted
        stats.gone.extend(outcome.gone)
        log.info("office mirror %s: %d no longer in Exact, removed", name, outcome.deleted)
    return outcome.deleted


def _full_read_due(db: sqlite_utils.Database, division: int, entity: str) -> bool:
    """True when ``entity`` must be read from the top: never read, or a full re-read is pending."""
    from exactlink.store.accounts import get_cursor, get_mirror_state

    return get_cursor(db, division, entity) is None or entity in get_mirror_state(db, division).pending_full


# --------------------------------------------------------------------------------------------------
# Reading in page-sized chunks


def _int64(value: Any) -> int:
    """Exact sends Int64 values (``Timestamp``) as JSON strings."""
    return int(str(value).strip().rstrip("Ll"))


def _timestamp(raw: Mapping[str, Any], endpoint: str, division: int, *, key: str | None = "ID") -> int:
    """The row's sync ``Timestamp``, after checking the row has it (and its ``key``).

    Raises:
        ApiError: Exact sent a row without a usable Timestamp or key; nothing of that page is stored.
    """
    from exactlink.api.errors import ApiError

    try:
        stamp = _int64(raw["Timestamp"])
    except (KeyError, ValueError, TypeError):
        stamp = None
    if stamp is None or (key is not None and not raw.get(key)):
        missing = "Timestamp" if stamp is None else key
        raise ApiError(
            f"Exact Online sent a row of {endpoint} without a usable {missing}; nothing of that page was stored",
            division=division,
            endpoint=endpoint,
        )
    return stamp


class _TimestampCursor:
    """Tracks the Timestamp cursor of one sync stream and decides what may be committed with each chunk."""

    def __init__(self, start: int | None) -> None:
        self.start = start
        self.highest = start or 0
        self.ordered = True
        self._last = start or 0

    def observe(self, timestamps: Iterable[int]) -> None:
        for timestamp in timestamps:
            if timestamp < self._last:
                if self.ordered:
                    log.warning("a sync stream arrived out of Timestamp order; checkpointing at its end only")
                self.ordered = False
            self._last = max(self._last, timestamp)
            self.highest = max(self.highest, timestamp)

    def checkpoint(self) -> int | None:
        """The cursor safe to store mid-stream: one below the highest Timestamp, while the order holds."""
        if not self.ordered or self.highest - 1 <= (self.start or 0):
            return None
        return self.highest - 1

    def final(self) -> int | None:
        """The cursor to store after the whole stream was read."""
        return self.highest if self.highest > (self.start or 0) else None


def _read_sync_stream(
    client: ExactClient,
    db: sqlite_utils.Database,
    stats: EntityStats,
    division: int,
    progress: Progress | None,
    write_page: Callable[[list[dict[str, Any]], list[int]], int],
    now: datetime,
    *,
    key: str | None = "ID",
) -> None:
    """Read one ``Timestamp gt`` stream page by page into ``stats`` (calls, rows, changed, cursor_after).

    ``write_page(rows, timestamps)`` stores one page and returns how many mirror rows it changed; it runs in
    the transaction that also stores the page's checkpoint (see the module text). ``key`` is the field every
    row must have besides its Timestamp.
    """
    from exactlink.api.odata import int64_literal
    from exactlink.store.accounts import get_cursor, set_cursor
    from exactlink.store.db import transaction

    entity, endpoint, start = stats.entity, stats.endpoint, stats.cursor_before
    cursor = _TimestampCursor(start)
    pages = client.get_pages(
        division,
        endpoint,
        select=select_fields(entity),
        filter=f"Timestamp gt {int64_literal(start if start is not None else FIRST_TIMESTAMP)}",
    )
    for page in pages:
        stats.calls += 1
        stamps = [_timestamp(raw, endpoint, division, key=key) for raw in page]
        cursor.observe(stamps)
        checkpoint = cursor.checkpoint()
        with transaction(db):
            stats.changed += write_page(page, stamps)
            if checkpoint is not None:
                set_cursor(db, division, entity, checkpoint, now=now)
        stats.rows += len(page)
        if progress is not None:
            progress(entity, stats.rows)
    final = cursor.final()
    if final is not None:
        set_cursor(db, division, entity, final, now=now)
    stats.cursor_after = get_cursor(db, division, entity)
    if progress is not None:
        progress(entity, stats.rows)


def _refresh_sync_entity(
    client: ExactClient,
    db: sqlite_utils.Database,
    mirror: MirrorStats,
    entity: str,
    progress: Progress | None,
    now: datetime,
) -> EntityStats:
    from exactlink.store.accounts import get_cursor, reset_cursor, save_records

    division = mirror.division
    kind = _SYNCED[entity]
    full = _full_read_due(db, division, entity)
    if full:
        reset_cursor(db, division, entity)
    start = get_cursor(db, division, entity)
    stats = EntityStats(entity, kind.ENTITY.endpoint, SYNC_PAGE_SIZE, full=full, cursor_before=start)
    seen: set[str] = set()

    def write_page(page: list[dict[str, Any]], stamps: list[int]) -> int:
        records = [
            from_exact(kind, raw, division=division, timestamp=stamp) for raw, stamp in zip(page, stamps, strict=True)
        ]
        if full:
            seen.update(record.id for record in records)
        return save_records(db, records, now=now)

    _read_sync_stream(client, db, stats, division, progress, write_page, now)
    if full:
        stats.changed += _finish_full_read(db, mirror, kind, seen, now)
    return stats


def _modified_ms(value: Any) -> int:
    from exactlink.api.odata import parse_date

    parsed = parse_date(value)
    if parsed is None:
        return 0
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _refresh_bank_accounts(
    client: ExactClient, db: sqlite_utils.Database, mirror: MirrorStats, progress: Progress | None, now: datetime
) -> EntityStats:
    from exactlink.api.odata import datetime_literal, exact_midnight
    from exactlink.store.accounts import get_cursor, save_records, set_cursor, stored_timestamps
    from exactlink.store.db import transaction

    division = mirror.division
    start = get_cursor(db, division, BANK_ACCOUNTS)  # milliseconds since the epoch of the newest Modified
    full = _full_read_due(db, division, BANK_ACCOUNTS)
    stats = EntityStats(BANK_ACCOUNTS, BANK_ACCOUNTS_ENDPOINT, CRUD_PAGE_SIZE, full=full, cursor_before=start)
    seen: set[str] = set()
    first = exact_midnight(FIRST_MODIFIED_DAY)
    if full or start is None:
        since = first
    else:
        since = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=start) - MODIFIED_OVERLAP
        since = max(since, first).replace(microsecond=0)
    pages = client.get_pages(
        division,
        BANK_ACCOUNTS_ENDPOINT,
        select=select_fields(BANK_ACCOUNTS),
        filter=f"Modified ge {datetime_literal(since)}",
    )
    highest = start or 0
    for page in pages:
        stats.calls += 1
        records = [
            from_exact(AccountBankAccount, raw, division=division, timestamp=_modified_ms(raw.get("Modified")))
            for raw in page
        ]
        highest = max([highest, *(record.timestamp for record in records)])
        seen.update(record.id for record in records)
        # Rows re-read through the overlap whose Modified did not change are not written again.
        stored = stored_timestamps(db, AccountBankAccount, [record.id for record in records])
        changed = [record for record in records if stored.get(record.id) != record.timestamp]
        # Pages are cut by ID, not by Modified: the cursor may only move once the whole stream was read.
        with transaction(db):
            stats.changed += save_records(db, changed, now=now)
        stats.rows += len(page)
        if progress is not None:
            progress(BANK_ACCOUNTS, stats.rows)
    if highest > (start or 0):
        set_cursor(db, division, BANK_ACCOUNTS, highest, now=now)
    if full:
        stats.changed += _finish_full_read(db, mirror, AccountBankAccount, seen, now)
    stats.cursor_after = get_cursor(db, division, BANK_ACCOUNTS)
    if progress is not None:
        progress(BANK_ACCOUNTS, stats.rows)
    return stats


def _refresh_deleted(
    client: ExactClient, db: sqlite_utils.Database, mirror: MirrorStats, progress: Progress | None, now: datetime
) -> EntityStats:
    from exactlink.store.accounts import apply_deletions, get_cursor

    division = mirror.division
    start = get_cursor(db, division, DELETED)
    stats = EntityStats(DELETED, DELETED_ENDPOINT, SYNC_PAGE_SIZE, full=start is None, cursor_before=start)

    def write_page(page: list[dict[str, Any]], _stamps: list[int]) -> int:
        keys: dict[int, list[str]] = {}
        for raw in page:
            entity_type = int(raw.get("EntityType") or 0)
            key = str(raw.get("EntityKey") or "").lower()
            if entity_type in BY_DELETED_TYPE and key:
                keys.setdefault(entity_type, []).append(key)
        removed = 0
        for entity_type, entity_keys in sorted(keys.items()):
            kind = BY_DELETED_TYPE[entity_type]
            outcome = apply_deletions(db, kind, entity_keys)
            name = kind.ENTITY.name
            if outcome.deleted:
                mirror.deleted[name] = mirror.deleted.get(name, 0) + outcome.deleted
            removed += outcome.deleted
            mirror.gone.extend(outcome.gone)
        return removed

    _read_sync_stream(client, db, stats, division, progress, write_page, now, key=None)
    return stats
