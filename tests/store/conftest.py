"""A fresh, migrated mirror for each store test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlite_utils

from exactlink.store.db import open_db


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    """The test's own database under its EXACTLINK_HOME."""
    database = open_db()
    yield database
    database.close()
