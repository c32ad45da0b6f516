"""TokenStore: the OS keyring, and the 0600 file fallback for missing, failing, null and hanging keyrings."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, KeyringLocked

from exactlink.auth.oauth import TokenSet
from exactlink.auth.tokens import TokenStore, service_name
from exactlink.errors import LoginRequired
from exactlink.exitcodes import ExitCode
from tests.auth.conftest import Browser, Exact
from tests.cli import run_cli, set_workspace
from tests.conftest import MemoryKeyring

BASE = "https://start.exactonline.nl"


def tokens(n: int = 1) -> TokenSet:
    return TokenSet(f"access-{n}", f"refresh-{n}", expires_at=1000.0 + n, refreshed_at=float(n))


class RaisingKeyring(KeyringBackend):
    """A keyring whose every call fails (a broken Secret Service)."""

    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringError("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringError("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringError("Failed to unlock the collection!")


class LockedKeyring(RaisingKeyring):
    """A Secret Service whose collection is locked and cannot prompt (what secretstorage raises headless)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class HangingKeyring(KeyringBackend):
    """A keyring that never answers (a locked collection waiting for a prompt nobody sees)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(30)

    def delete_password(self, service: str, username: str) -> None:
        self.release.wait(30)


class ForgetfulKeyring(MemoryKeyring):
    """Accepts writes but keeps nothing (like the null backend, but not recognisable by its class)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        return None


@pytest.fixture
def hanging() -> Iterator[HangingKeyring]:
    backend = HangingKeyring()
    keyring.set_keyring(backend)
    yield backend
    backend.release.set()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keyring_round_trip_and_service_name(memory_keyring: MemoryKeyring) -> None:
    warnings: list[str] = []
    store = TokenStore(BASE, "abc", warn=warnings.append)
    assert store.save(tokens()) == "keyring"
    assert (f"exactlink:{BASE}:abc", "tokens") in memory_keyring.store
    assert store.load() == tokens()
    assert store.kind == "keyring" and "OS keyring" in store.location()
    assert warnings == []
    assert service_name(BASE + "/", "abc") == service_name(BASE, "abc")


@pytest.mark.parametrize(
    ("backend", "problem"),
    [
        (RaisingKeyring(), "the keyring failed: KeyringError"),
        (LockedKeyring(), "the keyring is locked and nothing here can unlock it"),
        (fail.Keyring(), "no keyring backend is available"),
        (null.Keyring(), "discards everything"),
        (ForgetfulKeyring(), "did not keep what was written"),
    ],
    ids=["raises", "locked", "fail-backend", "null-backend", "forgetful"],
)
def test_unusable_keyrings_fall_back_to_a_private_file(
    backend: KeyringBackend, problem: str, exactlink_home: Path
) -> None:
    keyring.set_keyring(backend)
    warnings: list[str] = []
    store = TokenStore(BASE, "abc", warn=warnings.append)
    assert store.save(tokens()) == "file"
    assert store.load() == tokens()
    assert store.kind == "file" and str(store.token_file) in store.location()
    assert file_mode(store.token_file) == 0o600
    assert len(warnings) == 1, "one warning, not one per call"
    assert problem in warnings[0]
    assert "dbus-run-session" in warnings[0] and 'token_storage = "file"' in warnings[0]
    assert store.token_file == exactlink_home / "state" / "tokens.json"
    assert store.delete() == [str(store.token_file)]
    assert store.load() is None


def test_a_hanging_keyring_is_given_up_after_the_timeout(hanging: HangingKeyring) -> None:
    warnings: list[str] = []
    store = TokenStore(BASE, "abc", keyring_timeout=0.2, warn=warnings.append)
    assert store.save(tokens()) == "file"
    assert "did not answer within" in warnings[0]
    assert store.load() == tokens(), "after one time-out the keyring is not asked again"


def test_file_mode_never_touches_the_keyring(hanging: HangingKeyring) -> None:
    warnings: list[str] = []
    store = TokenStore(BASE, "abc", mode="file", warn=warnings.append)
    store.save(tokens())
    assert store.load() == tokens()
    assert warnings == [], "choosing the file on purpose is not warned about"


def test_keyring_mode_refuses_to_fall_back() -> None:
    keyring.set_keyring(fail.Keyring())
    store = TokenStore(BASE, "abc", mode="keyring")
    with pytest.raises(LoginRequired) as caught:
        store.save(tokens())
    assert caught.value.exit_code == ExitCode.LOGIN_REQUIRED
    assert not store.token_file.exists()


def test_a_working_keyring_outranks_a_newer_file_and_a_keyring_save_removes_the_stale_file(
    memory_keyring: MemoryKeyring,
) -> None:
    # Security round two: a newer-looking tokens.json (planted, or left over) never replaces the keyring's login.
    file_store = TokenStore(BASE, "abc", mode="file")
    file_store.save(tokens(2))
    store = TokenStore(BASE, "abc")
    memory_keyring.set_password(store.service, "tokens", tokens(1).to_json())
    assert store.load() == tokens(1)
    assert store.kind == "keyring"
    store.save(tokens(3))
    assert not store.token_file.exists(), "no plaintext copy is left once the keyring holds the tokens"
    assert store.load() == tokens(3)


def test_the_file_is_used_in_auto_mode_when_the_keyring_holds_nothing_or_is_unusable(
    memory_keyring: MemoryKeyring,
) -> None:
    TokenStore(BASE, "abc", mode="file").save(tokens(2))
    assert TokenStore(BASE, "abc").load() == tokens(2), "an empty keyring: the earlier file login still works"
    memory_keyring.set_password(service_name(BASE, "abc"), "tokens", tokens(1).to_json())
    keyring.set_keyring(RaisingKeyring())
    assert TokenStore(BASE, "abc", warn=lambda message: None).load() == tokens(2), "an unusable keyring"


def test_several_logins_share_the_file(exactlink_home: Path) -> None:
    one = TokenStore(BASE, "one", mode="file")
    two = TokenStore("https://start.exactonline.be", "two", mode="file")
    one.save(tokens(1))
    two.save(tokens(2))
    one.set_secret("s3cret")
    assert one.load() == tokens(1) and two.load() == tokens(2) and one.get_secret() == "s3cret"
    one.delete()
    assert set(json.loads(two.token_file.read_text())) == {one.service, two.service}
    assert one.load() is None and two.load() == tokens(2)


def test_unreadable_file_is_ignored(exactlink_home: Path) -> None:
    store = TokenStore(BASE, "abc", mode="file")
    store.token_file.parent.mkdir(parents=True)
    store.token_file.write_text("{broken")
    store.token_file.chmod(0o600)
    assert store.load() is None


def test_login_with_a_failing_keyring_uses_the_file_and_says_so(
    exact: Exact, browser: Browser, exactlink_home: Path
) -> None:
    keyring.set_keyring(RaisingKeyring())
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("no usable OS keyring") == 1 and "dbus-run-session" in result.stderr
    token_file = exactlink_home / "state" / "tokens.json"
    assert f"Tokens are stored in file {token_file}" in result.stdout
    assert file_mode(token_file) == 0o600
    status = run_cli("status", "--json")
    assert json.loads(status.stdout)["token_storage"]["kind"] == "file"
    assert run_cli("tenant", "list").exit_code == 0


def test_login_with_a_hanging_keyring_falls_back(
    exact: Exact, browser: Browser, hanging: HangingKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_workspace(monkeypatch, keyring_timeout=0.2)
    result = run_cli("login")
    assert result.exit_code == 0, result.stderr
    assert "did not answer within" in result.stderr
    assert "Tokens are stored in file" in result.stdout
