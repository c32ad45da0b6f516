"""``sync_office`` on its own: an in-memory database, Exact's answers from a recorded JSON file, no server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlite_utils

from exactlink.api.client import ExactClient
from exactlink.domain.entities import OfficeAccount
from exactlink.services.sync import SyncOptions, sync_office
from exactlink.store.accounts import get_account
from exactlink.store.db import migrate
from exactlink.store.links import set_account_link
from exactlink.store.relations import Address, Contact, RelationRecord, get_relation, upsert_relation

DIVISION = 100
ACCOUNT = "0b7f8a1e-0000-4000-8000-000000000001"
# The moment every use case here runs at (what the mirror dates its rows with).
MOMENT = datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
ANSWERS: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "office_mirror.json").read_text(encoding="utf-8")
)
# The administration as system/Divisions describes it (never moved), read before the refresh trusts its cursors.
ANSWERS["system/Divisions"] = [{"Code": DIVISION, "DivisionMoveDate": None}]


class _Tokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("the recorded answers never refuse the token")

    def newer_token_than(self, rejected: str) -> str | None:
        return None


class RecordedExact:
    """Answers every GET from the recorded rows of its endpoint; keeps every write it receives.

    ``crm/Accounts`` (the read after a PUT) answers with the recorded account as the PUTs so far changed it.
    """

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.accounts = {row["ID"].lower(): dict(row) for row in ANSWERS["sync/CRM/Accounts"]}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.split(f"/api/v1/{DIVISION}/", 1)[1]
        if request.method == "GET" and path == "crm/Accounts":
            return httpx.Response(200, json={"d": {"results": list(self.accounts.values())}})
        if request.method == "GET":
            return httpx.Response(200, json={"d": {"results": ANSWERS[path]}})
        body = json.loads(request.content or b"{}")
        self.writes.append((request.method, path, body))
        if request.method == "PUT" and path.startswith("crm/Accounts("):
            self.accounts[path.split("'")[1].lower()].update(body)
        return httpx.Response(204)


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = sqlite_utils.Database(memory=True)
    migrate(database)
    upsert_relation(
        database,
        RelationRecord(
            "204518",
            name="Bakkerij Jansen B.V.",
            kvk="12345678",
            phone="015-7654321",
            addresses={"visit": Address("visit", "Dorpsstraat 1", "2601 DC", "Delft", "NL")},
            contacts=[Contact("Jan Berg", "Jan", None, "Berg", "jan@bakkerij.nl")],
            ibans=["NL91ABNA0417164300"],
        ),
        now=MOMENT,
    )
    set_account_link(database, "204518", ACCOUNT, "204518", method="kvk", linked_by="auto", now=MOMENT)
    yield database
    database.conn.close()


@pytest.fixture
def exact() -> Iterator[tuple[ExactClient, RecordedExact]]:
    recorded = RecordedExact()
    client = ExactClient(
        "https://start.exactonline.nl", _Tokens(), transport=httpx.MockTransport(recorded), sleep=lambda s: None
    )
    with client:
        yield client, recorded


def test_inbound_takes_exacts_phone_and_mirrors_every_entity(
    db: sqlite_utils.Database, exact: tuple[ExactClient, RecordedExact]
) -> None:
    client, recorded = exact
    report = sync_office(client, db, DIVISION, SyncOptions("inbound"), now=MOMENT)
    assert report.mirror is not None
    assert report.mirror.calls_by_entity() == {
        "division": 1,  # before trusting its cursors: did Exact move the administration?
        "accounts": 1,
        "addresses": 1,
        "contacts": 1,
        "bank_accounts": 1,
        "deleted": 1,
    }
    assert get_account(db, ACCOUNT) == OfficeAccount(
        id=ACCOUNT,
        code="204518",
        name="Bakkerij Jansen B.V.",
        chamber_of_commerce="12345678",
        phone="015-2123456",
        email="info@bakkerij.nl",
        address_line="Dorpsstraat 1",
        postcode="2601 DC",
        city="Delft",
        country="NL",
        status="C",
        division=DIVISION,
        timestamp=7001,
    )
    [result] = report.results
    assert (result.relation, result.status) == ("204518", "changed")
    assert [(change.field, change.exact_value) for change in result.applied] == [("phone", "015-2123456")]
    stored = get_relation(db, "204518")
    assert stored is not None and stored.phone == "015-2123456"
    assert recorded.writes == []


def test_outbound_puts_only_the_changed_property(
    db: sqlite_utils.Database, exact: tuple[ExactClient, RecordedExact]
) -> None:
    client, recorded = exact
    report = sync_office(client, db, DIVISION, SyncOptions("outbound"), now=MOMENT)
    [result] = report.results
    assert (result.status, result.calls) == ("changed", 1)
    assert recorded.writes == [("PUT", f"crm/Accounts(guid'{ACCOUNT}')", {"Phone": "015-7654321"})]
    account = get_account(db, ACCOUNT)
    assert account is not None and account.phone == "015-7654321"


def test_a_dry_run_writes_nothing_to_exact(db: sqlite_utils.Database, exact: tuple[ExactClient, RecordedExact]) -> None:
    client, recorded = exact
    report = sync_office(client, db, DIVISION, SyncOptions("outbound", dry_run=True), now=MOMENT)
    assert [result.status for result in report.results] == ["changed"]
    assert report.results[0].calls == 1
    assert recorded.writes == []
