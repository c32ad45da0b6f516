"""Where exactlink keeps its files.

``EXACTLINK_HOME`` relocates every file the tool writes (config, database, token fallback, logs,
locks); without it the platform's directories are used (XDG on Linux).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "exactlink"


@dataclass(frozen=True)
class Paths:
    """The set of directories and files exactlink uses."""

    config_dir: Path
    data_dir: Path
    state_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def database(self) -> Path:
        return self.data_dir / "exactlink.db"

    @property
    def token_file(self) -> Path:
        """The 0600 fallback token store, used only where no usable keyring exists."""
        return self.state_dir / "tokens.json"

    @property
    def locks_dir(self) -> Path:
        return self.state_dir / "locks"

    def lock_file(self, name: str) -> Path:
        return self.locks_dir / f"{name}.lock"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "exactlink.log"

    def ensure(self) -> None:
        """Create every directory, private to the user (0700)."""
        for directory in (self.config_dir, self.data_dir, self.state_dir, self.log_dir, self.locks_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def get_paths() -> Paths:
    """Resolve the paths from ``EXACTLINK_HOME`` or the platform directories."""
    home = os.environ.get("EXACTLINK_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(config_dir=root, data_dir=root, state_dir=root / "state", log_dir=root / "log")
    import platformdirs

    return Paths(
        config_dir=platformdirs.user_config_path(APP_NAME),
        data_dir=platformdirs.user_data_path(APP_NAME),
        state_dir=platformdirs.user_state_path(APP_NAME),
        log_dir=platformdirs.user_log_path(APP_NAME),
    )


def create_private_file(path: Path) -> None:
    """Create ``path`` (if missing) with mode 0600 before anything is written to it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def write_private_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename), mode 0600, fsynced.

    Raises:
        OSError: the file cannot be written (``path`` names a directory, no permission, disk full …); the
            temporary file is removed again.
    """
    if not path.name or path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
