"""Deterministic generator of the sandbox's Exact Online data and the office's CRM export.

``generate(clients, seed, now)`` builds one accounting office (a practice division whose
``crm/Accounts`` are the office's clients, plus suppliers and prospects that are not in the CRM) and
one client division per client with tax returns, a small chart of accounts and vraagposten lines.
It also builds the office's CRM export, with the mess a real CRM has, and the ground truth of which
CRM relation is which Exact account.

Every identifier is synthetic but valid by the Dutch rules (11-proef BSN/RSIN, OB-nummer,
mod-97 btw-id, IBAN, postcode) except the ones the CRM export deliberately breaks. BSNs come from the
``9999`` prefix used by RvIG's fictitious test persons; RSINs from the ``8`` range of legal entities.
The same ``(clients, seed, now)`` always gives the same data; every date is relative to ``now``, and the
scenario of ``exactlink.sandbox.scenario`` (the returns the demo and the tests rely on) holds for every ``now``.
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import os
import random
import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from exactlink.sandbox import _names as words
from exactlink.sandbox import scenario as promised
from exactlink.sandbox.model import (
    ACCOUNTS,
    ADDRESSES,
    BANK_ACCOUNTS,
    CONTACTS,
    CRM_EXPORT_COLUMNS,
    GL_ACCOUNTS,
    RETURNS,
    SOLUTION_LINKS,
    TRANSACTION_LINES,
    DivisionData,
    Record,
    SandboxData,
    SandboxUser,
    Scenario,
)

DEFAULT_BASE_URL = "https://start.exactonline.nl"
ADMIN_USERNAME = "admin@kantoor.example"
COLLEAGUE_USERNAME = "medewerker@kantoor.example"
SANDBOX_PASSWORD = "sandbox"

# Return types and statuses as Exact Online numbers them (see exact-api.md §4.6).
VAT_RETURN, ICP_RETURN, PAYROLL_RETURN = promised.VAT_RETURN, promised.ICP_RETURN, promised.PAYROLL_RETURN
RETURN_STATUSES = (-10, 0, 5, 10, 20, 30, 40, 50)
SUPPLETIE_DESCRIPTION = promised.SUPPLETIE_DESCRIPTION

_T = TypeVar("_T")

_ELF_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
_LETTER_VALUES = {ord(letter): str(value) for value, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}
_GUID_VARIANT = {ch: "89ab"[int(ch, 16) & 3] for ch in "0123456789abcdef"}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_POSTCODE_LETTERS = tuple(
    a + b for a in "ABCDEGHJKLMNPRSTVWXZ" for b in "ABCDEGHJKLMNPRSTVWXZ" if a + b not in ("SA", "SD", "SS")
)
_SLUG_EXTRA = str.maketrans({"ı": "i", "ø": "o", "ß": "ss", "æ": "ae", "&": " en ", "'": ""})
_BIC_BY_BANK = dict(words.BANKS)
_CITY_BY_NAME = {city[0]: city for city in words.CITIES}


# --------------------------------------------------------------------------------------------------
# Identifier rules (domain.md §1). Small and private: the generator must not depend on the code it tests.


def _passes_elf_proef(nine: str) -> bool:
    total = sum(int(d) * w for d, w in zip(nine[:8], _ELF_WEIGHTS, strict=True)) - int(nine[8])
    return total % 11 == 0


def _elf_check_digit(first8: str) -> int | None:
    """The ninth digit that makes ``first8`` pass the BSN/RSIN 11-proef, or None when none does."""
    check = sum(int(d) * w for d, w in zip(first8, _ELF_WEIGHTS, strict=True)) % 11
    return None if check == 10 else check


@functools.cache
def _valid_bsns(prefix: int) -> tuple[str, ...]:
    """Every BSN that starts with the four digits ``prefix`` and passes the 11-proef, in ascending order.

    The same for every generator: worked out once per process (about 34 ms; every sandbox, test world and demo
    starts one), each generator then shuffles its own copy with its own seed.
    """
    valid = []
    for rest in range(10000):
        first8 = f"{prefix}{rest:04d}"
        check = _elf_check_digit(first8)
        if check is not None:
            valid.append(f"{first8}{check}")
    return tuple(valid)


def _mod97_remainder(text: str) -> int:
    return int(text.translate(_LETTER_VALUES)) % 97


def _btw_id_for(nine: str) -> str:
    """The btw-identificatienummer ``NL<nine>B<cc>`` whose ISO 7064 mod 97-10 check is right."""
    check = (1 - _mod97_remainder(f"NL{nine}B") * 100) % 97
    return f"NL{nine}B{check or 97:02d}"


def _iban_for(bank_code: str, account: str) -> str:
    """A Dutch IBAN with real mod-97 check digits."""
    bban = bank_code + account
    check = 98 - _mod97_remainder(bban + "NL00")
    return f"NL{check:02d}{bban}"


def _slug(text: str) -> str:
    """ASCII, lower-case, dash-separated: for e-mail domains and search codes."""
    plain = unicodedata.normalize("NFKD", text.translate(_SLUG_EXTRA)).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", plain.lower()).strip("-")


# Faster stand-ins for random.randint/randrange/choice (the generator draws a few million numbers).


def _randint(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _randrange(rng: random.Random, start: int, stop: int | None = None) -> int:
    if stop is None:
        start, stop = 0, start
    return start + int(rng.random() * (stop - start))


def _choice(rng: random.Random, items: Sequence[_T]) -> _T:
    return items[int(rng.random() * len(items))]


class _Guids:
    """Random version-4 GUIDs, lower-case, made a few thousand at a time (half a million per big run)."""

    __slots__ = ("_buffer", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._buffer: list[str] = []

    def __call__(self) -> str:
        if not self._buffer:
            h = self._rng.randbytes(16 * 4096).hex()
            self._buffer = [
                f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
                f"{_GUID_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
                for i in range(0, len(h), 32)
            ]
            self._buffer.reverse()
        return self._buffer.pop()


class _Weighted:
    """Fast repeated weighted choice (``random.choices`` rebuilds its tables on every call)."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Sequence[tuple[Any, float]]) -> None:
        self._items = [item for item, _ in pairs]
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> Any:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


# --------------------------------------------------------------------------------------------------
# Legal forms


@dataclass(frozen=True, slots=True)
class _Form:
    key: str
    suffix: str  # how the form appears at the end of a company name ("" when it does not)
    legal_entity: bool  # RSIN (legal entity or partnership) rather than the owner's BSN
    crm_spellings: _Weighted


_FORMS = {
    "bv": _Form("bv", " B.V.", True, _Weighted([("B.V.", 50), ("BV", 25), ("bv", 10), ("Besloten vennootschap", 15)])),
    "nv": _Form("nv", " N.V.", True, _Weighted([("N.V.", 60), ("NV", 25), ("Naamloze vennootschap", 15)])),
    "vof": _Form(
        "vof", " V.O.F.", True, _Weighted([("V.O.F.", 45), ("VOF", 25), ("vof", 15), ("Vennootschap onder firma", 15)])
    ),
    "cv": _Form("cv", " C.V.", True, _Weighted([("C.V.", 60), ("CV", 25), ("Commanditaire vennootschap", 15)])),
    "ez": _Form("ez", "", False, _Weighted([("Eenmanszaak", 70), ("eenmanszaak", 20), ("EZ", 10)])),
    "stichting": _Form("stichting", "", True, _Weighted([("Stichting", 85), ("stichting", 15)])),
    "maatschap": _Form("maatschap", "", True, _Weighted([("Maatschap", 85), ("maatschap", 15)])),
    "coop": _Form(
        "coop", " U.A.", True, _Weighted([("Coöperatie U.A.", 50), ("Cooperatie UA", 25), ("Coöperatie", 25)])
    ),
    "person": _Form("person", "", False, _Weighted([("Natuurlijk persoon", 50), ("Particulier", 40), ("", 10)])),
}
# Shares of single clients; holding/werkmaatschappij pairs come on top (see _PAIR_SHARE).
_CLIENT_FORMS = _Weighted(
    [
        ("bv", 42),
        ("ez", 26),
        ("vof", 10),
        ("stichting", 5),
        ("maatschap", 3),
        ("person", 3),
        ("nv", 1),
        ("coop", 1),
        ("cv", 1),
    ]
)
_PAIR_SHARE = 0.04
_EXTRA_FORMS = _Weighted([("bv", 60), ("ez", 25), ("vof", 10), ("stichting", 5)])
_FIRST_NAME_TRADES = frozenset(
    ("Kapsalon", "Fotografie", "Webdesign", "Rijschool", "Klusbedrijf", "Bloemenwinkel", "Fysiotherapie", "Advies")
)
_MEDICAL = ("Fysiotherapie", "Tandartspraktijk", "Dierenkliniek", "Huisartsenpraktijk")


# --------------------------------------------------------------------------------------------------
# The generator's own picture of the world, before it is written out as Exact records and CRM rows.


@dataclass(slots=True)
class _Address:
    line1: str
    postcode: str
    city: str


@dataclass(slots=True)
class _Person:
    first: str
    middle: str
    last: str
    gender: str
    email: str | None
    phone: str | None
    mobile: str | None
    job: str
    in_exact: bool = True
    in_crm: bool = True

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first, self.middle, self.last) if part)


@dataclass(slots=True)
class _Relation:
    """One company or person the office knows: a client, a CRM-only relation or an Exact-only account."""

    name: str
    form: str
    visit: _Address
    phone: str
    email: str | None
    website: str | None
    domain: str
    kvk: str | None = None
    establishment: str | None = None
    rsin: str | None = None
    bsn: str | None = None
    btw_id: str | None = None  # mod-97 btw-identificatienummer of an eenmanszaak
    vat_frequency: str | None = None  # M, Q, Y; None when not VAT-liable
    icp: bool = False
    staff: int = 0
    size: float = 0.0
    sbi: tuple[str | None, str | None] = (None, None)
    postal: _Address | None = None
    invoice: _Address | None = None
    ibans: list[str] = field(default_factory=list)
    people: list[_Person] = field(default_factory=list)
    start: date = date(2015, 1, 1)
    number: str | None = None  # CRM relatienummer (None: not in the CRM)
    code: str | None = None  # Exact account code, trimmed (None: not in Exact)
    account_id: str | None = None
    has_division: bool = True
    role: str = "client"  # client | crm-only | supplier | prospect | former

    @property
    def fiscal_number(self) -> str | None:
        return self.rsin or self.bsn

    @property
    def vat_number(self) -> str | None:
        """What Exact keeps in ``VATNumber``: the btw-id for an eenmanszaak, else NL+RSIN+B01."""
        if self.vat_frequency is None:
            return None
        if self.btw_id:
            return self.btw_id
        return f"NL{self.fiscal_number}B01" if self.fiscal_number else None

    @property
    def ob_number(self) -> str | None:
        """The OB-nummer for the returns: NL + RSIN/BSN + B01 (for an eenmanszaak it holds the BSN)."""
        if self.vat_frequency is None or not self.fiscal_number:
            return None
        return f"NL{self.fiscal_number}B01"

    @property
    def payroll_number(self) -> str | None:
        return f"{self.fiscal_number}L01" if self.staff and self.fiscal_number else None


# --------------------------------------------------------------------------------------------------


def generate(
    clients: int = 200, seed: int = 1, now: datetime | None = None, *, base_url: str = DEFAULT_BASE_URL
) -> SandboxData:
    """Build the sandbox's office, client divisions, users, CRM export and ground truth as of ``now``.

    ``clients`` is the number of the office's clients in Exact Online (20 … 20,000 are the intended
    sizes); the CRM export holds those plus about 5 % relations that are not in Exact, and the office
    administration holds about 10 % extra accounts that are not in the CRM. ``now`` (aware; default the
    current time) is the moment everything is dated from. ``base_url`` only shapes the returns'
    ``DocumentViewUrl``.

    Raises:
        ValueError: ``clients`` below 1 or a naive ``now``.
        ScenarioError: the data breaks the scenario's promise (a bug of the generator, never the caller's).
    """
    if clients < 1:
        raise ValueError("clients must be at least 1")
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    data = _Generator(clients, seed, moment.astimezone(UTC), base_url.rstrip("/")).run()
    promised.check_scenario(data)
    return data


def write_crm_export(data: SandboxData, path: str | os.PathLike[str]) -> None:
    """Write the CRM export as Excel NL does: UTF-8 with BOM, ``;`` separated, header ``CRM_EXPORT_COLUMNS``."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CRM_EXPORT_COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(data.crm_rows)


def write_ground_truth(data: SandboxData, path: str | os.PathLike[str]) -> None:
    """Write ``relatienummer;account_code`` per CRM relation; the code is empty when it is not in Exact."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(("relatienummer", "account_code"))
        writer.writerows((number, code or "") for number, code in data.ground_truth)


class _Generator:
    """One generation run. Separate random streams keep the parts independent of each other."""

    def __init__(self, clients: int, seed: int, now: datetime, base_url: str) -> None:
        self.clients = clients
        self.now = now
        self.today = now.date()
        self.base_url = base_url
        self.midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        self.seed = seed
        self.rng = random.Random(f"exactlink-sandbox/{seed}/world")
        self.div_rng = random.Random(f"exactlink-sandbox/{seed}/divisions")
        self.crm_rng = random.Random(f"exactlink-sandbox/{seed}/crm")
        self.guid = _Guids(random.Random(f"exactlink-sandbox/{seed}/ids"))
        self._kvks: set[str] = set()
        self._rsins: set[str] = set()
        self._btw_ids: set[str] = set()
        self._ibans: set[str] = set()
        self._names: set[str] = set()
        self._bsn_pool: list[str] = []
        self._bsn_prefix = 10000  # the first pool drawn is 9999xxxxx

    # ---- small random helpers -------------------------------------------------------------------

    def chance(self, probability: float, rng: random.Random | None = None) -> bool:
        return (rng or self.rng).random() < probability

    def moment(self, days_ago_low: int, days_ago_high: int, rng: random.Random | None = None) -> datetime:
        """A time on a working hour between ``days_ago_high`` and ``days_ago_low`` days before today."""
        r = rng or self.rng
        return (
            self.midnight
            - timedelta(days=_randint(r, days_ago_low, days_ago_high))
            + timedelta(hours=_randint(r, 8, 17), minutes=_randrange(r, 60), seconds=_randrange(r, 60))
        )

    def quota(self, population: Sequence[_T], share: float, rng: random.Random, minimum: int = 0) -> list[_T]:
        """A random subset of ``round(share * len)`` items (at least ``minimum``), in population order."""
        count = min(len(population), max(minimum, round(share * len(population))))
        chosen = set(rng.sample(range(len(population)), count))
        return [item for index, item in enumerate(population) if index in chosen]

    # ---- identifiers ----------------------------------------------------------------------------

    def kvk(self) -> str:
        while True:
            # A few old KvK numbers start with 0: a spreadsheet that drops it is realistic mess.
            number = (
                f"0{_randrange(self.rng, 1000000, 10**7)}"
                if self.chance(0.03)
                else str(_randrange(self.rng, 10**7, 10**8))
            )
            if number not in self._kvks:
                self._kvks.add(number)
                return number

    def rsin(self) -> str:
        while True:
            first8 = f"8{_randrange(self.rng, 10**7):07d}"
            check = _elf_check_digit(first8)
            if check is not None and (number := f"{first8}{check}") not in self._rsins:
                self._rsins.add(number)
                return number

    def bsn(self) -> str:
        """A unique BSN from RvIG's fictitious ``9999`` prefix (then ``9998`` … when that runs out)."""
        if not self._bsn_pool:
            self._bsn_prefix -= 1
            pool = list(_valid_bsns(self._bsn_prefix))
            self.rng.shuffle(pool)
            self._bsn_pool = pool
        return self._bsn_pool.pop()

    def btw_id(self) -> str:
        while True:
            nine = f"00{_randrange(self.rng, 10**7):07d}" if self.chance(0.5) else f"{_randrange(self.rng, 10**9):09d}"
            if _passes_elf_proef(nine):
                continue  # a btw-id's digits never pass the 11-proef, so it cannot be mistaken for an OB-nummer
            number = _btw_id_for(nine)
            if number not in self._btw_ids:
                self._btw_ids.add(number)
                return number

    def iban(self) -> str:
        while True:
            bank = words.BANKS[bisect.bisect_right(_BANK_CUMULATIVE, self.rng.random() * _BANK_CUMULATIVE[-1])][0]
            if bank == "INGB" and self.chance(0.3):
                account = f"000{_randrange(self.rng, 10**6, 10**7)}"  # old Postbank numbers
            else:
                account = f"{_randrange(self.rng, 10**8, 10**9):010d}"
            number = _iban_for(bank, account)
            if number not in self._ibans:
                self._ibans.add(number)
                return number

    # ---- people, places and names ---------------------------------------------------------------

    def surname(self) -> tuple[str, str]:
        return _choice(self.rng, words.SURNAMES)

    def address(self, city: tuple[str, int, int, str] | None = None) -> _Address:
        name, low, high, _ = city or _choice(self.rng, words.CITIES)
        number = str(_randint(self.rng, 1, 240))
        if self.chance(0.1):
            number += _choice(self.rng, ("a", "b", "c", "-1", "-2", "A"))
        postcode = f"{_randint(self.rng, low, high)} {_choice(self.rng, _POSTCODE_LETTERS)}"
        return _Address(f"{_choice(self.rng, words.STREETS)} {number}", postcode, name)

    def postbus(self, city_name: str) -> _Address:
        city = _CITY_BY_NAME[city_name]
        postcode = f"{_randint(self.rng, city[1], city[2])} {_choice(self.rng, _POSTCODE_LETTERS)}"
        return _Address(f"Postbus {_randint(self.rng, 1, 9999)}", postcode, city_name)

    def phone(self, city_name: str) -> str:
        area = _CITY_BY_NAME[city_name][3]
        digits = f"{_randrange(self.rng, 10 ** (9 - len(area)), 10 ** (10 - len(area)))}"
        return f"{area}-{digits}" if self.chance(0.7) else f"+31 {area[1:]} {digits}"

    def mobile(self) -> str:
        return f"06-{_randrange(self.rng, 10**7, 10**8)}"

    def person(
        self, surname: tuple[str, str] | None = None, domain: str | None = None, job: str | None = None
    ) -> _Person:
        gender = "M" if self.chance(0.5) else "V"
        first = _choice(self.rng, words.MALE_FIRST_NAMES if gender == "M" else words.FEMALE_FIRST_NAMES)
        middle, last = surname or self.surname()
        person = _Person(
            first=first,
            middle=middle,
            last=last,
            gender=gender,
            email=None,
            phone=None,
            mobile=self.mobile() if self.chance(0.6) else None,
            job=job or _choice(self.rng, words.JOB_TITLES),
        )
        if domain:
            person.email = self.work_email(person, domain)
        return person

    def work_email(self, person: _Person, domain: str) -> str | None:
        if not self.chance(0.93):
            return None
        first = _slug(person.first)
        local = first if self.chance(0.5) else f"{first[0]}.{_slug(person.middle + person.last).replace('-', '')}"
        return f"{local}@{domain}"

    def unique(self, name: str, city: str) -> str:
        """Company names repeat in real life too, but keep them rare: add the place on a clash."""
        if name in self._names:
            name = _with_city(name, city)
        self._names.add(name)
        return name

    def company_name(
        self, form: str, surname: tuple[str, str], activity: str, city: str, owner: _Person, family_business: bool
    ) -> str:
        rng = self.rng
        family = _surname_text(surname, capital=True)
        suffix = _FORMS[form].suffix
        fantasy = _choice(rng, words.FANTASY_WORDS)
        roll = rng.random()
        if family_business:
            # A werkmaatschappij next to a holding: the family name is in both.
            roll = 0.0 if roll < 0.7 else 0.7 if roll < 0.9 else 0.88
        if form in ("bv", "nv", "cv"):
            if roll < 0.40:
                base = f"{family} {activity}"
            elif roll < 0.65:
                base = f"{fantasy} {activity}"
            elif roll < 0.80:
                base = f"{activity} {family}"
            elif roll < 0.87:
                base = f"{family} & {_surname_text(self.surname(), capital=True)}"
            elif roll < 0.93:
                base = f"Gebroeders {family}" if rng.random() < 0.5 else f"Gebr. {family}"
            else:
                base = f"{activity} {city}"
            if form == "nv" and rng.random() < 0.5:
                base = f"{fantasy} Groep"
            return base + suffix
        if form == "vof":
            if roll < 0.3:
                return f"V.O.F. {activity} {family}"
            if roll < 0.5:
                return f"{family} & Zn. V.O.F."
            if roll < 0.7:
                return f"{family} en {_surname_text(self.surname(), capital=True)} V.O.F."
            return f"{activity} {fantasy} V.O.F."
        if form == "ez":
            if roll < 0.25 and activity in _FIRST_NAME_TRADES:
                return f"{activity} {owner.first}"
            if roll < 0.6:
                return f"{activity} {family}"
            if roll < 0.85:
                return f"{family} {activity}"
            return f"{fantasy} {activity}"
        if form == "stichting":
            return f"Stichting {_choice(rng, words.FOUNDATION_PURPOSES)} {city}"
        if form == "maatschap":
            if roll < 0.5:
                return f"Maatschap {family} en {_surname_text(self.surname(), capital=True)}"
            return f"Maatschap {activity} {city}"
        if form == "coop":
            return f"Coöperatie {_choice(rng, words.COOPERATIVE_WORDS)} {fantasy} U.A."
        raise ValueError(form)

    # ---- relations ------------------------------------------------------------------------------

    def relation(
        self,
        form: str,
        *,
        surname: tuple[str, str] | None = None,
        holding: bool = False,
        family_business: bool = False,
        name: str | None = None,
        near: _Address | None = None,
    ) -> _Relation:
        """A new company or person with consistent identifiers, addresses, people and bank accounts."""
        rng = self.rng
        city = _CITY_BY_NAME[near.city] if near else _choice(rng, words.CITIES)
        visit = near or self.address(city)
        surname = surname or self.surname()
        sbi: tuple[str | None, str | None]
        if form == "person":
            owner = self.person(surname)
            display = f"{owner.full_name}"
            activity, sbi = "", words.PERSON_SBI
            staff_probability = 0.0
        else:
            owner = self.person(surname, job="Directeur-grootaandeelhouder" if form in ("bv", "nv") else "Eigenaar")
            if form == "maatschap" and rng.random() < 0.7:
                activity = _choice(rng, _MEDICAL)
                entry = next((a for a in words.ACTIVITIES if a[0] == activity), None)
                sbi = (entry[1], entry[2]) if entry else ("8621", "Huisartsenpraktijken")
                staff_probability = 0.7
            else:
                activity, sbi_code, sbi_text, staff_probability = _choice(rng, words.ACTIVITIES)
                sbi = (sbi_code, sbi_text)
            if holding:
                display = _choice(
                    rng,
                    (f"{_surname_text(surname, capital=True)} Holding B.V.",) * 3
                    + (f"{owner.first[0]}.{_choice(rng, 'ABCDEFGHJKLMPRSTW')}. {_surname_text(surname)} Holding B.V.",)
                    + (f"{_surname_text(surname, capital=True)} Beheer B.V.",),
                )
                sbi, staff_probability = words.HOLDING_SBI, 0.3
            elif form == "stichting":
                display = self.company_name(form, surname, activity, city[0], owner, family_business)
                sbi, staff_probability = words.FOUNDATION_SBI, 0.5
            else:
                display = self.company_name(form, surname, activity, city[0], owner, family_business)
        display = name or self.unique(display, city[0])
        domain_base = _slug(_strip_form(display)) or "bedrijf"
        domain = f"{domain_base}.example" if form != "person" else "particulier.example"
        relation = _Relation(
            name=display,
            form=form,
            visit=visit,
            phone=self.phone(city[0]) if form != "person" or self.chance(0.3) else self.mobile(),
            email=None,
            website=None,
            domain=domain,
            sbi=sbi,
            start=self.today - timedelta(days=_randint(rng, 200, 9000)),
        )
        if form == "person":
            relation.email = f"{_slug(owner.first)}.{_slug(owner.middle + owner.last).replace('-', '')}@{domain}"
            owner.email = relation.email
        else:
            relation.email = f"{_choice(rng, ('info', 'info', 'administratie', 'boekhouding', 'contact'))}@{domain}"
            if self.chance(0.8):
                relation.website = f"{_choice(rng, ('www.', 'https://www.', 'https://'))}{domain}"
            owner.email = self.work_email(owner, domain)
        # identifiers
        if _FORMS[form].legal_entity:
            relation.rsin = self.rsin()
        else:
            relation.bsn = self.bsn()
        if form != "person":
            relation.kvk = self.kvk()
            relation.establishment = f"0000{_randrange(rng, 10**7, 10**8)}" if self.chance(0.85) else None
            vat_liable = rng.random() < {"stichting": 0.4, "bv": 0.6 if holding else 0.97}.get(form, 0.97)
            if vat_liable:
                roll = rng.random()
                frequency = "Q" if roll < 0.72 else "M" if roll < 0.92 else "Y"
                if frequency == "Y" and form not in ("ez", "vof", "maatschap"):
                    frequency = "Q"
                relation.vat_frequency = frequency
                relation.icp = not holding and form != "stichting" and self.chance(0.12)
                if form == "ez":
                    relation.btw_id = self.btw_id()
            if self.chance(staff_probability):
                relation.staff = _choice(rng, (1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 40, 60))
        relation.size = rng.lognormvariate(8.6, 0.9)
        # addresses
        if form != "person" and self.chance(0.25):
            relation.postal = self.postbus(visit.city)
        if self.chance(0.1):
            relation.invoice = self.address()
        # bank accounts
        relation.ibans = [self.iban() for _ in range(2 if self.chance(0.2) else 1)]
        # people
        owner.phone = relation.phone if form != "person" else None
        relation.people.append(owner)
        if form not in ("person", "ez"):
            for _ in range(_choice(rng, (0, 0, 1, 1, 2))):
                relation.people.append(self.person(domain=domain))
        return relation

    def build_clients(self) -> list[_Relation]:
        relations: list[_Relation] = []
        while len(relations) < self.clients:
            index = len(relations)
            if self.clients - index >= 2 and index >= 3 and self.chance(_PAIR_SHARE):
                # Holding and werkmaatschappij: shared family name and director, different KvK/RSIN.
                surname = self.surname()
                working = self.relation("bv", surname=surname, family_business=True)
                holding = self.relation(
                    "bv", surname=surname, holding=True, near=working.visit if self.chance(0.7) else None
                )
                holding.people = [working.people[0], *holding.people[1:]]
                relations.extend((holding, working))
                continue
            form = _CLIENT_FORMS.pick(self.rng)
            if form == "person" and index < 3:
                form = "bv"
            relations.append(self.relation(form))
        return relations

    def build_extras(self, crm_only: list[_Relation]) -> list[_Relation]:
        """Accounts of the office administration that are not in the CRM."""
        count = max(2, round(0.10 * self.clients))
        lookalikes = min(len(crm_only), round(0.3 * len(crm_only)))
        extras: list[_Relation] = []
        for index in range(count):
            form = _EXTRA_FORMS.pick(self.rng)
            if index < lookalikes:
                # Same name as a CRM-only relation, but another company: identifiers and place differ.
                twin = crm_only[index]
                extra = self.relation(twin.form if twin.form != "person" else "ez", name=twin.name)
            else:
                extra = self.relation(form)
            extra.role = _choice(self.rng, ("supplier", "supplier", "prospect", "former"))
            extra.has_division = False
            extras.append(extra)
        return extras

    # ---- numbering ------------------------------------------------------------------------------

    def assign_numbers(self, clients: list[_Relation], crm_only: list[_Relation], extras: list[_Relation]) -> None:
        """Relation numbers for the CRM; account codes in Exact, mostly equal to the relation number."""
        rng = self.rng
        in_crm = clients + crm_only
        order = list(range(len(in_crm)))
        rng.shuffle(order)
        number = _randint(rng, 1, 9) * 1000
        numbers = []
        for _ in in_crm:
            number += _choice(rng, (1, 1, 1, 2, 3))
            numbers.append(str(number))
        for position, index in enumerate(order):
            in_crm[index].number = numbers[position]
        taken = set(numbers)
        other_codes = rng.sample(range(200000, 1000000), len(clients) + len(extras))
        codes = iter(str(code) for code in other_codes if str(code) not in taken)
        differing = set(rng.sample(range(len(clients)), round(0.08 * len(clients))))
        for index, client in enumerate(clients):
            client.code = next(codes) if index in differing else client.number
        for extra in extras:
            extra.code = next(codes)

    # ---- the run --------------------------------------------------------------------------------

    def run(self) -> SandboxData:
        clients = self.build_clients()
        crm_only = [self.relation(_CLIENT_FORMS.pick(self.rng)) for _ in range(max(1, round(0.05 * self.clients)))]
        for relation in crm_only:
            relation.role = "crm-only"
            relation.has_division = False
        extras = self.build_extras(crm_only)
        self.assign_numbers(clients, crm_only, extras)

        # Clients without an administration of their own: private persons and a few companies.
        companies = [c for c in clients[3:] if c.form != "person"]
        for client in clients:
            if client.form == "person":
                client.has_division = False
        for client in self.quota(companies, 0.02, self.rng):
            client.has_division = False

        division_count = 1 + sum(1 for c in clients if c.has_division)
        division_codes = self.rng.sample(range(100000, 10_000_000), division_count)
        office_code = division_codes[0]
        office = self.office_division(office_code)
        for relation in clients + extras:
            self.add_account(office, relation)

        divisions = {office_code: office}
        client_divisions: list[tuple[_Relation, DivisionData]] = []
        codes = iter(division_codes[1:])
        for hid, client in enumerate((c for c in clients if c.has_division), start=2):
            division = self.client_division(next(codes), hid, client)
            divisions[division.code] = division
            client_divisions.append((client, division))

        self.set_division_states(client_divisions)
        self.add_solution_links(office, client_divisions, clients)
        unconsented = self.pick_unconsented(client_divisions)
        users = self.users(office_code, divisions, client_divisions, unconsented)

        crm_relations = sorted(clients + crm_only, key=lambda r: int(r.number or 0))
        crm_rows = _CrmWriter(self.crm_rng).rows(crm_relations)
        ground_truth = [(r.number or "", r.code) for r in crm_relations]
        scenario = _Showcase(self, office, client_divisions[: promised.SHOWCASE_COUNT]).build(crm_rows)
        return SandboxData(
            now=self.now,
            office_division=office_code,
            users=users,
            divisions=divisions,
            unconsented_divisions=unconsented,
            crm_rows=crm_rows,
            ground_truth=ground_truth,
            scenario=scenario,
        )

    # ---- divisions ------------------------------------------------------------------------------

    def division_record(self, code: int, hid: int, description: str, relation: _Relation | None) -> Record:
        created = datetime(2012, 1, 1, 9, tzinfo=UTC) + timedelta(days=_randint(self.div_rng, 0, 4000))
        created = min(created, self.midnight - timedelta(days=30))
        sbi_code, sbi_text = relation.sbi if relation else (None, None)
        return {
            "Code": code,
            "Description": description,
            "Hid": hid,
            "Customer": None,
            "CustomerCode": None,
            "CustomerName": None,
            "Current": False,
            "IsMainDivision": False,
            "IsPracticeDivision": False,
            "IsDossierDivision": False,
            "IsHRDivision": False,
            "Status": 1,
            "BlockingStatus": 0,
            "ArchiveDate": None,
            "StartDate": created.replace(hour=0, minute=0),
            "Country": "NL",
            "Legislation": "NL",
            "Currency": "EUR",
            "VATNumber": relation.vat_number if relation else None,
            "ChamberOfCommerceNumber": relation.kvk if relation else None,
            "ChamberOfCommerceEstablishment": relation.establishment if relation else None,
            "OBNumber": relation.ob_number if relation else None,
            "AddressLine1": relation.visit.line1 if relation else None,
            "AddressLine2": None,
            "AddressLine3": None,
            "Postcode": relation.visit.postcode if relation else None,
            "City": relation.visit.city if relation else None,
            "State": None,
            "Email": relation.email if relation else None,
            "Phone": relation.phone if relation else None,
            "Fax": None,
            "Website": relation.website if relation else None,
            "BusinessTypeCode": None,
            "BusinessTypeDescription": None,
            "CompanySizeCode": None,
            "CompanySizeDescription": None,
            "SbiCode": sbi_code,
            "SbiDescription": sbi_text,
            "SectorCode": None,
            "SectorDescription": None,
            "SubsectorCode": None,
            "SubsectorDescription": None,
            "TemplateCode": None,
            "TaxOfficeNumber": None,
            "TaxReferenceNumber": None,
            "DatevAccountantNumber": None,
            "DatevClientNumber": None,
            "SiretNumber": None,
            "ShareCapital": None,
            "DivisionMoveDate": None,
            "DivisionHRLinkUnlinkDate": None,
            "Class_01": None,
            "Class_02": None,
            "Class_03": None,
            "Class_04": None,
            "Class_05": None,
            "Created": created,
            "Creator": None,
            "CreatorFullName": None,
            "Modified": created + timedelta(days=_randint(self.div_rng, 0, 400)),
            "Modifier": None,
            "ModifierFullName": None,
        }

    def office_division(self, code: int) -> DivisionData:
        office = self.relation("bv", name=_choice(self.rng, words.OFFICE_NAMES))
        office.domain = "kantoor.example"
        office.email, office.website = "info@kantoor.example", "https://www.kantoor.example"
        office.vat_frequency = "Q"
        office.sbi = ("6920", "Accountancy, belastingadvisering en administratie")
        record = self.division_record(code, 1, office.name, office)
        record.update(
            {
                "Customer": self.guid(),
                "CustomerCode": f"{_randrange(self.rng, 100000, 999999):>18}",
                "CustomerName": office.name,
                "Current": True,
                "IsMainDivision": True,
                "IsPracticeDivision": True,
                "Modified": min(record["Modified"], self.midnight - timedelta(days=1)),
            }
        )
        return DivisionData(code=code, record=record)

    def client_division(self, code: int, hid: int, client: _Relation) -> DivisionData:
        description = client.name
        if self.chance(0.05, self.div_rng):
            description = _strip_form(client.name)  # typed separately in Exact, without the legal form
        record = self.division_record(code, hid, description, client)
        record["Modified"] = min(record["Modified"], self.midnight - timedelta(days=1))
        if self.chance(0.85, self.div_rng):
            record["Customer"] = client.account_id
            record["CustomerCode"] = f"{client.code:>18}"
            record["CustomerName"] = client.name
        division = DivisionData(code=code, record=record)
        _DivisionContent(self, division, client).fill()
        return division

    def set_division_states(self, client_divisions: list[tuple[_Relation, DivisionData]]) -> None:
        rng = self.div_rng
        candidates = [division for _, division in client_divisions[3:]]
        archived = self.quota(candidates, 0.04, rng)
        taken = {d.code for d in archived}
        rest = [d for d in candidates if d.code not in taken]
        inactive = self.quota(rest, 0.01, rng)
        taken.update(d.code for d in inactive)
        rest = [d for d in rest if d.code not in taken]
        blocked = self.quota(rest, 0.01, rng, minimum=1 if len(rest) >= 10 else 0)
        for division in archived:
            archived_at = self.midnight - timedelta(days=_randint(rng, 100, 700))
            division.record.update({"Status": 2, "ArchiveDate": archived_at})
            # An archived administration stopped filing before today's window.
            division.tables[RETURNS].clear()
        for division in inactive:
            division.record["Status"] = 0
        for division in blocked:
            division.record["BlockingStatus"] = 1

    def add_solution_links(
        self, office: DivisionData, client_divisions: list[tuple[_Relation, DivisionData]], clients: list[_Relation]
    ) -> None:
        rng = self.div_rng
        links = office.tables[SOLUTION_LINKS]
        for client, division in self.quota(client_divisions, 0.10, rng, minimum=1):
            created = self.moment(30, 700, rng)
            link_id = self.guid()
            links[link_id] = _solution_link(link_id, office.code, client, created) | {
                "SolutionType": 0,
                "InternalSolutionDivision": division.code,
                "InternalSolutionDivisionDescription": division.record["Description"],
                "Name": division.record["Description"],
            }
        # Clients keeping their books elsewhere.
        elsewhere = [c for c in clients if not c.has_division and c.form != "person"]
        for client in self.quota(elsewhere, 0.5, rng):
            created = self.moment(30, 700, rng)
            link_id = self.guid()
            package = _choice(rng, ("SnelStart", "e-Boekhouden.nl", "Twinfield", "Moneybird"))
            links[link_id] = _solution_link(link_id, office.code, client, created) | {
                "SolutionType": 2,
                "OtherExternalSolutionName": package,
                "ExternalSolutionUrl": f"https://{_slug(package)}.example/administratie/{client.code}",
                "Name": f"{client.name} ({package})",
            }

    def pick_unconsented(self, client_divisions: list[tuple[_Relation, DivisionData]]) -> set[int]:
        active = [d.code for _, d in client_divisions[3:] if d.record["Status"] == 1]
        count = min(len(active) // 4, max(2, min(10, round(0.005 * len(client_divisions)))))
        return set(self.div_rng.sample(active, count))

    def users(
        self,
        office_code: int,
        divisions: dict[int, DivisionData],
        client_divisions: list[tuple[_Relation, DivisionData]],
        unconsented: set[int],
    ) -> list[SandboxUser]:
        admin_person = self.person(domain="kantoor.example")
        colleague_person = self.person(domain="kantoor.example")
        visible = [d.code for _, d in client_divisions if d.code not in unconsented and d.record["Status"] == 1] or [
            d.code for _, d in client_divisions
        ]
        colleague_divisions = sorted(self.div_rng.sample(visible, min(4, len(visible))))
        return [
            SandboxUser(
                user_id=self.guid(),
                username=ADMIN_USERNAME,
                password=SANDBOX_PASSWORD,
                full_name=admin_person.full_name,
                email=ADMIN_USERNAME,
                is_admin=True,
                divisions=list(divisions),
                current_division=office_code,
            ),
            SandboxUser(
                user_id=self.guid(),
                username=COLLEAGUE_USERNAME,
                password=SANDBOX_PASSWORD,
                full_name=colleague_person.full_name,
                email=COLLEAGUE_USERNAME,
                is_admin=False,
                divisions=colleague_divisions,
                # Without any client administration the colleague still has a last-used division number.
                current_division=colleague_divisions[0] if colleague_divisions else office_code,
            ),
        ]

    # ---- office administration: accounts, addresses, contacts, bank accounts --------------------

    def add_account(self, office: DivisionData, relation: _Relation) -> None:
        rng = self.rng
        account_id = self.guid()
        relation.account_id = account_id
        created = datetime.combine(relation.start, datetime.min.time(), UTC) + timedelta(hours=_randint(rng, 8, 17))
        modified = min(
            created + timedelta(days=_randint(rng, 0, 3000)), self.midnight - timedelta(hours=_randint(rng, 1, 72))
        )
        division = office.code
        # Exact's own copy: most fields equal the truth; a few accounts lack the fiscal number.
        keep_fiscal = not self.chance(0.02)
        is_supplier = relation.role == "supplier"
        status = {"client": "C", "former": "C", "prospect": "P"}.get(relation.role, "A")
        main_contact_id: str | None = None
        contacts = office.tables[CONTACTS]
        for position, person in enumerate(relation.people):
            if not person.in_exact:
                continue
            contact_id = self.guid()
            if main_contact_id is None:
                main_contact_id = contact_id
            contacts[contact_id] = {
                "ID": contact_id,
                "Account": account_id,
                "AccountName": relation.name,
                "AccountIsCustomer": status == "C",
                "AccountIsSupplier": is_supplier,
                "IsMainContact": main_contact_id == contact_id,
                "FirstName": person.first,
                "MiddleName": person.middle or None,
                "LastName": person.last,
                "FullName": person.full_name,
                "Initials": f"{person.first[0]}.",
                "Gender": person.gender,
                "Title": "DHR" if person.gender == "M" else "MEVR",
                "Email": person.email,
                "Phone": person.phone,
                "Mobile": person.mobile,
                "JobTitleDescription": person.job if position or relation.form != "person" else None,
                "Division": division,
                "Created": created,
                "Modified": modified,
            }
        relation_fiscal_bsn = relation.bsn if keep_fiscal else None
        office.tables[ACCOUNTS][account_id] = {
            "ID": account_id,
            "Code": f"{relation.code:>18}",
            "Name": relation.name,
            "SearchCode": _slug(_strip_form(relation.name)).replace("-", "")[:10].upper() or None,
            "TradeName": None,
            "ChamberOfCommerce": relation.kvk,
            "VATNumber": relation.vat_number,
            "RSIN": relation.rsin if keep_fiscal else None,
            "BSN": relation_fiscal_bsn,
            "Phone": relation.phone,
            "Email": relation.email,
            "Website": relation.website,
            "AddressLine1": relation.visit.line1,
            "AddressLine2": None,
            "AddressLine3": None,
            "Postcode": relation.visit.postcode,
            "City": relation.visit.city,
            "State": None,
            "Country": "NL",
            "CountryName": "Nederland",
            "Status": status,
            "IsSales": relation.role in ("client", "former", "prospect"),
            "IsSupplier": is_supplier,
            "IsAccountant": 0,
            "Type": "A",
            "Blocked": False,
            "StartDate": created if relation.role != "prospect" else None,
            "EndDate": self.midnight - timedelta(days=_randint(rng, 60, 900)) if relation.role == "former" else None,
            "MainContact": main_contact_id,
            "Language": "NL",
            "Division": division,
            "Created": created,
            "Modified": modified,
        }
        addresses = office.tables[ADDRESSES]
        kinds = [(1, relation.visit)]
        if relation.postal or self.chance(0.4):
            kinds.append((2, relation.postal or relation.visit))
        if relation.invoice or self.chance(0.15):
            kinds.append((3, relation.invoice or relation.visit))
        for kind, address in kinds:
            address_id = self.guid()
            addresses[address_id] = {
                "ID": address_id,
                "Account": account_id,
                "AccountName": relation.name,
                "Type": kind,
                "Main": True,
                "AddressLine1": address.line1,
                "AddressLine2": None,
                "AddressLine3": None,
                "Postcode": address.postcode,
                "City": address.city,
                "State": None,
                "Country": "NL",
                "CountryName": "Nederland",
                "Phone": None,
                "Division": division,
                "Created": created,
                "Modified": modified,
            }
        banks = office.tables[BANK_ACCOUNTS]
        for position, iban in enumerate(relation.ibans):
            if position and self.chance(0.1):
                continue  # the second account never made it into Exact
            bank_id = self.guid()
            banks[bank_id] = {
                "ID": bank_id,
                "Account": account_id,
                "AccountName": relation.name,
                "BankAccount": iban,
                "BankAccountHolderName": relation.name if position == 0 else relation.people[0].full_name,
                "BICCode": _BIC_BY_BANK[iban[4:8]],
                "Description": None,
                "Format": None,
                "Main": position == 0,
                "Blocked": False,
                "Type": "A",
                "Division": division,
                "Created": created,
                "Modified": modified,
            }


_BANK_CUMULATIVE = list(itertools.accumulate(words.BANK_WEIGHTS))


def _solution_link(link_id: str, office_code: int, client: _Relation, created: datetime) -> Record:
    return {
        "ID": link_id,
        "Account": client.account_id,
        "AccountName": client.name,
        "Division": office_code,
        "SolutionType": 0,
        "InternalSolutionDivision": None,
        "InternalSolutionDivisionDescription": None,
        "ExternalSolutionCode": None,
        "ExternalSolutionName": None,
        "ExternalSolutionUrl": None,
        "OtherExternalSolutionName": None,
        "Name": None,
        "Status": 0,
        "Created": created,
        "Modified": created,
    }


# --------------------------------------------------------------------------------------------------
# Client administrations: returns, chart of accounts, vraagposten.

_STATUS_BY_AGE = (
    (15, _Weighted([(10, 24), (20, 24), (30, 14), (40, 26), (50, 5), (-10, 2), (5, 3), (0, 2)])),
    (45, _Weighted([(10, 4), (20, 8), (30, 10), (40, 34), (50, 34), (5, 5), (0, 3), (-10, 2)])),
    (10**6, _Weighted([(20, 2), (30, 4), (40, 20), (50, 64), (5, 5), (0, 4), (-10, 1)])),
)

_CHART = (
    ("1000", "Kas", "B", "D", 10),
    ("1100", "Bank", "B", "D", 12),
    ("1300", "Debiteuren", "B", "D", 20),
    ("1600", "Crediteuren", "B", "C", 22),
    ("1800", "Te betalen btw", "B", "C", 24),
    ("1810", "Te vorderen btw", "B", "D", 24),
    ("4000", "Lonen en salarissen", "W", "D", 125),
    ("4500", "Huisvestingskosten", "W", "D", 120),
    ("7000", "Inkoopwaarde van de omzet", "W", "D", 111),
    ("8000", "Omzet", "W", "C", 110),
)
_VRAAGPOSTEN_VARIANTS = _Weighted(
    [
        (("2300", "Vraagposten"), 80),
        (("2100", "Vraagposten"), 6),
        (("9100", "Vraagposten"), 5),
        (("2300", "Tussenrekening vraagposten"), 5),
        (None, 4),  # no suspense account at all (e.g. a small holding)
    ]
)
_ENTRY_COUNTS = _Weighted([(0, 25), (1, 15), (2, 15), (3, 14), (4, 10), (5, 8), (6, 6), (8, 5), (12, 2)])


class _DivisionContent:
    """Fills one client division's returns, G/L accounts and vraagposten transaction lines."""

    def __init__(self, generator: _Generator, division: DivisionData, client: _Relation) -> None:
        self.g = generator
        self.rng = generator.div_rng
        self.division = division
        self.client = client
        self.window_start = generator.midnight - timedelta(days=90)

    def fill(self) -> None:
        client = self.client
        if client.vat_frequency:
            self.vat_returns()
            if client.icp:
                self.periodic(ICP_RETURN, client.vat_frequency if client.vat_frequency != "Y" else "Q")
        if client.staff:
            self.periodic(PAYROLL_RETURN, "M")
            if self.rng.random() < 0.06:
                self.late_return(PAYROLL_RETURN, "M", correction=True)
        self.ledger()

    # ---- returns --------------------------------------------------------------------------------

    def vat_returns(self) -> None:
        frequency = self.client.vat_frequency or "Q"
        if frequency == "Y":
            self.yearly_vat()
        else:
            self.periodic(VAT_RETURN, frequency)
        if self.rng.random() < 0.1:
            self.late_return(VAT_RETURN, frequency if frequency != "Y" else "Q", correction=True)

    def periodic(self, kind: int, frequency: str) -> None:
        """Returns prepared in the weeks after their period ended, kept when created in the last 90 days."""
        for year, period, last_day in _periods(self.g.today, frequency, 5 if frequency == "M" else 2):
            end = datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC)
            created = end + timedelta(
                days=_randint(self.rng, 1, 28 if kind == PAYROLL_RETURN else 38),
                hours=_randint(self.rng, 8, 17),
                minutes=_randrange(self.rng, 60),
            )
            if self.window_start <= created < self.g.midnight:
                self.add_return(kind, frequency, year, period, created, _due_end_of_next_month(last_day))

    def yearly_vat(self) -> None:
        """Last year's return, prepared once that year is over (so not at all in the first days of January)."""
        first_day = max(self.window_start, datetime(self.g.today.year, 1, 2, tzinfo=UTC))
        days = (self.g.midnight - first_day).days
        if days < 1:
            return
        created = self.g.moment(1, days, self.rng)
        year = self.g.today.year - 1
        self.add_return(VAT_RETURN, "Y", year, 1, created, date(year + 1, 3, 31))

    def late_return(self, kind: int, frequency: str, *, correction: bool) -> None:
        """A suppletie (VAT) or correctiebericht (payroll) for an earlier period, created recently."""
        year, period, _ = _choice(self.rng, _periods(self.g.today, frequency, 12 if frequency == "M" else 4)[1:])
        created = self.g.moment(1, 89, self.rng)
        due = created.date() + timedelta(weeks=8) if self.rng.random() < 0.5 else None
        self.add_return(kind, frequency, year, period, created, due, correction=correction)

    def add_return(
        self,
        kind: int,
        frequency: str,
        year: int,
        period: int,
        created: datetime,
        due: date | None,
        *,
        correction: bool = False,
    ) -> None:
        rng = self.rng
        client = self.client
        age = (self.g.midnight - created).days
        status = next(table for limit, table in _STATUS_BY_AGE if age < limit).pick(rng)
        description_of_period = _period_description(frequency, year, period)
        if kind == VAT_RETURN:
            scale = {"M": 1 / 3, "Q": 1.0, "Y": 4.0}[frequency]
            amount = client.size * scale * rng.uniform(0.5, 1.5)
            if rng.random() < 0.12:
                amount = -amount * 0.4  # a refund
            if correction:
                amount = rng.uniform(-1, 1) * client.size * 0.2
                description = SUPPLETIE_DESCRIPTION
            else:
                description = "Aangifte omzetbelasting"
            payroll_type = None
        elif kind == ICP_RETURN:
            amount, description, payroll_type = 0.0, "Opgaaf intracommunautaire prestaties", None
        else:
            amount = client.staff * rng.uniform(350, 900)
            if correction:
                amount = rng.uniform(-0.3, 0.3) * amount
                description, payroll_type = "Correctiebericht loonaangifte", "Correctiebericht"
            else:
                description, payroll_type = "Loonaangifte", "Loonaangifte"
        if rng.random() < 0.04:
            due = None
        document_id = self.g.guid()
        division_code = self.division.code
        self.division.tables[RETURNS][document_id] = {
            "DocumentID": document_id,
            "Request": self.g.guid(),
            "Type": kind,
            "Status": status,
            "Frequency": frequency.lower() if rng.random() < 0.03 else frequency,
            "Year": year,
            "Period": period,
            "PeriodDescription": description_of_period,
            "Amount": float(round(amount)),
            "Currency": "EUR",
            "DueDate": due,
            "Created": created,
            "Description": description,
            "Subject": f"{description} {description_of_period}",
            "DocumentViewUrl": f"{self.g.base_url}/docs/DocView.aspx?DocumentID=%7b{document_id}%7d"
            f"&_Division_={division_code}",
            "PayrollDeclarationType": payroll_type,
        }

    # ---- chart of accounts and vraagposten ------------------------------------------------------

    def ledger(self) -> None:
        division = self.division
        created = division.record["Created"]
        accounts = division.tables[GL_ACCOUNTS]
        guid = self.g.guid
        code_of = division.code
        for code, description, balance_type, balance_side, kind in _CHART:
            account_id = guid()
            accounts[account_id] = {
                "ID": account_id,
                "Code": code,
                "Description": description,
                "BalanceType": balance_type,
                "BalanceSide": balance_side,
                "Type": kind,
                "Matching": False,
                "Blocked": False,
                "Division": code_of,
                "Created": created,
                "Modified": created,
            }
        variant = _VRAAGPOSTEN_VARIANTS.pick(self.rng)
        if variant is None:
            return
        code, description = variant
        account_id = guid()
        accounts[account_id] = _suspense_account(account_id, code, description, code_of, created)
        self.vraagposten(account_id, code, description)

    def vraagposten(self, account_id: str, code: str, description: str) -> None:
        rng = self.rng
        lines = self.division.tables[TRANSACTION_LINES]
        midnight = self.g.midnight
        sequence = {"20": 0, "90": 0}

        def add_line(moment: datetime, amount: float, text: str, journal: str, counterparty: str | None) -> None:
            sequence[journal] += 1
            line = _transaction_line(
                self.g.guid,
                self.division.code,
                (account_id, code, description),
                moment,
                amount,
                text,
                journal,
                counterparty,
                sequence=sequence[journal],
                line_number=_randint(rng, 1, 3),
                status=20 if rng.random() < 0.15 else 50,
            )
            lines[line["ID"]] = line

        postings = []
        for _ in range(_ENTRY_COUNTS.pick(rng)):
            day = midnight - timedelta(days=_randint(rng, 1, 150))
            amount = round(rng.lognormvariate(4.5, 1.1), 2) * (1 if rng.random() < 0.65 else -1)
            text, counterparty = _choice(rng, words.VRAAGPOST_TEXTS)
            postings.append((day, amount, text, "20", counterparty))
            if rng.random() < 0.55:
                cleared = day + timedelta(days=_randint(rng, 2, 45))
                if cleared < midnight:
                    postings.append((cleared, -amount, _choice(rng, words.CLEARING_TEXTS), "90", counterparty))
        postings.sort(key=lambda posting: posting[0])
        for posting in postings:
            add_line(*posting)


class _Showcase:
    """Writes the scenario (``exactlink.sandbox.scenario.ROLES``) into the first client administrations.

    Runs after everything random, with a stream of its own, so the rest of the office is the same with or
    without it. Each showcase administration is made usable and owned by its client's account, its CRM row is
    written again without injected mess, and its returns and vraagposten are replaced by the promised ones.
    """

    def __init__(
        self, generator: _Generator, office: DivisionData, showcase: list[tuple[_Relation, DivisionData]]
    ) -> None:
        self.g = generator
        self.office = office
        self.showcase = showcase
        self.rng = random.Random(f"exactlink-sandbox/{generator.seed}/scenario")

    def build(self, crm_rows: list[dict[str, str]]) -> Scenario:
        row_index = {row["relatienummer"]: index for index, row in enumerate(crm_rows)}
        writer = _CrmWriter(self.rng)
        returns: dict[str, tuple[int, str]] = {}
        for position, (client, division) in enumerate(self.showcase):
            self.make_usable(client, division)
            number = client.number or ""
            crm_rows[row_index[number]] = writer.row(client)
            division.tables[RETURNS].clear()
            for role in promised.ROLES:
                if role.administration == position:
                    returns[role.name] = (division.code, self.add_return(client, division, role))
            if position in (promised.VRAAGPOSTEN_OPEN, promised.VRAAGPOSTEN_BALANCED):
                self.vraagposten(division, balanced=position == promised.VRAAGPOSTEN_BALANCED)
        codes = tuple(division.code for _, division in self.showcase)
        return Scenario(
            administrations=codes,
            relations=tuple(client.number or "" for client, _ in self.showcase),
            returns=returns,
            vraagposten_open=codes[promised.VRAAGPOSTEN_OPEN] if len(codes) > promised.VRAAGPOSTEN_OPEN else None,
            vraagposten_balanced=(
                codes[promised.VRAAGPOSTEN_BALANCED] if len(codes) > promised.VRAAGPOSTEN_BALANCED else None
            ),
        )

    def make_usable(self, client: _Relation, division: DivisionData) -> None:
        """Active, unblocked, owned by the client's account, which carries the RSIN/BSN (consent is already given)."""
        assert client.account_id is not None, "accounts are made before the scenario"
        division.record.update(
            {
                "Status": 1,
                "BlockingStatus": 0,
                "ArchiveDate": None,
                "Customer": client.account_id,
                "CustomerCode": f"{client.code:>18}",
                "CustomerName": client.name,
            }
        )
        account = self.office.tables[ACCOUNTS][client.account_id]
        account.update({"RSIN": client.rsin, "BSN": client.bsn})

    def add_return(self, client: _Relation, division: DivisionData, role: promised.Role) -> str:
        now = self.g.now
        year, month = promised.period_of(now, role.periods_back)
        last_day = date(year, month, monthrange(year, month)[1])
        if role.type == VAT_RETURN:
            amount = -self.rng.uniform(50, 900) if role.suppletie else client.size / 3 * self.rng.uniform(0.5, 1.5)
            description = SUPPLETIE_DESCRIPTION if role.suppletie else "Aangifte omzetbelasting"
            payroll_type = None
        elif role.type == ICP_RETURN:
            amount, description, payroll_type = 0.0, "Opgaaf intracommunautaire prestaties", None
        else:
            amount, description, payroll_type = self.rng.uniform(1500, 9000), "Loonaangifte", "Loonaangifte"
        period = _period_description("M", year, month)
        document_id = self.g.guid()
        division.tables[RETURNS][document_id] = {
            "DocumentID": document_id,
            "Request": self.g.guid(),
            "Type": role.type,
            "Status": role.status,
            "Frequency": "M",
            "Year": year,
            "Period": month,
            "PeriodDescription": period,
            "Amount": float(round(amount)),
            "Currency": "EUR",
            "DueDate": _due_end_of_next_month(last_day),
            "Created": role.created(now),
            "Description": description,
            "Subject": f"{description} {period}",
            "DocumentViewUrl": f"{self.g.base_url}/docs/DocView.aspx?DocumentID=%7b{document_id}%7d"
            f"&_Division_={division.code}",
            "PayrollDeclarationType": payroll_type,
        }
        return document_id

    def vraagposten(self, division: DivisionData, *, balanced: bool) -> None:
        """Three postings on the suspense account: all cleared (balanced) or one left open."""
        accounts = division.tables[GL_ACCOUNTS]
        suspense = [key for key, account in accounts.items() if "vraagpost" in str(account["Description"]).lower()]
        for key in suspense:
            del accounts[key]
        lines = division.tables[TRANSACTION_LINES]
        for key in [key for key, line in lines.items() if line["GLAccount"] in suspense]:
            del lines[key]
        account_id = self.g.guid()
        accounts[account_id] = _suspense_account(
            account_id, "2300", "Vraagposten", division.code, division.record["Created"]
        )
        midnight = self.g.midnight
        for number, days_ago in enumerate((40, 25, 12), start=1):
            text, counterparty = _choice(self.rng, words.VRAAGPOST_TEXTS)
            amount = round(self.rng.uniform(40, 2500), 2)
            day = midnight - timedelta(days=days_ago)
            postings = [(day, amount, text, "20")]
            if balanced or number != 2:
                postings.append((day + timedelta(days=3), -amount, _choice(self.rng, words.CLEARING_TEXTS), "90"))
            for moment, value, words_of_line, journal in postings:
                line = _transaction_line(
                    self.g.guid,
                    division.code,
                    (account_id, "2300", "Vraagposten"),
                    moment,
                    value,
                    words_of_line,
                    journal,
                    counterparty,
                    sequence=number,
                    line_number=1,
                    status=50,
                )
                division.tables[TRANSACTION_LINES][line["ID"]] = line


def _suspense_account(account_id: str, code: str, description: str, division: int, created: datetime) -> Record:
    """The vraagposten (suspense) G/L account: a balance account whose lines are matched when cleared."""
    return {
        "ID": account_id,
        "Code": code,
        "Description": description,
        "BalanceType": "B",
        "BalanceSide": "D",
        "Type": 90,
        "Matching": True,
        "Blocked": False,
        "Division": division,
        "Created": created,
        "Modified": created,
    }


def _transaction_line(
    guid: Callable[[], str],
    division: int,
    gl_account: tuple[str, str, str],
    moment: datetime,
    amount: float,
    text: str,
    journal: str,
    counterparty: str | None,
    *,
    sequence: int,
    line_number: int,
    status: int,
) -> Record:
    """One financial/TransactionLines row on ``gl_account`` (ID, code, description): bank (20) or memorial (90)."""
    account_id, code, description = gl_account
    return {
        "ID": guid(),
        "Division": division,
        "Date": moment,
        "FinancialYear": moment.year,
        "FinancialPeriod": moment.month,
        "EntryID": guid(),
        "EntryNumber": (moment.year % 100) * 1_000_000 + int(journal) * 10_000 + sequence,
        "JournalCode": journal,
        "JournalDescription": "Bank" if journal == "20" else "Memoriaal",
        "LineNumber": line_number,
        "GLAccount": account_id,
        "GLAccountCode": code,
        "GLAccountDescription": description,
        "AmountDC": amount,
        "AmountFC": amount,
        "Currency": "EUR",
        "Description": text,
        "Account": None,
        "AccountName": counterparty,
        "Status": status,
        "Type": 40 if journal == "20" else 90,
        "Created": moment + timedelta(hours=10),
        "Modified": moment + timedelta(hours=10),
    }


@functools.lru_cache(maxsize=64)
def _periods(today: date, frequency: str, back: int) -> tuple[tuple[int, int, date], ...]:
    """(year, period, last day) of the ``back`` monthly or quarterly periods before the running one."""
    result = []
    for step in range(1, back + 1):
        if frequency == "M":
            year, month = divmod(today.year * 12 + today.month - 1 - step, 12)
            result.append((year, month + 1, date(year, month + 1, monthrange(year, month + 1)[1])))
        else:
            year, quarter = divmod(today.year * 4 + (today.month - 1) // 3 - step, 4)
            last_month = quarter * 3 + 3
            result.append((year, quarter + 1, date(year, last_month, monthrange(year, last_month)[1])))
    return tuple(result)


def _due_end_of_next_month(last_day: date) -> date:
    # A calendar day: Exact writes it as that day's midnight on Amsterdam's clock.
    year, month = (last_day.year + 1, 1) if last_day.month == 12 else (last_day.year, last_day.month + 1)
    return date(year, month, monthrange(year, month)[1])


def _period_description(frequency: str, year: int, period: int) -> str:
    if frequency == "M":
        return f"{words.MONTHS_NL[period - 1]} {year}"
    if frequency == "Q":
        return f"Kwartaal {period} {year}"
    return f"Jaar {year}"


# --------------------------------------------------------------------------------------------------
# Names


def _surname_text(surname: tuple[str, str], capital: bool = False) -> str:
    prefix, last = surname
    if not prefix:
        return last
    return f"{prefix[0].upper() + prefix[1:] if capital else prefix} {last}"


_FORM_WORDS = (" B.V.", " N.V.", " V.O.F.", " C.V.", " U.A.", "V.O.F. ", "Stichting ", "Maatschap ", "Coöperatie ")


def _strip_form(name: str) -> str:
    for form_word in _FORM_WORDS:
        name = name.replace(form_word, " ")
    return " ".join(name.split())


def _with_city(name: str, city: str) -> str:
    for suffix in (" B.V.", " N.V.", " V.O.F.", " C.V.", " U.A."):
        if name.endswith(suffix):
            return f"{name[: -len(suffix)]} {city}{suffix}"
    return f"{name} {city}"


# --------------------------------------------------------------------------------------------------
# The CRM export: the same relations as the office keeps them in its CRM, with a CRM's mess.

_ABBREVIATIONS = (
    ("Gebroeders ", "Gebr. "),
    (" & Zn.", " en Zonen"),
    ("Installatietechniek", "Installatietechn."),
    ("Elektrotechniek", "Elektrotechn."),
    ("bedrijf", "bedr."),
    ("Stichting ", "St. "),
    ("Coöperatie ", "Coop. "),
    ("Maatschap ", "Mts. "),
    ("praktijk", "pr."),
)
_NAME_FORM_SPELLINGS = {
    " B.V.": (" BV", " B.V", " bv", ""),
    " N.V.": (" NV", ""),
    " V.O.F.": (" VOF", " vof", ""),
    " C.V.": (" CV",),
    " U.A.": (" UA", ""),
}


class _CrmWriter:
    """Turns relations into CRM export rows, injecting the mess at fixed rates."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def rows(self, relations: list[_Relation]) -> list[dict[str, str]]:
        rng = self.rng
        population = list(range(len(relations)))

        def pick(candidates: list[int], share: float) -> set[int]:
            count = min(len(candidates), round(share * len(relations)))
            return set(rng.sample(candidates, count))

        with_fiscal = [i for i in population if relations[i].fiscal_number]
        missing_fiscal = pick(with_fiscal, 0.03)
        with_vat = [
            i
            for i in with_fiscal
            if i not in missing_fiscal and relations[i].vat_frequency and relations[i].form != "person"
        ]
        only_in_ob = pick(with_vat, 0.03)
        remaining = [i for i in with_fiscal if i not in missing_fiscal and i not in only_in_ob]
        bsn_first = [i for i in remaining if relations[i].bsn] + [i for i in remaining if relations[i].rsin]
        mistyped_fiscal = set(bsn_first[: round(0.01 * len(relations))])
        with_kvk = [i for i in population if relations[i].kvk]
        broken_kvk = pick([i for i in with_kvk if relations[i].code is not None], 0.02)
        missing_kvk = pick([i for i in with_kvk if i not in broken_kvk], 0.01)
        moved = pick(population, 0.02)

        rows = []
        for index, relation in enumerate(relations):
            rows.append(
                self.row(
                    relation,
                    missing_fiscal=index in missing_fiscal,
                    only_in_ob=index in only_in_ob,
                    mistyped_fiscal=index in mistyped_fiscal,
                    broken_kvk=index in broken_kvk,
                    missing_kvk=index in missing_kvk,
                    moved=index in moved,
                )
            )
        return rows

    def row(
        self,
        relation: _Relation,
        *,
        missing_fiscal: bool = False,
        only_in_ob: bool = False,
        mistyped_fiscal: bool = False,
        broken_kvk: bool = False,
        missing_kvk: bool = False,
        moved: bool = False,
    ) -> dict[str, str]:
        """The export row of ``relation``, with the mess the flags ask for (none by default)."""
        rng = self.rng
        fiscal = relation.fiscal_number or ""
        if mistyped_fiscal:
            fiscal = _mistype(fiscal, rng)
        rsin = bsn = ""
        if not missing_fiscal and not only_in_ob:
            if relation.rsin:
                rsin = self.spell_number(fiscal)
            else:
                bsn = self.spell_number(fiscal)
        vat = ""
        if only_in_ob:
            vat = self.spell_vat(f"NL{relation.fiscal_number}B01")  # the old OB-nummer carries the fiscal number
        elif relation.vat_number and rng.random() < 0.95:
            vat = self.spell_vat(relation.vat_number)
        kvk = relation.kvk or ""
        if broken_kvk:
            kvk = _break_kvk(kvk, rng)
        elif missing_kvk:
            kvk = ""
        elif kvk and rng.random() < 0.05:
            kvk = f"{kvk[:4]} {kvk[4:]}"
        payroll = relation.payroll_number or ""
        if payroll and rng.random() < 0.1:
            payroll = ""
        visit = relation.visit
        if moved:
            visit = _Address(
                f"{_choice(rng, words.STREETS)} {_randint(rng, 1, 200)}",
                _other_postcode(visit.postcode, rng),
                visit.city,
            )
        postal = relation.postal or (visit if rng.random() < 0.4 else None)
        invoice = relation.invoice
        people = [p for p in relation.people if p.in_crm]
        if relation.form not in ("person", "ez") and rng.random() < 0.25:
            # Someone the CRM knows but who was never entered in Exact.
            first = _choice(rng, words.FEMALE_FIRST_NAMES + words.MALE_FIRST_NAMES)
            middle, last = _choice(rng, words.SURNAMES)
            email = f"{_slug(first)}@{relation.domain}" if rng.random() < 0.9 else None
            people.append(_Person(first, middle, last, "O", email, None, None, "", in_exact=False))
        ibans = [self.spell_iban(iban) for iban in relation.ibans]
        if len(ibans) > 1 and rng.random() < 0.2:
            ibans = ibans[:1]
        return {
            "relatienummer": relation.number or "",
            "naam": self.spell_name(relation),
            "rechtsvorm": _FORMS[relation.form].crm_spellings.pick(rng),
            "kvk-nummer": kvk,
            "rsin": rsin,
            "bsn": bsn,
            "btw-nummer": vat,
            "loonheffingennummer": payroll,
            "telefoon": self.spell_phone(relation.phone),
            "email": relation.email or "",
            "website": relation.website or "",
            **self.address_cells("bezoekadres", visit),
            **self.address_cells("postadres", postal),
            **self.address_cells("factuuradres", invoice),
            "iban": " | ".join(ibans),
            "contactpersonen": " | ".join(
                f"{self.spell_person(p)} <{p.email}>" if p.email else self.spell_person(p) for p in people
            ),
        }

    # ---- spelling variations --------------------------------------------------------------------

    def spell_name(self, relation: _Relation) -> str:
        rng = self.rng
        name = relation.name
        if relation.form == "person":
            roll = rng.random()
            first, rest = name.split(" ", 1)
            if roll < 0.3:
                return f"{first[0]}. {rest}"
            if roll < 0.4:
                prefix = relation.people[0].middle
                return f"{relation.people[0].last}, {first[0]}." + (f" {prefix}" if prefix else "")
            return name
        if rng.random() > 0.35:
            return name
        changes: list[Callable[[str], str]] = []
        for form_word, spellings in _NAME_FORM_SPELLINGS.items():
            if form_word in name:
                changes.append(_replacer(form_word, _choice(rng, spellings)))
        if " & " in name:
            changes.append(_replacer(" & ", " en "))
        elif " en " in name:
            changes.append(_replacer(" en ", " & "))
        for long, short in _ABBREVIATIONS:
            if long in name:
                changes.append(_replacer(long, short))
        if " Holding" in name:
            changes.extend([_replacer(" Holding", "")] * 3)
        if name.startswith("V.O.F. "):
            changes.append(_move_leading_vof)
        if any(ord(ch) > 127 for ch in name):
            changes.append(lambda n: unicodedata.normalize("NFKD", n).encode("ascii", "ignore").decode())
        changes.append(str.upper)
        changes.append(lambda n: n.replace(" ", "  ", 1) + " ")
        name = _choice(rng, changes)(name)
        if rng.random() < 0.15:
            name = _choice(rng, changes)(name)
        return name

    def spell_person(self, person: _Person) -> str:
        if self.rng.random() < 0.1:
            return " ".join(part for part in (f"{person.first[0]}.", person.middle, person.last) if part)
        return person.full_name

    def spell_number(self, nine: str) -> str:
        roll = self.rng.random()
        if len(nine) != 9 or roll < 0.75:
            return nine
        if roll < 0.9:
            return f"{nine[:4]}.{nine[4:6]}.{nine[6:]}"
        return f"{nine[:3]} {nine[3:6]} {nine[6:]}"

    def spell_vat(self, vat: str) -> str:
        roll = self.rng.random()
        if roll < 0.7:
            return vat
        if roll < 0.82:
            return vat.lower()
        if roll < 0.92:
            return f"{vat[:2]}{vat[2:6]}.{vat[6:8]}.{vat[8:11]}.{vat[11:]}"
        return f"{vat[:2]} {vat[2:11]} {vat[11:]}"

    def spell_iban(self, iban: str) -> str:
        roll = self.rng.random()
        if roll < 0.6:
            return iban
        grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return grouped if roll < 0.95 else grouped.lower()

    def spell_phone(self, phone: str) -> str:
        roll = self.rng.random()
        if roll < 0.7:
            return phone
        digits = phone.replace("+31 ", "0").replace("-", "").replace(" ", "")
        return digits if roll < 0.85 else f"+31{digits[1:]}"

    def spell_postcode(self, postcode: str) -> str:
        roll = self.rng.random()
        if roll < 0.75:
            return postcode
        if roll < 0.9:
            return postcode.replace(" ", "")
        if roll < 0.95:
            return postcode.replace(" ", "").lower()
        return postcode.lower()

    def address_cells(self, prefix: str, address: _Address | None) -> dict[str, str]:
        if address is None:
            return {prefix: "", f"{prefix} postcode": "", f"{prefix} plaats": "", f"{prefix} land": ""}
        roll = self.rng.random()
        country = "Nederland" if roll < 0.85 else "NL" if roll < 0.95 else ""
        city = address.city.upper() if self.rng.random() < 0.03 else address.city
        return {
            prefix: address.line1,
            f"{prefix} postcode": self.spell_postcode(address.postcode),
            f"{prefix} plaats": city,
            f"{prefix} land": country,
        }


def _replacer(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


def _move_leading_vof(name: str) -> str:
    """``V.O.F. Bakkerij Post`` → ``Bakkerij Post VOF``; any other name (say, already moved) stays as it is.

    A spelling change may be drawn twice, or after another change rewrote the prefix: cutting blindly would
    eat the first letters of the name (``rijf Van Leeuwen VOF VOF``).
    """
    return name[len("V.O.F. ") :] + " VOF" if name.startswith("V.O.F. ") else name


def _mistype(number: str, rng: random.Random) -> str:
    """Change one digit: a single wrong digit never passes the 11-proef."""
    position = _randrange(rng, len(number))
    wrong = _choice(rng, [d for d in "0123456789" if d != number[position]])
    return number[:position] + wrong + number[position + 1 :]


def _break_kvk(kvk: str, rng: random.Random) -> str:
    """A spreadsheet dropped the leading zero, or someone swapped two neighbouring digits."""
    if kvk.startswith("0"):
        return kvk[1:]
    if rng.random() < 0.3:
        position = _randrange(rng, len(kvk))
        return kvk[:position] + kvk[position + 1 :]
    swaps = [i for i in range(len(kvk) - 1) if kvk[i] != kvk[i + 1]]
    i = _choice(rng, swaps)
    return kvk[:i] + kvk[i + 1] + kvk[i] + kvk[i + 2 :]


def _other_postcode(postcode: str, rng: random.Random) -> str:
    digits = int(postcode[:4])
    return f"{digits + _choice(rng, (-2, -1, 1, 2))} {_choice(rng, _POSTCODE_LETTERS)}"
