"""The CRM export as CSV: reading it (``crm import``) and writing it (``crm export``).

Reading (:func:`read_csv_table`, shared by every ``--csv``): UTF-8 with or without BOM, UTF-16 with a BOM, or
Windows-1252 when the file is not UTF-8 (or the encoding named with ``--encoding``), ``;``, ``,``
or tab separated (sniffed from the header row unless given), and a header whose column names may be
the English or the usual Dutch ones, matched without regard to case, spaces, dashes, underscores or
dots (``KvK-nummer`` = ``kvk nummer`` = ``KVKNUMMER``). A file that cannot be read, or that lacks a
required column, raises :class:`CsvUnreadable` before anything is imported.

Writing: the same columns (Dutch header names by default, the ones the sandbox generator writes),
UTF-8 with BOM so that Excel reads it, and spreadsheet formulas neutralised: a cell that starts with
``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``. Reading strips that ``'``
again, so an export imports back unchanged.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exactlink.errors import ExactlinkError, UsageError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MULTI_VALUE_SEPARATOR = " | "
REQUIRED_FIELDS = ("relation_number", "name")
DELIMITER_NAMES = {";": ";", ",": ",", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}


class CsvUnreadable(ExactlinkError):
    """The file cannot be read as a CRM export (missing, wrong encoding, not CSV, required column missing)."""


@dataclass(frozen=True)
class CsvColumn:
    """One column of the CRM CSV: the field it fills, its Dutch and English header, other accepted names."""

    field: str
    dutch: str
    english: str
    aliases: tuple[str, ...] = ()


def _address_columns(kind: str, dutch: str, english: str, dutch_short: str) -> list[CsvColumn]:
    return [
        CsvColumn(
            f"{kind}_street",
            dutch,
            f"{english}_address",
            (f"{dutch}straat", f"{dutch_short}straat", f"{english}street", f"{english}addressstreet"),
        ),
        CsvColumn(
            f"{kind}_postcode",
            f"{dutch} postcode",
            f"{english}_postcode",
            (f"{dutch_short}postcode", f"{english}addresspostcode", f"{english}zip", f"{english}zipcode"),
        ),
        CsvColumn(
            f"{kind}_city",
            f"{dutch} plaats",
            f"{english}_city",
            (f"{dutch_short}plaats", f"{dutch}woonplaats", f"{english}addresscity", f"{english}town"),
        ),
        CsvColumn(
            f"{kind}_country",
            f"{dutch} land",
            f"{english}_country",
            (f"{dutch_short}land", f"{english}addresscountry"),
        ),
    ]


# The documented header, in the order `crm export` writes it. The Dutch names equal
# `exactlink.sandbox.model.CRM_EXPORT_COLUMNS` (a test holds them equal).
COLUMNS: tuple[CsvColumn, ...] = (
    CsvColumn(
        "relation_number",
        "relatienummer",
        "relation_number",
        ("relatienr", "relatiecode", "klantnummer", "relation", "relationno", "relationcode"),
    ),
    CsvColumn("name", "naam", "name", ("bedrijfsnaam", "relatienaam", "companyname", "company")),
    CsvColumn("legal_form", "rechtsvorm", "legal_form"),
    CsvColumn("kvk", "kvk-nummer", "kvk", ("kvknr", "kvkno", "chamberofcommerce", "coc", "cocnumber", "kvknumber")),
    CsvColumn("rsin", "rsin", "rsin", ("rsinnummer",)),
    CsvColumn("bsn", "bsn", "bsn", ("burgerservicenummer", "bsnnummer")),
    CsvColumn(
        "vat_number",
        "btw-nummer",
        "vat_number",
        ("obnummer", "btwid", "btwidentificatienummer", "omzetbelastingnummer", "btw", "vat", "vatid"),
    ),
    CsvColumn(
        "payroll_tax_number",
        "loonheffingennummer",
        "payroll_tax_number",
        ("loonheffingsnummer", "loonbelastingnummer", "payrollnumber"),
    ),
    CsvColumn("phone", "telefoon", "phone", ("telefoonnummer", "tel", "telephone", "phonenumber")),
    CsvColumn("email", "email", "email", ("emailadres", "mail", "emailaddress")),
    CsvColumn("website", "website", "website", ("url", "internet", "webadres", "web", "homepage")),
    *_address_columns("visit", "bezoekadres", "visit", "bezoek"),
    *_address_columns("postal", "postadres", "postal", "post"),
    *_address_columns("invoice", "factuuradres", "invoice", "factuur"),
    CsvColumn(
        "ibans",
        "iban",
        "iban",
        ("ibans", "bankrekening", "bankrekeningnummer", "rekeningnummer", "bankaccount", "bankaccounts"),
    ),
    CsvColumn("contacts", "contactpersonen", "contacts", ("contactpersoon", "contactpersons", "contactperson")),
)
COLUMN_BY_FIELD = {column.field: column for column in COLUMNS}
# A plain "postcode"/"plaats"/"land" (no address prefix) is the visit address.
_PLAIN_VISIT_NAMES = {
    "visit_postcode": ("postcode", "zip", "zipcode"),
    "visit_city": ("plaats", "woonplaats", "city", "town"),
    "visit_country": ("land", "country"),
    "visit_street": ("adres", "address", "straat", "street"),
}


def header_key(name: str) -> str:
    """The form header names are compared in: lower case, without spaces, dashes, underscores, dots or BOM."""
    return re.sub(r"[\s_\-.\ufeff\u00a0]+", "", name).lower()


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for column in COLUMNS:
        for name in (column.dutch, column.english, column.field, *column.aliases):
            index.setdefault(header_key(name), column.field)
    for field_name, names in _PLAIN_VISIT_NAMES.items():
        for name in names:
            index.setdefault(header_key(name), field_name)
    return index


HEADER_INDEX = _build_header_index()


@dataclass
class CsvRow:
    """One data row: ``row`` is its spreadsheet row number (the header is row 1); ``values`` by field name."""

    row: int
    values: dict[str, str]


@dataclass
class CrmCsv:
    """A CRM export read from disk: which header maps to which field, and the rows."""

    path: str
    encoding: str
    delimiter: str
    headers: dict[str, str]  # field → the header text as written in the file
    ignored_columns: list[str]
    rows: list[CsvRow] = field(default_factory=list)
    # Rows that cannot be imported at all: (row number, reason).
    bad_rows: list[tuple[int, str]] = field(default_factory=list)


def resolve_delimiter(value: str | None) -> str | None:
    """The delimiter a ``--delimiter`` value means (``;``, ``,``, ``tab``, ``|``); None means sniff."""
    if value is None:
        return None
    if value in DELIMITER_NAMES:
        return DELIMITER_NAMES[value]
    if value.lower() in DELIMITER_NAMES:
        return DELIMITER_NAMES[value.lower()]
    raise UsageError(f"unsupported delimiter {value!r}: use ';', ',', '|' or 'tab'")


def resolve_encoding(value: str | None) -> str:
    """The codec for an ``--encoding`` value; UTF-8 always tolerates a BOM. Unknown names are a usage error."""
    if value is None:
        return "utf-8-sig"
    try:
        name = codecs.lookup(value).name
    except LookupError:
        raise UsageError(f"unknown encoding {value!r}: try utf-8 or cp1252") from None
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def read_csv_text(path: Path, encoding: str | None, name: str | None = None) -> tuple[str, str]:
    """The text of a CSV file and the codec it was read with: ``--encoding``, else detected.

    Detected: a UTF-16 byte order mark (Excel's "Unicode Text") means UTF-16; otherwise UTF-8 (with or
    without BOM), and a file that is not UTF-8 is read as Windows-1252, what Excel's plain "CSV" writes on
    Windows (the report names the encoding used).

    Raises:
        CsvUnreadable: the file is missing, a directory, not in the encoding, contains NUL bytes or is empty.
    """
    codec = resolve_encoding(encoding)
    name = name or str(path)
    raw = _read_limited(Path(path), name, utf16=codec.startswith("utf-16"))
    if codec == "utf-8-sig" and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    if encoding is None and codec == "utf-8-sig" and not _decodes(raw, codec):
        codec = "cp1252"
    text = _decode(raw, codec, name, detected=encoding is None)
    if "\x00" in text:
        raise CsvUnreadable(f"{name} is not a text file (it contains NUL bytes)")
    if not text.strip():
        raise CsvUnreadable(f"{name} is empty")
    return text, codec


MAX_CSV_BYTES = 200_000_000
"""The largest CSV file read (an office's CRM export is a few megabytes); checked while reading."""
_CHUNK = 1 << 20


def _read_limited(path: Path, name: str, *, utf16: bool, max_bytes: int = MAX_CSV_BYTES) -> bytes:
    """The bytes of ``path``, read in chunks: a file larger than ``max_bytes`` or holding NUL bytes (binary) is
    refused as soon as that shows, before the rest is read (``/dev/zero`` stops at the first chunk)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below; the read is chunked)
    except IsADirectoryError:
        raise CsvUnreadable(f"cannot read {name}: it is a directory") from None
    except OSError as exc:
        raise CsvUnreadable(f"cannot read {name}: {exc.strerror or exc}") from None
    chunks: list[bytes] = []
    size = 0
    with handle:
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except IsADirectoryError:
                raise CsvUnreadable(f"cannot read {name}: it is a directory") from None
            except OSError as exc:
                raise CsvUnreadable(f"cannot read {name}: {exc.strerror or exc}") from None
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise CsvUnreadable(f"{name} is larger than {max_bytes // 1_000_000} MB; that is not a CRM export")
            first = size == len(chunk)
            if (
                not utf16
                and b"\x00" in chunk
                and not (first and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)))
            ):
                raise CsvUnreadable(f"{name} is not a text file (it contains NUL bytes)")
            if first and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                utf16 = True
            chunks.append(chunk)
    return b"".join(chunks)


def csv_records(text: str, delimiter: str, name: str) -> list[list[str]]:
    """Every record of ``text`` as cells.

    Raises:
        CsvUnreadable: the text is not CSV: a cell over the csv module's 128 KB limit, or a quoted cell that is
            never closed (read leniently, it would swallow every later row into one cell, silently).
    """
    try:
        # Strict only to notice the unclosed quote; other quirks (``"ab"c``) are read leniently below.
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise CsvUnreadable(
                f"{name} is not valid CSV: a quoted cell is never closed, so every row after it would be lost",
                hint='look for a cell that starts with " but has no closing "',
            ) from None
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise CsvUnreadable(f"{name} is not valid CSV: {exc}") from None


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode(raw: bytes, encoding: str, path: str, *, detected: bool = False) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        if detected:
            raise CsvUnreadable(
                f"{path} is neither UTF-8 nor Windows-1252 (byte 0x{raw[exc.start]:02x} on line {line})",
                hint="give the file's encoding with --encoding (e.g. --encoding latin-1), or save it as UTF-8",
            ) from None
        raise CsvUnreadable(
            f"{path} cannot be decoded as {encoding} (byte 0x{raw[exc.start]:02x} on line {line})",
            hint="leave out --encoding to have it detected, or give the file's real encoding",
        ) from None


def _sniff_delimiter(header_line: str, path: str) -> str:
    counts = {delimiter: _count_outside_quotes(header_line, delimiter) for delimiter in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise CsvUnreadable(
            f"{path}: cannot tell the delimiter from the header row (no ';', ',' or tab)",
            hint="give it with --delimiter",
        )
    return best


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


@dataclass
class CsvTable:
    """A CSV file as read by every ``--csv`` and ``crm import``: its records, and how it was read."""

    name: str
    encoding: str
    delimiter: str
    records: list[list[str]]


def read_csv_table(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CsvTable:
    """Read a CSV file the one way every command does: the encoding given or detected (see
    :func:`read_csv_text`), the delimiter given (``--delimiter``) or taken from the first line (``;``, ``,`` or
    tab), and the records checked (:func:`csv_records`).

    Raises:
        UsageError: an unknown ``--encoding`` or ``--delimiter``.
        CsvUnreadable: the file cannot be read as CSV.
    """
    chosen = resolve_delimiter(delimiter)
    name = str(path)
    text, codec = read_csv_text(path, encoding, name)
    first_line = next(line for line in text.lstrip("\ufeff").splitlines() if line.strip())
    separator = chosen or _sniff_delimiter(first_line, name)
    return CsvTable(
        name=name,
        encoding="utf-8" if codec == "utf-8-sig" else codec,
        delimiter=separator,
        records=csv_records(text, separator, name),
    )


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise_formula`: drop the ``'`` that an export put before ``= + - @`` tab or CR."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_START:
        return cell[1:]
    return cell


def read_crm_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CrmCsv:
    """Read and map a CRM export; raise :class:`CsvUnreadable` when it cannot be used at all.

    Cells are stripped of surrounding whitespace and of a formula-neutralising ``'``. Empty rows are
    skipped. Rows with more cells than the header are listed in ``bad_rows`` instead of ``rows``.
    """
    table = read_csv_table(path, encoding=encoding, delimiter=delimiter)
    name, records = table.name, table.records
    header = [cell.strip().lstrip("\ufeff") for cell in records[0]]
    headers, ignored, positions = _map_header(header, name)
    result = CrmCsv(
        path=name,
        encoding=table.encoding,
        delimiter=table.delimiter,
        headers=headers,
        ignored_columns=ignored,
    )
    for index, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            result.bad_rows.append(
                (index, f"has {len(cells)} cells but the header has {len(header)} (a delimiter inside a value?)")
            )
            continue
        values = {
            field_name: unneutralise(cells[position].strip()).strip() if position < len(cells) else ""
            for field_name, position in positions.items()
        }
        result.rows.append(CsvRow(index, values))
    return result


def _map_header(header: Sequence[str], name: str) -> tuple[dict[str, str], list[str], dict[str, int]]:
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for position, text in enumerate(header):
        field_name = HEADER_INDEX.get(header_key(text))
        if field_name is None:
            if text:
                ignored.append(text)
            continue
        if field_name in headers:
            raise CsvUnreadable(f"{name}: columns {headers[field_name]!r} and {text!r} both mean {field_name}")
        headers[field_name] = text
        positions[field_name] = position
    missing = [COLUMN_BY_FIELD[f].dutch + "/" + COLUMN_BY_FIELD[f].english for f in REQUIRED_FIELDS if f not in headers]
    if missing:
        raise CsvUnreadable(
            f"{name}: required column {', '.join(missing)} is missing (header: {', '.join(header)[:200]})",
            hint=_required_column_names(),
        )
    return headers, ignored, positions


def _required_column_names() -> str:
    """The header names accepted for each required column, for the hint of a file that lacks one."""
    names = []
    for required in REQUIRED_FIELDS:
        column = COLUMN_BY_FIELD[required]
        accepted = list(dict.fromkeys((column.dutch, column.english, *column.aliases)))
        names.append(", ".join(accepted[:4]) + (", …" if len(accepted) > 4 else ""))
    return "the header needs both a relation-number column and a name column: " + "; ".join(
        f"({choices})" for choices in names
    )


def split_multi_value(cell: str) -> list[str]:
    """Items of a multi-valued cell (IBANs, contact persons), separated by ``|``; blanks dropped."""
    return [item.strip() for item in cell.split("|") if item.strip()]


_CONTACT = re.compile(r"^(?P<name>[^<>]*?)\s*<(?P<email>[^<>]*)>\s*$")


def parse_contact_item(item: str) -> tuple[str, str | None]:
    """``"Jan de Vries <jan@example.nl>"`` → ``("Jan de Vries", "jan@example.nl")``; no ``<…>`` → no e-mail."""
    match = _CONTACT.match(item)
    if match:
        return match.group("name").strip(), match.group("email").strip() or None
    return item.strip(), None


def format_contact_item(full_name: str, email: str | None) -> str:
    """The inverse of :func:`parse_contact_item`."""
    return f"{full_name} <{email}>" if email else full_name


def neutralise_formula(cell: str) -> str:
    """Make a cell safe to open in a spreadsheet: prefix ``'`` when it starts with ``= + - @`` tab or CR."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def header_names(english: bool = False) -> list[str]:
    """The header row ``crm export`` writes (Dutch names unless ``english``)."""
    return [column.english if english else column.dutch for column in COLUMNS]


def render_csv(rows: Iterable[dict[str, str | None]], *, delimiter: str = ";", english: bool = False) -> str:
    """CSV text (header + rows keyed by field name), every cell formula-neutralised, CRLF line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header_names(english))
    for row in rows:
        writer.writerow([neutralise_formula(row.get(column.field) or "") for column in COLUMNS])
    return buffer.getvalue()
