"""Exact Online's OAuth 2.0 endpoints: the authorization URL, the code exchange and the refresh.

Facts this module relies on (exact-api.md §1): ``{base}/api/oauth2/auth`` and ``{base}/api/oauth2/token``;
the token answer's ``expires_in`` is a *string* ("600"); every refresh rotates the refresh token (the
old one is dead once the new one is used); a refresh earlier than 30 s before the access token
expires is refused; a rotated-away or expired refresh token can only be fixed by logging in again.

Nothing here ever puts a token, the client secret or an authorization code into a message.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from exactlink import __version__
from exactlink.api.bounded import AnswerTooLarge, send_bounded
from exactlink.api.tls import verified_context
from exactlink.errors import ExactlinkError, LoginRequired

log = logging.getLogger(__name__)

REFRESH_TOKEN_LIFETIME = 30 * 86_400.0
"""Exact Online expires a refresh token that is not used for 30 days."""

LOGIN_AGAIN = "run `exactlink login` again"

TOKEN_ANSWER_TIMEOUT = 60.0
"""Seconds to wait for the token endpoint's answer, however short ``exact.timeout_seconds`` is: Exact acts on
a refresh (or code exchange) as soon as it arrives, rotating the refresh token (or using up the code), so an
answer given up on is a login lost."""


MAX_TOKEN_ANSWER = 100_000
"""The largest token-endpoint answer read (a real one is well under 2 KB)."""


class LoginFailed(ExactlinkError):
    """The browser login did not produce tokens (denied, wrong state, timed out, code refused)."""


class RefreshTooEarly(Exception):
    """Exact refused the refresh because the current access token is still valid: keep using it."""


class OAuthError(ExactlinkError):
    """The token endpoint failed in a way that logging in again does not fix (network, 5xx)."""


@dataclass(frozen=True)
class OAuthApp:
    """An app registration in the Exact Online App Center, on one site (base URL)."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str

    def __post_init__(self) -> None:
        from exactlink.errors import ConfigError
        from exactlink.urls import insecure_url_problem

        problem = insecure_url_problem(self.token_endpoint)
        if problem:
            raise ConfigError(f"refusing the token endpoint {self.token_endpoint}: it {problem}")

    @property
    def auth_endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/oauth2/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/oauth2/token"


@dataclass
class TokenSet:
    """An access token, the refresh token that goes with it, and when each stops working.

    ``refreshed_at`` is when the refresh token was issued (login or last refresh): Exact expires an
    unused refresh token 30 days later. ``user`` is who logged in (from ``current/Me``), kept so
    ``status`` can answer without a call.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    refreshed_at: float
    user: dict[str, Any] | None = None

    @property
    def refresh_expires_at(self) -> float:
        """When the refresh token dies if it is not used before then."""
        return self.refreshed_at + REFRESH_TOKEN_LIFETIME

    def to_json(self) -> str:
        """The stored form (goes only to the keyring or the 0600 file)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenSet | None:
        """Parse the stored form; ``None`` when it is unreadable."""
        try:
            data = json.loads(text)
            return cls(
                access_token=str(data["access_token"]),
                refresh_token=str(data["refresh_token"]),
                expires_at=float(data["expires_at"]),
                refreshed_at=float(data["refreshed_at"]),
                user=data.get("user") if isinstance(data.get("user"), dict) else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


def authorization_url(app: OAuthApp, *, state: str, code_challenge: str, force_login: bool = False) -> str:
    """The URL the user opens to log in and consent (authorization code with PKCE S256).

    Args:
        app: the app registration.
        state: the random value the callback must echo.
        code_challenge: ``pkce.s256_challenge(verifier)``.
        force_login: make Exact show its login screen even when the browser has a session.
    """
    query = {
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "response_type": "code",
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "force_login": "1" if force_login else "0",
    }
    return f"{app.auth_endpoint}?{urllib.parse.urlencode(query)}"


def _parse_expires_in(value: object) -> float:
    """Exact sends ``expires_in`` as a string of digits; accept a number too."""
    if isinstance(value, bool):
        raise ValueError("expires_in is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    raise ValueError("expires_in is not a number")


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """``(error, error_description)`` of a token-endpoint error (either may be empty)."""
    try:
        data = response.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    from exactlink.api.errors import server_text

    error = data.get("error")
    description = data.get("error_description")
    if isinstance(error, dict):  # the REST error shape, just in case
        message = error.get("message")
        text = message.get("value") if isinstance(message, dict) else message
        return server_text(str(error.get("code") or ""), 80) or "", server_text(text) or ""
    return server_text(str(error or ""), 80) or "", server_text(description) or ""


def _is_too_early(response: httpx.Response, error: str, description: str) -> bool:
    text = f"{error} {description} {response.headers.get('Reason', '')}".lower()
    return "tooearly" in text.replace(" ", "") or "not expired" in text or "too early" in text


def _is_dead_refresh_token(error: str, description: str) -> bool:
    text = f"{error} {description}".lower()
    return (
        error in ("invalid_grant", "unauthorized_client")
        or "old refresh token" in text
        or ("refresh token" in text and "expired" in text)
        or "invalid refresh token" in text
    )


class OAuthClient:
    """Talks to the token endpoint of one app registration.

    Args:
        app: the registration (client id/secret, redirect URI, base URL).
        transport: an httpx transport (tests pass the sandbox's).
        timeout: seconds per call.
        clock: epoch seconds now (injectable for tests).
    """

    def __init__(
        self,
        app: OAuthApp,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        clock: Any = time.time,
    ) -> None:
        self.app = app
        self._clock = clock
        self._transport = transport
        self._timeout = timeout
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        # Created on first use: most commands never need the token endpoint.
        if self._client is None:
            self._client = httpx.Client(
                transport=self._transport,
                verify=verified_context(),
                timeout=self._timeout,
                headers={"Accept": "application/json", "User-Agent": f"exactlink/{__version__}"},
            )
        return self._client

    def close(self) -> None:
        """Close the connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def exchange_code(self, code: str, code_verifier: str) -> TokenSet:
        """Trade the callback's authorization code (single use, minutes valid) for tokens.

        Raises:
            LoginFailed: Exact refused the code.
            OAuthError: the token endpoint could not be reached or failed.
        """
        response = self._post(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.app.redirect_uri,
                "client_id": self.app.client_id,
                "client_secret": self.app.client_secret,
                "code_verifier": code_verifier,
            },
            retry_connect=True,
        )
        if response.status_code != 200:
            error, description = _error_fields(response)
            detail = description or error or f"HTTP {response.status_code}"
            if error in ("invalid_client", "unauthorized_client") or response.status_code == 401:
                raise LoginFailed(
                    f"Exact Online refused the app's credentials: {detail}",
                    hint="check exact.client_id and the client secret (EXACTLINK_CLIENT_SECRET or "
                    "`exactlink login --store-secret`)",
                )
            raise LoginFailed(f"Exact Online refused the authorization code: {detail}", hint=LOGIN_AGAIN)
        return self._token_set(response)

    def refresh(self, refresh_token: str) -> TokenSet:
        """Trade the refresh token for a new access token and a new (rotated) refresh token.

        Raises:
            RefreshTooEarly: the current access token is still valid; keep using it.
            LoginRequired: the refresh token is dead (rotated away, expired, revoked).
            OAuthError: the token endpoint could not be reached or failed.
        """
        response = self._post(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.app.client_id,
                "client_secret": self.app.client_secret,
            },
            # A lost answer may already have rotated the token, so only a request that never left is repeated.
            retry_connect=True,
        )
        if response.status_code == 200:
            return self._token_set(response)
        error, description = _error_fields(response)
        if _is_too_early(response, error, description):
            raise RefreshTooEarly()
        if response.status_code in (400, 401) and _is_dead_refresh_token(error, description):
            detail = description or error
            raise LoginRequired(f"the Exact Online login is no longer valid ({detail})", hint=LOGIN_AGAIN)
        if response.status_code in (400, 401):
            raise LoginRequired(
                f"Exact Online refused to refresh the login ({description or error or response.status_code})",
                hint=LOGIN_AGAIN,
            )
        raise OAuthError(
            f"Exact Online's token endpoint failed (HTTP {response.status_code}); try again later",
        )

    def _post(self, form: dict[str, str], *, retry_connect: bool) -> httpx.Response:
        attempts = 2 if retry_connect else 1
        timeout = httpx.Timeout(self._timeout, read=max(self._timeout, TOKEN_ANSWER_TIMEOUT))
        for attempt in range(1, attempts + 1):
            request = self._http.build_request("POST", self.app.token_endpoint, data=form, timeout=timeout)
            try:
                return send_bounded(
                    self._http, request, deadline=max(self._timeout, TOKEN_ANSWER_TIMEOUT), max_bytes=MAX_TOKEN_ANSWER
                )
            except AnswerTooLarge:
                raise OAuthError(
                    f"Exact Online's token endpoint sent an answer larger than {MAX_TOKEN_ANSWER} bytes"
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == attempts:
                    raise OAuthError(
                        f"could not reach Exact Online at {self.app.base_url} ({type(exc).__name__})"
                    ) from None
                time.sleep(0.5)
            except httpx.TransportError as exc:
                raise OAuthError(
                    f"the call to Exact Online's token endpoint failed ({type(exc).__name__}); try again"
                ) from None
        raise AssertionError("unreachable")

    def _token_set(self, response: httpx.Response) -> TokenSet:
        now = float(self._clock())
        try:
            data = response.json()
            access = data["access_token"]
            refresh = data["refresh_token"]
            expires_in = _parse_expires_in(data.get("expires_in", "600"))
        except (ValueError, KeyError, TypeError):
            raise OAuthError("Exact Online's token answer was not understood") from None
        if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
            raise OAuthError("Exact Online's token answer was not understood")
        return TokenSet(access_token=access, refresh_token=refresh, expires_at=now + expires_in, refreshed_at=now)
