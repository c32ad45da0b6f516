"""Cassettes pin the exact request sequence of the main client calls; no cassette may hold a secret.

Two cassettes:

* ``api/main_client_calls.yaml``: the login's token exchange, ``current/Me``, ``system/Divisions`` and
  ``system/AllDivisions`` of the current division, and a collection of more than one page (``crm/Accounts``
  of the practice division, following ``__next`` verbatim);
* ``api/token_refresh.yaml``: the refresh grant (after the access token's first 570 s, as Exact requires)
  and a call with the new access token.

By default the tests replay them and nothing touches the network. If a cassette is missing, or
``EXACTLINK_TEST_RECORD=1``, it is recorded over real HTTP:

* from the sandbox (started on 127.0.0.1 for the test), by default;
* from a real Exact Online app when these are set (a maintainer re-recording against the real service):
  ``EXACTLINK_TEST_BASE_URL`` (e.g. ``https://start.exactonline.nl``), ``EXACTLINK_TEST_CLIENT_ID``,
  ``EXACTLINK_TEST_CLIENT_SECRET`` and ``EXACTLINK_TEST_REDIRECT_URI`` (a ``http://127.0.0.1:PORT/…`` URI
  registered for the app). The test then opens your browser; log in with an administrator who sees
  the practice administration (it needs more than 60 active accounts, so that paging is recorded). The
  refresh cassette waits 575 s before refreshing (Exact refuses earlier refreshes). Run
  ``EXACTLINK_TEST_RECORD=1 uv run pytest -n0 -s tests/api/test_cassettes.py``, check
  ``git diff tests/cassettes`` and commit. The secret-scan test below must stay green.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exactlink.api.client import ExactClient
from exactlink.api.models import Division, Me
from exactlink.auth.oauth import OAuthApp, OAuthClient, authorization_url
from exactlink.auth.pkce import new_pkce_pair, new_state
from tests.api.cassettes import (
    CASSETTE_BASE,
    CASSETTES,
    REDACTED,
    cassette_vcr,
    find_leaks,
    make_response_scrubber,
    normalise_request,
    scrub_body,
)

CASSETTE = "api/main_client_calls.yaml"
REFRESH_CASSETTE = "api/token_refresh.yaml"
RECORD_ALL = os.environ.get("EXACTLINK_TEST_RECORD") == "1"
RECORD = RECORD_ALL or not (CASSETTES / CASSETTE).exists()
RECORD_REFRESH = RECORD_ALL or not (CASSETTES / REFRESH_CASSETTE).exists()
EARLIEST_REFRESH = 575.0
"""Seconds after issue before a refresh is allowed (Exact: 570), with a margin."""
REAL = {name: os.environ.get(f"EXACTLINK_TEST_{name}", "") for name in ("BASE_URL", "CLIENT_ID", "CLIENT_SECRET")}
REAL_REDIRECT = os.environ.get("EXACTLINK_TEST_REDIRECT_URI", "")
# Replay needs some credentials to send; they are filtered from the cassette anyway.
REPLAY_APP = OAuthApp(CASSETTE_BASE, "replay-client", "replay-secret", "http://127.0.0.1:8765/callback")


@dataclass
class StaticToken:
    """The token from the exchange, used as is (no refresh inside one recording)."""

    token: str

    def access_token(self) -> str:
        return self.token

    def refresh_after_unauthorized(self, rejected: str) -> str:
        return self.token

    def newer_token_than(self, rejected: str) -> str | None:
        return None


def main_client_calls(app: OAuthApp, code: str, verifier: str) -> dict[str, Any]:
    """The recorded sequence; returns what a test can check in both modes."""
    oauth = OAuthClient(app)
    try:
        tokens = oauth.exchange_code(code, verifier)
    finally:
        oauth.close()
    with ExactClient(app.base_url, StaticToken(tokens.access_token)) as client:
        me = client.me()
        assert me.CurrentDivision is not None
        divisions = Division.parse_all(
            client.get_collection(me.CurrentDivision, "system/Divisions", select=Division.select())
        )
        everything = Division.parse_all(
            client.get_collection(me.CurrentDivision, "system/AllDivisions", select=Division.select())
        )
        practice = next(division.Code for division in divisions if division.IsPracticeDivision)
        accounts = list(
            client.get_collection(practice, "crm/Accounts", select="ID,Code,Name", filter="Blocked eq false")
        )
    return {"me": me, "divisions": len(divisions), "all": len(everything), "accounts": len(accounts)}


@dataclass
class Source:
    """What a recording needs: the app, an authorization code with its PKCE verifier, and a way to wait."""

    app: OAuthApp
    code: str
    verifier: str
    wait: Callable[[float], None]


@contextmanager
def recording_source() -> Iterator[Source]:
    """An app, an authorization code and its PKCE verifier, from real Exact Online or the sandbox.

    Waiting is real time against Exact Online and the sandbox's movable clock otherwise.
    """
    pkce = new_pkce_pair()
    state = new_state()
    if all(REAL.values()) and REAL_REDIRECT:
        from exactlink.auth.loopback import LoopbackListener
        from exactlink.services.login import open_browser

        app = OAuthApp(REAL["BASE_URL"].rstrip("/"), REAL["CLIENT_ID"], REAL["CLIENT_SECRET"], REAL_REDIRECT)
        url = authorization_url(app, state=state, code_challenge=pkce.challenge)
        with LoopbackListener(REAL_REDIRECT, state) as listener:
            print(f"\nlog in to record the cassette: {url}")
            open_browser(url)
            code = listener.wait(300)
        yield Source(app, code, pkce.verifier, time.sleep)
        return
    from exactlink.sandbox import Sandbox

    sandbox = Sandbox(clients=64, seed=21)
    with sandbox.serve() as server:
        default = sandbox.default_app
        app = OAuthApp(server.base_url, default.client_id, default.client_secret, default.redirect_uri)
        location = sandbox.browser_login(authorization_url(app, state=state, code_challenge=pkce.challenge))
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
        yield Source(app, code, pkce.verifier, sandbox.advance)


def request_sequence(path: Path) -> list[dict[str, Any]]:
    """The recorded requests (method, path with the division templated, query, the answer's ``__next``)."""
    interactions = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    sequence = []
    for interaction in interactions:
        parts = urllib.parse.urlsplit(interaction["request"]["uri"])
        body = interaction["response"]["body"].get("string") or ""
        try:
            next_link = json.loads(body).get("d", {}).get("__next")
        except (ValueError, AttributeError):
            next_link = None
        sequence.append(
            {
                "method": interaction["request"]["method"],
                "path": re.sub(r"^/api/v1/\d+/", "/api/v1/{division}/", parts.path),
                "query": sorted(urllib.parse.parse_qs(parts.query)),
                "uri": interaction["request"]["uri"],
                "next": next_link,
            }
        )
    return sequence


def test_main_client_calls_match_the_cassette() -> None:
    if RECORD:
        with recording_source() as source:
            recorder = cassette_vcr(record=True, recorded_base=source.app.base_url)
            with recorder.use_cassette(CASSETTE):
                result = main_client_calls(source.app, source.code, source.verifier)
    else:
        with cassette_vcr(record=False).use_cassette(CASSETTE) as cassette:
            result = main_client_calls(REPLAY_APP, "replayed-code", "replayed-verifier-" + "x" * 30)
        assert cassette.all_played, "every recorded call was made again, in order"
    assert result["me"].FullName
    assert result["all"] >= result["divisions"] >= 1
    assert result["accounts"] > 60, "the collection spans more than one page"

    sequence = request_sequence(CASSETTES / CASSETTE)
    groups: list[list[dict[str, Any]]] = []
    for step in sequence:
        if groups and groups[-1][0]["path"] == step["path"]:
            groups[-1].append(step)
        else:
            groups.append([step])
    assert [(group[0]["method"], group[0]["path"], group[0]["query"]) for group in groups] == [
        ("POST", "/api/oauth2/token", []),
        ("GET", "/api/v1/current/Me", ["$select"]),
        ("GET", "/api/v1/{division}/system/Divisions", ["$select"]),
        ("GET", "/api/v1/{division}/system/AllDivisions", ["$select"]),
        ("GET", "/api/v1/{division}/crm/Accounts", ["$filter", "$select"]),
    ]
    assert len(groups[-1]) >= 2, "the accounts span several pages"
    for group in groups[1:]:
        for previous, following in itertools.pairwise(group):
            assert following["uri"] == previous["next"], "the next page is requested exactly as __next said"
        assert group[-1]["next"] is None, "paging stops when __next is absent"
    me_select = urllib.parse.parse_qs(urllib.parse.urlsplit(sequence[1]["uri"]).query)["$select"][0]
    assert me_select == Me.select()


def refresh_calls(app: OAuthApp, refresh_token: str) -> Me:
    """The recorded refresh: trade the refresh token, then use the new access token once."""
    oauth = OAuthClient(app)
    try:
        fresh = oauth.refresh(refresh_token)
    finally:
        oauth.close()
    with ExactClient(app.base_url, StaticToken(fresh.access_token)) as client:
        return client.me()


def test_token_refresh_matches_the_cassette() -> None:
    if RECORD_REFRESH:
        with recording_source() as source:
            oauth = OAuthClient(source.app)
            try:
                tokens = oauth.exchange_code(source.code, source.verifier)  # not part of this cassette
            finally:
                oauth.close()
            if source.wait is time.sleep:
                print(f"\nwaiting {EARLIEST_REFRESH:.0f} s: Exact refuses a refresh before 570 s")
            source.wait(EARLIEST_REFRESH)
            recorder = cassette_vcr(record=True, recorded_base=source.app.base_url)
            with recorder.use_cassette(REFRESH_CASSETTE):
                me = refresh_calls(source.app, tokens.refresh_token)
    else:
        with cassette_vcr(record=False).use_cassette(REFRESH_CASSETTE) as cassette:
            me = refresh_calls(REPLAY_APP, "replayed-refresh-token")
        assert cassette.all_played
    assert me.FullName

    interactions = yaml.safe_load((CASSETTES / REFRESH_CASSETTE).read_text(encoding="utf-8"))["interactions"]
    requests = [
        (item["request"]["method"], urllib.parse.urlsplit(item["request"]["uri"]).path) for item in interactions
    ]
    assert requests == [("POST", "/api/oauth2/token"), ("GET", "/api/v1/current/Me")]
    form = urllib.parse.parse_qsl(interactions[0]["request"]["body"])
    assert form == [
        ("grant_type", "refresh_token"),
        ("refresh_token", REDACTED),
        ("client_id", REDACTED),
        ("client_secret", REDACTED),
    ], "the refresh sends exactly these fields, the secret ones filtered"
    answer = json.loads(interactions[0]["response"]["body"]["string"])
    assert answer["access_token"] == answer["refresh_token"] == REDACTED and answer["expires_in"] == "600"


def test_replay_refuses_a_request_the_cassette_does_not_have() -> None:
    """The cassettes really pin the sequence: a refresh where the exchange was recorded does not replay."""
    from vcr.errors import CannotOverwriteExistingCassetteException

    with cassette_vcr(record=False).use_cassette(CASSETTE), pytest.raises(CannotOverwriteExistingCassetteException):
        oauth = OAuthClient(REPLAY_APP)
        try:
            oauth.refresh("replayed-refresh-token")
        finally:
            oauth.close()


def test_no_cassette_holds_a_token_or_secret() -> None:
    extra = tuple(secret for secret in (REAL["CLIENT_SECRET"], os.environ.get("EXACTLINK_CLIENT_SECRET", "")) if secret)
    files = sorted(CASSETTES.rglob("*.yaml"))
    assert files, "the cassettes are committed"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert find_leaks(text, extra) == [], path
        for interaction in yaml.safe_load(text)["interactions"]:
            request = interaction["request"]
            assert request["headers"].get("Authorization", [REDACTED]) == [REDACTED], path
            form = urllib.parse.parse_qs(request.get("body") or "")
            for name in ("client_secret", "code", "code_verifier", "refresh_token"):
                assert form.get(name, [REDACTED]) == [REDACTED], (path, name)


def test_the_leak_scanner_catches_what_it_must() -> None:
    assert find_leaks("Authorization: Bearer eyJhbGciOi.abc.def")
    assert find_leaks('{"access_token": "sbx.abcdefghijklmnop"}')
    assert find_leaks("grant_type=refresh_token&refresh_token=abc123&client_id=x")
    assert find_leaks("?code=stampNL123.xyz&state=1")
    assert find_leaks("client_secret=hunter2")
    assert find_leaks("nothing here but the secret s3cr3t", ("s3cr3t",))
    clean = 'Bearer REDACTED {"access_token": "REDACTED"} client_secret=REDACTED&code=REDACTED'
    assert find_leaks(clean) == []


def test_the_filters_scrub_tokens_and_rebase_links() -> None:
    body = json.dumps({"access_token": "sbx.secret", "refresh_token": "sbxr.secret", "expires_in": "600"}).encode()
    scrubbed = json.loads(scrub_body(body, None))
    assert scrubbed == {"access_token": REDACTED, "refresh_token": REDACTED, "expires_in": "600"}
    page = json.dumps({"d": {"results": [], "__next": "http://127.0.0.1:5555/api/v1/1/crm/Accounts?$skiptoken=x"}})
    rebased = json.loads(scrub_body(page.encode(), "http://127.0.0.1:5555"))
    assert rebased["d"]["__next"] == CASSETTE_BASE + "/api/v1/1/crm/Accounts?$skiptoken=x"
    response = {"headers": {"Set-Cookie": ["a=b"], "Content-Type": ["x"]}, "body": {"string": body}}
    assert "Set-Cookie" not in make_response_scrubber(None)(response)["headers"]

    class Req:
        uri = "http://127.0.0.1:5555/api/v1/current/Me?$select=UserID"

    assert normalise_request(Req()).uri == CASSETTE_BASE + "/api/v1/current/Me?$select=UserID"
