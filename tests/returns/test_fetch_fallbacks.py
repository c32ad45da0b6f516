"""fetch-returns on a tenant that refuses the uncertain query forms (sandbox/evidence.py): the fallback is taken
at once and remembered, at most one refused call per endpoint and administration, with the same result."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from exactlink.api import forms
from exactlink.sandbox.evidence import Evidence
from tests.cli import run_cli
from tests.returns.conftest import Office
from tests.returns.test_fetch_returns import expected_returns, stored_returns

REFUSING = Evidence.strict(refuse_returns_created_filter=True, refuse_transaction_lines_code_filter=True)


def link_showcase(office: Office) -> list[int]:
    scenario = office.sandbox.data.scenario
    for division in scenario.administrations:
        office.link_admin_in_store(scenario.relation_of(division), division)
    return list(scenario.administrations)


def learned() -> dict[str, Any]:
    from exactlink.store.meta import get_value
    from tests.cli import new_workspace

    ws = new_workspace()
    try:
        return dict(get_value(ws.db, forms.LEARNED_KEY) or {})
    finally:
        ws.close()


def refused_per_endpoint(office: Office) -> Counter[tuple[int, str]]:
    return Counter({(key[1], key[2]): count for key, count in office.sandbox.error_counts.items()})


def test_refused_forms_fall_back_once_and_the_result_is_the_same(office: Office) -> None:
    divisions = link_showcase(office)
    office.sandbox.evidence = REFUSING
    office.sandbox.reset_counters()

    result = run_cli("fetch-returns", "--json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {stored["document_id"] for stored in stored_returns(office).values()} == set(
        expected_returns(office, divisions)
    )
    assert report["totals"]["vraagposten_open"] > 0, "the open vraagposten came through the sync API"
    refused = refused_per_endpoint(office)
    assert refused and set(refused.values()) == {1}, refused
    # The vraagposten lines come from the sync API with a cursor: the refused GLAccountCode filter is never tried.
    assert {endpoint for _, endpoint in refused} == {"read/financial/Returns"}
    assert learned() == {forms.RETURNS_CREATED: forms.RETURNS_ALL}

    office.sandbox.reset_counters()
    again = run_cli("fetch-returns", "--json")
    assert again.exit_code == 0, again.stderr
    assert refused_per_endpoint(office) == refused, "a learned form is never tried again"
    assert office.sandbox.calls("sync/Financial/TransactionLines") == len(divisions)
    assert json.loads(again.stdout)["totals"]["vraagposten_open"] == report["totals"]["vraagposten_open"]


def test_forms_learned_by_doctor_cost_fetch_returns_no_refusal(office: Office) -> None:
    link_showcase(office)
    office.sandbox.evidence = REFUSING
    assert run_cli("doctor", "--json").exit_code == 0
    office.sandbox.reset_counters()
    before = dict(refused_per_endpoint(office))

    result = run_cli("fetch-returns", "--quiet")

    assert result.exit_code == 0, result.stderr
    assert dict(refused_per_endpoint(office)) == before
    assert office.sandbox.calls("read/financial/Returns") == len(office.sandbox.data.scenario.administrations)


def test_an_outage_is_not_a_refused_form(office: Office) -> None:
    link_showcase(office)
    office.sandbox.faults.error_rate = 1.0  # every call 5xx: nothing to learn from that
    result = run_cli("fetch-returns", "--quiet")
    office.sandbox.faults.error_rate = 0.0

    assert result.exit_code != 0
    assert learned() == {}
