"""kill -9 at random moments: the database stays consistent and the next run completes the work exactly once.

Each trial starts the real ``exactlink`` executable as a subprocess against a fresh world (the sandbox
over real HTTP in this process, every call slowed by ``LATENCY_MS``), waits until the sandbox has
answered a number of calls plus a random fraction of a call, and sends SIGKILL. The kill points are spread
over the whole clean run: trial *k* of *n* kills within the *k*-th *n*-th of its calls (a seeded random call
there), so eight trials (four for sync inbound's short run) reach every part of a run, which twice as many
purely random ones did not promise, for half the processes (each costs about 0.8 s of CPU). Then:

- ``PRAGMA integrity_check`` is ok and ``PRAGMA foreign_key_check`` is empty (unique keys hold: the
  integrity check verifies every index), and Exact holds no duplicate addresses, bank accounts, contacts
  or SolutionLinks;
- the command is run again to completion, and the database and Exact's data equal those of a clean
  run that was never killed (``canonical_dump``/``exact_state``), with no more creating POSTs than it.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.test_fault_matrix import assert_same
from tests.reliability.world import (
    Template,
    World,
    duplicate_groups,
    integrity_problems,
    open_world,
    successful_writes,
    unfinished_runs,
    wait_until,
)

LATENCY_MS = 25.0


@dataclass(frozen=True)
class KillCase:
    """A command to kill: its template, its arguments and how many trials it gets."""

    template: str
    args: tuple[str, ...]
    trials: int
    env: tuple[tuple[str, str], ...] = ()

    def command(self, template: Template) -> tuple[str, ...]:
        return tuple(str(template.data["csv"]) if arg == "{csv}" else arg for arg in self.args)


KILL_CASES: dict[str, KillCase] = {
    "sync outbound": KillCase("outbound", ("sync", "--quiet"), 8),
    "sync inbound": KillCase("inbound", ("sync", "--quiet"), 4),
    "link-admin": KillCase("admins", ("link-admin", "--csv", "{csv}", "--json"), 8),
    # Two administrations at a time, so the run lasts long enough to be killed in the middle.
    "fetch-returns": KillCase(
        "returns", ("fetch-returns", "--quiet"), 8, (("EXACTLINK_EXACT__MAX_CONCURRENT_DIVISIONS", "2"),)
    ),
}
TRIALS = [(name, trial) for name, case in KILL_CASES.items() for trial in range(case.trials)]


@dataclass
class Reference:
    """A clean run's end state."""

    dump: dict[str, list[tuple[Any, ...]]]
    exact: dict[str, list[tuple[Any, ...]]]
    posts: Counter[tuple[str, str]]
    calls: int


_references: dict[str, Reference] = {}


def _posts(world: World) -> Counter[tuple[str, str]]:
    return Counter({key: count for key, count in successful_writes(world.sandbox).items() if key[0] == "POST"})


def reference(name: str, templates: dict[str, Template], directory: Path) -> Reference:
    """The clean run of the case (once per worker)."""
    if name not in _references:
        case = KILL_CASES[name]
        template = templates[case.template]
        with open_world(template, directory / "reference") as world, pytest.MonkeyPatch.context() as patch:
            for variable, value in case.env:
                patch.setenv(variable, value)
            result = world.cli(*case.command(template))
            assert result.exit_code == 0, result.stderr
            _references[name] = Reference(world.dump(), world.exact(), _posts(world), len(world.sandbox.request_log))
    return _references[name]


def kill_point(rng: random.Random, calls: int, trial: int, trials: int) -> int:
    """After how many answered calls trial ``trial`` of ``trials`` kills a run that makes ``calls`` in all.

    The calls 1 … calls - 1 are cut into ``trials`` stretches of (nearly) equal length, and the trial draws one
    call of its own stretch: together the trials reach every part of the run.
    """
    last = max(1, calls - 1)
    first_of_stretch = 1 + (last * trial) // trials
    last_of_stretch = max(first_of_stretch, (last * (trial + 1)) // trials)
    return rng.randint(min(first_of_stretch, last), min(last_of_stretch, last))


def kill_at_random(
    world: World, args: tuple[str, ...], env: dict[str, str], rng: random.Random, target: int
) -> tuple[int, int]:
    """Run ``exactlink ARGS`` and SIGKILL it once ``target`` calls were answered (and a random fraction of one
    more); returns (target, pid)."""
    extra = rng.uniform(0, LATENCY_MS / 1000)
    process = subprocess.Popen(
        [sys.executable, "-m", "exactlink", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: len(world.sandbox.request_log) >= target or process.poll() is not None, timeout=60)
        time.sleep(extra)
        process.kill()  # SIGKILL; does nothing when the process has already ended (and been reaped)
    finally:
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, f"finished before the kill: {stderr.decode()}"
    return target, process.pid


def test_the_kill_points_reach_every_part_of_a_run() -> None:
    rng = random.Random(0)
    for calls, trials in ((2, 8), (9, 8), (40, 8), (41, 4), (1000, 8)):
        points = [kill_point(rng, calls, trial, trials) for trial in range(trials)]
        assert all(1 <= point <= max(1, calls - 1) for point in points)
        assert points == sorted(points)
        if calls - 1 >= trials:
            stretch = (calls - 1) / trials
            assert min(points) <= 1 + stretch and max(points) >= calls - 1 - stretch
            assert len(set(points)) == trials


@pytest.mark.slow
@pytest.mark.parametrize(("name", "trial"), TRIALS, ids=[f"{name}-{trial}" for name, trial in TRIALS])
def test_a_run_killed_at_a_random_moment_is_completed_by_the_next_without_loss_or_duplicates(
    name: str, trial: int, templates: dict[str, Template], tmp_path: Path
) -> None:
    case = KILL_CASES[name]
    template = templates[case.template]
    clean = reference(name, templates, tmp_path)
    rng = random.Random(f"kill/{name}/{trial}")
    with (
        open_world(template, tmp_path / "killed", latency_ms=LATENCY_MS) as world,
        pytest.MonkeyPatch.context() as patch,
    ):
        for variable, value in case.env:
            patch.setenv(variable, value)
        env = {**world.subprocess_env(), **dict(case.env)}

        start = world.dump()
        point = kill_point(rng, clean.calls, trial, case.trials)
        target, pid = kill_at_random(world, case.command(template), env, rng, point)

        assert integrity_problems(world.database) == []
        after_kill = world.dump()
        state = "untouched" if after_kill == start else ("complete" if after_kill == clean.dump else "partial")
        posts_before = sum(_posts(world).values())
        assert duplicate_groups(world.sandbox) == Counter()
        world.sandbox.faults.latency_ms = 0
        rerun = world.cli(*case.command(template))
        assert rerun.exit_code == 0, rerun.stderr
        assert integrity_problems(world.database) == []
        assert_same(world.dump(), clean.dump, "the database")
        assert_same(world.exact(), clean.exact, "Exact's data")
        assert _posts(world) == clean.posts, "an entity was created twice (or not at all)"
        assert duplicate_groups(world.sandbox) == Counter()
        assert {row[2] for row in unfinished_runs(world.database)} <= {pid}, "only the killed run is unfinished"
        print(f"figures: killed after {target} answered calls, database {state}, {posts_before} POSTs done")
