"""Normalisation of Dutch company names and address parts for record linkage.

A company name is reduced to a comparison key: accents dropped (NFKD), lower case, ``&`` → ``en``,
punctuation removed, common abbreviations written out, and Dutch legal forms removed wherever they
stand (``V.O.F. De Vries & Zn.`` and ``De Vries en Zonen VOF`` both become ``de vries en zonen``).
Words that mark a *different* legal entity of the same family — ``holding``, ``beheer``,
``pensioen`` — are taken out of the key but returned as a separate feature, so that a holding and
its werkmaatschappij can be told apart instead of silently compared as equal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

# Legal forms removed wherever they stand in a name.
_LEGAL_FORMS_ANYWHERE = frozenset(
    {
        "bv", "nv", "vof", "hodn", "stichting", "vereniging", "cooperatie", "cooperatieve", "maatschap",
        "eenmanszaak", "bvba", "cvba", "gmbh", "ltd",
    }
)  # fmt: skip
# Short forms that are also ordinary letter pairs ("CV-ketel"): removed only at the start or end of a name.
_LEGAL_FORMS_AT_EDGES = frozenset({"cv", "ua", "wa", "ba", "io"})
# Multi-word legal forms, matched on whole tokens.
_LEGAL_FORM_PHRASES = (
    ("besloten", "vennootschap", "met", "beperkte", "aansprakelijkheid"),
    ("naamloze", "vennootschap"),
    ("besloten", "vennootschap"),
    ("commanditaire", "vennootschap"),
    ("vennootschap", "onder", "firma"),
    ("met", "uitsluiting", "van", "aansprakelijkheid"),
    ("met", "wettelijke", "aansprakelijkheid"),
    ("met", "beperkte", "aansprakelijkheid"),
    ("in", "oprichting"),
    ("handelend", "onder", "de", "naam"),
)
_PHRASE_STARTS = frozenset(phrase[0] for phrase in _LEGAL_FORM_PHRASES)
# A run of legal-form codes written together, e.g. "bvio" from "B.V.i.o.".
_COMPOSITE_LEGAL_FORM = re.compile(r"(?:hodn|vof|bv|nv|cv|ua|wa|ba|io){2,}")
# Words that name a separate entity of a group: kept apart as a feature.
_ENTITY_ROLE_WORDS = {
    "holding": "holding",
    "holdings": "holding",
    "beheer": "beheer",
    "beheermaatschappij": "beheer",
    "pensioen": "pensioen",
}
_ABBREVIATIONS = {
    "zn": "zonen",
    "gebr": "gebroeders",
    "gebrs": "gebroeders",
    "mij": "maatschappij",
    "mpij": "maatschappij",
}
# Tussenvoegsels written in full or abbreviated (v.d., vd) compare as one token.
_TUSSENVOEGSEL_PAIRS = {("van", "der"), ("van", "den"), ("van", "de"), ("v", "d")}
_NOT_SIGNIFICANT = frozenset({"de", "het", "t", "van", "vd", "der", "den", "en", "in", "op", "ten", "ter", "te", "s"})

_DOTTED_LETTERS = re.compile(r"\b[a-z](?:\.\s?[a-z])+\b\.?")  # b.v. / b. v. / v.o.f. / j.p.
_APOSTROPHES = re.compile(r"['’`´]")
_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name prepared for comparison.

    ``key``: the normalised name without legal forms and role words. ``roles``: the role words found
    (``holding``, ``beheer``, ``pensioen``). ``legal_forms``: the legal forms that were removed.
    """

    key: str
    roles: frozenset[str] = frozenset()
    legal_forms: tuple[str, ...] = ()

    @property
    def sorted_key(self) -> str:
        """The key's tokens in alphabetical order (word order no longer matters)."""
        return " ".join(sorted(self.key.split()))

    @property
    def is_holding(self) -> bool:
        """True when the name marks a holding, beheer or pension entity."""
        return bool(self.roles)


def strip_accents(text: str) -> str:
    """Decompose (NFKD) and drop combining marks: ``Coöperatie`` → ``Cooperatie``."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _collapse_dotted(match: re.Match[str]) -> str:
    return " " + re.sub(r"[.\s]", "", match.group(0)) + " "


def _tokens(name: str) -> list[str]:
    text = strip_accents(name).lower().replace("&", " en ").replace("+", " en ")
    text = _APOSTROPHES.sub("", text)
    if "." in text:
        text = _DOTTED_LETTERS.sub(_collapse_dotted, text)
    tokens = [_ABBREVIATIONS.get(token, token) for token in _NON_ALPHANUMERIC.sub(" ", text).split()]
    merged: list[str] = []
    for token in tokens:
        if merged and (merged[-1], token) in _TUSSENVOEGSEL_PAIRS:
            merged[-1] = "vd"
        else:
            merged.append(token)
    return merged


def _remove_phrases(tokens: list[str], removed: list[str]) -> list[str]:
    if _PHRASE_STARTS.isdisjoint(tokens):
        return tokens
    result: list[str] = []
    index = 0
    while index < len(tokens):
        for phrase in _LEGAL_FORM_PHRASES:
            if tuple(tokens[index : index + len(phrase)]) == phrase:
                removed.append(" ".join(phrase))
                index += len(phrase)
                break
        else:
            result.append(tokens[index])
            index += 1
    return result


def parse_company_name(name: str | None) -> CompanyName:
    """Normalise a company name into a :class:`CompanyName` (key, role words, legal forms removed).

    When nothing but legal forms and role words is left (``Holding B.V.``), the key keeps them, so
    that no name is reduced to an empty string.
    """
    tokens = _tokens(name or "")
    removed: list[str] = []
    roles: set[str] = set()
    kept: list[str] = []
    for token in _remove_phrases(tokens, removed):
        if token in _LEGAL_FORMS_ANYWHERE or _COMPOSITE_LEGAL_FORM.fullmatch(token):
            removed.append(token)
        elif token in _ENTITY_ROLE_WORDS:
            roles.add(_ENTITY_ROLE_WORDS[token])
        else:
            kept.append(token)
    while kept and kept[0] in _LEGAL_FORMS_AT_EDGES:
        removed.append(kept.pop(0))
    while kept and kept[-1] in _LEGAL_FORMS_AT_EDGES:
        removed.append(kept.pop())
    if not kept:
        return CompanyName(" ".join(tokens), frozenset(roles), tuple(removed))
    return CompanyName(" ".join(kept), frozenset(roles), tuple(removed))


def normalise_name(name: str | None) -> str:
    """The comparison key of a company name (see :func:`parse_company_name`)."""
    return parse_company_name(name).key


def first_significant_token(key: str) -> str:
    """The first token of a normalised name that is not an article or tussenvoegsel (for blocking)."""
    tokens = key.split()
    for token in tokens:
        if token not in _NOT_SIGNIFICANT and len(token) > 1:
            return token
    return tokens[0] if tokens else ""


def has_initials(key: str) -> bool:
    """True when a normalised name holds a single-letter word (an initial: ``j jansen``)."""
    return any(len(token) == 1 for token in key.split())


def _expand_initials(initials_side: list[str], other_side: list[str]) -> list[str]:
    unused = [token for token in other_side if token not in initials_side]
    expanded = []
    for token in initials_side:
        if len(token) == 1:
            match = next((word for word in unused if len(word) > 1 and word[0] == token), None)
            if match is not None:
                unused.remove(match)
                token = match
        expanded.append(token)
    return expanded


def name_similarity(left: str, right: str) -> float:
    """Similarity 0-100 of two normalised names, word order ignored, an initial agreeing with a first name.

    ``j jansen`` and ``jan jansen`` score 100 (so do ``j jansen`` and ``johan jansen``: an initial is
    weak evidence, which is why such pairs are only ever suggested).
    """
    plain = fuzz.token_sort_ratio(left, right)
    if plain == 100 or not (has_initials(left) or has_initials(right)):
        return plain
    left_tokens, right_tokens = left.split(), right.split()
    left_tokens = _expand_initials(left_tokens, right_tokens)
    right_tokens = _expand_initials(right_tokens, left_tokens)
    return max(plain, fuzz.ratio(" ".join(sorted(left_tokens)), " ".join(sorted(right_tokens))))


# The house number is the last number of the line, with an optional addition: 12, 12a, 12 A, 12-2, 12 bis.
_HOUSE_NUMBER_AT_END = re.compile(r"(?<!\d)(\d{1,5})(?:\s*-?\s*([a-z]{1,4})|\s*[-/]\s*(\d{1,4}))?\s*$")
_ANY_NUMBER = re.compile(r"(?<!\d)(\d{1,5})(?:\s*-?\s*([a-z]{1,3})\b)?")


def extract_house_number(address_line: str | None) -> str | None:
    """The house number of an address line (``Hoofdstraat 12 a`` → ``12A``, ``Kade 7-2`` → ``7-2``).

    Also accepts a bare house number. A numeric addition keeps a dash so ``7-2`` and ``72`` differ.
    ``None`` when the line holds no number.
    """
    text = strip_accents(address_line or "").lower().strip().rstrip(".,;)")
    if not text:
        return None
    match = _HOUSE_NUMBER_AT_END.search(text)
    if match is None:
        candidates = list(_ANY_NUMBER.finditer(text))
        if not candidates:
            return None
        match = candidates[-1]
        number, letters, digits = match.group(1), match.group(2), None
    else:
        number, letters, digits = match.groups()
    number = number.lstrip("0") or "0"
    if digits:
        return f"{number}-{digits.lstrip('0') or '0'}"
    return f"{number}{letters.upper()}" if letters else number


def postcode_key(value: str | None) -> str:
    """A postcode for comparison: upper case without spaces (``1234 ab`` → ``1234AB``); lenient, so foreign
    or mistyped postcodes still compare equal to themselves. Empty string when there is none."""
    return "".join((value or "").split()).replace("-", "").replace(".", "").upper()
