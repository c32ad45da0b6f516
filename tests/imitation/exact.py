"""A second, independent Exact Online imitation, written from the public evidence only.

Sources: ``docs/exact-evidence.md`` and ``docs/exact-api.md`` of the shared project documents (cited below as
*evidence §N* and *api §N*), and the property names of picqer/exact-php-client's entity classes (generated from
Exact's REST reference; kept in ``properties.json``). It was written without reading exactlink's own sandbox or
its client, so it does not share their guesses. Where the evidence says *unknown*, it deliberately answers
differently from what a same-team sandbox would likely do (readable ``$skiptoken``, Dutch refusal texts,
``CurrentDivision`` pointing at a client administration, Int64 as strings, a refused ``Created`` filter on
Returns). It is a test double: one lock, one explicit clock, deterministic IDs.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PROPERTIES: dict[str, list[str]] = json.loads(Path(__file__).with_name("properties.json").read_text())
ACCESS_SECONDS = 600  # api §1.3
EARLIEST_REFRESH_SECONDS = 570  # api §1.3: a new access token only in the last 30 s
REFRESH_LIFETIME = timedelta(days=30)  # api §1.3: an unused refresh token expires
CODE_SECONDS = 180  # api §1.2: an authorization code lives about 3 minutes and is used once
DELETED_KEPT = timedelta(days=61)  # evidence §4: sync/Deleted keeps two months
ENTITY_TYPES = {"crm/Accounts": 2, "crm/Addresses": 3, "crm/Contacts": 5}  # api §4.8 (picqer SyncDeleted)


class Refusal(Exception):
    """An error answer: status, Exact's error body ``{"error":{"code","message":{"lang","value"}}}`` (api §3)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass(frozen=True)
class Endpoint:
    """One REST resource: where its rows live, its key, methods, page size and rules (evidence §2-§3)."""

    table: str
    key: str = "ID"
    methods: frozenset[str] = frozenset({"GET"})
    page: int = 60  # api §3: 60 on ordinary endpoints, 1000 on bulk and sync
    mandatory_filter: bool = False  # evidence §3: a sync API exists, so an unfiltered read is refused
    sync: bool = False  # only `Timestamp gt N` as filter, $select required (evidence §3)
    writable: frozenset[str] = frozenset()  # what POST/PUT apply; anything else is skipped silently (evidence §2)


def _w(names: str) -> frozenset[str]:
    return frozenset(names.split())


_ALL = _w("GET POST PUT DELETE")
ENDPOINTS: dict[str, Endpoint] = {
    "system/Divisions": Endpoint("divisions", key="Code"),
    "system/AllDivisions": Endpoint("divisions", key="Code"),
    "crm/Accounts": Endpoint(  # evidence §2: what POST/PUT accept
        "crm/Accounts",
        methods=_ALL,
        mandatory_filter=True,
        writable=_w(
            "Code Name VATNumber RSIN BSN ChamberOfCommerce Phone Website Email AddressLine1 AddressLine2 AddressLine3"
            " Postcode City Country Status"
        ),
    ),
    "crm/Addresses": Endpoint(
        "crm/Addresses",
        methods=_ALL,
        mandatory_filter=True,
        writable=_w("Account Type Main AddressLine1 AddressLine2 AddressLine3 Postcode City Country Phone"),
    ),
    "crm/Contacts": Endpoint(
        "crm/Contacts",
        methods=_ALL,
        mandatory_filter=True,
        writable=_w(
            "Account FirstName MiddleName LastName Initials Email Phone Mobile BusinessEmail BusinessPhone"
            " JobTitleDescription IsMainContact"
        ),
    ),
    "crm/BankAccounts": Endpoint(
        "crm/BankAccounts",
        methods=_ALL,
        writable=_w("Account BankAccount BankAccountHolderName BICCode Description Main"),
    ),
    "accountancy/SolutionLinks": Endpoint(  # evidence §2: Status is GET-only
        "accountancy/SolutionLinks",
        methods=_ALL,
        writable=_w(
            "Account SolutionType InternalSolutionDivision ExternalSolutionCode ExternalSolutionUrl Name"
            " OtherExternalSolutionName"
        ),
    ),
    "read/financial/Returns": Endpoint("returns", key="DocumentID"),
    "financial/GLAccounts": Endpoint("glaccounts", mandatory_filter=True),
    "sync/CRM/Accounts": Endpoint("crm/Accounts", key="Timestamp", page=1000, sync=True),
    "sync/CRM/Addresses": Endpoint("crm/Addresses", key="Timestamp", page=1000, sync=True),
    "sync/CRM/Contacts": Endpoint("crm/Contacts", key="Timestamp", page=1000, sync=True),
    "sync/Financial/GLAccounts": Endpoint("glaccounts", key="Timestamp", page=1000, sync=True),
    "sync/Financial/TransactionLines": Endpoint("transactionlines", key="Timestamp", page=1000, sync=True),
    "sync/Deleted": Endpoint("deleted", key="Timestamp", page=1000, sync=True),
}


def exact_date(moment: datetime | date | None) -> str | None:
    """``/Date(ms)/`` of the Amsterdam wall-clock time (evidence §7), as Exact writes dates."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=AMSTERDAM)
    wall = moment.astimezone(AMSTERDAM).replace(tzinfo=UTC)
    return f"/Date({int(wall.timestamp() * 1000)})/"


def _json_value(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return exact_date(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


# ---------------------------------------------------------------- $filter: a small OData v2 expression reader
_TOKEN = re.compile(
    r"\s*(?:(?P<guid>guid'[0-9a-fA-F-]{36}')|(?P<dt>datetime'[^']*')|(?P<str>'(?:[^']|'')*')"
    r"|(?P<num>-?\d+(?:\.\d+)?[LMDlmd]?)|(?P<name>[A-Za-z_][A-Za-z0-9_/]*)|(?P<punct>[(),]))"
)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Refusal(400, f"Ongeldige $filter bij positie {position}.")
        position = match.end()
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "guid":
            tokens.append(("lit", raw[5:-1].lower()))
        elif kind == "dt":
            try:
                tokens.append(("lit", datetime.fromisoformat(raw[9:-1]).replace(tzinfo=AMSTERDAM)))
            except ValueError as error:
                raise Refusal(400, f"Ongeldige datum in $filter: {raw}") from error
        elif kind == "str":
            tokens.append(("lit", raw[1:-1].replace("''", "'")))
        elif kind == "num":
            number = raw.rstrip("LMDlmd")
            tokens.append(("lit", Decimal(number) if "." in number else int(number)))
        elif kind == "name" and raw in ("true", "false", "null"):
            tokens.append(("lit", {"true": True, "false": False, "null": None}[raw]))
        else:
            tokens.append((kind, raw))
    return tokens


@dataclass
class Condition:
    """A parsed ``$filter``: a test on a row, and the properties it names."""

    test: Callable[[dict[str, Any]], bool]
    fields: set[str]
    shape: str  # e.g. "Timestamp gt" for the sync rule


def parse_filter(text: str) -> Condition:
    """Read ``text`` (``A eq x and (B gt y or C le z)``, ``trim(Code) eq '1'``, ``not``) into a condition."""
    tokens = _tokens(text)
    fields: set[str] = set()
    shapes: list[str] = []
    position = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal position
        if position >= len(tokens):
            raise Refusal(400, "Onvolledige $filter.")
        position += 1
        return tokens[position - 1]

    def operand() -> Callable[[dict[str, Any]], Any]:
        kind, value = take()
        if kind == "lit":
            return lambda row: value
        if kind == "name" and peek() == ("punct", "("):
            take()
            inner = operand()
            if take() != ("punct", ")") or value not in ("trim", "tolower", "toupper"):
                raise Refusal(400, f"Functie {value} wordt niet ondersteund in $filter.")
            apply = {"trim": str.strip, "tolower": str.lower, "toupper": str.upper}[value]
            return lambda row: None if inner(row) is None else apply(str(inner(row)))
        if kind == "name":
            fields.add(value)
            return lambda row: row.get(value)
        raise Refusal(400, "Ongeldige $filter.")

    def primary() -> Callable[[dict[str, Any]], bool]:
        if peek() == ("name", "not"):
            take()
            inner = primary()
            return lambda row: not inner(row)
        if peek() == ("punct", "("):
            take()
            inner = disjunction()
            if take() != ("punct", ")"):
                raise Refusal(400, "Haakjes kloppen niet in $filter.")
            return inner
        left_token = peek()
        left = operand()
        kind, operator = take()
        if kind != "name" or operator not in _COMPARE:
            raise Refusal(400, "Ongeldige vergelijking in $filter.")
        right = operand()
        shapes.append(f"{left_token[1] if left_token else ''} {operator}")
        return lambda row: _compare(left(row), operator, right(row))

    def conjunction() -> Callable[[dict[str, Any]], bool]:
        parts = [primary()]
        while peek() == ("name", "and"):
            take()
            parts.append(primary())
        return lambda row: all(part(row) for part in parts)

    def disjunction() -> Callable[[dict[str, Any]], bool]:
        parts = [conjunction()]
        while peek() == ("name", "or"):
            take()
            parts.append(conjunction())
        return lambda row: any(part(row) for part in parts)

    test = disjunction()
    if position != len(tokens):
        raise Refusal(400, "Ongeldige $filter.")
    return Condition(test, fields, " and ".join(shapes))


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=AMSTERDAM).astimezone(UTC)
    if isinstance(value, str) and _GUID.fullmatch(value):
        return value.lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    return value


def _compare(left: Any, operator: str, right: Any) -> bool:
    left, right = _comparable(left), _comparable(right)
    if operator == "eq":
        return bool(left == right)
    if operator == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[operator])
    except TypeError as error:
        raise Refusal(400, "Vergelijking van ongelijke typen in $filter.") from error


# ---------------------------------------------------------------- the world
@dataclass
class App:
    """An App Center registration: the redirect URI must match exactly (api §1.2)."""

    client_id: str
    secret: str
    redirect_uri: str


@dataclass
class Grant:
    """What one consent gave: tokens for a user and an app, as they rotate (api §1.3)."""

    client_id: str
    username: str
    access: str
    access_issued: datetime
    refresh: str
    used_refresh: set[str] = field(default_factory=set)

    @property
    def refresh_issued(self) -> datetime:
        return self.access_issued  # a refresh token is issued with each access token


@dataclass
class Division:
    """One administration and its rows; every write gets a new rowversion (``Timestamp``)."""

    code: int
    description: str
    customer: str | None  # the owner account in the office administration
    practice: bool = False
    move_date: datetime | None = None
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(name, {})


class Imitation:
    """The Exact Online imitation: state, OAuth, the REST rules, and a counter of every call."""

    def __init__(self, clock: Callable[[], datetime], *, seed: int = 7) -> None:
        self.clock = clock
        self.random = random.Random(seed)
        self.lock = threading.RLock()
        self.base_url = "http://imitation.invalid"
        self.apps: dict[str, App] = {}
        self.users: dict[str, dict[str, Any]] = {}  # username → current/Me row (+ password)
        self.codes: dict[str, tuple[str, str, datetime]] = {}  # code → client id, username, issued
        self.grants: list[Grant] = []
        self.divisions: dict[int, Division] = {}
        self.rowversion = 0x1_0000_0000  # Int64 values above 2**32, written as strings (evidence §8)
        self.calls: Counter[str] = Counter()  # "METHOD path" → count
        self.statuses: Counter[tuple[str, int]] = Counter()  # ("METHOD path", status) → count
        self.token_calls: Counter[str] = Counter()
        self.minute: Counter[tuple[str, int, int]] = Counter()  # (client, division, minute) → calls
        self.day: Counter[tuple[str, int, date]] = Counter()
        self.log: list[str] = []  # every request line, for leak checks
        self.page_limit: int | None = None  # smaller pages than documented (a maximum), to exercise __next
        self.upper_case_ids = False  # GUIDs written in upper case (the casing is not documented)
        self.bare_arrays = False  # a one-page list as {"d": [...]} (api §3: ossobv's unwrap handles both)
        self.unauthorized_reason: str | None = None  # the next REST call is refused 401 with this reason
        self.ignored: set[str] = set()  # properties this tenant treats as read-only (skipped silently on writes)
        self.process_not_applied = False  # ProcessReturn answers 200 with Processed false and changes nothing

    # ------------------------------------------------------------ data
    def new_id(self) -> str:
        """A fresh GUID, drawn from the seeded generator (the same on every run)."""
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def add_division(self, code: int, description: str, customer: str | None, *, practice: bool = False) -> Division:
        """Add an administration (the practice division has ``practice`` set)."""
        division = Division(code, description, customer, practice)
        self.divisions[code] = division
        return division

    def put(self, division: Division, table: str, values: dict[str, Any], *, key: str = "ID") -> dict[str, Any]:
        """Store a row (new or changed) with a new rowversion and modified time."""
        self.rowversion += self.random.randint(1, 40)
        now = self.clock()
        row = division.table(table).get(values.get(key, ""), {"Created": now, "Division": division.code})
        row.update(values, Timestamp=self.rowversion, Modified=now)
        row.setdefault(key, self.new_id())
        division.table(table)[row[key]] = row
        return row

    def delete(self, division: Division, table: str, key: str) -> None:
        """Remove a row; CRM deletions show in ``sync/Deleted`` (api §4.8)."""
        row = division.table(table).pop(key)
        if table in ENTITY_TYPES:
            self.put(
                division,
                "deleted",
                {"EntityKey": row["ID"], "EntityType": ENTITY_TYPES[table], "DeletedDate": self.clock()},
            )

    def move(self, division: Division) -> None:
        """Move the administration to another database: every Timestamp starts again, lower (api §4.8)."""
        division.move_date = self.clock()
        self.rowversion = 1000
        for table in division.tables.values():
            for row in sorted(table.values(), key=lambda row: int(row["Timestamp"])):
                self.rowversion += 1
                row["Timestamp"] = self.rowversion

    # ------------------------------------------------------------ HTTP entry
    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body)."""
        with self.lock:
            parts = urllib.parse.urlsplit(target)
            self.log.append(f"{method} {target}")
            label = method + " " + re.sub(r"\(.*\)$", "(key)", re.sub(r"^/api/v1/\d+/", "", parts.path))
            self.calls[label] += 1
            try:
                if parts.path == "/api/oauth2/auth":
                    status, answer_headers, answer = self._authorize(method, parts.query, body)
                elif parts.path == "/api/oauth2/token":
                    status, answer_headers, answer = self._token(body)
                elif parts.path.startswith("/api/v1/"):
                    status, answer_headers, answer = self._rest(method, parts, headers, body)
                else:
                    raise Refusal(404, "Pagina niet gevonden.")
            except Refusal as refusal:
                status, answer_headers = refusal.status, refusal.headers
                document = {"error": {"code": "", "message": {"lang": "nl-NL", "value": refusal.message}}}
                answer = b"" if status == 429 else json.dumps(document).encode()
                if answer:
                    answer_headers = {"Content-Type": "application/json; charset=utf-8", **answer_headers}
            self.statuses[(label, status)] += 1
            return status, answer_headers, answer

    # ------------------------------------------------------------ OAuth2 (api §1)
    def _authorize(self, method: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        params = dict(urllib.parse.parse_qsl(query))
        app = self.apps.get(params.get("client_id", ""))
        if app is None or params.get("redirect_uri") != app.redirect_uri or params.get("response_type") != "code":
            page = "<p>De opgegeven redirect URI of client id is niet geregistreerd.</p>"
            return 400, {"Content-Type": "text/html"}, page.encode()
        if method == "GET":
            fields = "".join(
                f'<input type=hidden name="{html.escape(k)}" value="{html.escape(v)}" />' for k, v in params.items()
            )
            page = f'<form method=post action="/api/oauth2/auth?{html.escape(query)}">{fields}<input name=username>'
            return 200, {"Content-Type": "text/html"}, (page + "<input name=password type=password></form>").encode()
        form = dict(urllib.parse.parse_qsl(body.decode()))
        user = self.users.get(form.get("username", ""))
        if user is None or user["password"] != form.get("password"):
            return 200, {"Content-Type": "text/html"}, b"<p>Gebruikersnaam of wachtwoord onjuist.</p>"
        code = "".join(self.random.choice("ABCDEFabcdef0123456789!+/=") for _ in range(40))
        self.codes[code] = (app.client_id, form["username"], self.clock())
        location = f"{app.redirect_uri}?{urllib.parse.urlencode({'code': code, 'state': params.get('state', '')})}"
        return 302, {"Location": location}, b""

    def _token(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = dict(urllib.parse.parse_qsl(body.decode()))
        grant_type = form.get("grant_type", "")
        self.token_calls[grant_type] += 1
        app = self.apps.get(form.get("client_id", ""))
        if app is None or app.secret != form.get("client_secret"):
            return _oauth_error(400, "invalid_client", "Onbekende client of onjuist secret.")
        now = self.clock()
        if grant_type == "authorization_code":
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or issued[0] != app.client_id or (now - issued[2]).total_seconds() > CODE_SECONDS:
                return _oauth_error(400, "invalid_grant", "Autorisatiecode ongeldig of al gebruikt.")
            if form.get("redirect_uri") != app.redirect_uri:
                return _oauth_error(400, "invalid_grant", "redirect_uri wijkt af van de registratie.")
            grant = Grant(app.client_id, issued[1], self._secret(), now, self._secret())
            self.grants.append(grant)
            return self._tokens(grant)
        if grant_type == "refresh_token":
            token = form.get("refresh_token", "")
            grant = next((g for g in self.grants if token == g.refresh or token in g.used_refresh), None)
            if grant is None:
                return _oauth_error(400, "invalid_request", "The refresh token is unknown.")
            if token in grant.used_refresh:  # picqer #644
                return _oauth_error(401, "unauthorized_client", "Old refresh token used.")
            if now - grant.refresh_issued > REFRESH_LIFETIME:  # api §1.3, websmurf #22
                expired = (grant.refresh_issued + REFRESH_LIFETIME).strftime("%m/%d/%Y %I:%M:%S %p")
                return _oauth_error(400, "invalid_request", f"The refresh token expired at {expired}.")
            if (now - grant.access_issued).total_seconds() < EARLIEST_REFRESH_SECONDS:
                # api §1.3: refused while the access token is valid; the wording is unknown, so it is our own.
                return _oauth_error(401, "invalid_grant", "Vernieuwen kan pas kort voor het verlopen van het token.")
            grant.used_refresh.add(grant.refresh)
            grant.access, grant.access_issued, grant.refresh = self._secret(), now, self._secret()
            return self._tokens(grant)
        return _oauth_error(400, "unsupported_grant_type", "Alleen authorization_code en refresh_token.")

    def _secret(self) -> str:
        return "".join(
            self.random.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(48)
        )

    def _tokens(self, grant: Grant) -> tuple[int, dict[str, str], bytes]:
        # api §1.3: expires_in is a string
        answer = {
            "access_token": grant.access,
            "token_type": "bearer",
            "expires_in": str(ACCESS_SECONDS),
            "refresh_token": grant.refresh,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def expire_access(self) -> None:
        """Make every issued access token old enough to be refreshed (and expired)."""
        for grant in self.grants:
            grant.access_issued -= timedelta(seconds=ACCESS_SECONDS + 1)

    # ------------------------------------------------------------ REST (api §3-§4)
    def _rest(
        self, method: str, parts: urllib.parse.SplitResult, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        grant = self._bearer(headers)
        path = parts.path.removeprefix("/api/v1/")
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        if path == "current/Me":
            division_code = 0
        else:
            head, _, path = path.partition("/")
            if not head.isdigit() or int(head) not in self.divisions:
                raise Refusal(403, "Forbidden - WrongDivision", {"Reason": "NoDivisionAccess"})
            division_code = int(head)
        limits = self._count(grant.client_id, division_code)
        if "json" not in headers.get("accept", "").lower() and query.get("$format") != "json":
            xml = b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"/>'
            return 200, {"Content-Type": "application/atom+xml", **limits}, xml  # evidence §8: XML without Accept
        if path == "current/Me":
            me = {k: v for k, v in self.users[grant.username].items() if k != "password"}
            status, answer = 200, {"d": {"results": [self._shape(me, "current/Me", query, None)]}}
        elif path == "financial/ProcessReturn" and method == "POST":
            status, answer = 200, {"d": self._process_return(self.divisions[division_code], json.loads(body))}
        else:
            status, answer = self._resource(method, path, query, self.divisions[division_code], body)
        content = b"" if answer is None else json.dumps(answer).encode()
        content_headers = {"Content-Type": "application/json; charset=utf-8"} if answer is not None else {}
        return status, {**content_headers, **limits}, content

    def _bearer(self, headers: dict[str, str]) -> Grant:
        if self.unauthorized_reason:
            reason, self.unauthorized_reason = urllib.parse.quote(self.unauthorized_reason), None
            raise Refusal(401, "Unauthorized", {"WWW-Authenticate": f'Bearer error_description="{reason}"'})
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        grant = next((g for g in self.grants if g.access == token), None)
        if grant is None:
            raise Refusal(401, "Unauthorized", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if (self.clock() - grant.access_issued).total_seconds() >= ACCESS_SECONDS:
            reason = urllib.parse.quote("access token expired")  # evidence §7: the reason, URL-encoded
            raise Refusal(
                401, "Unauthorized", {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'}
            )
        return grant

    def _count(self, client_id: str, division: int) -> dict[str, str]:
        """60 a minute and 5,000 a day per app and administration; headers in epoch ms (api §2)."""
        now = self.clock().astimezone(UTC)
        minute = int(now.timestamp() // 60)
        today = now.date()
        self.minute[(client_id, division, minute)] += 1
        self.day[(client_id, division, today)] += 1
        minute_reset = str((minute + 1) * 60_000)
        if self.minute[(client_id, division, minute)] > 60:
            minutely = {"X-RateLimit-Minutely-Limit": "60", "X-RateLimit-Minutely-Remaining": "0"}
            raise Refusal(429, "", {**minutely, "X-RateLimit-Minutely-Reset": minute_reset})
        day_reset = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
        if self.day[(client_id, division, today)] > 5000:
            daily = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0"}
            raise Refusal(429, "", {**daily, "X-RateLimit-Reset": str(int(day_reset.timestamp() * 1000))})
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(5000 - self.day[(client_id, division, today)]),
            "X-RateLimit-Reset": str(int(day_reset.timestamp() * 1000)),
            "X-RateLimit-Minutely-Limit": "60",
            "X-RateLimit-Minutely-Remaining": str(60 - self.minute[(client_id, division, minute)]),
            "X-RateLimit-Minutely-Reset": minute_reset,
        }

    def _resource(
        self, method: str, path: str, query: dict[str, str], division: Division, body: bytes
    ) -> tuple[int, Any]:
        match = re.fullmatch(r"([A-Za-z/]+?)(?:\((?:guid)?'?([^')]*)'?\))?", path)
        if match is None or match.group(1) not in ENDPOINTS:
            raise Refusal(404, f"Resource niet gevonden: {path}")
        name, key = match.group(1), match.group(2)
        endpoint = ENDPOINTS[name]
        if method not in endpoint.methods:
            raise Refusal(405, f"Methode {method} is niet toegestaan voor {name}.")
        rows = self._rows(division, endpoint)
        if method == "GET":
            if key is not None:
                row = rows.get(key.lower()) or rows.get(key)
                if row is None:
                    raise Refusal(404, "Het record bestaat niet.")
                return 200, {"d": {"results": [self._shape(row, name, query, division)]}}
            return 200, self._list(name, endpoint, query, division, list(rows.values()))
        values = json.loads(body) if body else {}
        if method == "POST":
            return 201, {"d": self._shape(self._create(name, endpoint, division, values), name, {}, division)}
        if key is None or key.lower() not in rows:
            raise Refusal(404, "Het record bestaat niet.")
        if method == "DELETE":
            self.delete(division, endpoint.table, key.lower())
            return 204, None
        if name == "crm/Accounts" and "Code" in values:
            raise Refusal(500, "Gegeven bestaat reeds")  # evidence §2: picqer #416/#432, even when unchanged
        kept = {k: v for k, v in values.items() if k in endpoint.writable - self.ignored}  # the rest: skipped silently
        self.put(division, endpoint.table, {"ID": key.lower(), **kept})
        return 204, None

    def _rows(self, division: Division, endpoint: Endpoint) -> dict[str, dict[str, Any]]:
        if endpoint.table == "divisions":
            return {str(d.code): self._division_row(d) for d in self.divisions.values()}
        if endpoint.table == "deleted":
            cutoff = self.clock() - DELETED_KEPT
            return {k: r for k, r in division.table("deleted").items() if r["DeletedDate"] >= cutoff}
        return division.table(endpoint.table)

    def _division_row(self, division: Division) -> dict[str, Any]:
        office = next(d for d in self.divisions.values() if d.practice)
        owner = office.table("crm/Accounts").get(division.customer or "")
        return {
            "Code": division.code,
            "Description": division.description,
            "Hid": str(division.code)[-4:],
            "Customer": division.customer,
            "CustomerCode": owner["Code"] if owner else None,
            "CustomerName": owner["Name"] if owner else None,
            "Current": False,
            "IsMainDivision": division.practice,
            "IsPracticeDivision": division.practice,
            "IsDossierDivision": False,
            "Status": 1,
            "BlockingStatus": 0,
            "ArchiveDate": None,
            "DivisionMoveDate": division.move_date,
            "VATNumber": owner.get("VATNumber") if owner else None,
            "ChamberOfCommerceNumber": owner.get("ChamberOfCommerce") if owner else None,
            "OBNumber": None,
            "Country": "NL",
            "Currency": "EUR",
            "Legislation": "NL",
        }

    def _list(
        self, name: str, endpoint: Endpoint, query: dict[str, str], division: Division, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        text = query.get("$filter", "").strip()
        skip = query.get("$skiptoken")
        if endpoint.mandatory_filter and not text:
            raise Refusal(400, "This endpoint has mandatory filtering applied. Please use a $filter.")  # picqer #591
        if endpoint.sync and "$select" not in query:
            raise Refusal(400, "Please add a $select or a $top=1 statement to the query string.")  # api §3
        if text:
            condition = parse_filter(text)
            if endpoint.sync and condition.shape != "Timestamp gt":  # evidence §3
                raise Refusal(400, "Op dit endpoint kan alleen gefilterd worden op Timestamp gt.")
            if name == "read/financial/Returns":  # evidence §3: unknown (picqer #532); this tenant refuses any
                raise Refusal(400, "This $filter parameter is not supported for this resource.")
            unknown = condition.fields - set(PROPERTIES[name])
            if unknown:
                raise Refusal(400, f"Onbekende eigenschap in $filter: {', '.join(sorted(unknown))}")
            rows = [row for row in rows if condition.test(row)]
        order = "Timestamp" if endpoint.sync else endpoint.key
        rows.sort(key=lambda row: _position(row[order]))
        if skip:
            # evidence §8: a readable skip token, guid'<last ID>' or <Timestamp>L, that clients may build themselves
            last = _position(skip.removeprefix("guid'").rstrip("'").rstrip("L"))
            rows = [row for row in rows if _position(row[order]) > last]
        top = int(query["$top"]) if query.get("$top", "").isdigit() else None
        size = min(endpoint.page, self.page_limit or endpoint.page, top or endpoint.page)
        page = rows[:size]
        answer: dict[str, Any] = {"results": [self._shape(row, name, query, division) for row in page]}
        if len(rows) > size and (top is None or top > size):
            last_key = page[-1][order]
            token = f"{last_key}L" if endpoint.sync else str(last_key) if order == "Code" else f"guid'{last_key}'"
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            # absolute, with the skip token first (nothing may depend on the order of parameters)
            answer["__next"] = (
                f"{self.base_url}/api/v1/{division.code}/{name}?$skiptoken={urllib.parse.quote(token, safe=chr(39))}&"
                + urllib.parse.urlencode(rest, safe="$,'", quote_via=urllib.parse.quote)
            )
        return {"d": answer["results"] if self.bare_arrays and "__next" not in answer else answer}

    def _shape(
        self, row: dict[str, Any], name: str, query: dict[str, str], division: Division | None
    ) -> dict[str, Any]:
        known = PROPERTIES[name]
        selected = [p.strip() for p in query["$select"].split(",")] if query.get("$select") else known
        unknown = [p for p in selected if p not in known]
        if unknown:
            raise Refusal(400, f"Eigenschap '{unknown[0]}' bestaat niet voor {name}.")
        key = row.get("ID") or row.get("Code") or row.get("DocumentID")
        where = f"{self.base_url}/api/v1/{division.code if division else ''}/{name}(guid'{key}')".replace(
            "//current", "/current"
        )
        shaped: dict[str, Any] = {"__metadata": {"uri": where, "type": f"Exact.Web.Api.Models.{name.split('/')[-1]}"}}
        for prop in selected:
            value = row.get(prop)
            if prop == "Timestamp" and value is not None:
                value = str(value)  # Edm.Int64 is written as a string in OData v2 JSON
            if self.upper_case_ids and isinstance(value, str) and _GUID.fullmatch(value):
                value = value.upper()
            shaped[prop] = _json_value(value)
        return shaped

    def _create(self, name: str, endpoint: Endpoint, division: Division, values: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in values.items() if k in endpoint.writable - self.ignored}  # evidence §2
        table = division.table(endpoint.table)
        if name == "crm/Addresses":  # evidence §2: an existing equal address is answered instead of a new one
            same = ("Account", "Type", "AddressLine1", "Postcode", "City")
            for row in table.values():
                if all(str(row.get(k) or "").lower() == str(kept.get(k) or "").lower() for k in same):
                    return row
        if name in ("crm/Addresses", "crm/Contacts", "crm/BankAccounts", "accountancy/SolutionLinks"):
            if str(kept.get("Account", "")).lower() not in division.table("crm/Accounts"):
                raise Refusal(400, "Verplicht veld Account ontbreekt of verwijst naar een onbekende relatie.")
            kept["Account"] = str(kept["Account"]).lower()
        if name == "accountancy/SolutionLinks":
            if kept.get("SolutionType") not in (0, 1, 2):
                raise Refusal(400, "SolutionType is verplicht (0, 1 of 2).")
            if kept["SolutionType"] == 0 and int(kept.get("InternalSolutionDivision") or 0) not in self.divisions:
                raise Refusal(400, "InternalSolutionDivision is verplicht bij een interne koppeling.")
            kept["Status"] = 0
        if name == "crm/Accounts":
            if not kept.get("Name"):
                raise Refusal(400, "Naam is verplicht.")
            codes = [int(str(r.get("Code") or "0").strip() or 0) for r in table.values()]
            kept["Code"] = str(kept.get("Code") or max(codes, default=0) + 1).rjust(18)
        return self.put(division, endpoint.table, kept)

    def _process_return(self, division: Division, values: dict[str, Any]) -> dict[str, Any]:
        """financial/ProcessReturn (evidence §5): only realised VAT/ICP returns sent "Manual (with approval)"."""
        request, status = str(values.get("Request", "")).lower(), values.get("Status")
        found = next((r for r in division.table("returns").values() if r["Request"] == request), None)
        if found is None or status not in (5, 50):
            raise Refusal(400, "Verzoek of status ongeldig.")
        if found["Type"] not in (31, 32) or found["Status"] != 40 or found["SentMethod"] != "manual":
            raise Refusal(400, "Deze aangifte kan niet via de API worden afgehandeld (verzendwijze of status).")
        if not self.process_not_applied:
            found["Status"] = status
            found["Modified"] = self.clock()
        return {"__metadata": {"uri": "", "type": "Exact.Web.Api.Models.ProcessReturn"}, "Request": request,
                "Status": status, "Processed": not self.process_not_applied}  # fmt: skip


def _position(key: object) -> tuple[int, str]:
    """Where a key sorts: numbers (Timestamp, Code) as numbers, GUIDs as lower-case text."""
    text = str(key).lower()
    return (int(text), "") if text.isdigit() else (0, text)


def _oauth_error(status: int, code: str, text: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"error": code, "error_description": text}).encode()


@contextmanager
def serve(imitation: Imitation) -> Iterator[str]:
    """Serve the imitation over real HTTP on 127.0.0.1 (any free port); yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer_headers, answer = imitation.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in answer_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll: shutdown() waits for it, and every test stops a server (the default 0.5 s, 19 times).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    imitation.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield imitation.base_url
    finally:
        server.shutdown()
        server.server_close()
