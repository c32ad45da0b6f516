"""The embedded Exact Online: one ``Sandbox`` object answers OAuth and REST calls, in-process or over HTTP.

``Sandbox.handle(method, url, headers, body)`` is the whole server, independent of transport;
``transport()`` (an httpx transport) and ``serve()`` (a threaded HTTP server on 127.0.0.1) both call it.
The order of checks for a REST call mirrors Exact's gateway:

1. faults (added latency, a dropped connection) — see ``faults.py``;
2. bearer token: missing or unknown → 401 (``WWW-Authenticate`` with the URL-encoded reason, see
   :func:`_www_authenticate`), no rate-limit headers (no app known);
3. error budget: an endpoint blocked for the app and division → 403 ``Reason: TooManyErrors``;
4. an injected 429 burst, then the real minutely/daily limits → 429;
5. the call counts against the limits; an expired token → 401, a division the user cannot see or the app has
   no consent for → 403 ``Reason: NoDivisionAccess``, a blocked division (``BlockingStatus`` ≠ 0) → 403
   ``Reason: DivisionBlocked``; an injected 5xx replaces the answer;
6. the endpoint itself (query rules, paging, writes).

Every answer to an identified app carries the ``X-RateLimit-*`` headers. Failed calls (400, 401, 403, 404, 5xx)
feed the error budget. ``current/Me`` counts against the user's current division.
"""

from __future__ import annotations

import bisect
import copy
import json
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from exactlink.sandbox import atom, model, odata, query
from exactlink.sandbox.clock import Clock
from exactlink.sandbox.endpoints import DELETED_ENTITY_TYPES, ENDPOINTS, Endpoint, Route, parse_key, resolve
from exactlink.sandbox.evidence import DELETED_LOG_DAYS, NOT_MANUAL_APPROVAL, Evidence
from exactlink.sandbox.faults import ERROR_MESSAGES, FaultDecision, Faults
from exactlink.sandbox.limits import ErrorBudget, RateLimiter
from exactlink.sandbox.model import SandboxData, SandboxUser
from exactlink.sandbox.oauth import App, OAuthServer, new_client_id
from exactlink.sandbox.replies import Reply, empty_reply, error_reply, json_reply
from exactlink.sandbox.state import DIVISIONS_KEY, DivisionState, key_field_of, register_extras
from exactlink.sandbox.writes import WriteError, WriteRules, coerce_body, pad_code

if TYPE_CHECKING:
    import httpx

    from exactlink.sandbox.server import RunningServer

logger = logging.getLogger(__name__)

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"
# The default registration when the App Center accepts only https (an office's own page; nothing listens there).
HTTPS_REDIRECT_URI = "https://kantoor.example/exactlink/callback"
FAILURE_STATUSES = frozenset({400, 401, 403, 404})


def _www_authenticate(reason: str) -> dict[str, str]:
    """The 401 challenge with its reason URL-encoded, as Exact sends it (exact-evidence.md §7: "access token
    expired", "message expired"; the layout around the reason is not documented)."""
    return {
        "WWW-Authenticate": f'Bearer realm="Exact Online", error="invalid_token", error_description="{quote(reason)}"'
    }


TOKEN_EXPIRED = "access token expired"
TOKEN_INVALID = "access token invalid"
NO_TOKEN = "no access token"
UNKNOWN_USER = "user unknown"
MESSAGE_EXPIRED = "message expired"


_API_PREFIX = "/api/v1/"
# An account's own address fields are its main visit address (crm/Addresses Type 1, Main).
_VISIT_FIELDS = ("AddressLine1", "AddressLine2", "AddressLine3", "Postcode", "City", "State", "Country")
_EXTRAS_KEY = {"divisions": DIVISIONS_KEY, "all_divisions": DIVISIONS_KEY}


class ConnectionDropped(Exception):
    """Raised by ``handle`` when a fault drops the connection: the transport must close it without answering."""


class ClientGaveUp(Exception):
    """Raised by ``handle`` when a hanging answer outlasts the caller's read timeout (in-process only)."""


@dataclass(frozen=True)
class LoggedRequest:
    """One call as the sandbox saw it. ``status`` 0 means the connection was dropped without an answer."""

    method: str
    path: str
    endpoint: str
    division: int | None
    status: int
    query: dict[str, str]
    time: float
    client_id: str | None = None


@dataclass
class _Call:
    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base: str


class Sandbox:
    """An Exact Online look-alike with generated data for an accounting office and its clients.

    Args:
        clients: number of client administrations to generate (ignored when ``data`` is given).
        seed: generator seed; also seeds the fault injection.
        now: the moment the sandbox starts at: the data is generated for it and the clock runs on from it
            (None: the clock follows the real time, so an exactlink process on this machine agrees with it).
        data: ready-made ``SandboxData`` (tests build small ones by hand).
        client_id, client_secret, redirect_uri: the default app registration (random id and secret by default).
        minutely_limit, daily_limit: rate limits per app and division.
        max_errors: failed calls per endpoint/division/app per hour before the endpoint is blocked.
        faults: initial fault settings (``sandbox.faults`` can be replaced or changed at any time).
        evidence: which evidence about the real Exact Online the sandbox follows (by default all of it, see
            ``sandbox/evidence.py``); ``sandbox.evidence`` can be replaced at any time.
        clock: the clock to use instead (``now`` is then unused); the data is generated at its time.
    """

    def __init__(
        self,
        clients: int = 200,
        seed: int = 1,
        now: datetime | None = None,
        data: SandboxData | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        minutely_limit: int = 60,
        daily_limit: int = 5000,
        max_errors: int = 10,
        faults: Faults | None = None,
        clock: Clock | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        self.clock = clock or Clock(start=now)
        if data is None:
            from exactlink.sandbox.generator import generate

            data = generate(clients, seed, now if now is not None and clock is None else self.clock.now_datetime())
        self.data = data
        self.faults = faults or Faults(seed=seed)
        self.limits = RateLimiter(minutely_limit, daily_limit)
        self.errors = ErrorBudget(max_errors)
        self.evidence = evidence or Evidence()
        self.oauth = OAuthServer(data.users, self.clock, lambda: self.evidence)
        if redirect_uri is None:
            refused = self.evidence.refused_redirect_uri(DEFAULT_REDIRECT_URI)
            redirect_uri = HTTPS_REDIRECT_URI if refused else DEFAULT_REDIRECT_URI
        self.default_app: App = self.oauth.register_app(
            client_id or new_client_id(), client_secret or secrets.token_urlsafe(32), redirect_uri
        )
        # Returns sent another way than "Manual (with approval)": ProcessReturn refuses them (manual_approval_only).
        self._sent_otherwise: set[tuple[int, str]] = set()
        self.request_log: list[LoggedRequest] = []
        self._lock = threading.RLock()
        self._extras: dict[str, dict[str, str]] = {}
        self._properties_cache: dict[str, tuple[int, dict[str, str]]] = {}
        self._divisions = {code: DivisionState(division, self._extras) for code, division in data.divisions.items()}
        self._all_division_codes = sorted(self._divisions)
        register_extras(self._extras, DIVISIONS_KEY, (division.record for division in data.divisions.values()))
        self._user_division_cache: dict[str, tuple[int, frozenset[int]]] = {}
        self._visible_cache: dict[str, tuple[tuple[int, tuple[int, ...]], list[int]]] = {}
        self._division_names = {
            code: str(state.record.get("Description") or "") for code, state in self._divisions.items()
        }
        self._changes = 0

    # ------------------------------------------------------------------------------------------------
    # Saving and reopening (the state file itself is ``sandbox/state_file.py``)

    @property
    def changes(self) -> int:
        """Calls so far that may have changed the state (every call but a GET): a saver compares it."""
        return self._changes

    def snapshot(self) -> dict[str, Any]:
        """A copy of everything that makes this world: data, changes since, OAuth grants and the clock's offset.

        Rate-limit windows, the error budget, faults, evidence and the request log are how this server runs,
        not the world: they are not part of it.
        """
        with self._lock:
            data = self.data
            divisions = []
            for code, state in self._divisions.items():
                saved: dict[str, Any] = {"code": code, "record": state.record, "loaded": state.loaded}
                if state.loaded:
                    saved["tables"] = {name: table.records for name, table in state.tables.items()}
                    saved["deleted"] = state.deleted.records
                    saved["rowversion"] = state.rowversion
                else:
                    saved["tables"] = data.divisions[code].tables
                divisions.append(saved)
            return copy.deepcopy(
                {
                    "clock_offset": self.clock.offset,
                    "moment": self.clock.now_datetime(),
                    "generated_for": data.now,
                    "office_division": data.office_division,
                    "users": [asdict(user) for user in data.users],
                    "unconsented_divisions": sorted(data.unconsented_divisions),
                    "crm_rows": data.crm_rows,
                    "ground_truth": [list(pair) for pair in data.ground_truth],
                    "scenario": {
                        **asdict(data.scenario),
                        "returns": {role: list(where) for role, where in data.scenario.returns.items()},
                    },
                    "divisions": divisions,
                    "sent_otherwise": sorted(list(pair) for pair in self._sent_otherwise),
                    "oauth": {"default_client_id": self.default_app.client_id, **self.oauth.saved_grants()},
                }
            )

    @classmethod
    def reopen(cls, world: dict[str, Any], **options: Any) -> Sandbox:
        """The sandbox a :meth:`snapshot` was taken of, on a clock the same distance from the real time.

        ``options`` are the keyword arguments of ``Sandbox`` that say how it runs (``evidence``, ``faults``, limits);
        the world's own app registrations replace any default one.
        """
        scenario = world["scenario"]
        data = SandboxData(
            now=world["generated_for"],
            office_division=world["office_division"],
            users=[SandboxUser(**user) for user in world["users"]],
            divisions={
                division["code"]: model.DivisionData(division["code"], division["record"], division["tables"])
                for division in world["divisions"]
            },
            unconsented_divisions=set(world["unconsented_divisions"]),
            crm_rows=world["crm_rows"],
            ground_truth=[(relation, code) for relation, code in world["ground_truth"]],
            scenario=model.Scenario(
                administrations=tuple(scenario["administrations"]),
                relations=tuple(scenario["relations"]),
                returns={role: (division, document) for role, (division, document) in scenario["returns"].items()},
                vraagposten_open=scenario["vraagposten_open"],
                vraagposten_balanced=scenario["vraagposten_balanced"],
            ),
        )
        clock = Clock()
        clock.advance(float(world["clock_offset"]))
        sandbox = cls(data=data, clock=clock, **options)
        with sandbox._lock:
            for division in world["divisions"]:
                if division["loaded"]:
                    sandbox._divisions[division["code"]].restore(int(division["rowversion"]), division["deleted"])
            sandbox._sent_otherwise = {(division, document) for division, document in world["sent_otherwise"]}
            sandbox.oauth.restore_grants(world["oauth"])
            sandbox.default_app = sandbox.oauth.apps[world["oauth"]["default_client_id"]]
        return sandbox

    # ------------------------------------------------------------------------------------------------
    # Public helpers

    @property
    def default_user(self) -> SandboxUser:
        """The login to use by default: the first admin user (or the first user)."""
        return next((user for user in self.data.users if user.is_admin), self.data.users[0])

    @property
    def token_calls(self) -> Counter[str]:
        """Token-endpoint calls per ``grant_type`` (every attempt)."""
        return self.oauth.token_calls

    @property
    def error_counts(self) -> dict[tuple[str, int, str], int]:
        """Failed calls in the rolling hour per (client_id, division, endpoint)."""
        with self._lock:
            return self.errors.counts(self.clock.now())

    @property
    def blocked_endpoints(self) -> dict[tuple[str, int, str], float]:
        """Blocked (client_id, division, endpoint) keys and the epoch second each block ends."""
        with self._lock:
            return self.errors.blocked(self.clock.now())

    def register_app(self, client_id: str, client_secret: str, redirect_uri: str, name: str = "exactlink") -> App:
        """Register an app (as in Exact's App Center); its redirect URI must later match exactly."""
        with self._lock:
            self._changes += 1
            return self.oauth.register_app(client_id, client_secret, redirect_uri, name)

    def send_otherwise(self, division: int, document_id: str) -> None:
        """Mark a return as sent another way than "Manual (with approval)" (ProcessReturn may then refuse it)."""
        with self._lock:
            self._changes += 1
            self._sent_otherwise.add((division, document_id.lower()))

    def move_division(self, division: int) -> None:
        """Move a division to another database as Exact does: new, lower Timestamps and a DivisionMoveDate."""
        with self._lock:
            self._changes += 1
            state = self._divisions[division]
            state.move()
            state.record["DivisionMoveDate"] = self.clock.now_datetime()

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward (tokens, codes, rate windows and the error budget follow it)."""
        self.clock.advance(seconds)

    def calls(self, endpoint: str | None = None, division: int | None = None, method: str | None = None) -> int:
        """How many logged calls match the given endpoint name (e.g. ``"crm/Accounts"``), division and method."""
        with self._lock:
            return sum(
                1
                for entry in self.request_log
                if (endpoint is None or entry.endpoint == endpoint)
                and (division is None or entry.division == division)
                and (method is None or entry.method == method.upper())
            )

    def reset_counters(self) -> None:
        """Clear the request log and the token-call counts (limits and the error budget are kept)."""
        with self._lock:
            self.request_log.clear()
            self.oauth.token_calls.clear()

    def reset_limits(self) -> None:
        """Forget rate-limit usage, failures and blocks."""
        with self._lock:
            self.limits.reset()
            self.errors.reset()

    def issue_tokens(self, app: App | None = None, user: SandboxUser | None = None) -> dict[str, str]:
        """A token response as the token endpoint would give it, without the browser flow (test set-up)."""
        with self._lock:
            app = app or self.default_app
            return self.oauth.issue_tokens_for_tests(app.client_id, (user or self.default_user).user_id)

    def browser_login(
        self, authorize_url: str, username: str | None = None, password: str | None = None, decision: str = "accept"
    ) -> str:
        """Play the user in the browser: open the login page, submit it, return the redirect ``Location``.

        Raises ``RuntimeError`` when the page refuses the request or the login (the page's text is in the message).
        """
        from urllib.parse import urlencode

        status, _, page = self.handle("GET", authorize_url, {"Accept": "text/html"}, b"")
        if status != 200:
            raise RuntimeError(f"authorize page answered {status}: {page.decode(errors='replace')}")
        user = self.default_user
        form = dict(parse_qsl(urlsplit(authorize_url).query, keep_blank_values=True))
        form.update(
            {
                "username": username if username is not None else user.username,
                "password": password if password is not None else user.password,
                "decision": decision,
            }
        )
        parts = urlsplit(authorize_url)
        status, headers, page = self.handle(
            "POST",
            f"{parts.scheme}://{parts.netloc}{parts.path}",
            {"Content-Type": "application/x-www-form-urlencoded"},
            urlencode(form).encode(),
        )
        if status != 302:
            raise RuntimeError(f"login was not accepted ({status}): {page.decode(errors='replace')}")
        return headers["Location"]

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that answers in-process through ``handle`` (use any base URL with it)."""
        from exactlink.sandbox.server import SandboxTransport

        return SandboxTransport(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None) -> RunningServer:
        """Start a threaded HTTP server; use as ``with sandbox.serve() as server: server.base_url``."""
        from exactlink.sandbox.server import RunningServer

        if faults is not None:
            self.faults = faults
        return RunningServer(self, host, port)

    def start_background(self, port: int = 0, host: str = "127.0.0.1", faults: Faults | None = None) -> RunningServer:
        """Start the HTTP server in the background and return it (call ``.stop()`` when done)."""
        return self.serve(host, port, faults)

    # -- simulating changes made in Exact -----------------------------------------------------------

    def records(self, division: int, table: str) -> dict[str, dict[str, Any]]:
        """The live ``{key: record}`` table of a division (read it under no illusions: it is the real state)."""
        with self._lock:
            return self._state(division).tables[table].records

    def create(self, division: int, table: str, **fields: Any) -> dict[str, Any]:
        """Insert a record as if a user created it in Exact; returns a copy (with its new key and Timestamp)."""
        with self._lock:
            self._changes += 1
            state = self._state(division)
            key_field = key_field_of(table)
            now = self.clock.now_datetime()
            record: dict[str, Any] = {
                key_field: str(uuid.uuid4()),
                "Division": division,
                "Created": now,
                "Modified": now,
            }
            record.update(fields)
            if table == model.ACCOUNTS and record.get("Code"):
                record["Code"] = pad_code(str(record["Code"]))
            register_extras(self._extras, table, [record])
            state.tables[table].insert(record, state.next_timestamp())
            self._mirror_visit_address(state, table, record, record.keys())
            return dict(record)

    def mutate(self, division: int, table: str, id: str, **fields: Any) -> dict[str, Any]:
        """Change a record as if a user edited it in Exact: bumps its Timestamp and Modified; returns a copy."""
        with self._lock:
            self._changes += 1
            state = self._state(division)
            target = state.tables[table]
            if target.get(id) is None:
                raise KeyError(f"{table} has no record {id} in division {division}")
            changes = dict(fields)
            changes.setdefault("Modified", self.clock.now_datetime())
            if table == model.ACCOUNTS and "Code" in changes:
                changes["Code"] = pad_code(str(changes["Code"]))
            register_extras(self._extras, table, [changes])
            record = target.update(id, changes, state.next_timestamp())
            self._mirror_visit_address(state, table, record, changes.keys())
            if table == model.ACCOUNTS and "Name" in changes:
                self._rename_account(state, id, changes["Name"])
            return dict(record)

    def delete(self, division: int, table: str, id: str, cascade: bool = True) -> None:
        """Delete a record as if a user deleted it in Exact; it appears in ``sync/Deleted``.

        Deleting an account also deletes its addresses, contacts and bank accounts when ``cascade`` is true.
        """
        with self._lock:
            self._changes += 1
            state = self._state(division)
            self._delete(state, table, id, self.default_user, cascade)

    def update_division(self, code: int, **fields: Any) -> None:
        """Change a division's ``system/Divisions`` record (e.g. ``BlockingStatus=1``)."""
        with self._lock:
            self._changes += 1
            state = self._state(code)
            state.record.update(fields)
            if "Description" in fields:
                self._division_names[code] = str(fields["Description"] or "")

    # ------------------------------------------------------------------------------------------------
    # The request handler

    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        read_timeout: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request; returns ``(status, headers, body)``.

        Raises ``ConnectionDropped`` (a fault dropped the connection) or, when ``read_timeout`` is given and a
        hanging answer would outlast it, ``ClientGaveUp`` after waiting ``read_timeout`` seconds.
        """
        parts = urlsplit(url)
        call = _Call(
            method=method.upper(),
            path=unquote(parts.path),
            params=parse_qsl(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in headers.items()},
            body=body or b"",
            base=f"{parts.scheme}://{parts.netloc}",
        )
        try:
            if call.path == "/api/oauth2/auth":
                return self._finish(self._authorize(call))
            is_token = call.path == "/api/oauth2/token"
            faults = self.faults
            applies = faults.active and (not is_token or faults.include_token_endpoint)
            decision = faults.draw() if applies else FaultDecision()
            if applies and faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)  # never under the lock: concurrent callers overlap
            if decision.kind == "drop":
                name, division = ("oauth2/token", None) if is_token else self._endpoint_and_division(call)
                self._log(call, name, division, 0, None)
                raise ConnectionDropped
            if is_token:
                reply = self._token(call, decision)
            elif call.path.startswith(_API_PREFIX):
                reply = self._rest(call, decision)
            else:
                with self._lock:
                    reply = error_reply(404, f"Resource not found for the segment '{call.path.strip('/')}'.")
                    self._log(call, call.path.strip("/"), None, 404, None)
        except (ConnectionDropped, ClientGaveUp):
            raise
        except Exception:
            logger.exception("sandbox: unexpected error answering %s %s", method, urlsplit(url).path)
            return self._finish(error_reply(500, "An error occurred while processing this request."))
        if call.method != "GET":
            with self._lock:
                self._changes += 1
        if decision.kind == "hang":
            wait = faults.hang_seconds
            if read_timeout is not None and wait > read_timeout:
                time.sleep(read_timeout)
                raise ClientGaveUp
            time.sleep(wait)
        return self._finish(reply)

    @staticmethod
    def _finish(reply: Reply) -> tuple[int, dict[str, str], bytes]:
        return reply.status, reply.headers, reply.body

    def _log(self, call: _Call, endpoint: str, division: int | None, status: int, client_id: str | None) -> None:
        with self._lock:
            self.request_log.append(
                LoggedRequest(
                    call.method, call.path, endpoint, division, status, dict(call.params), self.clock.now(), client_id
                )
            )

    def _endpoint_and_division(self, call: _Call) -> tuple[str, int | None]:
        """Endpoint name and URL division of a call that is never answered (dropped before the token is read)."""
        resource = call.path[len(_API_PREFIX) :] if call.path.startswith(_API_PREFIX) else call.path.strip("/")
        if resource.startswith("current/"):
            route = resolve(resource)
            return (route.endpoint.name if route else resource), None
        division_text, _, rest = resource.partition("/")
        route = resolve(rest)
        return (route.endpoint.name if route else rest), (int(division_text) if division_text.isdigit() else None)

    # -- OAuth -----------------------------------------------------------------------------------------

    def _authorize(self, call: _Call) -> Reply:
        with self._lock:
            if call.method == "GET":
                reply = self.oauth.authorize_page(dict(call.params))
            elif call.method == "POST":
                form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
                reply = self.oauth.authorize_submit(form)
            else:
                reply = error_reply(405, "Method not allowed.")
            # The query holds client_id/state only; the POSTed form (with the password) is never logged.
            self._log(call, "oauth2/auth", None, reply.status, dict(call.params).get("client_id"))
            return reply

    def _token(self, call: _Call, decision: FaultDecision) -> Reply:
        with self._lock:
            if call.method != "POST":
                reply = error_reply(405, "Method not allowed.")
            elif decision.kind == "burst":
                reply = empty_reply(429, self.limits.burst_headers(self.clock.now(), self.faults.burst_reset_seconds))
            elif decision.kind == "error":
                reply = error_reply(decision.status, ERROR_MESSAGES[decision.status])
            elif "application/x-www-form-urlencoded" not in call.headers.get("content-type", ""):
                reply = json_reply(
                    400, {"error": "invalid_request", "error_description": "Use application/x-www-form-urlencoded."}
                )
            else:
                form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
                reply = self.oauth.token(form, call.headers.get("authorization"))
            self._log(call, "oauth2/token", None, reply.status, None)
            return reply

    # -- REST ------------------------------------------------------------------------------------------

    def _rest(self, call: _Call, decision: FaultDecision) -> Reply:
        resource = call.path[len(_API_PREFIX) :]
        route: Route | None
        division: int | None = None
        is_me = resource.startswith("current/")
        if is_me:
            route = resolve(resource)
        else:
            division_text, _, rest = resource.partition("/")
            division = int(division_text) if division_text.isdigit() else None
            route = resolve(rest) if division is not None else None
            if route is not None and route.endpoint.kind == "me":
                route = None
        endpoint_name = route.endpoint.name if route else (resource.partition("/")[2] if division else resource)
        with self._lock:
            check = self.oauth.check_bearer(call.headers.get("authorization"))
            if check.grant is None:
                message = (
                    "Unauthorized: no access token."
                    if "authorization" not in call.headers
                    else ("Unauthorized: the access token is not valid.")
                )
                reason = NO_TOKEN if "authorization" not in call.headers else TOKEN_INVALID
                reply = error_reply(401, message, _www_authenticate(reason))
                self._log(call, endpoint_name, division, 401, None)
                return reply
            grant = check.grant
            user = self.oauth.user_by_id(grant.user_id)
            if user is None:
                reply = error_reply(401, "Unauthorized: the user no longer exists.", _www_authenticate(UNKNOWN_USER))
                self._log(call, endpoint_name, division, 401, grant.client_id)
                return reply
            if is_me:
                division = user.current_division
            if division is None:
                reply = error_reply(404, f"Resource not found for the segment '{resource.partition('/')[0]}'.")
                self._log(call, endpoint_name, None, 404, grant.client_id)
                return reply
            reply = self._limited(call, decision, route, division, endpoint_name, grant.client_id, user, check.expired)
            self._log(call, endpoint_name, division, reply.status, grant.client_id)
            return reply

    def _limited(
        self,
        call: _Call,
        decision: FaultDecision,
        route: Route | None,
        division: int,
        endpoint_name: str,
        client_id: str,
        user: SandboxUser,
        expired: bool,
    ) -> Reply:
        now = self.clock.now()
        budget_key = (client_id, division, endpoint_name)
        blocked_until = self.errors.blocked_until(budget_key, now)
        if blocked_until is not None:
            until = datetime.fromtimestamp(blocked_until, tz=UTC).isoformat(timespec="seconds")
            return error_reply(
                403,
                f"Forbidden - too many failed calls to {endpoint_name} in division {division}: "
                f"this endpoint is blocked for this app until {until}.",
                {"Reason": "TooManyErrors", **self.limits.peek((client_id, division), now)},
            )
        if decision.kind == "burst":
            return empty_reply(429, self.limits.burst_headers(now, self.faults.burst_reset_seconds))
        admission = self.limits.admit((client_id, division), now)
        if not admission.allowed:
            return empty_reply(429, admission.headers)
        if expired:
            reply = error_reply(401, "Unauthorized: the access token has expired.", _www_authenticate(TOKEN_EXPIRED))
        elif decision.kind == "unauthorized":
            reply = error_reply(401, "Unauthorized: message expired.", _www_authenticate(MESSAGE_EXPIRED))
        elif decision.kind == "error":
            reply = error_reply(decision.status, ERROR_MESSAGES[decision.status])
        else:
            reply = self._serve(call, route, division, user, now)
        if reply.status in FAILURE_STATUSES or reply.status >= 500:
            self.errors.record_failure(budget_key, now)
        reply.headers.update(admission.headers)
        return reply

    def _serve(self, call: _Call, route: Route | None, division: int, user: SandboxUser, now: float) -> Reply:
        if route is None:
            segment = call.path.rstrip("/").rsplit("/", 1)[-1]
            return error_reply(404, f"Resource not found for the segment '{segment}'.")
        endpoint = route.endpoint
        state = self._divisions.get(division)
        if endpoint.kind != "me":
            refusal = self._division_refusal(user, division, state)
            if refusal is not None:
                return refusal
        if call.method not in endpoint.methods:
            return error_reply(405, "Method not allowed.")
        if endpoint.practice_only and not self._is_practice(division, state):
            return error_reply(
                403, f"Forbidden - {endpoint.name} is only available in an accountancy practice division."
            )
        try:
            reply = self._dispatch(call, route, division, state, user, now)
        except (odata.ODataError, WriteError) as problem:
            reply = error_reply(400, problem.message)
        return reply if _accepts_json(call) else self._as_atom(call, reply)

    def _as_atom(self, call: _Call, reply: Reply) -> Reply:
        """Exact answers a request that does not ask for JSON in Atom XML (exact-evidence.md §8), not with 406."""
        if not reply.headers.get("Content-Type", "").startswith("application/json"):
            return reply
        self_url = call.base + call.path + ("?" + urlencode(call.params) if call.params else "")
        converted = atom.atom_body(reply.body, self_url, self.clock.now_datetime())
        if converted is None:
            return reply
        content_type, body = converted
        return Reply(reply.status, {**reply.headers, "Content-Type": content_type}, body)

    def _dispatch(
        self, call: _Call, route: Route, division: int, state: DivisionState | None, user: SandboxUser, now: float
    ) -> Reply:
        endpoint = route.endpoint
        if endpoint.kind == "me":
            return self._me(call, user)
        assert state is not None  # access was checked
        if endpoint.kind == "process_return":
            return self._process_return(call, division, state, user, now)
        if call.method == "GET":
            if route.count:
                return self._count(call, endpoint, state, user)
            if route.key is not None:
                return self._get_one(call, endpoint, route.key, division, state, user)
            return self._get_collection(call, endpoint, division, state, user)
        if call.method == "POST" and route.key is None:
            return self._create(call, endpoint, division, state, user, now)
        if call.method in ("PUT", "DELETE") and route.key is not None:
            key = str(parse_key(route.key, endpoint))
            if call.method == "PUT":
                return self._update(call, endpoint, key, division, state, user, now)
            table = state.tables[endpoint.table or ""]
            if table.get(key) is None:
                return error_reply(404, f"Resource not found for the segment '{endpoint.name.rsplit('/', 1)[-1]}'.")
            self._delete(state, endpoint.table or "", key, user, cascade=True)
            return empty_reply(204)
        return error_reply(405, "Method not allowed.")

    # -- access ----------------------------------------------------------------------------------------

    def _division_refusal(self, user: SandboxUser, division: int, state: DivisionState | None) -> Reply | None:
        if state is None or division not in self._user_divisions(user) or division in self.data.unconsented_divisions:
            return error_reply(
                403,
                f"Forbidden - no access to division {division} for this user and app.",
                {"Reason": "NoDivisionAccess"},
            )
        blocking = state.record.get("BlockingStatus") or 0
        if blocking:
            return error_reply(
                403,
                f"Forbidden - division {division} is blocked (BlockingStatus {blocking}).",
                {"Reason": "DivisionBlocked"},
            )
        return None

    def _user_divisions(self, user: SandboxUser) -> frozenset[int]:
        entry = self._user_division_cache.get(user.user_id)
        if entry is None or entry[0] != len(user.divisions):
            entry = (len(user.divisions), frozenset(user.divisions))
            self._user_division_cache[user.user_id] = entry
        return entry[1]

    def _is_practice(self, division: int, state: DivisionState | None) -> bool:
        return division == self.data.office_division or bool(state and state.record.get("IsPracticeDivision"))

    def _state(self, division: int) -> DivisionState:
        state = self._divisions.get(division)
        if state is None:
            raise KeyError(f"no division {division} in the sandbox")
        return state

    # -- reads -------------------------------------------------------------------------------------------

    def _properties(self, endpoint: Endpoint) -> dict[str, str]:
        extras = self._extras.get(endpoint.table or _EXTRAS_KEY.get(endpoint.kind, ""), {})
        cached = self._properties_cache.get(endpoint.name)
        if cached is not None and cached[0] == len(extras):
            return cached[1]
        properties = dict(endpoint.properties)
        for name, edm_type in extras.items():
            properties.setdefault(name, edm_type)
        self._properties_cache[endpoint.name] = (len(extras), properties)
        return properties

    def _options(self, call: _Call, endpoint: Endpoint) -> query.QueryOptions:
        return query.parse_options(call.params, self._properties(endpoint), endpoint.entity_type, endpoint.navigation)

    def _uri_prefix(self, call: _Call, endpoint: Endpoint, division: int) -> str:
        if endpoint.kind == "me":
            return f"{call.base}/api/v1/current/Me"
        return f"{call.base}/api/v1/{division}/{endpoint.name}"

    def _shape_all(
        self, call: _Call, endpoint: Endpoint, division: int, records: list[Any], select: list[str] | None
    ) -> list[dict[str, Any]]:
        properties = self._properties(endpoint)
        fields = query.converters(properties, select or list(properties))
        prefix = self._uri_prefix(call, endpoint, division)
        return [
            query.shape(record, fields, endpoint.entity_type, prefix, endpoint.key_field, endpoint.key_type)
            for record in records
        ]

    def _expand(
        self,
        call: _Call,
        endpoint: Endpoint,
        division: int,
        state: DivisionState,
        records: list[Any],
        shaped: list[dict[str, Any]],
        options: query.QueryOptions,
    ) -> None:
        """Fill each ``$expand``-ed navigation property with its related rows, as ``{"results": [...]}``."""
        for name, select in options.expand.items():
            target_name, foreign_key = endpoint.navigation[name]
            target = ENDPOINTS[target_name]
            known = list(self._properties(target))
            chosen = odata.parse_select(",".join(select), known, target.entity_type) if select else None
            related: dict[Any, list[Any]] = {}
            for row in state.tables[target.table or ""].records.values():
                related.setdefault(row.get(foreign_key), []).append(row)
            for record, row in zip(records, shaped, strict=True):
                children = sorted(related.get(record.get(endpoint.key_field), []), key=lambda r: str(r.get("ID")))
                row[name] = {"results": self._shape_all(call, target, division, children, chosen)}

    def _ordered(
        self, endpoint: Endpoint, state: DivisionState, user: SandboxUser, options: query.QueryOptions
    ) -> tuple[Callable[[Any], Iterator[tuple[Any, Any]]], Any]:
        """The record source of an endpoint in its natural order, and the start position."""
        if endpoint.kind in ("divisions", "all_divisions"):
            codes = self._all_division_codes if endpoint.kind == "all_divisions" else self._visible_divisions(user)
            wanted = [value for name, value in query.index_terms(options, self._properties(endpoint)) if name == "Code"]
            if wanted:
                # `Code eq N` (joined by a top-level `and`): only that division can match; the whole filter is still
                # applied to it. Scanning 20,000 divisions per call made a filtered read cost 40 ms here.
                position = bisect.bisect_left(codes, wanted[0])
                codes = codes[position : position + 1] if codes[position : position + 1] == [wanted[0]] else []

            def divisions_after(after: Any) -> Iterator[tuple[Any, Any]]:
                start = 0 if after is None else bisect.bisect_right(codes, after)
                for code in codes[start:]:
                    record = self._divisions[code].record
                    yield code, {**record, "Code": code, "Current": code == user.current_division}

            return divisions_after, None
        if endpoint.kind in ("sync", "deleted"):
            table = state.deleted if endpoint.kind == "deleted" else state.tables[endpoint.table or ""]
            cursor = options.filter.timestamp_cursor() if options.filter is not None else None
            # sync/Deleted forgets what is older than two months.
            forgotten = self.clock.now_datetime() - timedelta(days=DELETED_LOG_DAYS)

            def changed_after(after: Any) -> Iterator[tuple[Any, Any]]:
                for record in table.changed_after(int(after or 0)):
                    if endpoint.kind == "deleted" and record["DeletedDate"] < forgotten:
                        continue
                    yield record["Timestamp"], record

            return changed_after, cursor
        entity_table = state.tables[endpoint.table or ""]
        terms = query.index_terms(options, self._properties(endpoint))

        def by_key(after: Any) -> Iterator[tuple[Any, Any]]:
            keys = entity_table.candidate_keys(terms, after) if terms else None
            records = entity_table.records
            for key in keys if keys is not None else entity_table.keys_after(after):
                record = records.get(key)
                if record is not None:
                    yield key, record

        return by_key, None

    def _visible_divisions(self, user: SandboxUser) -> list[int]:
        """Accessible and consented division codes, sorted (cached: paging 20,000 divisions must not re-sort)."""
        unconsented = self.data.unconsented_divisions
        signature = (len(user.divisions), tuple(sorted(unconsented)))
        cached = self._visible_cache.get(user.user_id)
        if cached is None or cached[0] != signature:
            accessible = self._user_divisions(user)
            codes = sorted(code for code in accessible if code in self._divisions and code not in unconsented)
            cached = (signature, codes)
            self._visible_cache[user.user_id] = cached
        return cached[1]

    def _get_collection(
        self, call: _Call, endpoint: Endpoint, division: int, state: DivisionState, user: SandboxUser
    ) -> Reply:
        options = self._options(call, endpoint)
        query.enforce_rules(endpoint, options, self.evidence)
        ordered, start = self._ordered(endpoint, state, user, options)
        page, fingerprint = query.fetch_page(endpoint, division, options, ordered, start)
        rows = self._shape_all(call, endpoint, division, page.rows, options.select)
        self._expand(call, endpoint, division, state, page.rows, rows, options)
        payload: dict[str, Any] = {"results": rows}
        if page.count is not None:
            payload["__count"] = str(page.count)
        if page.next_position is not None:
            payload["__next"] = query.next_link(
                call.base, call.path, endpoint, options, page.next_position, page.served_after, fingerprint
            )
        return json_reply(200, {"d": payload})

    def _count(self, call: _Call, endpoint: Endpoint, state: DivisionState, user: SandboxUser) -> Reply:
        """``…/$count``: the number of records the ``$filter`` selects, as plain text (the .NET SDK's Count())."""
        options = self._options(call, endpoint)
        query.enforce_rules(endpoint, options, self.evidence, counting=True)
        ordered, start = self._ordered(endpoint, state, user, options)
        count = query.count_matches(options, ordered, start)
        return Reply(200, {"Content-Type": "text/plain;charset=utf-8"}, str(count).encode())

    def _get_one(
        self, call: _Call, endpoint: Endpoint, raw_key: str, division: int, state: DivisionState, user: SandboxUser
    ) -> Reply:
        if endpoint.kind not in ("entity", "divisions", "all_divisions"):
            return error_reply(405, "Method not allowed.")
        key = parse_key(raw_key, endpoint)
        options = self._options(call, endpoint)
        record: Any = None
        if endpoint.kind == "entity":
            record = state.tables[endpoint.table or ""].get(str(key))
        else:
            codes = self._all_division_codes if endpoint.kind == "all_divisions" else self._visible_divisions(user)
            if key in codes:
                record = {**self._divisions[int(key)].record, "Code": key, "Current": key == user.current_division}
        if record is None:
            return error_reply(404, f"Resource not found for the segment '{endpoint.name.rsplit('/', 1)[-1]}'.")
        shaped = self._shape_all(call, endpoint, division, [record], options.select)
        self._expand(call, endpoint, division, state, [record], shaped, options)
        return json_reply(200, {"d": shaped[0]})

    def _me(self, call: _Call, user: SandboxUser) -> Reply:
        endpoint = ENDPOINTS["current/Me"]
        options = self._options(call, endpoint)
        current = self._divisions.get(user.current_division)
        division_record = current.record if current else {}
        first, _, last = user.full_name.partition(" ")
        record = {
            "UserID": user.user_id,
            "AccountingDivision": self.data.office_division,
            "CurrentDivision": user.current_division,
            "DivisionCustomer": division_record.get("Customer"),
            "DivisionCustomerCode": division_record.get("CustomerCode"),
            "DivisionCustomerName": division_record.get("CustomerName"),
            "DivisionCustomerVatNumber": division_record.get("VATNumber"),
            "Email": user.email,
            "FirstName": first,
            "LastName": last,
            "FullName": user.full_name,
            "UserName": user.username,
            "LanguageCode": "nl-NL",
            "Legislation": "NL0001",
            "PackageCode": "ACC",
            "IsClientUser": False,
            "IsEmployeeSelfServiceUser": False,
            "IsMyFirmLiteUser": False,
            "IsMyFirmPortalUser": False,
            "IsOEIMigrationMandatory": False,
            "IsStarterUser": False,
            "ServerTime": self.clock.now_datetime().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "ServerUtcOffset": 0.0,
        }
        rows = self._shape_all(call, endpoint, user.current_division, [record], options.select)
        return json_reply(200, {"d": {"results": rows}})

    # -- writes ------------------------------------------------------------------------------------------

    def _json_body(self, call: _Call) -> Any:
        if "application/json" not in call.headers.get("content-type", ""):
            raise WriteError("Error processing request stream. Send the body as application/json.")
        try:
            return json.loads(call.body or b"null")
        except ValueError:
            raise WriteError("Error processing request stream. The request body is not valid JSON.") from None

    def _rules(self, state: DivisionState, division: int) -> WriteRules:
        return WriteRules(state.tables, division, self._division_names)

    def _create(
        self, call: _Call, endpoint: Endpoint, division: int, state: DivisionState, user: SandboxUser, now: float
    ) -> Reply:
        table_name = endpoint.table or ""
        properties = self._properties(endpoint)
        values = self._writable(
            endpoint, coerce_body(self._json_body(call), properties, endpoint.entity_type, endpoint.key_field)
        )
        moment = datetime.fromtimestamp(now, tz=UTC)
        record = self._rules(state, division).prepare_create(table_name, values, user, moment)
        record.update({"Modified": moment, "Modifier": user.user_id, "ModifierFullName": user.full_name})
        state.tables[table_name].insert(record, state.next_timestamp())
        self._mirror_visit_address(state, table_name, record, values.keys())
        shaped = self._shape_all(call, endpoint, division, [record], None)[0]
        return json_reply(201, {"d": shaped})

    def _update(
        self,
        call: _Call,
        endpoint: Endpoint,
        key: str,
        division: int,
        state: DivisionState,
        user: SandboxUser,
        now: float,
    ) -> Reply:
        table_name = endpoint.table or ""
        table = state.tables[table_name]
        current = table.get(key)
        if current is None:
            return error_reply(404, f"Resource not found for the segment '{endpoint.name.rsplit('/', 1)[-1]}'.")
        values = self._writable(
            endpoint,
            coerce_body(self._json_body(call), self._properties(endpoint), endpoint.entity_type, endpoint.key_field),
        )
        changes = self._rules(state, division).prepare_update(table_name, key, current, values)
        moment = datetime.fromtimestamp(now, tz=UTC)
        changes.update({"Modified": moment, "Modifier": user.user_id, "ModifierFullName": user.full_name})
        record = table.update(key, changes, state.next_timestamp())
        self._mirror_visit_address(state, table_name, record, changes.keys())
        if table_name == model.ACCOUNTS and "Name" in changes:
            self._rename_account(state, key, changes["Name"])
        return empty_reply(204)

    def _writable(self, endpoint: Endpoint, values: dict[str, Any]) -> dict[str, Any]:
        """The body without the properties Exact skips silently: the GET-only ones (when the evidence knob says
        so) and any named in ``Evidence.skipped_writes`` for this endpoint (a writable one Exact did not take)."""
        skipped = {name for resource, name in self.evidence.skipped_writes if resource == endpoint.name}
        if self.evidence.read_only_ignored:
            skipped.update(endpoint.read_only_on_write)
        return {name: value for name, value in values.items() if name not in skipped}

    def _mirror_visit_address(
        self, state: DivisionState, table_name: str, record: dict[str, Any], changed: Iterable[str]
    ) -> None:
        """Keep an account's address fields and its main visit address (Type 1) in step, as Exact does."""
        fields = [name for name in _VISIT_FIELDS if name in set(changed)]
        if not fields:
            return
        now = self.clock.now_datetime()
        if table_name == model.ACCOUNTS:
            addresses = state.tables[model.ADDRESSES]
            target = next(
                (
                    key
                    for key in addresses.candidate_keys([("Account", record["ID"])], None) or []
                    if addresses.records[key].get("Type") == 1 and addresses.records[key].get("Main")
                ),
                None,
            )
            if target is None:
                if any(record.get(name) for name in fields):
                    visit = {
                        "ID": str(uuid.uuid4()),
                        "Account": record["ID"],
                        "AccountName": record.get("Name"),
                        "Type": 1,
                        "Main": True,
                        **{name: record.get(name) for name in _VISIT_FIELDS},
                        "Division": state.code,
                        "Created": now,
                        "Modified": now,
                    }
                    addresses.insert(visit, state.next_timestamp())
                return
            current = addresses.records[target]
            updates = {name: record.get(name) for name in fields if current.get(name) != record.get(name)}
            if updates:
                addresses.update(target, {**updates, "Modified": now}, state.next_timestamp())
        elif table_name == model.ADDRESSES and record.get("Type") == 1 and record.get("Main"):
            accounts = state.tables[model.ACCOUNTS]
            account = accounts.get(record.get("Account") or "")
            if account is None:
                return
            updates = {name: record.get(name) for name in fields if account.get(name) != record.get(name)}
            if updates:
                accounts.update(account["ID"], {**updates, "Modified": now}, state.next_timestamp())

    def _rename_account(self, state: DivisionState, account: str, name: Any) -> None:
        # Exact joins AccountName at read time: related rows show the new name without a new Timestamp.
        for related in (model.ADDRESSES, model.CONTACTS, model.BANK_ACCOUNTS, model.SOLUTION_LINKS):
            table = state.tables[related]
            for key in table.candidate_keys([("Account", account)], None) or []:
                table.records[key]["AccountName"] = name

    def _delete(self, state: DivisionState, table_name: str, key: str, user: SandboxUser, cascade: bool) -> None:
        table = state.tables[table_name]
        if table.get(key) is None:
            raise KeyError(f"{table_name} has no record {key} in division {state.code}")
        if cascade and table_name == model.ACCOUNTS:
            for related in (model.ADDRESSES, model.CONTACTS, model.BANK_ACCOUNTS):
                for related_key in list(state.tables[related].candidate_keys([("Account", key)], None) or []):
                    self._delete(state, related, related_key, user, cascade=False)
        table.remove(key)
        entity_type = DELETED_ENTITY_TYPES.get(table_name)
        if entity_type is not None:
            entry = {
                "ID": str(uuid.uuid4()),
                "EntityKey": key,
                "EntityType": entity_type,
                "DeletedBy": user.user_id,
                "DeletedDate": self.clock.now_datetime(),
                "Division": state.code,
                "FullName": user.full_name,
            }
            state.deleted.insert(entry, state.next_timestamp())

    def _process_return(self, call: _Call, division: int, state: DivisionState, user: SandboxUser, now: float) -> Reply:
        endpoint = ENDPOINTS["financial/ProcessReturn"]
        body = self._json_body(call)
        raw_request = body.get("Request") if isinstance(body, dict) else None
        values = coerce_body(body, endpoint.properties, endpoint.entity_type, key_field="")
        request, status = values.get("Request"), values.get("Status")
        if not request:
            raise WriteError("Request: mandatory.")
        if status is None:
            raise WriteError("Status: mandatory.")
        if status not in (5, 50):
            raise WriteError(f"Status: {status} is not allowed; use 5 (rejected) or 50 (processed).")
        returns = state.tables[model.RETURNS]
        target = None
        for key in returns.candidate_keys([("Request", request)], None) or []:
            record = returns.records[key]
            if record.get("Type") in (31, 32) and record.get("Status") == 40:
                target = key
                break
        if target is None:
            raise WriteError(f"No returns found for document id '{raw_request}' with status 40")
        if self.evidence.manual_approval_only and (division, str(target).lower()) in self._sent_otherwise:
            raise WriteError(NOT_MANUAL_APPROVAL)
        moment = datetime.fromtimestamp(now, tz=UTC)
        returns.update(target, {"Status": status, "Modified": moment}, state.next_timestamp())
        result = {
            "__metadata": {
                "uri": f"{call.base}/api/v1/{division}/financial/ProcessReturn(guid'{request}')",
                "type": endpoint.entity_type,
            },
            "Request": request,
            "Status": status,
            "Processed": True,
        }
        return json_reply(201, {"d": result})


def _accepts_json(call: _Call) -> bool:
    if "application/json" in call.headers.get("accept", "").lower():
        return True
    return any(name == "$format" and value.lower() == "json" for name, value in call.params)
