"""Matching quality on the sandbox generator's CRM export and ground truth (200 clients, not timed).

The full benchmark, with 20,000 clients and the time bar, is ``uv run python -m bench.bench_matching``.
"""

from __future__ import annotations

import pytest
from bench.bench_matching import PRECISION_BAR, RECALL_BAR, account_keys, relation_keys, run, score

from exactlink.domain.matching import match_relations
from exactlink.sandbox.generator import generate


@pytest.mark.parametrize("seed", [1, 2])
def test_precision_and_recall_on_the_generator(seed: int) -> None:
    data = generate(200, seed)
    results = match_relations(relation_keys(data), account_keys(data))
    figures = score(results, dict(data.ground_truth))
    assert figures["precision"] >= PRECISION_BAR, figures
    assert figures["recall"] >= RECALL_BAR, figures
    assert figures["linked"] > 0.9 * figures["relations_in_exact"], figures


def test_without_numbers_in_the_crm_nothing_links_and_suggestions_still_find_the_accounts() -> None:
    figures = run(200, 3, without_identifiers=True)
    assert figures["linked"] == 0
    assert figures["recall"] >= RECALL_BAR, figures
