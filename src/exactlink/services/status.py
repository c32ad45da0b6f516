"""``exactlink status``: login health, token storage, office administration, API budget and last runs.

Everything comes from local state (token store, database, the state directory's rate-limit and
error-budget files), so ``status`` works without calling Exact Online and never shows a token.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactlink.api.ratelimit import LimitState
    from exactlink.workspace import Workspace


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _budget_row(key: str, state: LimitState, now: float) -> dict[str, Any]:
    minutely = state.minutely_remaining
    if state.minutely_reset is not None and state.minutely_reset <= now and state.minutely_limit is not None:
        minutely = state.minutely_limit  # that minute is over
    daily = state.daily_remaining
    if state.daily_reset is not None and state.daily_reset <= now and state.daily_limit is not None:
        daily = state.daily_limit
    return {
        "division": int(key) if key.isdigit() else key,
        "minutely_remaining": minutely,
        "minutely_limit": state.minutely_limit,
        "daily_remaining": daily,
        "daily_limit": state.daily_limit,
        "daily_reset": _iso(state.daily_reset),
        "seen_at": _iso(state.seen_at),
    }


def login_status(ws: Workspace) -> dict[str, Any]:
    """Who is logged in, where the tokens are, and when the access and refresh tokens expire."""
    from exactlink.auth.session import EXPIRY_WARNING

    settings = ws.settings

    report: dict[str, Any] = {
        "base_url": settings.exact.effective_base_url,
        "client_id_configured": bool(settings.exact.client_id.strip()),
        "logged_in": False,
        "user": None,
        "token_storage": None,
        "access_token": None,
        "refresh_token": None,
    }
    if not report["client_id_configured"]:
        return report
    store = ws.token_store(announce_fallback=True)
    tokens = store.load()
    report["token_storage"] = {"kind": store.kind, "location": store.location()}
    if tokens is None:
        return report
    now = ws.clock.time()
    refresh_left = tokens.refresh_expires_at - now
    report["logged_in"] = refresh_left > 0
    report["user"] = tokens.user
    report["access_token"] = {"expires_at": _iso(tokens.expires_at), "valid": tokens.expires_at > now}
    report["refresh_token"] = {
        "expires_at": _iso(tokens.refresh_expires_at),
        "days_left": round(max(refresh_left, 0) / 86_400, 1),
        "expires_soon": 0 < refresh_left < EXPIRY_WARNING,
    }
    return report


def status_report(ws: Workspace, *, runs: int = 5) -> dict[str, Any]:
    """The whole ``status`` document (see the module docstring)."""
    from exactlink.api.forms import LEARNED_KEY
    from exactlink.services.session import error_budget, live_windows, rate_limit_log
    from exactlink.services.tenant import current_office, office_json
    from exactlink.store.accounts import accounts_gone
    from exactlink.store.meta import get_value
    from exactlink.store.runs import last_runs

    report = login_status(ws)
    now = ws.clock.time()
    office = current_office(ws.db)
    report["office"] = office_json(office)
    report["account_gone"] = (
        [{"relation": number, "account_code": code} for number, code in accounts_gone(ws.db, office.division)]
        if office is not None
        else []
    )
    report["query_forms"] = dict(sorted((get_value(ws.db, LEARNED_KEY) or {}).items()))
    report["last_runs"] = [dataclasses.asdict(run) for run in last_runs(ws.db, runs)]
    report["api_budget"] = [_budget_row(key, state, now) for key, state in sorted(rate_limit_log().read().items())]
    office = report["office"]
    report["office_calls_today"] = live_windows().used_today(str(office["division"]), now) if office else {}
    budget = error_budget(ws)
    report["error_budget"] = [
        {"division": key.split("|", 1)[0], "endpoint": key.split("|", 1)[1], "failures": count, "limit": budget.limit}
        for key, count in sorted(budget.snapshot().items())
    ]
    return report


NEAR_THE_LIMIT = 0.1  # under 10 % of the day's calls left


def budget_lines(rows: list[dict[str, Any]], office: int | None) -> list[str]:
    """The API budget in at most two lines: the office administration's (shared by everything the office does),
    and the client administrations' lowest day budget with how many are near their limit."""
    lines = []
    for row in rows:
        if row["division"] == office:
            lines.append(
                f"API budget of the office administration: {row['minutely_remaining']}/{row['minutely_limit']} "
                f"this minute, {row['daily_remaining']}/{row['daily_limit']} today"
            )
    clients = [row for row in rows if row["division"] not in (office, "current") and row["daily_limit"]]
    if clients:
        lowest = min(clients, key=lambda row: (row["daily_remaining"] is None, row["daily_remaining"] or 0))
        near = [row for row in clients if (row["daily_remaining"] or 0) < NEAR_THE_LIMIT * row["daily_limit"]]
        lines.append(
            f"API budget of {len(clients)} client administrations: lowest {lowest['daily_remaining']}/"
            f"{lowest['daily_limit']} today (administration {lowest['division']}), {len(near)} near the limit"
            " (`exactlink status --verbose` lists them all)"
        )
    return lines


def query_forms_line(forms: dict[str, str]) -> str:
    """The query forms learned from this tenant (``exact.forms``): the fallbacks in use, named, or that all
    preferred forms were accepted, or that none was tried yet."""
    if not forms:
        return "query forms: none tried yet (`exactlink doctor` tries every one)"
    fallbacks = [f"{form} → {choice}" for form, choice in forms.items() if choice != form]
    if not fallbacks:
        return f"query forms: all {len(forms)} preferred forms accepted"
    return f"query forms: {len(fallbacks)} refused, read another way: " + "; ".join(fallbacks)


def status_lines(report: dict[str, Any], *, verbose: bool = False, zone: str = "Europe/Amsterdam") -> list[str]:
    """The human-readable ``status`` (one fact per line; ``verbose`` lists the budget of every administration),
    every moment in the office's ``zone``."""
    from exactlink.domain.times import office_time

    lines = [f"Exact Online: {report['base_url']}"]
    if not report["client_id_configured"]:
        lines.append("app: not configured (set exact.client_id or EXACTLINK_CLIENT_ID)")
    user = report.get("user") or {}
    if report["logged_in"]:
        who = user.get("full_name") or user.get("user_name") or "(unknown user)"
        email = f" <{user['email']}>" if user.get("email") else ""
        lines.append(f"logged in as: {who}{email}")
    else:
        lines.append("logged in: no (run `exactlink login`)")
    if report.get("token_storage"):
        lines.append(f"tokens: {report['token_storage']['location']}")
    if report.get("access_token"):
        state = "valid" if report["access_token"]["valid"] else "expired (refreshed on the next call)"
        lines.append(f"access token: {state}, expires {office_time(report['access_token']['expires_at'], zone)}")
    if report.get("refresh_token"):
        refresh = report["refresh_token"]
        soon = "  <- expires soon: run any command or `exactlink login`" if refresh["expires_soon"] else ""
        until = office_time(refresh["expires_at"], zone)
        lines.append(f"login valid until: {until} ({refresh['days_left']} days){soon}")
    office = report.get("office")
    if office:
        lines.append(f"office administration: {office['division']} {office['name']}")
    else:
        lines.append("office administration: not chosen (run `exactlink tenant select`)")
    gone = report.get("account_gone") or []
    if gone:
        shown = ", ".join(row["relation"] for row in gone[:5]) + (", …" if len(gone) > 5 else "")
        lines.append(f"account gone in Exact: {len(gone)} linked relation(s) ({shown}); see `exactlink match`")
    budget = report.get("api_budget", [])
    if not verbose:
        lines.extend(budget_lines(budget, office["division"] if office else None))
    used = report.get("office_calls_today") or {}
    if used:
        kinds = ", ".join(f"{used.get(kind, 0):,} {kind}" for kind in ("hourly", "interactive", "bulk"))
        lines.append(f"calls on the office administration today: {kinds}")
    for row in budget if verbose else []:
        lines.append(
            f"API budget {row['division']}: {row['minutely_remaining']}/{row['minutely_limit']} this minute, "
            f"{row['daily_remaining']}/{row['daily_limit']} today (seen {office_time(row['seen_at'], zone)})"
        )
    for row in report.get("error_budget", []):
        where = "the current administration" if row["division"] == "current" else f"administration {row['division']}"
        lines.append(
            f"failed calls to {row['endpoint']} in {where}: {row['failures']} of {row['limit']} in the last hour "
            "(Exact blocks the app above the limit)"
        )
    lines.append(query_forms_line(report.get("query_forms") or {}))
    runs = report.get("last_runs") or []
    if not runs:
        lines.append("last runs: none")
    for run in runs:
        started = office_time(run["started_at"], zone)
        lines.append(f"run {run['id']} {run['command']}: {run['outcome']} (started {started})")
    return lines
