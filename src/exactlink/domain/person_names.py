"""Splitting a Dutch person's full name into first name, tussenvoegsel and last name.

Exact Online keeps ``FirstName``, ``MiddleName`` (the tussenvoegsel: ``van``, ``de``, ``van der`` …) and
``LastName`` for a contact person; a CRM usually has one "full name" field. The split is a best
effort: the first word is the first name, a run of tussenvoegsels before the last word is the
middle name, and the rest is the last name (``Jan van der Berg`` → ``Jan`` / ``van der`` / ``Berg``).
"""

from __future__ import annotations

TUSSENVOEGSELS = frozenset(
    {
        "van", "de", "der", "den", "het", "'t", "t", "ter", "ten", "te", "in", "op", "onder", "aan", "bij",
        "uit", "voor", "over", "tot", "la", "le", "du", "da", "di", "del", "della", "von", "vom", "zu",
        "d'", "l'", "'s", "v.", "v.d.", "vd", "v/d",
    }
)  # fmt: skip


def split_person_name(full_name: str) -> tuple[str | None, str | None, str | None]:
    """``(first, middle, last)`` of a full name; parts that are absent are None.

    A single word is taken as the last name. Initials stay with the first name (``J.P. de Vries`` →
    ``J.P.`` / ``de`` / ``Vries``).
    """
    words = full_name.split()
    if not words:
        return None, None, None
    if len(words) == 1:
        return None, None, words[0]
    first, rest = words[0], words[1:]
    middle: list[str] = []
    while len(rest) > 1 and rest[0].lower() in TUSSENVOEGSELS:
        middle.append(rest.pop(0))
    return first, " ".join(middle) or None, " ".join(rest)
