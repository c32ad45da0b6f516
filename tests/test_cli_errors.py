"""How the root command reports failures: one line and an exit code, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactlink.exitcodes import ExitCode
from tests.cli import run_cli


@pytest.fixture
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Logging is configured once per process; let this test's command configure it for its own home."""
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    yield
    for handler in logger.handlers:
        handler.close()


def test_an_unexpected_exception_is_one_line_and_the_traceback_goes_to_the_log(
    fresh_logging: None, exactlink_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactlink.services import config_view

    def broken(ws: object) -> None:
        raise RuntimeError("boom: access_token=abc123secret while calling Exact")

    monkeypatch.setattr(config_view, "effective_config", broken)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.ERROR
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "error: unexpected error (RuntimeError): boom: access_token=[REDACTED] while calling Exact" in result.stderr
    assert "this is a bug in exactlink" in result.stderr and "exactlink.log" in result.stderr
    log = (exactlink_home / "log" / "exactlink.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "in broken" in log
    assert "abc123secret" not in result.stderr + log


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("config", "init", "--force", "--nonsense"), ExitCode.USAGE),  # Click's usage error passes through
        (("no-such-command",), ExitCode.USAGE),
        (("config", "show", "--help"), ExitCode.OK),
    ],
)
def test_usage_errors_and_help_keep_their_exit_codes(args: tuple[str, ...], code: int) -> None:
    result = run_cli(*args)
    assert result.exit_code == code
    assert "unexpected error" not in result.stderr
