"""What independent public clients expect of Exact Online (exact-evidence.md §8), asked of the sandbox over
HTTP with plain httpx, the way such a client calls it: Atom without ``Accept: application/json``,
``hrm/Divisions``, ``/$count``, a ``$skiptoken`` built by the client, and real properties it does not model."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exactlink.sandbox.app import Sandbox
from tests.sandbox.conftest import CLIENT_A, OFFICE, guid, make_sandbox

ATOM = "{http://www.w3.org/2005/Atom}"
DATA = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
META = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str, str]]:
    sandbox = make_sandbox(accounts=130)
    with sandbox.serve() as server:
        yield sandbox, server.base_url, sandbox.issue_tokens()["access_token"]


@pytest.fixture
def plain(served: tuple[Sandbox, str, str]) -> Iterator[httpx.Client]:
    """A client that sends only a bearer token: no Accept header of its own choosing (httpx sends */*)."""
    _, base, token = served
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client


def json_rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["d"]["results"]
    return rows


def test_without_accept_json_the_answer_is_an_atom_feed(plain: httpx.Client) -> None:
    response = plain.get(f"/api/v1/{OFFICE}/system/Divisions", params={"$select": "Code,Description"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    codes = [entry.find(f"{ATOM}content/{META}properties/{DATA}Code") for entry in entries]
    assert entries and all(code is not None for code in codes)
    first = codes[0]
    assert first is not None and (first.text, first.get(f"{META}type")) == (str(OFFICE), "Edm.Int32")
    categories = [entry.find(f"{ATOM}category") for entry in entries]
    assert all(category is not None and category.get("term") for category in categories)


def test_atom_entry_errors_and_json_on_request(plain: httpx.Client) -> None:
    me = plain.get("/api/v1/current/Me", params={"$select": "UserID,FullName"})
    entry = ET.fromstring(me.content)
    assert me.status_code == 200 and entry.tag in (f"{ATOM}feed", f"{ATOM}entry")
    assert me.headers["Content-Type"].startswith("application/atom+xml")
    refused = plain.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "NoSuchProperty"})
    assert refused.status_code == 400
    error = ET.fromstring(refused.content)
    assert error.tag == f"{META}error" and "NoSuchProperty" in (error.findtext(f"{META}message") or "")
    as_json = plain.get("/api/v1/current/Me", params={"$select": "UserID"}, headers={"Accept": "application/json"})
    assert as_json.json()["d"]["results"][0]["UserID"]
    assert plain.get("/api/v1/current/Me", params={"$select": "UserID", "$format": "json"}).json()["d"]


def test_hrm_divisions_lists_the_divisions(plain: httpx.Client) -> None:
    params = {"$select": "Code,Description", "$format": "json"}
    hrm = json_rows(plain.get(f"/api/v1/{OFFICE}/hrm/Divisions", params=params))
    system = json_rows(plain.get(f"/api/v1/{OFFICE}/system/Divisions", params=params))
    assert [row["Code"] for row in hrm] == [row["Code"] for row in system] and hrm
    assert hrm[0]["__metadata"]["type"] == "Exact.Web.Api.Models.HRM.Division"


def test_count_answers_the_number_of_matching_records(plain: httpx.Client) -> None:
    utrecht = plain.get(f"/api/v1/{OFFICE}/crm/Accounts/$count", params={"$filter": "City eq 'Utrecht'"})
    assert utrecht.status_code == 200 and utrecht.headers["Content-Type"].startswith("text/plain")
    assert utrecht.text == "65"
    returns = plain.get(f"/api/v1/{CLIENT_A}/read/financial/Returns/$count")
    assert returns.text == "5"
    unfiltered = plain.get(f"/api/v1/{OFFICE}/crm/Accounts/$count")
    assert unfiltered.status_code == 400 and "mandatory filtering" in unfiltered.text  # as on the collection


def test_a_skiptoken_the_client_builds_itself_pages_correctly(plain: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    seen: list[str] = []
    last: str | None = None
    while True:
        # Parameters in another order than the sandbox writes them, and the token built from the last ID.
        params = [("$format", "json"), ("$filter", "Blocked eq false"), ("$select", "ID,Code")]
        if last is not None:
            params.insert(0, ("$skiptoken", f"guid'{last}'"))
        response = plain.get(url, params=params)
        rows = json_rows(response)
        seen += [row["ID"] for row in rows]
        if "__next" not in response.json()["d"]:
            break
        last = rows[-1]["ID"]
        assert re.search(rf"\$skiptoken=guid'{last}'", response.json()["d"]["__next"])
    assert len(seen) == len(set(seen)) == 130 and seen == sorted(seen)


def test_a_sync_skiptoken_is_the_timestamp(plain: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/sync/CRM/Accounts"
    query = {"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L", "$format": "json"}
    everything = json_rows(plain.get(url, params=query))
    stamps = [int(row["Timestamp"]) for row in everything]
    assert stamps == sorted(stamps) and len(stamps) == 130
    after = json_rows(plain.get(url, params={**query, "$skiptoken": f"{stamps[49]}L"}))
    assert [int(row["Timestamp"]) for row in after] == stamps[50:]


def test_top_carries_over_in_the_next_link(plain: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    first = plain.get(url, params={"$top": "100", "$select": "ID", "$filter": "Blocked eq false", "$format": "json"})
    next_url = first.json()["d"]["__next"]
    assert "$top=40" in next_url
    assert len(json_rows(plain.get(next_url))) == 40


@pytest.mark.parametrize(
    ("endpoint", "unmodelled", "size"),
    [
        ("crm/Accounts", "CreditLineSales,GLAR,IntraStatArea,ShippingMethod,LogoUrl", 145),
        ("crm/Addresses", "FreeTextField_01,FreeDateField_05,Warehouse", 53),
        ("crm/Contacts", "PictureUrl,IdentificationDate,MarketingNotes", 68),
    ],
)
def test_a_real_property_the_sandbox_does_not_model_answers_null(
    plain: httpx.Client, endpoint: str, unmodelled: str, size: int
) -> None:
    from exactlink.sandbox.endpoints import ENDPOINTS

    assert len(ENDPOINTS[endpoint].properties) >= size  # Exact's public lists, not just what exactlink reads
    anything = "ID ne guid'00000000-0000-0000-0000-000000000000'"
    params = {"$select": f"ID,{unmodelled}", "$filter": anything, "$format": "json"}
    rows = json_rows(plain.get(f"/api/v1/{OFFICE}/{endpoint}", params=params))
    assert rows and all(row[name] is None for row in rows for name in unmodelled.split(","))
    refused = plain.get(f"/api/v1/{OFFICE}/{endpoint}", params={**params, "$select": "ID,NoSuchProperty"})
    assert refused.status_code == 400
    assert "NoSuchProperty" in refused.json()["error"]["message"]["value"]


def test_expand_bank_accounts_on_accounts(plain: httpx.Client) -> None:
    owner = guid("account", 1)
    params = {
        "$select": "ID,Name,BankAccounts/BankAccount,BankAccounts/Main",
        "$expand": "BankAccounts",
        "$filter": f"ID eq guid'{owner}' or ID eq guid'{guid('account', 2)}'",
        "$format": "json",
    }
    rows = {row["ID"]: row for row in json_rows(plain.get(f"/api/v1/{OFFICE}/crm/Accounts", params=params))}
    banks = rows[owner]["BankAccounts"]["results"]
    assert [(bank["BankAccount"], bank["Main"]) for bank in banks] == [("NL91ABNA0417164300", True)]
    assert banks[0]["__metadata"]["type"] == "Exact.Web.Api.Models.BankAccount"
    assert rows[guid("account", 2)]["BankAccounts"] == {"results": []}
    by_key = {name: value for name, value in params.items() if name != "$filter"}
    one = plain.get(f"/api/v1/{OFFICE}/crm/Accounts(guid'{owner}')", params=by_key)
    assert one.json()["d"]["BankAccounts"]["results"][0]["BankAccount"] == "NL91ABNA0417164300"
    wrong = plain.get(f"/api/v1/{OFFICE}/crm/Accounts", params={**params, "$expand": "Contacts"})
    assert wrong.status_code == 400 and "Contacts" in wrong.json()["error"]["message"]["value"]
