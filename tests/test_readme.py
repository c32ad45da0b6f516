"""README.md is for the office: short, starting with the two commands, naming every command, its links whole.

The rest of the documentation lives in docs/; no file of the project speaks the vocabulary of its own planning.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

MAX_README_BYTES = 20_000
OPENING = (
    "# exactlink\n\n```sh\n"
    "python3 -m pip install uv && uv run exactlink demo\n"
    "python3 -m pip install uv && uv run pytest\n"
    "```\n"
)
# The docs this branch writes: a link to one of them must always resolve.
OWN_DOCS = {
    "docs/commands.md",
    "docs/security.md",
    "docs/performance.md",
    "docs/reliability.md",
    "docs/sandbox.md",
    "docs/architecture.md",
    "docs/development.md",
}
# Docs written alongside on other branches; the README may link them before they arrive.
DOCS_ON_THEIR_WAY: set[str] = set()  # every linked doc exists now
PLANNING_WORDS = [
    r"\bthe seed\b(?! of\b)",  # the sandbox's generator seed ("the seed of the data generator") is fine
    r"\bseed's\b",
    r"\bquality bars?\b",
    r"\bproduct spec\b",
    r"\bdesign card\b",
    r"\bPRODUCT\.md\b",
    r"\bissue #",
    r"\bbrief\b",
]
SCANNED = ["README.md", "config.example.toml", "src", "bench", "docs", "tests", ".ci"]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".ini", ".html", ""}


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def command_paths() -> Iterator[str]:
    """Every command a user can type: the leaves of the Typer tree, and groups that run on their own."""
    from exactlink.cli.main import app

    def walk(command: object, prefix: str) -> Iterator[str]:
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            path = f"{prefix}{name}"
            if sub.hidden:
                continue
            children = getattr(sub, "commands", None)
            if not children or getattr(sub, "invoke_without_command", False):
                yield path
            if children:
                yield from walk(sub, path + " ")

    yield from walk(typer.main.get_command(app), "")


def command_table_entries(text: str) -> list[str]:
    """The backticked names in the first column of the README's table of all commands."""
    section = text.split("## Daily use", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "the Daily use section has the table of all commands"
    return [name for row in rows for name in re.findall(r"`([^`]+)`", row.split("|")[1])]


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    data = README.read_bytes()
    assert len(data) <= MAX_README_BYTES, f"README.md is {len(data):,} bytes; move detail into docs/"
    assert data.decode("utf-8").startswith(OPENING)


def test_the_readme_has_a_table_of_contents_that_resolves() -> None:
    text = readme_text()
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    anchors = re.findall(r"\]\(#([^)]+)\)", contents)
    headings = {slug(line[3:]) for line in text.splitlines() if line.startswith("## ")}
    assert len(anchors) >= 10
    assert [anchor for anchor in anchors if anchor not in headings] == []
    every_anchor = re.findall(r"\]\(#([^)]+)\)", text)
    assert [anchor for anchor in every_anchor if anchor not in headings] == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_docs_link_of_the_readme_resolves() -> None:
    links = set(re.findall(r"\]\((docs/[^)#]+)", readme_text()))
    assert links >= OWN_DOCS, f"not linked: {sorted(OWN_DOCS - links)}"
    missing = sorted(link for link in links if not (ROOT / link).is_file() and link not in DOCS_ON_THEIR_WAY)
    assert missing == []
    assert all((ROOT / doc).is_file() for doc in OWN_DOCS)


def test_links_between_the_docs_resolve() -> None:
    for document in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#:]+\.md)", document.read_text(encoding="utf-8")):
            resolved = (document.parent / target).resolve()
            relative = resolved.relative_to(ROOT).as_posix()
            assert resolved.is_file() or relative in DOCS_ON_THEIR_WAY, f"{document.name} links {target}"


def test_the_command_table_names_every_command() -> None:
    named = command_table_entries(readme_text())
    paths = list(command_paths())
    assert {"crm edit", "link-admin link", "doctor", "completion", "match", "sandbox export-crm"} <= set(paths)
    missing = [path for path in paths if not any(name == path or name.startswith(path + " ") for name in named)]
    assert missing == [], f"README's command table leaves out: {missing}"
    unknown = [name for name in named if not any(name == p or name.startswith(p + " ") for p in paths)]
    assert unknown == [], f"README's command table names commands that do not exist: {unknown}"


def project_text_files() -> Iterator[Path]:
    for entry in SCANNED:
        path = ROOT / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix in TEXT_SUFFIXES and "cassettes" not in file.parts:
                    yield file


@pytest.mark.parametrize("pattern", PLANNING_WORDS)
def test_no_planning_vocabulary_anywhere(pattern: str) -> None:
    hits = []
    for file in project_text_files():
        if file == Path(__file__).resolve():
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if re.search(pattern, line, flags=re.IGNORECASE):
                hits.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert hits == []


def test_the_planning_scan_sees_what_it_looks_for() -> None:
    """The patterns catch the phrasing they are meant for, and leave the sandbox's generator seed alone."""
    assert re.search(PLANNING_WORDS[0], "keeps the seed's data", flags=re.IGNORECASE)
    assert re.search(PLANNING_WORDS[1], "the seed's FAQ")
    assert not re.search(PLANNING_WORDS[0], "the seed of the data generator")
    assert sum(1 for _ in project_text_files()) > 100
