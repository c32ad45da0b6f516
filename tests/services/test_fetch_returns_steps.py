"""The steps of ``fetch-returns`` on their own: planning, mapping and storing one administration's answers.

An in-memory database, the returns Exact sent as a recorded JSON file, a fixed day; no server, no threads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from exactlink.services.returns_fetch import (
    AdminOutcome,
    Fetched,
    NothingToFetch,
    plan_targets,
    return_rows,
    store_administration,
)
from exactlink.settings import Settings, load_settings
from exactlink.store.db import migrate
from exactlink.store.links import set_administration_link
from exactlink.store.relations import RelationRecord, upsert_relation
from exactlink.store.returns import relation_returns

TODAY = date(2026, 4, 15)
NOW = datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
ANSWER: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "returns_2001.json").read_text(encoding="utf-8")
)


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = sqlite_utils.Database(memory=True)
    migrate(database)
    upsert_relation(database, RelationRecord("R1", name="Bakkerij Jansen"), now=NOW)
    upsert_relation(database, RelationRecord("R2", name="Not linked"), now=NOW)
    set_administration_link(database, "R1", 2001, now=NOW)
    yield database
    database.conn.close()


def test_plan_targets_lists_the_linked_administrations(db: sqlite_utils.Database, settings: Settings) -> None:
    [target] = plan_targets(db, settings, TODAY, now=NOW)
    assert (target.relation_number, target.relation_name, target.division) == ("R1", "Bakkerij Jansen", 2001)
    assert target.first_fetch is True
    assert target.window_start < TODAY
    with pytest.raises(NothingToFetch, match="nothing to fetch for relation R2"):
        plan_targets(db, settings, TODAY, relations=["R2"], now=NOW)


def test_return_rows_keeps_known_kinds_and_counts_the_rest(db: sqlite_utils.Database, settings: Settings) -> None:
    [target] = plan_targets(db, settings, TODAY, now=NOW)
    outcome = AdminOutcome("R1", "Bakkerij Jansen", 2001, None, target.window_start)
    rows = return_rows(target, ANSWER, settings, outcome)
    assert [(row.document_id, row.kind, row.relation_number) for row in rows] == [
        ("d0000000-0000-4000-8000-000000000001", "btw", "R1"),
        ("d0000000-0000-4000-8000-000000000002", "loonheffing", "R1"),
    ]
    assert rows[0].due_date == date(2026, 4, 30)
    assert outcome.unknown == 1
    assert dict(outcome.kept) == {"btw": 1, "loonheffing": 1}


def test_store_administration_writes_once_and_counts_changes(db: sqlite_utils.Database, settings: Settings) -> None:
    [target] = plan_targets(db, settings, TODAY, now=NOW)
    fetched = Fetched(returns=ANSWER, returns_called=True)
    preview = store_administration(db, target, fetched, settings, TODAY, dry_run=True, now=NOW)
    assert (preview.fetched, preview.new) == (3, 2)
    assert relation_returns(db, "R1") == []
    first = store_administration(db, target, fetched, settings, TODAY, now=NOW)
    assert (first.new, first.changed, first.unchanged) == (2, 0, 0)
    assert first.backlog is not None and "2 returns of relation R1 arrived at once" in first.backlog
    again = store_administration(db, target, fetched, settings, TODAY, now=NOW)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    assert sorted(row.exact.kind for row in relation_returns(db, "R1")) == ["btw", "loonheffing"]
