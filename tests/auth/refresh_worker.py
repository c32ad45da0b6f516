"""One process of the shared-login refresh test: wait for the start signal, then call current/Me.

The test starts these through a multiprocessing *forkserver* that preloads this module, so every
process already has exactlink imported and they all reach the token check at about the same moment.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

# Imported here so that the forkserver preloads them (open_client imports them lazily, httpx imports
# httpcore only when the first client is built).
import httpcore  # noqa: F401

import exactlink.api.budget
import exactlink.api.client
import exactlink.api.ratelimit
import exactlink.auth.oauth
import exactlink.auth.session
import exactlink.auth.tokens  # noqa: F401
from exactlink.settings import load_settings
from exactlink.workspace import RecordingOutput, Workspace


def call_me(gate: str, env: dict[str, str], results: Any) -> None:
    """Wait for ``gate`` to exist, then call ``current/Me``; put ``(user, refreshes)`` or an error on ``results``."""
    os.environ.clear()
    os.environ.update(env)
    try:
        settings = load_settings()
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        with Workspace(settings, output=RecordingOutput()).client() as client:
            me = client.me()
            results.put(("ok", me.UserName, getattr(client.tokens, "refreshes", None)))
    except Exception as exc:  # reported to the test, which fails on it
        results.put(("error", f"{type(exc).__name__}: {exc}", None))
