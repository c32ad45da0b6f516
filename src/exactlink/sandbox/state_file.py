"""A sandbox's whole world in one file, so ``sandbox serve --state FILE`` reopens it where it was left.

The file is JSON (never pickle: reading a state file must not be able to run code), mode 0600 (it holds the app's
client secret and the tokens the sandbox issued), written atomically (a temporary file renamed over the old one,
fsynced), so a ``kill -9`` at any moment leaves the last complete save. Its layout::

    {"format": "exactlink-sandbox-state", "version": 1, "saved_at": "…", "sha256": "…", "world": {…}}

``world`` is :meth:`Sandbox.snapshot` with moments and calendar days written as ``{"$datetime": ISO}`` and
``{"$date": ISO}``. ``sha256`` is taken over ``world`` in canonical form (sorted keys, no spaces): a file edited
or cut short by hand is refused instead of serving a half-true world. The checksum catches accidents, not an
attacker (anyone who can write the file can recompute it); the 0600 mode is what keeps others out.

A file of another ``version`` is refused with a message saying so: the world's shape follows the sandbox's
code, and a silently misread world would make exactlink's database and the sandbox disagree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactlink.errors import UsageError

if TYPE_CHECKING:
    from exactlink.sandbox.app import Sandbox

logger = logging.getLogger(__name__)

FORMAT = "exactlink-sandbox-state"
VERSION = 1
SAVE_EVERY_SECONDS = 1.0


class StateFileRefused(UsageError):
    """A state file that cannot be reopened: not one, another version, changed after saving, or damaged."""


def _encoded(value: Any) -> Any:
    """``value`` with moments, days and decimals tagged, as plain JSON values (a fresh copy)."""
    if isinstance(value, dict):
        return {str(key): _encoded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encoded(item) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a moment without a time zone cannot be saved: {value!r}")
        return {"$datetime": value.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a sandbox state cannot hold a {type(value).__name__}")


_TAGS: dict[str, Callable[[str], Any]] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$decimal": Decimal,
}


def _decoded(value: Any) -> Any:
    """The inverse of :func:`_encoded` (tags back into moments, days and decimals)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag in _TAGS:
                if not isinstance(text, str):
                    raise ValueError(f"{tag} must be a string")
                return _TAGS[tag](text)
        return {key: _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value


def _checksum(world: Any) -> str:
    canonical = json.dumps(world, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def state_bytes(sandbox: Sandbox) -> bytes:
    """The state file's content for ``sandbox`` as it is now."""
    world = _encoded(sandbox.snapshot())
    document = {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": world["moment"]["$datetime"],
        "sha256": _checksum(world),
        "world": world,
    }
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def save_state(sandbox: Sandbox, path: Path) -> None:
    """Write ``sandbox``'s world to ``path`` atomically, mode 0600.

    Raises:
        UsageError: the file cannot be written (the reason in plain words).
    """
    from exactlink.paths import write_private_atomically

    content = state_bytes(sandbox)
    try:
        write_private_atomically(path, content)
    except OSError as problem:
        raise UsageError(f"cannot save the sandbox's state to {path}: {problem.strerror or problem}") from None


def read_world(path: Path) -> dict[str, Any]:
    """The world saved in ``path``, checked (format, version, checksum) and decoded.

    Raises:
        StateFileRefused: not a state file, another version, changed since it was saved, or damaged.
        UnsafePermissions: others can read or change the file (it holds secrets).
        UsageError: it cannot be read.
    """
    from exactlink.paths import read_private_file

    try:
        raw = read_private_file(path, secret=True)
    except FileNotFoundError:
        raise UsageError(f"there is no sandbox state file {path}") from None
    except OSError as problem:
        raise UsageError(f"cannot read {path}: {problem.strerror or problem}") from None
    fresh = "start the sandbox without --state, or with --state naming a new file"
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        document = None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateFileRefused(f"{path} is not a sandbox state file (or it was cut short)", hint=fresh)
    version = document.get("version")
    if version != VERSION:
        raise StateFileRefused(
            f"{path} holds a sandbox state of version {version!r}; this exactlink reads version {VERSION} only",
            hint=fresh,
        )
    world = document.get("world")
    if not isinstance(world, dict) or document.get("sha256") != _checksum(world):
        changed = f"{path} was changed after the sandbox saved it (its checksum does not match)"
        raise StateFileRefused(changed, hint=fresh)
    try:
        decoded: dict[str, Any] = _decoded(world)
    except (TypeError, ValueError, ArithmeticError) as problem:
        raise StateFileRefused(f"{path} is damaged: {problem}", hint=fresh) from None
    return decoded


def open_state(path: Path, **options: Any) -> Sandbox:
    """The sandbox saved in ``path`` (``options`` as for :meth:`Sandbox.reopen`).

    Raises:
        StateFileRefused, UnsafePermissions, UsageError: as :func:`read_world`; also a world whose parts are missing.
    """
    from exactlink.sandbox.app import Sandbox

    world = read_world(path)
    try:
        return Sandbox.reopen(world, **options)
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        raise StateFileRefused(
            f"{path} is damaged: a part of the world is missing or malformed ({type(problem).__name__}: {problem})",
            hint="start the sandbox without --state, or with --state naming a new file",
        ) from None


class StateKeeper:
    """Saves a running sandbox to its state file: at once, then within ``every`` seconds of any change, and at stop.

    Saving never blocks a request for longer than taking the snapshot (the file is written outside the sandbox's
    lock). A save that fails in the background is logged and tried again at the next change; the last save, at
    :meth:`stop`, raises.
    """

    def __init__(self, sandbox: Sandbox, path: Path, every: float = SAVE_EVERY_SECONDS) -> None:
        self.sandbox = sandbox
        self.path = path
        self.every = every
        self.saves = 0
        self._saved_changes = -1
        self._stopping = threading.Event()
        self._save_lock = threading.Lock()
        self.save()
        self._thread = threading.Thread(target=self._watch, name="exactlink-sandbox-state", daemon=True)
        self._thread.start()

    def save(self) -> None:
        """Save now (whatever changed)."""
        with self._save_lock:
            changes = self.sandbox.changes  # read before the snapshot: a later change triggers another save
            save_state(self.sandbox, self.path)
            self._saved_changes = changes
            self.saves += 1

    def _watch(self) -> None:
        while not self._stopping.wait(self.every):
            if self.sandbox.changes == self._saved_changes:
                continue
            try:
                self.save()
            except UsageError as problem:
                logger.warning("%s", problem.message)

    def stop(self) -> None:
        """Stop watching and save a last time (call it once the server no longer answers).

        Raises:
            UsageError: the last save failed.
        """
        self._stopping.set()
        self._thread.join(timeout=30)
        self.save()
