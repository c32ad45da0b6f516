"""API-economy benchmark: calls for a full inbound ``sync`` of 2,000 clients, and for a run with nothing changed.

    uv run python -m bench.bench_sync_economy                 # 2,000 clients
    uv run python -m bench.bench_sync_economy --clients 500 --seed 3

Targets (API economy):

- a full inbound sync of N accounts (with addresses, contacts, bank accounts) costs within 5 % of the lower
  bound of calls the page sizes allow;
- an incremental run with nothing changed costs one call per synced entity, plus the division-move check;
- a normal run sees zero 429 answers.

The lower bound is, per entity, ceil(rows / page size of the best endpoint Exact offers for it), at least one
call: 1000 rows a page for ``sync/CRM/Accounts``, ``sync/CRM/Addresses``, ``sync/CRM/Contacts`` and
``sync/Deleted``; **60** for ``crm/BankAccounts``, because Exact has no sync or bulk twin for bank accounts
(no ``sync/CRM/BankAccounts``, no ``bulk/CRM/BankAccounts``), so no client can read them in bigger pages. The
table also shows the bound as if bank accounts could be read 1000 at a time; no client can reach it. Both
bounds include one call every run needs besides the pages: the filtered ``system/Divisions`` read that checks
whether the administration was moved to another database (which resets every Timestamp, exact-evidence §4).

Set-up (not counted): the sandbox is served over real HTTP on 127.0.0.1, a login is minted by the sandbox and
stored in a file, the office's CRM export is imported with ``crm import``, and every relation that is in
Exact is linked to its account straight from the generator's ground truth (running ``match`` first would
fill the local copy of Exact, and the sync would no longer be a full one). Then ``sync`` (inbound) runs
through the service, twice; every REST call the sandbox answered is counted, retries and 429s included.
Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARGIN = 0.05
DEFAULT_CLIENTS = 2_000
ENTITY_TABLES = {
    "accounts": "crm/Accounts",
    "addresses": "crm/Addresses",
    "contacts": "crm/Contacts",
    "bank_accounts": "crm/BankAccounts",
}


def _prepare(home: Path, clients: int, seed: int) -> tuple[Any, Any]:
    """A served sandbox with a stored login, the CRM imported and every relation in Exact linked."""
    from exactlink.auth.oauth import TokenSet
    from exactlink.sandbox import Sandbox
    from exactlink.sandbox.generator import write_crm_export
    from exactlink.services.crm import import_crm
    from exactlink.services.session import token_store
    from exactlink.store.db import open_db, transaction
    from exactlink.store.links import set_account_link
    from exactlink.store.meta import set_office
    from exactlink.workspace import Workspace

    sandbox = Sandbox(clients=clients, seed=seed)
    server = sandbox.serve()
    os.environ.update(
        {
            "EXACTLINK_HOME": str(home),
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": sandbox.default_app.client_id,
            "EXACTLINK_CLIENT_SECRET": sandbox.default_app.client_secret,
            "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
            "EXACTLINK_SYNC__DIRECTION": "inbound",
        }
    )
    tokens = sandbox.issue_tokens()
    now = time.time()
    token_store(Workspace()).save(
        TokenSet(tokens["access_token"], tokens["refresh_token"], now + float(tokens["expires_in"]), now)
    )
    office = sandbox.data.office_division
    export = home / "crm-export.csv"
    write_crm_export(sandbox.data, export)
    with closing(Workspace()) as ws:
        import_crm(ws, export)
    ids_by_code = {
        str(record["Code"]).strip(): record["ID"]
        for record in sandbox.records(office, ENTITY_TABLES["accounts"]).values()
    }
    db = open_db()
    try:
        set_office(db, office, str(sandbox.data.divisions[office].record["Description"]), now=datetime.now(UTC))
        with transaction(db):
            for number, code in sandbox.data.ground_truth:
                if code is not None:
                    set_account_link(
                        db, number, ids_by_code[code], code, method="rsin", linked_by="manual", now=datetime.now(UTC)
                    )
    finally:
        db.close()
    return sandbox, server


def _measured_run(sandbox: Any) -> dict[str, Any]:
    from exactlink.services.sync import run_sync
    from exactlink.workspace import Workspace

    sandbox.reset_counters()
    started = time.perf_counter()
    with closing(Workspace()) as ws:
        report = run_sync(ws, direction="inbound")
    seconds = time.perf_counter() - started
    rest = [entry for entry in sandbox.request_log if entry.division is not None]
    statuses = Counter(entry.status for entry in rest)
    counts = report.counts()
    return {
        "seconds": round(seconds, 2),
        "calls": len(rest),
        "calls_by_endpoint": dict(Counter(entry.endpoint for entry in rest)),
        "status_429": statuses.get(429, 0),
        "failed_calls": sum(count for status, count in statuses.items() if status >= 400),
        "relations": counts["relations"],
        "changed_relations": counts["changed"],
        "fields_written": counts["fields"],
        "failed_relations": counts["failed"],
        "write_calls": counts["write_calls"],
        # What exactlink itself counted (pages Exact answered + writes); equals `calls` when nothing was retried.
        "counted_by_exactlink": counts["refresh_calls"] + counts["write_calls"],
    }


def run(clients: int = DEFAULT_CLIENTS, seed: int = 1) -> dict[str, Any]:
    """Measure a full and an incremental inbound sync; return the figures (``ok`` says whether all bars hold)."""
    from exactlink.services.office_mirror import ENDPOINTS, PAGE_SIZES, SYNC_PAGE_SIZE, lower_bound_calls

    with tempfile.TemporaryDirectory(prefix="exactlink-bench-sync-") as directory:
        saved = dict(os.environ)
        sandbox, server = _prepare(Path(directory), clients, seed)
        try:
            office = sandbox.data.office_division
            rows = {entity: len(sandbox.records(office, table)) for entity, table in ENTITY_TABLES.items()}
            rows["deleted"] = 0
            full = _measured_run(sandbox)
            sandbox.reset_limits()  # the next run stands for the next hour's: a new minute
            incremental = _measured_run(sandbox)
        finally:
            server.stop()
            os.environ.clear()
            os.environ.update(saved)
    lower_bound = lower_bound_calls(rows) + 1  # + the system/Divisions division-move check
    if_bulk = sum(max(1, -(-count // SYNC_PAGE_SIZE)) for count in rows.values()) + 1
    entities = [
        {
            "entity": entity,
            "endpoint": ENDPOINTS[entity],
            "rows": count,
            "page_size": PAGE_SIZES[entity],
            "lower_bound": lower_bound_calls({entity: count}),
            "full_calls": full["calls_by_endpoint"].get(ENDPOINTS[entity], 0),
            "incremental_calls": incremental["calls_by_endpoint"].get(ENDPOINTS[entity], 0),
        }
        for entity, count in rows.items()
    ]
    overhead = full["calls"] / lower_bound - 1
    full_ok = overhead <= MARGIN and full["failed_relations"] == 0
    # One call per entity, plus the filtered system/Divisions read that checks for a division move.
    incremental_ok = incremental["calls"] == len(rows) + 1 and incremental["write_calls"] == 0
    no_429 = full["status_429"] == 0 and incremental["status_429"] == 0
    counted_ok = all(run["counted_by_exactlink"] == run["calls"] for run in (full, incremental))
    return {
        "clients": clients,
        "seed": seed,
        "accounts": rows["accounts"],
        "rows": rows,
        "entities": entities,
        "lower_bound": lower_bound,
        "lower_bound_if_bank_accounts_had_1000_pages": if_bulk,
        "full": full,
        "incremental": incremental,
        "overhead": round(overhead, 4),
        "full_ok": full_ok,
        "incremental_ok": incremental_ok,
        "no_429": no_429,
        "counted_ok": counted_ok,
        "ok": full_ok and incremental_ok and no_429 and counted_ok,
    }


def summary_rows(figures: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The rows ``python -m bench`` prints: (target, measured, met)."""
    full, incremental = figures["full"], figures["incremental"]
    return [
        (
            f"API economy: full inbound sync of {figures['clients']:,} clients ≤ lower bound + 5 %",
            f"{full['calls']} calls vs lower bound {figures['lower_bound']} ({figures['overhead']:+.1%}); "
            f"{full['relations']:,} relations, {full['seconds']:.1f} s",
            bool(figures["full_ok"]),
        ),
        (
            "API economy: incremental sync with nothing changed = 1 call per synced entity + the move check",
            f"{incremental['calls']} calls for {len(figures['rows'])} entities and the division-move check, "
            f"{incremental['write_calls']} writes",
            bool(figures["incremental_ok"]),
        ),
        (
            "API economy: the calls exactlink reports (sync --json) are the calls the sandbox answered",
            f"{full['counted_by_exactlink']} = {full['calls']}, {incremental['counted_by_exactlink']} = "
            f"{incremental['calls']}",
            bool(figures["counted_ok"]),
        ),
        (
            "API economy: a normal sync sees no 429",
            f"{full['status_429']} + {incremental['status_429']} × 429",
            bool(figures["no_429"]),
        ),
    ]


def print_figures(figures: dict[str, Any]) -> None:
    """The per-entity table and the bars."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        "entity", "endpoint", "rows", "page size", "lower bound", "full sync", "nothing changed",
        title=f"inbound sync of {figures['clients']:,} clients ({figures['accounts']:,} accounts), calls",
    )  # fmt: skip
    for entity in figures["entities"]:
        table.add_row(
            entity["entity"],
            entity["endpoint"],
            f"{entity['rows']:,}",
            str(entity["page_size"]),
            str(entity["lower_bound"]),
            str(entity["full_calls"]),
            str(entity["incremental_calls"]),
        )
    full, incremental = figures["full"], figures["incremental"]
    table.add_row(
        "total", "", "", "", str(figures["lower_bound"]), str(full["calls"]), str(incremental["calls"]), style="bold"
    )
    console.print(table)
    console.print(
        "crm/BankAccounts has no sync or bulk twin, so 60 rows a page is the best any client can do; with 1000-row "
        f"pages for bank accounts too the bound would be {figures['lower_bound_if_bank_accounts_had_1000_pages']}."
    )
    console.print(
        f"full run: {full['seconds']:.1f} s, {full['changed_relations']:,} relations updated "
        f"({full['fields_written']:,} fields), {full['failed_calls']} failed calls; "
        f"nothing-changed run: {incremental['seconds']:.2f} s"
    )
    bars = Table("target", "measured", "met")
    for bar, measured, met in summary_rows(figures):
        bars.add_row(bar, measured, "yes" if met else "[red]NO[/red]")
    console.print(bars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS, help="clients in the sandbox office")
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    args = parser.parse_args(argv)
    figures = run(args.clients, args.seed)
    print_figures(figures)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
