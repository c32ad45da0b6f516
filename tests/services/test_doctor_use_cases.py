"""``doctor`` on its own: an in-memory database, a frozen clock, the login in the test's in-memory keyring, and
every probe answered by Exact's recorded answers through the workspace's transport (so the stored login, the
token provider and the clock check run as in an office); no server, no CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from exactlink.api.forms import LEARNED_KEY, RETURNS_ALL, RETURNS_CREATED
from exactlink.auth.oauth import TokenSet
from exactlink.clock import Clock
from exactlink.services.doctor import FAILED, FALLBACK, OK, SKIPPED, WARN, DoctorReport, run_doctor
from exactlink.store.links import set_administration_link
from exactlink.store.meta import get_value, set_office
from exactlink.store.relations import RelationRecord, upsert_relation
from exactlink.workspace import RecordingOutput, Workspace
from tests.services.recorded import RecordedExact, memory_db

OFFICE, CLIENT = 100, 2001
# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


class DatedExact(RecordedExact):
    """Exact as recorded, each answer dated by Exact's own clock; ``refuse_filters`` are ``$filter`` texts it
    answers 400 to (a form Exact does not accept), read as substrings."""

    server_time: datetime = APRIL
    refuse_filters: tuple[str, ...] = ()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        filter_text = request.url.params.get("$filter") or ""
        if request.method == "GET" and any(part in filter_text for part in self.refuse_filters):
            message = {"lang": "", "value": "Invalid filter"}
            answer = httpx.Response(400, json={"error": {"code": "", "message": message}})
        else:
            answer = super().__call__(request)
        answer.headers["Date"] = format_datetime(self.server_time, usegmt=True)
        return answer


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The office's app registration and its client secret."""
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", "c0ffee00-0000-4000-8000-000000000001")
    monkeypatch.setenv("EXACTLINK_CLIENT_SECRET", "recorded-secret")


@pytest.fixture
def exact() -> DatedExact:
    exact = DatedExact()
    exact.rows(None, "current/Me").append(
        {"UserID": "a0000000-0000-4000-8000-000000000001", "UserName": "jansen.admin", "CurrentDivision": OFFICE}
    )
    exact.rows(OFFICE, "system/Divisions").extend(
        [
            {"Code": OFFICE, "Description": "Kantoor Jansen & Co", "IsPracticeDivision": True, "Status": 1},
            {"Code": CLIENT, "Description": "Bakkerij Jansen B.V.", "Status": 1, "BlockingStatus": 0},
        ]
    )
    return exact


def workspace(exact: DatedExact, *, logged_in_days_ago: float = 1) -> Workspace:
    """The office's workspace at ``APRIL``: office chosen, one client administration linked, a login made
    ``logged_in_days_ago`` (its access token still valid)."""
    ws = Workspace(
        clock=Clock.frozen(APRIL),
        output=RecordingOutput(),
        db=memory_db(Clock.frozen(APRIL)),
        transport=httpx.MockTransport(exact),
        sleep=lambda seconds: None,
    )
    set_office(ws.db, OFFICE, "Kantoor Jansen & Co", now=APRIL)
    upsert_relation(ws.db, RelationRecord("R1", name="Bakkerij Jansen"), now=APRIL)
    set_administration_link(ws.db, "R1", CLIENT, now=APRIL)
    login = APRIL - timedelta(days=logged_in_days_ago)
    tokens = TokenSet("access", "refresh", expires_at=APRIL.timestamp() + 600, refreshed_at=login.timestamp(),
                      user={"username": "jansen.admin"})  # fmt: skip
    ws.token_store().save(tokens)
    return ws


@pytest.fixture
def ws(exact: DatedExact) -> Iterator[Workspace]:
    office_ws = workspace(exact)
    yield office_ws
    office_ws.close()


def statuses(report: DoctorReport) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def test_a_healthy_office_passes_every_check_and_probes_each_administration_once(
    ws: Workspace, exact: DatedExact
) -> None:
    report = run_doctor(ws)

    assert report.healthy and report.failed_calls == 0
    found = statuses(report)
    assert found["logged in"] == found["refresh token"] == found["server time"] == OK
    assert found["office administration"] == found["client administrations"] == OK
    assert found[RETURNS_CREATED] == OK and found["accounts (sync)"] == OK
    read = {(division, resource) for division, resource in exact.reads}
    assert (OFFICE, "sync/CRM/Accounts") in read and (CLIENT, "read/financial/Returns") in read
    assert {division for division, _ in exact.reads} == {None, OFFICE, CLIENT}
    assert exact.writes == [], "doctor only reads"
    assert get_value(ws.db, LEARNED_KEY)[RETURNS_CREATED] == RETURNS_CREATED


def test_a_refused_returns_filter_takes_the_fallback_and_remembers_it(ws: Workspace, exact: DatedExact) -> None:
    exact.refuse_filters = ("Created ge",)

    report = run_doctor(ws)

    check = next(check for check in report.checks if check.name == RETURNS_CREATED)
    assert check.status == FALLBACK and RETURNS_ALL in check.detail
    assert report.healthy and report.failed_calls == 1
    assert get_value(ws.db, LEARNED_KEY)[RETURNS_CREATED] == RETURNS_ALL, "fetch-returns reads it that way now"


def test_a_clock_two_minutes_off_warns_to_set_the_clock(ws: Workspace, exact: DatedExact) -> None:
    exact.server_time = APRIL - timedelta(minutes=2)

    report = run_doctor(ws)

    check = next(check for check in report.checks if check.name == "server time")
    assert (check.status, check.detail) == (WARN, "this machine is 120 s ahead of Exact Online")
    assert report.healthy, "a warning is not a failure"


def test_an_expired_login_is_a_failure_and_nothing_is_probed(exact: DatedExact) -> None:
    ws = workspace(exact, logged_in_days_ago=31)

    report = run_doctor(ws)

    assert not report.healthy
    assert statuses(report)["logged in"] == FAILED
    assert statuses(report)["Exact Online"] == SKIPPED
    assert exact.reads == [], "no call without a usable login"
    ws.close()


def test_a_linked_administration_without_consent_is_named_and_another_is_probed(
    ws: Workspace, exact: DatedExact
) -> None:
    exact.rows(OFFICE, "system/Divisions").pop()  # the bakery's administration: no consent for this app
    exact.rows(OFFICE, "system/AllDivisions").append({"Code": CLIENT, "Description": "Bakkerij Jansen B.V."})
    exact.rows(OFFICE, "system/Divisions").append({"Code": 2002, "Description": "Kapsalon Anna", "BlockingStatus": 0})

    report = run_doctor(ws)

    check = next(check for check in report.checks if check.name == "client administrations")
    assert check.status == WARN and f"{CLIENT} (first of 1 linked): no consent for this app" in check.detail
    assert (2002, "read/financial/Returns") in exact.reads and (CLIENT, "read/financial/Returns") not in exact.reads
    assert report.healthy
