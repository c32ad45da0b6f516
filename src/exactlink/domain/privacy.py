"""Masking of personal data (BSN) for terminal output and logs."""

from __future__ import annotations

import re

_NINE_DIGITS = re.compile(r"(?<![\dA-Za-z])(\d{9})(?![\dA-Za-z])")


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
    """Mask every 9-digit run in free text that passes the 11-proef (it may be a BSN)."""

    def replace(match: re.Match[str]) -> str:
        digits = match.group(1)
        return "*****" + digits[-4:] if _passes_elf_proef(digits) else digits

    return _NINE_DIGITS.sub(replace, text)
