"""Throughput benchmark: the hourly ``fetch-returns`` over 500 linked administrations at 150 ms per call.

    uv run python -m bench.bench_fetch_returns                    # 500 administrations, 150 ms latency
    uv run python -m bench.bench_fetch_returns --admins 100 --latency-ms 50
    uv run python -m bench.bench_fetch_returns --full-baseline    # time the one-at-a-time loop on all of them

Target (throughput): the hourly run over 500 linked administrations with 150 ms latency
per call finishes in under 10 s with zero 429 answers, and makes one Returns call per administration (plus
the vraagposten call), instead of the ~75 s+ a one-at-a-time loop takes.

Set-up (not timed, and deliberately not through the CLI): the sandbox is served over real HTTP on
127.0.0.1, from a child process once the set-up is done (as Exact is another machine: served from a thread of this
process, the server's work would count as exactlink's, one interpreter lock for both); the login's tokens are
minted by the sandbox and stored in a file; the office administration,
500 relations, their account links and administration links are written straight into the mirror, and
the 500 SolutionLinks straight into the sandbox's office administration. Linking 500 administrations
through ``link-admin`` would spend 500 SolutionLink writes in the office administration, which Exact
paces at 60 calls a minute (over 8 minutes) — that is ``link-admin --csv``'s cost, not this benchmark's.

Measured, all over real HTTP with the latency added to every call:

- the first run after linking (cold: it also reads each chart of accounts once, to find the vraagposten
  account, and brings in the 30-day backlog);
- the hourly run (warm: one Returns call and one vraagposten call per administration) — the bar;
- the same hourly run one administration at a time (``max_concurrent_divisions = 1``), on a sample of
  administrations and scaled to all of them (linear: every call waits the same latency, one after the
  other), unless ``--full-baseline``.

``--large`` measures the large-office target instead: 20,000 administrations at 300 ms per call with the default
concurrency (``auto``): the hourly run within 10 minutes, at most 2 calls per administration (its lower bound: one
Returns call and one incremental vraagposten read), at most 1 ms of local CPU per administration to store the results
(the calling thread's CPU time, measured inside the run), zero 429s. It takes half an hour or more.

Exits 1 when the bar is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench._office import link_relations_to_accounts, serve_office
from bench._server_process import ServerProcess

SECONDS_BAR = 10.0
DEFAULT_ADMINS = 500
DEFAULT_LATENCY_MS = 150.0
# The 500-administration target (10 s) needs more administrations at once than the product's default
# ("auto": 4, raised only as far as a 10-minute run needs); it is measured with this explicit setting.
DEFAULT_WORKERS = 32
BASELINE_SAMPLE = 40
LARGE_ADMINS = 20_000
LARGE_LATENCY_MS = 300.0
LARGE_SECONDS_BAR = 600.0
CALLS_PER_ADMIN_BAR = 2.0
CPU_MS_PER_ADMIN_BAR = 1.0


def _prepare(home: Path, admins: int, seed: int) -> tuple[ServerProcess, list[int]]:
    """A stored login and ``admins`` linked administrations, then the sandbox served from a child process (see
    bench/_server_process.py): (server, divisions)."""
    from exactlink.sandbox import model as sandbox_model
    from exactlink.store.admin import update_administration_state
    from exactlink.store.db import open_db, transaction
    from exactlink.store.links import set_administration_link
    from exactlink.store.relations import set_sbr_start

    served = serve_office(home, admins, seed)
    sandbox, server, office, usable = served.sandbox, served.server, served.office, served.usable
    records = dict(usable)
    now = datetime.now(UTC)
    start = now.astimezone(ZoneInfo("Europe/Amsterdam")).date() - timedelta(days=30)
    db = open_db()
    try:
        linked = link_relations_to_accounts(db, served)
        with transaction(db):
            for number, code, account in linked:
                link = sandbox.create(
                    office,
                    sandbox_model.SOLUTION_LINKS,
                    Account=account["ID"],
                    SolutionType=0,
                    InternalSolutionDivision=code,
                    Status=0,
                )
                set_administration_link(db, number, code, solution_link_id=link["ID"], now=now)
                update_administration_state(db, code, name=str(records[code]["Description"]), now=now)
                set_sbr_start(db, number, start)
    finally:
        db.close()
    server.stop()  # the set-up's server thread; the child serves on the same port from here on
    return ServerProcess(sandbox, server.port), [code for code, _ in usable]


def _timed_run(server: ServerProcess, workers: int | str, relation: str | None = None) -> dict[str, Any]:
    from exactlink.services.returns_fetch import fetch_returns
    from exactlink.settings import load_settings
    from exactlink.workspace import Workspace

    server.reset()
    settings = load_settings(exact={"max_concurrent_divisions": workers})
    started = time.perf_counter()
    with closing(Workspace(settings)) as ws:
        report = fetch_returns(ws, show_progress=False, relations=[relation] if relation else ())
    seconds = time.perf_counter() - started
    seen = server.figures()
    statuses, by_endpoint = seen["statuses"], seen["by_endpoint"]
    administrations = max(1, len(report.outcomes))
    return {
        "seconds": round(seconds, 3),
        "administrations": len(report.outcomes),
        "failed": len(report.failures),
        "calls": seen["calls"],
        "calls_per_admin": round(seen["calls"] / administrations, 3),
        "write_cpu_ms_per_admin": round(report.write_cpu_seconds * 1000 / administrations, 3),
        "write_ms_per_admin": round(report.write_seconds * 1000 / administrations, 3),
        "at_once": report.concurrency.get("most_at_once"),
        "returns_calls": by_endpoint.get("read/financial/Returns", 0),
        "vraagposten_calls": by_endpoint.get("sync/Financial/TransactionLines", 0),
        "gl_account_calls": by_endpoint.get("sync/Financial/GLAccounts", 0),
        "status_429": statuses.get(429, 0),
        "new_returns": report.totals()["new"],
    }


def _baseline(server: ServerProcess, divisions: list[int], sample: int | None) -> dict[str, Any]:
    """The hourly run one administration at a time: all of them, or a sample scaled up linearly."""
    from exactlink.store.db import open_db

    if sample is None or sample >= len(divisions):
        result = _timed_run(server, 1)
        return {**result, "measured_on": len(divisions), "scaled": False}
    db = open_db()
    try:
        # Only the sample stays linked during the baseline; the links are put back afterwards.
        keep = set(divisions[:sample])
        saved = db.conn.execute("SELECT * FROM admin_links").fetchall()
        db.conn.execute(f"DELETE FROM admin_links WHERE division NOT IN ({','.join(str(d) for d in keep)})")
    finally:
        db.close()
    try:
        measured = _timed_run(server, 1)
    finally:
        db = open_db()
        try:
            db.conn.execute("DELETE FROM admin_links")
            db.conn.executemany("INSERT INTO admin_links VALUES (?, ?, ?, ?, ?)", saved)
        finally:
            db.close()
    factor = len(divisions) / sample
    return {
        **measured,
        "seconds": round(measured["seconds"] * factor, 3),
        "measured_seconds": measured["seconds"],
        "calls": round(measured["calls"] * factor),
        "measured_on": sample,
        "scaled": True,
    }


def run(
    admins: int = DEFAULT_ADMINS,
    latency_ms: float = DEFAULT_LATENCY_MS,
    workers: int | str | None = None,
    baseline_sample: int | None = BASELINE_SAMPLE,
    seed: int = 3,
    seconds_bar: float = SECONDS_BAR,
) -> dict[str, Any]:
    """Run the benchmark in a temporary EXACTLINK_HOME; returns the figures (see the module docstring).

    ``workers`` defaults to ``exact.max_concurrent_divisions`` of the settings (the product default).
    """
    from exactlink.settings import load_settings

    saved_env = {name: value for name, value in os.environ.items() if name.startswith("EXACTLINK_")}
    with tempfile.TemporaryDirectory(prefix="exactlink-bench-") as directory:
        server, divisions = _prepare(Path(directory) / "home", admins, seed)
        try:
            workers = workers or load_settings().exact.max_concurrent_divisions
            workers = int(workers) if str(workers).isdigit() else workers
            server.set_latency(latency_ms)
            cold = _timed_run(server, workers)
            hourly = _timed_run(server, workers)
            baseline = _baseline(server, divisions, baseline_sample)
        finally:
            server.stop()
            for name in [n for n in os.environ if n.startswith("EXACTLINK_")]:
                del os.environ[name]
            os.environ.update(saved_env)
    ok = (
        hourly["seconds"] < seconds_bar
        and hourly["status_429"] == 0
        and cold["status_429"] == 0
        and hourly["returns_calls"] == admins
        and hourly["vraagposten_calls"] <= admins
        and hourly["gl_account_calls"] == 0
        and hourly["calls_per_admin"] <= CALLS_PER_ADMIN_BAR
        and hourly["write_cpu_ms_per_admin"] <= CPU_MS_PER_ADMIN_BAR
        and hourly["failed"] == 0
    )
    return {
        "admins": admins,
        "latency_ms": latency_ms,
        "workers": workers,
        "cold": cold,
        "hourly": hourly,
        "baseline": baseline,
        "speedup": round(baseline["seconds"] / hourly["seconds"], 1) if hourly["seconds"] else None,
        "bar_seconds": seconds_bar,
        "ok": ok,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 when the bar is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admins", type=int, default=DEFAULT_ADMINS)
    parser.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
    parser.add_argument("--workers", default=None, help="a number or auto; default 32, auto with --large")
    parser.add_argument("--baseline-sample", type=int, default=BASELINE_SAMPLE)
    parser.add_argument("--full-baseline", action="store_true", help="time the one-at-a-time loop on all")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="20,000 administrations at 300 ms, bar 10 minutes")
    args = parser.parse_args(argv)
    result = run(
        LARGE_ADMINS if args.large else args.admins,
        LARGE_LATENCY_MS if args.large else args.latency_ms,
        args.workers or ("auto" if args.large else DEFAULT_WORKERS),
        None if args.full_baseline else args.baseline_sample,
        args.seed,
        LARGE_SECONDS_BAR if args.large else SECONDS_BAR,
    )
    cold, hourly, baseline = result["cold"], result["hourly"], result["baseline"]
    print(
        f"fetch-returns over {result['admins']} linked administrations, {result['latency_ms']:.0f} ms per call, "
        f"real HTTP, concurrency {result['workers']}"
    )
    for label, figures in (("first run (cold)", cold), ("hourly run", hourly)):
        print(
            f"  {label:<18} {figures['seconds']:6.2f} s  {figures['calls']:5d} calls "
            f"({figures['calls_per_admin']} per administration, {figures['at_once']} at once, "
            f"{figures['write_cpu_ms_per_admin']} ms write CPU, {figures['write_ms_per_admin']} ms writing per "
            "administration) "
            f"(Returns {figures['returns_calls']}, vraagposten {figures['vraagposten_calls']}, "
            f"G/L accounts {figures['gl_account_calls']})  429s: {figures['status_429']}  "
            f"failed: {figures['failed']}  new returns: {figures['new_returns']}"
        )
    how = (
        f"measured on {baseline['measured_on']} in {baseline['measured_seconds']:.2f} s, scaled"
        if baseline["scaled"]
        else "measured on all"
    )
    print(f"  one at a time      {baseline['seconds']:6.2f} s  {baseline['calls']:5d} calls ({how})")
    print(
        f"  ratio: {result['speedup']}x faster than one at a time; bar: hourly run < {result['bar_seconds']:.0f} s "
        f"with zero 429s, ≤ {CALLS_PER_ADMIN_BAR:g} calls and ≤ {CPU_MS_PER_ADMIN_BAR:g} ms write CPU per "
        "administration, one Returns call per administration and at most one vraagposten call: "
        f"{'met' if result['ok'] else 'MISSED'}"
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
