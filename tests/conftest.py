"""Shared test set-up: every test gets its own EXACTLINK_HOME, a clean environment and an in-memory keyring."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import keyring
import pytest
from keyring.backend import KeyringBackend

if TYPE_CHECKING:
    from tests.templates import HomeTemplates

SYSTEM_PACKAGES_SCRIPT = Path(__file__).with_name("realworld") / "system-packages.sh"


def pytest_configure(config: pytest.Config) -> None:
    """Let the test processes keep compiled bytecode, in a cache of the suite's own, when the caller forbade it.

    With ``PYTHONDONTWRITEBYTECODE`` set (some CI images and containers set it), every Python process compiles
    all it imports again: about 0.7 s of CPU for each ``exactlink`` child process, and the suite starts hundreds
    (the demo story, the kill -9 trials, the concurrency tests), plus each xdist worker. Before the workers
    start, the main process drops the variable for its children and points ``PYTHONPYCACHEPREFIX`` at
    ``.pytest_cache`` (git-ignored), so the sources and the virtualenv stay as they are and the bytecode
    survives from one run to the next. A caller's own ``PYTHONPYCACHEPREFIX`` is kept.
    """
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider: then nothing changes
    if hasattr(config, "workerinput") or cache is None or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return
    os.environ.pop("PYTHONDONTWRITEBYTECODE")
    if not os.environ.get("PYTHONPYCACHEPREFIX"):
        os.environ["PYTHONPYCACHEPREFIX"] = str(cache.mkdir("pycache"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): one worker more than there are cores.

    Much of the suite waits rather than computes (child processes starting, sandboxes answering over sockets,
    injected latency), so a core is often idle with one worker per core. On an idle 2-core machine the whole
    suite took 5 min 16 s with 2 workers and 3 min 17 s with 3, for about the same CPU time (318 s, 301 s).
    """
    return (os.cpu_count() or 1) + 1


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before any test: the real-world tests' Debian packages, installed with apt-get when missing and root.

    The script says so in one line on the terminal when it installs anything (and nothing when all is there);
    xdist workers leave it to the main process. A failure is reported by the real-world tests themselves.
    """
    if hasattr(session.config, "workerinput"):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        subprocess.run(["bash", str(SYSTEM_PACKAGES_SCRIPT)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Long work first, and each module that builds a module-wide world on one xdist worker.

    * A module whose tests use a module-scoped fixture (a populated ``world``, the secrets scan's demo run, a
      Chromium) becomes one xdist group (``--dist loadgroup`` in pyproject), so its world is built once
      instead of once on every worker that happens to get one of its tests (and again each time a worker
      comes back to the module after a test of another one).
    * Those modules and the tests marked ``slow`` run first (``--no-loadscope-reorder`` keeps this order), so
      the last minutes of a run are short tests on both workers instead of one long test on one of them.
      The sort is stable and moves whole modules, so a module's tests stay together and in their order.

    A wrapper: the groups must be marked before xdist's own hook reads them, and its result repaired after.
    """
    grouped = {item.path for item in items if _uses_a_module_fixture(item)}
    slow = {item.nodeid for item in items if item.get_closest_marker("slow")}
    for item in items:
        if item.path in grouped:
            item.add_marker(pytest.mark.xdist_group(item.path.relative_to(config.rootpath).as_posix()))
    items.sort(key=lambda item: 0 if item.path in grouped or item.nodeid in slow else 1)
    yield
    _carry_the_xdist_groups_into_the_test_ids(items)


def _carry_the_xdist_groups_into_the_test_ids(items: list[pytest.Item]) -> None:
    """Make an xdist worker report a grouped test as ``<id>@<group>``, which is how loadgroup sees the group.

    pytest-xdist 3.8 appends the group to the legacy ``_nodeid`` attribute; pytest 9.2 builds ``nodeid``
    from a structured id instead, so the groups were silently lost and every grouped module's world was built
    on both workers, again each time a worker came back to it (pytest-xdist issue 1386). Does nothing where
    the two agree (no xdist, no group, or an xdist/pytest pair that needs no help).
    """
    for item in items:
        legacy = getattr(item, "_nodeid", None)
        if isinstance(legacy, str) and legacy != item.nodeid and hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(legacy)


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(definitions[-1].scope == "module" for definitions in info.name2fixturedefs.values() if definitions)


@pytest.fixture(scope="session", autouse=True)
def command_tree_built_once() -> None:
    """In-process commands reuse one Click command tree (see :func:`tests.cli.build_each_command_tree_once`)."""
    from tests.cli import build_each_command_tree_once

    build_each_command_tree_once()


@pytest.fixture(scope="session")
def home_templates(tmp_path_factory: pytest.TempPathFactory) -> HomeTemplates:
    """The logged-in homes this test worker set up once, to copy per test (see :mod:`tests.templates`)."""
    from tests.templates import HomeTemplates

    return HomeTemplates(tmp_path_factory.mktemp("home-templates"))


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict (the gh CLI's MockInit idea)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture(autouse=True)
def exactlink_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point EXACTLINK_HOME at a fresh directory and drop any EXACTLINK_* variable of the caller."""
    for name in list(os.environ):
        if name.startswith("EXACTLINK_"):
            monkeypatch.delenv(name)
    home = tmp_path / "exactlink-home"
    monkeypatch.setenv("EXACTLINK_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test runs against an in-memory keyring unless it swaps in another backend."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
