"""How ``link-admin`` reads the SolutionLinks it checks before writing: per account or all at once, whichever
takes fewer calls on the office administration (60 links a page)."""

from __future__ import annotations

import pytest

from exactlink.services.admin_links import read_solution_links_at_once


@pytest.mark.parametrize(
    ("planned", "linked", "at_once"),
    [
        (1, 0, False),  # one link: its account's links
        (5, 0, False),  # a handful: per account
        (6, 0, True),  # one page holds them all
        (100, 0, True),
        (100, 19_000, False),  # a small CSV in a large office: 100 calls, not 319 pages
        (323, 19_000, False),  # 323 calls either way: per account
        (324, 19_000, True),  # one call fewer at once
        (4_000, 16_000, True),  # a day of bulk linking at 20,000
    ],
)
def test_the_cheaper_way_is_taken(planned: int, linked: int, at_once: bool) -> None:
    assert read_solution_links_at_once(planned, linked) is at_once
