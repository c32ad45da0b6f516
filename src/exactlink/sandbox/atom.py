"""The Atom (XML) form of an answer, for a request that does not ask for JSON.

Exact Online answers a GET without ``Accept: application/json`` (and without ``$format=json``) with 200 in
Atom XML, as WCF Data Services do; JSON is only served when asked for (exact-evidence.md §8). The sandbox
builds its answers as JSON and turns them into a minimal but valid Atom document here: a ``feed`` of
``entry`` elements (or one ``entry``) whose ``m:properties`` carry the values with their Edm types, a
``next`` link for ``__next``, ``m:count`` for ``__count``, and Exact's XML ``error`` body for errors.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr

ATOM_TYPE = "application/atom+xml;type={kind};charset=utf-8"
XML_TYPE = "application/xml;charset=utf-8"
_ATOM = "http://www.w3.org/2005/Atom"
_DATA = "http://schemas.microsoft.com/ado/2007/08/dataservices"
_META = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
_SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
_JSON_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEADER = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
_NAMESPACES = f'xmlns="{_ATOM}" xmlns:d="{_DATA}" xmlns:m="{_META}"'


def atom_body(json_body: bytes, self_url: str, updated: datetime) -> tuple[str, bytes] | None:
    """The content type and Atom body for a JSON answer (``None`` when it is not an OData document)."""
    try:
        document = json.loads(json_body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if "error" in document:
        return XML_TYPE, _error(document["error"]).encode("utf-8")
    payload = document.get("d")
    stamp = updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(payload, dict) and isinstance(payload.get("results"), list):
        return ATOM_TYPE.format(kind="feed"), _feed(payload, self_url, stamp).encode("utf-8")
    if isinstance(payload, dict):
        return ATOM_TYPE.format(kind="entry"), (_HEADER + _entry(payload, stamp, namespaces=True)).encode("utf-8")
    return None


def _feed(payload: dict[str, Any], self_url: str, stamp: str) -> str:
    title = self_url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    parts = [
        f"{_HEADER}<feed {_NAMESPACES}>",
        f'<id>{escape(self_url)}</id><title type="text">{escape(title)}</title><updated>{stamp}</updated>',
        f'<link rel="self" title={quoteattr(title)} href={quoteattr(self_url)} />',
    ]
    if "__count" in payload:
        parts.append(f"<m:count>{escape(str(payload['__count']))}</m:count>")
    parts += [_entry(row, stamp) for row in payload["results"] if isinstance(row, dict)]
    if payload.get("__next"):
        parts.append(f'<link rel="next" href={quoteattr(str(payload["__next"]))} />')
    parts.append("</feed>")
    return "".join(parts)


def _entry(row: dict[str, Any], stamp: str, *, namespaces: bool = False) -> str:
    metadata = row.get("__metadata") or {}
    uri = str(metadata.get("uri", ""))
    type_name = str(metadata.get("type", ""))
    properties = "".join(_property(name, value) for name, value in row.items() if name != "__metadata")
    opening = f"<entry {_NAMESPACES}>" if namespaces else "<entry>"
    return (
        f'{opening}<id>{escape(uri)}</id><title type="text" /><updated>{stamp}</updated>'
        "<author><name /></author>"
        f'<link rel="edit" href={quoteattr(uri)} />'
        f"<category term={quoteattr(type_name)} scheme={quoteattr(_SCHEME)} />"
        f'<content type="application/xml"><m:properties>{properties}</m:properties></content></entry>'
    )


def _property(name: str, value: Any) -> str:
    if value is None:
        return f'<d:{name} m:null="true" />'
    edm_type, text = _typed(value)
    type_attribute = f' m:type="{edm_type}"' if edm_type != "Edm.String" else ""
    return f"<d:{name}{type_attribute}>{escape(text)}</d:{name}>"


def _typed(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "Edm.Boolean", "true" if value else "false"
    if isinstance(value, int):
        return "Edm.Int32", str(value)
    if isinstance(value, float):
        return "Edm.Double", repr(value)
    if isinstance(value, str):
        date = _JSON_DATE.match(value)
        if date:
            # Atom carries the same wall-clock time as the JSON milliseconds, written out.
            wall_clock = datetime(1970, 1, 1) + timedelta(milliseconds=int(date.group(1)))
            return "Edm.DateTime", wall_clock.isoformat(timespec="milliseconds")
        if _GUID.match(value):
            return "Edm.Guid", value
        return "Edm.String", value
    return "Edm.String", json.dumps(value)


def _error(error: Any) -> str:
    message = ""
    if isinstance(error, dict):
        inner = error.get("message")
        message = str(inner.get("value", "")) if isinstance(inner, dict) else str(inner or "")
    return f'{_HEADER}<error xmlns="{_META}"><code></code><message xml:lang="en-US">{escape(message)}</message></error>'
