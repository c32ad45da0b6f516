"""Typed records across the store/services boundary, checked on the source (AST), like tests/test_architecture.py.

A public function of ``store/`` neither takes nor returns loose dicts (``dict[str, Any]``, ``Mapping[str, Any]``,
``list[dict…]``, a bare ``dict``): it takes and returns records (``domain/entities.py``, ``domain/records.py`` or
the store's own dataclasses), so mypy catches a wrong column name in a service. No function is exempt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "exactlink"
STORE = PACKAGE / "store"

LOOSE = re.compile(r"\b(?:dict|Mapping|MutableMapping)\[str, (?:Any|object)\]|\bdict\b(?!\[)")


def loose_signatures(source: str) -> dict[str, list[str]]:
    """``{function: [annotation, …]}`` of the public top-level functions whose signature holds a loose dict."""
    found: dict[str, list[str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        annotations = [argument.annotation for argument in arguments]
        annotations.append(node.returns)
        loose = [ast.unparse(note) for note in annotations if note is not None and LOOSE.search(ast.unparse(note))]
        if loose:
            found[node.name] = loose
    return found


def store_violations() -> dict[str, list[str]]:
    """``{module.function: loose annotations}`` over every module of ``store/``."""
    found = {}
    for file in sorted(STORE.glob("*.py")):
        for name, notes in loose_signatures(file.read_text(encoding="utf-8")).items():
            found[f"{file.stem}.{name}"] = notes
    return found


def test_store_functions_take_and_return_records_not_dicts() -> None:
    violations = store_violations()
    assert violations == {}, "store functions that pass loose dicts: return a record (domain/records.py) instead"


def test_the_check_catches_loose_dicts_and_passes_records() -> None:
    source = """
def reads_rows(db: Database) -> list[dict[str, Any]]: ...
def writes_rows(db: Database, rows: Iterable[Mapping[str, Any]]) -> None: ...
def bare(db: Database, *, row: dict) -> None: ...
def optional(db: Database) -> dict[str, Any] | None: ...
def record(db: Database) -> AccountLink | None: ...
def counts(db: Database) -> dict[int, AdministrationState]: ...
def _private(db: Database) -> dict[str, Any]: ...
"""
    assert loose_signatures(source) == {
        "reads_rows": ["list[dict[str, Any]]"],
        "writes_rows": ["Iterable[Mapping[str, Any]]"],
        "bare": ["dict"],
        "optional": ["dict[str, Any] | None"],
    }
