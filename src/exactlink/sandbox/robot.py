"""A scripted user for the sandbox's login page, usable as ``$BROWSER`` by the demo.

``BROWSER="python -m exactlink.sandbox.robot --clipboard FILE %s"`` makes ``exactlink login`` open the
authorization URL in this "browser": it logs in with the sandbox's admin account, accepts the consent, and goes
where Exact's redirect sends it, exactly as a person's browser would. At an http loopback redirect URI that is
exactlink's own listener. At an https redirect URI (the App Center's rule) it is the office's page, which
nothing on this machine serves: the browser stops there and the person copies the address it ends on, here into
``FILE`` (the clipboard), from where :func:`paste_from` types it into the terminal where ``exactlink login``
waits. It detaches at once (``webbrowser`` waits for the browser command), so exactlink is already waiting when
the answer arrives. Only for the sandbox: it knows the sandbox's login form and demo credentials.
"""

from __future__ import annotations

import functools
import html
import ipaddress
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
SANDBOX_USERNAME = "admin@kantoor.example"
SANDBOX_PASSWORD = "sandbox"
PASTE_POLL_SECONDS = 0.05
# typed(done): the line a person types at a command's terminal, or None when ``done`` is set (the command ended).
Typist = Callable[[threading.Event], str | None]


@functools.cache
def _http() -> httpx.Client:
    """The browser's one HTTP client: each new client loads the CA bundle again (tens of ms of CPU), and the
    sandbox sets no cookies, so one client for every page is what a browser would do."""
    import httpx

    return httpx.Client(timeout=30)


def consent(url: str, *, username: str = SANDBOX_USERNAME, password: str = SANDBOX_PASSWORD) -> str:
    """Log in and accept on the sandbox consent page at ``url``; return the redirect (callback) URL."""
    page = _http().get(url)
    page.raise_for_status()
    form = {name: html.unescape(value) for name, value in _HIDDEN_FIELD.findall(page.text)}
    form.update({"username": username, "password": password, "decision": "accept"})
    parts = urllib.parse.urlsplit(url)
    answer = _http().post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form)
    if answer.status_code != 302:
        raise RuntimeError(f"the sandbox login page answered {answer.status_code}")
    return answer.headers["Location"]


def _on_loopback(address: str) -> bool:
    parts = urllib.parse.urlsplit(address)
    try:
        return parts.scheme == "http" and ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def browse(url: str, clipboard: Path | None = None) -> None:
    """Consent, then follow the redirect to exactlink's loopback listener, or copy the https address the browser
    stops at into ``clipboard``.

    Raises:
        RuntimeError: the redirect is not to a loopback listener and there is no clipboard to copy it to.
    """
    address = consent(url)
    if _on_loopback(address):
        _http().get(address)
    elif clipboard is not None:
        copy_address(address, clipboard)
    else:
        raise RuntimeError("the browser stopped at the redirect URI; nobody is there to copy its address")


def copy_address(address: str, clipboard: Path) -> None:
    """Put ``address`` in the clipboard file, whole or not at all, readable by this user only (it holds a code)."""
    draft = clipboard.with_name(clipboard.name + ".draft")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(address)
    os.replace(draft, clipboard)


def clipboard_in(home: Path) -> Path:
    """The clipboard file the demo's browser and typist share, in the demo's home."""
    return home / "browser-address.txt"


def paste_from(clipboard: Path) -> Typist:
    """The person at the terminal: once the browser copied an address into ``clipboard``, paste it (and empty the
    clipboard); None if the command ends first."""

    def paste(done: threading.Event) -> str | None:
        while not done.is_set():
            try:
                address = clipboard.read_text(encoding="utf-8")
            except FileNotFoundError:
                done.wait(PASTE_POLL_SECONDS)
                continue
            clipboard.unlink(missing_ok=True)
            return address.strip()
        return None

    return paste


def main(argv: list[str]) -> int:
    """``[--clipboard FILE] URL``: start a detached child that consents (so ``webbrowser`` returns at once);
    ``--now [--clipboard FILE] URL``: consent."""
    now = argv[:1] == ["--now"]
    arguments = argv[1:] if now else argv
    clipboard = None
    if len(arguments) == 3 and arguments[0] == "--clipboard":
        clipboard, arguments = Path(arguments[1]), arguments[2:]
    if len(arguments) != 1:
        print("usage: python -m exactlink.sandbox.robot [--clipboard FILE] URL", file=sys.stderr)
        return 2
    if now:
        browse(arguments[0], clipboard)
        return 0
    subprocess.Popen(  # detached: webbrowser.open waits for this command to exit
        [sys.executable, "-m", "exactlink.sandbox.robot", "--now", *argv],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
