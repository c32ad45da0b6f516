"""A refused query form is recognised by Exact's status, whatever the words: the wording of a refusal differs per
endpoint and is unknown for the uncertain forms, so a server that words it differently from the sandbox must still
lead to the fallback, at the cost of one failed call, once."""

from __future__ import annotations

import httpx
import pytest

from exactlink.api.errors import ApiError
from exactlink.api.forms import LEARNED_KEY, RETURNS_ALL, RETURNS_CREATED, refuses_form
from exactlink.services.returns_fetch import fetch_returns
from exactlink.store.meta import get_value
from tests.services.test_fetch_returns_cost import RecordedExact, RecordedWorkspace, _link_account
from tests.services.test_fetch_returns_cost import exact as exact
from tests.services.test_fetch_returns_cost import ws as ws

RETURNS = "read/financial/Returns"


@pytest.mark.parametrize("status", [400, 501])
@pytest.mark.parametrize("words", ["Bad Request", "Ongeldige query", "", "Filtering on these fields is not supported"])
def test_a_400_or_501_refuses_the_form_in_any_words(status: int, words: str) -> None:
    assert refuses_form(ApiError(words, status=status))


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503, None])
def test_an_outage_or_missing_access_is_not_a_refused_form(status: int | None) -> None:
    assert not refuses_form(ApiError("This $filter parameter is not supported for this resource", status=status))


class _RefusesCreated:
    """Answers a ``Created`` filter on Returns with ``status`` and an unfamiliar text, everything else recorded."""

    def __init__(self, exact: RecordedExact, status: int, text: str) -> None:
        self.exact, self.status, self.text = exact, status, text
        self.refused = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(RETURNS) and "Created" in request.url.params.get("$filter", ""):
            self.refused += 1
            self.exact.calls[RETURNS] += 1
            error = {"code": "", "message": {"lang": "", "value": self.text}}
            return httpx.Response(self.status, json={"error": error})
        return self.exact(request)


@pytest.mark.parametrize(("status", "text"), [(400, "The query is invalid."), (501, "Not implemented")])
def test_an_unfamiliar_refusal_takes_the_fallback_with_one_failed_call_ever(
    ws: RecordedWorkspace,
    exact: RecordedExact,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    text: str,
) -> None:
    _link_account(ws)
    refusing = _RefusesCreated(exact, status, text)
    monkeypatch.setattr(ws, "exact", refusing)

    first = fetch_returns(ws, show_progress=False)
    second = fetch_returns(ws, show_progress=False)

    assert first.exit_code == 0 and second.exit_code == 0, first.failure_lines() + second.failure_lines()
    assert refusing.refused == 1, "one failed call to learn the form, and never again"
    assert exact.calls[RETURNS] == 3, "the refused call, then the unfiltered read in both runs"
    assert [(path, condition) for path, condition in exact.filters if path == RETURNS] == [(RETURNS, "")] * 2
    [outcome] = first.outcomes
    assert outcome.as_json()["new"] == 2, "the fallback windows the returns here and finds them all"
    assert get_value(ws.db, LEARNED_KEY) == {RETURNS_CREATED: RETURNS_ALL}, "stored for the next process"


def test_a_server_error_keeps_the_preferred_form(
    ws: RecordedWorkspace,
    exact: RecordedExact,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _link_account(ws)
    refusing = _RefusesCreated(exact, 503, "Service Unavailable")
    monkeypatch.setattr(ws, "exact", refusing)
    fetch_returns(ws, show_progress=False)
    monkeypatch.setattr(ws, "exact", exact)
    fetch_returns(ws, show_progress=False)
    assert (RETURNS, "") not in exact.filters, "an outage is no reason to read every return"
    assert any(path == RETURNS and "Created ge" in condition for path, condition in exact.filters)
    assert not get_value(ws.db, LEARNED_KEY)
