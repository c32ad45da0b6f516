"""Bulk linking (``link-admin --csv``) at scale: calls per new link, the day's reserve, and resuming day after day.

    uv run python -m bench.bench_link_admin                       # 2,000 administrations, a 1,000-call day
    uv run python -m bench.bench_link_admin --large               # 20,000 administrations, Exact's 5,000-call day

Every new link is one SolutionLink write in the office administration, whose day (5,000 calls) is shared by
everything the office does. Targets: bulk linking stops at the reserve (``runs.bulk_reserve_percent``,
20 %) every day with exit code 3 and the stop message (how far it got, when it goes on: the day limit's reset),
never eats into it, resumes the next (simulated) day where it stopped, and ends with every administration
linked exactly once; after each stop ``exactlink match`` and ``exactlink sync`` (run as the office types them)
still succeed within what is left of the day, without a 429; the calls stay within 10 % of the lower bound (one
write per link Exact did not hold yet, plus each day's read of the division list, 60 rows a page).

Set-up (not timed): the sandbox served on 127.0.0.1 with its minute limit raised (so the run measures calls, not
pacing), a stored login, the office chosen, and every relation linked to its office account in the mirror. The
next day is simulated with time-machine (the sandbox's clock follows it). Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._office import link_relations_to_accounts, serve_office

DEFAULT_ADMINS = 2_000
DEFAULT_DAY = 1_000
LARGE_ADMINS = 20_000
LARGE_DAY = 5_000
MARGIN = 0.10
MAX_DAYS = 30


def _prepare(home: Path, admins: int, day_limit: int, seed: int) -> tuple[Any, Any, Path]:
    """The served sandbox, a stored login, the office, relations linked to accounts; returns the CSV of pairs."""
    from exactlink.store.db import open_db

    served = serve_office(home, admins, seed, minutely_limit=1_000_000, daily_limit=day_limit)
    sandbox, server, usable = served.sandbox, served.server, served.usable
    db = open_db()
    try:
        link_relations_to_accounts(db, served)
    finally:
        db.close()
    csv_file = home.parent / "links.csv"
    csv_file.write_text("".join(f"R{code};{code}\n" for code, _ in usable), encoding="utf-8")
    return sandbox, server, csv_file


def _one_day(sandbox: Any, csv_file: Path, day_limit: int, moment: datetime) -> dict[str, Any]:
    from exactlink.cli.admin_render import reserve_stop_line
    from exactlink.services.admin_links import link_from_csv
    from exactlink.workspace import RecordingOutput, Workspace

    sandbox.reset_counters()
    started = time.perf_counter()
    with closing(Workspace(output=RecordingOutput())) as ws:
        report = link_from_csv(ws, csv_file)
        reserve_percent = ws.settings.runs.bulk_reserve_percent
    office = sandbox.data.office_division
    calls = sum(1 for entry in sandbox.request_log if entry.division == office)
    counts = report.counts()
    stop = report.stopped
    figures = {
        "seconds": round(time.perf_counter() - started, 2),
        "linked": counts.get("linked", 0),
        "already_linked": counts.get("already_linked", 0),
        "deferred": counts.get("deferred", 0),
        "failed": counts.get("failed", 0) + counts.get("invalid", 0) + counts.get("refused", 0),
        "office_calls": calls,
        "writes": sum(1 for e in sandbox.request_log if e.division == office and e.method in ("POST", "PUT")),
        "reads": sum(1 for e in sandbox.request_log if e.division == office and e.method == "GET"),
        "status_429": sum(1 for entry in sandbox.request_log if entry.status == 429),
        "stopped": stop is not None,
        "exit_code": report.exit_code,
        "message_ok": stop is None or _stop_message_ok(reserve_stop_line(stop), stop, moment, report),
        "left_of_day": day_limit - calls,
        "reserve": math.ceil(day_limit * reserve_percent / 100),
    }
    if stop is not None:
        figures.update(_match_and_sync(sandbox, day_limit))
    return figures


def _stop_message_ok(message: str, stop: Any, moment: datetime, report: Any) -> bool:
    """The stop line says how far the request got and that it goes on at the next UTC day (Exact's day)."""
    from exactlink.domain.times import office_time

    next_day = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    done = sum(1 for row in report.rows if row.status in ("linked", "already_linked"))
    return (
        stop.done == done
        and stop.resumes_at is not None
        and abs((stop.resumes_at - next_day).total_seconds()) < 60
        and f"stopped at the day's reserve: {done} of {len(report.rows)} linked\n" in message
        and f"run the same command again after {office_time(stop.resumes_at, 'Europe/Amsterdam')}" in message
    )


def _match_and_sync(sandbox: Any, day_limit: int) -> dict[str, Any]:
    """``exactlink match`` and ``exactlink sync`` run on what the stopped bulk work left of the day."""
    from typer.testing import CliRunner

    from exactlink.cli.main import app

    office = sandbox.data.office_division
    before = len(sandbox.request_log)
    figures: dict[str, Any] = {}
    for name, args in (("match", ["match", "--quiet"]), ("sync", ["sync", "--json"])):
        started = len(sandbox.request_log)
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        new = sandbox.request_log[started:]
        figures[f"{name}_exit"] = result.exit_code
        figures[f"{name}_calls"] = sum(1 for entry in new if entry.division == office)
    log = sandbox.request_log
    figures["status_429_after"] = sum(1 for entry in log[before:] if entry.status == 429)
    figures["left_after"] = day_limit - sum(1 for entry in log if entry.division == office)
    return figures


def run(admins: int = DEFAULT_ADMINS, day_limit: int = DEFAULT_DAY, seed: int = 3) -> dict[str, Any]:
    """Link ``admins`` administrations from one CSV, one simulated day after another; the figures per day."""
    import time_machine

    saved_env = {name: value for name, value in os.environ.items() if name.startswith("EXACTLINK_")}
    days: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="exactlink-bench-link-") as directory:
        sandbox, server, csv_file = _prepare(Path(directory) / "home", admins, day_limit, seed)
        try:
            moment = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
            while len(days) < MAX_DAYS:
                with time_machine.travel(moment, tick=True):
                    days.append(_one_day(sandbox, csv_file, day_limit, moment))
                if not days[-1]["stopped"]:
                    break
                moment += timedelta(days=1)
            solution_links = _links_per_division(sandbox, _divisions_of(csv_file))
        finally:
            server.stop()
            for name in [n for n in os.environ if n.startswith("EXACTLINK_")]:
                del os.environ[name]
            os.environ.update(saved_env)
    linked = sum(day["linked"] for day in days)
    calls = sum(day["office_calls"] for day in days)
    pages = math.ceil(len(sandbox.data.divisions) / 60)
    # One write per link that did not exist in Exact yet (an existing one is reused) + each day's division list.
    bound = sum(day["writes"] for day in days) + pages * len(days)
    ok = (
        linked == admins
        and all(day["failed"] == 0 and day["status_429"] == 0 for day in days)
        and all(day["left_of_day"] >= day["reserve"] for day in days if day["stopped"])
        and all(day["exit_code"] == 3 and day["message_ok"] for day in days if day["stopped"])
        and all(
            day["match_exit"] == 0 and day["sync_exit"] == 0 and day["status_429_after"] == 0 and day["left_after"] >= 0
            for day in days
            if day["stopped"]
        )
        and days[-1]["exit_code"] == 0
        and solution_links == {"once": admins, "more": 0}
        and calls <= bound * (1 + MARGIN)
    )
    return {
        "admins": admins,
        "day_limit": day_limit,
        "days": days,
        "days_needed": len(days),
        "linked": linked,
        "office_calls": calls,
        "calls_per_link": round(calls / max(1, linked), 3),
        "lower_bound_calls": bound,
        "ratio_to_bound": round(calls / bound, 3) if bound else None,
        "solution_links": solution_links,
        "ok": ok,
    }


def _divisions_of(csv_file: Path) -> set[int]:
    return {int(line.split(";")[1]) for line in csv_file.read_text(encoding="utf-8").splitlines() if line}


def _links_per_division(sandbox: Any, divisions: set[int]) -> dict[str, int]:
    """How many of the linked divisions have exactly one internal SolutionLink, and how many more than one."""
    from collections import Counter

    from exactlink.sandbox import model as sandbox_model

    rows = sandbox.records(sandbox.data.office_division, sandbox_model.SOLUTION_LINKS).values()
    per = Counter(row["InternalSolutionDivision"] for row in rows if row.get("SolutionType") == 0)
    return {
        "once": sum(1 for division in divisions if per[division] == 1),
        "more": sum(1 for division in divisions if per[division] > 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 when a bar is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admins", type=int, default=DEFAULT_ADMINS)
    parser.add_argument("--day-limit", type=int, default=DEFAULT_DAY)
    parser.add_argument("--large", action="store_true", help="20,000 administrations, a 5,000-call day")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(LARGE_ADMINS if args.large else args.admins, LARGE_DAY if args.large else args.day_limit, args.seed)
    print(f"link-admin --csv of {result['admins']:,} administrations, a {result['day_limit']:,}-call day")
    for number, day in enumerate(result["days"], start=1):
        print(
            f"  day {number}: {day['linked']:>6,} linked, {day['already_linked']:>6,} already, {day['deferred']:>6,} "
            f"deferred; {day['office_calls']:,} calls ({day['writes']:,} writes, {day['reads']:,} reads), "
            f"{day['left_of_day']:,} left of the day (reserve {day['reserve']:,}); {day['seconds']} s; "
            f"429s: {day['status_429']}"
        )
        if day["stopped"]:
            print(
                f"         stopped with exit {day['exit_code']}, message {'right' if day['message_ok'] else 'WRONG'}; "
                f"then match: exit {day['match_exit']}, {day['match_calls']:,} calls; sync: exit {day['sync_exit']}, "
                f"{day['sync_calls']:,} calls; {day['left_after']:,} left of the day; 429s: {day['status_429_after']}"
            )
    print(
        f"  {result['linked']:,} linked in {result['days_needed']} days: {result['calls_per_link']} calls per new "
        f"link; {result['office_calls']:,} calls against a lower bound of {result['lower_bound_calls']:,} "
        f"({result['ratio_to_bound']}x); SolutionLinks: {result['solution_links']['once']:,} once, "
        f"{result['solution_links']['more']} twice or more: {'met' if result['ok'] else 'MISSED'}"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
