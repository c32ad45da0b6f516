"""Onboarding calls on the office administration: `login`, `tenant select CODE` and the first office read.

    uv run python -m bench.bench_onboarding                  # 2,000 clients
    uv run python -m bench.bench_onboarding --clients 20000  # the large office (a minute or two)

The office administration's 60 calls a minute and 5,000 a day are shared by everything an office does, so
onboarding must not spend them on listings it does not need. Bars (issue "large offices"): ``login`` ≤ 3 REST
calls and ``tenant select CODE`` ≤ 2, whatever the size; the first full read of the office (``match``'s
mirror of accounts, addresses, contacts, bank accounts and deletions) within 5 % of the bound the page sizes
allow (1,000 rows a page on the sync endpoints, 60 on ``crm/BankAccounts``, which has no sync twin).

The commands run in-process, as an administrator types them, against the sandbox served on 127.0.0.1 (the
login through the sandbox's scripted browser); the sandbox's minute limit is raised so the run measures calls,
not pacing. Every REST call the sandbox answered is counted (token endpoint excluded). Exits 1 when a bar is
missed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import threading
import webbrowser
from pathlib import Path
from typing import Any

DEFAULT_CLIENTS = 2_000
MARGIN = 0.05


def _rest_calls(sandbox: Any) -> int:
    return sum(1 for entry in sandbox.request_log if entry.endpoint and not entry.endpoint.startswith("oauth2"))


def _page_bound(sandbox: Any) -> int:
    from exactlink.sandbox import model

    office = sandbox.data.divisions[sandbox.data.office_division].tables
    sync_pages = sum(
        max(1, math.ceil(len(office[table]) / 1000)) for table in (model.ACCOUNTS, model.ADDRESSES, model.CONTACTS)
    )
    bank_pages = max(1, math.ceil(len(office[model.BANK_ACCOUNTS]) / 60))
    return sync_pages + bank_pages + 2  # + sync/Deleted and the system/Divisions division-move check


def run(clients: int = DEFAULT_CLIENTS, seed: int = 1) -> dict[str, Any]:
    """Log in, select the office, read it once; the REST calls of each step against its bar."""
    from typer.testing import CliRunner

    from exactlink.cli.main import app
    from exactlink.sandbox import Evidence, Sandbox, robot
    from exactlink.sandbox.generator import write_crm_export

    home = Path(tempfile.mkdtemp(prefix="exactlink-bench-onboarding-"))
    # What is measured is the REST calls after the login, so the quickest login: an App Center that still accepts
    # an http loopback redirect URI (the browser comes back by itself; the evidence says https only).
    sandbox = Sandbox(
        clients=clients,
        seed=seed,
        minutely_limit=1_000_000,
        daily_limit=10_000_000,
        evidence=Evidence(allow_http_loopback=True),
    )
    redirect_uri = "http://127.0.0.1:{port}/callback"
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        redirect_uri = redirect_uri.format(port=probe.getsockname()[1])
    app_id, secret = "{bench-onboarding}", "bench-secret"
    sandbox.register_app(app_id, secret, redirect_uri)
    export = home / "crm.csv"
    write_crm_export(sandbox.data, export)
    original_open = webbrowser.open
    webbrowser.open = lambda url, *a, **k: (
        threading.Thread(target=robot.browse, args=(url,), daemon=True).start() or True
    )  # type: ignore[assignment,func-returns-value]
    saved = {name: os.environ.get(name) for name in list(os.environ) if name.startswith("EXACTLINK_")}
    try:
        with sandbox.serve() as server:
            env = {
                "EXACTLINK_HOME": str(home),
                "EXACTLINK_BASE_URL": server.base_url,
                "EXACTLINK_CLIENT_ID": app_id,
                "EXACTLINK_CLIENT_SECRET": secret,
                "EXACTLINK_REDIRECT_URI": redirect_uri,
                "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
            }
            runner = CliRunner()

            def step(*args: str) -> int:
                sandbox.reset_counters()
                result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
                if result.exit_code not in (0, 3):
                    raise SystemExit(f"`exactlink {' '.join(args)}` exited {result.exit_code}: {result.stderr}")
                return _rest_calls(sandbox)

            login = step("login")
            select = step("tenant", "select", str(sandbox.data.office_division), "--yes")
            step("crm", "import", str(export))
            first_read = step("match", "--dry-run")
            bound = _page_bound(sandbox)
    finally:
        webbrowser.open = original_open  # type: ignore[assignment]
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value
    return {
        "clients": clients,
        "login_calls": login,
        "tenant_select_calls": select,
        "first_office_read_calls": first_read,
        "first_office_read_bound": bound,
        "first_office_read_ratio": round(first_read / bound, 3),
        "ok": login <= 3 and select <= 2 and first_read <= bound * (1 + MARGIN),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    figures = run(args.clients, args.seed)
    for name, value in figures.items():
        print(f"{name:>26}: {value}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
