"""Masking of personal data (BSN) for terminal output, ``--json``, exports and logs: the one home.

:func:`mask_personal` masks one value by its kind (a BSN, an OB number or loonheffingennummer, free text);
:func:`mask_view` masks a whole JSON-like view or record by field name, and :func:`unmasked` reads a masked
cell back. The helpers below them (``mask_bsn``, ``mask_bsn_in_text``, ``mask_fiscal``, and the 11-proef
``passes_elf_proef`` that :mod:`exactlink.domain.identifiers` uses as well) are its building blocks.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal, TypeVar, cast

T = TypeVar("T")

_NINE_DIGITS = re.compile(r"(?<![\dA-Za-z])(\d{9})(?![\dA-Za-z])")
# The fiscal number inside an OB number (NL123456782B01) or a loonheffingennummer (123456782L01): an
# eenmanszaak's OB number (before 2020) and a natural person's loonheffingennummer hold the owner's BSN.
_NINE_DIGITS_IN_TAX_NUMBER = re.compile(r"(?<![\dA-Za-z])(NL)?(\d{9})([BL]\d{2})(?![\dA-Za-z])", re.IGNORECASE)


def mask_bsn(value: str | None) -> str | None:
    """``123456782`` → ``*****6782``: keep the last four digits, enough to recognise a number."""
    if not value:
        return value
    digits = value.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


_ELF_PROEF_OFFSET = 48 * (9 + 8 + 7 + 6 + 5 + 4 + 3 + 2 - 1)  # the weighted sum of nine ASCII "0"s


def passes_elf_proef(digits: str) -> bool:
    """The BSN/RSIN 11-proef on exactly nine digits: 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11), not all zeros.

    The same rule as ``stdnum.nl.bsn`` (a test holds them equal), written out because matching runs
    it on tens of thousands of numbers and the library call costs several times more.
    """
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    b = digits.encode()
    total = 9 * b[0] + 8 * b[1] + 7 * b[2] + 6 * b[3] + 5 * b[4] + 4 * b[5] + 3 * b[6] + 2 * b[7] - b[8]
    return (total - _ELF_PROEF_OFFSET) % 11 == 0 and digits != "000000000"


def mask_bsn_in_text(text: str) -> str:
    """Mask every 9-digit run in free text that passes the 11-proef (it may be a BSN), also inside an OB number
    (``NL*****6782B01``) or a loonheffingennummer (``*****6782L01``)."""

    def masked(digits: str) -> str:
        # Nine zeros is no BSN, but it passes the sum (a placeholder for one): masked too, as it always was.
        return "*****" + digits[-4:] if passes_elf_proef(digits) or digits == "000000000" else digits

    def replace(match: re.Match[str]) -> str:
        return masked(match.group(1))

    def replace_inside(match: re.Match[str]) -> str:
        return (match.group(1) or "") + masked(match.group(2)) + match.group(3)

    return _NINE_DIGITS_IN_TAX_NUMBER.sub(replace_inside, _NINE_DIGITS.sub(replace, text))


# -- the one entry point ---------------------------------------------------------------------------------------------

_ANY_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")

BSN_FIELDS = frozenset({"bsn"})
"""Fields that hold a BSN itself: masked whatever the value looks like."""
FISCAL_FIELDS = frozenset({"vat_number", "payroll_tax_number", "ob_number", "loonheffingennummer", "btw_nummer"})
"""Fields that hold an OB number or a loonheffingennummer: an eenmanszaak's old-form OB number
(``NL<BSN>B01``) and a natural person's loonheffingennummer (``<BSN>L01``) contain the owner's BSN, so every
9-digit run in them is masked (the 11-proef cannot tell a BSN from an RSIN)."""
NOT_PERSONAL_FIELDS = frozenset(
    {
        "relation", "relation_number", "document_id", "short_id", "request_id", "id", "account_id", "account_code",
        "code", "division", "kvk", "rsin", "iban", "view_url", "url", "created_at", "updated_at", "alternatives",
    }
)  # fmt: skip
"""Identifiers that are not personal data even when they are 9 digits (an RSIN is a company's number)."""

Kind = Literal["bsn", "fiscal", "text"]


def mask_fiscal(value: str) -> str:
    """Every 9-digit run in an OB number or loonheffingennummer masked: ``NL*****6782B01``, ``*****6782L01``."""
    return _ANY_NINE_DIGITS.sub(lambda match: "*****" + match.group(0)[-4:], value)


def mask_personal(value: str | None, kind: Kind = "text", *, show_bsn: bool = False) -> str | None:
    """The one masking function: ``value`` with every BSN it may hold masked, unless ``show_bsn``.

    Args:
        value: the text.
        kind: ``bsn`` (the value is a BSN), ``fiscal`` (an OB number or loonheffingennummer) or ``text``
            (free text from the CRM or Exact Online: only 11-proef numbers, also inside tax numbers).
        show_bsn: ``--show-bsn`` or ``privacy.show_bsn``: return ``value`` unchanged.
    """
    if not value or show_bsn:
        return value
    if kind == "bsn":
        return mask_bsn(value)
    if kind == "fiscal":
        return mask_fiscal(value)
    return mask_bsn_in_text(value)


def kind_of_field(name: str) -> Kind | None:
    """How a view field is masked: ``bsn``, ``fiscal``, ``None`` for :data:`NOT_PERSONAL_FIELDS`, else ``text``
    (any other field may be free text from the CRM or Exact Online: a name, a description, a note)."""
    if name in BSN_FIELDS:
        return "bsn"
    if name in FISCAL_FIELDS:
        return "fiscal"
    return None if name in NOT_PERSONAL_FIELDS else "text"


def mask_view(data: T, *, show_bsn: bool = False) -> T:
    """A JSON-like view (dicts, lists, strings) or a record (a dataclass instance, its fields read as the keys of
    a dict) with every field :func:`kind_of_field` knows masked; a record comes back as a masked copy.

    Used for every output of relations, returns, vraagposten, matches and sync differences, human and
    ``--json`` alike, and for ``crm export``.
    """
    if show_bsn:
        return data
    if isinstance(data, list):
        return cast(T, [mask_view(item) for item in data])
    if isinstance(data, dict):
        return cast(T, {key: _masked_field(key, value) for key, value in data.items()})
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        fields = [item.name for item in dataclasses.fields(data) if item.init]
        return cast(T, dataclasses.replace(data, **{name: _masked_field(name, getattr(data, name)) for name in fields}))
    return data


def _masked_field(key: object, value: Any) -> Any:
    kind = kind_of_field(key) if isinstance(key, str) else None
    if isinstance(value, str):
        return mask_personal(value, kind) if kind is not None else value
    if isinstance(value, list):  # the items of a list field are values of that field
        return [_masked_field(key, item) for item in value]
    return mask_view(value)


def unmasked(shown: str | None, stored: str | None, kind: Kind) -> str | None:
    """What an imported cell means when it may come from a masked export: the ``stored`` value when ``shown``
    is its masked form, else ``shown``.

    A masked BSN, OB number or loonheffingennummer is never a value: it keeps ``stored`` even when that is
    not what was masked (or there is none), so a masked export can be imported back without losing data.
    """
    if not shown or shown == stored:
        return shown
    if stored and mask_personal(stored, kind) == shown:
        return stored
    if kind in ("bsn", "fiscal") and "*" in shown:  # no such number holds a "*"
        return stored
    return shown
