"""The sandbox's mutable state per division: entity tables, the sync/Deleted log and the rowversion counter."""

from __future__ import annotations

from typing import Any

from exactlink.sandbox import model, odata, schema
from exactlink.sandbox.model import DivisionData
from exactlink.sandbox.tables import Table

Record = dict[str, Any]

# Registry key for properties the generator added to system/Divisions records.
DIVISIONS_KEY = "system/Divisions"

# Schema per table, for the "properties the generator added" registry.
TABLE_PROPERTIES: dict[str, dict[str, str]] = {
    model.ACCOUNTS: schema.ACCOUNT,
    model.ADDRESSES: schema.ADDRESS,
    model.CONTACTS: schema.CONTACT,
    model.BANK_ACCOUNTS: schema.BANK_ACCOUNT,
    model.SOLUTION_LINKS: schema.SOLUTION_LINK,
    model.RETURNS: schema.RETURN,
    model.GL_ACCOUNTS: schema.GL_ACCOUNT,
    model.TRANSACTION_LINES: schema.TRANSACTION_LINE,
    DIVISIONS_KEY: schema.DIVISION,
}


def key_field_of(table: str) -> str:
    """The key property of a table (``DocumentID`` for returns, ``ID`` elsewhere)."""
    return "DocumentID" if table == model.RETURNS else "ID"


class DivisionState:
    """One division's tables. Loaded on first use so a 20,000-division sandbox starts quickly.

    Loading stamps every record with a rowversion ``Timestamp`` from the division's own counter (tables
    in model order, records in generator order), so the same data always gets the same timestamps.
    """

    def __init__(self, data: DivisionData, extras: dict[str, dict[str, str]]) -> None:
        self.code = data.code
        self.record = data.record
        self._data = data
        self._extras = extras
        self._tables: dict[str, Table] | None = None
        self.deleted = Table("sync/Deleted", "ID", {})
        self.rowversion = 100_000 + (data.code % 977) * 1_000

    def next_timestamp(self) -> int:
        """The next rowversion of this division."""
        self.rowversion += 1
        return self.rowversion

    def move(self) -> None:
        """Moved to another database: every Timestamp starts again, lower than any cursor of before."""
        self.rowversion = 1_000
        for table in self.tables.values():
            table.restamp_all(self.next_timestamp)
        self.deleted = Table("sync/Deleted", "ID", {})

    @property
    def loaded(self) -> bool:
        """Whether the tables were loaded (and stamped): a division never loaded is still as generated."""
        return self._tables is not None

    def restore(self, rowversion: int, deleted: dict[str, Record]) -> None:
        """Reopen a saved division: every record (and deletion) keeps the Timestamp it was saved with."""
        self._tables = {}
        for name in model.TABLES:
            records = self._data.tables.setdefault(name, {})
            register_extras(self._extras, name, records.values())
            self._tables[name] = _restamped(Table(name, key_field_of(name), records))
        self.deleted = _restamped(Table("sync/Deleted", "ID", deleted))
        self.rowversion = rowversion

    @property
    def tables(self) -> dict[str, Table]:
        """The entity tables (loaded and stamped on first access)."""
        if self._tables is None:
            self._tables = self._load()
        return self._tables

    def _load(self) -> dict[str, Table]:
        tables: dict[str, Table] = {}
        for name in model.TABLES:
            records = self._data.tables.setdefault(name, {})
            key_field = key_field_of(name)
            for key, record in records.items():
                record.pop("Timestamp", None)
                record.setdefault(key_field, key)
            register_extras(self._extras, name, records.values())
            table = Table(name, key_field, records)
            for key in list(records):
                table.stamp(key, self.next_timestamp())
            tables[name] = table
        return tables


def _restamped(table: Table) -> Table:
    """``table`` with its records' saved Timestamps logged again, in rowversion order."""
    saved = {key: int(record.pop("Timestamp")) for key, record in table.records.items()}
    for key in sorted(saved, key=saved.__getitem__):
        table.stamp(key, saved[key])
    return table


def register_extras(extras: dict[str, dict[str, str]], table: str, records: Any) -> None:
    """Remember properties of ``records`` that the schema does not list, with their inferred types."""
    known = TABLE_PROPERTIES.get(table, {})
    found = extras.setdefault(table, {})
    for record in records:
        for name in record.keys() - known.keys():
            value = record[name]
            if name == "Timestamp":
                continue
            current = found.get(name)
            if current is None:
                found[name] = odata.STRING if value is None else odata.infer_type(value)
            elif current == odata.STRING and value is not None and not isinstance(value, str):
                # First seen as null: learn the real type from the first value.
                found[name] = odata.infer_type(value)
