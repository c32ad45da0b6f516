"""Fixtures for the reliability tests: the templates (built once per test worker) and the worlds made from them."""

from __future__ import annotations

import pytest

from tests.reliability.world import Template, build_templates


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    """Every set-up of :func:`tests.reliability.world.build_templates`, built once per worker."""
    return build_templates(tmp_path_factory.mktemp("reliability-templates"))
