"""`sandbox serve --state FILE`: the whole world saved (data, changes, logins, clock) and reopened, or refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exactlink.errors import UnsafePermissions
from exactlink.sandbox import model
from exactlink.sandbox.app import Sandbox
from exactlink.sandbox.state_file import StateFileRefused, StateKeeper, open_state, save_state
from tests.cli import run_cli
from tests.sandbox.conftest import BASE, OFFICE, api_client, guid, make_sandbox
from tests.sandbox.test_oauth import REDIRECT, login, refresh


def _world_now(sandbox: Sandbox) -> dict[str, Any]:
    world = sandbox.snapshot()
    del world["moment"]  # the only part that moves by itself
    return world


def test_a_reopened_world_is_the_saved_one_and_goes_on_from_there(tmp_path: Path) -> None:
    sandbox = make_sandbox(accounts=5, redirect_uri=REDIRECT)
    sandbox.advance(86_400 * 3)  # the clock's distance from the real time is part of the world
    with httpx.Client(base_url=BASE, transport=sandbox.transport()) as web:
        tokens = login(web, sandbox)
    with api_client(sandbox, token=tokens["access_token"]) as api:
        created = api.post(f"/api/v1/{OFFICE}/crm/Accounts", json={"Name": "Nieuw B.V.", "Code": "9001"})
        assert created.status_code == 201, created.text
    sandbox.delete(OFFICE, model.ACCOUNTS, guid("account", 2), cascade=False)
    sandbox.send_otherwise(OFFICE, guid("return", 1))
    file = tmp_path / "state.json"

    save_state(sandbox, file)
    reopened = open_state(file, minutely_limit=100_000, daily_limit=1_000_000)

    assert file.stat().st_mode & 0o777 == 0o600
    assert _world_now(reopened) == _world_now(sandbox)
    assert abs(reopened.clock.now() - sandbox.clock.now()) < 5
    new_id = created.json()["d"]["ID"]
    kept = reopened.records(OFFICE, model.ACCOUNTS)[new_id]
    assert (
        kept["Name"] == "Nieuw B.V."
        and kept["Timestamp"] == sandbox.records(OFFICE, model.ACCOUNTS)[new_id]["Timestamp"]
    )
    with api_client(reopened, token=tokens["access_token"]) as api:  # the same access token still works
        deleted = api.get(
            f"/api/v1/{OFFICE}/sync/Deleted", params={"$select": "EntityKey", "$filter": "Timestamp gt 1L"}
        )
        assert deleted.status_code == 200, deleted.text
        assert [row["EntityKey"] for row in deleted.json()["d"]["results"]] == [guid("account", 2)]
        later = api.post(f"/api/v1/{OFFICE}/crm/Accounts", json={"Name": "Daarna B.V.", "Code": "9002"})
        assert later.status_code == 201, later.text
        stamp = reopened.records(OFFICE, model.ACCOUNTS)[later.json()["d"]["ID"]]["Timestamp"]
        assert stamp > kept["Timestamp"], "rowversions go on from the saved counter"
    with httpx.Client(base_url=BASE, transport=reopened.transport()) as web:
        reopened.advance(571)
        rotated = refresh(web, reopened, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert refresh(web, reopened, tokens["refresh_token"]).json()["error_description"] == "Old refresh token used."


def test_a_division_never_read_is_saved_as_generated_and_stamped_as_before(tmp_path: Path) -> None:
    sandbox = Sandbox(clients=6, seed=3)
    file = tmp_path / "state.json"
    save_state(sandbox, file)
    reopened = open_state(file)
    division = sandbox.data.office_division
    assert reopened.records(division, model.ACCOUNTS) == sandbox.records(division, model.ACCOUNTS)


def _saved(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    file = tmp_path / "state.json"
    save_state(make_sandbox(accounts=3), file)
    return file, json.loads(file.read_text(encoding="utf-8"))


def _rewrite(file: Path, document: dict[str, Any]) -> None:
    file.write_text(json.dumps(document), encoding="utf-8")


def test_a_state_file_changed_by_hand_is_refused(tmp_path: Path) -> None:
    file, document = _saved(tmp_path)
    document["world"]["users"][0]["password"] = "guessed"
    _rewrite(file, document)
    with pytest.raises(StateFileRefused, match="was changed after the sandbox saved it"):
        open_state(file)


def test_a_state_file_of_another_version_is_refused(tmp_path: Path) -> None:
    file, document = _saved(tmp_path)
    document["version"] = 0
    _rewrite(file, document)
    with pytest.raises(StateFileRefused, match="version 0; this exactlink reads version 1 only"):
        open_state(file)


def test_a_file_cut_short_or_not_a_state_is_refused(tmp_path: Path) -> None:
    file, _ = _saved(tmp_path)
    file.write_bytes(file.read_bytes()[:1000])
    with pytest.raises(StateFileRefused, match="is not a sandbox state file"):
        open_state(file)
    file.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(StateFileRefused, match="is not a sandbox state file"):
        open_state(file)


def test_a_state_file_others_can_read_is_refused(tmp_path: Path) -> None:
    file, _ = _saved(tmp_path)
    os.chmod(file, 0o644)
    with pytest.raises(UnsafePermissions, match="other users can read or change it"):
        open_state(file)


def test_serve_refuses_a_tampered_state_in_one_line_and_exit_2(tmp_path: Path) -> None:
    file, document = _saved(tmp_path)
    document["world"]["office_division"] = 1
    _rewrite(file, document)
    result = run_cli("sandbox", "serve", "--state", str(file))
    assert result.exit_code == 2
    assert "was changed after the sandbox saved it" in result.stderr
    assert "start the sandbox without --state, or with --state naming a new file" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_keeper_saves_changes_within_its_interval_and_at_stop(tmp_path: Path) -> None:
    sandbox = make_sandbox(accounts=3)
    file = tmp_path / "state.json"
    keeper = StateKeeper(sandbox, file, every=0.05)
    try:
        assert open_state(file).records(OFFICE, model.ACCOUNTS).keys() == sandbox.records(OFFICE, model.ACCOUNTS).keys()
        new = sandbox.create(OFFICE, model.ACCOUNTS, Name="Tussendoor B.V.")
        deadline = time.monotonic() + 10
        while new["ID"] not in open_state(file).records(OFFICE, model.ACCOUNTS):
            assert time.monotonic() < deadline, "the change was never saved"
            time.sleep(0.05)
        last = sandbox.create(OFFICE, model.ACCOUNTS, Name="Laatste B.V.")
    finally:
        keeper.stop()
    assert last["ID"] in open_state(file).records(OFFICE, model.ACCOUNTS)


def _serve(file: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "exactlink", "sandbox", "serve", "--clients", "5", "--state", str(file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    assert lines[0].startswith("{"), lines[0] + (process.stderr.read() if process.stderr else "")
    while not lines[-1].startswith("}"):  # the document ends with its closing brace on a line of its own
        lines.append(process.stdout.readline())
    return process, json.loads("".join(lines))


def _login_over_http(details: dict[str, Any]) -> dict[str, str]:
    base = str(details["base_url"])
    form = {
        "client_id": details["client_id"],
        "redirect_uri": details["redirect_uri"],
        "response_type": "code",
        "username": details["username"],
        "password": details["password"],
        "decision": "accept",
    }
    with httpx.Client(base_url=base, timeout=10) as web:
        answer = web.post("/api/oauth2/auth", data=form)
        assert answer.status_code == 302, answer.text
        code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
        tokens = web.post(
            "/api/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": details["redirect_uri"],
                "client_id": details["client_id"],
                "client_secret": details["client_secret"],
            },
        )
        assert tokens.status_code == 200, tokens.text
        result: dict[str, str] = tokens.json()
        return result


def test_serve_keeps_the_world_through_kill_9_and_reopens_it_with_its_logins(tmp_path: Path) -> None:
    env = {**os.environ, "EXACTLINK_HOME": str(tmp_path / "home")}
    file = tmp_path / "world.json"
    process, details = _serve(file, env)
    try:
        assert file.stat().st_mode & 0o777 == 0o600, "saved at once, private"
        tokens = _login_over_http(details)
        deadline = time.monotonic() + 10
        while tokens["refresh_token"] not in file.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the login was never saved"
            time.sleep(0.1)
    finally:
        process.kill()  # kill -9: no last save, nothing cleaned up
        process.wait(timeout=10)
    reopened, again = _serve(file, env)
    try:
        assert again["client_id"] == details["client_id"] and again["client_secret"] == details["client_secret"]
        me = httpx.get(
            f"{again['base_url']}/api/v1/current/Me",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"},
            timeout=10,
        )
        assert me.status_code == 200, me.text
        reopened.send_signal(signal.SIGTERM)
        assert reopened.wait(timeout=30) == 0, "SIGTERM stops it like Ctrl-C, after a last save"
    finally:
        if reopened.poll() is None:
            reopened.kill()
    assert open_state(file).oauth.issued_secrets().refresh_tokens >= {tokens["refresh_token"]}
