"""exactlink's main journey, unchanged, against the independent Exact Online imitation (tests/imitation/exact.py).

The imitation was written from the public evidence only; where the evidence is silent it answers differently
from exactlink's own sandbox. The office logs in through the paste flow (an https redirect URI, as the App
Center demands), selects its administration, imports its CRM export and runs every command of a working day.
"""

from __future__ import annotations

import html
import json
import os
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine

from tests.cli import run_cli, set_workspace
from tests.imitation import office as world
from tests.imitation.exact import Imitation, serve


@dataclass
class PastingOffice:
    """The person at the terminal: consents in the browser and pastes the address the browser ends on."""

    username: str = world.USERNAME
    password: str = world.PASSWORD
    landed: list[str] = field(default_factory=list)

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        """``webbrowser.open``: the login page, the form, and the redirect to the https page nobody serves."""
        page = httpx.get(url)
        assert page.status_code == 200, page.text
        form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        form = {name: html.unescape(value) for name, value in form.items()}
        form.update(username=self.username, password=self.password)
        action = html.unescape(re.search(r'action="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        parts = urllib.parse.urlsplit(url)
        answer = httpx.post(f"{parts.scheme}://{parts.netloc}{action}", data=form)
        assert answer.status_code == 302, answer.text
        self.landed.append(answer.headers["Location"])
        return True

    def paste(self) -> str:
        """What the person pastes into the waiting terminal."""
        return self.landed[-1]


@dataclass
class Day:
    """The running imitation, the office in it, and everything the commands printed."""

    imitation: Imitation
    office: world.Office
    traveller: time_machine.Coordinates
    printed: list[str] = field(default_factory=list)

    def run(self, *args: str, expect: int | None = 0) -> str:
        """Run ``exactlink ARGS`` and return its stdout; keeps stdout and stderr for the leak check."""
        result = run_cli(*args)
        self.printed += [result.stdout, result.stderr]
        assert expect is None or result.exit_code == expect, (
            f"exactlink {' '.join(args)} → {result.exit_code}\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout


@pytest.fixture
def day(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Day]:
    """The imitation served at a fixed moment, exactlink configured for it as an office would, and logged in."""
    import webbrowser

    from exactlink.cli import auth_cmd

    with time_machine.travel(world.NOW, tick=False) as traveller:
        imitation = Imitation(lambda: datetime.now(UTC))
        office = world.build(imitation)
        with serve(imitation) as base_url:
            for name, value in {
                "EXACTLINK_BASE_URL": base_url,
                "EXACTLINK_CLIENT_ID": world.CLIENT_ID,
                "EXACTLINK_CLIENT_SECRET": world.CLIENT_SECRET,
                "EXACTLINK_REDIRECT_URI": world.REDIRECT_URI,
            }.items():
                monkeypatch.setenv(name, value)
            set_workspace(monkeypatch, sleep=traveller.shift)
            person = PastingOffice()
            monkeypatch.setattr(webbrowser, "open", person.open)
            monkeypatch.setattr(auth_cmd, "_read_line", person.paste)
            today = Day(imitation, office, traveller)
            today.run("login")
            assert imitation.token_calls["authorization_code"] == 1
            yield today


def client_calls(imitation: Imitation, since: int) -> Counter[int]:
    """Calls per client administration made after the ``since``-th logged request."""
    codes = [re.match(r"\S+ /api/v1/(\d+)/", line) for line in imitation.log[since:]]
    return Counter(int(code.group(1)) for code in codes if code and int(code.group(1)) != world.OFFICE_CODE)


@pytest.mark.parametrize("upper_case_ids", [False, True], ids=["lower-case-ids", "upper-case-ids"])
def test_a_working_day_against_the_imitation(day: Day, tmp_path: Path, upper_case_ids: bool) -> None:
    imitation = day.imitation
    imitation.upper_case_ids = upper_case_ids
    office = imitation.divisions[world.OFFICE_CODE]
    out = day.run("tenant", "select", "De Boekhouder", "--yes")
    assert str(world.OFFICE_CODE) in out  # not Me.CurrentDivision, which is a client's administration

    export = tmp_path / "relaties.csv"
    export.write_text(world.crm_export(), encoding="utf-8")
    day.run("crm", "import", str(export))
    matched = {row["relation"]: row for row in json.loads(day.run("match", "--json"))}
    for relation in ("1001", "1002", "1003", "1004"):
        assert matched[relation]["status"] == "linked"
        assert matched[relation]["account_id"].lower() == day.office.accounts[relation]
    assert matched["1005"]["status"] == "suggested"  # a name alone never links

    day.traveller.shift(timedelta(minutes=7))
    day.run("sync")
    day.run("crm", "edit", "1001", "--phone", "010-7654321")
    day.run("sync", "--direction", "outbound")
    assert office.table("crm/Accounts")[day.office.accounts["1001"]]["Phone"] == "010-7654321"

    day.traveller.shift(timedelta(minutes=9))  # the access token expired: the next command refreshes it
    day.run("link-admin", "suggest", "--accept")
    links = {row["Account"]: row for row in office.table("accountancy/SolutionLinks").values()}
    for client in world.CLIENTS[:4]:
        assert links[day.office.accounts[client.relation]]["InternalSolutionDivision"] == client.division
    assert len(links) == 4  # the link Exact already had for 1002 was reused, not doubled
    day.run("link-admin", "unlink", "1004")
    assert day.office.accounts["1004"] not in {
        row["Account"] for row in office.table("accountancy/SolutionLinks").values()
    }

    day.traveller.shift(timedelta(minutes=11))
    day.run("fetch-returns")
    fetched = json.loads(day.run("returns", "list", "--json"))
    kinds = Counter(row["kind"] for row in fetched)
    assert kinds["btw"] == 3 and kinds["icp"] == 3 and kinds["loonheffing"] == 3  # 1004 is unlinked
    open_items = json.loads(day.run("returns", "list", "--kind", "vraagposten", "--json"))
    assert Counter(row["division"] for row in open_items) == {c.division: 2 for c in world.CLIENTS[:3]}
    assert {row["period"] for row in fetched} == {"2026-02"}  # November's return is outside the 30-day window
    assert {row["due_date"] for row in fetched} == {"2026-03-31"}  # Exact's date, read as Amsterdam time

    before = len(imitation.log)
    day.traveller.shift(timedelta(hours=1))
    day.run("fetch-returns", "--office-hours", "--quiet")
    hourly = client_calls(imitation, before)
    assert set(hourly) == {c.division for c in world.CLIENTS[:3]} and max(hourly.values()) <= 2, hourly

    returns_3141592 = imitation.divisions[3141592].table("returns").values()
    vat = next(r for r in returns_3141592 if r["Type"] == 31 and r["Status"] == 40)
    icp = next(r for r in returns_3141592 if r["Type"] == 32)
    day.run("returns", "mark", vat["DocumentID"], "--processed")
    day.run("returns", "mark", icp["DocumentID"], "--processed")
    day.run("feedback", "--pending", expect=3)  # the ICP return was not sent "Manual (with approval)"
    assert vat["Status"] == 50 and icp["Status"] == 40
    before = imitation.calls["POST financial/ProcessReturn"]
    day.run("feedback", "--pending")  # the refused one is held back, not tried every hour
    assert imitation.calls["POST financial/ProcessReturn"] == before

    day.run("status")
    day.run("doctor")
    refused = {label: count for (label, status), count in imitation.statuses.items() if status >= 400}
    assert set(refused) <= {"GET read/financial/Returns", "POST financial/ProcessReturn"}, refused

    secrets = {g.access for g in imitation.grants} | {g.refresh for g in imitation.grants}
    secrets |= {token for g in imitation.grants for token in g.used_refresh}
    written = "\n".join(day.printed) + "".join(p.read_text() for p in Path(os.environ["EXACTLINK_HOME"]).rglob("*.log"))
    assert not [s for s in secrets | {world.BSN} if s in written]


def set_up_office(day: Day, tmp_path: Path) -> None:
    """Select the office administration, import the CRM export and match: the first half-hour of the set-up."""
    day.run("tenant", "select", str(world.OFFICE_CODE), "--yes")
    export = tmp_path / "relaties.csv"
    export.write_text(world.crm_export(), encoding="utf-8")
    day.run("crm", "import", str(export))
    day.run("match")


def test_small_pages_with_readable_skip_tokens_give_the_same_office(day: Day, tmp_path: Path) -> None:
    """Pages of two rows (within the documented maxima): every list is followed through its absolute ``__next``."""
    day.imitation.page_limit = 2
    set_up_office(day, tmp_path)
    assert len(json.loads(day.run("crm", "list", "--json"))) == len(world.CLIENTS)
    day.run("link-admin", "suggest", "--accept")
    office = day.imitation.divisions[world.OFFICE_CODE]
    assert len(office.table("accountancy/SolutionLinks")) == 4
    day.run("fetch-returns")
    kinds = Counter(row["kind"] for row in json.loads(day.run("returns", "list", "--json")))
    assert kinds == {"btw": 4, "icp": 4, "loonheffing": 4}
    assert any("$skiptoken=" in line for line in day.imitation.log)


def test_a_refresh_refused_as_too_early_keeps_the_valid_token(day: Day) -> None:
    """Exact's clock 45 s behind ours: at our 575 s the refresh is too early for Exact, in words exactlink has
    never seen; the access token is still valid, so the command goes on and nobody is asked to log in."""
    day.imitation.clock = lambda: datetime.now(UTC) - timedelta(seconds=45)
    day.traveller.shift(timedelta(seconds=575))
    day.run("tenant", "list")
    print("TOO-EARLY", dict(day.imitation.statuses))
    day.traveller.shift(timedelta(seconds=60))  # now the token has expired on both clocks
    day.run("tenant", "list")
    assert day.imitation.statuses[("POST /api/oauth2/token", 200)] == 2  # the login and one refresh


def test_an_access_token_exact_calls_expired_is_refreshed_once(day: Day) -> None:
    """Exact says ``access token expired`` (in ``WWW-Authenticate``) before exactlink expected it."""
    day.imitation.expire_access()
    day.run("tenant", "list")
    assert day.imitation.token_calls["refresh_token"] == 1
    assert day.imitation.statuses[("GET /api/v1/current/Me", 401)] <= 1


def test_a_full_minute_waits_for_the_next_one(day: Day, tmp_path: Path) -> None:
    """The office administration's minute is used up elsewhere: Exact answers 429 with an empty body."""
    minute = int(datetime.now(UTC).timestamp() // 60)
    day.imitation.minute[(world.CLIENT_ID, world.OFFICE_CODE, minute)] = 60
    set_up_office(day, tmp_path)
    assert len(json.loads(day.run("crm", "list", "--unlinked", "--json"))) == 1
    print("MINUTE", dict(day.imitation.statuses))


def test_an_account_deleted_in_exact_is_reported_gone(day: Day, tmp_path: Path) -> None:
    """Deleted in Exact: ``sync/Deleted`` (EntityType 2) says so, and the link is kept and reported."""
    set_up_office(day, tmp_path)
    office = day.imitation.divisions[world.OFFICE_CODE]
    day.imitation.delete(office, "crm/Accounts", day.office.accounts["1003"])
    rows = {row["relation"]: row for row in json.loads(day.run("match", "--all", "--json"))}
    assert rows["1003"]["account_gone"] is True and rows["1001"]["account_gone"] is False


def test_numbers_must_match_never_puts_an_account_code(
    day: Day, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PUT carrying ``Code`` is answered 500 "Gegeven bestaat reeds" (evidence §2): exactlink reports instead."""
    monkeypatch.setenv("EXACTLINK_SYNC__NUMBERS_MUST_MATCH", "true")
    set_up_office(day, tmp_path)
    print("NUMBERS", day.run("sync", "--direction", "outbound", expect=None), day.printed[-1])
    assert day.imitation.statuses[("PUT crm/Accounts(key)", 500)] == 0
    office = day.imitation.divisions[world.OFFICE_CODE]
    assert office.table("crm/Accounts")[day.office.accounts["1001"]]["Code"].strip() == "401"


def test_an_inaccessible_current_division_does_not_stop_tenant_select(day: Day, tmp_path: Path) -> None:
    """``Me.CurrentDivision`` is the administration last opened in the browser, which may be one the app was
    not granted at consent (api §4.2, picqer #470): Exact answers 403 there."""
    day.imitation.users[world.USERNAME]["CurrentDivision"] = 5555555
    out = day.run("tenant", "select", "De Boekhouder", "--yes")
    assert str(world.OFFICE_CODE) in out
    assert day.imitation.statuses[("GET system/Divisions", 403)] == 1


def test_a_deletion_older_than_two_months_is_still_found(day: Day, tmp_path: Path) -> None:
    """``sync/Deleted`` forgets after two months (evidence §4): the hourly runs keep the login alive, and the
    first ``match`` after 70 days re-reads the accounts in full and finds the deleted one gone."""
    set_up_office(day, tmp_path)
    day.run("link-admin", "suggest", "--accept")
    office = day.imitation.divisions[world.OFFICE_CODE]
    day.imitation.delete(office, "crm/Accounts", day.office.accounts["1003"])
    for days in (25, 25, 20):
        day.traveller.shift(timedelta(days=days))
        day.run("fetch-returns", "--quiet")
    assert all(row["DeletedDate"] < datetime.now(UTC) - timedelta(days=61) for row in office.table("deleted").values())
    since = len(day.imitation.log)
    rows = {row["relation"]: row for row in json.loads(day.run("match", "--all", "--json"))}
    full_reads = [line for line in day.imitation.log[since:] if "Timestamp%20gt%201L" in line]
    assert any("sync/CRM/Accounts" in line for line in full_reads)
    assert rows["1003"]["account_gone"] is True and rows["1001"]["account_gone"] is False


def test_a_login_unused_for_more_than_30_days_asks_for_a_new_one(day: Day) -> None:
    """Exact's refresh token expires unused after 30 days (400 invalid_request): exit 4, log in again."""
    day.traveller.shift(timedelta(days=31))
    result = run_cli("tenant", "list")
    assert result.exit_code == 4, result.stdout + result.stderr
    assert "exactlink login" in result.stderr


def test_the_30_day_window_starts_at_midnight_in_amsterdam(day: Day, tmp_path: Path) -> None:
    """Exact's ``Created`` is Amsterdam wall-clock time (evidence §7): a return created at 00:30 on the window's
    first day is in it, one created at 23:30 the evening before is not, whichever way exactlink filters."""
    division = day.imitation.divisions[3141592]
    first_day = (world.NOW - timedelta(days=30)).date()
    for created, description in ((datetime(2026, 2, 8, 0, 30), "binnen"), (datetime(2026, 2, 7, 23, 30), "buiten")):
        assert created.date() in (first_day, first_day - timedelta(days=1))
        day.imitation.put(
            division,
            "returns",
            {"DocumentID": day.imitation.new_id(), "Request": day.imitation.new_id(), "Type": 31, "Status": 20,
             "SentMethod": "manual", "Year": 2026, "Period": 1, "Frequency": "M", "Amount": 10.0, "Currency": "EUR",
             "Created": created.replace(tzinfo=world.AMSTERDAM), "Description": description},
            key="DocumentID",
        )  # fmt: skip
    set_up_office(day, tmp_path)
    day.run("link-admin", "link", "1001", "3141592")
    day.run("fetch-returns")
    descriptions = {row["description"] for row in json.loads(day.run("returns", "list", "--wide", "--json"))}
    assert "binnen" in descriptions and "buiten" not in descriptions


def test_one_page_lists_written_as_a_bare_array(day: Day, tmp_path: Path) -> None:
    """``{"d": [...]}`` instead of ``{"d": {"results": [...]}}`` (api §3, ossobv's unwrap reads both)."""
    day.imitation.bare_arrays = True
    set_up_office(day, tmp_path)
    assert len(json.loads(day.run("crm", "list", "--unlinked", "--json"))) == 1
    day.run("link-admin", "suggest", "--accept")
    day.run("fetch-returns")
    assert len(json.loads(day.run("returns", "list", "--json"))) == 12


def test_a_401_for_another_reason_is_not_refreshed_again(day: Day) -> None:
    """Only "access token expired" is a reason to refresh (evidence §7)."""
    day.imitation.unauthorized_reason = "message expired"
    result = run_cli("tenant", "list")
    assert day.imitation.token_calls["refresh_token"] == 0
    assert result.exit_code == 1 and "message expired" in result.stderr


def test_a_process_return_answered_not_processed_is_not_taken_as_done(day: Day, tmp_path: Path) -> None:
    """ProcessReturn's ``Processed`` is "true when the change was applied" (evidence §5): false is no success."""
    day.imitation.process_not_applied = True
    set_up_office(day, tmp_path)
    day.run("link-admin", "link", "1001", "3141592")
    day.run("fetch-returns")
    vat = next(
        r for r in day.imitation.divisions[3141592].table("returns").values() if r["Status"] == 40 and r["Type"] == 31
    )
    day.run("feedback", vat["DocumentID"], "--processed", expect=1)
    shown = json.loads(day.run("returns", "show", vat["DocumentID"], "--json"))
    assert shown["feedback_state"] == "refused" and shown["reported_at"] is None
    calls = day.imitation.calls["POST financial/ProcessReturn"]
    day.run("feedback", "--pending")
    assert day.imitation.calls["POST financial/ProcessReturn"] == calls  # not sent again every hour


def test_an_external_solution_link_is_not_taken_over(day: Day, tmp_path: Path) -> None:
    """The account keeps its books in another package (SolutionType 1): linking it needs ``--force``."""
    office = day.imitation.divisions[world.OFFICE_CODE]
    external = {"Account": day.office.accounts["1001"], "SolutionType": 1, "ExternalSolutionCode": 7, "Status": 0,
                "ExternalSolutionUrl": "https://boekhouding.example/1001", "Name": "Ander pakket"}  # fmt: skip
    day.imitation.put(office, "accountancy/SolutionLinks", external)
    set_up_office(day, tmp_path)
    day.run("link-admin", "suggest", "--accept", expect=3)  # the other three are linked
    links = [
        row
        for row in office.table("accountancy/SolutionLinks").values()
        if row["Account"] == day.office.accounts["1001"]
    ]
    assert [row["SolutionType"] for row in links] == [1]


def test_outbound_writes_are_read_back_and_a_second_run_changes_nothing(day: Day, tmp_path: Path) -> None:
    """The CRM leads: a postal address, a bank account and a website reach Exact; the next run finds nothing to do."""
    set_up_office(day, tmp_path)
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "relatienummer;naam;website;postadres;postadres postcode;postadres plaats;postadres land;iban\n"
        "1001;Bakkerij De Korenbloem B.V.;https://korenbloem.example;Postbus 12;3000 AA;Rotterdam;NL;"
        "NL91ABNA0417164300\n",
        encoding="utf-8",
    )
    day.run("crm", "import", str(extra))
    day.run("sync", "--direction", "outbound", "--relation", "1001")
    again = day.run("sync", "--direction", "outbound", "--relation", "1001")
    assert "0 changed" in again and "0 to write" in again  # what was written reads back equal
    office = day.imitation.divisions[world.OFFICE_CODE]
    account = day.office.accounts["1001"]
    postal = [r for r in office.table("crm/Addresses").values() if r["Account"] == account and r["Type"] == 2]
    assert [(r["AddressLine1"], r["Postcode"], r["City"]) for r in postal] == [("Postbus 12", "3000 AA", "Rotterdam")]
    banks = [r["BankAccount"] for r in office.table("crm/BankAccounts").values() if r["Account"] == account]
    assert banks == ["NL91ABNA0417164300"]
    assert office.table("crm/Accounts")[account]["Website"] == "https://korenbloem.example"


def test_a_write_exact_skips_silently_is_reported(day: Day, tmp_path: Path) -> None:
    """Exact skips read-only properties on PUT without an error (evidence §2): only the read-back shows it."""
    day.imitation.ignored = {"Website"}
    set_up_office(day, tmp_path)
    day.run("crm", "edit", "1002", "--website", "https://vandam.example")
    out = day.run("sync", "--direction", "outbound", "--relation", "1002", "--wide", expect=3)
    assert "Exact ignored the change to Website" in out


def test_a_moved_administration_is_read_again_in_full(day: Day, tmp_path: Path) -> None:
    """Moved to another database, every Timestamp starts again lower (api §4.8): a stored cursor would miss all
    later changes, so ``DivisionMoveDate`` changing makes exactlink read from the start."""
    set_up_office(day, tmp_path)
    office = day.imitation.divisions[world.OFFICE_CODE]
    day.traveller.shift(timedelta(hours=2))
    day.imitation.move(office)
    day.imitation.put(office, "crm/Accounts", {"ID": day.office.accounts["1002"], "Name": "Van Dam Installaties B.V."})
    day.run("sync")
    shown = json.loads(day.run("crm", "show", "1002", "--json"))
    assert shown["name"] == "Van Dam Installaties B.V."
