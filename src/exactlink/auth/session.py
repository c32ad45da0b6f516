"""A valid access token on demand, refreshed safely across processes.

Exact Online rotates the refresh token on every refresh, and a refresh token that was rotated away is
dead: if two processes (say the hourly cron run and an interactive command) refresh at once, the
loser ends up with a dead token and the office has to log in again. So a refresh happens only:

1. under one file lock (``get_paths().lock_file("token-refresh")``), shared by every process;
2. after re-reading the stored tokens under that lock, since another process may have refreshed;
3. when the access token is expired or within 30 s of it (Exact refuses earlier refreshes; its
   "too early" answer means: keep using the current access token, and so does any refusal while the stored
   access token is still valid: Exact's wording of "too early" is not known for certain, and a login is never
   given up while a token that works is at hand; the refresh is tried again once that token has expired);

and the new tokens are stored atomically *before* the new access token is used, so a crash can never
lose the rotated refresh token. A dead refresh token (``invalid_grant``, "Old refresh token used",
expired after 30 unused days) becomes ``LoginRequired`` (exit 4) with "run `exactlink login` again".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from exactlink.auth.oauth import LOGIN_AGAIN, OAuthClient, RefreshTooEarly, TokenSet
from exactlink.auth.tokens import TokenStore
from exactlink.errors import ExactlinkError, LockHeld, LoginRequired
from exactlink.paths import get_paths

log = logging.getLogger(__name__)

REFRESH_MARGIN = 30.0
"""Refresh when the access token has less than this many seconds left (Exact allows it from then on)."""

EXPIRY_WARNING = 3 * 86_400.0
"""Warn when the refresh token dies within this many seconds."""


def not_logged_in() -> LoginRequired:
    """The error for "there are no tokens at all"."""
    return LoginRequired("not logged in to Exact Online", hint="run `exactlink login`")


class TokenProvider(httpx.Auth):
    """Hands out a valid access token; usable as ``exactlink.api.client.TokenSource`` and as ``httpx.Auth``.

    Args:
        store: where the tokens are kept.
        oauth: the token endpoint of the app registration.
        clock: epoch seconds now (injectable for tests).
        lock_path: the inter-process refresh lock (default ``get_paths().lock_file("token-refresh")``).
        lock_timeout: seconds to wait for another process's refresh before giving up.
        warn: how to show the "login expires soon" warning (the CLI passes ``console.warn``).
    """

    requires_response_body = False

    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthClient,
        *,
        clock: Callable[[], float] = time.time,
        lock_path: Path | None = None,
        lock_timeout: float = 120.0,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self._clock = clock
        self.lock_path = lock_path or get_paths().lock_file("token-refresh")
        self.lock_timeout = lock_timeout
        self._warn = warn or (lambda message: log.warning("%s", message))
        self._tokens: TokenSet | None = None
        self._thread_lock = threading.RLock()
        self._expiry_warned = False
        self.refreshes = 0
        # After a refusal while the token was still valid: no new refresh before this moment (its expiry).
        self._refresh_held_until = 0.0

    def close(self) -> None:
        """Close the token endpoint's connections."""
        self.oauth.close()

    def current(self) -> TokenSet | None:
        """The tokens as last loaded or refreshed (``None`` when not logged in)."""
        with self._thread_lock:
            if self._tokens is None:
                self._tokens = self.store.load()
            return self._tokens

    def access_token(self) -> str:
        """A valid access token, refreshing first when it expires within 30 s.

        Raises:
            LoginRequired: not logged in, or the login can no longer be refreshed.
        """
        with self._thread_lock:
            tokens = self.current()
            if tokens is None:
                raise not_logged_in()
            self._warn_if_login_expires_soon(tokens)
            now = self._clock()
            if tokens.expires_at - now > REFRESH_MARGIN or now < min(self._refresh_held_until, tokens.expires_at):
                return tokens.access_token
            return self._refresh(rejected=None)

    def refresh_after_unauthorized(self, rejected: str) -> str:
        """Exact answered 401 to ``rejected``: return another process's newer token, or refresh once."""
        with self._thread_lock:
            return self._refresh(rejected=rejected)

    def newer_token_than(self, rejected: str) -> str | None:
        """The stored access token when another process replaced ``rejected`` and it is still valid; no refresh."""
        with self._thread_lock:
            stored = self.store.load()
            if stored is None or stored.access_token == rejected or stored.expires_at <= self._clock():
                return None
            self._tokens = stored
            return stored.access_token

    def remember_user(self, user: dict[str, str | None]) -> None:
        """Store who is logged in next to the tokens (under the refresh lock, so no rotation is lost)."""
        from filelock import FileLock

        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._thread_lock, FileLock(str(self.lock_path), timeout=self.lock_timeout, mode=0o600):
            stored = self.store.load()
            if stored is None:
                raise not_logged_in()
            stored.user = dict(user)
            self.store.save(stored)
            self._tokens = stored

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """``httpx.Auth``: add the bearer token; on a 401 whose reason is an expired token (or none), refresh once
        and send the request again; any other 401 is returned as it came."""
        from exactlink.api.errors import UnauthorizedKind, unauthorized_reason

        token = self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        kind = unauthorized_reason(response.headers.get("WWW-Authenticate")).kind
        if kind in (UnauthorizedKind.EXPIRED, UnauthorizedKind.UNSTATED):
            request.headers["Authorization"] = f"Bearer {self.refresh_after_unauthorized(token)}"
            yield request
        elif kind is UnauthorizedKind.INVALID and (newer := self.newer_token_than(token)):
            request.headers["Authorization"] = f"Bearer {newer}"
            yield request

    def _refresh(self, *, rejected: str | None) -> str:
        from filelock import FileLock, Timeout

        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with FileLock(str(self.lock_path), timeout=self.lock_timeout, mode=0o600):
                return self._refresh_under_lock(rejected)
        except Timeout:
            raise LockHeld(
                f"another exactlink process has been refreshing the Exact Online login for over "
                f"{self.lock_timeout:.0f} s",
                hint=f"if no other exactlink runs, remove {self.lock_path}",
            ) from None

    def _refresh_under_lock(self, rejected: str | None) -> str:
        stored = self.store.load()
        if stored is None:
            self._tokens = None
            raise not_logged_in()
        now = self._clock()
        if stored.expires_at - now > REFRESH_MARGIN and (rejected is None or stored.access_token != rejected):
            # Another process refreshed while we waited for the lock.
            self._tokens = stored
            return stored.access_token
        if now >= stored.refresh_expires_at:
            raise LoginRequired(
                "the Exact Online login expired (it was not used for 30 days)",
                hint=LOGIN_AGAIN,
            )
        try:
            fresh = self.oauth.refresh(stored.refresh_token)
        except RefreshTooEarly:
            log.info("Exact Online says the access token is still valid; keeping it")
            self._tokens = stored
            return stored.access_token
        except LoginRequired as refused:
            if stored.expires_at <= now or stored.access_token == rejected:
                raise
            log.warning(
                "Exact Online refused to refresh the login (%s) while the access token is valid for %.0f s more; "
                "using it and refreshing after it expires",
                refused.message,
                stored.expires_at - now,
            )
            self._refresh_held_until = stored.expires_at
            self._tokens = stored
            return stored.access_token
        fresh.user = stored.user
        try:
            self.store.save(fresh)
        except (OSError, ExactlinkError) as exc:
            detail = exc.message if isinstance(exc, ExactlinkError) else type(exc).__name__
            raise LoginRequired(
                f"the refreshed Exact Online tokens could not be stored ({detail})", hint=LOGIN_AGAIN
            ) from None
        self.refreshes += 1
        log.info("refreshed the Exact Online access token")
        self._tokens = fresh
        return fresh.access_token

    def _warn_if_login_expires_soon(self, tokens: TokenSet) -> None:
        if self._expiry_warned:
            return
        left = tokens.refresh_expires_at - self._clock()
        if 0 < left < EXPIRY_WARNING:
            self._expiry_warned = True
            when = datetime.fromtimestamp(tokens.refresh_expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            self._warn(
                f"the Exact Online login expires on {when} unless exactlink talks to Exact before then "
                "(each run renews it); after that, run `exactlink login` again"
            )
