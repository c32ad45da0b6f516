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
