"""A small hand-made sandbox: one practice division, client divisions in every access state, known records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from exactlink.sandbox import model
from exactlink.sandbox.app import Sandbox
from exactlink.sandbox.model import DivisionData, SandboxData, SandboxUser

OFFICE = 100
CLIENT_A = 201
CLIENT_B = 202
BLOCKED = 203
UNCONSENTED = 204
FOREIGN = 205  # exists in the licence, but the user has no access rights
BASE = "https://sandbox.test"
USER_ID = "11111111-1111-4111-8111-111111111111"
CREATED = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)


def guid(kind: str, number: int) -> str:
    """A stable, readable GUID per (kind, number)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-test/{kind}/{number}"))


def request_guid(number: int) -> str:
    """The ``Request`` GUID of return ``number``."""
    return guid("request", number)


def _division(code: int, description: str, **fields: Any) -> DivisionData:
    record = {
        "Code": code,
        "Description": description,
        "Hid": code - 99,
        "Customer": None,
        "CustomerCode": None,
        "CustomerName": None,
        "IsPracticeDivision": code == OFFICE,
        "IsMainDivision": code == OFFICE,
        "Status": 1,
        "BlockingStatus": 0,
        "StartDate": CREATED,
        **fields,
    }
    return DivisionData(code=code, record=record)


def _account(number: int) -> dict[str, Any]:
    return {
        "ID": guid("account", number),
        "Code": str(number).rjust(18),
        "Name": f"Klant {number:04d} B.V.",
        "ChamberOfCommerce": f"{number:08d}",
        "RSIN": None,
        "City": "Utrecht" if number % 2 else "Zwolle",
        "Status": "C",
        "IsSales": True,
        "Type": "A",
        "Blocked": False,
        "Division": OFFICE,
        "Created": CREATED,
        "Modified": CREATED,
    }


def _return(number: int, type_: int, status: int) -> dict[str, Any]:
    return {
        "DocumentID": guid("return", number),
        "Request": request_guid(number),
        "Type": type_,
        "Status": status,
        "Frequency": "Q",
        "Year": 2026,
        "Period": 1,
        "Amount": 1234.5,
        "Currency": "EUR",
        "DueDate": date(2026, 4, 30),
        "Created": CREATED,
        "Description": "Aangifte",
        "Division": CLIENT_A,
    }


def build_data(accounts: int = 130) -> SandboxData:
    """The fixture data; ``accounts`` office accounts with codes 1..N (padded)."""
    office = _division(OFFICE, "Administratiekantoor Test")
    account_table = {guid("account", n): _account(n) for n in range(1, accounts + 1)}
    office.tables[model.ACCOUNTS] = account_table
    office.tables[model.ADDRESSES] = {
        guid("address", n): {
            "ID": guid("address", n),
            "Account": guid("account", n),
            "AccountName": f"Klant {n:04d} B.V.",
            "Type": 1,
            "Main": True,
            "AddressLine1": f"Straat {n}",
            "Postcode": "1234 AB",
            "City": "Utrecht",
            "Country": "NL",
        }
        for n in range(1, min(accounts, 5) + 1)
    }
    office.tables[model.CONTACTS] = {
        guid("contact", 1): {
            "ID": guid("contact", 1),
            "Account": guid("account", 1),
            "FirstName": "Jan",
            "LastName": "Jansen",
            "FullName": "Jan Jansen",
        }
    }
    office.tables[model.BANK_ACCOUNTS] = {
        guid("bank", 1): {
            "ID": guid("bank", 1),
            "Account": guid("account", 1),
            "BankAccount": "NL91ABNA0417164300",
            "Type": "A",
            "Main": True,
        }
    }
    office.tables[model.SOLUTION_LINKS] = {
        guid("link", 1): {
            "ID": guid("link", 1),
            "Account": guid("account", 1),
            "SolutionType": 0,
            "InternalSolutionDivision": CLIENT_A,
            "Status": 0,
            "Division": OFFICE,
        }
    }
    client_a = _division(CLIENT_A, "Klant 0001 B.V.", Customer=guid("account", 1), CustomerCode=str(1).rjust(18))
    client_a.tables[model.RETURNS] = {
        guid("return", n): _return(n, type_, status)
        for n, type_, status in (
            (1, 31, 40),  # VAT, realized: can be processed
            (2, 32, 40),  # ICP, realized: can be processed
            (3, 146, 40),  # payroll: never via ProcessReturn
            (4, 31, 50),  # already processed
            (5, 31, 20),  # still open
        )
    }
    suspense = guid("gl", 2300)
    client_a.tables[model.GL_ACCOUNTS] = {
        guid("gl", code): {"ID": guid("gl", code), "Code": str(code), "Description": description, "Type": 10}
        for code, description in ((1000, "Kas"), (2300, "Vraagposten"), (8000, "Omzet"))
    }
    client_a.tables[model.TRANSACTION_LINES] = {
        guid("line", n): {
            "ID": guid("line", n),
            "GLAccount": suspense if n % 3 else guid("gl", 8000),
            "GLAccountCode": "2300" if n % 3 else "8000",
            "Date": datetime(2026, 1 + n % 3, 10, tzinfo=UTC),
            "FinancialYear": 2026,
            "AmountDC": float(n * 10),
            "Description": f"Regel {n}",
        }
        for n in range(1, 13)
    }
    divisions = {
        OFFICE: office,
        CLIENT_A: client_a,
        CLIENT_B: _division(CLIENT_B, "Klant 0002 B.V."),
        BLOCKED: _division(BLOCKED, "Klant 0003 B.V.", BlockingStatus=1),
        UNCONSENTED: _division(UNCONSENTED, "Klant 0004 B.V."),
        FOREIGN: _division(FOREIGN, "Klant 0005 B.V."),
    }
    user = SandboxUser(
        user_id=USER_ID,
        username="admin@kantoor.test",
        password="geheim",
        full_name="Anna de Boer",
        email="admin@kantoor.test",
        is_admin=True,
        divisions=[OFFICE, CLIENT_A, CLIENT_B, BLOCKED, UNCONSENTED],
        current_division=OFFICE,
    )
    return SandboxData(
        now=datetime(2026, 2, 1, 9, tzinfo=UTC),
        office_division=OFFICE,
        users=[user],
        divisions=divisions,
        unconsented_divisions={UNCONSENTED},
    )


def make_sandbox(accounts: int = 130, **options: Any) -> Sandbox:
    """A sandbox on the fixture data; generous limits unless a test asks otherwise."""
    options.setdefault("minutely_limit", 100_000)
    options.setdefault("daily_limit", 1_000_000)
    options.setdefault("client_id", "{aaaaaaaa-0000-4000-8000-000000000001}")
    options.setdefault("client_secret", "sandbox-secret")
    return Sandbox(data=build_data(accounts), **options)


def api_client(sandbox: Sandbox, base_url: str = BASE, token: str | None = None) -> httpx.Client:
    """An httpx client with a valid bearer token and the headers Exact needs."""
    access = token or sandbox.issue_tokens()["access_token"]
    transport = sandbox.transport() if base_url == BASE else None
    return httpx.Client(
        base_url=base_url,
        transport=transport,
        headers={"Accept": "application/json", "Authorization": f"Bearer {access}"},
        timeout=10,
    )


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh fixture sandbox per test."""
    return make_sandbox()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An in-process client for ``sandbox``."""
    with api_client(sandbox) as client:
        yield client
