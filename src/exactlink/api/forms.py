"""The query forms whose acceptance differs per Exact Online tenant, their fallbacks, and how a refusal looks.

Public evidence leaves open whether Exact accepts ``read/financial/Returns`` filtered on ``Created``: the preferred
form has a fallback that must work (no filter and windowing locally). G/L accounts and the vraagposten's
transaction lines are always read through their sync APIs (``sync/Financial/GLAccounts``,
``sync/Financial/TransactionLines``, from a stored cursor): an unfiltered ``financial/GLAccounts`` read is refused
wherever mandatory filtering applies, and whether ``bulk/Financial/TransactionLines`` takes a ``GLAccountCode``
filter is unknown, so neither is used. Whoever meets a
refusal takes the fallback at once and the choice is stored per form (``LEARNED_KEY`` in the store's meta), so a
tenant costs at most one refused call per endpoint and administration to learn it; ``exactlink doctor`` probes
and stores the same choices up front.
"""

from __future__ import annotations

from exactlink.api.errors import ApiError

RETURNS_CREATED = "returns (created since)"
RETURNS_ALL = "returns (no filter)"
GL_ACCOUNTS_SYNC = "G/L accounts (sync)"
LINES_SYNC = "vraagposten lines (sync)"
FALLBACKS = {RETURNS_CREATED: RETURNS_ALL}
LEARNED_KEY = "exact.forms"

GL_ACCOUNTS_SYNC_PATH = "sync/Financial/GLAccounts"
TRANSACTION_LINES_SYNC_PATH = "sync/Financial/TransactionLines"
FROM_THE_START = "Timestamp gt 1L"

# Exact's wording for a refused form differs per endpoint ("This $filter parameter is not supported for this
# resource", "Filtering on these fields is not supported", "This endpoint has mandatory filtering applied") and is
# unknown for the uncertain forms, so the status decides, not the words: a 400 says the request's form is wrong (an
# outage, an expired login or missing access answer 5xx, 401 or 403), and 501 says the server does not implement it.
_FORM_REFUSED = frozenset({400, 501})


def refuses_form(error: ApiError) -> bool:
    """Whether ``error`` is Exact refusing the *form* of a read (its filter or the lack of one), so the
    fallback will do; any other failure (an outage, no access) is not a reason to change forms.

    Every caller has a fallback that must work, so reading a 400 of another cause as a refused form costs at most
    one more failed call, while missing an unfamiliar wording would fail every hourly run.
    """
    return error.status in _FORM_REFUSED


def chosen(learned: dict[str, str], form: str) -> str:
    """The form to use for ``form``: the fallback once it was learned, else ``form`` itself."""
    choice = learned.get(form, form)
    return choice if choice in (form, FALLBACKS.get(form)) else form
