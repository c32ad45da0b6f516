"""Run every benchmark against the sandbox and print one table of the measured figures.

    uv run python -m bench            # all benchmarks (a few minutes)
    uv run python -m bench --quick    # smaller sizes, for a smoke run

Each row names the target (the bar) it measures, the figure, and whether the bar is met.
The raw figures are also written to ``bench/results/latest.json``. Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = tuple[str, str, bool]


def _startup(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_startup import run

    figures = run(runs=7 if quick else 15)
    return figures, [
        (
            "Start-up: `exactlink --help` < 0.3 s",
            f"{figures['help_seconds']:.3f} s ({figures['ratio_to_bar']:.0%} of the bar; "
            f"{figures['ratio_to_bare_python']}x a bare `python -c pass`)",
            figures["ok"],
        )
    ]


def _tokens(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_tokens import run

    figures = run(processes=20)
    return figures, [
        (
            "Tokens: 20 processes, one expired login → 1 refresh, 0 re-logins",
            f"{figures['refreshes']} refresh, {figures['relogins']} re-logins, "
            f"{figures['failed_processes']} failed processes",
            figures["ok"],
        )
    ]


def _matching(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_matching import run

    results: dict[str, Any] = {}
    rows: list[Row] = []
    for clients in (200, 2_000) if quick else (200, 20_000):
        figures = run(clients)
        results[str(clients)] = figures
        timing = (
            f", {figures['seconds']:.2f} s ({figures['time_vs_bar']:.0%} of the 2 s bar)"
            if figures["time_ok"] is not None
            else ""
        )
        rows.append(
            (
                f"Matching at {clients:,} × {figures['accounts']:,}: precision ≥ 99.5 %, recall ≥ 95 %"
                + (", < 2 s" if figures["time_ok"] is not None else ""),
                f"precision {figures['precision']:.2%}, recall {figures['recall']:.2%} "
                f"(review queue {figures['review_queue']}){timing}",
                bool(figures["passed"]),
            )
        )
    return results, rows


def _fetch_returns(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_fetch_returns import run

    if LARGE["on"]:
        figures = run(admins=20_000, latency_ms=300.0, workers="auto", seconds_bar=600.0)
    else:
        figures = run(admins=100 if quick else 500, workers=32)
    hourly, baseline = figures["hourly"], figures["baseline"]
    return figures, [
        (
            f"Throughput: hourly fetch-returns, {figures['admins']:,} administrations at "
            f"{figures['latency_ms']:.0f} ms/call < {figures['bar_seconds']:.0f} s, no 429, ≤ 2 calls and ≤ 1 ms "
            "write CPU per administration",
            f"{hourly['seconds']:.2f} s, {hourly['calls']} calls ({hourly['calls_per_admin']}/administration, "
            f"{hourly['returns_calls']} Returns), {hourly['write_cpu_ms_per_admin']} ms CPU/administration, "
            f"{hourly['at_once']} at once, "
            f"{hourly['status_429']} × 429; one at a time {baseline['seconds']:.1f} s → {figures['speedup']}x",
            figures["ok"],
        )
    ]


def _sync_economy(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_sync_economy import run, summary_rows

    figures = run(clients=500 if quick else 2_000)
    return figures, summary_rows(figures)


def _generator(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_generator import run

    figures = run(clients=2_000 if quick else 20_000)
    return figures, [
        (
            f"Sandbox: generate {figures['clients']:,} clients < {figures['bar_seconds']:.1f} s",
            f"{figures['seconds']:.2f} s ({figures['ratio_to_bar']:.0%} of the bar), {figures['divisions']:,} "
            "administrations",
            figures["ok"],
        )
    ]


def _crm_import(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_crm_import import run

    figures = run(rows=20_000 if quick else 100_000)
    return figures, [
        (
            f"CRM import: {figures['rows']:,} rows < {figures['bar_seconds']:.0f} s",
            f"{figures['seconds']:.2f} s ({figures['ratio_to_bar']:.0%} of the bar), {figures['stored']:,} stored",
            figures["ok"],
        )
    ]


LARGE = {"on": False}  # --large: onboarding, the hourly fetch-returns and bulk linking at 20,000 clients


def _onboarding(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_onboarding import run

    figures = run(clients=20_000 if LARGE["on"] else 500 if quick else 2_000)
    return figures, [
        (
            f"Onboarding at {figures['clients']:,} clients: login ≤ 3 calls, tenant select ≤ 2, first office read "
            "within 5 % of the page bound",
            f"login {figures['login_calls']}, tenant select {figures['tenant_select_calls']}, first read "
            f"{figures['first_office_read_calls']} of bound {figures['first_office_read_bound']} "
            f"({figures['first_office_read_ratio']:.0%})",
            figures["ok"],
        )
    ]


def _overview(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_overview import run

    figures = run(relations=200 if quick else 2_000)
    return figures, [
        (
            f"Overview page at {figures['relations']:,} relations ({figures['returns']:,} returns): file < 3 MB, "
            "`report` < 2 s, interactive in Chromium < 1 s",
            f"{figures['bytes'] / 1_000_000:.2f} MB; report {figures['report_seconds']:.2f} s wall, "
            f"{figures['report_cpu_seconds']:.2f} s CPU; interactive {figures['interactive_seconds']:.2f} s "
            f"(load {figures['load_average']} on {figures['cores']} cores)",
            figures["ok"],
        )
    ]


def _link_admin(quick: bool) -> tuple[dict[str, Any], list[Row]]:
    from bench.bench_link_admin import run

    if LARGE["on"]:
        figures = run(admins=20_000, day_limit=5_000)
    else:
        figures = run(admins=300 if quick else 2_000, day_limit=150 if quick else 1_000)
    return figures, [
        (
            f"Bulk linking of {figures['admins']:,} on a {figures['day_limit']:,}-call day: stops at the reserve, "
            "resumes daily, each once, match and sync keep working, calls within 10 % of the bound",
            f"{figures['linked']:,} linked in {figures['days_needed']} days, {figures['calls_per_link']} calls per "
            f"link ({figures['ratio_to_bound']}x the bound), {figures['solution_links']['more']} duplicates",
            figures["ok"],
        )
    ]


BENCHMARKS: dict[str, Callable[[bool], tuple[dict[str, Any], list[Row]]]] = {
    "onboarding": _onboarding,
    "startup": _startup,
    "generator": _generator,
    "crm_import": _crm_import,
    "tokens": _tokens,
    "matching": _matching,
    "sync_economy": _sync_economy,
    "fetch_returns": _fetch_returns,
    "overview": _overview,
    "link_admin": _link_admin,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (the bars still apply)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these")
    parser.add_argument("--large", action="store_true", help="onboarding and fetch-returns at 20,000 clients (30+ min)")
    args = parser.parse_args(argv)
    LARGE["on"] = args.large
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table("target", "measured", "met", title="exactlink benchmarks (sandbox Exact Online)")
    raw: dict[str, Any] = {}
    all_met = True
    for name in args.only or list(BENCHMARKS):
        started = time.perf_counter()
        console.print(f"[dim]running {name} …[/dim]")
        figures, rows = BENCHMARKS[name](args.quick)
        raw[name] = {"figures": figures, "wall_seconds": round(time.perf_counter() - started, 1)}
        for bar, measured, met in rows:
            table.add_row(bar, measured, "yes" if met else "[red]NO[/red]")
            all_met = all_met and met
    console.print(table)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
