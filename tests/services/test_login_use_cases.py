"""``login`` after the OAuth exchange and ``logout`` on their own: an in-memory database, a frozen clock, tokens in
the test's in-memory keyring, ``current/Me`` and the practice administrations recorded inline; no server."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from exactlink.auth.oauth import TokenSet
from exactlink.domain.records import KnownDivision
from exactlink.services.login import _describe_login, logout
from exactlink.store.divisions import save_division_list, stored_division_list
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace

OFFICE = 100
# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
ADMIN = {
    "UserID": "a0000000-0000-4000-8000-000000000001",
    "UserName": "jansen.admin",
    "FullName": "Piet Jansen",
    "Email": "piet@jansen.example",
    "CurrentDivision": OFFICE,
    "AccountingDivision": OFFICE,
    "IsClientUser": False,
}


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The office's app registration (the token store is named after it)."""
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", "c0ffee00-0000-4000-8000-000000000001")


def office_exact(*, me: dict[str, object] = ADMIN, practice: bool = True) -> RecordedExact:
    """The administrator and the administrations they see: the office one is a practice when ``practice``."""
    exact = RecordedExact()
    exact.rows(None, "current/Me").append(dict(me))
    exact.rows(OFFICE, "system/Divisions").extend(
        [
            {"Code": OFFICE, "Description": "Kantoor Jansen & Co", "IsPracticeDivision": practice, "Status": 1},
            {"Code": 2001, "Description": "Bakkerij Jansen B.V.", "Status": 1},
        ]
    )
    return exact


def with_stored_listing(ws: Workspace) -> Workspace:
    """A listing of administrations an earlier login saw, stored for link-admin."""
    earlier = [KnownDivision(code=9001, name="Van een andere login B.V.", consented=True)]
    save_division_list(ws.db, earlier, read_at=APRIL, complete=True)
    assert stored_division_list(ws.db) is not None
    return ws


def test_login_names_the_user_and_the_practice_and_forgets_the_earlier_listing() -> None:
    exact = office_exact()
    ws = with_stored_listing(memory_workspace(APRIL, exact))

    outcome = _describe_login(ws, ws.token_store())

    assert (outcome.user.FullName, outcome.user.UserName) == ("Piet Jansen", "jansen.admin")
    assert outcome.practice_divisions == [(OFFICE, "Kantoor Jansen & Co")]
    assert outcome.warnings == []
    assert stored_division_list(ws.db) is None, "another login may see other administrations"
    assert outcome.storage_kind == "keyring"
    assert outcome.to_json()["practice_divisions"] == [{"code": OFFICE, "name": "Kantoor Jansen & Co"}]
    assert (None, "current/Me") in exact.reads and (OFFICE, "system/Divisions") in exact.reads


def test_login_without_a_practice_administration_warns_how_to_pick_another_user() -> None:
    ws = memory_workspace(APRIL, office_exact(practice=False))

    outcome = _describe_login(ws, ws.token_store())

    assert outcome.practice_divisions == []
    assert len(outcome.warnings) == 1
    assert "sees no practice (office) administration" in outcome.warnings[0]
    assert "--force-login" in outcome.warnings[0]


def test_login_of_a_client_user_warns_that_it_is_not_an_administrator() -> None:
    ws = memory_workspace(APRIL, office_exact(me={**ADMIN, "IsClientUser": True}))

    outcome = _describe_login(ws, ws.token_store())

    assert outcome.practice_divisions == [(OFFICE, "Kantoor Jansen & Co")]
    assert outcome.warnings == ["this is a client user, not an accountant's administrator account"]


class ForbiddenListing(RecordedExact):
    """Exact as recorded, except that it forbids this login the listing of administrations."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/system/Divisions"):
            self.reads.append((OFFICE, "system/Divisions"))
            message = {"lang": "", "value": "Forbidden"}
            return httpx.Response(403, json={"error": {"code": "", "message": message}})
        return super().__call__(request)


def test_login_whose_listing_of_administrations_is_forbidden_still_logs_in_with_a_warning() -> None:
    exact = ForbiddenListing(answers=office_exact().answers)
    ws = memory_workspace(APRIL, exact)

    outcome = _describe_login(ws, ws.token_store())

    assert outcome.user.FullName == "Piet Jansen"
    assert outcome.practice_divisions == []
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith("could not list the administrations: ")
    assert (OFFICE, "system/Divisions") in exact.reads


def test_logout_removes_the_tokens_and_the_stored_listing() -> None:
    ws = with_stored_listing(memory_workspace(APRIL, office_exact()))
    store = ws.token_store()
    store.save(TokenSet("access-secret", "refresh-secret", expires_at=0.0, refreshed_at=0.0))
    assert store.load() is not None

    removed = logout(ws)

    assert removed == ["OS keyring"]
    assert ws.token_store().load() is None
    assert stored_division_list(ws.db) is None


def test_logout_when_nobody_is_logged_in_removes_nothing_and_does_not_fail() -> None:
    ws = memory_workspace(APRIL, office_exact())

    assert logout(ws) == []
    assert stored_division_list(ws.db) is None
