"""A person at a real browser: Debian's headless Chromium, driven by Playwright, on the sandbox's login page.

Used two ways:

* in-process, :meth:`ChromiumUser.open` replaces ``webbrowser.open`` while ``exactlink login`` runs, so the
  real loopback listener receives the real browser's redirect;
* as a ``$BROWSER`` command (``python chromium_user.py URL``), which Python's ``webbrowser`` runs for a
  ``exactlink login`` in another process; it launches its own Chromium, logs in, accepts, and exits once
  the browser has shown exactlink's callback page.

This file imports nothing from the project or the tests, so it runs as a plain script too.
"""

from __future__ import annotations

import re
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (package ``chromium``); Playwright never downloads a browser of its own here."""

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps dialling Google's hosts, which this closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

SANDBOX_USERNAME = "admin@kantoor.example"
SANDBOX_PASSWORD = "sandbox"
FORGED_STATE = "forged-by-the-test"


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Start headless Chromium (Playwright gives every launch a fresh, empty profile) and stop it afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class CallbackAnswer:
    """What exactlink's loopback listener showed the browser."""

    url: str
    status: int
    heading: str
    text: str


@dataclass
class ChromiumUser:
    """Logs in on the sandbox's consent page in a real browser and follows Exact's redirect to the callback.

    Args:
        browser: a launched Chromium.
        decision: ``accept`` or ``deny`` (the consent page's buttons).
        forge_state: intercept Exact's 302 and send the browser to the callback with another ``state``.
        close_before_consent: close the tab on the login page (the user gives up).
        callback_twice: after the callback page, load the same callback URL again (a reload, a second tab).
        timeout_ms: how long one page action may take.
    """

    browser: Browser
    decision: str = "accept"
    forge_state: bool = False
    close_before_consent: bool = False
    callback_twice: bool = False
    username: str = SANDBOX_USERNAME
    password: str = SANDBOX_PASSWORD
    timeout_ms: float = 15_000
    opened: list[str] = field(default_factory=list)
    login_page_title: str = ""
    exact_redirects: list[str] = field(default_factory=list)
    answers: list[CallbackAnswer] = field(default_factory=list)

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        """``webbrowser.open``: browse to ``url`` in a new browser context and play the user."""
        self.opened.append(url)
        redirect_uri = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"][0]
        context = self.browser.new_context()
        context.set_default_timeout(self.timeout_ms)
        try:
            page = context.new_page()
            page.goto(url)
            self.login_page_title = page.title()
            if self.close_before_consent:
                page.close()
                return True
            page.get_by_label("Username").fill(self.username)
            page.get_by_label("Password").fill(self.password)
            page.route(re.compile(r".*/api/oauth2/auth$"), self._watch_exact_redirect)
            button = "Accept" if self.decision == "accept" else "Deny"
            with page.expect_navigation(url=lambda address: address.startswith(redirect_uri)) as navigation:
                page.get_by_role("button", name=button).click()
            self.answers.append(self._answer(page, navigation.value))
            if self.callback_twice:
                again = page.goto(page.url)
                self.answers.append(self._answer(page, again))
        finally:
            context.close()
        return True

    def _watch_exact_redirect(self, route: Route) -> None:
        """Let the consent POST through to the sandbox; note (and, if asked, forge) the redirect it answers."""
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        location = answer.headers.get("location", "")
        self.exact_redirects.append(location)
        if self.forge_state:
            location = re.sub(r"([?&]state=)[^&]*", rf"\g<1>{FORGED_STATE}", location)
        route.fulfill(status=answer.status, headers={"Location": location}, body=answer.body())

    @staticmethod
    def _answer(page: Page, response: object) -> CallbackAnswer:
        from playwright.sync_api import Response

        assert isinstance(response, Response), "the callback page did not load"
        return CallbackAnswer(
            url=response.url,
            status=response.status,
            heading=page.locator("h1").inner_text(),
            text=page.locator("body").inner_text(),
        )


def main(argv: list[str]) -> int:
    """``$BROWSER`` entry point: log in and accept at ``argv[0]``; print the callback page's heading."""
    if len(argv) != 1:
        print("usage: chromium_user.py URL", file=sys.stderr)
        return 2
    with launched_chromium() as browser:
        user = ChromiumUser(browser)
        user.open(argv[0])
    print(f"chromium_user: {user.answers[0].status} {user.answers[0].heading}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
