"""The wheel `uv build` makes installs with `uv tool install` and works outside the clone: `--version` and the demo.

The demo needs everything from inside the package (the sandbox, its generator, the scripted browser, the example
configuration), so running it from another directory, with the clone's sources out of reach, proves the package
data is complete. The same run is the demo's end-to-end test as a person sees it (tests/demo_checks.py): at 80
columns, never silent for long, and the lines it ends with reopen its world with the same login.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.demo_checks import assert_the_demo_carries_on, assert_the_demo_reads_at_80_columns, stream

ROOT = Path(__file__).resolve().parents[1]


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def test_version_option_prints_the_project_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"exactlink {project_version()}"


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """The environment of someone outside the clone: no virtualenv, no sources on the path, a home of its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
        and not name.startswith("EXACTLINK_")
    }
    env.update(UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"), NO_COLOR="1")
    return env


def uv_executable() -> str:
    found = shutil.which("uv")
    assert found is not None, "uv is not on PATH (the test command installs it: python3 -m pip install uv)"
    return found


def install_wheel(wheel: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """`uv tool install` the wheel with the lock file's versions: from the cache if it has them, else the index."""
    uv = uv_executable()
    constraints = tmp_path / "constraints.txt"
    exported = subprocess.run(
        [uv, "export", "--no-dev", "--no-hashes", "--no-emit-project", "--format", "requirements-txt", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    constraints.write_text(exported.stdout, encoding="utf-8")
    command = [uv, "tool", "install", "--constraints", str(constraints), "--python", sys.executable, str(wheel)]
    offline = subprocess.run(
        [*command, "--offline"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    if offline.returncode != 0:
        online = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert online.returncode == 0, online.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_wheel_installs_as_a_tool_and_its_demo_reads_at_80_columns_and_carries_on(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    built = subprocess.run(
        [uv_executable(), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("exactlink-*.whl")
    install_wheel(wheel, tmp_path, env)
    exactlink = tmp_path / "bin" / "exactlink"
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    version = subprocess.run([str(exactlink), "--version"], cwd=outside, env=env, capture_output=True, text=True)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"exactlink {project_version()}"

    where = subprocess.run(
        [str(exactlink), "config", "path", "--json"],
        cwd=outside,
        env={**env, "EXACTLINK_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr

    # The demo at 80 columns, as a person runs it: it reads well and the lines it ends with carry on.
    demo_home = tmp_path / "demo-home"
    shell = {**env, "COLUMNS": "80"}
    code, lines = stream([str(exactlink), "demo", "--clients", "12", "--home", str(demo_home)], shell, cwd=outside)
    assert_the_demo_reads_at_80_columns(code, lines)
    text = [line for _, line in lines]
    told = "\n".join(text)
    # The children ran the installed package: the cron line the demo prints names the tool's executable.
    assert str(tmp_path / "tools") in told
    assert str(ROOT / "src") not in told
    assert (demo_home / "exactlink.db").is_file()
    assert_the_demo_carries_on(text, demo_home, [str(exactlink)], shell)
