"""Logging: a 0600 log file under the log directory plus stderr, both scrubbed of secrets and BSNs.

Log lines also have their control characters made visible (:func:`exactlink.console.neutralise`): a name or an
error text from a server must not act on the terminal that shows ``-v`` output or ``tail -f`` of the log.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
from pathlib import Path

from exactlink.paths import get_paths, open_private_file

_KEY_VALUE = re.compile(
    r"(?i)\b(access_token|refresh_token|client_secret|code_verifier|code|password)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Remove tokens, secrets and anything that looks like a BSN/RSIN from a log line; show control characters."""
    from exactlink.console import neutralise
    from exactlink.domain.privacy import mask_personal

    text = _KEY_VALUE.sub(r"\1\2[REDACTED]", text)
    text = _BEARER.sub("Bearer [REDACTED]", text)
    return neutralise(mask_personal(text) or "", limit=None)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the first and each new one after a rollover) is a private 0600 file,
    opened without following a symbolic link (:func:`exactlink.paths.open_private_file`)."""

    def _open(self) -> io.TextIOWrapper:
        fd = open_private_file(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message through :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configured_level() -> str:
    """``[logging] level`` of the settings; INFO when the configuration cannot be read.

    A broken ``config.toml`` must not stop logging from starting: ``exactlink config init --force``
    has to run to repair it, and every other command reports the broken file itself.
    """
    from exactlink.errors import ExactlinkError
    from exactlink.settings import load_settings

    try:
        return load_settings().logging.level
    except ExactlinkError:
        return "INFO"


def setup_logging(verbosity: int = 0, level: str | None = None) -> None:
    """Configure the ``exactlink`` logger once per process.

    Args:
        verbosity: ``-v`` count; any ``-v`` logs DEBUG to the file and INFO (``-vv``: DEBUG) to stderr.
        level: the log file's level; ``None`` reads ``[logging] level`` from the settings.
    """
    logger = logging.getLogger("exactlink")
    if getattr(logger, "_exactlink_configured", False):
        return
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    redacting = RedactingFilter()

    paths = get_paths()
    paths.ensure()
    file_handler = PrivateRotatingFileHandler(paths.log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    file_handler.setLevel(logging.DEBUG if verbosity else getattr(logging, level or configured_level()))
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    file_handler.addFilter(redacting)
    logger.addHandler(file_handler)

    if verbosity:
        stream = logging.StreamHandler()
        stream.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        stream.addFilter(redacting)
        logger.addHandler(stream)
    logger._exactlink_configured = True  # type: ignore[attr-defined]
