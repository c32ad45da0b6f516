"""Real components for the real-world tests: Debian's Chromium, gnome-keyring under its own D-Bus session.

The packages are installed by ``.ci/run`` before the tests; the session fixture :func:`system_packages`
installs them too when a plain ``uv run pytest`` runs on a fresh machine as root, and fails (never skips)
with what to install otherwise.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.auth.conftest import exact, loopback_exact  # noqa: F401  (the sandbox over HTTP, its app registered)
from tests.realworld.chromium_user import launched_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SYSTEM_PACKAGES_SCRIPT = Path(__file__).with_name("system-packages.sh")


@pytest.fixture(scope="session")
def system_packages() -> None:
    """Chromium, gnome-keyring, D-Bus and secret-tool: present, or installed with apt-get (as root)."""
    from filelock import FileLock

    # pytest-xdist runs this once per worker: one apt-get at a time.
    with FileLock(str(Path(tempfile.gettempdir()) / "exactlink-tests-system-packages.lock"), timeout=1800):
        result = subprocess.run(
            ["bash", str(SYSTEM_PACKAGES_SCRIPT)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if result.returncode != 0:
        pytest.fail(
            f"the real-world tests cannot get their system packages ({SYSTEM_PACKAGES_SCRIPT.name} exited "
            f"{result.returncode}):\n{result.stderr.strip()}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def chromium(system_packages: None) -> Iterator[Browser]:
    """One headless Chromium per test module (each login gets a fresh browser context)."""
    with launched_chromium() as browser:
        yield browser
