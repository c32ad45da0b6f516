"""Every 401 of the sandbox carries its reason, URL-encoded, in ``WWW-Authenticate`` as Exact does
(exact-evidence.md §7): an expired token, an unknown token, no token, and a reason that is not about the token."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from exactlink.sandbox.app import Sandbox
from tests.sandbox.conftest import make_sandbox

ME = "/api/v1/current/Me"


def reason_of(response: httpx.Response) -> str:
    """The decoded reason in the challenge (read the way an independent client would)."""
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    match = re.search(r'error_description="([^"]*)"', challenge)
    assert match, challenge
    assert " " not in match.group(1), "the reason is URL-encoded"
    return unquote(match.group(1))


@pytest.fixture
def served() -> tuple[Sandbox, str]:
    sandbox = make_sandbox(accounts=3)
    with sandbox.serve() as server:
        yield sandbox, server.base_url


def test_the_reasons_over_http(served: tuple[Sandbox, str]) -> None:
    sandbox, base = served
    token = sandbox.issue_tokens()["access_token"]
    json_only = {"Accept": "application/json"}
    with httpx.Client(base_url=base, headers=json_only, timeout=10) as plain:
        assert reason_of(plain.get(ME)) == "no access token"
        assert reason_of(plain.get(ME, headers={"Authorization": "Bearer made-up"})) == "access token invalid"
        bearer = {"Authorization": f"Bearer {token}"}
        assert plain.get(ME, params={"$select": "UserID"}, headers=bearer).status_code == 200
        sandbox.faults.script("unauthorized")
        assert reason_of(plain.get(ME, headers=bearer)) == "message expired"
        sandbox.advance(601)
        assert reason_of(plain.get(ME, headers=bearer)) == "access token expired"
