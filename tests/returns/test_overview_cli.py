"""``fetch-returns --report``, ``report --html`` and ``returns list --ics`` end to end: the sandbox over real HTTP."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from icalendar import Calendar

from tests.cli import run_cli
from tests.returns.conftest import Office


def _link(office: Office, count: int) -> list[tuple[str, int]]:
    pairs = office.candidates()[:count]
    for relation, division in pairs:
        office.link_admin_in_store(relation, division)
    return pairs


def test_fetch_returns_refreshes_the_page_and_names_the_administration_that_failed(
    office: Office, tmp_path: Path
) -> None:
    pairs = _link(office, 3)
    broken_relation, broken = pairs[0]
    office.sandbox.update_division(broken, BlockingStatus=1)
    page_file = tmp_path / "share" / "overzicht.html"

    result = run_cli("fetch-returns", "--quiet", "--report", str(page_file))

    assert result.exit_code == 3, result.stderr
    page = page_file.read_text(encoding="utf-8")
    assert stat.S_IMODE(page_file.stat().st_mode) == 0o600
    run_number = re.search(r"na ophaalronde #(\d+) van", page)
    assert run_number is not None
    attention = page.split('<h2 id="returns">')[0]
    failed = attention.split("Ophalen mislukt (1)")[1].split("</section>")[0]
    assert f"{broken_relation} " in failed and f"({broken})" in failed and "blocked" in failed
    for relation, _ in pairs[1:]:
        assert f"<td>{relation}<td>" in page  # a row of its returns (the name is in its block)

    office.sandbox.update_division(broken, BlockingStatus=0)  # fixed in Exact: the next run clears the failure
    again = run_cli("fetch-returns", "--quiet", "--report", str(page_file), "--report-mode", "0640")
    assert again.exit_code == 0, again.stderr
    page = page_file.read_text(encoding="utf-8")
    assert "Ophalen mislukt (0)" in page
    assert f"na ophaalronde #{int(run_number.group(1)) + 1} van" in page
    assert stat.S_IMODE(page_file.stat().st_mode) == 0o640


def test_a_dry_run_leaves_the_page_alone(office: Office, tmp_path: Path) -> None:
    _link(office, 1)
    page_file = tmp_path / "overzicht.html"
    assert run_cli("fetch-returns", "--quiet", "--dry-run", "--report", str(page_file)).exit_code == 0
    assert not page_file.exists()


def test_report_and_calendar_from_the_command_line(office: Office, tmp_path: Path) -> None:
    _link(office, 3)
    assert run_cli("fetch-returns", "--quiet").exit_code == 0
    page_file = tmp_path / "overview.html"
    result = run_cli("report", "--html", str(page_file), "--lang", "en")
    assert result.exit_code == 0, result.stderr
    assert f"to {page_file}" in result.stderr.replace("\n", "")
    assert "Needs attention" in page_file.read_text(encoding="utf-8")
    assert run_cli("report", "--html", str(page_file), "--mode", "0666").exit_code == 2

    calendar_file = tmp_path / "deadlines.ics"
    first = run_cli("returns", "list", "--ics", str(calendar_file))
    assert first.exit_code == 0, first.stderr
    events = Calendar.from_ical(calendar_file.read_bytes()).walk("VEVENT")
    uids = [str(event["UID"]) for event in events]
    assert uids and len(set(uids)) == len(uids)
    assert f"wrote {len(uids)} deadlines" in first.stderr
    assert run_cli("returns", "list", "--ics", str(calendar_file)).exit_code == 0
    again = [str(event["UID"]) for event in Calendar.from_ical(calendar_file.read_bytes()).walk("VEVENT")]
    assert again == uids
    assert calendar_file.stat().st_mode & 0o777 == 0o600
    shared = run_cli("returns", "list", "--ics", str(calendar_file), "--mode", "0640")  # an agenda on a share
    assert shared.exit_code == 0, shared.stderr
    assert calendar_file.stat().st_mode & 0o777 == 0o640
    refused = run_cli("returns", "list", "--ics", str(calendar_file), "--mode", "0666")
    assert refused.exit_code == 2 and "only the owner may write the file" in refused.stderr
    assert calendar_file.stat().st_mode & 0o777 == 0o640, "a refused mode changes nothing"
    alone = run_cli("returns", "list", "--mode", "0640")
    assert alone.exit_code == 2 and "--mode is the mode of the --ics file" in alone.stderr


def test_schedule_puts_the_report_in_the_cron_line(tmp_path: Path) -> None:
    result = run_cli("schedule", "--cron", "--report", "overzicht.html", "--report-mode", "640")
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "fetch-returns" in line and not line.startswith("#"))
    assert f"--report {Path.cwd() / 'overzicht.html'} --report-mode 0640" in line
