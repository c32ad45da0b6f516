"""``tenant list`` and ``tenant select`` on their own: Exact's ``current/Me`` and ``system/Divisions`` recorded, an
in-memory database, a frozen clock; no server, no CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from exactlink.errors import UsageError
from exactlink.services.tenant import list_divisions_with_office, resolve_office, save_office, selection_json
from exactlink.store.meta import get_office
from exactlink.workspace import Workspace
from tests.services.recorded import RecordedExact, memory_workspace

# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
OFFICE = 100
CLIENT = 2001


@pytest.fixture
def ws() -> Iterator[Workspace]:
    exact = RecordedExact()
    exact.rows(None, "current/Me").append(
        {"UserID": "0c000000-0000-4000-8000-000000000001", "FullName": "Anna de Vries", "CurrentDivision": OFFICE}
    )
    exact.rows(OFFICE, "system/Divisions").extend(
        [
            {"Code": OFFICE, "Description": "Kantoor Jansen & Co", "IsPracticeDivision": True, "Status": 1},
            {"Code": CLIENT, "Description": "Bakkerij Jansen B.V.", "IsPracticeDivision": False, "Status": 1},
        ]
    )
    workspace = memory_workspace(APRIL, exact)
    yield workspace
    workspace.close()


def test_select_by_code_stores_the_office_chosen_at_the_frozen_moment(ws: Workspace) -> None:
    entry, warnings = resolve_office(ws, str(OFFICE))

    office = save_office(ws, entry)

    assert (entry.code, entry.name, warnings) == (OFFICE, "Kantoor Jansen & Co", [])
    assert get_office(ws.db) == office
    assert (office.division, office.selected_at) == (OFFICE, "2026-04-15T08:00:00+00:00")
    assert selection_json(entry, warnings, dry_run=False)["stored"] is True


def test_select_warns_about_an_administration_that_is_no_practice(ws: Workspace) -> None:
    entry, warnings = resolve_office(ws, "Bakkerij")

    assert entry.code == CLIENT
    assert warnings == [f"administration {CLIENT} is not marked as a practice (office) administration in Exact Online"]


def test_select_refuses_an_administration_the_login_does_not_see(ws: Workspace) -> None:
    with pytest.raises(UsageError, match="not among the administrations this login sees"):
        resolve_office(ws, "999")
    assert get_office(ws.db) is None


def test_list_shows_every_administration_and_the_chosen_office(ws: Workspace) -> None:
    overview, office = list_divisions_with_office(ws)
    assert office is None
    save_office(ws, resolve_office(ws, str(OFFICE))[0])

    overview, office = list_divisions_with_office(ws)

    assert [(entry.code, entry.practice) for entry in overview.divisions] == [(OFFICE, True), (CLIENT, False)]
    assert office is not None and office["division"] == OFFICE
