"""The fault matrix: every command through 5 % server errors, time-outs, dropped connections and 429 bursts.

Per command and fault kind, the command runs once in a clean world (the reference) and once in an
identical world whose sandbox injects the faults (5 % at random plus the fault forced on chosen calls,
see ``faults.py``). A run that ends in a partial failure or an error is run again, as the product says
(cron's next hour, or the user pressing ↑ Enter), at most ``MAX_RUNS`` times in all. Then:

- the database is the clean run's (``canonical_dump``), and so is Exact's side (``exact_state``);
- Exact received no more creating POSTs than in the clean run and holds no duplicate addresses, bank
  accounts, contacts or SolutionLinks; ``ProcessReturn`` went through once per return;
- no endpoint of any division got more than Exact's 10 failed calls in the hour (the re-runs included),
  and none was blocked;
- the login survived: ten minutes later the stored (rotated) refresh token still works.

Each test prints its figures (runs needed, failed calls, faults injected); see them with ``pytest -s``.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exactlink.exitcodes import ExitCode
from tests.reliability.faults import KINDS, InjectedFaults, inject
from tests.reliability.world import (
    HANG_SECONDS,
    Template,
    World,
    budget_used,
    differences,
    duplicate_groups,
    open_world,
    successful_writes,
)

MAX_RUNS = 6
# A re-run comes a minute later at the earliest (a user reading the error, or cron's next run).
RERUN_AFTER_SECONDS = 60.0
EXACT_ERROR_LIMIT = 10

Commands = Callable[[Template], list[tuple[str, ...]]]


@dataclass(frozen=True)
class Case:
    """A command of the matrix: the template it starts from and the command line(s) it runs."""

    template: str
    commands: Commands
    expired_token: bool = False
    token_endpoint: bool = False
    compare_output: bool = False


CASES: dict[str, Case] = {
    "login refresh": Case(
        "office",
        lambda template: [("tenant", "list", "--json")],
        expired_token=True,
        token_endpoint=True,
        compare_output=True,
    ),
    "tenant": Case(
        "office",
        lambda template: [
            ("tenant", "list", "--json"),
            ("tenant", "select", str(template.data["office_division"]), "--yes"),
        ],
        compare_output=True,
    ),
    "match": Case("office", lambda template: [("match", "--json")]),
    "sync outbound": Case("outbound", lambda template: [("sync", "--json")]),
    "sync inbound": Case("inbound", lambda template: [("sync", "--json")]),
    "link-admin": Case("admins", lambda template: [("link-admin", "--csv", str(template.data["csv"]), "--json")]),
    "fetch-returns": Case("returns", lambda template: [("fetch-returns", "--quiet")]),
    "feedback": Case("feedback", lambda template: [("feedback", "--pending", "--json")]),
}


@dataclass
class Outcome:
    """What one world ended with."""

    dump: dict[str, list[tuple[Any, ...]]]
    exact: dict[str, list[tuple[Any, ...]]]
    posts: Counter[tuple[str, str]]
    duplicates: Counter[tuple[Any, ...]]
    outputs: list[Any]
    calls: int
    runs: int = 1
    budget: int = 0
    blocked: dict[tuple[str, int, str], float] = field(default_factory=dict)


def _output(args: tuple[str, ...], stdout: str) -> Any:
    """The JSON document of a ``--json`` command (what a script would read)."""
    return json.loads(stdout) if "--json" in args else None


def _finish(world: World, outputs: list[Any], runs: int) -> Outcome:
    writes = successful_writes(world.sandbox)
    return Outcome(
        dump=world.dump(),
        exact=world.exact(),
        posts=Counter({key: count for key, count in writes.items() if key[0] == "POST"}),
        duplicates=duplicate_groups(world.sandbox),
        outputs=outputs,
        calls=len(world.sandbox.request_log),
        runs=runs,
        budget=budget_used(world.sandbox),
        blocked=dict(world.sandbox.blocked_endpoints),
    )


_references: dict[str, Outcome] = {}


def clean_run(name: str, templates: dict[str, Template], directory: Path) -> Outcome:
    """The reference: the case's commands in a world without faults (once per worker and case)."""
    if name not in _references:
        case = CASES[name]
        template = templates[case.template]
        with open_world(template, directory / "clean", expired_token=case.expired_token) as world:
            before = world.dump()
            outputs = []
            for args in case.commands(template):
                result = world.cli(*args)
                assert result.exit_code == 0, f"{args}: {result.stderr}"
                outputs.append(_output(args, result.stdout))
            outcome = _finish(world, outputs, 1)
            if name not in ("login refresh", "tenant"):
                assert outcome.dump != before, "the clean run changed nothing: the case tests nothing"
            assert not outcome.duplicates
        _references[name] = outcome
    return _references[name]


def faulty_run(name: str, kind: str, template: Template, directory: Path, clean_calls: int) -> tuple[Outcome, Any]:
    """The case's commands through ``kind`` faults, each re-run until it exits 0 (at most MAX_RUNS runs)."""
    case = CASES[name]
    seed = zlib.crc32(f"{name}/{kind}".encode()) % 10_000
    with open_world(template, directory / "faulty", expired_token=case.expired_token) as world:
        faults = inject(
            kind,
            seed=seed,
            clean_calls=clean_calls,
            hang_seconds=HANG_SECONDS,
            clock=world.sandbox.clock.now,
            token_endpoint=case.token_endpoint,
        )
        faults.watch(world.sandbox)
        world.sandbox.faults = faults
        outputs = []
        runs = 0
        for args in case.commands(template):
            for attempt in range(1, MAX_RUNS + 1):
                if attempt > 1:
                    world.sandbox.advance(RERUN_AFTER_SECONDS)
                runs += 1
                result = world.cli(*args)
                assert "Traceback" not in result.stderr, result.stderr
                if result.exit_code == 0:
                    outputs.append(_output(args, result.stdout))
                    break
                assert result.exit_code in (ExitCode.ERROR, ExitCode.PARTIAL), f"{args}: {result.stderr}"
                assert attempt < MAX_RUNS, f"{args} still failing after {MAX_RUNS} runs: {result.stderr}"
        world.sandbox.faults = InjectedFaults()
        outcome = _finish(world, outputs, runs)
        # The login came through: ten minutes on, the stored (rotated) refresh token still works.
        world.sandbox.advance(601)
        later = world.cli("tenant", "list", "--json")
        assert later.exit_code == 0, later.stderr
        return outcome, faults


def assert_same(faulty: dict[str, list[tuple[Any, ...]]], clean: dict[str, list[tuple[Any, ...]]], what: str) -> None:
    """Fail with the differing rows (left: after the faults, right: the clean run)."""
    problems = differences(faulty, clean)
    if problems:
        pytest.fail(f"{what} differs from the clean run's:\n" + "\n".join(problems[:20]), pytrace=False)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", list(CASES))
def test_faults_end_in_the_clean_runs_state_within_the_error_budget(
    name: str, kind: str, templates: dict[str, Template], tmp_path: Path
) -> None:
    template = templates[CASES[name].template]
    clean = clean_run(name, templates, tmp_path)

    faulty, faults = faulty_run(name, kind, template, tmp_path, clean.calls)

    assert sum(faults.injected.values()) >= 1, "no fault was injected: the case proved nothing"
    assert_same(faulty.dump, clean.dump, "the database")
    assert_same(faulty.exact, clean.exact, "Exact's data")
    assert faulty.posts == clean.posts, "a creating POST went through more (or less) often than in a clean run"
    assert faulty.duplicates == clean.duplicates == Counter()
    if CASES[name].compare_output:
        assert faulty.outputs == clean.outputs
    assert faulty.budget <= EXACT_ERROR_LIMIT
    assert faulty.blocked == {}
    print(f"figures: {faulty.runs} run(s), at most {faulty.budget} failed calls per endpoint, {dict(faults.injected)}")
