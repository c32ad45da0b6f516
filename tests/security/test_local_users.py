"""Two local users on one machine: exactlink's files are private the way ssh keeps ``~/.ssh`` private.

The attacker is a second uid. Tests run as root, so some attacks are played by a real child process that
has switched to that uid (``OTHER_UID``) and others are simulated with ``os.chown`` to it. exactlink refuses
(exit 2, one line saying what to fix) a home, state, log or config directory that is not the user's or that
group/others may write to, and a config or token file of another user; it creates its files with
``O_NOFOLLOW|O_EXCL`` under unpredictable temporary names, never follows a planted log symlink, keeps rotated
logs 0600, and never lets a token file outrank a working keyring (``tests/auth/test_tokens.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactlink.auth.oauth import TokenSet
from exactlink.auth.tokens import TokenStore
from exactlink.errors import UnsafePermissions
from exactlink.exitcodes import ExitCode
from tests.cli import run_cli
from tests.conftest import MemoryKeyring
from tests.security.conftest import assert_one_clear_error

OTHER_UID = 4242
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable  # the venv may be root's only
BASE = "https://start.exactonline.nl"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="playing a second local user needs root")


def as_other_user(code: str, *args: str) -> None:
    """Run Python ``code`` as the second local user (the attacker)."""
    subprocess.run(
        [SYSTEM_PYTHON, "-c", code, *args], check=True, user=OTHER_UID, group=OTHER_UID, extra_groups=[], timeout=60
    )


@pytest.fixture(autouse=True)
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging is configured once per process: let this test's commands open their log in this test's home."""
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every local user may write to (like /tmp without the sticky bit, or a shared folder).

    It lives directly in /tmp: pytest's own temporary directories are closed to other users.
    """
    directory = Path(tempfile.mkdtemp(prefix="exactlink-shared-", dir="/tmp"))
    directory.chmod(0o777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def tokens(n: int) -> TokenSet:
    return TokenSet(f"access-{n}", f"refresh-{n}", expires_at=1000.0 + n, refreshed_at=float(n))


# -- directories -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", [".", "state", "log", "state/locks"])
def test_a_directory_others_can_write_to_is_refused(exactlink_home: Path, where: str) -> None:
    assert run_cli("config", "path").exit_code == 0  # creates the directories, private
    (exactlink_home / where).chmod(0o777)
    result = run_cli("status")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "other users can write to it" in line and "(mode 777)" in line, line
    assert f"chmod 700 {exactlink_home / where}".rstrip("/.") in result.stderr.replace("/.", "")


@needs_root
def test_a_home_made_by_another_user_in_a_shared_directory_is_refused(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = shared / "exactlink"
    # The attacker gets there first: a home (with a state directory) the victim would otherwise trust.
    as_other_user("import os, sys; os.makedirs(sys.argv[1] + '/state', mode=0o700)", str(home))
    monkeypatch.setenv("EXACTLINK_HOME", str(home))
    result = run_cli("status")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    line = assert_one_clear_error(result.stderr)
    assert "belongs to" in line and str(home) in line, line
    assert not (home / "state" / "tokens.json").exists()


@needs_root
def test_a_planted_log_symlink_is_never_followed(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = shared / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    home = shared / "home"
    as_other_user(
        "import os, sys; os.makedirs(sys.argv[1] + '/log', mode=0o777); "
        "os.chmod(sys.argv[1], 0o777); os.chmod(sys.argv[1] + '/log', 0o777); "
        "os.symlink(sys.argv[2], sys.argv[1] + '/log/exactlink.log')",
        str(home),
        str(victim),
    )
    monkeypatch.setenv("EXACTLINK_HOME", str(home))
    result = run_cli("status")
    assert result.exit_code == ExitCode.USAGE
    assert_one_clear_error(result.stderr)
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644


def test_a_log_symlink_in_a_private_directory_is_refused_too(exactlink_home: Path, tmp_path: Path) -> None:
    assert run_cli("config", "path").exit_code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    log_file = exactlink_home / "log" / "exactlink.log"
    log_file.unlink(missing_ok=True)
    log_file.symlink_to(victim)
    logging.getLogger("exactlink").handlers = []
    logging.getLogger("exactlink")._exactlink_configured = False  # type: ignore[attr-defined]
    result = run_cli("status")
    assert result.exit_code == ExitCode.USAGE
    assert "symbolic link" in assert_one_clear_error(result.stderr)
    assert victim.read_text() == "precious\n"


# -- files -----------------------------------------------------------------------------------------------------------


@needs_root
def test_a_config_of_another_user_is_refused(exactlink_home: Path) -> None:
    assert run_cli("config", "init").exit_code == 0
    config = exactlink_home / "config.toml"
    config.write_text('[exact]\nbase_url = "https://evil.example"\n')
    os.chown(config, OTHER_UID, OTHER_UID)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE, result.stdout
    line = assert_one_clear_error(result.stderr)
    assert "config.toml" in line and "belongs to" in line and "not to you" in line, line
    assert "evil" not in result.stdout


def test_a_config_others_can_change_is_refused(exactlink_home: Path) -> None:
    assert run_cli("config", "init").exit_code == 0
    config = exactlink_home / "config.toml"
    config.chmod(0o666)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE
    assert "other users can change it" in assert_one_clear_error(result.stderr)
    assert f"chmod 600 {config}" in result.stderr


@needs_root
@pytest.mark.parametrize("problem", ["another owner", "readable by others"])
def test_a_token_file_of_another_user_or_open_to_others_is_refused(exactlink_home: Path, problem: str) -> None:
    store = TokenStore(BASE, "abc", mode="file")
    store.save(tokens(1))
    if problem == "another owner":
        os.chown(store.token_file, OTHER_UID, OTHER_UID)
    else:
        store.token_file.chmod(0o644)
    with pytest.raises(UnsafePermissions) as caught:
        TokenStore(BASE, "abc", mode="file").load()
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(store.token_file) in caught.value.message


def test_a_planted_newer_token_file_does_not_replace_the_keyring_login(memory_keyring: MemoryKeyring) -> None:
    store = TokenStore(BASE, "abc")
    store.save(tokens(1))
    assert store.kind == "keyring"
    TokenStore(BASE, "abc", mode="file").save(tokens(99))  # "newer": refreshed_at 99
    assert TokenStore(BASE, "abc").load() == tokens(1)


def test_the_temporary_token_file_name_is_unpredictable_and_never_followed(
    exactlink_home: Path, tmp_path: Path
) -> None:
    store = TokenStore(BASE, "abc", mode="file")
    store.save(tokens(1))
    catch = tmp_path / "attacker.txt"
    catch.write_text("")
    # The old predictable name: a symlink planted there catches nothing now.
    (store.token_file.parent / f".tokens.json.{os.getpid()}.tmp").symlink_to(catch)
    store.save(tokens(2))
    assert catch.read_text() == ""
    assert stat.S_IMODE(store.token_file.stat().st_mode) == 0o600 and not store.token_file.is_symlink()


def test_a_temporary_name_that_exists_is_never_written_through(
    exactlink_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    from exactlink.paths import write_private_atomically

    target = tmp_path / "private" / "data.json"
    target.parent.mkdir(mode=0o700)
    catch = tmp_path / "attacker.txt"
    catch.write_text("")
    monkeypatch.setattr(secrets, "token_hex", lambda n: "guessed")
    (target.parent / ".data.json.guessed.tmp").symlink_to(catch)
    with pytest.raises(FileExistsError):
        write_private_atomically(target, b"secret")
    assert catch.read_text() == "" and not target.exists()


@needs_root
def test_a_lock_file_planted_by_another_user_is_refused(exactlink_home: Path) -> None:
    from exactlink.paths import create_private_file

    lock = exactlink_home / "state" / "locks" / "run.lock"
    lock.parent.mkdir(parents=True, mode=0o700)
    lock.write_text("")
    os.chown(lock, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafePermissions):
        create_private_file(lock)


def test_rotated_logs_stay_private_under_umask_000(exactlink_home: Path, open_umask: None) -> None:
    from exactlink.logging_setup import PrivateRotatingFileHandler

    log_dir = exactlink_home / "log"
    log_dir.mkdir(parents=True, mode=0o700)
    handler = PrivateRotatingFileHandler(log_dir / "exactlink.log", maxBytes=200, backupCount=2)
    logger = logging.getLogger("exactlink.rotation-probe")
    logger.addHandler(handler)
    try:
        for n in range(40):
            logger.warning("line %d %s", n, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(log_dir.iterdir())
    assert len(files) == 3, files  # rotated twice at least
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}
