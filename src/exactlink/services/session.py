"""Build an authenticated Exact Online client from a workspace; ``Workspace.client()`` uses this.

``open_client(ws)`` wires the pieces: the token store (keyring or 0600 file), the app registration
(client id from the settings, client secret from ``EXACTLINK_CLIENT_SECRET`` or the keyring), the
cross-process token refresh, the shared error budget and the rate-limit log in the state directory.
The httpx transport, the clock and the sleep function come from the workspace, so tests and the sandbox
change them there.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from exactlink.errors import ConfigError

if TYPE_CHECKING:
    from exactlink.api.budget import ErrorBudget
    from exactlink.api.client import ExactClient
    from exactlink.api.ratelimit import RateLimitLog
    from exactlink.auth.oauth import OAuthApp, OAuthClient
    from exactlink.auth.session import TokenProvider
    from exactlink.auth.tokens import TokenStore
    from exactlink.settings import Settings
    from exactlink.workspace import Workspace

SECRET_ENV = "EXACTLINK_CLIENT_SECRET"


def require_client_id(settings: Settings) -> str:
    """The configured client id of the app registration.

    Raises:
        ConfigError: none is configured.
    """
    client_id = settings.exact.client_id.strip()
    if not client_id:
        raise ConfigError(
            "no Exact Online app is configured (exact.client_id is empty)",
            hint="set client_id under [exact] in config.toml or EXACTLINK_CLIENT_ID "
            "(register the app in the Exact App Center first)",
        )
    return client_id


def token_store(ws: Workspace, *, announce_fallback: bool = False) -> TokenStore:
    """The token store of the configured site and app (``exact.token_storage`` decides keyring or file).

    ``announce_fallback``: show the "no usable OS keyring" warning on the terminal. Only ``login``, ``status``
    and ``doctor`` do; every other command only logs it, so an hourly cron run with ``--quiet`` stays silent.
    """
    from exactlink.auth.tokens import TokenStore

    settings = ws.settings
    return TokenStore(
        settings.exact.effective_base_url,
        require_client_id(settings),
        mode=settings.exact.token_storage,
        keyring_timeout=ws.keyring_timeout,
        warn=ws.output.warn if announce_fallback else None,
    )


def client_secret(store: TokenStore) -> str:
    """The client secret: ``EXACTLINK_CLIENT_SECRET`` first, else what ``login --store-secret`` stored.

    Raises:
        ConfigError: neither is set.
    """
    secret = os.environ.get(SECRET_ENV, "").strip()
    if secret:
        return secret
    stored = store.get_secret()
    if stored:
        return stored
    raise ConfigError(
        "the Exact Online client secret is not set",
        hint=f"set {SECRET_ENV} or store it once with `exactlink login --store-secret`",
    )


def check_ready(ws: Workspace) -> None:
    """Check, without calling Exact Online, that a run could talk to it: app, client secret, login, office.

    Raises:
        ConfigError: no client id or client secret is configured.
        LoginRequired: nobody is logged in, or the login expired.
        NotConfigured: no office administration chosen.
    """
    from exactlink.auth.oauth import LOGIN_AGAIN
    from exactlink.auth.session import not_logged_in
    from exactlink.errors import LoginRequired
    from exactlink.services.tenant import require_office

    store = token_store(ws)
    client_secret(store)
    tokens = store.load()
    if tokens is None:
        raise not_logged_in()
    if ws.clock.time() >= tokens.refresh_expires_at:
        raise LoginRequired("the Exact Online login expired (it was not used for 30 days)", hint=LOGIN_AGAIN)
    require_office(ws.db)


def oauth_app(settings: Settings, store: TokenStore) -> OAuthApp:
    """The app registration: base URL, client id, client secret and redirect URI."""
    from exactlink.auth.oauth import OAuthApp

    return OAuthApp(
        base_url=settings.exact.effective_base_url,
        client_id=require_client_id(settings),
        client_secret=client_secret(store),
        redirect_uri=settings.exact.redirect_uri,
    )


def oauth_client(ws: Workspace, store: TokenStore) -> OAuthClient:
    """A client for the app's token endpoint."""
    from exactlink.auth.oauth import OAuthClient

    return OAuthClient(
        oauth_app(ws.settings, store),
        transport=ws.transport,
        timeout=ws.settings.exact.timeout_seconds,
        clock=ws.clock.time,
    )


def token_provider(ws: Workspace, store: TokenStore) -> TokenProvider:
    """The cross-process-safe source of access tokens for this login."""
    from exactlink.auth.session import TokenProvider

    return TokenProvider(store, oauth_client(ws, store), clock=ws.clock.time, warn=ws.output.warn)


def error_budget(ws: Workspace) -> ErrorBudget:
    """The error budget shared by all runs (a JSON file in the state directory)."""
    from exactlink.api.budget import ErrorBudget
    from exactlink.paths import get_paths

    paths = get_paths()
    return ErrorBudget(paths.state_dir / "error-budget.json", paths.lock_file("error-budget"), clock=ws.clock.time)


def rate_limit_log() -> RateLimitLog:
    """The last rate-limit headers seen per division (a JSON file in the state directory)."""
    from exactlink.api.ratelimit import RateLimitLog
    from exactlink.paths import get_paths

    paths = get_paths()
    return RateLimitLog(paths.state_dir / "rate-limits.json", paths.lock_file("rate-limits"))


def open_client(ws: Workspace, *, store: TokenStore | None = None) -> ExactClient:
    """An authenticated ``ExactClient`` for the configured site; close it (or use ``with``) when done.

    ``store`` reuses a token store the caller already has (so a broken keyring is probed only once).

    Raises:
        ConfigError: no client id or client secret is configured.
        LoginRequired: nobody is logged in (exit 4).
    """
    from exactlink.api.client import ExactClient
    from exactlink.api.ratelimit import RateLimiter
    from exactlink.auth.session import not_logged_in
    from exactlink.paths import get_paths

    settings = ws.settings
    get_paths().ensure()
    store = store or token_store(ws)
    if store.load() is None:
        raise not_logged_in()
    provider = token_provider(ws, store)
    shared_limits = rate_limit_log()
    return ExactClient(
        settings.exact.effective_base_url,
        provider,
        transport=ws.transport,
        timeout=settings.exact.timeout_seconds,
        max_answer_bytes=settings.exact.max_answer_bytes,
        max_pages=settings.exact.max_pages,
        limiter=RateLimiter(clock=ws.clock.time, sleep=ws.sleep, known=shared_limits.read()),
        budget=error_budget(ws),
        rate_log=shared_limits,
        sleep=ws.sleep,
    )
