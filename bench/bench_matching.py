"""Matching benchmark: the engine on the sandbox generator's CRM export against its ground truth.

    uv run python -m bench.bench_matching                      # 200 and 20,000 clients
    uv run python -m bench.bench_matching --clients 200 --seed 7
    uv run python -m bench.bench_matching --without-identifiers # a CRM without numbers: the name step alone

Targets (matching): automatic links have precision ≥ 99.5 %, automatic plus
suggested links reach recall ≥ 95 %, and 20,000 × 20,000 relations match in under 2 s. The time is
the engine call alone (normalising every raw field included; generating the data and reading its
tables are not), best of a few runs because the machine may be shared. Exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

from exactlink.domain.matching import AccountKeys, MatchResult, RelationKeys, match_relations, summarise
from exactlink.domain.sync_fields import ADDRESS_TYPE_CODES
from exactlink.sandbox.generator import generate
from exactlink.sandbox.model import ACCOUNTS, ADDRESSES, BANK_ACCOUNTS, SandboxData

PRECISION_BAR = 0.995
RECALL_BAR = 0.95
SECONDS_BAR = 2.0
TIMED_AT_CLIENTS = 20_000  # the size the time bar is defined for


def relation_keys(data: SandboxData) -> list[RelationKeys]:
    """The CRM export rows as the engine's input (the btw-nummer column may hold an OB number or a btw-id)."""
    keys = []
    for row in data.crm_rows:
        keys.append(
            RelationKeys(
                relation_number=row["relatienummer"],
                name=row["naam"],
                rsin=row["rsin"],
                bsn=row["bsn"],
                ob_number=row["btw-nummer"],
                payroll_number=row["loonheffingennummer"],
                kvk=row["kvk-nummer"],
                postcode=row["bezoekadres postcode"],
                house_number=row["bezoekadres"],
                ibans=tuple(iban.strip() for iban in row["iban"].split("|") if iban.strip()),
            )
        )
    return keys


def account_keys(data: SandboxData) -> list[AccountKeys]:
    """The office administration's accounts, with their visit address and bank accounts."""
    tables = data.divisions[data.office_division].tables
    ibans: dict[str, list[str]] = defaultdict(list)
    for bank_account in tables[BANK_ACCOUNTS].values():
        ibans[bank_account["Account"]].append(bank_account["BankAccount"])
    visit: dict[str, dict[str, Any]] = {}
    for address in tables[ADDRESSES].values():
        if address["Type"] == ADDRESS_TYPE_CODES["visit"]:
            visit.setdefault(address["Account"], address)
    keys = []
    for account in tables[ACCOUNTS].values():
        address = visit.get(account["ID"], {})
        keys.append(
            AccountKeys(
                account_id=account["ID"],
                code=account["Code"],
                name=account["Name"],
                rsin=account.get("RSIN"),
                bsn=account.get("BSN"),
                vat_number=account.get("VATNumber"),
                kvk=account.get("ChamberOfCommerce"),
                postcode=account.get("Postcode") or address.get("Postcode"),
                house_number=account.get("AddressLine1") or address.get("AddressLine1"),
                ibans=tuple(ibans.get(account["ID"], ())),
            )
        )
    return keys


def score(results: list[MatchResult], truth: dict[str, str | None]) -> dict[str, Any]:
    """Precision of automatic links, recall of automatic + suggested links, and what the reviewer faces."""
    counts = summarise(results)
    linked = [result for result in results if result.status == "linked"]
    correct_links = sum(1 for result in linked if result.account_code == truth.get(result.relation_number))
    in_exact = [number for number, code in truth.items() if code is not None]
    found = {
        result.relation_number
        for result in results
        if result.status in ("linked", "suggested") and result.account_code == truth.get(result.relation_number)
    }
    suggested = [result for result in results if result.status == "suggested"]
    return {
        "relations": len(results),
        "relations_in_exact": len(in_exact),
        **counts,
        "review_queue": len(suggested),
        "wrong_links": len(linked) - correct_links,
        "wrong_suggestions": sum(1 for result in suggested if result.relation_number not in found),
        "precision": correct_links / len(linked) if linked else 1.0,
        "recall_auto": correct_links / len(in_exact) if in_exact else 1.0,
        "recall": len(found) / len(in_exact) if in_exact else 1.0,
    }


def run(
    clients: int,
    seed: int = 1,
    repeat: int | None = None,
    *,
    without_identifiers: bool = False,
    numbers_must_match: bool = False,
) -> dict[str, Any]:
    """Generate ``clients`` clients, match them, and return the figures (also for the bench runner).

    ``without_identifiers`` blanks every number in the CRM export (RSIN, BSN, VAT, payroll, KvK), so
    only the name/address step can find accounts: a stress test of the part that only suggests.
    """
    data = generate(clients, seed)
    relations = relation_keys(data)
    if without_identifiers:
        relations = [
            dataclasses.replace(keys, rsin="", bsn="", ob_number="", btw_id="", payroll_number="", kvk="")
            for keys in relations
        ]
    accounts = account_keys(data)
    truth = dict(data.ground_truth)
    runs = repeat if repeat is not None else (3 if clients >= TIMED_AT_CLIENTS else 1)
    timings = []
    results: list[MatchResult] = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        results = match_relations(relations, accounts, numbers_must_match=numbers_must_match)
        timings.append(time.perf_counter() - started)
    figures = score(results, truth)
    seconds = min(timings)
    timed = clients >= TIMED_AT_CLIENTS
    figures.update(
        {
            "clients": clients,
            "seed": seed,
            "without_identifiers": without_identifiers,
            "numbers_must_match": numbers_must_match,
            "accounts": len(accounts),
            "seconds": round(seconds, 3),
            "seconds_median": round(statistics.median(timings), 3),
            "runs": len(timings),
            "time_vs_bar": round(seconds / SECONDS_BAR, 3),
            "precision_ok": figures["precision"] >= PRECISION_BAR,
            "recall_ok": figures["recall"] >= RECALL_BAR,
            "time_ok": seconds < SECONDS_BAR if timed else None,
        }
    )
    figures["passed"] = figures["precision_ok"] and figures["recall_ok"] and figures["time_ok"] is not False
    return figures


def _report(figures: dict[str, Any]) -> str:
    bar = "" if figures["time_ok"] is None else f" (bar {SECONDS_BAR:.0f} s: {figures['time_vs_bar']:.0%} of it)"
    mode = "".join(
        [
            ", CRM without numbers" if figures["without_identifiers"] else "",
            ", numbers must match" if figures["numbers_must_match"] else "",
        ]
    )
    return "\n".join(
        [
            f"{figures['clients']:,} clients, seed {figures['seed']}{mode}: {figures['relations']:,} CRM relations "
            f"({figures['relations_in_exact']:,} in Exact) × {figures['accounts']:,} accounts",
            f"  linked {figures['linked']:,}  suggested {figures['suggested']:,}  conflict {figures['conflict']:,}  "
            f"unmatched {figures['unmatched']:,}",
            f"  precision of automatic links  {figures['precision']:.2%}  (bar ≥ {PRECISION_BAR:.1%}; "
            f"{figures['wrong_links']} wrong)",
            f"  recall, automatic only        {figures['recall_auto']:.2%}",
            f"  recall, automatic + suggested {figures['recall']:.2%}  (bar ≥ {RECALL_BAR:.0%})",
            f"  review queue                  {figures['review_queue']:,} suggestions "
            f"({figures['wrong_suggestions']} of them wrong)",
            f"  time                          {figures['seconds']:.3f} s best of {figures['runs']}, "
            f"median {figures['seconds_median']:.3f} s{bar}",
            f"  {'PASS' if figures['passed'] else 'FAIL'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark at each size, print the figures, exit 1 when a bar is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_matching", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[200, TIMED_AT_CLIENTS])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per size (default 3 at 20,000+)")
    parser.add_argument("--without-identifiers", action="store_true", help="blank every number in the CRM export")
    parser.add_argument("--numbers-must-match", action="store_true", help="the setting: relation number = code")
    arguments = parser.parse_args(argv)
    passed = True
    for clients in arguments.clients:
        figures = run(
            clients,
            arguments.seed,
            arguments.repeat,
            without_identifiers=arguments.without_identifiers,
            numbers_must_match=arguments.numbers_must_match,
        )
        print(_report(figures), flush=True)
        passed = passed and figures["passed"]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
