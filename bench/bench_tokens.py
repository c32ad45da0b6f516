"""Token benchmark: 20 exactlink processes share one login and all find the access token expired.

    uv run python -m bench.bench_tokens [--processes 20]

The target: exactly one refresh and zero re-logins. The processes are real
``exactlink tenant list --json`` commands (what cron and an administrator would start), using the file
token store, against the sandbox over real HTTP; the sandbox counts the token-endpoint calls.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def run(processes: int = 20) -> dict[str, Any]:
    """Start ``processes`` commands at once on one expired login; return refreshes, re-logins and failures."""
    from exactlink.auth.oauth import TokenSet
    from exactlink.auth.tokens import TokenStore
    from exactlink.sandbox import Sandbox

    sandbox = Sandbox(clients=20, seed=5)
    app = sandbox.default_app
    with tempfile.TemporaryDirectory(prefix="exactlink-bench-") as home, sandbox.serve() as server:
        env = {name: value for name, value in os.environ.items() if not name.startswith("EXACTLINK_")}
        env.update(
            EXACTLINK_HOME=home,
            EXACTLINK_BASE_URL=server.base_url,
            EXACTLINK_CLIENT_ID=app.client_id,
            EXACTLINK_CLIENT_SECRET=app.client_secret,
            EXACTLINK_REDIRECT_URI=app.redirect_uri,
            EXACTLINK_EXACT__TOKEN_STORAGE="file",
        )
        issued = sandbox.issue_tokens()
        previous = dict(os.environ)
        os.environ.update(env)  # the token store resolves EXACTLINK_HOME from the environment
        try:
            store = TokenStore(server.base_url, app.client_id, mode="file")
            now = time.time()
            store.save(TokenSet(issued["access_token"], issued["refresh_token"], now - 5, now - 600))
        finally:
            os.environ.clear()
            os.environ.update(previous)
        sandbox.advance(600)  # Exact agrees that the access token is due for a refresh
        sandbox.reset_counters()

        started = time.perf_counter()
        children = [
            subprocess.Popen(
                [sys.executable, "-m", "exactlink", "tenant", "list", "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(processes)
        ]
        failures = [child.stderr.read().decode() for child in children if child.wait(120) != 0 and child.stderr]
        seconds = time.perf_counter() - started
        refreshes = sandbox.token_calls["refresh_token"]
        relogins = sandbox.token_calls["authorization_code"]
    return {
        "processes": processes,
        "refreshes": refreshes,
        "relogins": relogins,
        "failed_processes": len(failures),
        "first_failure": failures[0].strip().splitlines()[-1] if failures else None,
        "seconds": round(seconds, 2),
        "ok": refreshes == 1 and relogins == 0 and not failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=20)
    figures = run(parser.parse_args(argv).processes)
    print(
        f"{figures['processes']} processes on one expired login: {figures['refreshes']} refresh(es), "
        f"{figures['relogins']} re-login(s), {figures['failed_processes']} failed, {figures['seconds']} s"
    )
    if figures["first_failure"]:
        print(f"first failure: {figures['first_failure']}")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
