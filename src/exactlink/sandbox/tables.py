"""Per-division entity tables with the indexes the endpoints page through.

A :class:`Table` wraps one ``{key: record}`` dict of the generated data and keeps, incrementally:

- the keys in sorted order (normal and bulk endpoints page by key, so a ``$skiptoken`` is a key and a
  page request is a bisect, not a re-sort);
- an append-only log of ``(Timestamp, key)`` (sync endpoints page by rowversion; stale entries of
  records written again are skipped and the log is compacted when half of it is stale);
- equality indexes per property, built on first use and maintained on every write (``Account eq
  guid'…'`` or a padded ``Code eq '…'`` touches only the matching records).

The caller (the ``Sandbox``) holds its lock around every call; a table is not thread-safe on its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

Record = dict[str, Any]


def _index_value(value: Any) -> Any:
    """How a record value is keyed in an equality index (GUIDs case-insensitively, as the filter compares them)."""
    if isinstance(value, str):
        return value.lower() if len(value) == 36 and value.count("-") == 4 else value
    return value


class Table:
    """One entity table of one division."""

    def __init__(self, name: str, key_field: str, records: dict[str, Record]) -> None:
        self.name = name
        self.key_field = key_field
        self.records = records
        self._sorted_keys: list[str] = sorted(records)
        self._timestamp_log: list[tuple[int, str]] = []
        self._stale_entries = 0
        self._indexes: dict[str, dict[Any, set[str]]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> Record | None:
        """The record with this key, or None."""
        return self.records.get(key)

    # -- ordered access ---------------------------------------------------------------------------

    def keys_after(self, last_key: str | None) -> Iterator[str]:
        """Keys in ascending order, starting after ``last_key`` (from the start when None)."""
        start = 0 if last_key is None else bisect.bisect_right(self._sorted_keys, last_key)
        # A snapshot slice: the caller may write while iterating (never happens under the lock, but be safe).
        yield from self._sorted_keys[start:]

    def candidate_keys(self, equalities: list[tuple[str, Any]], last_key: str | None) -> Iterator[str] | None:
        """Keys (ascending, after ``last_key``) of records matching the smallest equality bucket, or None."""
        best: set[str] | None = None
        for field, value in equalities:
            bucket = self._index(field).get(_index_value(value), set())
            if best is None or len(bucket) < len(best):
                best = bucket
        if best is None:
            return None
        ordered = sorted(best)
        start = 0 if last_key is None else bisect.bisect_right(ordered, last_key)
        return iter(ordered[start:])

    def changed_after(self, timestamp: int) -> Iterator[Record]:
        """Records whose current Timestamp is greater than ``timestamp``, in Timestamp order."""
        start = bisect.bisect_right(self._timestamp_log, (timestamp, "\uffff"))
        for stamp, key in self._timestamp_log[start:]:
            record = self.records.get(key)
            if record is not None and record.get("Timestamp") == stamp:
                yield record

    # -- writes -------------------------------------------------------------------------------------

    def stamp(self, key: str, timestamp: int) -> None:
        """Record that ``key`` was written with rowversion ``timestamp`` (must be higher than any before)."""
        record = self.records[key]
        if record.get("Timestamp") is not None:
            self._stale_entries += 1
        record["Timestamp"] = timestamp
        self._timestamp_log.append((timestamp, key))
        if self._stale_entries > 1000 and self._stale_entries * 2 > len(self._timestamp_log):
            self._compact_log()

    def restamp_all(self, next_timestamp: Callable[[], int]) -> None:
        """Give every record a new Timestamp from ``next_timestamp`` (key order), forgetting the old ones."""
        self._timestamp_log = []
        self._stale_entries = 0
        for key in self._sorted_keys:
            stamp = next_timestamp()
            self.records[key]["Timestamp"] = stamp
            self._timestamp_log.append((stamp, key))

    def insert(self, record: Record, timestamp: int) -> None:
        """Add a new record and stamp it."""
        key = record[self.key_field]
        self.records[key] = record
        bisect.insort(self._sorted_keys, key)
        for field, index in self._indexes.items():
            index.setdefault(_index_value(record.get(field)), set()).add(key)
        self.stamp(key, timestamp)

    def update(self, key: str, changes: dict[str, Any], timestamp: int) -> Record:
        """Apply ``changes`` to the record and stamp it; keeps the equality indexes right."""
        record = self.records[key]
        for field, index in self._indexes.items():
            if field in changes:
                old = _index_value(record.get(field))
                bucket = index.get(old)
                if bucket is not None:
                    bucket.discard(key)
                index.setdefault(_index_value(changes[field]), set()).add(key)
        record.update(changes)
        self.stamp(key, timestamp)
        return record

    def remove(self, key: str) -> Record:
        """Delete a record (its log entries become stale)."""
        record = self.records.pop(key)
        position = bisect.bisect_left(self._sorted_keys, key)
        if position < len(self._sorted_keys) and self._sorted_keys[position] == key:
            del self._sorted_keys[position]
        for field, index in self._indexes.items():
            bucket = index.get(_index_value(record.get(field)))
            if bucket is not None:
                bucket.discard(key)
        self._stale_entries += 1
        return record

    # -- internals ----------------------------------------------------------------------------------

    def _index(self, field: str) -> dict[Any, set[str]]:
        index = self._indexes.get(field)
        if index is None:
            index = {}
            for key, record in self.records.items():
                index.setdefault(_index_value(record.get(field)), set()).add(key)
            self._indexes[field] = index
        return index

    def _compact_log(self) -> None:
        self._timestamp_log = sorted(
            (record["Timestamp"], key) for key, record in self.records.items() if record.get("Timestamp") is not None
        )
        self._stale_entries = 0
