"""Transport-independent answers of the sandbox and the helpers that build Exact-shaped ones."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Reply:
    """One HTTP answer: status, headers and body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer (compact, UTF-8)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    """Exact's error body: ``{"error":{"code":"","message":{"lang":"","value":…}}}``."""
    return json_reply(status, {"error": {"code": "", "message": {"lang": "", "value": message}}}, headers)


def html_reply(status: int, html: str, headers: dict[str, str] | None = None) -> Reply:
    """An HTML page (the OAuth login and error pages)."""
    return Reply(status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}, html.encode("utf-8"))


def empty_reply(status: int, headers: dict[str, str] | None = None) -> Reply:
    """An answer without a body (204 for PUT/DELETE, 429)."""
    return Reply(status, dict(headers or {}), b"")
