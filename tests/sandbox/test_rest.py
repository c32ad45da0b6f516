"""The REST endpoints: shapes, query rules, paging, writes, sync cursors, returns and division access."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from exactlink.sandbox import model
from exactlink.sandbox.app import Sandbox
from tests.sandbox.conftest import (
    BASE,
    BLOCKED,
    CLIENT_A,
    CLIENT_B,
    FOREIGN,
    OFFICE,
    UNCONSENTED,
    USER_ID,
    api_client,
    guid,
    make_sandbox,
    request_guid,
)

SELECT_MESSAGE = "Please add a $select or a $top=1 statement to the query string."


def message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "" and body["error"]["message"]["lang"] == ""
    text: str = body["error"]["message"]["value"]
    return text


def results(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["d"]["results"]
    return rows


def follow(api: httpx.Client, url: str, params: dict[str, str] | None = None) -> list[list[dict[str, Any]]]:
    """All pages of a collection, following ``__next`` verbatim."""
    pages = []
    response = api.get(url, params=params)
    while True:
        pages.append(results(response))
        next_url = response.json()["d"].get("__next")
        if not next_url:
            return pages
        assert next_url.startswith(BASE + "/api/v1/")
        response = api.get(next_url)


# -- current/Me and divisions -------------------------------------------------------------------------


def test_me_is_a_one_row_collection_without_division(api: httpx.Client, sandbox: Sandbox) -> None:
    rows = results(api.get("/api/v1/current/Me"))
    assert len(rows) == 1
    me = rows[0]
    assert me["UserID"] == USER_ID
    assert me["CurrentDivision"] == OFFICE
    assert me["FullName"] == "Anna de Boer" and me["UserName"] == "admin@kantoor.test"
    assert me["Email"] == "admin@kantoor.test" and me["LanguageCode"] and me["Legislation"]
    assert me["__metadata"] == {"uri": f"{BASE}/api/v1/current/Me(guid'{USER_ID}')", "type": "Exact.Web.Api.System.Me"}
    only = results(api.get("/api/v1/current/Me", params={"$select": "CurrentDivision"}))[0]
    assert set(only) == {"__metadata", "CurrentDivision"}
    assert sandbox.calls("current/Me", division=OFFICE) == 2  # counted against the current division


def test_divisions_lists_accessible_consented_ones_and_all_divisions_more(api: httpx.Client) -> None:
    select = {"$select": "Code,Description,IsPracticeDivision,BlockingStatus,Current,Hid"}
    rows = results(api.get(f"/api/v1/{OFFICE}/system/Divisions", params=select))
    assert [row["Code"] for row in rows] == [OFFICE, CLIENT_A, CLIENT_B, BLOCKED]
    assert rows[0]["IsPracticeDivision"] is True and rows[0]["Current"] is True
    assert rows[0]["Hid"] == "1"  # Int64 goes out as a string
    assert rows[0]["__metadata"]["uri"] == f"{BASE}/api/v1/{OFFICE}/system/Divisions({OFFICE})"
    every = results(api.get(f"/api/v1/{OFFICE}/system/AllDivisions", params=select))
    assert [row["Code"] for row in every] == [OFFICE, CLIENT_A, CLIENT_B, BLOCKED, UNCONSENTED, FOREIGN]
    missing = api.get(f"/api/v1/{OFFICE}/system/Divisions")
    assert missing.status_code == 400 and message(missing) == SELECT_MESSAGE
    unknown = api.get(f"/api/v1/{OFFICE}/system/Divisions", params={"$select": "Code,Main"})
    assert unknown.status_code == 400
    assert message(unknown).startswith("No property 'Main' exists in type")
    one = api.get(f"/api/v1/{OFFICE}/system/Divisions({CLIENT_A})", params={"$select": "Code"})
    assert one.json()["d"]["Code"] == CLIENT_A


@pytest.mark.parametrize(
    ("division", "reason"),
    [
        (FOREIGN, "NoDivisionAccess"),
        (UNCONSENTED, "NoDivisionAccess"),
        (999, "NoDivisionAccess"),
        (BLOCKED, "DivisionBlocked"),
    ],
)
def test_divisions_the_login_may_not_use_get_403_with_a_reason(api: httpx.Client, division: int, reason: str) -> None:
    response = api.get(f"/api/v1/{division}/crm/BankAccounts", params={"$select": "ID"})
    assert response.status_code == 403
    assert response.headers["Reason"] == reason
    assert "Forbidden" in message(response)


# -- query rules -------------------------------------------------------------------------------------------


def test_crm_endpoints_with_a_sync_twin_need_a_filter(api: httpx.Client) -> None:
    for entity in ("Accounts", "Addresses", "Contacts"):
        response = api.get(f"/api/v1/{OFFICE}/crm/{entity}", params={"$select": "ID"})
        assert response.status_code == 400
        assert message(response).startswith(
            "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
            "parameter with one of the following fields in the url:"
        )
    not_listed = api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID", "$filter": "Website eq null"})
    assert not_listed.status_code == 400
    assert len(results(api.get(f"/api/v1/{OFFICE}/crm/BankAccounts", params={"$select": "ID"}))) == 1
    bulk = api.get(f"/api/v1/{OFFICE}/bulk/CRM/Accounts", params={"$select": "ID"})
    assert bulk.status_code == 400


def test_select_is_required_unless_top_is_one(api: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    response = api.get(url, params={"$filter": "Blocked eq false"})
    assert response.status_code == 400 and message(response) == SELECT_MESSAGE
    row = results(api.get(url, params={"$filter": "Blocked eq false", "$top": "1"}))[0]
    assert "Timestamp" not in row  # Timestamp only exists on the sync endpoints
    assert {"ID", "Code", "Name", "ChamberOfCommerce", "VATNumber", "BSN", "RSIN", "Created"} <= set(row)
    unknown = api.get(url, params={"$filter": "Blocked eq false", "$select": "ID,Timestamp"})
    assert unknown.status_code == 400
    bulk = api.get(f"/api/v1/{CLIENT_A}/bulk/Financial/TransactionLines", params={"$top": "1"})
    assert bulk.status_code == 400 and message(bulk) == SELECT_MESSAGE


@pytest.mark.parametrize(
    "params",
    [
        {"$filter": "Nope eq 1"},
        {"$filter": "Name eq"},
        {"$filter": "Name eq 'x' and (City eq 'y'"},
        {"$filter": "ID eq 'abc'"},
        {"$filter": "Created gt datetime'2026-13-45'"},
        {"$filter": ""},
        {"$filter": "Name eq 'x'", "$top": "-1"},
        {"$filter": "Name eq 'x'", "$skip": "x"},
        {"$filter": "Name eq 'x'", "$inlinecount": "some"},
        {"$filter": "Name eq 'x'", "$orderby": "Nope"},
        {"$filter": "Name eq 'x'", "$expand": "Addresses"},  # not a navigation property of Account
        {"$filter": "Name eq 'x'", "$frobnicate": "1"},
        {"$filter": "Name eq 'x'", "$format": "atom"},
        {"$filter": "Name eq 'x'", "$skiptoken": "garbage"},
    ],
)
def test_bad_query_options_are_400_never_500(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID", **params})
    assert response.status_code == 400, response.text
    assert message(response)


def test_json_is_only_served_when_asked_for(sandbox: Sandbox) -> None:
    with api_client(sandbox) as client:
        client.headers["Accept"] = "*/*"
        atom = client.get("/api/v1/current/Me")  # Exact answers Atom XML, not 406 (exact-evidence.md §8)
        assert atom.status_code == 200 and atom.headers["Content-Type"].startswith("application/atom+xml")
        assert client.get("/api/v1/current/Me", params={"$format": "json"}).json()["d"]


def test_account_code_filter_needs_the_padding(api: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    padded = results(api.get(url, params={"$select": "ID,Code,Name", "$filter": f"Code eq '{'7'.rjust(18)}'"}))
    assert [row["Code"] for row in padded] == ["                 7"]
    assert results(api.get(url, params={"$select": "ID", "$filter": "Code eq '7'"})) == []
    trimmed = results(api.get(url, params={"$select": "Name", "$filter": "trim(Code) eq '7'"}))
    assert trimmed == [{"__metadata": padded[0]["__metadata"], "Name": "Klant 0007 B.V."}]


def test_dates_are_json_dates_and_entities_carry_metadata(api: httpx.Client) -> None:
    account = guid("account", 1)
    row = results(
        api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID,Created", "$filter": f"ID eq guid'{account}'"})
    )[0]
    assert row["Created"] == "/Date(1736937000000)/"  # 2025-01-15T09:30:00Z is 10:30 on Amsterdam's clock
    assert row["__metadata"] == {
        "uri": f"{BASE}/api/v1/{OFFICE}/crm/Accounts(guid'{account}')",
        "type": "Exact.Web.Api.Models.Account",
    }
    single = api.get(f"/api/v1/{OFFICE}/crm/Accounts(guid'{account}')", params={"$select": "Name"})
    assert single.json() == {"d": {"__metadata": row["__metadata"], "Name": "Klant 0001 B.V."}}


# -- paging ------------------------------------------------------------------------------------------------


def test_normal_endpoints_page_60_rows_and_next_is_followed_verbatim(api: httpx.Client, sandbox: Sandbox) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    pages = follow(api, url, {"$select": "ID,Code", "$filter": "Blocked eq false", "$inlinecount": "allpages"})
    assert [len(page) for page in pages] == [60, 60, 10]
    ids = [row["ID"] for page in pages for row in page]
    assert len(set(ids)) == 130 and ids == sorted(ids)
    first = api.get(url, params={"$select": "ID", "$filter": "Blocked eq false", "$inlinecount": "allpages"})
    assert first.json()["d"]["__count"] == "130"
    next_url = first.json()["d"]["__next"]
    assert f"$skiptoken=guid'{ids[59]}'" in next_url and "$filter=Blocked%20eq%20false" in next_url
    # Exact's token is readable and means "after this ID" for any query (exact-evidence.md §8).
    spliced = next_url.replace("Blocked%20eq%20false", "City%20eq%20'Utrecht'")
    assert all(row["ID"] > ids[59] for row in api.get(spliced).json()["d"]["results"])
    assert sandbox.calls("crm/Accounts") == 5


def test_top_limits_the_total_but_never_enlarges_a_page(api: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    base = {"$select": "ID", "$filter": "Blocked eq false"}
    assert [len(page) for page in follow(api, url, {**base, "$top": "100"})] == [60, 40]
    assert [len(page) for page in follow(api, url, {**base, "$top": "60"})] == [60]
    assert len(results(api.get(url, params={**base, "$top": "1000"}))) == 60
    skipped = follow(api, url, {**base, "$skip": "125"})
    assert [len(page) for page in skipped] == [5]
    ordered = results(api.get(url, params={"$select": "Name", "$filter": "City eq 'Zwolle'", "$orderby": "Name desc"}))
    assert ordered[0]["Name"] == "Klant 0130 B.V." and len(ordered) == 60


def test_sync_and_bulk_endpoints_page_1000_rows() -> None:
    sandbox = make_sandbox(accounts=2100)
    with api_client(sandbox) as api:
        sync = follow(
            api, f"/api/v1/{OFFICE}/sync/CRM/Accounts", {"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}
        )
        assert [len(page) for page in sync] == [1000, 1000, 100]
        stamps = [int(row["Timestamp"]) for page in sync for row in page]
        assert stamps == sorted(stamps) and len(set(stamps)) == 2100
        bulk = follow(api, f"/api/v1/{OFFICE}/bulk/CRM/Accounts", {"$select": "ID,Code", "$filter": "Blocked eq false"})
        assert [len(page) for page in bulk] == [1000, 1000, 100]
        normal = api.get(f"/api/v1/{OFFICE}/crm/Accounts", params={"$select": "ID", "$filter": "Blocked eq false"})
        assert len(results(normal)) == 60


# -- sync cursors and deletes ----------------------------------------------------------------------------


def test_sync_timestamp_cursor_returns_only_changes(api: httpx.Client, sandbox: Sandbox) -> None:
    url = f"/api/v1/{OFFICE}/sync/CRM/Accounts"
    rows = [
        row for page in follow(api, url, {"$select": "ID,Name,Timestamp", "$filter": "Timestamp gt 1L"}) for row in page
    ]
    assert len(rows) == 130
    assert all(isinstance(row["Timestamp"], str) for row in rows)
    cursor = max(int(row["Timestamp"]) for row in rows)
    assert results(api.get(url, params={"$select": "ID", "$filter": f"Timestamp gt {cursor}L"})) == []

    sandbox.mutate(OFFICE, model.ACCOUNTS, guid("account", 42), Name="Klant 0042 Holding B.V.")
    changed = results(api.get(url, params={"$select": "ID,Name,Timestamp", "$filter": f"Timestamp gt {cursor}L"}))
    assert [(row["ID"], row["Name"]) for row in changed] == [(guid("account", 42), "Klant 0042 Holding B.V.")]
    assert int(changed[0]["Timestamp"]) > cursor
    other_filter = api.get(url, params={"$select": "ID", "$filter": "Name eq 'x'"})
    assert other_filter.status_code == 400
    assert message(other_filter) == "Filtering on these fields is not supported: Name."
    assert api.get(url, params={"$select": "ID", "$filter": "Timestamp ge 1L"}).status_code == 400
    assert api.get(url, params={"$filter": "Timestamp gt 1L"}).status_code == 400  # $select or $top=1


def test_deletes_appear_in_sync_deleted(api: httpx.Client, sandbox: Sandbox) -> None:
    deleted_url = f"/api/v1/{OFFICE}/sync/Deleted"
    select = {"$select": "Timestamp,ID,EntityKey,EntityType,DeletedDate,Division", "$filter": "Timestamp gt 1L"}
    assert results(api.get(deleted_url, params=select)) == []
    account = guid("account", 1)
    response = api.delete(f"/api/v1/{OFFICE}/crm/Accounts(guid'{account}')")
    assert response.status_code == 204 and response.content == b""
    rows = results(api.get(deleted_url, params=select))
    assert {(row["EntityType"], row["EntityKey"]) for row in rows} == {
        (5, guid("contact", 1)),
        (3, guid("address", 1)),
        (48, guid("bank", 1)),
        (2, account),
    }
    assert all(row["Division"] == OFFICE and row["DeletedDate"].startswith("/Date(") for row in rows)
    cursor = max(int(row["Timestamp"]) for row in rows)
    sandbox.delete(OFFICE, model.ACCOUNTS, guid("account", 2), cascade=False)
    later = results(api.get(deleted_url, params={"$select": "EntityKey", "$filter": f"Timestamp gt {cursor}L"}))
    assert [row["EntityKey"] for row in later] == [guid("account", 2)]
    gone = api.get(f"/api/v1/{OFFICE}/crm/Accounts(guid'{account}')", params={"$select": "ID"})
    assert gone.status_code == 404


# -- writes --------------------------------------------------------------------------------------------------


def test_post_and_put_accounts(api: httpx.Client, sandbox: Sandbox) -> None:
    url = f"/api/v1/{OFFICE}/crm/Accounts"
    created = api.post(url, json={"Name": "Nieuw B.V.", "Code": "9001", "ChamberOfCommerce": "12345678"})
    assert created.status_code == 201, created.text
    entity = created.json()["d"]
    assert entity["Code"] == "9001".rjust(18)
    assert entity["Name"] == "Nieuw B.V." and entity["ID"] and entity["Created"].startswith("/Date(")
    assert entity["__metadata"]["uri"] == f"{url.join([BASE, ''])}(guid'{entity['ID']}')"

    automatic = api.post(url, json={"Name": "Zonder Code"}).json()["d"]
    assert automatic["Code"] == "9002".rjust(18)
    duplicate = api.post(url, json={"Name": "Dubbel", "Code": "9001"})
    assert duplicate.status_code == 400
    assert api.post(url, json={"Code": "9003"}).status_code == 400  # Name is mandatory
    unknown = api.post(url, json={"Name": "X", "Colour": "blue"})
    assert unknown.status_code == 400
    assert message(unknown) == (
        "Error processing request stream. The property name 'Colour' specified for type "
        "'Exact.Web.Api.Models.Account' is not valid."
    )
    assert api.post(url, json={"Name": "X", "Parent": "not-a-guid"}).status_code == 400
    assert api.post(url, content=b"{", headers={"Content-Type": "application/json"}).status_code == 400

    put = api.put(f"{url}(guid'{entity['ID']}')", json={"Name": "Nieuw Holding B.V.", "Email": "info@nieuw.test"})
    assert put.status_code == 204 and put.content == b""
    record = sandbox.records(OFFICE, model.ACCOUNTS)[entity["ID"]]
    assert record["Name"] == "Nieuw Holding B.V." and record["Email"] == "info@nieuw.test"
    assert api.put(f"{url}(guid'{guid('account', 999)}')", json={"Name": "x"}).status_code == 404
    assert api.put(url, json={"Name": "x"}).status_code == 405


def test_writes_bump_the_sync_timestamp(api: httpx.Client) -> None:
    sync = f"/api/v1/{OFFICE}/sync/CRM/Addresses"
    rows = results(api.get(sync, params={"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}))
    cursor = max(int(row["Timestamp"]) for row in rows)
    address = guid("address", 3)
    assert api.put(f"/api/v1/{OFFICE}/crm/Addresses(guid'{address}')", json={"City": "Amersfoort"}).status_code == 204
    new = api.post(
        f"/api/v1/{OFFICE}/crm/Addresses", json={"Account": guid("account", 9), "Type": 2, "AddressLine1": "Postbus 1"}
    )
    assert new.status_code == 201
    assert new.json()["d"]["AccountName"] == "Klant 0009 B.V."
    changed = results(api.get(sync, params={"$select": "ID,City", "$filter": f"Timestamp gt {cursor}L"}))
    assert [row["ID"] for row in changed] == [address, new.json()["d"]["ID"]]
    orphan = api.post(f"/api/v1/{OFFICE}/crm/Addresses", json={"Account": guid("account", 999), "Type": 1})
    assert orphan.status_code == 400


def test_contacts_and_bank_accounts(api: httpx.Client) -> None:
    contact = api.post(
        f"/api/v1/{OFFICE}/crm/Contacts",
        json={"Account": guid("account", 3), "FirstName": "Piet", "LastName": "Pietersen"},
    )
    assert contact.status_code == 201 and contact.json()["d"]["FullName"] == "Piet Pietersen"
    nameless = api.post(f"/api/v1/{OFFICE}/crm/Contacts", json={"Account": guid("account", 3)})
    assert nameless.status_code == 400
    bank = api.post(
        f"/api/v1/{OFFICE}/crm/BankAccounts", json={"Account": guid("account", 3), "BankAccount": "NL02ABNA0123456789"}
    )
    assert bank.status_code == 201 and bank.json()["d"]["Type"] == "A"
    listed = results(
        api.get(
            f"/api/v1/{OFFICE}/crm/BankAccounts",
            params={"$select": "BankAccount", "$filter": f"Account eq guid'{guid('account', 3)}'"},
        )
    )
    assert [row["BankAccount"] for row in listed] == ["NL02ABNA0123456789"]


def test_solution_links_live_in_the_practice_division(api: httpx.Client) -> None:
    url = f"/api/v1/{OFFICE}/accountancy/SolutionLinks"
    existing = results(api.get(url, params={"$select": "Account,SolutionType,InternalSolutionDivision,Status"}))
    assert existing == [
        {
            "__metadata": {
                "uri": f"{BASE}{url}(guid'{guid('link', 1)}')",
                "type": "Exact.Web.Api.Models.Accountancy.SolutionLink",
            },
            "Account": guid("account", 1),
            "SolutionType": 0,
            "InternalSolutionDivision": CLIENT_A,
            "Status": 0,
        }
    ]
    created = api.post(
        url, json={"Account": guid("account", 2), "SolutionType": 0, "InternalSolutionDivision": CLIENT_B}
    )
    assert created.status_code == 201, created.text
    link = created.json()["d"]
    assert link["Division"] == OFFICE and link["Status"] == 0 and link["AccountName"] == "Klant 0002 B.V."
    assert api.post(url, json={"Account": guid("account", 2), "SolutionType": 0}).status_code == 400
    assert (
        api.post(
            url, json={"Account": guid("account", 2), "SolutionType": 0, "InternalSolutionDivision": 777}
        ).status_code
        == 400
    )
    # Status is GET-only: a PUT of it is answered as usual and skipped, as Exact does; DELETE removes the link.
    assert api.put(f"{url}(guid'{link['ID']}')", json={"Status": 1}).status_code == 204
    after = results(api.get(url, params={"$select": "Status", "$filter": f"ID eq guid'{link['ID']}'"}))
    assert after[0]["Status"] == 0
    assert api.delete(f"{url}(guid'{link['ID']}')").status_code == 204
    assert results(api.get(url, params={"$select": "Status", "$filter": f"ID eq guid'{link['ID']}'"})) == []
    elsewhere = api.get(f"/api/v1/{CLIENT_A}/accountancy/SolutionLinks", params={"$select": "ID"})
    assert elsewhere.status_code == 403 and "Reason" not in elsewhere.headers


# -- returns, G/L, transaction lines -----------------------------------------------------------------------


def test_returns_are_filterable(api: httpx.Client) -> None:
    url = f"/api/v1/{CLIENT_A}/read/financial/Returns"
    vat = results(api.get(url, params={"$select": "DocumentID,Type,Status,Request,DueDate", "$filter": "Type eq 31"}))
    assert sorted(row["Status"] for row in vat) == [20, 40, 50]
    assert all(row["DueDate"] == "/Date(1777507200000)/" for row in vat)
    assert vat[0]["__metadata"]["uri"].startswith(f"{BASE}{url}(guid'")
    assert api.get(url).status_code == 400  # $select or $top=1


def test_process_return_only_for_vat_and_icp_in_status_40(api: httpx.Client, sandbox: Sandbox) -> None:
    url = f"/api/v1/{CLIENT_A}/financial/ProcessReturn"
    done = api.post(url, json={"Request": request_guid(1), "Status": 50})
    assert done.status_code == 201, done.text
    assert done.json()["d"]["Processed"] is True and done.json()["d"]["Status"] == 50
    assert sandbox.records(CLIENT_A, model.RETURNS)[guid("return", 1)]["Status"] == 50
    assert api.post(url, json={"Request": request_guid(2), "Status": 5}).status_code == 201  # ICP, rejected

    for number in (1, 3, 4, 5):  # now processed, payroll, already processed, still open
        request = request_guid(number)
        refused = api.post(url, json={"Request": request, "Status": 50})
        assert refused.status_code == 400
        assert message(refused) == f"No returns found for document id '{request}' with status 40"
    unknown = guid("request", 99).upper()
    assert message(api.post(url, json={"Request": unknown, "Status": 50})) == (
        f"No returns found for document id '{unknown}' with status 40"
    )
    assert api.post(url, json={"Request": request_guid(2), "Status": 30}).status_code == 400
    assert api.get(url).status_code == 405


def test_gl_accounts_and_bulk_transaction_lines(api: httpx.Client) -> None:
    gl = results(
        api.get(
            f"/api/v1/{CLIENT_A}/financial/GLAccounts",
            params={"$select": "ID,Code,Description", "$filter": "Code eq '2300'"},
        )
    )
    assert [row["Description"] for row in gl] == ["Vraagposten"]
    url = f"/api/v1/{CLIENT_A}/bulk/Financial/TransactionLines"
    lines = results(
        api.get(url, params={"$select": "ID,AmountDC,Date,GLAccountCode", "$filter": "GLAccountCode eq '2300'"})
    )
    assert len(lines) == 8 and all(row["GLAccountCode"] == "2300" for row in lines)
    by_account = results(
        api.get(
            url,
            params={"$select": "ID", "$filter": f"GLAccount eq guid'{gl[0]['ID']}' and Date lt datetime'2026-03-01'"},
        )
    )
    assert len(by_account) == 4  # lines 1, 4, 7, 10: on the suspense account, dated in February
    yearly = results(api.get(url, params={"$select": "ID", "$filter": "FinancialYear eq 2026"}))
    assert len(yearly) == 12


def test_unknown_resources_and_methods(api: httpx.Client) -> None:
    assert api.get(f"/api/v1/{OFFICE}/crm/Nonsense", params={"$select": "ID"}).status_code == 404
    assert api.get(f"/api/v1/{OFFICE}/current/Me").status_code == 404
    assert api.patch(f"/api/v1/{OFFICE}/crm/Accounts(guid'{guid('account', 1)}')", json={}).status_code == 405
    assert api.delete(f"/api/v1/{CLIENT_A}/read/financial/Returns(guid'{guid('return', 1)}')").status_code == 405
    # service segments are case-insensitive, entity names are not
    assert api.get(f"/api/v1/{OFFICE}/CRM/BankAccounts", params={"$select": "ID"}).status_code == 200
    assert api.get(f"/api/v1/{OFFICE}/crm/bankaccounts", params={"$select": "ID"}).status_code == 404


def test_account_address_and_main_visit_address_stay_in_step(api: httpx.Client, sandbox: Sandbox) -> None:
    sync = f"/api/v1/{OFFICE}/sync/CRM/Addresses"
    rows = results(api.get(sync, params={"$select": "ID,Timestamp", "$filter": "Timestamp gt 1L"}))
    cursor = max(int(row["Timestamp"]) for row in rows)
    account = guid("account", 2)
    put = api.put(f"/api/v1/{OFFICE}/crm/Accounts(guid'{account}')", json={"AddressLine1": "Nieuwe Gracht 1"})
    assert put.status_code == 204
    changed = results(api.get(sync, params={"$select": "ID,AddressLine1,Type", "$filter": f"Timestamp gt {cursor}L"}))
    assert [(row["ID"], row["AddressLine1"], row["Type"]) for row in changed] == [
        (guid("address", 2), "Nieuwe Gracht 1", 1)
    ]
    visit = guid("address", 4)
    assert api.put(f"/api/v1/{OFFICE}/crm/Addresses(guid'{visit}')", json={"City": "Deventer"}).status_code == 204
    assert sandbox.records(OFFICE, model.ACCOUNTS)[guid("account", 4)]["City"] == "Deventer"

    created = api.post(
        f"/api/v1/{OFFICE}/crm/Accounts", json={"Name": "Adres B.V.", "AddressLine1": "Markt 3", "City": "Gouda"}
    ).json()["d"]
    visits = results(
        api.get(
            f"/api/v1/{OFFICE}/crm/Addresses",
            params={"$select": "AddressLine1,City,Main", "$filter": f"Account eq guid'{created['ID']}' and Type eq 1"},
        )
    )
    assert [(row["AddressLine1"], row["City"], row["Main"]) for row in visits] == [("Markt 3", "Gouda", True)]


def test_a_division_read_by_code_answers_that_division_only_and_keeps_the_rest_of_the_filter() -> None:
    from exactlink.sandbox import Sandbox

    sandbox = Sandbox(clients=30, seed=3)
    token = sandbox.issue_tokens()["access_token"]
    office = sandbox.data.office_division
    code = sorted(sandbox.data.divisions)[5]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def codes(condition: str) -> list[int]:
        status, _, body = sandbox.handle(
            "GET",
            f"https://start.exactonline.nl/api/v1/{office}/system/Divisions?$select=Code&$filter={condition}",
            headers,
        )
        assert status == 200, body
        return [row["Code"] for row in json.loads(body)["d"]["results"]]

    assert codes(f"Code eq {code}") == [code]
    assert codes(f"Code eq {code} and Code eq {code + 1}") == []
    assert codes(f"Code eq {code} or Code eq {office}") == sorted([code, office])
    assert codes("Code eq 999999999") == []
