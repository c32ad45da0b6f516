"""Where exactlink keeps its files.

``EXACTLINK_HOME`` relocates every file the tool writes (config, database, token fallback, logs,
locks); without it the platform's directories are used (XDG on Linux).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from exactlink.errors import UnsafePermissions

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
        """Create every directory private to the user (0700) and refuse one that another user could change.

        Raises:
            UnsafePermissions: a directory is not owned by this user, is writable by group or others, or is
                not a directory (exit 2), the way ssh refuses a ``~/.ssh`` others can write to.
        """
        for directory in (self.config_dir, self.data_dir, self.state_dir, self.log_dir, self.locks_dir):
            make_private_dir(directory)


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


def _describe_owner(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name}"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _trusted_owner(uid: int) -> bool:
    # root can change every file anyway; anyone else but us must not own what we trust.
    return uid in (os.geteuid(), 0)


def check_private_dir(directory: Path) -> None:
    """Refuse a directory that someone else owns or that group/others may write to (exit 2).

    Raises:
        UnsafePermissions: with the ``chmod``/``chown`` that fixes it as the hint.
    """
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePermissions(f"{directory} is not a directory", hint="move it away; exactlink creates its own")
    if info.st_uid != os.geteuid():
        raise UnsafePermissions(
            f"refusing to use {directory}: it belongs to {_describe_owner(info.st_uid)}, not to you",
            hint="point EXACTLINK_HOME at a directory of your own, or have it chown'ed to you",
        )
    if info.st_mode & 0o022:
        raise UnsafePermissions(
            f"refusing to use {directory}: other users can write to it (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 700 {directory}",
        )


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) with mode 0700, then check it as :func:`check_private_dir`."""
    missing = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # made by a concurrent run (or someone else: the check below decides)
        else:
            os.chmod(path, 0o700)  # whatever the umask says
    check_private_dir(directory)


def check_private_file(path: Path, info: os.stat_result, *, secret: bool) -> None:
    """Refuse a file another user owns or may change; a ``secret`` file also must not be readable by others.

    Raises:
        UnsafePermissions: with the fix as the hint.
    """
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePermissions(f"refusing to use {path}: it is not a regular file")
    if not _trusted_owner(info.st_uid):
        raise UnsafePermissions(
            f"refusing to use {path}: it belongs to {_describe_owner(info.st_uid)}, not to you",
            hint=f"remove it (rm {path}) or have it chown'ed to you",
        )
    open_bits = 0o077 if secret else 0o022
    if info.st_mode & open_bits:
        others = "read or change" if secret else "change"
        raise UnsafePermissions(
            f"refusing to use {path}: other users can {others} it (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 600 {path}",
        )


def read_private_file(path: Path, *, secret: bool) -> bytes:
    """The bytes of ``path``, read without following a symlink, after :func:`check_private_file`.

    Raises:
        FileNotFoundError: there is no such file.
        UnsafePermissions: the file is not safe to trust.
        OSError: it cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePermissions(f"refusing to use {path}: it is a symbolic link", hint=f"rm {path}") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        check_private_file(path, os.fstat(fd), secret=secret)
        return handle.read()


def open_private_file(path: Path, flags: int = os.O_WRONLY) -> int:
    """Open ``path`` for writing as a private (0600) file of this user; returns the descriptor.

    A new file is created with ``O_EXCL``; an existing one is opened only when it is a regular file of this
    user; a symbolic link is never followed (``O_NOFOLLOW``), so nobody can redirect the write elsewhere.

    Raises:
        UnsafePermissions: the name is a symlink, not a regular file, or another user's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    base = flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, base | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            fd = os.open(path, base | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePermissions(f"refusing to write {path}: it is a symbolic link", hint=f"rm {path}") from None
            raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePermissions(f"refusing to write {path}: it is not a regular file")
        if info.st_uid != os.geteuid():
            raise UnsafePermissions(
                f"refusing to write {path}: it belongs to {_describe_owner(info.st_uid)}, not to you",
                hint=f"remove it (rm {path})",
            )
        os.fchmod(fd, 0o600)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private_file(path: Path) -> None:
    """Create ``path`` (if missing) with mode 0600 before anything is written to it (see :func:`open_private_file`)."""
    os.close(open_private_file(path))


def write_private_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename), mode 0600 (or ``mode``), fsynced.

    The temporary file has an unpredictable name in the same directory and is created with
    ``O_EXCL|O_NOFOLLOW``, so a planted file or symlink cannot catch the data.

    Raises:
        OSError: the file cannot be written (``path`` names a directory, no permission, disk full …); the
            temporary file is removed again.
    """
    if not path.name or path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, mode)  # only once the file is ours: created 0600, widened if asked
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
