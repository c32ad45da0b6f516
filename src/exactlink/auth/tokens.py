"""Where tokens (and the client secret) are kept: the OS keyring, or a 0600 file where there is none.

One entry per Exact Online site and app: the keyring service name is ``exactlink:<base_url>:<client_id>``
with the usernames ``tokens`` (a JSON ``TokenSet``) and ``client_secret``.

Keyring calls run in a worker thread with a time-out, because a locked Secret Service collection can
block forever. In ``auto`` mode a keyring that is missing (``NoKeyringError``, the ``fail`` backend),
that silently drops writes (the ``null`` backend, or any backend that does not give back what was
stored), that raises, or that hangs, is replaced by the fallback file ``get_paths().token_file``
(mode 0600, written atomically), with one warning saying how to get a real keyring. ``keyring`` mode
refuses to fall back; ``file`` mode never touches the keyring.

In ``auto`` mode a usable keyring that holds tokens always wins over the file, however new the file's copy
claims to be: a file is easier to plant than a keyring entry. The file is read only when it is a regular
file of this user that nobody else can read or change (else the command stops with exit 2, like ssh does
with an open private key).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from exactlink.auth.oauth import TokenSet
from exactlink.errors import LoginRequired
from exactlink.paths import create_private_file, get_paths, read_private_file, write_private_atomically

log = logging.getLogger(__name__)

StorageMode = Literal["auto", "keyring", "file"]
TOKENS_USER = "tokens"
SECRET_USER = "client_secret"
KEYRING_TIMEOUT = 10.0


class KeyringUnavailable(Exception):
    """The OS keyring cannot be used; ``str()`` says why (never contains a secret)."""


def service_name(base_url: str, client_id: str) -> str:
    """The keyring service for one Exact Online site and app registration."""
    return f"exactlink:{base_url.rstrip('/')}:{client_id}"


def _in_worker(function: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """Run a keyring call in a daemon thread; a hung call is abandoned after ``timeout`` seconds."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="exactlink-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise KeyringUnavailable(f"the keyring did not answer within {timeout:.0f} s (is it locked?)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _backend_problem() -> str | None:
    """Why the configured keyring backend is unusable, or ``None`` when it looks usable."""
    import keyring
    from keyring.backends import chainer, fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return "no keyring backend is available (no Secret Service / D-Bus session?)"
    if isinstance(backend, null.Keyring):
        return "the configured keyring backend (null) discards everything written to it"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return "no keyring backend is available (no Secret Service / D-Bus session?)"
    return None


class TokenStore:
    """Load, save and delete one login's tokens, in the keyring or the fallback file.

    Args:
        base_url: the Exact Online site.
        client_id: the app registration.
        mode: ``auto`` (keyring, else the file), ``keyring`` (only) or ``file`` (only).
        token_file: the fallback file (default ``get_paths().token_file``).
        keyring_timeout: seconds before a keyring call is given up.
        warn: how to show the fallback warning (the CLI passes ``console.warn``).
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        *,
        mode: StorageMode = "auto",
        token_file: Path | None = None,
        keyring_timeout: float = KEYRING_TIMEOUT,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.service = service_name(base_url, client_id)
        self.mode = mode
        self.token_file = token_file or get_paths().token_file
        self.keyring_timeout = keyring_timeout
        self._warn = warn or (lambda message: log.warning("%s", message))
        self._keyring_problem: str | None = None
        self._keyring_checked = mode == "file"
        self.last_used: Literal["keyring", "file"] | None = None
        self._warned = False
        self._warn_lock = threading.Lock()

    # -- what the user is told ----------------------------------------------------------------

    def keyring_usable(self) -> bool:
        """Whether the keyring can be used (checked once per store, in a worker thread)."""
        if self.mode == "file":
            return False
        if not self._keyring_checked:
            self._keyring_checked = True
            try:
                self._keyring_problem = _in_worker(_backend_problem, timeout=self.keyring_timeout)
            except KeyringUnavailable as exc:
                self._keyring_problem = str(exc)
            except Exception as exc:
                self._keyring_problem = f"the keyring failed ({type(exc).__name__})"
        return self._keyring_problem is None

    def location(self) -> str:
        """Where the tokens live (or will live), for ``login`` and ``status``."""
        if self.last_used is None and self.mode != "file":
            self.load()
        if self.last_used == "file" or not self.keyring_usable():
            return f"file {self.token_file} (mode 0600)"
        import keyring

        backend = keyring.get_keyring()
        name = getattr(backend, "name", type(backend).__name__)
        return f"OS keyring ({name}), service {self.service}"

    @property
    def kind(self) -> Literal["keyring", "file"]:
        """``keyring`` or ``file``: where the last load/save went (or would go)."""
        if self.last_used is None and self.mode != "file":
            self.load()
        if self.last_used is not None:
            return self.last_used
        return "keyring" if self.keyring_usable() else "file"

    # -- tokens -------------------------------------------------------------------------------

    def load(self) -> TokenSet | None:
        """The stored tokens: the keyring's copy when it holds one, else the file's (never the file's over a
        working keyring's, see the module docstring)."""
        text = self._keyring_get(TOKENS_USER)
        tokens = TokenSet.from_json(text) if text else None
        if tokens is not None:
            self.last_used = "keyring"
            return tokens
        if self.mode != "keyring":
            text = self._file_get(TOKENS_USER)
            tokens = TokenSet.from_json(text) if text else None
            if tokens is not None:
                self.last_used = "file"
                return tokens
        return None

    def save(self, tokens: TokenSet) -> Literal["keyring", "file"]:
        """Store ``tokens`` (atomically); returns where they went."""
        where = self._put(TOKENS_USER, tokens.to_json())
        self.last_used = where
        return where

    def delete(self) -> list[str]:
        """Remove the tokens wherever they are; returns the places they were removed from."""
        removed = []
        if self._keyring_delete(TOKENS_USER):
            removed.append("OS keyring")
        if self._file_delete(TOKENS_USER):
            removed.append(str(self.token_file))
        return removed

    # -- client secret ------------------------------------------------------------------------

    def get_secret(self) -> str | None:
        """The client secret stored by ``login --store-secret`` (keyring first, then the file)."""
        secret = self._keyring_get(SECRET_USER)
        if secret:
            return str(secret)
        return self._file_get(SECRET_USER) if self.mode != "keyring" else None

    def set_secret(self, secret: str) -> Literal["keyring", "file"]:
        """Store the client secret; returns where it went."""
        return self._put(SECRET_USER, secret)

    # -- plumbing -----------------------------------------------------------------------------

    def _put(self, user: str, value: str) -> Literal["keyring", "file"]:
        if self.mode != "file" and self._keyring_set(user, value):
            # Leave no stale plaintext copy behind once the keyring holds the value.
            self._file_delete(user)
            return "keyring"
        if self.mode == "keyring":
            raise LoginRequired(
                f"the OS keyring cannot be used: {self._keyring_problem}",
                hint='set exact.token_storage = "auto" or "file", or unlock/start the keyring',
            )
        self._file_set(user, value)
        return "file"

    def _fall_back(self, problem: str) -> None:
        self._keyring_problem = problem
        self._keyring_checked = True
        if self.mode == "keyring":
            return
        with self._warn_lock:
            if self._warned:
                return
            self._warned = True
        self._warn(
            f"no usable OS keyring ({problem}); tokens are kept in {self.token_file} (readable only by you). "
            "On a headless server or under cron, run exactlink inside `dbus-run-session` with an unlocked "
            'gnome-keyring for a real keyring, or set exact.token_storage = "file" '
            "(EXACTLINK_EXACT__TOKEN_STORAGE=file) to use the file on purpose and silence this warning."
        )

    def _keyring_call(self, function_name: str, *args: str) -> Any:
        """Call ``keyring.<function_name>``; on any failure switch to the file (raises ``KeyringUnavailable``)."""
        if not self.keyring_usable():
            self._fall_back(self._keyring_problem or "unknown")
            raise KeyringUnavailable(self._keyring_problem or "unknown")
        import keyring
        from keyring.errors import KeyringError, KeyringLocked, PasswordDeleteError

        function = getattr(keyring, function_name)
        try:
            return _in_worker(function, *args, timeout=self.keyring_timeout)
        except PasswordDeleteError:
            raise
        except KeyringUnavailable as exc:
            self._fall_back(str(exc))
            raise
        except KeyringLocked:
            # A headless Secret Service cannot ask for the password: nobody unlocked it in this session.
            problem = "the keyring is locked and nothing here can unlock it"
            self._fall_back(problem)
            raise KeyringUnavailable(problem) from None
        except (KeyringError, RuntimeError, OSError) as exc:
            problem = f"the keyring failed: {type(exc).__name__}"
            self._fall_back(problem)
            raise KeyringUnavailable(problem) from None
        except Exception as exc:
            problem = f"the keyring failed unexpectedly: {type(exc).__name__}"
            self._fall_back(problem)
            raise KeyringUnavailable(problem) from None

    def _keyring_get(self, user: str) -> str | None:
        if self.mode == "file":
            return None
        try:
            value = self._keyring_call("get_password", self.service, user)
        except KeyringUnavailable:
            if self.mode == "keyring":
                raise LoginRequired(
                    f"the OS keyring cannot be used: {self._keyring_problem}",
                    hint='set exact.token_storage = "auto" or "file", or unlock/start the keyring',
                ) from None
            return None
        return str(value) if value else None

    def _keyring_set(self, user: str, value: str) -> bool:
        if self.mode == "file":
            return False
        try:
            self._keyring_call("set_password", self.service, user, value)
            stored = self._keyring_call("get_password", self.service, user)
        except KeyringUnavailable:
            return False
        if stored != value:
            self._fall_back("the keyring did not keep what was written to it")
            return False
        return True

    def _keyring_delete(self, user: str) -> bool:
        if self.mode == "file":
            return False
        from keyring.errors import PasswordDeleteError

        try:
            if not self._keyring_call("get_password", self.service, user):
                return False
            self._keyring_call("delete_password", self.service, user)
        except (KeyringUnavailable, PasswordDeleteError):
            return False
        return True

    def _file_read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(read_private_file(self.token_file, secret=True).decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("the token file %s is unreadable; ignoring it", self.token_file)
            return {}
        return data if isinstance(data, dict) else {}

    def _file_get(self, user: str) -> str | None:
        entry = self._file_read().get(self.service)
        value = entry.get(user) if isinstance(entry, dict) else None
        return value if isinstance(value, str) and value else None

    def _file_update(self, change: Callable[[dict[str, dict[str, str]]], bool]) -> bool:
        from filelock import FileLock

        lock_path = get_paths().lock_file("token-file")
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private_file(lock_path)
        with FileLock(str(lock_path), timeout=60, mode=0o600):
            data = self._file_read()
            if not change(data):
                return False
            if data:
                write_private_atomically(self.token_file, json.dumps(data, indent=1, sort_keys=True).encode())
            else:
                self.token_file.unlink(missing_ok=True)
            return True

    def _file_set(self, user: str, value: str) -> None:
        def change(data: dict[str, dict[str, str]]) -> bool:
            data.setdefault(self.service, {})[user] = value
            return True

        self._file_update(change)

    def _file_delete(self, user: str) -> bool:
        if not self.token_file.exists():
            return False

        def change(data: dict[str, dict[str, str]]) -> bool:
            entry = data.get(self.service)
            if not isinstance(entry, dict) or user not in entry:
                return False
            del entry[user]
            if not entry:
                del data[self.service]
            return True

        return self._file_update(change)
