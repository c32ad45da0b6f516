"""End to end over real HTTP: a deletion older than Exact's two-month ``sync/Deleted`` log still reaches the
mirror, because a sync/Deleted read that old makes the next run read the accounts again from the top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from tests.auth.conftest import Browser
from tests.auth.conftest import browser as browser
from tests.cli import run_cli
from tests.sync.conftest import SyncOffice, query


def test_an_account_deleted_before_the_logs_two_months_is_still_removed(synced: SyncOffice, browser: Browser) -> None:
    synced.sync()
    gone = synced.linked[0]
    account_id = synced.account_of(gone)["ID"]
    synced.sandbox.delete(synced.division, "crm/Accounts", account_id)
    later = datetime.now(UTC) + timedelta(days=63)
    with time_machine.travel(later, tick=True):
        # Nobody ran a sync for 63 days: the login expired too (a refresh token lives 30 days unused).
        login = run_cli("login")
        assert login.exit_code == 0, login.stderr
        synced.sandbox.reset_counters()
        report = synced.sync()
        assert synced.sandbox.calls(endpoint="sync/Deleted") == 1
        assert report["mirror"]["entities"]["deleted"]["rows"] == 0, "the log forgot the deletion"
        assert set(report["mirror"]["full_reads"]) >= {"accounts", "addresses", "contacts"}
        assert "1 account no longer in Exact: removed from the mirror" in report["removed"]
        assert report["account_gone"] == [gone]
        assert query("SELECT count(*) FROM accounts WHERE id = ?", (account_id.lower(),)) == [(0,)]
        assert query("SELECT count(*) FROM links WHERE relation_number = ?", (gone,)) == [(1,)]
        text = run_cli("sync")
        assert text.exit_code == 0, text.stderr
        assert "Account gone in Exact Online (link kept" in text.stdout and gone in text.stdout
        synced.sandbox.reset_counters()
        again = synced.sync()
        assert again["mirror"]["full_reads"] == {}, "trusted again after the full read"
        assert synced.sandbox.calls() == 6, "five entities and the division-move check"
