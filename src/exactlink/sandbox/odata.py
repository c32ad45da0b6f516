"""The OData v2 pieces the sandbox needs: a ``$filter`` parser, ``$select``/``$orderby`` checks, value encoding.

``$filter`` is parsed by a small recursive-descent parser into an expression tree, type-checked against
the entity's property types the way WCF Data Services (Exact's OData stack) does it, and compiled into
a Python predicate. Grammar (lowest precedence first)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | comparison
    comparison := operand [("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand]
    operand    := "(" expr ")" | literal | function "(" [expr ("," expr)*] ")" | property

Literals: ``'text'`` (``''`` escapes a quote), ``guid'…'``, ``datetime'2026-01-01'`` /
``datetime'2026-01-01T10:00:00'``, ``datetimeoffset'…'``, integers (``123``; ``123L`` is Int64),
decimals (``1.5``, ``1.5M``, ``1.5d``), ``true``/``false``/``null``. Functions: ``substringof``,
``startswith``, ``endswith``, ``tolower``, ``toupper``, ``trim``, ``length``, ``year``, ``month``, ``day``.
Arithmetic operators are not supported. Every problem raises :class:`ODataError` (answered as 400).

String comparisons are exact (case- and space-sensitive), so an account ``Code`` must be given with its
18-character left padding, as Exact requires.

Dates speak Amsterdam time, as Exact does: ``/Date(ms)/`` is the Amsterdam wall-clock time (CET/CEST) written
as milliseconds, and a ``datetime'…'`` literal without an offset is Amsterdam wall-clock time (one with an
offset means what it says). Records hold moments as aware UTC datetimes and calendar days as ``date``
(that day's Amsterdam midnight). At a daylight-saving edge a wall-clock time that occurs twice is the first
occurrence, and one that does not exist is read with the offset before the switch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

GUID = "Edm.Guid"
STRING = "Edm.String"
INT32 = "Edm.Int32"
INT64 = "Edm.Int64"
BYTE = "Edm.Byte"
INT16 = "Edm.Int16"
DOUBLE = "Edm.Double"
DECIMAL = "Edm.Decimal"
BOOLEAN = "Edm.Boolean"
DATETIME = "Edm.DateTime"
NULL = "null"

NUMERIC_TYPES = frozenset({INT16, INT32, INT64, BYTE, DOUBLE, DECIMAL})
COMPARISON_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "mod"})
_KEYWORDS = frozenset({"and", "or", "not", *COMPARISON_OPERATORS, *_ARITHMETIC})
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?([LlMmDdFf])?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT32_RANGE = range(-(2**31), 2**31)
_WALL_CLOCK_EPOCH = datetime(1970, 1, 1)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_JSON_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class ODataError(Exception):
    """A malformed or unsupported query option; the server answers 400 with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def system_type_name(edm_type: str) -> str:
    """The .NET type name WCF Data Services puts in its error messages (``Edm.Guid`` → ``System.Guid``)."""
    return "null" if edm_type == NULL else "System." + edm_type.removeprefix("Edm.")


# ---------------------------------------------------------------------------------------------------
# Values


def is_guid(text: str) -> bool:
    """True when ``text`` is a GUID in its 8-4-4-4-12 hex form."""
    return bool(_GUID_RE.match(text))


def from_wall_clock(wall_clock: datetime) -> datetime:
    """A naive Amsterdam wall-clock time as an aware UTC datetime (fold=0: the first of two, CET in a gap)."""
    return wall_clock.replace(tzinfo=AMSTERDAM, fold=0).astimezone(UTC)


def to_wall_clock(value: datetime | date) -> datetime:
    """A record value as naive Amsterdam wall-clock time (a ``date`` is its midnight; naive values are UTC)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(AMSTERDAM).replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


def parse_datetime_text(text: str) -> datetime:
    """Parse ``2026-01-01``, ``2026-01-01T10:00:00[.fff][Z|±hh:mm]`` as an aware UTC datetime.

    Without an offset the text is Amsterdam wall-clock time, as Exact reads its ``datetime'…'`` literals.
    """
    candidate = text.strip()
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{text}'.") from None
    if parsed.tzinfo is None:
        return from_wall_clock(parsed)
    return parsed.astimezone(UTC)


def as_utc(value: datetime | date) -> datetime:
    """A record value as an aware UTC datetime: a ``date`` is its Amsterdam midnight; naive datetimes are UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return from_wall_clock(datetime(value.year, value.month, value.day))


def json_date(value: datetime | date) -> str:
    """Encode a date the way Exact's OData v2 JSON does: ``/Date(<Amsterdam wall-clock ms since epoch>)/``."""
    delta = to_wall_clock(value) - _WALL_CLOCK_EPOCH
    milliseconds = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    return f"/Date({milliseconds})/"


def parse_json_date(value: str) -> datetime:
    """Decode ``/Date(ms)/`` (optionally ``/Date(ms+0100)/``, the suffix ignored) or an ISO-8601 string sent in a
    request body; both are Amsterdam wall-clock time unless the ISO string carries an offset."""
    match = _JSON_DATE_RE.match(value)
    if match:
        return from_wall_clock(_WALL_CLOCK_EPOCH + timedelta(milliseconds=int(match.group(1))))
    return parse_datetime_text(value)


def to_json_value(value: Any) -> Any:
    """A record value as it goes out in JSON (dates as ``/Date(ms)/``, decimals as numbers)."""
    if isinstance(value, datetime | date):
        return json_date(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def infer_type(value: Any) -> str:
    """The Edm type of a Python value, for properties the schema does not list."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INT32 if value in _INT32_RANGE else INT64
    if isinstance(value, float | Decimal):
        return DOUBLE
    if isinstance(value, datetime | date):
        return DATETIME
    if isinstance(value, str) and is_guid(value):
        return GUID
    return STRING


# ---------------------------------------------------------------------------------------------------
# Tokens and expression tree


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "literal", "(", ")", ",", "end"
    text: str
    position: int
    literal_type: str = ""
    value: Any = None


@dataclass(frozen=True)
class Literal:
    """A constant: ``edm_type`` is one of the Edm names or ``null``."""

    edm_type: str
    value: Any
    position: int


@dataclass(frozen=True)
class Property:
    """A reference to a property of the entity."""

    name: str
    position: int


@dataclass(frozen=True)
class Comparison:
    """``left <operator> right`` with one of eq/ne/gt/ge/lt/le."""

    operator: str
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Logical:
    """``left and right`` / ``left or right``."""

    operator: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Negation:
    """``not operand``."""

    operand: Node
    position: int


@dataclass(frozen=True)
class Call:
    """A function call such as ``startswith(Name,'A')``."""

    name: str
    arguments: tuple[Node, ...]
    position: int


Node = Literal | Property | Comparison | Logical | Negation | Call


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char in "(),":
            tokens.append(_Token(char, char, index))
            index += 1
            continue
        if char == "'":
            value, index_after = _read_quoted(text, index)
            tokens.append(_Token("literal", text[index:index_after], index, STRING, value))
            index = index_after
            continue
        number = _NUMBER_RE.match(text, index) if (char.isdigit() or char == "-") else None
        if number and number.group(0) != "-":
            tokens.append(_number_token(number.group(0), index))
            index = number.end()
            continue
        word = _IDENT_RE.match(text, index)
        if not word:
            raise ODataError(f"Syntax error at position {index}.")
        name = word.group(0)
        index_after = word.end()
        if index_after < length and text[index_after] == "'":
            raw, index_after = _read_quoted(text, index_after)
            tokens.append(_typed_literal(name, raw, index))
            index = index_after
            continue
        lowered = name.lower()
        if lowered in ("true", "false"):
            tokens.append(_Token("literal", name, index, BOOLEAN, lowered == "true"))
        elif lowered == "null":
            tokens.append(_Token("literal", name, index, NULL, None))
        else:
            tokens.append(_Token("ident", name, index))
        index = index_after
    tokens.append(_Token("end", "", length))
    return tokens


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted literal starting at the quote ``text[start]``; ``''`` stands for one quote."""
    pieces: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "'":
            if index + 1 < len(text) and text[index + 1] == "'":
                pieces.append("'")
                index += 2
                continue
            return "".join(pieces), index + 1
        pieces.append(char)
        index += 1
    raise ODataError(f"There is an unterminated string literal at position {start}.")


def _number_token(text: str, position: int) -> _Token:
    suffix = text[-1].lower() if text[-1].isalpha() and not text[-1].isdigit() else ""
    digits = text[:-1] if suffix else text
    is_integral = "." not in digits and "e" not in digits.lower()
    if suffix == "l":
        if not is_integral:
            raise ODataError(f"Unrecognized 'Edm.Int64' literal '{text}' at position {position}.")
        return _Token("literal", text, position, INT64, int(digits))
    if suffix == "m":
        return _Token("literal", text, position, DECIMAL, Decimal(digits))
    if suffix in ("d", "f"):
        return _Token("literal", text, position, DOUBLE, float(digits))
    if is_integral:
        value = int(digits)
        return _Token("literal", text, position, INT32 if value in _INT32_RANGE else INT64, value)
    return _Token("literal", text, position, DOUBLE, float(digits))


def _typed_literal(prefix: str, raw: str, position: int) -> _Token:
    kind = prefix.lower()
    text = f"{prefix}'{raw}'"
    if kind == "guid":
        if not is_guid(raw):
            raise ODataError(f"Unrecognized 'Edm.Guid' literal '{text}' at position {position}.")
        return _Token("literal", text, position, GUID, raw.lower())
    if kind in ("datetime", "datetimeoffset"):
        try:
            value = parse_datetime_text(raw)
        except ODataError:
            raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{text}' at position {position}.") from None
        return _Token("literal", text, position, DATETIME, value)
    raise ODataError(f"Unrecognized literal '{text}' at position {position}.")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "ident" and token.text in words

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ODataError("Expression expected at position 0.")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            raise ODataError(f"Syntax error at position {token.position}.")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at_word("or"):
            self.take()
            node = Logical("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.at_word("and"):
            self.take()
            node = Logical("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at_word("not"):
            token = self.take()
            return Negation(self.parse_unary(), token.position)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_operand()
        token = self.peek()
        if token.kind == "ident" and token.text in COMPARISON_OPERATORS:
            self.take()
            return Comparison(token.text, left, self.parse_operand(), token.position)
        if token.kind == "ident" and token.text in _ARITHMETIC:
            raise ODataError(f"Arithmetic operator '{token.text}' is not supported at position {token.position}.")
        return left

    def parse_operand(self) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.parse_or()
            closing = self.take()
            if closing.kind != ")":
                raise ODataError(f"')' or operator expected at position {closing.position}.")
            return node
        if token.kind == "literal":
            return Literal(token.literal_type, token.value, token.position)
        if token.kind == "ident" and token.text not in _KEYWORDS:
            if self.peek().kind == "(":
                return self.parse_call(token)
            return Property(token.text, token.position)
        if token.kind == "end":
            raise ODataError(f"Expression expected at position {token.position}.")
        raise ODataError(f"Syntax error at position {token.position}.")

    def parse_call(self, name: _Token) -> Node:
        self.take()  # "("
        arguments: list[Node] = []
        if self.peek().kind != ")":
            arguments.append(self.parse_or())
            while self.peek().kind == ",":
                self.take()
                arguments.append(self.parse_or())
        closing = self.take()
        if closing.kind != ")":
            raise ODataError(f"')' or ',' expected at position {closing.position}.")
        return Call(name.text, tuple(arguments), name.position)


# ---------------------------------------------------------------------------------------------------
# Type checking and compiling

# function name → (argument types, result type); "any" accepts every type.
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "substringof": ((STRING, STRING), BOOLEAN),
    "startswith": ((STRING, STRING), BOOLEAN),
    "endswith": ((STRING, STRING), BOOLEAN),
    "tolower": ((STRING,), STRING),
    "toupper": ((STRING,), STRING),
    "trim": ((STRING,), STRING),
    "length": ((STRING,), INT32),
    "year": ((DATETIME,), INT32),
    "month": ((DATETIME,), INT32),
    "day": ((DATETIME,), INT32),
}


def _comparable(left: str, right: str, operator: str) -> bool:
    if NULL in (left, right):
        return True
    if left in NUMERIC_TYPES and right in NUMERIC_TYPES:
        return True
    if left != right:
        return False
    return not (left == BOOLEAN and operator not in ("eq", "ne"))


def _normalise_guid(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _normalise_datetime(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime | date) else value


class _Compiler:
    def __init__(self, property_types: Mapping[str, str], entity_type: str) -> None:
        self.property_types = property_types
        self.entity_type = entity_type

    def type_of(self, node: Node) -> str:
        if isinstance(node, Literal):
            return node.edm_type
        if isinstance(node, Property):
            edm_type = self.property_types.get(node.name)
            if edm_type is None:
                raise ODataError(
                    f"No property '{node.name}' exists in type '{self.entity_type}' at position {node.position}."
                )
            return edm_type
        if isinstance(node, Call):
            return self.check_call(node)
        if isinstance(node, Comparison):
            left, right = self.type_of(node.left), self.type_of(node.right)
            if not _comparable(left, right, node.operator):
                raise ODataError(
                    f"Operator '{node.operator}' incompatible with operand types "
                    f"'{system_type_name(left)}' and '{system_type_name(right)}' at position {node.position}."
                )
            return BOOLEAN
        if isinstance(node, Negation):
            self.require_boolean(node.operand, node.position)
            return BOOLEAN
        self.require_boolean(node.left, 0)
        self.require_boolean(node.right, 0)
        return BOOLEAN

    def require_boolean(self, node: Node, position: int) -> None:
        edm_type = self.type_of(node)
        if edm_type != BOOLEAN:
            where = getattr(node, "position", position)
            raise ODataError(
                f"Expression of type '{system_type_name(edm_type)}' expected to be of type 'System.Boolean' "
                f"at position {where}."
            )

    def check_call(self, node: Call) -> str:
        signature = _FUNCTIONS.get(node.name)
        if signature is None:
            raise ODataError(f"Unknown function '{node.name}' at position {node.position}.")
        parameter_types, result_type = signature
        if len(node.arguments) != len(parameter_types):
            raise ODataError(f"No applicable function found for '{node.name}' at position {node.position}.")
        for argument, expected in zip(node.arguments, parameter_types, strict=True):
            actual = self.type_of(argument)
            if actual not in (expected, NULL):
                raise ODataError(f"No applicable function found for '{node.name}' at position {node.position}.")
        return result_type

    def value(self, node: Node) -> Callable[[Record], Any]:
        if isinstance(node, Literal):
            constant = node.value
            return lambda record: constant
        if isinstance(node, Property):
            name = node.name
            edm_type = self.property_types[name]
            if edm_type == GUID:
                return lambda record: _normalise_guid(record.get(name))
            if edm_type == DATETIME:
                return lambda record: _normalise_datetime(record.get(name))
            return lambda record: record.get(name)
        if isinstance(node, Call):
            return self.call(node)
        return self.predicate(node)

    def call(self, node: Call) -> Callable[[Record], Any]:
        arguments = [self.value(argument) for argument in node.arguments]
        name = node.name

        def evaluate(record: Record) -> Any:
            values = [argument(record) for argument in arguments]
            if any(value is None for value in values):
                return None
            return _apply_function(name, values)

        return evaluate

    def predicate(self, node: Node) -> Predicate:
        if isinstance(node, Logical):
            left, right = self.predicate(node.left), self.predicate(node.right)
            if node.operator == "and":
                return lambda record: left(record) and right(record)
            return lambda record: left(record) or right(record)
        if isinstance(node, Negation):
            operand = self.predicate(node.operand)
            return lambda record: not operand(record)
        if isinstance(node, Comparison):
            return self.comparison(node)
        getter = self.value(node)
        return lambda record: getter(record) is True

    def comparison(self, node: Comparison) -> Predicate:
        left, right = self.value(node.left), self.value(node.right)
        operator = node.operator

        def compare(record: Record) -> bool:
            a, b = left(record), right(record)
            if a is None or b is None:
                if operator == "eq":
                    return a is None and b is None
                if operator == "ne":
                    return not (a is None and b is None)
                return False
            if operator == "eq":
                return bool(a == b)
            if operator == "ne":
                return bool(a != b)
            try:
                if operator == "gt":
                    return bool(a > b)
                if operator == "ge":
                    return bool(a >= b)
                if operator == "lt":
                    return bool(a < b)
                return bool(a <= b)
            except TypeError:
                return False

        return compare


def _apply_function(name: str, values: list[Any]) -> Any:
    if name == "substringof":
        return str(values[0]) in str(values[1])
    if name == "startswith":
        return str(values[0]).startswith(str(values[1]))
    if name == "endswith":
        return str(values[0]).endswith(str(values[1]))
    if name == "tolower":
        return str(values[0]).lower()
    if name == "toupper":
        return str(values[0]).upper()
    if name == "trim":
        return str(values[0]).strip()
    if name == "length":
        return len(str(values[0]))
    moment = to_wall_clock(values[0])
    return {"year": moment.year, "month": moment.month, "day": moment.day}[name]


class FilterExpression:
    """A parsed ``$filter``: type-checked against an entity and compiled into a predicate."""

    def __init__(self, text: str, property_types: Mapping[str, str], entity_type: str) -> None:
        self.text = text
        self.tree = _Parser(text).parse()
        compiler = _Compiler(property_types, entity_type)
        top_type = compiler.type_of(self.tree)
        if top_type != BOOLEAN:
            raise ODataError("The $filter expression must evaluate to a single boolean value.")
        self.matches: Predicate = compiler.predicate(self.tree)

    def properties(self) -> set[str]:
        """Names of every property the expression mentions."""
        found: set[str] = set()
        _collect_properties(self.tree, found)
        return found

    def equality_terms(self) -> list[tuple[str, Any]]:
        """``(property, value)`` for each ``property eq literal`` joined by top-level ``and`` (index candidates)."""
        terms: list[tuple[str, Any]] = []
        _collect_equalities(self.tree, terms)
        return terms

    def timestamp_cursor(self) -> int | None:
        """The N of a filter that is exactly ``Timestamp gt N`` (the only filter sync endpoints take), else None."""
        node = self.tree
        if (
            isinstance(node, Comparison)
            and node.operator == "gt"
            and isinstance(node.left, Property)
            and node.left.name == "Timestamp"
            and isinstance(node.right, Literal)
            and node.right.edm_type in (INT32, INT64)
        ):
            return int(node.right.value)
        return None


def _collect_properties(node: Node, found: set[str]) -> None:
    if isinstance(node, Property):
        found.add(node.name)
    elif isinstance(node, Comparison | Logical):
        _collect_properties(node.left, found)
        _collect_properties(node.right, found)
    elif isinstance(node, Negation):
        _collect_properties(node.operand, found)
    elif isinstance(node, Call):
        for argument in node.arguments:
            _collect_properties(argument, found)


def _collect_equalities(node: Node, terms: list[tuple[str, Any]]) -> None:
    if isinstance(node, Logical) and node.operator == "and":
        _collect_equalities(node.left, terms)
        _collect_equalities(node.right, terms)
        return
    if not (isinstance(node, Comparison) and node.operator == "eq"):
        return
    left, right = node.left, node.right
    if isinstance(left, Literal) and isinstance(right, Property):
        left, right = right, left
    if isinstance(left, Property) and isinstance(right, Literal) and right.edm_type != NULL:
        terms.append((left.name, right.value))


# ---------------------------------------------------------------------------------------------------
# $select and $orderby


def parse_select(text: str, properties: Sequence[str], entity_type: str) -> list[str]:
    """The property names of a ``$select`` (validated, duplicates dropped, order kept)."""
    known = set(properties)
    selected: list[str] = []
    position = 0
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            raise ODataError(f"Syntax error at position {position}.")
        if name not in known:
            raise ODataError(f"No property '{name}' exists in type '{entity_type}' at position {position}.")
        if name not in selected:
            selected.append(name)
        position += len(raw) + 1
    return selected


def parse_orderby(text: str, properties: Sequence[str], entity_type: str) -> list[tuple[str, bool]]:
    """``[(property, descending)]`` of an ``$orderby`` such as ``Name desc,Code``."""
    known = set(properties)
    order: list[tuple[str, bool]] = []
    position = 0
    for raw in text.split(","):
        parts = raw.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise ODataError(f"Syntax error at position {position}.")
        if parts[0] not in known:
            raise ODataError(f"No property '{parts[0]}' exists in type '{entity_type}' at position {position}.")
        order.append((parts[0], len(parts) == 2 and parts[1] == "desc"))
        position += len(raw) + 1
    return order
