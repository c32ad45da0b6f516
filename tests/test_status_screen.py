"""`exactlink status` fits one 80×24 screen for an office with 800 client administrations, times in its zone."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import time_machine

from tests.cli import new_workspace, run_cli
from tests.stamps import wall_now


def test_status_of_800_administrations_fits_one_screen_at_80_columns() -> None:
    from exactlink.api.ratelimit import LimitState
    from exactlink.services.session import rate_limit_log
    from exactlink.store.meta import set_office
    from exactlink.store.runs import finish_run, start_run

    with time_machine.travel(datetime(2027, 3, 28, 0, 59, tzinfo=UTC), tick=False):  # 01:59 CET, before the jump
        workspace = new_workspace()
        try:
            set_office(workspace.db, 1000, "Administratiekantoor De Boekhouder B.V.", now=wall_now())
            for command in ("match", "sync", "link-admin", "fetch-returns", "feedback", "fetch-returns"):
                finish_run(workspace.db, start_run(workspace.db, command, now=wall_now()), "ok", {}, now=wall_now())
        finally:
            workspace.close()
    now = time.time()
    states = {"1000": LimitState(60, 41, now + 30, 5000, 4200, now + 3600, now)}
    states |= {str(code): LimitState(60, 59, now + 30, 5000, 4000 + code, now + 3600, now) for code in range(1, 801)}
    rate_limit_log().record(states)

    result = run_cli("status", env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert len(lines) <= 24, result.stdout
    assert all(len(line) <= 80 for line in lines), result.stdout
    assert "API budget of 800 client administrations: lowest 4001/5000 today" in " ".join(result.stdout.split())
    assert sum("(started 2027-03-28 01:59 CET)" in line for line in lines) == 5, "the last five runs, in CET"
