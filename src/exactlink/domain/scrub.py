"""Scrubbing Exact Online answers before they leave the office (``exactlink doctor --record DIR``).

An office sends its recorded probes to whoever helps it; they must carry the *shape* of Exact's answers
(which properties, which types, paging links, error messages) and nothing about people or companies.
So scrubbing keeps only what is structural and replaces every other text:

* kept: numbers (also those Exact sends as text, like an Int64 ``Timestamp``), booleans, nulls, GUIDs,
  Exact's ``/Date(…)/`` values and ISO dates, ``__metadata`` and ``__next`` (URLs of the same service), the
  values of a few structural properties (``Code`` of a G/L account, ``Currency``, … see ``STRUCTURAL``),
  and Exact's error messages (the point of a recording of a refusal);
* replaced: every other string, by ``"scrubbed"`` (its length is not kept either);
* and every kept string is still searched for what looks like an e-mail address, an IBAN, a BSN-like
  nine-digit number or a phone number, which are replaced too (a safety net for a structural value that
  turns out to hold one).
"""

from __future__ import annotations

import re
from typing import Any

SCRUBBED = "scrubbed"
STRUCTURAL = frozenset(
    {
        "Code",
        "Currency",
        "Frequency",
        "GLAccountCode",
        "JournalCode",
        "BalanceSide",
        "BalanceType",
        "Legislation",
        "Country",
        "PayrollDeclarationType",
        "lang",
        "code",
    }
)
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")
_EXACT_DATE = re.compile(r"^/Date\(-?\d+([+-]\d{4})?\)/$")
_NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?L?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,3})?\b")
_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)|(?<!\d)\d{4}[ .]\d{2}[ .]\d{3}(?!\d)")
_PHONE = re.compile(r"(?<![\w/])(?:\+31|0031|0)[\s-]?(?:\d[\s-]?){8,10}(?![\w/])")


def scrub_text(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, BSN-like numbers and phone numbers replaced."""
    for pattern in (_EMAIL, _IBAN, _NINE_DIGITS, _PHONE):
        text = pattern.sub(SCRUBBED, text)
    return text


def _keeps(key: str | None, value: str) -> bool:
    if key in STRUCTURAL or key in ("uri", "type", "__next"):
        return True
    return bool(_NUMBER.match(value) or _GUID.match(value) or _EXACT_DATE.match(value) or _ISO_DATE.match(value))


def scrub_value(value: Any, key: str | None = None, *, keep_text: bool = False) -> Any:
    """A JSON value with everything personal replaced (see the module docstring).

    ``keep_text`` keeps strings (still run through :func:`scrub_text`): for Exact's error object.
    """
    if isinstance(value, dict):
        return {name: scrub_value(item, name, keep_text=keep_text or name == "error") for name, item in value.items()}
    if isinstance(value, list):
        return [scrub_value(item, key, keep_text=keep_text) for item in value]
    if isinstance(value, str):
        return scrub_text(value) if keep_text or _keeps(key, value) else SCRUBBED
    return value
