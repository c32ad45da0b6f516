"""Every command's human output reads at 80 columns and still uses 200: no line wider than the terminal, no
value cut short with `…`, and the key values (ids, relation and account numbers, dates, amounts) whole.

A populated home (the sandbox over real HTTP, logged in, the CRM imported, administrations linked, returns
fetched) is rendered by every command at both widths (Rich takes the width from COLUMNS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from tests.auth.conftest import Browser
from tests.auth.conftest import browser as browser
from tests.cli import run_cli
from tests.returns.conftest import Office, build_office

WIDTHS = (80, 200)


@pytest.fixture
def populated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, browser: Browser) -> Iterator[Office]:
    """A home with links, returns and vraagposten (the sandbox keeps serving while the test runs)."""
    for office in build_office(monkeypatch, tmp_path, browser, clients=16, seed=4):
        for relation, division in office.candidates()[:6]:
            office.link_admin_in_store(relation, division)
        fetched = run_cli("fetch-returns")
        assert fetched.exit_code in (0, 3), fetched.stderr
        yield office


def json_of(*args: str) -> Any:
    result = run_cli(*args, "--json")
    assert result.exit_code in (0, 3), result.stderr
    return json.loads(result.stdout)


def check_fits(args: tuple[str, ...], width: int) -> str:
    """Run ``exactlink ARGS`` at ``width`` columns; every line fits and nothing is cut with `…`."""
    result = run_cli(*args, env={"COLUMNS": str(width)})
    assert result.exit_code in (0, 3), (args, result.stderr)
    text = result.stdout + result.stderr
    for line in text.splitlines():
        assert cell_len(line) <= width, f"`exactlink {' '.join(args)}` at {width} columns: {line!r}"
    assert "…" not in text, f"`exactlink {' '.join(args)}` at {width} columns cut a value:\n{text}"
    return text


def assert_whole(text: str, values: list[str], what: str) -> None:
    missing = [value for value in values if value and value not in text]
    assert not missing, f"{what} not shown whole: {missing[:5]}"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_command_fits_80_and_200_columns(populated: Office) -> None:
    returns = json_of("returns", "list")
    assert len(returns) >= 3, "the home has returns to show"
    vraagposten = json_of("returns", "list", "--kind", "vraagposten")
    relations = json_of("crm", "list")
    links = json_of("link-admin", "list")
    document = returns[0]["short_id"]
    relation = links[0]["relation"]

    for width in WIDTHS:
        text = check_fits(("returns", "list"), width)
        assert_whole(text, [row["short_id"] for row in returns], "return ids")
        assert_whole(text, [row["due_date"] for row in returns], "due dates")
        assert_whole(text, [str(row["relation"]) for row in returns], "relation numbers")
        if width == 200:
            assert "amount" in text and "Exact status" in text, "a wide terminal shows every column"
        text = check_fits(("returns", "list", "--kind", "vraagposten"), width)
        assert_whole(text, [row["period"] for row in vraagposten], "vraagpost dates")
        text = check_fits(("returns", "show", document), width)
        assert_whole(text, [returns[0]["document_id"], returns[0]["due_date"]], "the return's id and due date")
        text = check_fits(("crm", "list"), width)
        assert_whole(text, [row["relation"] for row in relations], "relation numbers")
        assert_whole(text, [row["account_code"] or "" for row in relations], "account codes")
        text = check_fits(("crm", "show", relation), width)
        text = check_fits(("link-admin", "list"), width)
        assert_whole(text, [row["sbr_start_date"] for row in links], "SBR start dates")
        assert_whole(text, [str(row["division"]) for row in links], "administration codes")
        for args in (
            ("match", "--dry-run"),
            ("sync", "--dry-run"),
            ("link-admin", "suggest"),
            ("tenant", "list"),
            ("status",),
            ("config", "show"),
            ("doctor",),
        ):
            check_fits(args, width)

    # --wide: every column, whatever the terminal.
    wide = run_cli("returns", "list", "--wide", env={"COLUMNS": "80"})
    assert "amount" in wide.stdout and "Exact status" in wide.stdout and "administration" in wide.stdout
    narrow = run_cli("returns", "list", env={"COLUMNS": "80"})
    assert "--wide shows every column" in narrow.stderr
