"""vcrpy set-up for exactlink's cassettes: secrets filtered, the (random) host normalised.

Everything that identifies a login is scrubbed before a cassette is written:

* request headers ``Authorization``/``Cookie`` and response headers ``Set-Cookie``;
* form fields ``client_secret``, ``code``, ``code_verifier``, ``refresh_token`` (and ``client_id``) of token requests;
* ``access_token``/``refresh_token`` in JSON answers.

The sandbox listens on a random port and a real Exact Online site has its own host, so every recorded
URL (request URIs and ``__next`` links in bodies) is rewritten to ``CASSETTE_BASE``; the same rewrite
runs on live requests during replay, so matching is on method, path and query, plus the field names and
``grant_type`` of form-encoded token requests (their values are secrets or differ per login). Query strings are
kept verbatim (vcr's query filter would re-encode and reorder them): the client's requests carry no
secret in the query, and the leak scan below would catch one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import vcr

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
CASSETTE_BASE = "https://start.exactonline.invalid"
REDACTED = "REDACTED"
SECRET_FORM_FIELDS = ("client_secret", "code", "code_verifier", "refresh_token", "client_id")
SECRET_JSON_FIELDS = ("access_token", "refresh_token")
DROPPED_RESPONSE_HEADERS = ("set-cookie", "x-request-id", "x-correlation-id")


def _rebase(url: str) -> str:
    parts = urlsplit(url)
    base = urlsplit(CASSETTE_BASE)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def normalise_request(request: Any) -> Any:
    """vcr ``before_record_request``: one fixed host for every request."""
    request.uri = _rebase(request.uri)
    return request


def scrub_body(body: bytes, recorded_base: str | None) -> bytes:
    """Blank the tokens in a JSON body and rewrite absolute links to ``CASSETTE_BASE``."""
    if not body:
        return body
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return body
    if isinstance(data, dict):
        for name in SECRET_JSON_FIELDS:
            if name in data:
                data[name] = REDACTED
    text = json.dumps(data, ensure_ascii=False)
    if recorded_base:
        text = text.replace(recorded_base.rstrip("/"), CASSETTE_BASE)
    return text.encode("utf-8")


def make_response_scrubber(recorded_base: str | None) -> Any:
    """vcr ``before_record_response``: drop cookies and ids, blank tokens, rebase links."""

    def scrub(response: dict[str, Any]) -> dict[str, Any]:
        headers = response.get("headers", {})
        for name in list(headers):
            if name.lower() in DROPPED_RESPONSE_HEADERS:
                del headers[name]
        body = response.get("body", {})
        if isinstance(body.get("string"), (bytes, str)):
            raw = body["string"]
            body["string"] = scrub_body(raw.encode() if isinstance(raw, str) else raw, recorded_base)
        return response

    return scrub


def _form(request: Any) -> list[tuple[str, str]] | None:
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body or "=" not in body or body.lstrip().startswith(("{", "[")):
        return None
    return parse_qsl(body, keep_blank_values=True)


def form_shape(live: Any, recorded: Any) -> None:
    """vcr matcher: a form-encoded request (the token endpoint) sends the same fields in the same order and the
    same ``grant_type`` as recorded; the values themselves are secrets (filtered) or per-login."""
    live_form, recorded_form = _form(live), _form(recorded)
    if live_form is None or recorded_form is None:
        assert live_form == recorded_form, "one request is a form, the other is not"
        return
    assert [name for name, _ in live_form] == [name for name, _ in recorded_form], "other form fields"
    assert dict(live_form).get("grant_type") == dict(recorded_form).get("grant_type"), "another grant_type"


def cassette_vcr(*, record: bool, recorded_base: str | None = None) -> vcr.VCR:
    """A VCR for ``tests/cassettes``: replay only (``record=False``) or (re-)record everything."""
    recorder = vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if record else "none",
        match_on=("method", "path", "query", "form_shape"),
        filter_headers=[("authorization", REDACTED), ("cookie", None)],
        filter_post_data_parameters=[(name, REDACTED) for name in SECRET_FORM_FIELDS],
        before_record_request=normalise_request,
        before_record_response=make_response_scrubber(recorded_base),
        decode_compressed_response=True,
    )
    recorder.register_matcher("form_shape", form_shape)
    return recorder


_LEAKS = [
    re.compile(r"(?i)bearer\s+(?!REDACTED)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r'"(?:access_token|refresh_token)"\s*:\s*"(?!REDACTED")'),
    re.compile(r"(?:client_secret|code_verifier|refresh_token|[?&]code)=(?!REDACTED)[^&\s'\"]+"),
    re.compile(r"\bsbxr?\.[A-Za-z0-9_-]{8,}"),  # the sandbox's token shape
    re.compile(r"stampNL\d{3}\."),  # the sandbox's authorization-code shape
]


def find_leaks(text: str, extra_secrets: tuple[str, ...] = ()) -> list[str]:
    """Every token- or secret-like string in ``text`` (a cassette's YAML)."""
    found = [match.group(0) for pattern in _LEAKS for match in pattern.finditer(text)]
    found += [secret for secret in extra_secrets if secret and secret in text]
    return found
