"""A small accounting office in the imitation, and the CRM export that goes with it (all values made up)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.imitation.exact import App, Imitation

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=AMSTERDAM)  # a Tuesday morning in office hours
CLIENT_ID = "{6a0f3c1e-9b2d-4c55-8e71-0d4f2a9b7c13}"
CLIENT_SECRET = "imitation-secret-Qp27"
REDIRECT_URI = "https://kantoor.example/exactlink/callback"
USERNAME, PASSWORD = "beheer@boekhouder.example", "imitatie"
OFFICE_CODE = 2718281
BSN = "111222333"  # a test BSN that passes the 11-proef; it must never be printed


@dataclass(frozen=True)
class Client:
    """A client of the office: CRM relation, its account in the office administration, its own administration."""

    relation: str
    name: str
    kvk: str
    rsin: str
    vat: str
    bsn: str
    division: int | None
    in_crm_identifiers: bool = True  # False: the CRM knows only the name (a suggestion, never a link)


CLIENTS = (
    Client("1001", "Bakkerij De Korenbloem B.V.", "27123456", "813546742", "NL813546742B01", "", 3141592),
    Client("1002", "Installatiebedrijf Van Dam B.V.", "34987654", "", "", "", 1618033),
    Client("1003", "Jansen Advies", "", "", "NL004495445B01", "", 1414213),
    Client("1004", "P. de Vries Klussen", "", "", "", BSN, 1732050),
    Client("1005", "Hoveniersbedrijf Groen", "56781234", "", "", "", None, in_crm_identifiers=False),
)


@dataclass
class Office:
    """What the tests need to know about the generated office."""

    imitation: Imitation
    accounts: dict[str, str]  # relation number → account ID in the office administration


def build(imitation: Imitation) -> Office:
    """Fill the imitation: the office administration with one account per client, the clients' administrations
    with returns, G/L accounts and vraagposten lines, one SolutionLink Exact already has, and the user."""
    imitation.apps[CLIENT_ID] = App(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI)
    office = imitation.add_division(OFFICE_CODE, "De Boekhouder Kantoor", None, practice=True)
    accounts: dict[str, str] = {}
    for number, client in enumerate(CLIENTS, start=1):
        account = imitation.put(
            office,
            "crm/Accounts",
            {
                "Code": str(400 + number).rjust(18),
                "Name": client.name,
                "ChamberOfCommerce": client.kvk or None,
                "RSIN": client.rsin or None,
                "VATNumber": client.vat or None,
                "BSN": client.bsn or None,
                "Phone": f"010-55500{number:02d}",
                "Email": f"info{number}@klant.example",
                "AddressLine1": f"Dorpsstraat {number}",
                "Postcode": f"3011 A{chr(64 + number)}",
                "City": "Rotterdam",
                "Country": "NL",
                "Status": "C",
                "Blocked": False,
                "IsSales": True,
            },
        )
        accounts[client.relation] = account["ID"]
        imitation.put(
            office,
            "crm/Addresses",
            {"Account": account["ID"], "Type": 1, "Main": True, "AddressLine1": f"Dorpsstraat {number}",
             "Postcode": f"3011 A{chr(64 + number)}", "City": "Rotterdam", "Country": "NL"},
        )  # fmt: skip
        imitation.put(
            office, "crm/Contacts", {"Account": account["ID"], "FirstName": "Eva", "LastName": f"Klant{number}",
                                     "FullName": f"Eva Klant{number}", "Email": f"eva{number}@klant.example"}
        )  # fmt: skip
        if client.division is not None:
            division = imitation.add_division(client.division, client.name, account["ID"])
            _fill_client_administration(imitation, division.code)
    # An account the CRM does not know, and a link Exact already has (evidence for link-admin suggest).
    imitation.put(
        office, "crm/Accounts", {"Code": "999".rjust(18), "Name": "Leverancier Kantoorartikelen", "Status": "S"}
    )
    imitation.put(
        office,
        "accountancy/SolutionLinks",
        {"Account": accounts["1002"], "SolutionType": 0, "InternalSolutionDivision": 1618033, "Status": 0,
         "Name": "Van Dam administratie", "Division": OFFICE_CODE},
    )  # fmt: skip
    imitation.users[USERNAME] = {
        "password": PASSWORD,
        "UserID": imitation.new_id(),
        "UserName": USERNAME,
        "FullName": "Beheerder Boekhouder",
        "Email": USERNAME,
        "CurrentDivision": 1414213,  # the last administration opened in the browser: a client's, not the office
        "AccountingDivision": OFFICE_CODE,
        "DivisionCustomerName": "Jansen Advies",
        "IsClientUser": False,
        "LanguageCode": "nl-NL",
        "Legislation": "NL",
        "ServerTime": NOW,
        "ServerUtcOffset": 1,
    }
    return Office(imitation, accounts)


def _fill_client_administration(imitation: Imitation, code: int) -> None:
    division = imitation.divisions[code]
    now = NOW
    returns = (  # (type, status, sent manually, created days ago)
        (31, 40, True, 6),
        (32, 40, False, 6),
        (146, 20, False, 3),
        (31, 50, True, 95),  # outside the 30-day window
    )
    for number, (kind, status, manual, days_ago) in enumerate(returns):
        created = now - timedelta(days=days_ago, hours=number)
        period = 2 if days_ago < 30 else 11
        imitation.put(
            division,
            "returns",
            {
                "DocumentID": imitation.new_id(),
                "Request": imitation.new_id(),
                "Type": kind,
                "Status": status,
                "SentMethod": "manual" if manual else "digipoort",  # not public: only ProcessReturn's rule uses it
                "Year": 2026 if days_ago < 30 else 2025,
                "Period": period,
                "PeriodDescription": f"{period:02d}",
                "Frequency": "M",
                "Amount": float(Decimal("1234.50") + code % 97),
                "Currency": "EUR",
                "Created": created,
                "DueDate": datetime(2026, 3, 31, tzinfo=AMSTERDAM) if days_ago < 30 else None,
                "Description": {31: "Aangifte omzetbelasting", 32: "Opgaaf ICP", 146: "Loonaangifte"}[kind],
            },
            key="DocumentID",
        )
    suspense = imitation.put(division, "glaccounts", {"Code": "2900", "Description": "Vraagposten", "Type": 90})
    imitation.put(division, "glaccounts", {"Code": "8000", "Description": "Omzet", "Type": 110})
    for line in range(2):
        imitation.put(
            division,
            "transactionlines",
            {"GLAccount": suspense["ID"], "GLAccountCode": "2900", "GLAccountDescription": "Vraagposten",
             "Date": now - timedelta(days=10 + line), "Description": f"Onbekende betaling {line + 1}",
             "AmountDC": 150.0 + line, "EntryNumber": 26000 + line, "FinancialYear": 2026, "FinancialPeriod": 2,
             "JournalCode": "20", "Type": 40},
        )  # fmt: skip


def crm_export() -> str:
    """The CRM's CSV export (semicolons, Dutch headers) of the office's clients."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["relatienummer", "naam", "kvk-nummer", "rsin", "bsn", "btw-nummer", "telefoon", "iban"])
    for client in CLIENTS:
        identifiers = (client.kvk, client.rsin, client.bsn, client.vat) if client.in_crm_identifiers else ("",) * 4
        writer.writerow([client.relation, client.name, *identifiers, "", ""])
    return out.getvalue()
