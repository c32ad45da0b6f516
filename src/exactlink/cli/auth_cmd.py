"""``exactlink login`` and ``exactlink logout``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)


def _show_url(url: str, way_back: str) -> None:
    from exactlink.console import info
    from exactlink.services.login import PASTE, WAIT

    info("Open this URL to log in to Exact Online:")
    info(url, wrap=False)  # one line, to copy whole
    if way_back == WAIT:
        info("Waiting for the browser to come back…")
    elif way_back == PASTE:
        info("After logging in, your browser is sent to the redirect URI. Paste that full URL here:")
    else:
        info(
            "After logging in, exactlink continues by itself if the page at your redirect URI forwards the login "
            "(`exactlink login --relay-page FILE` writes that page). Otherwise paste the full address the browser "
            "ends on here:"
        )


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line.strip():
        from exactlink.auth.oauth import LoginFailed

        raise LoginFailed("no redirected URL was pasted; nothing was stored", hint="run `exactlink login` again")
    return line.strip()


def _read_secret() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Exact Online client secret", hide_input=True, err=True))
    return sys.stdin.readline()


def login(
    no_browser: bool = typer.Option(
        False, "--no-browser", help="Print the URL and read the redirected URL from stdin."
    ),
    region: str | None = typer.Option(None, "--region", help="Exact Online site: nl, be, de, uk, com, es, fr."),
    base_url: str | None = typer.Option(None, "--base-url", help="Explicit Exact Online base URL (overrides region)."),
    force_login: bool = typer.Option(False, "--force-login", help="Make Exact show its login screen again."),
    store_secret: bool = typer.Option(False, "--store-secret", help="Read the client secret (stdin/prompt), keep it."),
    relay_page: Path | None = typer.Option(
        None,
        "--relay-page",
        metavar="FILE",
        help="Only write the page to host at an https redirect URI; it forwards the login to exactlink.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Log in to Exact Online in the browser (authorization code + PKCE) and store the tokens safely.

    With an https redirect URI (the App Center's rule since 2021) the browser comes back through the page
    `--relay-page` writes, hosted at that address, or you paste the address the browser ends on.
    """
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, info, out, warn
    from exactlink.services.login import login as run_login
    from exactlink.services.login import store_client_secret, write_relay_page

    if relay_page is not None:
        return info(f"wrote {write_relay_page(relay_page)}: host it at your registered https redirect URI")
    ws = workspace()
    overrides = {key: value for key, value in {"region": region, "base_url": base_url}.items() if value}
    if overrides:
        from exactlink.settings import load_settings

        ws.settings = load_settings(exact=overrides)
    if store_secret:
        info(f"client secret stored in {store_client_secret(ws, _read_secret())}")
    outcome = run_login(
        ws, use_browser=not no_browser, force_login=force_login, show_url=_show_url, read_pasted_url=_read_line
    )
    for message in outcome.warnings:
        warn(message)
    if json_output:
        emit_json(outcome.to_json())
        return
    who = outcome.user.FullName or outcome.user.UserName or "(unknown user)"
    out().print(
        f"Logged in to {outcome.base_url} as {who}" + (f" <{outcome.user.Email}>" if outcome.user.Email else ""),
        highlight=False,
        markup=False,
    )
    out().print(f"Tokens are stored in {outcome.storage}", highlight=False, markup=False)
    if overrides:
        info("Other commands use the site from config.toml / EXACTLINK_BASE_URL / EXACTLINK_REGION: set it there too.")


def logout(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Remove the stored Exact Online tokens (keyring and fallback file); the client secret is kept."""
    from exactlink.cli.context import workspace
    from exactlink.console import emit_json, out
    from exactlink.services.login import logout as run_logout

    removed = run_logout(workspace())
    if json_output:
        emit_json({"removed_from": removed})
    elif removed:
        out().print("Logged out: removed the tokens from " + " and ".join(removed), highlight=False, markup=False)
    else:
        out().print("Not logged in: there were no tokens to remove.")
