"""The layering rules of the code base, checked on the source (AST) so a violation fails here, not in review.

* ``api/`` and ``auth/`` know nothing of SQLite or the store;
* ``store/`` knows nothing of HTTP, the API client or the login;
* ``domain/`` is pure rules: no HTTP, no SQLite, no api/store/auth/services;
* ``render/`` turns the office's overview into HTML and iCalendar: no HTTP, no SQLite, no api/auth/store/services;
* ``sandbox/`` is a test double and shares no code with the client it tests (no api/auth/services/store/cli);
* command modules (``cli/``) import only Typer, the standard library and exactlink at module level, so
  ``exactlink --help`` starts fast; importing the CLI loads no heavy package;
* every Typer command function stays thin (its body, docstring excluded, at most 30 lines of code);
* ``services/`` receives its world in a ``Workspace``: no service loads the settings, opens the database, reads
  the wall clock or imports the console;
* the run lifecycle (run lock, run-history row, outcome) is written once, in ``exactlink.workspace``.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "exactlink"
MAX_COMMAND_LINES = 30
HEAVY_PACKAGES = (
    "httpx",
    "pydantic",
    "pydantic_settings",
    "sqlite_utils",
    "sqlite3",
    "rich",
    "rapidfuzz",
    "keyring",
    "filelock",
    "stdnum",
    "platformdirs",
)


@dataclass(frozen=True)
class ImportSite:
    """One imported module name, where it is imported, and whether only type checkers see it."""

    module: str
    file: Path
    line: int
    top_level: bool
    type_checking_only: bool


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, file: Path) -> str:
    """The absolute module of a ``from … import`` (relative imports resolved against ``file``)."""
    if not node.level:
        return node.module or ""
    package = list(file.relative_to(PACKAGE.parent).parent.parts)  # a module's package; __init__'s own
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(file: Path, source: str | None = None) -> list[ImportSite]:
    """Every import in ``file`` (or in ``source`` as if it were that file), at any depth.

    Function-level (lazy) imports count for layering too; ``top_level`` tells them apart.
    """
    text = file.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(file))
    sites: list[ImportSite] = []

    def visit(nodes: list[ast.stmt], *, top_level: bool, type_checking: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                sites.extend(
                    ImportSite(alias.name, file, node.lineno, top_level, type_checking) for alias in node.names
                )
            elif isinstance(node, ast.ImportFrom):
                module = _resolve(node, file)
                if module == "__future__":
                    continue
                sites.append(ImportSite(module, file, node.lineno, top_level, type_checking))
                # ``from exactlink import store`` imports the subpackage: record it by its full name too.
                if module == "exactlink":
                    sites.extend(
                        ImportSite(f"exactlink.{alias.name}", file, node.lineno, top_level, type_checking)
                        for alias in node.names
                    )
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, top_level=top_level, type_checking=True)
                visit(node.orelse, top_level=top_level, type_checking=type_checking)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(node.body, top_level=False, type_checking=type_checking)
            else:  # if/for/while/with/try/match: their statements run where the compound statement runs
                visit(_nested_statements(node), top_level=top_level, type_checking=type_checking)

    visit(tree.body, top_level=True, type_checking=False)
    return sites


def _nested_statements(node: ast.AST) -> list[ast.stmt]:
    statements: list[ast.stmt] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            statements.append(child)
        elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
            statements.extend(child.body)
    return statements


def layer_files(layer: str) -> list[Path]:
    """The Python files of one sub-package of exactlink."""
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no files in {layer}/"
    return files


def _matches(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line imports module`` for every import of a forbidden module in ``layer``."""
    found = []
    for file in layer_files(layer):
        for site in imports_of(file):
            if any(_matches(site.module, name) for name in forbidden):
                found.append(f"{file.relative_to(PACKAGE)}:{site.line} imports {site.module}")
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("api", ("sqlite_utils", "sqlite3", "exactlink.store")),
        ("auth", ("sqlite_utils", "sqlite3", "exactlink.store")),
        ("store", ("httpx", "exactlink.api", "exactlink.auth")),
        (
            "domain",
            (
                "httpx",
                "sqlite_utils",
                "sqlite3",
                "exactlink.api",
                "exactlink.store",
                "exactlink.auth",
                "exactlink.services",
            ),
        ),
        (
            "sandbox",
            ("exactlink.api", "exactlink.auth", "exactlink.services", "exactlink.store", "exactlink.cli"),
        ),
        (
            "render",
            (
                "httpx",
                "sqlite_utils",
                "sqlite3",
                "exactlink.api",
                "exactlink.auth",
                "exactlink.store",
                "exactlink.services",
            ),
        ),
    ],
)
def test_layers_import_only_what_they_may(layer: str, forbidden: tuple[str, ...]) -> None:
    assert violations(layer, forbidden) == []


def test_command_modules_import_only_typer_stdlib_and_exactlink_at_module_level() -> None:
    allowed_third_party = ("typer", "exactlink")
    found = []
    for file in layer_files("cli"):
        for site in imports_of(file):
            if not site.top_level or site.type_checking_only:
                continue
            root = site.module.split(".")[0]
            if root in sys.stdlib_module_names or root in allowed_third_party:
                continue
            found.append(f"{file.relative_to(PACKAGE)}:{site.line} imports {site.module} at module level")
    assert found == []


def test_importing_the_cli_loads_no_heavy_package() -> None:
    probe = (
        f"import sys, exactlink.cli.main\nprint(','.join(name for name in {HEAVY_PACKAGES!r} if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "", f"loaded at start-up: {result.stdout.strip()}"


def typer_commands(app: typer.Typer, prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(command path, function)`` for every command and group callback of ``app``, recursively."""
    for command in app.registered_commands:
        assert command.callback is not None
        yield (prefix + (command.name or command.callback.__name__)).strip(), command.callback
    if app.registered_callback is not None and app.registered_callback.callback is not None:
        yield (prefix or "exactlink").strip() + " (callback)", app.registered_callback.callback
    for group in app.registered_groups:
        assert group.typer_instance is not None
        yield from typer_commands(group.typer_instance, f"{prefix}{group.name} ")


def body_lines(function: Callable[..., Any]) -> int:
    """Lines of code in a function's body: the docstring, blank lines and comments not counted."""
    source = textwrap.dedent(inspect.getsource(function))
    definition = ast.parse(source).body[0]
    assert isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef))
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    lines = source.splitlines()[body[0].lineno - 1 : body[-1].end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_every_command_function_is_thin() -> None:
    from exactlink.cli.main import app

    commands = list(typer_commands(app))
    assert len(commands) > 20, "every command group is registered"
    too_long = {name: body_lines(function) for name, function in commands}
    too_long = {name: lines for name, lines in too_long.items() if lines > MAX_COMMAND_LINES}
    assert too_long == {}, f"move the logic of these commands into exactlink.services: {too_long}"


def test_the_checks_themselves_catch_violations() -> None:
    """The AST walk sees lazy, nested, relative and TYPE_CHECKING imports, and the length count is honest."""
    sample = PACKAGE / "api" / "_architecture_probe.py"
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import sqlite_utils
        from ..store import db
        def lazy():
            try:
                import sqlite3
            except ImportError:
                from exactlink import store
        """
    )
    sites = imports_of(sample, source)
    seen = {(site.module, site.top_level, site.type_checking_only) for site in sites}
    assert ("sqlite_utils", True, True) in seen
    assert ("exactlink.store", True, False) in seen, "the relative import resolves to exactlink.store"
    assert ("sqlite3", False, False) in seen
    assert ("exactlink.store", False, False) in seen, "from exactlink import store, inside a handler"
    probe_violations = [site.module for site in sites if _matches(site.module, "exactlink.store")]
    assert len(probe_violations) == 2

    def long_command() -> None:
        """Docstring lines are not counted."""
        # comments are not counted
        a = 1
        b = 2

        print(a + b)

    assert body_lines(long_command) == 3


# What a service gets from its workspace instead: ``ws.settings``, ``ws.db``, ``ws.clock``, ``ws.output``.
WORLD_BUILDING_CALLS = (
    "load_settings",
    "open_db",
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
)
WORLD_BUILDING_NAMES = ("load_settings", "open_db")
RUN_LIFECYCLE_CALLS = ("run_lock", "start_run", "finish_run")
RUN_LIFECYCLE_HOME = PACKAGE / "workspace.py"


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a name or an attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def calls_of(file: Path, source: str | None = None) -> list[tuple[str, int]]:
    """``(dotted name, line)`` of every call in ``file`` (or in ``source`` as if it were that file)."""
    text = file.read_text(encoding="utf-8") if source is None else source
    found = []
    for node in ast.walk(ast.parse(text, filename=str(file))):
        if isinstance(node, ast.Call) and (name := _dotted(node.func)) is not None:
            found.append((name, node.lineno))
    return found


def _calls_one_of(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == target or name.endswith("." + target) for target in forbidden)


def world_building(file: Path, source: str | None = None) -> list[str]:
    """Where ``file`` builds its own world: calls, imports of the console, imports of ``load_settings``/``open_db``."""
    where = file.relative_to(PACKAGE)
    found = [
        f"{where}:{line} calls {name}"
        for name, line in calls_of(file, source)
        if _calls_one_of(name, WORLD_BUILDING_CALLS)
    ]
    found += [
        f"{where}:{site.line} imports {site.module}"
        for site in imports_of(file, source)
        if _matches(site.module, "exactlink.console")
    ]
    text = file.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            found += [f"{where}:{node.lineno} imports {a.name}" for a in node.names if a.name in WORLD_BUILDING_NAMES]
    return found


def test_services_receive_their_world_in_a_workspace() -> None:
    found = [line for file in layer_files("services") for line in world_building(file)]
    assert found == [], "take it from the Workspace (ws.settings, ws.db, ws.clock, ws.output) instead"


WALL_CLOCK_CALLS = ("datetime.now", "datetime.utcnow", "datetime.today", "date.today", "time.time")


def wall_clock_reads(file: Path, source: str | None = None) -> list[str]:
    """Where ``file`` reads the wall clock itself (``time.monotonic`` for a wait is no reading of the time)."""
    where = file.relative_to(PACKAGE)
    return [
        f"{where}:{line} calls {name}" for name, line in calls_of(file, source) if _calls_one_of(name, WALL_CLOCK_CALLS)
    ]


def test_the_store_dates_what_it_writes_with_the_moment_it_is_given() -> None:
    found = [line for file in layer_files("store") for line in wall_clock_reads(file)]
    assert found == [], "take the moment as a parameter (services pass ws.clock.now()), so a frozen clock freezes it"


def test_the_wall_clock_check_catches_violations() -> None:
    sample = PACKAGE / "store" / "_architecture_probe.py"
    source = textwrap.dedent(
        """
        import time
        from datetime import UTC, datetime
        def stamp():
            time.sleep(0.05)
            return datetime.now(UTC).isoformat(), time.time(), time.monotonic()
        """
    )
    assert sorted(line.split(" calls ")[1] for line in wall_clock_reads(sample, source)) == [
        "datetime.now",
        "time.time",
    ]


def test_the_run_lifecycle_exists_once() -> None:
    found = [
        f"{file.relative_to(PACKAGE)}:{line} calls {name}"
        for file in sorted(PACKAGE.rglob("*.py"))
        if file != RUN_LIFECYCLE_HOME
        for name, line in calls_of(file)
        if _calls_one_of(name, RUN_LIFECYCLE_CALLS)
    ]
    assert found == [], "use Workspace.run(command, lock=…) instead of taking the lock or writing runs yourself"
    assert {name for name, _ in calls_of(RUN_LIFECYCLE_HOME)}.issuperset(RUN_LIFECYCLE_CALLS)


def test_the_world_check_catches_violations() -> None:
    sample = PACKAGE / "services" / "_architecture_probe.py"
    source = textwrap.dedent(
        """
        import datetime as dt
        from datetime import UTC, date, datetime
        from exactlink.settings import load_settings
        def use():
            from exactlink.console import warn
            from exactlink import store
            settings = load_settings()
            db = store.db.open_db()
            warn(str(datetime.now(UTC)) + str(date.today()) + str(dt.datetime.now()))
        """
    )
    found = world_building(sample, source)
    assert any("imports load_settings" in line for line in found)
    assert any("imports exactlink.console" in line for line in found)
    called = {line.split(" calls ")[1] for line in found if " calls " in line}
    assert called == {"load_settings", "store.db.open_db", "datetime.now", "date.today", "dt.datetime.now"}


def test_every_command_has_a_docstring_for_its_help() -> None:
    from exactlink.cli.main import app

    missing = [name for name, function in typer_commands(app) if not (function.__doc__ or "").strip()]
    assert missing == []
