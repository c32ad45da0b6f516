"""`exactlink login` with an https redirect URI in real Chromium: through the relay page served over https, and
through the paste flow when nothing forwards the browser.

The registered redirect URI is an https address on this machine (a test server with a self-signed certificate,
which the browser context is told to accept); Exact's 302 sends the real browser there. With the relay page the
page's own script sends the browser on to exactlink's loopback listener; without it the test copies the address
bar into exactlink's terminal, as a person would.
"""

from __future__ import annotations

import http.server
import ipaddress
import os
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from exactlink.auth.relay import relay_page
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Exact
from tests.cli import run_cli
from tests.realworld.chromium_user import SANDBOX_PASSWORD, SANDBOX_USERNAME

pytestmark = pytest.mark.timeout(90, func_only=True)
PATH = "/exactlink/callback"
LISTENER = re.compile(r"http://127\.0\.0\.1:\d+/callback\?")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 valid 2000-2100 (so the test never depends on the day), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1))
        .not_valid_after(datetime(2100, 1, 1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@dataclass
class OfficeSite:
    """The office's own https site: serves the relay page at the redirect path, or (relay off) a 404."""

    url: str
    relay: bool = True
    served: list[str] = field(default_factory=list)


@pytest.fixture
def office_site(tmp_path: Path) -> Iterator[OfficeSite]:
    cert_file, key_file = self_signed(tmp_path)
    site = OfficeSite("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.served.append(self.path.split("?")[0])
            if self.path.split("?")[0] == PATH and site.relay:
                body, status = relay_page().encode(), 200
            else:
                body, status = b"<!doctype html><title>Not found</title><h1>Not found</h1>", 404
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    site.url = f"https://127.0.0.1:{server.server_address[1]}{PATH}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Person:
    """Logs in and accepts in real Chromium; reports where the browser ended and what the console said."""

    chromium: Browser
    site_url: str
    landed: list[str] = field(default_factory=list)
    final: list[tuple[str, str]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    then: object = None

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        context = self.chromium.new_context(ignore_https_errors=True)
        context.set_default_timeout(20_000)
        try:
            page = context.new_page()
            page.on("console", self._console)
            page.goto(url)
            page.get_by_label("Username").fill(SANDBOX_USERNAME)
            page.get_by_label("Password").fill(SANDBOX_PASSWORD)
            page.get_by_role("button", name="Accept").click()
            page.wait_for_url(lambda address: address.startswith(self.site_url) or bool(LISTENER.match(address)))
            self.landed.append(page.url)
            if callable(self.then):
                self.then(page)
            self.final.append((page.url, page.locator("h1").inner_text()))
        finally:
            context.close()
        return True

    def _console(self, message: object) -> None:
        from playwright.sync_api import ConsoleMessage

        assert isinstance(message, ConsoleMessage)
        # The browser asks every site for /favicon.ico on its own; none of them has one.
        if message.type == "error" and not str(message.location.get("url", "")).endswith("/favicon.ico"):
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")


def https_registration(exact: Exact, site: OfficeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    exact.sandbox.register_app(CLIENT_ID, CLIENT_SECRET, site.url)
    monkeypatch.setenv("EXACTLINK_REDIRECT_URI", site.url)


def test_the_relay_page_over_https_brings_the_browser_back(
    exact: Exact, office_site: OfficeSite, chromium: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    https_registration(exact, office_site, monkeypatch)
    person = Person(chromium, office_site.url)

    def wait_for_exactlink(page: object) -> None:
        page.wait_for_url(LISTENER)  # type: ignore[attr-defined]

    person.then = wait_for_exactlink
    monkeypatch.setattr(webbrowser, "open", person.open)

    result = run_cli("login")

    assert result.exit_code == 0, result.stderr
    assert PATH in office_site.served, "the browser went through the office's https page"
    url, heading = person.final[0]
    assert url.startswith("http://127.0.0.1:") and heading == "Logged in"
    assert person.console_errors == []
    assert exact.sandbox.token_calls["authorization_code"] == 1


def test_the_paste_flow_in_chromium(
    exact: Exact, office_site: OfficeSite, chromium: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    from exactlink.cli import auth_cmd

    https_registration(exact, office_site, monkeypatch)
    office_site.relay = False  # nothing forwards: the browser stops at the office's page
    read_end, write_end = os.pipe()
    person = Person(chromium, office_site.url)
    person.then = lambda page: os.write(write_end, (page.url + "\n").encode())  # the address bar, pasted
    monkeypatch.setattr(webbrowser, "open", person.open)

    with os.fdopen(read_end, "r") as terminal:
        monkeypatch.setattr(auth_cmd, "_read_line", lambda: terminal.readline().strip())
        result = run_cli("login")
    os.close(write_end)

    assert result.exit_code == 0, result.stderr
    assert person.landed[0].startswith(office_site.url + "?code=")
    assert person.final[0][1] == "Not found"
    assert exact.sandbox.token_calls["authorization_code"] == 1
