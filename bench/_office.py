"""The start every linking and fetching benchmark shares: a served sandbox office, exactlink pointed at it with a
stored login, and the client administrations that can be linked."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ServedOffice:
    """The sandbox, its server, the office administration, its accounts by ID and the usable client
    administrations (code, record)."""

    sandbox: Any
    server: Any
    office: int
    accounts: dict[str, dict[str, Any]]
    usable: list[tuple[int, dict[str, Any]]]


def serve_office(home: Path, admins: int, seed: int, **sandbox_options: Any) -> ServedOffice:
    """Serve a sandbox with enough clients for ``admins`` linkable administrations, point ``EXACTLINK_*`` (in
    ``os.environ``: the benchmark is its own process) at it with ``home`` and a stored login."""
    from exactlink.auth.oauth import TokenSet
    from exactlink.sandbox import Sandbox
    from exactlink.sandbox import model as sandbox_model
    from exactlink.services.session import token_store
    from exactlink.workspace import Workspace

    sandbox = Sandbox(clients=int(admins * 1.45) + 20, seed=seed, **sandbox_options)
    server = sandbox.serve()
    os.environ.update(
        {
            "EXACTLINK_HOME": str(home),
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": sandbox.default_app.client_id,
            "EXACTLINK_CLIENT_SECRET": sandbox.default_app.client_secret,
            "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
        }
    )
    tokens = sandbox.issue_tokens()
    now = time.time()
    token_store(Workspace()).save(
        TokenSet(tokens["access_token"], tokens["refresh_token"], now + float(tokens["expires_in"]), now)
    )
    data = sandbox.data
    office = data.office_division
    accounts = sandbox.records(office, sandbox_model.ACCOUNTS)
    usable = [
        (code, division.record)
        for code, division in sorted(data.divisions.items())
        if code != office
        and division.record.get("Status") == 1
        and not division.record.get("BlockingStatus")
        and code not in data.unconsented_divisions
        and division.record.get("Customer") in accounts
    ][:admins]
    if len(usable) < admins:
        raise SystemExit(f"the sandbox has only {len(usable)} usable client administrations, not {admins}")
    return ServedOffice(sandbox, server, office, accounts, usable)


def link_relations_to_accounts(db: Any, served: ServedOffice) -> list[tuple[str, int, dict[str, Any]]]:
    """Choose the office and give each usable administration's owner a CRM relation ``R<code>`` linked to its account
    (as ``match`` would); returns ``(relation number, administration code, account)`` for each, in one transaction."""
    from datetime import UTC, datetime

    from exactlink.store.db import transaction
    from exactlink.store.links import set_account_link
    from exactlink.store.meta import set_office
    from exactlink.store.relations import RelationRecord, apply_relation

    now = datetime.now(UTC)
    office = served.office
    set_office(db, office, str(served.sandbox.data.divisions[office].record["Description"]), now=now)
    linked = []
    with transaction(db):
        for code, record in served.usable:
            account = served.accounts[record["Customer"]]
            number = f"R{code}"
            apply_relation(db, RelationRecord(relation_number=number, name=str(account["Name"])), None, now=now)
            set_account_link(
                db, number, account["ID"], str(account["Code"]), method="rsin", linked_by="manual", now=now
            )
            linked.append((number, code, account))
    return linked
