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
* ``sync/Deleted`` (cursor like the sync endpoints): EntityType 2 accounts, 3 addresses, 5 contacts and 48 bank
  accounts are applied to the mirror (an account's deletion also drops its children and any relation's link
  to it); other entity types are skipped.

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
rows.

Not handled here: a division move in Exact resets its timestamps (``system/Divisions.DivisionMoveDate``);
``exactlink.store.accounts.clear_division`` followed by a refresh is the full resync for that case.
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

    ``unlinked`` lists the relation numbers whose linked account was deleted in Exact Online (their link is
    gone from the mirror). ``deleted`` counts removed mirror rows per entity.
    """

    division: int
    entities: dict[str, EntityStats] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    unlinked: list[str] = field(default_factory=list)

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
            "unlinked": list(self.unlinked),
        }


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

    The caller holds the run lock. API errors (``exactlink.api.errors``) propagate after the pages already
    read were committed, so the next run carries on from there.

    Raises:
        ValueError: an unknown entity name.
    """
    unknown = sorted(set(entities).difference(ALL_ENTITIES))
    if unknown:
        raise ValueError(f"unknown mirror entities: {', '.join(unknown)}")
    stats = MirrorStats(division=int(office_division))
    for entity in ALL_ENTITIES:
        if entity not in entities:
            continue
        if entity == BANK_ACCOUNTS:
            stats.entities[entity] = _refresh_bank_accounts(client, db, stats.division, progress)
        elif entity == DELETED:
            stats.entities[entity] = _refresh_deleted(client, db, stats, progress)
        else:
            stats.entities[entity] = _refresh_sync_entity(client, db, stats.division, entity, progress)
        entity_stats = stats.entities[entity]
        log.info(
            "office mirror %s: %d call(s), %d row(s), %d changed",
            entity,
            entity_stats.calls,
            entity_stats.rows,
            entity_stats.changed,
        )
    return stats


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
                set_cursor(db, division, entity, checkpoint)
        stats.rows += len(page)
        if progress is not None:
            progress(entity, stats.rows)
    final = cursor.final()
    if final is not None:
        set_cursor(db, division, entity, final)
    stats.cursor_after = get_cursor(db, division, entity)
    if progress is not None:
        progress(entity, stats.rows)


def _refresh_sync_entity(
    client: ExactClient, db: sqlite_utils.Database, division: int, entity: str, progress: Progress | None
) -> EntityStats:
    from exactlink.store.accounts import get_cursor, save_records

    kind = _SYNCED[entity]
    start = get_cursor(db, division, entity)
    stats = EntityStats(entity, kind.ENTITY.endpoint, SYNC_PAGE_SIZE, full=start is None, cursor_before=start)

    def write_page(page: list[dict[str, Any]], stamps: list[int]) -> int:
        records = [
            from_exact(kind, raw, division=division, timestamp=stamp) for raw, stamp in zip(page, stamps, strict=True)
        ]
        return save_records(db, records)

    _read_sync_stream(client, db, stats, division, progress, write_page)
    return stats


def _modified_ms(value: Any) -> int:
    from exactlink.api.odata import parse_date

    parsed = parse_date(value)
    if parsed is None:
        return 0
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _refresh_bank_accounts(
    client: ExactClient, db: sqlite_utils.Database, division: int, progress: Progress | None
) -> EntityStats:
    from exactlink.api.odata import datetime_literal, exact_midnight
    from exactlink.store.accounts import get_cursor, save_records, set_cursor, stored_timestamps
    from exactlink.store.db import transaction

    start = get_cursor(db, division, BANK_ACCOUNTS)  # milliseconds since the epoch of the newest Modified
    stats = EntityStats(BANK_ACCOUNTS, BANK_ACCOUNTS_ENDPOINT, CRUD_PAGE_SIZE, full=start is None, cursor_before=start)
    first = exact_midnight(FIRST_MODIFIED_DAY)
    if start is None:
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
        # Rows re-read through the overlap whose Modified did not change are not written again.
        stored = stored_timestamps(db, AccountBankAccount, [record.id for record in records])
        changed = [record for record in records if stored.get(record.id) != record.timestamp]
        # Pages are cut by ID, not by Modified: the cursor may only move once the whole stream was read.
        with transaction(db):
            stats.changed += save_records(db, changed)
        stats.rows += len(page)
        if progress is not None:
            progress(BANK_ACCOUNTS, stats.rows)
    if highest > (start or 0):
        set_cursor(db, division, BANK_ACCOUNTS, highest)
    stats.cursor_after = get_cursor(db, division, BANK_ACCOUNTS)
    if progress is not None:
        progress(BANK_ACCOUNTS, stats.rows)
    return stats


def _refresh_deleted(
    client: ExactClient, db: sqlite_utils.Database, mirror: MirrorStats, progress: Progress | None
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
            mirror.deleted[name] = mirror.deleted.get(name, 0) + outcome.deleted
            removed += outcome.deleted
            mirror.unlinked.extend(outcome.unlinked)
        return removed

    _read_sync_stream(client, db, stats, division, progress, write_page, key=None)
    mirror.unlinked.sort()
    return stats
