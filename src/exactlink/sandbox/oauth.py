"""OAuth 2.0 the way Exact Online does it (exact-api.md §1), on the sandbox clock.

``GET /api/oauth2/auth`` shows a login-and-consent page; an unknown ``client_id`` or a ``redirect_uri``
that is not exactly the registered one gives a 400 error page and never a redirect. The page posts back
to ``POST /api/oauth2/auth`` (fields ``username``, ``password``, ``decision`` = ``accept``/``deny`` plus the
query parameters as hidden fields) which redirects (302) to ``redirect_uri?code=…&state=…`` or
``?error=access_denied&state=…``. Codes contain ``!`` and ``*`` like Exact's, so they arrive URL-encoded and
must be decoded once; they are single use and live 3 minutes. PKCE: ``code_challenge`` with
``code_challenge_method=S256`` (only S256 is accepted) binds the code to a ``code_verifier``.

``POST /api/oauth2/token`` (form-encoded; client credentials in the form or as HTTP Basic) answers
``{"access_token","token_type":"bearer","expires_in":"600","refresh_token"}`` — ``expires_in`` is a string.
Access tokens live 600 s. Errors, exactly:

- unknown ``client_id`` or wrong ``client_secret``: 401
  ``{"error":"invalid_client","error_description":"Invalid client credentials."}``
- missing parameter: 400 ``invalid_request`` ("Missing parameter '<name>'.")
- unknown ``grant_type``: 400 ``unsupported_grant_type``
- authorization code unknown / already used / expired / issued to another client / other redirect_uri /
  missing or wrong ``code_verifier``: 400 ``invalid_grant`` with a description saying which
- unknown refresh token (or one of another app): 400
  ``{"error":"invalid_grant","error_description":"Invalid refresh token."}``
- a refresh token that was already rotated: 401
  ``{"error":"unauthorized_client","error_description":"Old refresh token used."}``
- a refresh token unused for 30 days: 400 ``{"error":"invalid_request","error_description":"The refresh token
  expired at 11/3/2026 2:50:46 PM and it is now 12/4/2026 9:00:00 AM."}`` (UTC, Exact's US format)
- a refresh less than 570 s after the current access token was issued: 401 (Exact's knowledge base: "your
  call will be rejected with response code 401 and reason Access Token not expired")
  ``{"error":"invalid_request","error_description":"Access token not expired yet. You can only request a new
  access token after 570 seconds."}``; nothing is rotated, the refresh token stays valid.

Every successful refresh returns a new refresh token and the old one stops working at once. Token-endpoint
calls are counted per ``grant_type`` in ``token_calls`` (every attempt, successful or not).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from exactlink.sandbox.clock import Clock
from exactlink.sandbox.evidence import PKCE_REFUSED, Evidence
from exactlink.sandbox.model import SandboxUser
from exactlink.sandbox.replies import Reply, html_reply, json_reply

ACCESS_TOKEN_SECONDS = 600
EARLIEST_REFRESH_SECONDS = 570
REFRESH_TOKEN_SECONDS = 30 * 86_400
CODE_SECONDS = 180
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class App:
    """An app registration (Exact App Center): the redirect URI must match exactly."""

    client_id: str
    client_secret: str
    redirect_uri: str
    name: str = "exactlink"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user_id: str
    issued: float
    challenge: str | None
    used: bool = False


@dataclass(frozen=True)
class AccessGrant:
    """What a bearer token stands for."""

    client_id: str
    user_id: str
    expires: float


@dataclass
class _RefreshToken:
    client_id: str
    user_id: str
    issued: float
    access_issued: float
    rotated: bool = False


@dataclass(frozen=True)
class IssuedSecrets:
    """Every secret value the OAuth server handed out or received, for leak scans in tests (read-only copies)."""

    access_tokens: frozenset[str]
    refresh_tokens: frozenset[str]
    authorization_codes: frozenset[str]
    code_verifiers: frozenset[str]
    client_secrets: frozenset[str]


@dataclass(frozen=True)
class TokenCheck:
    """Outcome of checking a bearer token: ``grant`` is set for known tokens, ``expired`` tells if it ran out."""

    grant: AccessGrant | None
    expired: bool = False


def _exact_time(moment: float) -> str:
    value = datetime.fromtimestamp(moment, tz=UTC)
    hour = value.hour % 12 or 12
    suffix = "AM" if value.hour < 12 else "PM"
    return f"{value.month}/{value.day}/{value.year} {hour}:{value.minute:02}:{value.second:02} {suffix}"


def _token_error(status: int, error: str, description: str) -> Reply:
    return json_reply(status, {"error": error, "error_description": description}, _NO_STORE)


class OAuthServer:
    """App registrations, the login page, authorization codes and the token endpoint."""

    def __init__(self, users: list[SandboxUser], clock: Clock, evidence: Callable[[], Evidence] | None = None) -> None:
        self.users = users
        self.clock = clock
        # The sandbox's current evidence knobs (read on every request: a test may change them at any time).
        self.evidence = evidence or Evidence
        self.apps: dict[str, App] = {}
        self.token_calls: Counter[str] = Counter()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._verifiers: set[str] = set()

    # -- registration and users ---------------------------------------------------------------------

    def register_app(self, client_id: str, client_secret: str, redirect_uri: str, name: str = "exactlink") -> App:
        """Register (or replace) an app.

        Raises:
            ValueError: a redirect URI the App Center refuses: not https (``https_redirect_only``), unless an http
                loopback one is allowed (``allow_http_loopback``).
        """
        refused = self.evidence().refused_redirect_uri(redirect_uri)
        if refused:
            raise ValueError(refused)
        app = App(client_id, client_secret, redirect_uri, name)
        self.apps[client_id] = app
        return app

    def user_by_name(self, username: str) -> SandboxUser | None:
        """The user with this login name (case-insensitive, as Exact's)."""
        wanted = username.strip().casefold()
        return next((user for user in self.users if user.username.casefold() == wanted), None)

    def user_by_id(self, user_id: str) -> SandboxUser | None:
        """The user with this UserID."""
        return next((user for user in self.users if user.user_id == user_id), None)

    # -- /api/oauth2/auth ----------------------------------------------------------------------------

    def authorize_page(self, query: dict[str, str]) -> Reply:
        """``GET /api/oauth2/auth``: the login-and-consent page, or a 400 page for a bad request."""
        problem = self._check_authorize_request(query)
        if problem:
            return _error_page(problem)
        return html_reply(200, self._login_page(query, error=None))

    def authorize_submit(self, form: dict[str, str]) -> Reply:
        """``POST /api/oauth2/auth``: check the login, then redirect with a code (or with access_denied)."""
        problem = self._check_authorize_request(form)
        if problem:
            return _error_page(problem)
        redirect_uri = form["redirect_uri"]
        state = form.get("state")
        if form.get("decision") == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": state})
        if form.get("decision") != "accept":
            return html_reply(200, self._login_page(form, error="Choose Accept or Deny."))
        user = self.user_by_name(form.get("username", ""))
        if user is None or not hmac.compare_digest(user.password.encode(), form.get("password", "").encode()):
            return html_reply(200, self._login_page(form, error="The username or password is incorrect."))
        # Exact's codes contain '!' and '*', so they arrive URL-encoded and must be decoded exactly once.
        code = f"stampNL{secrets.randbelow(1000):03d}.{secrets.token_urlsafe(12)}!{secrets.token_urlsafe(24)}"
        code += f"*{secrets.token_hex(4)}"
        self._codes[code] = _Code(
            form["client_id"], redirect_uri, user.user_id, self.clock.now(), form.get("code_challenge") or None
        )
        return _redirect(redirect_uri, {"code": code, "state": state})

    def _check_authorize_request(self, params: dict[str, str]) -> str | None:
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return "The client_id is unknown: this app is not registered."
        if params.get("redirect_uri") != app.redirect_uri:
            return "The redirect_uri does not match the redirect URI registered for this app."
        # An app registered while another App Center rule applied (a test changed the knobs since) logs in no more.
        refused = self.evidence().refused_redirect_uri(app.redirect_uri)
        if refused:
            return refused
        if params.get("response_type") != "code":
            return "The response_type must be 'code'."
        if params.get("code_challenge") and self.evidence().refuse_pkce:
            return PKCE_REFUSED
        if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
            return "The code_challenge_method must be 'S256'."
        return None

    def _login_page(self, params: dict[str, str], error: str | None) -> str:
        app = self.apps[params["client_id"]]
        hidden_names = (
            "client_id",
            "redirect_uri",
            "response_type",
            "state",
            "force_login",
            "code_challenge",
            "code_challenge_method",
        )
        hidden = "\n".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params[name], quote=True)}">'
            for name in hidden_names
            if params.get(name) is not None
        )
        error_html = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        username = html.escape(params.get("username", ""), quote=True)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Exact Online (sandbox) - Log in</title></head>
<body>
<h1>Exact Online (sandbox)</h1>
<p>The app <strong>{html.escape(app.name)}</strong> asks for access to your administrations.</p>
{error_html}
<form method="post" action="/api/oauth2/auth">
{hidden}
<label>Username <input type="text" name="username" value="{username}" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" name="decision" value="accept">Accept for all current and future administrations</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
"""

    # -- /api/oauth2/token ---------------------------------------------------------------------------

    def token(self, form: dict[str, str], authorization: str | None) -> Reply:
        """``POST /api/oauth2/token``: the authorization_code and refresh_token grants."""
        grant_type = form.get("grant_type", "")
        self.token_calls[grant_type or "(none)"] += 1
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return _token_error(401, "invalid_client", "Invalid client credentials.")
        if not grant_type:
            return _token_error(400, "invalid_request", "Missing parameter 'grant_type'.")
        if grant_type not in ("authorization_code", "refresh_token"):
            return _token_error(400, "unsupported_grant_type", f"The grant type '{grant_type}' is not supported.")
        app = self.apps.get(client_id or "")
        if app is None or not hmac.compare_digest(app.client_secret.encode(), (client_secret or "").encode()):
            return _token_error(401, "invalid_client", "Invalid client credentials.")
        if grant_type == "authorization_code":
            return self._code_grant(app, form)
        return self._refresh_grant(app, form)

    def _code_grant(self, app: App, form: dict[str, str]) -> Reply:
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                return _token_error(400, "invalid_request", f"Missing parameter '{name}'.")
        now = self.clock.now()
        code = self._codes.get(form["code"])
        if code is None or code.client_id != app.client_id:
            return _token_error(400, "invalid_grant", "Invalid authorization code.")
        if code.used:
            return _token_error(400, "invalid_grant", "The authorization code has already been used.")
        code.used = True  # single use: any attempt past this point consumes it
        if now - code.issued > CODE_SECONDS:
            return _token_error(400, "invalid_grant", "The authorization code has expired.")
        if form["redirect_uri"] != code.redirect_uri:
            return _token_error(400, "invalid_grant", "The redirect_uri does not match the authorization request.")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier:
                return _token_error(400, "invalid_grant", "A code_verifier is required for this authorization code.")
            self._verifiers.add(verifier)
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
            if not _VERIFIER_RE.match(verifier) or not hmac.compare_digest(
                digest.rstrip(b"=").decode(), code.challenge
            ):
                return _token_error(400, "invalid_grant", "The code_verifier does not match the code_challenge.")
        return self._issue(app.client_id, code.user_id, now)

    def _refresh_grant(self, app: App, form: dict[str, str]) -> Reply:
        presented = form.get("refresh_token", "")
        if not presented:
            return _token_error(400, "invalid_request", "Missing parameter 'refresh_token'.")
        now = self.clock.now()
        token = self._refresh.get(presented)
        if token is None or token.client_id != app.client_id:
            return _token_error(400, "invalid_grant", "Invalid refresh token.")
        if token.rotated:
            return _token_error(401, "unauthorized_client", "Old refresh token used.")
        if now - token.issued > REFRESH_TOKEN_SECONDS:
            expired_at = _exact_time(token.issued + REFRESH_TOKEN_SECONDS)
            return _token_error(
                400, "invalid_request", f"The refresh token expired at {expired_at} and it is now {_exact_time(now)}."
            )
        if now - token.access_issued < EARLIEST_REFRESH_SECONDS:
            other = self.evidence().too_early_refresh
            if other is not None:
                return _token_error(other.status, other.error, other.description)
            return _token_error(
                401,
                "invalid_request",
                f"Access token not expired yet. You can only request a new access token after "
                f"{EARLIEST_REFRESH_SECONDS} seconds.",
            )
        token.rotated = True
        return self._issue(app.client_id, token.user_id, now)

    def _issue(self, client_id: str, user_id: str, now: float) -> Reply:
        access = "sbx." + secrets.token_urlsafe(48)
        refresh = "sbxr." + secrets.token_urlsafe(48)
        self._access[access] = AccessGrant(client_id, user_id, now + ACCESS_TOKEN_SECONDS)
        self._refresh[refresh] = _RefreshToken(client_id, user_id, now, now)
        payload = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(ACCESS_TOKEN_SECONDS),
            "refresh_token": refresh,
        }
        return json_reply(200, payload, _NO_STORE)

    # -- bearer tokens --------------------------------------------------------------------------------

    def check_bearer(self, authorization: str | None) -> TokenCheck:
        """Look up ``Authorization: Bearer …``; unknown or missing tokens give ``grant=None``."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return TokenCheck(None)
        grant = self._access.get(authorization[7:].strip())
        if grant is None:
            return TokenCheck(None)
        return TokenCheck(grant, expired=self.clock.now() >= grant.expires)

    def issued_secrets(self) -> IssuedSecrets:
        """Copies of every access token, refresh token and code issued, each verifier received, each app secret."""
        return IssuedSecrets(
            access_tokens=frozenset(self._access),
            refresh_tokens=frozenset(self._refresh),
            authorization_codes=frozenset(self._codes),
            code_verifiers=frozenset(self._verifiers),
            client_secrets=frozenset(app.client_secret for app in self.apps.values()),
        )

    def saved_grants(self) -> dict[str, Any]:
        """The registrations, codes and tokens as plain values (what a state file keeps of the OAuth server)."""
        return {
            "apps": [asdict(app) for app in self.apps.values()],
            "codes": {code: asdict(grant) for code, grant in self._codes.items()},
            "access_tokens": {token: asdict(grant) for token, grant in self._access.items()},
            "refresh_tokens": {token: asdict(grant) for token, grant in self._refresh.items()},
        }

    def restore_grants(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`saved_grants` gave: the apps replace the registered ones, tokens work again."""
        self.apps = {app["client_id"]: App(**app) for app in saved["apps"]}
        self._codes = {code: _Code(**grant) for code, grant in saved["codes"].items()}
        self._access = {token: AccessGrant(**grant) for token, grant in saved["access_tokens"].items()}
        self._refresh = {token: _RefreshToken(**grant) for token, grant in saved["refresh_tokens"].items()}

    def issue_tokens_for_tests(self, client_id: str, user_id: str) -> dict[str, str]:
        """Mint a token pair without the browser flow (test set-up only; the client never needs this)."""
        reply = self._issue(client_id, user_id, self.clock.now())
        result: dict[str, str] = json.loads(reply.body)
        return result


def new_client_id() -> str:
    """A random client ID in Exact's GUID form."""
    return "{" + str(uuid.uuid4()) + "}"


def _redirect(redirect_uri: str, params: dict[str, str | None]) -> Reply:
    query = urlencode({key: value for key, value in params.items() if value is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return Reply(302, {"Location": f"{redirect_uri}{separator}{query}"}, b"")


def _error_page(message: str) -> Reply:
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Exact Online (sandbox) - Error</title></head>
<body><h1>Error</h1><p class="error">{html.escape(message)}</p></body></html>
"""
    return html_reply(400, page)
