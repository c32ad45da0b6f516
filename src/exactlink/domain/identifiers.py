"""Dutch identifiers: normalise and validate BSN, RSIN, KvK, vestigingsnummer, VAT numbers,
loonheffingennummer, IBAN and postcode.

Built on python-stdnum, with the stricter Dutch rules it does not apply (see the domain reference):
no silent left-padding of short BSN/RSIN numbers, KvK numbers kept as 8-digit text, OB-nummer and
btw-id told apart instead of accepted as one, 7/8-digit VAT prefixes refused.

Every ``check_*`` function returns a :class:`Checked`: the normalised value when it is valid, else
``None`` with a plain-English reason an import report can print next to the row and column. Reasons
never repeat the input, because it may be a BSN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum import iban as stdnum_iban
from stdnum.eu import vat as stdnum_eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError
from stdnum.nl import postcode as stdnum_postcode

from exactlink.domain.privacy import passes_elf_proef


class IdKind(StrEnum):
    """Which identifier a :class:`Checked` value is."""

    BSN = "bsn"
    RSIN = "rsin"
    FISCAL_NUMBER = "fiscal_number"  # RSIN or BSN: the number alone cannot tell which
    KVK = "kvk"
    VESTIGINGSNUMMER = "vestigingsnummer"
    OB_NUMBER = "ob_number"  # 9 digits passing the 11-proef + B + volgnummer: contains the RSIN/BSN
    BTW_ID = "btw_id"  # mod-97 btw-identificatienummer of an eenmanszaak (since 2020)
    VAT_NUMBER = "vat_number"  # a VAT number that is neither (invalid, or foreign)
    PAYROLL_NUMBER = "payroll_number"  # loonheffingennummer
    IBAN = "iban"
    POSTCODE = "postcode"


LABELS: dict[IdKind, str] = {
    IdKind.BSN: "BSN",
    IdKind.RSIN: "RSIN",
    IdKind.FISCAL_NUMBER: "RSIN/BSN",
    IdKind.KVK: "KvK number",
    IdKind.VESTIGINGSNUMMER: "vestigingsnummer",
    IdKind.OB_NUMBER: "OB number",
    IdKind.BTW_ID: "btw-id",
    IdKind.VAT_NUMBER: "VAT number",
    IdKind.PAYROLL_NUMBER: "loonheffingennummer",
    IdKind.IBAN: "IBAN",
    IdKind.POSTCODE: "postcode",
}


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of checking one identifier.

    ``value`` is the normalised form when valid, else ``None``. ``error`` says why it is invalid;
    both are ``None`` when the input was empty. ``warning`` flags a valid but doubtful value (an
    unknown bank code, restored leading zeros); ``note`` carries a fact worth knowing (an OB number
    contains a RSIN or BSN).
    """

    kind: IdKind
    value: str | None
    error: str | None = None
    warning: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """True when the input was a valid identifier."""
        return self.value is not None

    @property
    def missing(self) -> bool:
        """True when there was nothing to check (empty or blank input)."""
        return self.value is None and self.error is None

    @property
    def fiscal_number(self) -> str | None:
        """The RSIN/BSN inside a valid OB number or loonheffingennummer (or the number itself)."""
        if self.value is None:
            return None
        if self.kind in (IdKind.BSN, IdKind.RSIN, IdKind.FISCAL_NUMBER):
            return self.value
        if self.kind is IdKind.OB_NUMBER:
            return self.value[2:11]
        if self.kind is IdKind.PAYROLL_NUMBER:
            return self.value[:9]
        return None


_SEPARATORS = re.compile(r"[\s.\-]+")


def _strip(value: str | None) -> str:
    """Remove whitespace (including no-break spaces from spreadsheets), dots and dashes."""
    if not value:
        return ""
    if value.isalnum():
        return value
    return _SEPARATORS.sub("", value)


def _passes_dutch_mod_97(digits: str, suffix: str) -> bool:
    """ISO 7064 mod 97-10 over ``NL`` + 9 digits + ``B`` + 2 digits, letters as numbers (N=23, L=21, B=11).

    Equal to ``stdnum.iso7064.mod_97_10.is_valid`` on that string (tested), without its per-character loop.
    """
    return int(f"2321{digits}11{suffix}") % 97 == 1


def _check_nine_digit_number(value: str | None, kind: IdKind, *, repair_leading_zeros: bool) -> Checked:
    digits = _strip(value)
    if len(digits) == 9 and passes_elf_proef(digits):  # the common case first
        return Checked(kind, digits)
    label = LABELS[kind]
    if not digits:
        return Checked(kind, None)
    if not digits.isdigit() or not digits.isascii():
        return Checked(kind, None, f"{label} must contain only digits")
    warning = None
    if len(digits) > 9:
        return Checked(kind, None, f"{label} must be 9 digits, not {len(digits)}")
    if len(digits) < 8:
        if not repair_leading_zeros:
            return Checked(
                kind,
                None,
                f"{label} must be 9 digits, not {len(digits)} (if a spreadsheet dropped leading zeros, "
                "import with the option to repair them)",
            )
        warning = f"{label} had {len(digits)} digits; leading zeros were restored"
    digits = digits.zfill(9)
    if int(digits) == 0:
        return Checked(kind, None, f"{label} cannot be all zeros")
    if not passes_elf_proef(digits):
        return Checked(kind, None, f"{label} fails the 11-proef")
    return Checked(kind, digits, warning=warning)


def check_bsn(value: str | None, *, repair_leading_zeros: bool = False) -> Checked:
    """Validate a BSN: 9 digits (8 get a leading zero) passing the 11-proef. Shorter input is
    refused unless ``repair_leading_zeros`` (a spreadsheet that turned ``000009921`` into ``9921``)."""
    return _check_nine_digit_number(value, IdKind.BSN, repair_leading_zeros=repair_leading_zeros)


def check_rsin(value: str | None, *, repair_leading_zeros: bool = False) -> Checked:
    """Validate a RSIN: the same rule as the BSN (9 digits, 11-proef with weight -1 on the last digit)."""
    return _check_nine_digit_number(value, IdKind.RSIN, repair_leading_zeros=repair_leading_zeros)


def check_fiscal_number(value: str | None, *, repair_leading_zeros: bool = False) -> Checked:
    """Validate a number that is a RSIN or a BSN (one CRM field "RSIN/BSN"); the rule is the same."""
    return _check_nine_digit_number(value, IdKind.FISCAL_NUMBER, repair_leading_zeros=repair_leading_zeros)


def _check_digit_string(value: str | None, kind: IdKind, length: int, *, repair_leading_zeros: bool) -> Checked:
    digits = _strip(value)
    label = LABELS[kind]
    if not digits:
        return Checked(kind, None)
    if not digits.isdigit() or not digits.isascii():
        return Checked(kind, None, f"{label} must contain only digits")
    if len(digits) == length:
        return Checked(kind, digits)
    if len(digits) < length and repair_leading_zeros:
        return Checked(
            kind, digits.zfill(length), warning=f"{label} had {len(digits)} digits; leading zeros were restored"
        )
    reason = f"{label} must be {length} digits, not {len(digits)}"
    if kind is IdKind.KVK and len(digits) == 12:
        reason += " (12 digits is a vestigingsnummer)"
    elif kind is IdKind.VESTIGINGSNUMMER and len(digits) == 8:
        reason += " (8 digits is a KvK number)"
    return Checked(kind, None, reason)


def check_kvk(value: str | None, *, repair_leading_zeros: bool = False) -> Checked:
    """Validate a KvK number: exactly 8 digits, kept as text (leading zeros matter). There is no checksum."""
    return _check_digit_string(value, IdKind.KVK, 8, repair_leading_zeros=repair_leading_zeros)


def check_vestigingsnummer(value: str | None, *, repair_leading_zeros: bool = False) -> Checked:
    """Validate a KvK vestigingsnummer (establishment number): exactly 12 digits, kept as text."""
    return _check_digit_string(value, IdKind.VESTIGINGSNUMMER, 12, repair_leading_zeros=repair_leading_zeros)


_DUTCH_VAT = re.compile(r"(\d+)B(\d{2})")
_OB_NOTE = "the OB number contains the RSIN, or for an eenmanszaak the owner's BSN: treat it as personal data"


def check_vat_number(value: str | None) -> Checked:
    """Validate a Dutch VAT number and tell which kind it is.

    The 9 digits pass the 11-proef ⇒ ``OB_NUMBER`` (RSIN or BSN + ``B`` + volgnummer ≥ 01; for a BV this
    is also its btw-id). Otherwise the whole string passes ISO 7064 mod 97-10 ⇒ ``BTW_ID`` (the
    eenmanszaak's btw-identificatienummer since 2020). A valid foreign EU VAT number is kept as
    ``VAT_NUMBER`` with a warning. Values are normalised to ``NL123456789B01``.
    """
    compact = _strip(value).upper()
    if not compact:
        return Checked(IdKind.VAT_NUMBER, None)
    country = compact[:2]
    if country.isalpha() and country != "NL":
        if stdnum_eu_vat.is_valid(compact):
            return Checked(IdKind.VAT_NUMBER, compact, warning=f"foreign ({country}) VAT number, not checked further")
        return Checked(IdKind.VAT_NUMBER, None, "VAT number is neither Dutch (NL123456789B01) nor a valid EU number")
    body = compact[2:] if country == "NL" else compact
    if re.fullmatch(r"\d{9}L\d{2}", body):
        return Checked(IdKind.VAT_NUMBER, None, "this is a loonheffingennummer (…L01), not a VAT number")
    match = _DUTCH_VAT.fullmatch(body)
    if match is None:
        return Checked(IdKind.VAT_NUMBER, None, "VAT number must look like NL123456789B01")
    digits, suffix = match.groups()
    if len(digits) != 9:
        return Checked(IdKind.VAT_NUMBER, None, f"VAT number must have 9 digits between NL and B, not {len(digits)}")
    normalised = f"NL{digits}B{suffix}"
    if passes_elf_proef(digits):
        if suffix == "00":
            return Checked(IdKind.OB_NUMBER, None, "OB number must end in B01 or higher, not B00")
        return Checked(IdKind.OB_NUMBER, normalised, note=_OB_NOTE)
    if _passes_dutch_mod_97(digits, suffix):
        # stdnum refuses B00, but 00 is a legitimate mod-97 result; whether it is ever issued is unknown.
        warning = "btw-id with check digits 00 is unusual; please verify it" if suffix == "00" else None
        return Checked(IdKind.BTW_ID, normalised, warning=warning)
    return Checked(
        IdKind.VAT_NUMBER,
        None,
        "VAT number fails both the 11-proef (OB number) and the mod-97 check (btw-id)",
    )


def classify_vat_number(value: str | None) -> IdKind | None:
    """``IdKind.OB_NUMBER`` or ``IdKind.BTW_ID`` for a valid Dutch VAT number, else ``None``."""
    checked = check_vat_number(value)
    return checked.kind if checked.ok and checked.kind in (IdKind.OB_NUMBER, IdKind.BTW_ID) else None


_PAYROLL = re.compile(r"(?:NL)?(\d{9})L(\d{2})")


def check_payroll_number(value: str | None) -> Checked:
    """Validate a loonheffingennummer: RSIN/BSN (11-proef) + ``L`` + subnummer ≥ 01, e.g. ``999900031L01``."""
    kind = IdKind.PAYROLL_NUMBER
    compact = _strip(value).upper()
    if not compact:
        return Checked(kind, None)
    match = _PAYROLL.fullmatch(compact)
    if match is None:
        return Checked(kind, None, "loonheffingennummer must look like 123456789L01")
    digits, subnumber = match.groups()
    if not passes_elf_proef(digits):
        return Checked(kind, None, "loonheffingennummer: the 9 digits fail the 11-proef")
    if subnumber == "00":
        return Checked(kind, None, "loonheffingennummer subnummer must be L01 or higher, not L00")
    return Checked(kind, f"{digits}L{subnumber}", note="the loonheffingennummer contains the RSIN or BSN")


# Bank codes (the 4 letters after the check digits) of banks that issue or issued Dutch IBANs.
# Incomplete by nature: an unknown code is a warning, never an error.
KNOWN_DUTCH_BANK_CODES = frozenset(
    {
        "ABNA", "ADYB", "AEGO", "ANAA", "ANDL", "ARBN", "ARSN", "ASNB", "ATBA", "BCDM", "BCIT", "BICK", "BINK",
        "BITS", "BKCH", "BKMG", "BLGW", "BMEU", "BNDA", "BNGH", "BNPA", "BOFA", "BOFS", "BOTK", "BUNQ", "CHAS",
        "CITC", "CITI", "COBA", "DEUT", "DHBN", "DLBK", "DNIB", "EBUR", "FBHL", "FLOR", "FRGH", "FRNX", "FTSB",
        "FVLB", "GILL", "HAND", "HHBA", "HSBC", "ICBC", "ICBK", "INGB", "ISAE", "ISBK", "KABA", "KNAB", "KOEX",
        "KRED", "LOCY", "LOYD", "LPLN", "MHCB", "MOYO", "NNBA", "NWAB", "PCBC", "RABO", "RBRB", "REVO", "SNSB",
        "SOGE", "TEBU", "TRIO", "UBSW", "UGBI", "VOWA", "ZWLB",
    }
)  # fmt: skip


def compact_iban(value: str | None) -> str:
    """Upper-case an IBAN and remove spaces, dots and dashes, without validating it."""
    return _strip(value).upper()


def check_iban(value: str | None) -> Checked:
    """Validate an IBAN (length per country, structure, mod 97). The old Dutch account 11-proef is
    obsolete and not applied. A Dutch IBAN with an unknown bank code is valid, with a warning."""
    kind = IdKind.IBAN
    compact = compact_iban(value)
    if not compact:
        return Checked(kind, None)
    if compact.startswith("NL") and len(compact) != 18:
        return Checked(kind, None, f"IBAN has the wrong length (a Dutch IBAN has 18 characters, not {len(compact)})")
    try:
        stdnum_iban.validate(compact)
    except InvalidChecksum:
        return Checked(kind, None, "IBAN check digits do not match (a typing error?)")
    except InvalidLength:
        return Checked(kind, None, "IBAN has the wrong length for its country")
    except InvalidComponent:
        return Checked(kind, None, "IBAN has an unknown country code")
    except ValidationError:
        return Checked(kind, None, "IBAN is malformed")
    if compact.startswith("NL") and compact[4:8] not in KNOWN_DUTCH_BANK_CODES:
        return Checked(kind, compact, warning=f"IBAN has an unknown Dutch bank code {compact[4:8]}")
    return Checked(kind, compact)


def format_iban(value: str) -> str:
    """Print an IBAN in groups of four (``NL91 ABNA 0417 1643 00``)."""
    return str(stdnum_iban.format(value))


_DUTCH_COUNTRY = {"", "NL", "NLD", "NEDERLAND", "NETHERLANDS", "THE NETHERLANDS", "HOLLAND"}


def is_dutch_country(country: str | None) -> bool:
    """True for an empty country or any usual spelling of the Netherlands."""
    return (country or "").strip().upper() in _DUTCH_COUNTRY


def check_postcode(value: str | None, *, country: str | None = None) -> Checked:
    """Validate a Dutch postcode and normalise it to the display form ``1234 AB``.

    Four digits (the first not 0) and two letters; SA, SD and SS are never issued. A postcode of
    another country (``country`` not the Netherlands) is only trimmed.
    """
    kind = IdKind.POSTCODE
    text = (value or "").strip()
    if not text:
        return Checked(kind, None)
    if not is_dutch_country(country):
        return Checked(kind, " ".join(text.upper().split()))
    try:
        return Checked(kind, str(stdnum_postcode.validate(text.replace(".", ""))))
    except InvalidComponent:
        return Checked(kind, None, "postcode letters SA, SD and SS are not used in the Netherlands")
    except ValidationError:
        return Checked(kind, None, "postcode must be 4 digits (not starting with 0) and 2 letters, like 1234 AB")


def compact_postcode(value: str | None) -> str | None:
    """A valid Dutch postcode in compact form (``1234AB``), else ``None``."""
    checked = check_postcode(value)
    return checked.value.replace(" ", "") if checked.value else None


def fiscal_number_from(
    *,
    rsin: str | None = None,
    bsn: str | None = None,
    ob_number: str | None = None,
    payroll_number: str | None = None,
) -> str | None:
    """The first valid RSIN/BSN among the given fields, in this order.

    The 9 digits inside an OB number or a loonheffingennummer count (they are the RSIN or BSN); a
    btw-id (mod 97) does not contain one.
    """
    for checked in (
        check_rsin(rsin),
        check_bsn(bsn),
        check_vat_number(ob_number),
        check_payroll_number(payroll_number),
    ):
        if checked.fiscal_number is not None:
            return checked.fiscal_number
    return None
