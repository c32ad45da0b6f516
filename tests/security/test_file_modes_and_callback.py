"""Private files and a loopback-only OAuth callback.

Files: everything exactlink writes (database with its WAL, the 0600 token fallback, logs, lock files, the state
files, ``config init``'s config, ``crm export``'s CSV) is 0600 and every directory it creates is 0700, even when
the process runs with ``umask 000`` (a file created without an explicit mode would then be world-writable).
``tests/security/test_secrets_scan.py`` checks the same for everything the demo leaves behind.

Callback: the listener of ``exactlink login`` binds 127.0.0.1 only (checked in the kernel's socket table while
it waits, and by a connection from 127.0.0.2, which a socket bound to 0.0.0.0 would accept), and the PKCE
challenge in the authorization URL is the S256 of the verifier the token endpoint received. That it checks
``state``, accepts one callback and then stops, and refuses a denied consent is tested in
``tests/auth/test_login_cli.py`` (test browser) and ``tests/realworld/test_browser_login.py`` (real Chromium).
"""

from __future__ import annotations

import socket
import stat
import urllib.parse
from pathlib import Path

import pytest

from exactlink.auth import pkce
from exactlink.exitcodes import ExitCode
from tests.auth.conftest import Browser, Exact
from tests.auth.conftest import browser as browser
from tests.auth.conftest import exact as exact
from tests.auth.conftest import loopback_exact as loopback_exact
from tests.cli import run_cli


def modes(root: Path) -> dict[str, int]:
    """``relative path → permission bits`` of ``root`` and everything below it."""
    return {
        (path.relative_to(root).as_posix() or "."): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *sorted(root.rglob("*"))]
    }


def assert_private(root: Path) -> None:
    for name, mode in modes(root).items():
        expected = 0o700 if (root / name).is_dir() else 0o600
        assert mode == expected, (name, oct(mode))


def test_every_file_is_private_even_with_umask_000(
    exact: Exact, browser: Browser, exactlink_home: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    import logging

    from exactlink.sandbox.generator import write_crm_export

    # Logging is configured once per process; make this test's commands open their log file in this home.
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    monkeypatch.setenv("EXACTLINK_EXACT__TOKEN_STORAGE", "file")
    assert not exactlink_home.exists()
    assert run_cli("config", "init").exit_code == 0
    assert run_cli("login").exit_code == 0
    assert run_cli("tenant", "select", str(exact.sandbox.data.office_division), "--yes").exit_code == 0
    crm_file = exactlink_home.parent / "crm.csv"
    write_crm_export(exact.sandbox.data, crm_file)
    assert run_cli("crm", "import", str(crm_file)).exit_code in (0, 3)
    assert run_cli("match").exit_code in (0, 3)
    assert run_cli("crm", "export", str(exactlink_home / "export.csv")).exit_code == 0
    assert run_cli("config", "init", "--force").exit_code == 0
    written = modes(exactlink_home)
    for name in ("config.toml", "exactlink.db", "state/tokens.json", "log/exactlink.log", "export.csv", "state/locks"):
        assert name in written, name
    assert any(name.endswith(".lock") for name in written)
    assert_private(exactlink_home)


def test_config_init_force_makes_an_open_config_private(exactlink_home: Path) -> None:
    exactlink_home.mkdir(mode=0o700)
    config = exactlink_home / "config.toml"
    config.write_text("# an old file\n", encoding="utf-8")
    config.chmod(0o644)
    assert run_cli("config", "init").exit_code == ExitCode.USAGE, "an existing file is not overwritten"
    assert run_cli("config", "init", "--force").exit_code == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_the_write_ahead_log_of_an_open_database_is_private(exactlink_home: Path, open_umask: None) -> None:
    from exactlink.store.db import open_db

    db = open_db()
    try:
        db.conn.execute("INSERT INTO meta (key, value, updated_at) VALUES ('probe', '1', 'now')")
        side_files = [exactlink_home / "exactlink.db-wal", exactlink_home / "exactlink.db-shm"]
        assert all(path.exists() for path in side_files), "WAL mode keeps its side files while the database is open"
        for path in [exactlink_home / "exactlink.db", *side_files]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    finally:
        db.close()


def _listening_addresses(port: int) -> list[str]:
    """The local addresses of the kernel's LISTEN sockets on ``port`` (IPv4 and IPv6 tables)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                if len(address) == 8:  # IPv4, little-endian hex
                    found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    found.append(f"ipv6:{address}")
    return found


def test_the_callback_listens_on_127_0_0_1_only_and_pkce_is_s256_of_the_verifier(
    loopback_exact: Exact, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    # The listener on the redirect URI's own port: an App Center that accepts an http://127.0.0.1 redirect URI.
    exact = loopback_exact
    port = urllib.parse.urlsplit(exact.redirect_uri).port
    assert port is not None
    seen: dict[str, object] = {}

    def inspect_then_consent(url: str, *args: object, **kwargs: object) -> bool:
        # The listener is bound before the browser opens: look at it now, while login waits.
        seen["listening"] = _listening_addresses(port)
        with socket.socket() as probe:
            probe.settimeout(2)
            seen["from 127.0.0.2"] = probe.connect_ex(("127.0.0.2", port))
        seen["url"] = url
        return browser.open(url, *args, **kwargs)

    monkeypatch.setattr(webbrowser, "open", inspect_then_consent)
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert seen["listening"] == ["127.0.0.1"], "one listening socket, on the loopback address only"
    assert seen["from 127.0.0.2"] != 0, "another local address is refused"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(str(seen["url"])).query)
    assert query["code_challenge_method"] == ["S256"]
    (verifier,) = exact.sandbox.oauth.issued_secrets().code_verifiers
    assert query["code_challenge"] == [pkce.s256_challenge(verifier)]
    assert verifier not in str(seen["url"]), "the verifier itself never travels through the browser"
    assert _listening_addresses(port) == [], "the listener is gone once the login is done"
