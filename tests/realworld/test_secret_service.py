"""Tokens in a real Secret Service keyring (gnome-keyring under its own D-Bus session), and the headless fallback.

Each exactlink command runs in its own process, as on a headless server: inside ``dbus-run-session`` with
gnome-keyring unlocked from stdin (the recipe the README gives), or with no D-Bus session at all. keyring
picks its backend by itself (``PYTHON_KEYRING_BACKEND`` unset); the keyring's files live in the test's own
HOME, so every command's fresh D-Bus session and daemon open the same login keyring again, as a second
cron run would. ``secret-tool`` (libsecret) reads the Secret Service independently of Python's keyring.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exactlink.auth.oauth import TokenSet
from exactlink.auth.tokens import service_name
from exactlink.exitcodes import ExitCode
from exactlink.sandbox.robot import consent
from tests.auth.conftest import CLIENT_ID, Exact

pytestmark = pytest.mark.timeout(60, func_only=True)  # fixtures may first apt-get install gnome-keyring

KEYRING_PASSWORD = "unlock-the-test-keyring-7Qe"
CHROMIUM_USER = Path(__file__).with_name("chromium_user.py")

# Unlock (creating it on first use) the login keyring with the password on stdin, wait until the daemon
# serves the Secret Service on this bus, then run the command. The password travels in the environment,
# never on a command line. (A daemon that has not reached the bus when the session ends never learns that it
# ended and lives on, so the command must not start, and finish, before it is there.)
UNLOCKED_KEYRING = """
printf '%s\\n' "$TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 97
tries=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \\
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
  tries=$((tries + 1)); [ "$tries" -lt 200 ] || exit 98
  sleep 0.05
done
exec "$@"
"""
# A D-Bus session whose Secret Service (D-Bus-activated gnome-keyring) stays locked: nobody types the password.
LOCKED_KEYRING = 'exec "$@"'


@dataclass
class HeadlessServer:
    """A user account on a headless Linux server that runs exactlink, each command in a process of its own."""

    exact: Exact
    home: Path
    env: dict[str, str]

    @property
    def service(self) -> str:
        return service_name(self.exact.base_url, CLIENT_ID)

    @staticmethod
    def _argv(command: tuple[str, ...], session: str | None) -> list[str]:
        """``command``, or ``command`` under the shell line ``session`` in a D-Bus session of its own."""
        if session is None:
            return list(command)
        return ["dbus-run-session", "--", "sh", "-c", session, "keyring-session", *command]

    def run(
        self, *command: str, session: str | None, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (stdin closed); ``session`` as for :meth:`_argv`."""
        return subprocess.run(
            self._argv(command, session),
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=45,
        )

    def exactlink(
        self, *args: str, session: str | None = UNLOCKED_KEYRING, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """``exactlink ARGS`` in its own process."""
        return self.run(sys.executable, "-m", "exactlink", *args, session=session, **kwargs)

    def keyring_tokens(self) -> TokenSet | None:
        """The tokens as the Secret Service holds them, read with libsecret's ``secret-tool`` (not Python's keyring)."""
        found = self.run(
            "secret-tool", "lookup", "service", self.service, "username", "tokens", session=UNLOCKED_KEYRING
        )
        if found.returncode != 0:
            assert found.stdout == "", found.stderr
            return None
        return TokenSet.from_json(found.stdout)

    def status(self, session: str | None = UNLOCKED_KEYRING) -> dict[str, Any]:
        """``exactlink status --json``."""
        result = self.exactlink("status", "--json", session=session)
        report: dict[str, Any] = json.loads(result.stdout)
        assert result.returncode == (0 if report["logged_in"] else ExitCode.LOGIN_REQUIRED), result.stderr
        return report

    def files_holding(self, secret: str) -> list[Path]:
        """Every file under EXACTLINK_HOME whose bytes contain ``secret``."""
        root = Path(self.env["EXACTLINK_HOME"])
        return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]

    def paste_login(self, *, session: str | None) -> subprocess.CompletedProcess[str]:
        """``exactlink login --no-browser`` over SSH: read the printed URL, consent elsewhere, paste the redirect."""
        argv = self._argv((sys.executable, "-m", "exactlink", "login", "--no-browser"), session)
        process = subprocess.Popen(
            argv, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert process.stdin is not None and process.stderr is not None
        seen: list[str] = []
        authorize_prefix = f"{self.exact.base_url}/api/oauth2/auth?"
        try:
            for line in process.stderr:
                seen.append(line)
                if line.startswith(authorize_prefix):
                    redirected = consent(line.strip())  # the sandbox's login form, filled in over HTTP
                    break
            else:
                raise AssertionError("login printed no authorization URL:\n" + "".join(seen))
            stdout, rest = process.communicate(redirected + "\n", timeout=45)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        return subprocess.CompletedProcess(argv, process.returncode, stdout, "".join(seen) + rest)

    @property
    def token_file(self) -> Path:
        """The 0600 fallback file."""
        return Path(self.env["EXACTLINK_HOME"]) / "state" / "tokens.json"


def keyring_daemons_of(home: Path) -> list[int]:
    """Process ids of the gnome-keyring daemons running with ``HOME=home`` (so: started by this test)."""
    wanted = f"HOME={home}".encode()
    pids = []
    for process in Path("/proc").iterdir():
        try:
            if not process.name.isdigit() or (process / "comm").read_text().strip() != "gnome-keyring-d":
                continue
            if wanted in (process / "environ").read_bytes().split(b"\0"):
                pids.append(int(process.name))
        except OSError:  # it ended meanwhile
            continue
    return pids


@pytest.fixture
def exact(loopback_exact: Exact) -> Exact:
    """Real Chromium (through ``$BROWSER``) comes back to ``exactlink login`` by itself only at a loopback
    redirect URI or through a relay page on an https site (test_https_redirect_login.py's subject); this test is
    about the keyring, so its App Center accepts an http://127.0.0.1 redirect URI."""
    return loopback_exact


@pytest.fixture
def server(exact: Exact, exactlink_home: Path, tmp_path: Path, system_packages: None) -> Iterator[HeadlessServer]:
    """A fresh HOME (where gnome-keyring keeps its keyrings) and no D-Bus session or keyring choice inherited.

    Afterwards no keyring daemon of this test may be left running: each one ends with its D-Bus session.
    """
    home = tmp_path / "home"
    runtime_dir = tmp_path / "run"
    for directory in (home, runtime_dir):
        directory.mkdir(mode=0o700)
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND", "DISPLAY", "WAYLAND_DISPLAY")
        and not name.startswith("XDG_")
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime_dir),
            "TEST_KEYRING_PASSWORD": KEYRING_PASSWORD,
            "EXACTLINK_HOME": str(exactlink_home),
            **exact.env,
        }
    )
    yield HeadlessServer(exact, home, env)
    deadline = time.monotonic() + 5
    while (left := keyring_daemons_of(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    assert left == [], "a gnome-keyring-daemon outlived its D-Bus session"


def test_tokens_live_in_the_secret_service_through_login_refresh_and_logout(server: HeadlessServer) -> None:
    # Log in in a real browser (Chromium via $BROWSER), inside the D-Bus session with the unlocked keyring.
    login = server.exactlink(
        "login", extra_env={"BROWSER": f"{shlex.quote(sys.executable)} {shlex.quote(str(CHROMIUM_USER))} %s"}
    )
    assert login.returncode == 0, login.stderr
    assert "chromium_user: 200 Logged in" in login.stderr
    assert f"Tokens are stored in OS keyring (SecretService Keyring), service {server.service}" in login.stdout
    assert "no usable OS keyring" not in login.stderr
    assert (server.home / ".local/share/keyrings/login.keyring").is_file()

    stored = server.keyring_tokens()
    assert stored is not None and stored.user is not None
    assert stored.user["email"] == "admin@kantoor.example"
    assert not server.token_file.exists()
    assert server.files_holding(stored.refresh_token) == [], "no copy of a token outside the keyring"
    assert server.files_holding(stored.access_token) == []

    report = server.status()
    assert report["logged_in"] is True and report["user"]["full_name"] == "Joost van der Horst"
    assert report["token_storage"] == {
        "kind": "keyring",
        "location": f"OS keyring (SecretService Keyring), service {server.service}",
    }

    # Eleven minutes later at Exact the access token is dead: the next command refreshes, rotating the
    # refresh token, and the rotated one goes back into the keyring.
    server.exact.sandbox.advance(11 * 60)
    tenants = server.exactlink("tenant", "list", "--json")
    assert tenants.returncode == 0, tenants.stderr
    assert server.exact.sandbox.token_calls["refresh_token"] == 1
    rotated = server.keyring_tokens()
    assert rotated is not None
    assert rotated.refresh_token != stored.refresh_token and rotated.access_token != stored.access_token
    assert rotated.user == stored.user
    assert server.files_holding(rotated.refresh_token) == []
    again = server.exactlink("tenant", "list", "--json")
    assert again.returncode == 0, again.stderr
    assert server.exact.sandbox.token_calls["refresh_token"] == 1, "a fresh token in the keyring is simply used"

    logout = server.exactlink("logout")
    assert logout.returncode == 0, logout.stderr
    assert "removed the tokens from OS keyring" in logout.stdout
    assert server.keyring_tokens() is None
    assert server.status()["logged_in"] is False


def test_a_locked_keyring_falls_back_to_the_file_and_says_how_to_fix_it(server: HeadlessServer) -> None:
    # The login keyring exists (a first session created it) but in this session nobody unlocks it.
    assert server.run("true", session=UNLOCKED_KEYRING).returncode == 0
    paste = server.paste_login(session=LOCKED_KEYRING)
    assert paste.returncode == 0, paste.stderr
    warning = " ".join(paste.stderr.split())
    assert "no usable OS keyring (the keyring is locked and nothing here can unlock it)" in warning
    assert "run exactlink inside `dbus-run-session` with an unlocked gnome-keyring" in warning
    token_file = server.token_file
    assert f"Tokens are stored in file {token_file} (mode 0600)" in paste.stdout
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert server.keyring_tokens() is None, "nothing was written into the locked keyring"


def test_without_a_dbus_session_the_tokens_go_to_the_0600_file_with_a_clear_warning(server: HeadlessServer) -> None:
    assert "DBUS_SESSION_BUS_ADDRESS" not in server.env
    login = server.paste_login(session=None)
    assert login.returncode == 0, login.stderr
    token_file = server.token_file
    assert f"Tokens are stored in file {token_file} (mode 0600)" in login.stdout
    warning = " ".join(login.stderr.split())
    assert "no usable OS keyring (no keyring backend is available (no Secret Service / D-Bus session?))" in warning
    assert f"tokens are kept in {token_file} (readable only by you)" in warning
    assert "dbus-run-session" in warning and "gnome-keyring" in warning
    assert "EXACTLINK_EXACT__TOKEN_STORAGE=file" in warning
    assert warning.count("no usable OS keyring") == 1, "one warning per command"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert server.service in json.loads(token_file.read_text())

    report = server.status(session=None)
    assert report["logged_in"] is True
    assert report["token_storage"] == {"kind": "file", "location": f"file {token_file} (mode 0600)"}
    tenants = server.exactlink("tenant", "list", "--json", session=None)
    assert tenants.returncode == 0, tenants.stderr

    # Choosing the file on purpose silences the warning.
    quiet = server.exactlink("status", session=None, extra_env={"EXACTLINK_EXACT__TOKEN_STORAGE": "file"})
    assert quiet.returncode == 0 and "no usable OS keyring" not in quiet.stderr
    assert f"tokens: file {token_file} (mode 0600)" in quiet.stdout

    logout = server.exactlink("logout", session=None)
    assert logout.returncode == 0, logout.stderr
    assert f"removed the tokens from {token_file}" in logout.stdout
    assert not token_file.exists()
    assert server.status(session=None)["logged_in"] is False
