"""``exactlink doctor``: what an office checks first against its real Exact Online, read-only.

The checks, in order, each ending ``ok``, ``warn``, ``refused`` (Exact said no, with its message),
``fallback`` (the preferred form was refused and the fallback works), ``failed`` or ``skipped``:

1. configuration: an app is configured, its secret is available, the site is https, the redirect URI is one
   Exact's App Center accepts (https only since July 2021: an http loopback address may be refused there);
2. login: logged in, where the tokens are kept (keyring or the 0600 file), access and refresh token health;
3. clock: the server's ``Date`` header against this machine's clock (token expiry and windows rely on it);
4. access: the office administration and one client administration (the first linked one), visible and
   consented, each read with one filtered ``system/Divisions`` call: the cost does not grow with the number
   of administrations;
5. probes: one smallest-page call (``$top=1``) of every endpoint × ``$select`` × ``$filter`` form exactlink
   uses, in the office administration and in one client administration. After an endpoint's first refusal
   only its fallback form is tried, so the whole run costs at most one failed call per endpoint and
   administration (Exact blocks an app after ten in an hour). What works is stored per endpoint form
   (``exactlink.api.forms``), and ``fetch-returns`` takes the fallback the tenant needs from then on.

Nothing is written to Exact Online.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from exactlink.api.client import ExactClient
    from exactlink.workspace import Workspace

log = logging.getLogger(__name__)

OK, WARN, REFUSED, FALLBACK, FAILED, SKIPPED = "ok", "warn", "refused", "fallback", "failed", "skipped"
CLOCK_SKEW_WARNING = timedelta(seconds=60)
# A GUID that names no record: a filter on it is valid and answers an empty page.
NO_RECORD = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    area: str
    name: str
    status: str
    detail: str = ""
    hint: str | None = None


@dataclass
class DoctorReport:
    """Every check in order; ``forms`` is what was learned per probed endpoint form (``ok`` or the fallback)."""

    checks: list[Check] = field(default_factory=list)
    forms: dict[str, str] = field(default_factory=dict)
    failed_calls: int = 0
    recording: str | None = None

    def add(self, area: str, name: str, status: str, detail: str = "", hint: str | None = None) -> Check:
        """Record one check and return it."""
        check = Check(area, name, status, detail, hint)
        self.checks.append(check)
        return check

    @property
    def healthy(self) -> bool:
        """No check failed or was refused without a working fallback."""
        return not any(check.status in (FAILED, REFUSED) for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        """The report for ``--json``."""
        return {
            "healthy": self.healthy,
            "checks": [asdict(check) for check in self.checks],
            "forms": self.forms,
            "failed_calls": self.failed_calls,
            "recording": self.recording,
        }


@dataclass(frozen=True)
class Form:
    """One way exactlink reads an endpoint: ``$select`` and ``$filter`` (made at run time from the clock).

    ``fallback`` names the form (same table) to use when this one is refused; ``scope`` says in which
    administration it is read: ``me`` (none), ``office`` or ``client``.
    """

    name: str
    scope: str
    endpoint: str
    select: Callable[[], list[str] | str]
    filter: Callable[[datetime], str | None] = lambda now: None
    fallback: str | None = None
    is_fallback: bool = False


def _forms() -> tuple[Form, ...]:
    from exactlink.api import forms
    from exactlink.api.models import Division, Me, SolutionLink
    from exactlink.api.odata import datetime_literal, exact_day, guid_literal
    from exactlink.services import office_mirror, returns_fetch

    def since_timestamp(now: datetime) -> str:
        return "Timestamp gt 1L"

    def sync_form(name: str, endpoint: str, entity: str) -> Form:
        return Form(name, "office", endpoint, lambda: office_mirror.select_fields(entity), since_timestamp)

    gl_sync = forms.GL_ACCOUNTS_SYNC_PATH
    lines_sync = forms.TRANSACTION_LINES_SYNC_PATH
    return (
        Form("who is logged in", "me", "current/Me", Me.select),
        Form("administrations", "office", "system/Divisions", Division.select),
        Form("all administrations", "office", "system/AllDivisions", Division.select),
        sync_form("accounts (sync)", "sync/CRM/Accounts", office_mirror.ACCOUNTS),
        sync_form("addresses (sync)", "sync/CRM/Addresses", office_mirror.ADDRESSES),
        sync_form("contacts (sync)", "sync/CRM/Contacts", office_mirror.CONTACTS),
        Form(
            "bank accounts (changed since)",
            "office",
            office_mirror.BANK_ACCOUNTS_ENDPOINT,
            lambda: office_mirror.select_fields(office_mirror.BANK_ACCOUNTS),
            lambda now: f"Modified ge {datetime_literal((now - timedelta(days=1)).replace(microsecond=0))}",
        ),
        Form(
            "deleted records",
            "office",
            office_mirror.DELETED_ENDPOINT,
            lambda: "EntityKey,EntityType,Timestamp",
            since_timestamp,
        ),
        Form("SolutionLinks", "office", "accountancy/SolutionLinks", SolutionLink.select),
        Form(
            forms.RETURNS_CREATED,
            "client",
            returns_fetch.RETURNS_PATH,
            returns_fetch.return_select,
            lambda now: f"Created ge {datetime_literal(exact_day(now - timedelta(days=30)))}",
            fallback=forms.RETURNS_ALL,
        ),
        Form(forms.RETURNS_ALL, "client", returns_fetch.RETURNS_PATH, returns_fetch.return_select, is_fallback=True),
        Form(
            forms.RETURN_BY_ID,
            "client",
            returns_fetch.RETURNS_PATH,
            returns_fetch.return_select,
            lambda now: f"DocumentID eq {guid_literal(NO_RECORD)}",
            fallback=forms.RETURNS_ALL,
        ),
        Form(
            forms.GL_ACCOUNTS_SYNC,
            "client",
            gl_sync,
            lambda: returns_fetch.GL_ACCOUNT_SELECT,
            since_timestamp,
        ),
        Form(
            forms.LINES_SYNC,
            "client",
            lines_sync,
            lambda: returns_fetch.TRANSACTION_LINE_SELECT + ",Timestamp",
            since_timestamp,
        ),
    )


def run_doctor(ws: Workspace, *, record: Path | None = None) -> DoctorReport:
    """Run every check (see the module docstring); stores what the probes learned.

    ``record``: a directory where every call and answer is saved, scrubbed, as a vcrpy cassette
    (``doctor-<UTC time>.json``, JSON serializer) with the report beside it, for the office to send on.
    """
    report = DoctorReport()
    ready = _configuration(ws, report)
    if ready:
        ready = _login(ws, report)
    if not ready:
        report.add("probes", "Exact Online", SKIPPED, "no login to probe with")
        return report
    seen: list[httpx.Response] = []
    client = _recording_client(ws, seen, bodies=record is not None)
    # One moment for the probes' filters and the recording's stamp, so a replay rebuilds the same filters.
    now = ws.clock.now()
    try:
        office, clients = _access(ws, client, report)
        _clock(ws, seen, report)
        _probe_all(client, report, office, clients[:1], now)
    finally:
        client.close()
    if record is not None:
        from exactlink.errors import UsageError

        try:
            report.recording = str(_write_cassette(record, seen, report, now))
        except OSError as problem:
            raise UsageError(f"cannot write the recording in {record}: {problem.strerror or problem}") from None
    if report.forms:
        from exactlink.services.returns_fetch import remember_forms

        remember_forms(ws.db, report.forms, now=ws.clock.now())
    return report


# -- configuration and login ---------------------------------------------------------------------------


def _configuration(ws: Workspace, report: DoctorReport) -> bool:
    import httpx

    from exactlink.errors import ConfigError
    from exactlink.services.session import client_secret
    from exactlink.urls import insecure_url_problem

    exact = ws.settings.exact
    if not exact.client_id.strip():
        report.add(
            "configuration",
            "app registration",
            FAILED,
            "exact.client_id is empty",
            "register the app in the Exact App Center, then set client_id under [exact] in config.toml",
        )
        return False
    report.add("configuration", "app registration", OK, f"client id {exact.client_id.strip()}")
    try:
        client_secret(ws.token_store())
        report.add("configuration", "client secret", OK, "available")
    except ConfigError as problem:
        report.add("configuration", "client secret", FAILED, problem.message, problem.hint)
        return False
    insecure = insecure_url_problem(exact.effective_base_url)
    if insecure is None:
        report.add("configuration", "site", OK, exact.effective_base_url)
    else:
        report.add("configuration", "site", FAILED, f"{exact.effective_base_url} {insecure}", "use the https address")
    redirect = httpx.URL(exact.redirect_uri)
    if redirect.scheme == "https":
        report.add("configuration", "redirect URI", OK, f"{exact.redirect_uri} (register exactly this address)")
    else:
        report.add(
            "configuration",
            "redirect URI",
            WARN,
            f"{exact.redirect_uri} is http: Exact's App Center has required https redirect URIs since July 2021",
            "if the App Center refuses it, register an https address and set exact.redirect_uri to it",
        )
    return True


def _login(ws: Workspace, report: DoctorReport) -> bool:
    from exactlink.services.status import login_status

    status = login_status(ws)
    storage = status.get("token_storage") or {}
    where = f"{storage.get('kind')} ({storage.get('location')})" if storage else "unknown"
    if not status["logged_in"]:
        report.add("login", "logged in", FAILED, f"no usable login (tokens: {where})", "run `exactlink login`")
        return False
    user = status.get("user") or {}
    who = user.get("username") or user.get("full_name") or "yes"
    report.add("login", "logged in", OK, f"{who}; tokens in {where}")
    refresh = status["refresh_token"]
    if refresh["expires_soon"]:
        report.add(
            "login",
            "refresh token",
            WARN,
            f"expires in {refresh['days_left']} days unless exactlink talks to Exact before then",
            "any run renews it; or run `exactlink login`",
        )
    else:
        report.add("login", "refresh token", OK, f"{refresh['days_left']} days left (renewed by every run)")
    return True


def _recording_client(ws: Workspace, seen: list[httpx.Response], *, bodies: bool) -> ExactClient:
    """The workspace's client, with every answer kept in ``seen`` (the clock check reads its ``Date``).

    Only with ``bodies`` (``--record``) is an answer read here in full to keep it; otherwise it goes to the
    client unread, so the client's streamed answer-size limit still applies.
    """
    import httpx

    from exactlink.api.tls import verified_context

    inner = ws.transport or httpx.HTTPTransport(verify=verified_context())

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            answer = inner.handle_request(request)
            if not bodies:
                seen.append(answer)
                return answer
            try:
                body = answer.read()
            finally:
                answer.close()
            # A fresh, fully read answer: the client reads it as usual and the recording keeps it.
            response = httpx.Response(answer.status_code, headers=answer.headers, content=body, request=request)
            seen.append(response)
            return response

        def close(self) -> None:
            inner.close()

    previous = ws.transport
    ws.transport = Recording()
    try:
        return ws.client()
    finally:
        ws.transport = previous


def _scrubbed_url(url: httpx.URL) -> str:
    """``url`` with its path and each query value scrubbed as decoded text: scrubbing the encoded form would
    read ``%20`` before a division code (``Code%20eq%201469682``) as part of a nine-digit number."""
    from urllib.parse import quote, urlencode

    from exactlink.domain.scrub import scrub_text

    params = [(name, scrub_text(value)) for name, value in url.params.multi_items()]
    query = urlencode(params, quote_via=quote, safe="$,'()")
    return str(url.copy_with(path=scrub_text(url.path), query=query.encode()))


def _write_cassette(directory: Path, seen: list[httpx.Response], report: DoctorReport, now: datetime) -> Path:
    """Save the calls as a vcrpy cassette (JSON serializer), scrubbed, and the report beside it; 0600 files."""
    import json

    from exactlink.domain.scrub import scrub_text, scrub_value
    from exactlink.paths import write_private_atomically

    interactions = []
    for response in seen:
        request = response.request
        text = response.content.decode("utf-8", "replace")
        try:
            text = json.dumps(scrub_value(json.loads(text)), ensure_ascii=False) if text else text
        except ValueError:
            text = scrub_text(text)
        kept = ("accept", "content-type", "user-agent")
        interactions.append(
            {
                "request": {
                    "body": "",
                    "headers": {name: [value] for name, value in request.headers.items() if name.lower() in kept},
                    "method": request.method,
                    "uri": _scrubbed_url(request.url),
                },
                "response": {
                    "status": {"code": response.status_code, "message": response.reason_phrase},
                    "headers": {
                        name: [value]
                        for name, value in response.headers.items()
                        if name.lower() not in ("set-cookie", "content-length", "content-encoding")
                    },
                    "body": {"string": text},
                },
            }
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    cassette = directory / f"doctor-{stamp}.json"
    write_private_atomically(cassette, json.dumps({"interactions": interactions, "version": 1}, indent=1).encode())
    summary = {**report.as_json(), "recorded_at": now.astimezone(UTC).isoformat(timespec="seconds")}
    write_private_atomically(directory / f"doctor-{stamp}.report.json", json.dumps(summary, indent=1).encode())
    return cassette


# -- clock and access ----------------------------------------------------------------------------------


def _clock(ws: Workspace, seen: list[httpx.Response], report: DoctorReport) -> None:
    dated = next((response for response in seen if response.headers.get("Date")), None)
    if dated is None:
        report.add("clock", "server time", SKIPPED, "Exact's answers carried no Date header")
        return
    try:
        server = parsedate_to_datetime(dated.headers["Date"]).astimezone(UTC)
    except (TypeError, ValueError):
        report.add("clock", "server time", SKIPPED, f"unreadable Date header {dated.headers['Date']!r}")
        return
    skew = ws.clock.now() - server
    seconds = abs(skew.total_seconds())
    if abs(skew) > CLOCK_SKEW_WARNING:
        ahead = "ahead of" if skew.total_seconds() > 0 else "behind"
        report.add(
            "clock",
            "server time",
            WARN,
            f"this machine is {seconds:.0f} s {ahead} Exact Online",
            "set the machine's clock right (NTP): token refreshes and the returns window depend on it",
        )
    else:
        report.add("clock", "server time", OK, f"within {max(seconds, 1):.0f} s of Exact Online")


def _access(ws: Workspace, client: ExactClient, report: DoctorReport) -> tuple[int | None, list[int]]:
    """The office administration and one client administration to probe, each read with one filtered call.

    A listing of every division would cost a call per 60 administrations (~670 at 20,000 clients); doctor asks
    ``system/Divisions`` for exactly the administration it checks (``Code eq N``: visible *and* consented), and
    ``system/AllDivisions`` only to explain one that is not. The client administration is the first linked one,
    else any other the login sees (``$top=1``); the rest are checked as ``fetch-returns`` reads them.
    """
    from exactlink.api.errors import ApiError
    from exactlink.store.links import list_administration_links
    from exactlink.store.meta import get_office

    office = get_office(ws.db)
    if office is None:
        report.add("access", "office administration", FAILED, "none selected", "run `exactlink tenant select`")
        return None, []
    try:
        found = _division(client, office.division, office.division)
        why = None if found is not None else _why_not_visible(client, office.division, office.division)
    except ApiError as problem:
        report.add("access", "office administration", REFUSED, problem.message)
        return None, []
    if found is None:
        report.add("access", "office administration", FAILED, f"{office.division}: {why}")
        return None, []
    report.add("access", "office administration", OK, f"{office.division} {office.name}")
    linked = sorted({link.division for link in list_administration_links(ws.db)})
    try:
        return office.division, _client_access(client, report, office.division, linked)
    except ApiError as problem:
        report.add("access", "client administrations", REFUSED, problem.message)
        return office.division, []


def _division(client: ExactClient, office: int, code: int) -> Any:
    """``system/Divisions`` of ``code`` (one filtered call), or None when this login does not see it."""
    from exactlink.api.models import Division

    row = client.get_first(office, "system/Divisions", select=Division.select(), filter=f"Code eq {int(code)}")
    return None if row is None else Division.parse_all([row])[0]


def _why_not_visible(client: ExactClient, office: int, code: int) -> str:
    """Why ``code`` is not in ``system/Divisions``: no consent (it is in ``system/AllDivisions``) or no access."""
    from exactlink.api.models import Division

    row = client.get_first(office, "system/AllDivisions", select=Division.select(), filter=f"Code eq {int(code)}")
    return "no consent for this app" if row is not None else "not visible to this login at all"


def _client_access(client: ExactClient, report: DoctorReport, office: int, linked: list[int]) -> list[int]:
    """Check the first linked client administration; returns the one to probe (another one if it is not usable)."""
    if not linked:
        report.add("access", "client administrations", WARN, "none linked yet", "link them with `exactlink link-admin`")
        return _any_client(client, office)
    first, others = linked[0], len(linked) - 1
    rest = f"; the other {others} are checked as fetch-returns reads them" if others else ""
    found = _division(client, office, first)
    if found is not None and not found.BlockingStatus:
        report.add("access", "client administrations", OK, f"{first} usable (first of {len(linked)} linked){rest}")
        return [first]
    why = "blocked in Exact Online" if found is not None else _why_not_visible(client, office, first)
    report.add(
        "access",
        "client administrations",
        WARN,
        f"{first} (first of {len(linked)} linked): {why}{rest}",
        "give the app consent for it in Exact Online (or unlink it with `exactlink link-admin unlink`)",
    )
    return _any_client(client, office)


def _any_client(client: ExactClient, office: int) -> list[int]:
    """Some usable client administration to probe (``$top=1``), when no linked one is."""
    from exactlink.api.models import Division

    row = client.get_first(
        office, "system/Divisions", select=Division.select(), filter=f"Code ne {office} and BlockingStatus eq 0"
    )
    return [] if row is None else [Division.parse_all([row])[0].Code]


# -- probes --------------------------------------------------------------------------------------------


def _probe_all(
    client: ExactClient, report: DoctorReport, office: int | None, clients: list[int], now: datetime
) -> None:
    forms = {form.name: form for form in _forms()}
    scopes: dict[str, list[int | None]] = {
        "me": [None],
        "office": [office] if office is not None else [],
        "client": list(clients),
    }
    for scope, divisions in scopes.items():
        if not divisions:
            report.add("probes", f"{scope} administration", SKIPPED, "no administration to probe")
        for division in divisions:
            _probe_scope(client, report, forms, scope, division, now)


def _probe_scope(
    client: ExactClient, report: DoctorReport, forms: dict[str, Form], scope: str, division: int | None, now: datetime
) -> None:
    """Every form of ``scope`` in ``division``; after an endpoint's first refusal only its fallback is tried."""
    refused_endpoints: set[str] = set()
    for form in forms.values():
        if form.scope != scope or form.is_fallback:
            continue
        if form.endpoint in refused_endpoints:
            report.add("probes", form.name, SKIPPED, f"{form.endpoint} already refused once")
            continue
        where = f"{form.endpoint} in {division}" if division is not None else form.endpoint
        problem = _probe(client, division, form, now)
        if problem is None:
            report.add("probes", form.name, OK, where)
            report.forms[form.name] = form.name
            continue
        report.failed_calls += 1
        refused_endpoints.add(form.endpoint)
        fallback = forms.get(form.fallback or "")
        if fallback is None:
            report.add("probes", form.name, REFUSED, f"{where}: {problem}")
            continue
        second = _probe(client, division, fallback, now)
        if second is None:
            report.add(
                "probes", form.name, FALLBACK, f"{where}: {problem} → {fallback.name} ({fallback.endpoint}) works"
            )
            report.forms[form.name] = fallback.name
        else:
            report.failed_calls += 1
            report.add("probes", form.name, REFUSED, f"{where}: {problem}; the fallback {fallback.name} too: {second}")


def _probe(client: ExactClient, division: int | None, form: Form, now: datetime) -> str | None:
    """One smallest-page call of ``form``; None when Exact answered, else Exact's message."""
    from exactlink.api.errors import ApiError

    try:
        pages = client.get_pages(division, form.endpoint, select=form.select(), filter=form.filter(now), top=1)
        next(iter(pages), None)
    except ApiError as problem:
        return problem.message
    return None
