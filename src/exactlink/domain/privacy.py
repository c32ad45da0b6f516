"""Masking of personal data (BSN) for terminal output and logs."""

from __future__ import annotations

import re

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


def _passes_elf_proef(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


def mask_bsn_in_text(text: str) -> str:
    """Mask every 9-digit run in free text that passes the 11-proef (it may be a BSN), also inside an OB number
    (``NL*****6782B01``) or a loonheffingennummer (``*****6782L01``)."""

    def masked(digits: str) -> str:
        return "*****" + digits[-4:] if _passes_elf_proef(digits) else digits

    def replace(match: re.Match[str]) -> str:
        return masked(match.group(1))

    def replace_inside(match: re.Match[str]) -> str:
        return (match.group(1) or "") + masked(match.group(2)) + match.group(3)

    return _NINE_DIGITS_IN_TAX_NUMBER.sub(replace_inside, _NINE_DIGITS.sub(replace, text))
