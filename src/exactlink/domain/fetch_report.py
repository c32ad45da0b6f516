"""The report of one ``fetch-returns`` run and the explanations in it, in one place.

The service fills in the facts per administration (what was fetched, kept, new, open); the explanations of an
empty or partial result are worded here, in the words of the integration's FAQ (``exactlink.domain.returns``), and
``exactlink.cli.returns_render`` lays the report out for a terminal (``--json`` is :meth:`FetchReport.as_json`).

Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class AdminOutcome:
    """What one administration yielded in this run."""

    relation_number: str
    relation_name: str
    division: int
    division_name: str | None
    window_start: date
    fetched: int = 0
    kept: Counter[str] = field(default_factory=Counter)
    skipped_by_settings: Counter[str] = field(default_factory=Counter)
    unknown: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    vraagposten_open: int | None = None
    vraagposten_new: int = 0
    vraagposten_accounts: tuple[str, ...] = ()
    vraagposten_note: str | None = None
    empty_reason: str | None = None
    note: str | None = None
    backlog: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """True when the administration (or its vraagposten) could not be fetched."""
        return self.error is not None

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "relation": self.relation_number,
            "relation_name": self.relation_name,
            "division": self.division,
            "division_name": self.division_name,
            "window_start": self.window_start.isoformat(),
            "fetched": self.fetched,
            "kept": dict(self.kept),
            "skipped_by_settings": dict(self.skipped_by_settings),
            "unknown_type": self.unknown,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "vraagposten_open": self.vraagposten_open,
            "vraagposten_new": self.vraagposten_new,
            "vraagposten_accounts": list(self.vraagposten_accounts),
            "vraagposten_note": self.vraagposten_note,
            "empty_reason": self.empty_reason,
            "note": self.note,
            "backlog": self.backlog,
            "error": self.error,
        }


@dataclass
class FetchReport:
    """The outcome of one ``fetch-returns`` run."""

    outcomes: list[AdminOutcome] = field(default_factory=list)
    skipped: str | None = None
    note: str | None = None
    dry_run: bool = False
    run_id: int | None = None
    seconds: float = 0.0
    window_days: int = 30
    concurrency: dict[str, Any] = field(default_factory=dict)  # the setting and the most administrations at once
    write_cpu_seconds: float = 0.0  # CPU the calling thread spent storing the results (the local side's cost)
    write_seconds: float = 0.0  # wall time of the same: one thread writes, so it bounds the run's pace

    @property
    def failures(self) -> list[AdminOutcome]:
        """The administrations that failed."""
        return [outcome for outcome in self.outcomes if outcome.failed]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 3 when some administrations failed, 1 when all did."""
        failed = len(self.failures)
        if not failed:
            return 0
        return 1 if failed == len(self.outcomes) else 3

    @property
    def outcome_word(self) -> str:
        """``ok``, ``partial``, ``failed`` or ``skipped`` (for the run history)."""
        if self.skipped:
            return "skipped"
        return {0: "ok", 3: "partial"}.get(self.exit_code, "failed")

    def failure_lines(self) -> list[str]:
        """One line per failed administration."""
        return [
            f"administration {outcome.division} (relation {outcome.relation_number}): {outcome.error}"
            for outcome in self.failures
        ]

    def totals(self) -> dict[str, int]:
        """Counts over all administrations."""
        return {
            "administrations": len(self.outcomes),
            "failed": len(self.failures),
            "fetched": sum(outcome.fetched for outcome in self.outcomes),
            "new": sum(outcome.new for outcome in self.outcomes),
            "changed": sum(outcome.changed for outcome in self.outcomes),
            "unchanged": sum(outcome.unchanged for outcome in self.outcomes),
            "skipped_by_settings": sum(sum(outcome.skipped_by_settings.values()) for outcome in self.outcomes),
            "vraagposten_open": sum(outcome.vraagposten_open or 0 for outcome in self.outcomes),
            "vraagposten_new": sum(outcome.vraagposten_new for outcome in self.outcomes),
        }

    def summary(self) -> dict[str, Any]:
        """What the run history keeps: the totals and the failure lines."""
        return {
            **self.totals(),
            "failures": self.failure_lines()[:50],
            "skipped": self.skipped,
            "concurrency": self.concurrency,
        }

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "dry_run": self.dry_run,
            "skipped": self.skipped,
            "note": self.note,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
            "concurrency": self.concurrency,
            "totals": self.totals(),
            "administrations": [outcome.as_json() for outcome in self.outcomes],
        }


def explain_outcome(
    outcome: AdminOutcome,
    *,
    returns_processed: bool,
    relation_linked: bool,
    today: date,
    had_older_returns: bool,
) -> None:
    """Say why an administration yielded no returns (``outcome.note``, ``outcome.empty_reason``)."""
    from exactlink.domain.returns import diagnose_empty_fetch, explain_empty_fetch

    if not returns_processed:
        outcome.note = "VAT and payroll returns are switched off (returns.process_vat, returns.process_payroll)"
        return
    if outcome.kept:
        return
    if outcome.fetched and not outcome.kept and not outcome.skipped_by_settings:
        outcome.note = (
            f"{outcome.unknown} return(s) found of a type exactlink does not know (not VAT, ICP or payroll); "
            "they were not stored"
        )
        return
    if outcome.fetched and not outcome.kept:
        skipped = ", ".join(f"{count} {kind}" for kind, count in sorted(outcome.skipped_by_settings.items()))
        outcome.note = f"returns found ({skipped}) are not processed: the settings switch that kind off"
        return
    reason = diagnose_empty_fetch(
        relation_linked=relation_linked,
        administration_linked=True,
        window_start=outcome.window_start,
        today=today,
        any_returns_in_administration=True if had_older_returns else None,
    )
    outcome.empty_reason = reason.value
    outcome.note = explain_empty_fetch(reason, window_start=outcome.window_start, relation=outcome.relation_number)


def unlinked_relation_outcome(
    relation_number: str, relation_name: str, division: int, division_name: str | None, window_start: date
) -> AdminOutcome:
    """An administration whose relation lost its account link: nothing is fetched (the integration's FAQ)."""
    from exactlink.domain.returns import EmptyReason, explain_empty_fetch

    outcome = AdminOutcome(relation_number, relation_name, division, division_name, window_start)
    outcome.empty_reason = EmptyReason.NO_RELATION_LINK.value
    outcome.note = explain_empty_fetch(EmptyReason.NO_RELATION_LINK, relation=relation_number)
    return outcome


def backlog_note(relation_number: str, count: int, window_days: int) -> str:
    """Why ``count`` returns of a relation arrived at once (its first fetch brings the window's backlog)."""
    from exactlink.domain.returns import backlog_explanation

    return (
        f"{count} return{'s' if count != 1 else ''} of relation {relation_number} arrived at once: "
        + backlog_explanation(relation_number, window_days)
    )
