"""Configuration precedence and bad-input handling of `exactlink config`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exactlink.exitcodes import ExitCode
from exactlink.settings import load_settings
from tests.cli import run_cli


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_defaults_without_a_file() -> None:
    settings = load_settings()
    assert settings.sync.direction == "inbound"
    assert settings.exact.effective_base_url == "https://start.exactonline.nl"


def test_precedence_flag_over_env_over_file(exactlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(exactlink_home, '[exact]\nregion = "be"\n[sync]\ndirection = "outbound"\n')
    assert load_settings().exact.region == "be"
    monkeypatch.setenv("EXACTLINK_EXACT__REGION", "de")
    assert load_settings().exact.region == "de"
    assert load_settings(exact={"region": "uk"}).exact.region == "uk"
    assert load_settings().sync.direction == "outbound"


def test_flat_env_names_for_the_app_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("EXACTLINK_CLIENT_ID", "abc")
    settings = load_settings()
    assert settings.exact.effective_base_url == "http://127.0.0.1:9999"
    assert settings.exact.client_id == "abc"


def test_region_picks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_REGION", "uk")
    assert load_settings().exact.effective_base_url == "https://start.exactonline.co.uk"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = [", "not valid TOML"),
        ("[sync]\nfoo = 1\n", "sync.foo: unknown key"),
        ('[sync]\ndirection = "sideways"\n', "sync.direction"),
        ('[exact]\ntimeout_seconds = "soon"\n', "exact.timeout_seconds"),
        ('[exact]\nclient_secret = "s3cret"\n', "must not be stored"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(exactlink_home: Path, text: str, expected: str) -> None:
    write_config(exactlink_home, text)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_show_json_reports_sources_and_redacts_secret(exactlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(exactlink_home, '[sync]\ndirection = "outbound"\n')
    monkeypatch.setenv("EXACTLINK_CLIENT_SECRET", "topsecret")
    monkeypatch.setenv("EXACTLINK_RETURNS__PROCESS_PAYROLL", "false")
    result = run_cli("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["sync.direction"] == {"key": "sync.direction", "value": "outbound", "source": "config.toml"}
    assert rows["returns.process_payroll"]["source"] == "env"
    assert rows["returns.process_payroll"]["value"] is False
    assert rows["exact.region"]["source"] == "default"
    assert "topsecret" not in result.stdout


def test_init_writes_the_example_and_refuses_to_overwrite(exactlink_home: Path) -> None:
    assert run_cli("config", "init").exit_code == 0
    written = (exactlink_home / "config.toml").read_text(encoding="utf-8")
    assert "[sync]" in written
    assert load_settings().sync.direction == "inbound"  # the example is valid and at defaults
    assert run_cli("config", "init").exit_code == ExitCode.USAGE
    assert run_cli("config", "init", "--force").exit_code == 0


def test_example_documents_every_key() -> None:
    from exactlink.services.config_view import example_config_text
    from exactlink.settings import Settings

    text = example_config_text()
    for section_name, field in Settings.model_fields.items():
        assert f"[{section_name}]" in text
        for key in field.annotation.model_fields:  # type: ignore[union-attr]
            assert f"\n{key} = " in text, f"{section_name}.{key} is not documented"


def test_config_path_uses_exactlink_home(exactlink_home: Path) -> None:
    result = run_cli("config", "path")
    assert result.stdout.strip() == str(exactlink_home / "config.toml")
    assert os.environ["EXACTLINK_HOME"] == str(exactlink_home)
    locations = json.loads(run_cli("config", "path", "--json").stdout)
    assert locations == {
        "config_file": str(exactlink_home / "config.toml"),
        "database": str(exactlink_home / "exactlink.db"),
        "token_fallback_file": str(exactlink_home / "state" / "tokens.json"),
        "state_dir": str(exactlink_home / "state"),
        "locks_dir": str(exactlink_home / "state" / "locks"),
        "log_file": str(exactlink_home / "log" / "exactlink.log"),
    }


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("WARNING", ["warning line"]),
        ("INFO", ["info line", "warning line"]),
        ("DEBUG", ["debug line", "info line", "warning line"]),
    ],
)
def test_logging_level_from_config_sets_the_log_file_level(
    exactlink_home: Path, monkeypatch: pytest.MonkeyPatch, level: str, expected: list[str]
) -> None:
    import logging

    # Logging is configured once per process; let this test's command configure it afresh.
    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    write_config(exactlink_home, f'[logging]\nlevel = "{level}"\n')
    assert run_cli("config", "path").exit_code == 0
    probe = logging.getLogger("exactlink.test_config")
    probe.debug("debug line")
    probe.info("info line")
    probe.warning("warning line")
    for handler in logger.handlers:
        handler.close()
    written = (exactlink_home / "log" / "exactlink.log").read_text(encoding="utf-8")
    for word in ("debug line", "info line", "warning line"):
        assert (word in written) == (word in expected), (word, written)


def test_a_broken_config_does_not_stop_config_init_force(exactlink_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    logger = logging.getLogger("exactlink")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "_exactlink_configured", False, raising=False)
    write_config(exactlink_home, "[logging]\nlevel = 'LOUD'\n")
    assert run_cli("config", "show").exit_code == ExitCode.USAGE
    assert run_cli("config", "init", "--force").exit_code == 0
    assert run_cli("config", "show").exit_code == 0
    for handler in logger.handlers:
        handler.close()


def test_show_table_redacts_the_client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXACTLINK_CLIENT_SECRET", "topsecret-table")
    result = run_cli("config", "show")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "exact.client_secret" in line)
    assert "[redacted]" in row and "env" in row
    assert "topsecret-table" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("EXACTLINK_SYNC__DIRECTION", "sideways", "sync.direction"),
        ("EXACTLINK_EXACT__MAX_CONCURRENT_DIVISIONS", "lots", "exact.max_concurrent_divisions"),
        ("EXACTLINK_REGION", "mars", "exact.region"),
        ("EXACTLINK_BASE_URL", "start.exactonline.nl", "exact.base_url"),
        ("EXACTLINK_EXACT__CLIENT_SECRET", "leaky-value", "exact.client_secret: unknown key"),
    ],
)
def test_bad_environment_values_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE
    assert expected in result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert "leaky-value" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind", ["directory", "not utf-8"])
def test_an_unreadable_config_file_is_one_line_and_exit_2(exactlink_home: Path, kind: str) -> None:
    exactlink_home.mkdir(parents=True, exist_ok=True)
    target = exactlink_home / "config.toml"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"[sync]\ndirection = '\xff\xfe'\n")
    result = run_cli("config", "show")
    assert result.exit_code == ExitCode.USAGE
    assert str(target) in result.stderr and "Traceback" not in result.stderr
