"""A scripted user for the sandbox's login page, usable as ``$BROWSER`` by the demo.

``BROWSER="python -m exactlink.sandbox.robot %s"`` makes ``exactlink login`` open the authorization
URL in this "browser": it logs in with the sandbox's admin account, accepts the consent, and follows
the redirect to exactlink's loopback listener, exactly as a person's browser would. It detaches at
once (``webbrowser`` waits for the browser command), so the listener is already waiting when the
redirect arrives. Only for the sandbox: it knows the sandbox's login form and demo credentials.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import urllib.parse

_HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
SANDBOX_USERNAME = "admin@kantoor.example"
SANDBOX_PASSWORD = "sandbox"


def consent(url: str, *, username: str = SANDBOX_USERNAME, password: str = SANDBOX_PASSWORD) -> str:
    """Log in and accept on the sandbox consent page at ``url``; return the redirect (callback) URL."""
    import httpx

    page = httpx.get(url, timeout=30)
    page.raise_for_status()
    form = {name: html.unescape(value) for name, value in _HIDDEN_FIELD.findall(page.text)}
    form.update({"username": username, "password": password, "decision": "accept"})
    parts = urllib.parse.urlsplit(url)
    answer = httpx.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=form, timeout=30)
    if answer.status_code != 302:
        raise RuntimeError(f"the sandbox login page answered {answer.status_code}")
    return answer.headers["Location"]


def browse(url: str) -> None:
    """Consent, then deliver the redirect to exactlink's loopback listener."""
    import httpx

    httpx.get(consent(url), timeout=30)


def main(argv: list[str]) -> int:
    """``URL``: start a detached child that consents (so ``webbrowser`` returns at once); ``--now URL``: consent."""
    if len(argv) == 2 and argv[0] == "--now":
        browse(argv[1])
        return 0
    if len(argv) != 1:
        print("usage: python -m exactlink.sandbox.robot URL", file=sys.stderr)
        return 2
    subprocess.Popen(  # detached: webbrowser.open waits for this command to exit
        [sys.executable, "-m", "exactlink.sandbox.robot", "--now", argv[0]],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
