"""No token, client secret, authorization code or PKCE verifier in stdout, stderr, the log, the DB or state files."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path

import pytest

from exactlink.auth import pkce
from exactlink.auth.oauth import TokenSet
from exactlink.auth.tokens import service_name
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser, Exact
from tests.cli import run_cli
from tests.conftest import MemoryKeyring


def test_secrets_never_leak(
    exact: Exact,
    browser: Browser,
    memory_keyring: MemoryKeyring,
    exactlink_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifiers: list[str] = []
    original = pkce.new_pkce_pair

    def recording_pair() -> pkce.PkcePair:
        pair = original()
        verifiers.append(pair.verifier)
        return pair

    monkeypatch.setattr(pkce, "new_pkce_pair", recording_pair)
    # Logging is configured once per process; point it at this test's EXACTLINK_HOME.
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    outputs: list[str] = []

    def cli(*args: str) -> None:
        result = run_cli("-vv", *args)
        outputs.extend([result.stdout, result.stderr])

    def tokens_now() -> TokenSet:
        text = memory_keyring.store[(service_name(exact.base_url, CLIENT_ID), "tokens")]
        tokens = TokenSet.from_json(text)
        assert tokens is not None
        return tokens

    cli("login")
    first = tokens_now()
    cli("tenant", "list")
    cli("tenant", "select", str(exact.sandbox.data.office_division))
    exact.sandbox.advance(601)
    cli("tenant", "list", "--json")  # 401, refresh, retry
    second = tokens_now()
    assert second.refresh_token != first.refresh_token
    cli("status")
    cli("status", "--json")
    cli("login", "--json")
    # A failed refresh (rotated-away token) must not echo the token either.
    stale = TokenSet(second.access_token, first.refresh_token, expires_at=0, refreshed_at=second.refreshed_at)
    memory_keyring.store[(service_name(exact.base_url, CLIENT_ID), "tokens")] = stale.to_json()
    cli("tenant", "list")
    assert "run `exactlink login` again" in outputs[-1]

    codes = [urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["code"][0] for url in browser.redirects]
    secrets = {
        "client secret": CLIENT_SECRET,
        "access token 1": first.access_token,
        "refresh token 1": first.refresh_token,
        "access token 2": second.access_token,
        "refresh token 2": second.refresh_token,
        **{f"code {n}": code for n, code in enumerate(codes)},
        **{f"verifier {n}": verifier for n, verifier in enumerate(verifiers)},
    }
    assert len(codes) == 2 and len(verifiers) == 2
    places = {"terminal": "\n".join(outputs)}
    for path in exactlink_home.rglob("*"):
        if path.is_file() and path.name != "tokens.json":
            places[str(path.relative_to(exactlink_home))] = path.read_bytes().decode("utf-8", "replace")
    assert any(name.endswith("exactlink.db") for name in places), "the database was written"
    assert any(name.endswith(".log") for name in places), "the log was written"
    leaks = [(what, where) for what, secret in secrets.items() for where, text in places.items() if secret in text]
    assert leaks == []
    # Encoded forms too (a code is URL-encoded in the callback URL).
    for secret in secrets.values():
        assert urllib.parse.quote(secret, safe="") not in places["terminal"]
