"""What ``exactlink config show|init`` prints and writes."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from exactlink.errors import UsageError
from exactlink.paths import get_paths, write_private_atomically
from exactlink.settings import settings_sources

if TYPE_CHECKING:
    from exactlink.workspace import Workspace


def effective_config(ws: Workspace) -> list[dict[str, Any]]:
    """Every ``section.key`` with its effective value and source; the client secret only as set/unset."""
    settings = ws.settings
    sources = settings_sources(settings)
    rows: list[dict[str, Any]] = []
    for section_name, section in settings:
        assert isinstance(section, BaseModel)
        for key, value in section.model_dump().items():
            dotted = f"{section_name}.{key}"
            rows.append({"key": dotted, "value": value, "source": sources[dotted]})
    secret_source = "env" if os.environ.get("EXACTLINK_CLIENT_SECRET") else "keyring or unset"
    rows.append({"key": "exact.client_secret", "value": "[redacted]", "source": secret_source})
    return rows


def file_locations() -> dict[str, str]:
    """Where exactlink keeps each of its files (``config path``), under ``EXACTLINK_HOME`` when it is set."""
    paths = get_paths()
    return {
        "config_file": str(paths.config_file),
        "database": str(paths.database),
        "token_fallback_file": str(paths.token_file),
        "state_dir": str(paths.state_dir),
        "locks_dir": str(paths.locks_dir),
        "log_file": str(paths.log_file),
    }


def example_config_text() -> str:
    """The shipped, commented ``config.example.toml``."""
    return resources.files("exactlink").joinpath("config.example.toml").read_text(encoding="utf-8")


def write_example_config(*, force: bool) -> Path:
    """Create ``config.toml`` (mode 0600) from the example; refuse to overwrite unless ``force``."""
    path = get_paths().config_file
    if path.exists() and not force:
        raise UsageError(f"{path} exists already", hint="use --force to overwrite it")
    get_paths().ensure()
    write_private_atomically(path, example_config_text().encode("utf-8"))
    return path
