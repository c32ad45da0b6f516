"""The text of ``exactlink status``: the report of ``services.status`` as lines, every moment in the office's zone."""

from __future__ import annotations

from typing import Any

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
