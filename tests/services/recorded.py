"""What a use-case test runs on: an in-memory database, a frozen clock, and Exact Online as recorded answers.

:class:`RecordedExact` is an ``httpx.MockTransport`` handler at the API boundary: each resource of each division
answers the rows the test recorded for it (as Exact sends them, from tests/fixtures or written inline). A GET
applies a ``$filter`` of ``Field eq value`` (or ``ne``) terms joined by ``and`` (what exactlink sends for a key or an
account; a ``Timestamp``/``Modified`` cursor term passes every recorded row: they are what changed since);
POST adds a row (with a new ``ID`` unless it has one), PUT changes the row addressed by its key, DELETE removes it;
every write is kept in ``writes``. It knows nothing of exactlink's rules: a test that needs Exact to refuse or to
ignore a write says so in ``refuse``/``ignore``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from exactlink.api.client import ExactClient
from exactlink.clock import Clock
from exactlink.store.db import migrate
from exactlink.workspace import RecordingOutput, Workspace

FIXTURES = Path(__file__).parent.parent / "fixtures"
BASE_URL = "https://start.exactonline.nl"
_TERM = re.compile(r"^\s*(\w+) (eq|ne) (guid'[^']*'|'[^']*'|-?\d+|true|false|null)\s*$")
_CURSOR = re.compile(r"^\s*(Timestamp|Modified|Created) (gt|ge) ")
_KEY = re.compile(r"^(?P<resource>.+)\((?:guid)?'(?P<key>[^']*)'\)$")


def recorded(name: str) -> Any:
    """The JSON file ``tests/fixtures/<name>``."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _literal(text: str) -> Any:
    if text.startswith("guid'"):
        return text[5:-1].lower()
    if text.startswith("'"):
        return text[1:-1]
    if text in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[text]
    return int(text)


def _matches(row: dict[str, Any], filter_text: str | None) -> bool:
    if not filter_text:
        return True
    for term in filter_text.split(" and "):
        if _CURSOR.match(term):
            continue  # a cursor or a window: the recorded rows are what changed since, or what the window holds
        found = _TERM.match(term)
        assert found, f"the recorded answers understand only 'Field eq/ne value' filters, not {term!r}"
        name, operator, value = found.group(1), found.group(2), _literal(found.group(3))
        actual = row.get(name)
        if isinstance(actual, str) and isinstance(value, str):
            actual, value = actual.lower(), value.lower()
        if (actual == value) != (operator == "eq"):
            return False
    return True


@dataclass
class RecordedExact:
    """Exact Online as the rows a test recorded, per ``(division, resource)``."""

    answers: dict[tuple[int | None, str], list[dict[str, Any]]] = field(default_factory=dict)
    """``(division, resource) -> rows``; ``current/Me`` (no division in its URL) is ``(None, "current/Me")``."""
    writes: list[tuple[str, int | None, str, dict[str, Any]]] = field(default_factory=list)
    refuse: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(method, resource) -> message``: Exact answers 400 with that message."""
    ignore: set[tuple[str, str]] = field(default_factory=set)
    """``(method, resource)``: Exact answers as if done and changes nothing (a write it skips silently)."""
    reads: list[tuple[int | None, str]] = field(default_factory=list)
    created_with: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``resource -> fields``: what Exact fills in on a POST besides the body (``{"Status": 0}``)."""

    def rows(self, division: int | None, resource: str) -> list[dict[str, Any]]:
        """The recorded rows of a resource (created empty)."""
        return self.answers.setdefault((division, resource), [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        division_text, resource = request.url.path.split("/api/v1/", 1)[1].split("/", 1)
        division = None if division_text == "current" else int(division_text)
        resource = f"current/{resource}" if division is None else resource
        keyed = _KEY.match(resource)
        key = keyed.group("key").lower() if keyed else None
        resource = keyed.group("resource") if keyed else resource
        if request.method == "GET":
            self.reads.append((division, resource))
            rows = self.rows(division, resource)
            found = [row for row in rows if _matches(row, request.url.params.get("$filter"))]
            if key is not None:
                found = [row for row in found if str(row.get("ID", "")).lower() == key]
            return httpx.Response(200, json={"d": {"results": found}})
        body = json.loads(request.content or b"{}")
        self.writes.append((request.method, division, resource if key is None else f"{resource}({key})", body))
        if (request.method, resource) in self.refuse:
            message = self.refuse[(request.method, resource)]
            return httpx.Response(400, json={"error": {"code": "", "message": {"lang": "", "value": message}}})
        if (request.method, resource) in self.ignore:
            return httpx.Response(201, json={"d": body}) if request.method == "POST" else httpx.Response(204)
        rows = self.rows(division, resource)
        if request.method == "POST":
            row = {"ID": str(uuid.uuid4()), **self.created_with.get(resource, {}), **body}
            rows.append(row)
            return httpx.Response(201, json={"d": row})
        target = next((row for row in rows if str(row.get("ID", "")).lower() == key), None)
        if target is None:
            return httpx.Response(404, json={"error": {"code": "", "message": {"lang": "", "value": "Not found"}}})
        if request.method == "PUT":
            target.update(body)
        elif request.method == "DELETE":
            rows.remove(target)
        return httpx.Response(204)


class _Tokens:
    def access_token(self) -> str:
        return "recorded-token"

    def refresh_after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("recorded answers never refuse the token")


def recorded_client(exact: RecordedExact) -> ExactClient:
    """An Exact Online client whose every call is answered by ``exact``."""
    return ExactClient(BASE_URL, _Tokens(), transport=httpx.MockTransport(exact), sleep=lambda seconds: None)


def memory_db(clock: Clock | None = None) -> sqlite_utils.Database:
    """A migrated in-memory database (its migrations dated by ``clock``)."""
    database = sqlite_utils.Database(memory=True)
    database.conn.execute("PRAGMA foreign_keys = ON")
    migrate(database, clock=clock)
    return database


def memory_workspace(
    moment: datetime,
    exact: RecordedExact | None = None,
    *,
    db: sqlite_utils.Database | None = None,
    client_factory: Callable[[], ExactClient] | None = None,
) -> Workspace:
    """A workspace on an in-memory database, frozen at ``moment``, with Exact as ``exact``'s recorded answers."""
    assert moment.tzinfo is UTC, "name the moment in UTC"
    factory = client_factory or ((lambda: recorded_client(exact)) if exact is not None else None)
    return Workspace(
        clock=Clock.frozen(moment),
        output=RecordingOutput(),
        db=db or memory_db(Clock.frozen(moment)),
        client_factory=factory,
        sleep=lambda seconds: None,
    )
