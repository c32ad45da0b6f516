"""`exactlink sandbox serve|export-crm`: flags, start-up text, Ctrl-C, and the generated CRM files."""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from exactlink.sandbox import runner
from exactlink.sandbox.evidence import Evidence
from exactlink.sandbox.model import CRM_EXPORT_COLUMNS
from tests.cli import run_cli


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (["--port", "-1"], "--port must be between 0 and 65535"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--error-rate", "1.5"], "--error-rate must be between 0 and 1"),
        (["--drop-rate", "-0.1"], "--drop-rate must be between 0 and 1"),
        (["--error-rate", "0.6", "--drop-rate", "0.6"], "must not exceed 1"),
        (["--latency-ms", "-5"], "--latency-ms must not be negative"),
        (["--burst-429", "-1"], "--burst-429 must not be negative"),
        (["--clients", "0"], "--clients must be between 1 and 100000"),
        (["--redirect-uri", "callback"], "--redirect-uri must be an http(s) URL"),
        (["--redirect-uri", "http://127.0.0.1:9999/cb"], "registers only https redirect URIs (--allow-http-loopback"),
        (["--redirect-uri", "http://kantoor.example/cb", "--allow-http-loopback"], "registers only https redirect"),
        (["--now", "next tuesday"], "--now must be an ISO-8601 time"),
    ],
)
def test_bad_serve_flags_give_one_line_and_exit_2(flags: list[str], complaint: str) -> None:
    result = run_cli("sandbox", "serve", *flags)
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def _stop_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    wait = functools.partial(runner.wait_until_interrupted, pause=interrupt)
    monkeypatch.setattr(runner, "wait_until_interrupted", wait)


def test_serve_prints_url_registration_login_and_env_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    _stop_at_once(monkeypatch)
    result = run_cli(
        "sandbox",
        "serve",
        "--clients",
        "20",
        "--client-id",
        "{abc}",
        "--client-secret",
        "s3",
        "--redirect-uri",
        "https://kantoor.example/exactlink/cb",
    )
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Sandbox Exact Online running at http://127.0.0.1:" in out
    assert "throw-away" in out
    assert "export EXACTLINK_CLIENT_ID='{abc}'" in out
    assert "export EXACTLINK_CLIENT_SECRET=s3" in out
    assert "export EXACTLINK_REDIRECT_URI=https://kantoor.example/exactlink/cb" in out
    assert "export EXACTLINK_BASE_URL=http://127.0.0.1:" in out
    assert "admin@" in out and "copy the address the browser ends on" in out
    assert all(len(line) <= 80 for line in out.splitlines() if "address" in line or "exactlink login" in line)
    assert "Ctrl-C" in result.stderr


def test_serve_registers_an_http_loopback_redirect_uri_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    _stop_at_once(monkeypatch)
    loopback = ("--redirect-uri", "http://127.0.0.1:9999/cb")
    refused = run_cli("sandbox", "serve", "--clients", "20", *loopback)
    assert refused.exit_code == 2 and "only https redirect URIs" in refused.stderr
    allowed = run_cli("sandbox", "serve", "--clients", "20", "--allow-http-loopback", *loopback)
    assert allowed.exit_code == 0, allowed.stderr
    assert "export EXACTLINK_REDIRECT_URI=http://127.0.0.1:9999/cb" in allowed.stdout
    assert "copy the address" not in allowed.stdout, "the browser comes back to exactlink by itself"


@pytest.mark.parametrize(
    ("configured", "flags", "registered"),
    [
        ("https://www.kantoor.nl/exactlink/callback", [], "https://www.kantoor.nl/exactlink/callback"),
        ("http://127.0.0.1:4321/callback", ["--allow-http-loopback"], "http://127.0.0.1:4321/callback"),
        # The configured loopback URI cannot be registered at an https-only App Center: the sandbox's own https one.
        ("http://127.0.0.1:4321/callback", [], "https://kantoor.example/exactlink/callback"),
    ],
)
def test_serve_json_uses_the_configured_redirect_uri_where_the_app_center_takes_it(
    monkeypatch: pytest.MonkeyPatch, configured: str, flags: list[str], registered: str
) -> None:
    _stop_at_once(monkeypatch)
    result = run_cli(
        "sandbox", "serve", "--clients", "20", "--json", *flags, env={"EXACTLINK_REDIRECT_URI": configured}
    )
    assert result.exit_code == 0, result.stderr
    details = json.loads(result.stdout)
    assert details["redirect_uri"] == details["env"]["EXACTLINK_REDIRECT_URI"] == registered
    assert details["env"]["EXACTLINK_BASE_URL"] == details["base_url"]
    assert details["client_secret"] and details["password"]


# A person's Ctrl-C reaches a command started at a terminal, whose SIGINT is at its default. A test run that was
# itself started in the background by a script (`pytest &`) ignores SIGINT, as POSIX has such commands do, and
# its children would inherit that: this wrapper gives the child SIGINT's default back before it becomes exactlink.
AT_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
]


def test_serve_runs_until_ctrl_c_and_then_exits_0(tmp_path: Path) -> None:
    # PYTHONFAULTHANDLER: should it ever hang after Ctrl-C, SIGABRT makes it print where every thread stands.
    env = {**os.environ, "EXACTLINK_HOME": str(tmp_path / "home"), "PYTHONFAULTHANDLER": "1"}
    command = [sys.executable, "-m", "exactlink", "sandbox", "serve", "--clients", "20", "--port", "0"]
    process = subprocess.Popen(
        [*AT_A_TERMINAL, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Sandbox Exact Online running at "), first + (
            process.stderr.read() if process.stderr else ""
        )
        base_url = first.rsplit(" ", 1)[1].strip()
        answer = httpx.get(f"{base_url}/api/v1/current/Me", timeout=5)
        assert answer.status_code == 401
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"still running 10 s after Ctrl-C; its threads:\n{stderr[-6000:]}")
        assert code == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/api/v1/current/Me", timeout=2)


def test_ctrl_c_while_the_url_is_printed_still_stops_the_server() -> None:
    from exactlink.sandbox import Sandbox

    def interrupted_announcement() -> None:
        raise KeyboardInterrupt

    server = Sandbox(clients=1, seed=1).serve()
    runner.wait_until_interrupted(server, interrupted_announcement)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/api/v1/current/Me", timeout=2)


def test_export_crm_writes_the_csv_and_the_ground_truth(tmp_path: Path) -> None:
    export, truth = tmp_path / "crm.csv", tmp_path / "truth.csv"
    result = run_cli(
        "sandbox", "export-crm", str(export), "--clients", "20", "--seed", "4", "--ground-truth", str(truth), "--json"
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    with export.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert tuple(rows[0]) == CRM_EXPORT_COLUMNS
    assert summary["relations"] == len(rows) >= 20
    assert truth.read_text(encoding="utf-8").startswith("relatienummer;account_code")
    again = tmp_path / "again.csv"
    assert run_cli("sandbox", "export-crm", str(again), "--clients", "20", "--seed", "4").exit_code == 0
    assert again.read_bytes() == export.read_bytes()  # deterministic per seed


def test_export_crm_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    result = run_cli("sandbox", "export-crm", str(tmp_path / "missing" / "crm.csv"), "--clients", "20")
    assert result.exit_code == 2
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_serve_flags_set_the_fault_knobs_of_the_running_server() -> None:
    options = runner.ServeOptions(
        clients=20, seed=9, latency_ms=40, error_rate=0.1, drop_rate=0.2, timeout_rate=0.3, burst_429=2
    )
    sandbox, server = runner.start_sandbox(options, "http://127.0.0.1:8765/callback")
    try:
        faults = sandbox.faults
        assert (faults.latency_ms, faults.error_rate, faults.drop_rate, faults.timeout_rate) == (40, 0.1, 0.2, 0.3)
        assert (faults.burst_429, faults.seed) == (2, 9)
        faults.error_rate = faults.drop_rate = faults.timeout_rate = 0.0  # keep the burst and the latency
        headers = {"Authorization": f"Bearer {sandbox.issue_tokens()['access_token']}", "Accept": "application/json"}
        started = time.monotonic()
        me = f"{server.base_url}/api/v1/current/Me?$top=1"
        statuses = [httpx.get(me, headers=headers).status_code for _ in range(3)]
        assert statuses == [429, 429, 200]
        assert time.monotonic() - started >= 3 * 0.040, "every answer was delayed by --latency-ms"
        faults.error_rate = 1.0
        assert httpx.get(me, headers=headers).status_code >= 500
    finally:
        server.stop()


def test_serve_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_cli("sandbox", "serve", "--clients", "20", "--port", str(port))
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_flag_of_the_wrong_type_is_a_usage_error() -> None:
    result = run_cli("sandbox", "serve", "--port", "eighty")
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_a_broken_config_is_one_line(exactlink_home: Path) -> None:
    exactlink_home.mkdir(parents=True, exist_ok=True)
    (exactlink_home / "config.toml").write_text("[exact]\nredirect_uri = 5\n", encoding="utf-8")
    result = run_cli("sandbox", "serve", "--clients", "20")
    assert result.exit_code == 2
    assert "exact.redirect_uri" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_follows_the_evidence_by_default_and_now_moves_the_office() -> None:
    from datetime import UTC, datetime

    options = runner.ServeOptions(clients=12, seed=2, now="2027-06-30T22:30Z")
    sandbox, server = runner.start_sandbox(options, "http://127.0.0.1:8765/callback")
    try:
        assert sandbox.data.now == datetime(2027, 6, 30, 22, 30, tzinfo=UTC)
        assert abs(sandbox.clock.now() - sandbox.data.now.timestamp()) < 60
        assert sandbox.evidence == Evidence(), "every settled rule, no uncertain knob"
        assert sandbox.default_app.redirect_uri.startswith("https://"), "the App Center takes only https"
        assert runner.connection_info(sandbox, server)["redirect_uri"] == sandbox.default_app.redirect_uri
    finally:
        server.stop()
    loopback = runner.ServeOptions(clients=12, seed=2, allow_http_loopback=True)
    sandbox, server = runner.start_sandbox(loopback, "http://127.0.0.1:8765/callback")
    try:
        assert sandbox.evidence == Evidence(allow_http_loopback=True) and sandbox.evidence.read_only_ignored
        assert sandbox.default_app.redirect_uri == "http://127.0.0.1:8765/callback"
    finally:
        server.stop()
