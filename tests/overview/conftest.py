"""The overview tests' world: the small office of :mod:`tests.overview.office` on a named day."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlite_utils

from exactlink.clock import Clock
from exactlink.settings import load_settings
from exactlink.store.db import migrate
from exactlink.workspace import RecordingOutput, Workspace
from tests.overview.office import NOW, populate


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    """An in-memory mirror holding the office."""
    database = sqlite_utils.Database(memory=True)
    migrate(database)
    populate(database)
    yield database
    database.conn.close()


@pytest.fixture
def ws(db: sqlite_utils.Database) -> Workspace:
    """A workspace on that mirror with the clock frozen at :data:`tests.overview.office.NOW`."""
    workspace = Workspace(load_settings(), clock=Clock.frozen(NOW), output=RecordingOutput())
    workspace._db = db  # the in-memory mirror instead of the file one
    return workspace
