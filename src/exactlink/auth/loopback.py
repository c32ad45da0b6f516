"""The browser's way back to the CLI: a one-shot HTTP listener on a loopback address, or a pasted URL.

Exact Online compares redirect URIs exactly, so the listener binds exactly the host and port of the
configured redirect URI (``exact.redirect_uri``): an IPv4 loopback address (127.0.0.1) or ``[::1]``. A
``localhost`` redirect URI is refused: the browser may try ``::1`` while exactlink listens on 127.0.0.1 (or
the other way round), and another local user could listen on the address left free and take the code.

The listener accepts exactly one callback on the redirect path that carries the ``state`` of this login
attempt. A request without that ``state`` (another local process, or a web page that makes the browser
load ``http://127.0.0.1:PORT/callback``) is answered and ignored: the login keeps waiting for the real
callback until its time-out. Once the login is decided every later request is turned away and the listener
stops. The browser gets a small page saying it can be closed. Nothing the callback carries is logged.
"""

from __future__ import annotations

import html
import http.server
import os
import secrets
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from exactlink.auth.oauth import LoginFailed
from exactlink.errors import ExactlinkError, UsageError
from exactlink.interrupts import wait_for
from exactlink.urls import is_loopback_host


@dataclass(frozen=True)
class RedirectTarget:
    """Where the listener must bind and which path it answers."""

    host: str
    port: int
    path: str


def loopback_target(redirect_uri: str) -> RedirectTarget | None:
    """The host, port and path of a loopback-IP redirect URI (``http://127.0.0.1:8765/callback``); else ``None``.

    Raises:
        UsageError: the redirect URI names ``localhost`` (say 127.0.0.1 instead).
    """
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http":
        return None
    if (parts.hostname or "").lower() == "localhost":
        fixed = redirect_uri.replace(parts.netloc, parts.netloc.lower().replace("localhost", "127.0.0.1"), 1)
        raise UsageError(
            f"the redirect URI {redirect_uri} names localhost, which can mean 127.0.0.1 or ::1: another local "
            "user could listen on the one exactlink does not and take the login",
            hint=f"register {fixed} in the Exact App Center and set exact.redirect_uri (EXACTLINK_REDIRECT_URI) to it",
        )
    if not is_loopback_host(parts.hostname):
        return None
    port = parts.port if parts.port is not None else 80
    return RedirectTarget(host=parts.hostname or "", port=port, path=parts.path or "/")


STATE_MISMATCH = "the login answer does not belong to this login attempt"


def code_from_redirect(url: str, expected_state: str) -> str:
    """The authorization code in a redirected URL (or just its query string), after checking ``state``.

    Raises:
        LoginFailed: consent was denied, ``state`` does not match, or there is no code.
    """
    text = url.strip()
    query = urllib.parse.urlsplit(text).query if "?" in text or "://" in text else text.lstrip("?")
    values = urllib.parse.parse_qs(query, keep_blank_values=True)
    state = (values.get("state") or [""])[0]
    error = (values.get("error") or [""])[0]
    code = (values.get("code") or [""])[0]
    if not secrets.compare_digest(state, expected_state):
        raise LoginFailed(
            f"{STATE_MISMATCH} (state mismatch); nothing was stored",
            hint="run `exactlink login` again and use only the newest browser tab",
        )
    if error:
        from exactlink.api.errors import server_text

        description = server_text((values.get("error_description") or [""])[0]) or ""
        error = server_text(error, 80) or "error"
        if error == "access_denied":
            raise LoginFailed("consent was refused in the browser; nothing was stored", hint="run `exactlink login`")
        raise LoginFailed(f"Exact Online refused the login: {description or error}", hint="run `exactlink login`")
    if not code:
        raise LoginFailed("the redirected URL holds no authorization code", hint="paste the full URL from the browser")
    return code


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>exactlink</title></head>
<body style="font-family: sans-serif; margin: 3em;"><h1>{title}</h1><p>{text}</p></body></html>
"""


def _page(title: str, text: str) -> bytes:
    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode("utf-8")


class _Server(http.server.ThreadingHTTPServer):
    # SO_REUSEADDR lets a socket in TIME_WAIT be reused on POSIX, but on Windows it lets two listeners share a port.
    allow_reuse_address = os.name != "nt"
    daemon_threads = True
    listener: LoopbackListener


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        listener = self.server.listener
        parts = urllib.parse.urlsplit(self.path)
        if parts.path != listener.target.path:
            self._respond(404, _page("Not found", "This address is not part of the exactlink login."))
            return
        status, body = listener.accept(parts.query)
        self._respond(status, body)

    def _respond(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default access log: the request line carries the authorization code."""


class LoopbackListener:
    """Receives the one OAuth callback for a login attempt.

    Use as a context manager: entering binds the port (so a busy port fails before the browser opens)
    and serves in a background thread; :meth:`wait` returns the authorization code.

    Raises:
        ExactlinkError: the port is in use (exit 1, with how to change ``redirect_uri``).
    """

    @classmethod
    def on_free_port(cls) -> LoopbackListener:
        """A listener on ``http://127.0.0.1:<a free port>/callback`` (for the relay page, see ``auth.relay``);
        set the ``state`` it waits for with :meth:`expect` once it is bound and :attr:`port` is known."""
        return cls("http://127.0.0.1:0/callback", "")

    def __init__(self, redirect_uri: str, expected_state: str) -> None:
        target = loopback_target(redirect_uri)
        if target is None:
            raise UsageError(
                f"the redirect URI {redirect_uri} is not a http://127.0.0.1:PORT/… address this computer can listen on",
                hint="use `exactlink login --no-browser` and paste the redirected URL",
            )
        self.redirect_uri = redirect_uri
        self.target = target
        self.port = target.port
        """The port listened on (the one the system chose, for :meth:`on_free_port`)."""
        self._expected_state = expected_state
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._code: str | None = None
        self._failure: LoginFailed | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.ignored = 0
        """Requests to the redirect path without this login's ``state`` (answered and ignored)."""

    def __enter__(self) -> LoopbackListener:
        host = self.target.host
        try:
            server = (_Server6 if ":" in host else _Server)((host, self.target.port), _Handler)
        except OSError as exc:
            raise ExactlinkError(
                f"cannot listen on {host}:{self.target.port} for the login callback ({exc.strerror or exc})",
                hint=(
                    "stop the program using that port, or register another redirect URI "
                    "(e.g. http://127.0.0.1:8766/callback) in the Exact App Center and set exact.redirect_uri "
                    "(or EXACTLINK_REDIRECT_URI) to exactly that URI"
                ),
            ) from None
        server.listener = self
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="exactlink-login-callback", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def accept(self, query: str) -> tuple[int, bytes]:
        """Handle a request to the redirect path: the first one with this login's ``state`` decides the login;
        one without it is answered and ignored; once decided, every later one is refused."""
        with self._lock:
            if self._done.is_set():
                return 409, _page("Already handled", "This login was already answered. You can close this tab.")
            try:
                self._code = code_from_redirect(query, self._expected_state)
            except LoginFailed as failure:
                if failure.message.startswith(STATE_MISMATCH):
                    self.ignored += 1
                    return 400, _page("Not this login", "This answer does not belong to the login exactlink waits for.")
                self._failure = failure
                self._done.set()
                return 400, _page("Login not completed", f"{failure.message}. You can close this tab.")
            self._done.set()
            return 200, _page(
                "Logged in", "exactlink received the login. You can close this tab and return to the terminal."
            )

    def expect(self, state: str) -> None:
        """Wait for a callback with this ``state`` (a listener made with :meth:`on_free_port`)."""
        with self._lock:
            self._expected_state = state

    def poll(self) -> str | None:
        """The authorization code once the callback came, None while it has not.

        Raises:
            LoginFailed: the callback came and refused the login (consent denied, Exact's error).
        """
        if not self._done.is_set():
            return None
        if self._failure is not None:
            raise self._failure
        return self._code

    def wait(self, timeout: float) -> str:
        """Block until the callback arrives; returns the authorization code.

        Raises:
            LoginFailed: the callback was refused (state mismatch, consent denied) or none came in time.
        """
        if not wait_for(self._done, timeout):  # in slices, so Ctrl-C stops the wait at once
            ignored = f" ({self.ignored} request(s) without this login's state were ignored)" if self.ignored else ""
            raise LoginFailed(
                f"no answer from the browser within {timeout:g} s{ignored}; nothing was stored",
                hint="run `exactlink login` again (or `exactlink login --no-browser` on a machine without a browser)",
            )
        if self._failure is not None:
            raise self._failure
        assert self._code is not None
        return self._code


def wait_for_callback_or_paste(
    listener: LoopbackListener, read_pasted_url: Callable[[], str], expected_state: str, timeout: float
) -> str:
    """The authorization code from whichever comes first: the listener's callback or a pasted address.

    For an https redirect URI: a relay page at that address sends the browser on to the listener; without one
    the user pastes the address the browser ends on. A paste that is empty or unreadable (no terminal) does
    not end the login: the listener keeps waiting until ``timeout``.

    Raises:
        LoginFailed: the answer refused the login, belongs to another login, or none came in time.
    """
    import queue
    import time

    pasted: queue.Queue[str] = queue.Queue(maxsize=1)

    def read() -> None:
        try:
            pasted.put(read_pasted_url())
        except (LoginFailed, OSError, ValueError, EOFError):
            return

    threading.Thread(target=read, name="exactlink-login-paste", daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        code = listener.poll()
        if code is not None:
            return code
        try:
            return code_from_redirect(pasted.get(timeout=0.1), expected_state)
        except queue.Empty:
            if time.monotonic() >= deadline:
                return listener.wait(0)  # raises the time-out (or returns a callback that just came)
