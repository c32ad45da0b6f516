"""The overview page in Debian's real Chromium: it renders without a console error or a single network request,
sorts and filters, marks overdue rows, passes axe-core's accessibility rules and reads on a 375 px phone.

The page is the one ``exactlink report`` writes for the small office of :mod:`tests.overview.office`, on the day
that office names. Chromium is given it at an address nothing answers for (``.invalid``): every request is routed
through the test, which serves the page itself and fails on anything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlite_utils
from playwright.sync_api import Browser, Page, Route, expect

from exactlink.clock import Clock
from exactlink.services.overview import write_overview
from exactlink.settings import load_settings
from exactlink.store.db import migrate
from exactlink.workspace import RecordingOutput, Workspace
from tests.overview.office import NOW, TODAY, populate

pytestmark = pytest.mark.timeout(90, func_only=True)  # fixtures may first apt-get install Chromium

PAGE_URL = "http://overview.invalid/overzicht.html"


def write_page(path: Path, lang: str = "nl", *, extra_returns: int = 0) -> Path:
    """The office's page, as ``exactlink report --html`` writes it (with ``extra_returns`` more of relation R2)."""
    from exactlink.domain.return_records import ReturnRecord
    from exactlink.store.returns import upsert_returns

    db = sqlite_utils.Database(memory=True)
    migrate(db)
    populate(db)
    upsert_returns(
        db,
        [
            ReturnRecord(f"e0000000-0000-4000-8000-{number:012d}", division=2002, relation_number="R2", type=31,
                         kind="btw", status=50 if number % 2 else 20, year=2026, period=1 + number % 12,
                         frequency="M", amount=float(number), due_date=TODAY + timedelta(days=30 + number % 200))
            for number in range(extra_returns)
        ], now=NOW,
    )  # fmt: skip
    ws = Workspace(load_settings(), clock=Clock.frozen(NOW), output=RecordingOutput())
    ws._db = db
    write_overview(ws, path, lang=lang)
    db.conn.close()
    return path


@dataclass
class Visit:
    """One opened page and everything the browser reported while it was open."""

    page: Page
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def rows(self) -> list[list[str]]:
        """The visible rows of the returns table, cell texts."""
        return self.page.eval_on_selector_all(
            "#returns-table tbody tr:not([hidden])", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )


def open_page(browser: Browser, html: bytes, *, width: int = 1280, script: bool = True) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=script)
    page = context.new_page()
    visit = Visit(page)

    def route(route: Route) -> None:
        visit.requests.append(route.request.url)
        if route.request.url == PAGE_URL:
            route.fulfill(status=200, body=html, headers={"Content-Type": "text/html; charset=utf-8"})
        else:
            route.abort()

    context.route("**/*", route)
    page.on("console", lambda message: visit.problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: visit.problems.append(str(error)))
    page.goto(PAGE_URL)
    if script:
        page.wait_for_selector("html[data-ready]")
    try:
        yield visit
    finally:
        context.close()


@pytest.fixture(scope="module")
def page_html(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_page(tmp_path_factory.mktemp("overview") / "overzicht.html").read_bytes()


@pytest.fixture
def visit(chromium: Browser, page_html: bytes) -> Iterator[Visit]:
    yield from open_page(chromium, page_html)


def test_the_page_renders_with_no_console_error_and_no_request(visit: Visit) -> None:
    assert visit.page.title() == f"Aangiftes en vraagposten — {TODAY.isoformat()}"
    assert visit.problems == []
    assert visit.requests == [PAGE_URL]  # nothing else: no asset, no favicon, no font
    assert visit.page.locator("#shown").inner_text() == "7 van 7 aangiftes passen"
    assert visit.page.locator("h2#attention").is_visible()


def test_columns_sort_both_ways(visit: Visit) -> None:
    amounts = [float(row[4].replace(".", "").replace(",", ".")) for row in visit.rows()]
    visit.page.get_by_role("button", name="Bedrag").click()
    sorted_up = [float(row[4].replace(".", "").replace(",", ".")) for row in visit.rows()]
    assert sorted_up == sorted(amounts) and sorted_up != amounts
    assert visit.page.locator("th", has_text="Bedrag").get_attribute("aria-sort") == "ascending"
    visit.page.get_by_role("button", name="Bedrag").click()
    assert [row[4] for row in visit.rows()] == [row[4] for row in reversed(visit.rows())][::-1]
    assert visit.rows()[0][4] == "1.241,50"  # return 7, the largest
    visit.page.get_by_role("button", name="Dagen").click()
    days = [row[6] for row in visit.rows()]
    assert days[0].startswith("-30") and days[-1] == ""  # the one without a due date goes last
    visit.page.get_by_role("button", name="Relatie").click()
    assert [row[0][:2] for row in visit.rows()] == ["R1", "R1", "R1", "R2", "R2", "R4", "R4"]
    assert visit.problems == []


def test_each_filter_works_and_reset_shows_everything(visit: Visit) -> None:
    page = visit.page
    page.get_by_label("Relatie (nummer of naam)").fill("garage")
    assert {row[0] for row in visit.rows()} == {"R2 Garage De Vries"}
    page.get_by_label("Relatie (nummer of naam)").fill("")
    page.get_by_label("Soort").select_option("loonheffingen")
    assert [row[2] for row in visit.rows()] == ["loonheffingen"]
    page.get_by_label("Soort").select_option("")
    page.get_by_label("Status in Exact").select_option("gerealiseerd")
    assert len(visit.rows()) == 3 and {row[7] for row in visit.rows()} == {"gerealiseerd"}
    page.get_by_label("Status in Exact").select_option("")
    page.get_by_label("Te doen binnen … dagen").fill("7")
    assert sorted(row[6] for row in visit.rows()) == ["-3 (te laat)", "2", "7"]  # not the done ones
    assert page.locator("#shown").inner_text() == "3 van 7 aangiftes passen"
    page.get_by_role("button", name="Alles tonen").click()
    # The form's reset event applies the emptied filters after the reset itself (a timeout of 0): wait for it.
    expect(page.locator("#returns-table tbody tr:not([hidden])")).to_have_count(7)
    assert len(visit.rows()) == 7
    page.get_by_role("link", name="toon in de tabel").first.click()
    assert {row[0][:2] for row in visit.rows()} == {"R1"}
    assert visit.problems == []


def test_overdue_rows_are_marked(visit: Visit) -> None:
    styles = visit.page.eval_on_selector_all(
        "#returns-table tbody tr",
        "rows => rows.map(r => [r.className, getComputedStyle(r.cells[0]).backgroundColor, r.cells[6].textContent])",
    )
    overdue = [style for style in styles if style[2].endswith("(te laat)")]
    assert [style[0] for style in overdue] == ["o"]
    plain = next(style for style in styles if style[0] == "p")
    assert overdue[0][1] != plain[1]  # a colour of its own, besides the words "te laat"


def test_the_page_passes_axe_core_and_its_headings_and_headers_are_in_order(visit: Visit) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(visit.page)  # axe-core shipped inside the package: nothing is fetched
    assert results.violations_count == 0, results.generate_report()
    levels = visit.page.eval_on_selector_all("h1, h2, h3, h4, h5, h6", "hs => hs.map(h => Number(h.tagName[1]))")
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(later - earlier <= 1 for earlier, later in pairwise(levels))
    headers = visit.page.eval_on_selector_all("th", "ths => ths.map(th => th.getAttribute('scope'))")
    assert headers and set(headers) == {"col"}
    assert visit.page.locator("#returns-table caption").inner_text()
    assert visit.requests == [PAGE_URL]


def test_readable_at_375_pixels(chromium: Browser, page_html: bytes) -> None:
    for visit in open_page(chromium, page_html, width=375):
        widths = visit.page.evaluate(
            "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth,"
            " document.querySelector('.scroll').scrollWidth, document.querySelector('.scroll').clientWidth]"
        )
        page_width, body_width, viewport, table_width, container = widths
        assert page_width <= viewport and body_width <= viewport  # no sideways scrolling of the page
        assert container <= viewport and table_width >= container  # the table scrolls in its own box
        font = visit.page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
        assert font >= 14
        assert visit.problems == []


def test_without_script_the_table_is_complete_in_due_date_order(chromium: Browser, page_html: bytes) -> None:
    for visit in open_page(chromium, page_html, script=False):
        assert not visit.page.locator("#filters").is_visible()  # the filters need script: hidden without it
        due = [row[5] for row in visit.rows()]
        assert len(due) == 7 and due[:-1] == sorted(due[:-1]) and due[-1] == "—"
        assert [row[0] for row in visit.rows()][:2] == ["R2", "R1"]  # the number; the name is in its block


def test_the_english_page_works_the_same(chromium: Browser, tmp_path: Path) -> None:
    html = write_page(tmp_path / "overview.html", lang="en").read_bytes()
    for visit in open_page(chromium, html):
        visit.page.get_by_label("Exact status").select_option("Realized")
        assert len(visit.rows()) == 3
        assert visit.page.locator("#shown").inner_text() == "3 of 7 returns match"
        assert visit.problems == [] and visit.requests == [PAGE_URL]


def test_a_long_table_shows_a_page_at_a_time_and_filters_all_of_it(chromium: Browser, tmp_path: Path) -> None:
    html = write_page(tmp_path / "long.html", extra_returns=450).read_bytes()
    for visit in open_page(chromium, html):
        page = visit.page
        assert len(visit.rows()) == 200
        assert page.locator("#shown").inner_text() == "457 van 457 aangiftes passen (de eerste 200 staan in de tabel)"
        page.get_by_role("button", name="Toon 200 meer").click()
        assert len(visit.rows()) == 400
        page.get_by_role("button", name="Toon 57 meer").click()
        assert len(visit.rows()) == 457 and not page.get_by_role("button", name="meer").is_visible()
        page.get_by_label("Status in Exact").select_option("verwerkt")  # most of them beyond the first page
        assert page.locator("#shown").inner_text().startswith("226 van 457 aangiftes passen")
        page.get_by_role("button", name="Bedrag (€)").click()
        page.get_by_role("button", name="Bedrag (€)").click()
        # the largest of all processed ones, not of the page shown before: return 4, then the last extra one
        assert [row[4] for row in visit.rows()[:2]] == ["1.238,50", "449,00"]
        assert visit.problems == [] and visit.requests == [PAGE_URL]
