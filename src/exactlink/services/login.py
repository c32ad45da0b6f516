"""``exactlink login`` / ``logout``: the browser login, storing its tokens, and removing them again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import UsageError

if TYPE_CHECKING:
    from exactlink.api.models import Me
    from exactlink.auth.tokens import TokenStore
    from exactlink.workspace import Workspace

log = logging.getLogger(__name__)

# How the login comes back, for ``show_url``: the browser returns by itself (a loopback redirect URI), by a relay
# page or a pasted address (an https one), or only by a pasted address (``--no-browser``).
WAIT, WAIT_OR_PASTE, PASTE = "wait", "wait-or-paste", "paste"


@dataclass
class LoginOutcome:
    """Who logged in, where the tokens went, and anything the user should know."""

    user: Me
    base_url: str
    storage: str
    storage_kind: str
    practice_divisions: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form (no token, no secret)."""
        return {
            "user": {"full_name": self.user.FullName, "user_name": self.user.UserName, "email": self.user.Email},
            "base_url": self.base_url,
            "token_storage": {"kind": self.storage_kind, "location": self.storage},
            "practice_divisions": [{"code": code, "name": name} for code, name in self.practice_divisions],
            "warnings": self.warnings,
        }


def store_client_secret(ws: Workspace, secret: str) -> str:
    """Keep the client secret in the keyring (or the fallback file); returns where it went."""
    secret = secret.strip()
    if not secret:
        raise UsageError("the client secret is empty")
    store = ws.token_store(announce_fallback=True)
    store.set_secret(secret)
    return store.location()


def write_relay_page(path: Path) -> Path:
    """Write the relay page (see ``exactlink.auth.relay``) to ``path``, readable by the web server (0644).

    Raises:
        UsageError: the file cannot be written.
    """
    from exactlink.auth.relay import relay_page

    try:
        path.write_text(relay_page(), encoding="utf-8")
        path.chmod(0o644)
    except OSError as problem:
        raise UsageError(f"cannot write the relay page to {path}: {problem.strerror or problem}") from None
    return path


def open_browser(url: str) -> None:
    """Ask the desktop to open ``url``; failure is fine (the URL is always printed too)."""
    import webbrowser

    try:
        webbrowser.open(url)
    except webbrowser.Error as exc:
        log.info("could not open a browser: %s", exc)


def login(
    ws: Workspace,
    *,
    use_browser: bool,
    force_login: bool,
    show_url: Callable[[str, str], None],
    read_pasted_url: Callable[[], str],
) -> LoginOutcome:
    """Run the authorization-code flow (PKCE + state), store the tokens, and ask Exact who logged in.

    Args:
        ws: the workspace; its settings give the site, client id, redirect URI and token storage.
        use_browser: open the browser and listen on 127.0.0.1: on the redirect URI's own port for a loopback
            redirect URI, or on a free port named in ``state`` for an https one, where a relay page forwards the
            browser (``exactlink login --relay-page FILE``) or the user pastes the address it ends on; without the
            browser the user always pastes the redirected URL.
        force_login: make Exact show its login screen even when the browser is logged in.
        show_url: prints the authorization URL; its second argument is ``WAIT``, ``WAIT_OR_PASTE`` or ``PASTE``.
        read_pasted_url: reads the redirected URL the user pastes.

    Raises:
        LoginFailed: consent refused, state mismatch, timeout, or the code was refused.
        ExactlinkError: the callback port is busy (exit 1).
        ConfigError: no client id or client secret.
    """
    from exactlink.auth.loopback import (
        LoopbackListener,
        code_from_redirect,
        loopback_target,
        wait_for_callback_or_paste,
    )
    from exactlink.auth.oauth import authorization_url
    from exactlink.auth.pkce import new_pkce_pair, new_state
    from exactlink.auth.relay import relay_state
    from exactlink.paths import get_paths
    from exactlink.services.session import oauth_client

    settings = ws.settings
    get_paths().ensure()
    store = ws.token_store(announce_fallback=True)
    oauth = oauth_client(ws, store)
    try:
        pkce = new_pkce_pair()
        timeout = settings.exact.login_timeout_seconds

        def url_for(state: str) -> str:
            return authorization_url(oauth.app, state=state, code_challenge=pkce.challenge, force_login=force_login)

        if use_browser and loopback_target(settings.exact.redirect_uri) is not None:
            state = new_state()
            with LoopbackListener(settings.exact.redirect_uri, state) as listener:
                show_url(url_for(state), WAIT)
                open_browser(url_for(state))
                code = listener.wait(timeout)
        elif use_browser:
            # An https redirect URI: a relay page hosted there forwards to this listener; else the user pastes.
            with LoopbackListener.on_free_port() as listener:
                state = relay_state(new_state(), listener.port)
                listener.expect(state)
                show_url(url_for(state), WAIT_OR_PASTE)
                open_browser(url_for(state))
                code = wait_for_callback_or_paste(listener, read_pasted_url, state, timeout)
        else:
            state = new_state()
            show_url(url_for(state), PASTE)
            code = code_from_redirect(read_pasted_url(), state)
        tokens = oauth.exchange_code(code, pkce.verifier)
        # Stored before first use: from here on the login survives whatever happens next.
        store.save(tokens)
    finally:
        oauth.close()
    return _describe_login(ws, store)


def _describe_login(ws: Workspace, store: TokenStore) -> LoginOutcome:
    """Ask ``current/Me`` who logged in, check that they see a practice division, remember the user."""
    from exactlink.api.errors import ApiError
    from exactlink.auth.session import TokenProvider
    from exactlink.services.tenant import practice_divisions
    from exactlink.store.divisions import forget_division_list

    forget_division_list(ws.db)  # another login may see other administrations: link-admin must not reuse the listing

    with ws.client(store=store) as client:
        me = client.me()
        warnings: list[str] = []
        practice: list[tuple[int, str]] = []
        try:
            practice = [(entry.code, entry.name) for entry in practice_divisions(client)]
        except ApiError as exc:
            warnings.append(f"could not list the administrations: {exc.message}")
        else:
            if not practice:
                warnings.append(
                    "this login sees no practice (office) administration: log in with an Exact Online administrator "
                    "account that sees every administration (`exactlink login --force-login` to pick another user)"
                )
        if me.IsClientUser:
            warnings.append("this is a client user, not an accountant's administrator account")
        if isinstance(client.tokens, TokenProvider):
            client.tokens.remember_user(
                {"full_name": me.FullName, "user_name": me.UserName, "email": me.Email, "user_id": me.UserID}
            )
    return LoginOutcome(
        user=me,
        base_url=ws.settings.exact.effective_base_url,
        storage=store.location(),
        storage_kind=store.kind,
        practice_divisions=practice,
        warnings=warnings,
    )


def logout(ws: Workspace) -> list[str]:
    """Remove this site's and app's tokens from the keyring and the fallback file; returns where they were.

    The stored listing of administrations goes too: it is what that login saw.
    """
    from exactlink.store.divisions import forget_division_list

    forget_division_list(ws.db)
    return ws.token_store().delete()
