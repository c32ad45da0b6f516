"""POST/PUT bodies: type checks, mandatory fields and the values Exact fills in itself.

Unknown properties are refused with WCF's message ("Error processing request stream. The property name
'X' specified for type 'Y' is not valid."); server-maintained properties (audit fields, ``Division``,
denormalised names) are ignored when sent. An ``ID`` sent on create is ignored: Exact assigns keys.
Mandatory fields and references (an address's ``Account`` must exist in the same division) give 400.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from exactlink.sandbox import model, odata, schema
from exactlink.sandbox.model import SandboxUser
from exactlink.sandbox.tables import Table

Record = dict[str, Any]
CODE_WIDTH = 18


class WriteError(Exception):
    """A body Exact would refuse with 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def coerce_body(body: Any, properties: Mapping[str, str], entity_type: str, key_field: str) -> Record:
    """Check a JSON body against the entity's properties and convert values (GUIDs lower-case, dates parsed)."""
    if not isinstance(body, dict):
        raise WriteError("Error processing request stream. The request body must be a JSON object.")
    result: Record = {}
    for name, value in body.items():
        if name == "__metadata":
            continue
        edm_type = properties.get(name)
        if edm_type is None:
            raise WriteError(
                f"Error processing request stream. The property name '{name}' specified for type '{entity_type}' "
                "is not valid."
            )
        if name in schema.READ_ONLY or name == key_field:
            continue
        result[name] = _coerce_value(name, value, edm_type)
    return result


def _coerce_value(name: str, value: Any, edm_type: str) -> Any:
    if value is None:
        return None
    failed = WriteError(f"Error processing request stream. Type conversion failed for property '{name}'.")
    if edm_type == odata.GUID:
        if not isinstance(value, str) or not odata.is_guid(value):
            raise failed
        return value.lower()
    if edm_type == odata.STRING:
        if not isinstance(value, str):
            raise failed
        return value
    if edm_type == odata.BOOLEAN:
        if not isinstance(value, bool):
            raise failed
        return value
    if edm_type in (odata.INT16, odata.INT32, odata.INT64, odata.BYTE):
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise failed
        return value
    if edm_type in (odata.DOUBLE, odata.DECIMAL):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise failed
        try:
            return float(value)
        except ValueError:
            raise failed from None
    if edm_type == odata.DATETIME:
        if not isinstance(value, str):
            raise failed
        try:
            return odata.parse_json_date(value)
        except odata.ODataError:
            raise failed from None
    return value


def pad_code(code: str) -> str:
    """An account code as Exact stores it: right-aligned in 18 characters."""
    trimmed = code.strip()
    if not trimmed or len(trimmed) > CODE_WIDTH:
        raise WriteError(f"Code: '{code}' is not a valid code (1 to {CODE_WIDTH} characters).")
    return trimmed.rjust(CODE_WIDTH)


class WriteRules:
    """Table-specific validation and derived fields, given the division's tables."""

    def __init__(self, tables: Mapping[str, Table], division: int, division_names: Mapping[int, str]) -> None:
        self.tables = tables
        self.division = division
        self.division_names = division_names

    def prepare_create(self, table: str, values: Record, user: SandboxUser, now: datetime) -> Record:
        """A complete new record from a POST body."""
        key_field = "DocumentID" if table == model.RETURNS else "ID"
        record: Record = {key_field: str(uuid.uuid4())}
        record.update(values)
        record.update(
            {
                "Division": self.division,
                "Created": now,
                "Creator": user.user_id,
                "CreatorFullName": user.full_name,
            }
        )
        self._defaults(table, record)
        self._validate(table, record, changed=set(values), existing_key=None)
        self._derive(table, record)
        return record

    def prepare_update(self, table: str, key: str, current: Record, values: Record) -> Record:
        """The changes a PUT makes (validated against the merged record)."""
        merged = {**current, **values}
        self._validate(table, merged, changed=set(values), existing_key=key)
        self._derive(table, merged)
        return {name: merged[name] for name in merged if name in values or merged.get(name) != current.get(name)}

    # -- per table ---------------------------------------------------------------------------------

    def _defaults(self, table: str, record: Record) -> None:
        if table == model.ACCOUNTS:
            record.setdefault("Type", "A")
            record.setdefault("Status", "C")
            record.setdefault("Blocked", False)
            if not record.get("Code"):
                record["Code"] = self._next_account_code()
        elif table == model.BANK_ACCOUNTS:
            record.setdefault("Type", "A")
            record.setdefault("Main", False)
            record.setdefault("Blocked", False)
        elif table == model.ADDRESSES:
            record.setdefault("Main", False)
        elif table == model.SOLUTION_LINKS:
            record.setdefault("Status", 0)

    def _validate(self, table: str, record: Record, changed: set[str], existing_key: str | None) -> None:
        if table == model.ACCOUNTS:
            self._require(record, "Name")
            if "Code" in changed or existing_key is None:
                record["Code"] = pad_code(str(record.get("Code") or ""))
                for other in self.tables[model.ACCOUNTS].candidate_keys([("Code", record["Code"])], None) or []:
                    if other != existing_key:
                        raise WriteError(f"Code: the code {record['Code'].strip()} already exists.")
        elif table == model.ADDRESSES:
            self._require_account(record)
            self._require(record, "Type")
            if record["Type"] not in (1, 2, 3, 4):
                raise WriteError("Type: use 1 (visit), 2 (postal), 3 (invoice) or 4 (delivery).")
        elif table == model.CONTACTS:
            self._require_account(record)
            if not (record.get("FirstName") or record.get("LastName")):
                raise WriteError("FirstName or LastName: mandatory.")
        elif table == model.BANK_ACCOUNTS:
            self._require_account(record)
            self._require(record, "BankAccount")
            if record.get("Type") != "A" and "Type" in changed:
                raise WriteError("Type: only bank accounts of type 'A' can be created.")
        elif table == model.SOLUTION_LINKS:
            self._validate_solution_link(record)

    def _validate_solution_link(self, record: Record) -> None:
        self._require_account(record)
        self._require(record, "SolutionType")
        solution_type = record["SolutionType"]
        if solution_type == 0:
            self._require(record, "InternalSolutionDivision")
            if record["InternalSolutionDivision"] not in self.division_names:
                raise WriteError(
                    f"InternalSolutionDivision: division {record['InternalSolutionDivision']} does not exist."
                )
        elif solution_type == 1:
            self._require(record, "ExternalSolutionCode")
            self._require(record, "ExternalSolutionUrl")
        elif solution_type == 2:
            self._require(record, "ExternalSolutionUrl")
            self._require(record, "OtherExternalSolutionName")
        else:
            raise WriteError("SolutionType: use 0 (internal), 1 (external) or 2 (other external).")
        if record.get("Status") not in (0, 1, 2):
            raise WriteError("Status: use 0 (active), 1 (inactive) or 2 (archived).")

    def _derive(self, table: str, record: Record) -> None:
        account = self.tables[model.ACCOUNTS].get(record.get("Account") or "")
        if table in (model.ADDRESSES, model.CONTACTS, model.BANK_ACCOUNTS, model.SOLUTION_LINKS) and account:
            record["AccountName"] = account.get("Name")
        if table == model.CONTACTS:
            parts = (record.get("FirstName"), record.get("MiddleName"), record.get("LastName"))
            record["FullName"] = " ".join(part for part in parts if part)
        if table == model.SOLUTION_LINKS and record.get("InternalSolutionDivision") is not None:
            record["InternalSolutionDivisionDescription"] = self.division_names.get(record["InternalSolutionDivision"])

    def _require(self, record: Record, name: str) -> None:
        value = record.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise WriteError(f"{name}: mandatory.")

    def _require_account(self, record: Record) -> None:
        self._require(record, "Account")
        if self.tables[model.ACCOUNTS].get(record["Account"]) is None:
            raise WriteError(f"Account: account {record['Account']} does not exist in this administration.")

    def _next_account_code(self) -> str:
        highest = 0
        for record in self.tables[model.ACCOUNTS].records.values():
            code = str(record.get("Code") or "").strip()
            if code.isdigit():
                highest = max(highest, int(code))
        return str(highest + 1).rjust(CODE_WIDTH)
