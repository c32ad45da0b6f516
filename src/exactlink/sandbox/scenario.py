"""The scenario every generated office guarantees, whatever moment it is generated at, and its check.

The demo's story and the end-to-end tests need certain returns to exist: a realised VAT return to report
back, one Exact already processed (so feedback is refused), an ICP return, a payroll return, a suppletie,
returns just inside and just outside the 30-day window, vraagposten that are open and ones that cancel out.
Random data only has them on some days of the year, so the generator writes them on purpose into three
*showcase* administrations (the first three clients) and records where in ``SandboxData.scenario``.

``ROLES`` is the promise; :func:`check_scenario` verifies it on the generated records (not on how they were
made), and the generator calls it on every run, so data that breaks the promise is never served.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from exactlink.sandbox.model import (
    ACCOUNTS,
    GL_ACCOUNTS,
    RETURNS,
    TRANSACTION_LINES,
    SandboxData,
)

VAT_RETURN, ICP_RETURN, PAYROLL_RETURN = 31, 32, 146
SUPPLETIE_DESCRIPTION = "Suppletie omzetbelasting"
SHOWCASE_COUNT = 3

# Where a return's Created stands against the 30-day window of a client whose "today" is the office's date
# (Europe/Amsterdam, up to a day ahead of UTC) and whose window starts at midnight, UTC or local: "inside"
# returns are at most 29½ days old, "just outside" ones 31½ to 33 days, so both hold under either reading.
INSIDE_MAX_AGE = timedelta(days=29, hours=12)
OUTSIDE_MIN_AGE = timedelta(days=31, hours=12)
OUTSIDE_MAX_AGE = timedelta(days=33)


@dataclass(frozen=True)
class Role:
    """One promised return: in which showcase administration, of which kind and status, how old.

    ``age`` counts back from the start (UTC midnight) of the day of ``now``, so data generated at any time of
    one day is the same; ``periods_back`` counts monthly periods back from the latest month that ended more
    than nine days before that (1 = that month), so every return is created after its period ended.
    """

    name: str
    administration: int
    type: int
    status: int
    periods_back: int
    age: timedelta
    suppletie: bool = False

    @property
    def inside_window(self) -> bool:
        """Whether the return is promised inside the 30-day window (else just outside it)."""
        return self.age < OUTSIDE_MIN_AGE

    def created(self, now: datetime) -> datetime:
        """When the return was made, for data generated at ``now``."""
        return day_start(now) - self.age


ROLES: tuple[Role, ...] = (
    Role("realised_vat", 0, VAT_RETURN, 40, 1, timedelta(days=5, hours=3)),
    Role("realised_icp", 0, ICP_RETURN, 40, 1, timedelta(days=6, hours=2)),
    Role("suppletie", 0, VAT_RETURN, 20, 3, timedelta(days=10, hours=4), suppletie=True),
    Role("processed_vat_just_outside", 0, VAT_RETURN, 50, 2, timedelta(days=31, hours=12)),
    Role("processed_vat", 1, VAT_RETURN, 50, 1, timedelta(days=8, hours=1)),
    Role("payroll", 1, PAYROLL_RETURN, 30, 1, timedelta(days=4, hours=5)),
    Role("realised_vat_just_inside", 1, VAT_RETURN, 40, 2, timedelta(days=28, hours=12)),
    Role("prepared_vat", 2, VAT_RETURN, 10, 1, timedelta(days=2, hours=6)),
    Role("realised_vat_older", 2, VAT_RETURN, 40, 2, timedelta(days=20, hours=2)),
)
ROLE_BY_NAME = {role.name: role for role in ROLES}
# The showcase administration whose vraagposten stay open, and the one whose lines all cancel out.
VRAAGPOSTEN_OPEN, VRAAGPOSTEN_BALANCED = 0, 1


class ScenarioError(AssertionError):
    """Generated data does not keep the scenario's promise."""


def day_start(now: datetime) -> datetime:
    """Midnight (UTC) at the start of the UTC day of ``now``."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def latest_period_end(now: datetime) -> datetime:
    """Midnight (UTC) after the last day of the latest month that ended more than nine days before today."""
    return (day_start(now) - timedelta(days=9)).replace(day=1)


def period_of(now: datetime, periods_back: int) -> tuple[int, int]:
    """(year, month) of the monthly period ``periods_back`` before the running one (see :class:`Role`)."""
    first_of_next = latest_period_end(now)
    index = first_of_next.year * 12 + first_of_next.month - 1 - periods_back
    return index // 12, index % 12 + 1


def _digits(text: object) -> str:
    return re.sub(r"\D", "", str(text or ""))


def check_scenario(data: SandboxData) -> None:
    """Raise :class:`ScenarioError` listing every promise of ``ROLES`` that ``data`` does not keep.

    Offices with fewer than three clients keep the roles of the showcase administrations they have.
    """
    problems = list(_problems(data))
    if problems:
        raise ScenarioError("the generated data breaks its scenario:\n  " + "\n  ".join(problems))


def _problems(data: SandboxData) -> list[str]:
    scenario = data.scenario
    problems: list[str] = []
    expected = min(SHOWCASE_COUNT, len(data.divisions) - 1)
    if len(scenario.administrations) != expected or len(scenario.relations) != expected:
        return [f"{len(scenario.administrations)} showcase administrations, expected {expected}"]
    office = data.divisions[data.office_division]
    crm_by_number = {row["relatienummer"]: row for row in data.crm_rows}
    admin = next((user for user in data.users if user.is_admin), None)
    for code, relation in zip(scenario.administrations, scenario.relations, strict=True):
        record = data.divisions[code].record
        if record.get("Status") != 1 or record.get("BlockingStatus") or code in data.unconsented_divisions:
            problems.append(f"administration {code} is not active, unblocked and consented")
        if admin is None or code not in admin.divisions:
            problems.append(f"the admin login does not see administration {code}")
        account = office.tables[ACCOUNTS].get(str(record.get("Customer")))
        row = crm_by_number.get(relation)
        if account is None:
            problems.append(f"administration {code} has no owner account in the office administration")
        elif row is None:
            problems.append(f"relation {relation} is missing from the CRM export")
        else:
            exact_number = _digits(account.get("RSIN") or account.get("BSN"))
            crm_number = _digits(row.get("rsin") or row.get("bsn"))
            if not exact_number or exact_number != crm_number:
                problems.append(f"relation {relation}: RSIN/BSN differs between the CRM export and Exact")
    problems.extend(_return_problems(data))
    problems.extend(_vraagposten_problems(data))
    return problems


def _return_problems(data: SandboxData) -> list[str]:
    scenario, now = data.scenario, data.now
    problems: list[str] = []
    for role in ROLES:
        if role.administration >= len(scenario.administrations):
            if role.name in scenario.returns:
                problems.append(f"{role.name}: named although its administration does not exist")
            continue
        if role.name not in scenario.returns:
            problems.append(f"{role.name}: no return named")
            continue
        division, document = scenario.returns[role.name]
        record = data.divisions[division].tables[RETURNS].get(document)
        if division != scenario.administrations[role.administration] or record is None:
            problems.append(f"{role.name}: {document} is not in showcase administration {role.administration + 1}")
            continue
        description = str(record.get("Description") or "")
        if (record.get("Type"), record.get("Status")) != (role.type, role.status):
            problems.append(f"{role.name}: Type {record.get('Type')} Status {record.get('Status')}")
        if (description == SUPPLETIE_DESCRIPTION) != role.suppletie:
            problems.append(f"{role.name}: description {description!r}")
        age = now - record["Created"]
        if role.inside_window and not timedelta(0) < age <= INSIDE_MAX_AGE:
            problems.append(f"{role.name}: created {age} ago, not inside the 30-day window")
        if not role.inside_window and not OUTSIDE_MIN_AGE <= age <= OUTSIDE_MAX_AGE:
            problems.append(f"{role.name}: created {age} ago, not just outside the 30-day window")
        year, month = int(record["Year"]), int(record["Period"])
        period_end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=now.tzinfo)
        if record.get("Frequency") != "M" or period_end > record["Created"]:
            problems.append(f"{role.name}: period {year}-{month} is not a monthly period ended before it was made")
    keys = [
        (division, record["Type"], record["Year"], record["Period"], record["Description"])
        for division in scenario.administrations
        for record in data.divisions[division].tables[RETURNS].values()
    ]
    if len(keys) != len(set(keys)):
        problems.append("two returns of one showcase administration share a kind and period")
    return problems


def _vraagposten_problems(data: SandboxData) -> list[str]:
    scenario = data.scenario
    problems: list[str] = []
    for label, division, should_balance in (
        ("open vraagposten", scenario.vraagposten_open, False),
        ("balanced vraagposten", scenario.vraagposten_balanced, True),
    ):
        position = VRAAGPOSTEN_BALANCED if should_balance else VRAAGPOSTEN_OPEN
        if position >= len(scenario.administrations):
            continue
        if division != scenario.administrations[position]:
            problems.append(f"{label}: not in showcase administration {position + 1}")
            continue
        tables = data.divisions[division].tables
        suspense = {
            account_id
            for account_id, account in tables[GL_ACCOUNTS].items()
            if "vraagpost" in str(account.get("Description") or "").lower()
        }
        amounts = [line["AmountDC"] for line in tables[TRANSACTION_LINES].values() if line["GLAccount"] in suspense]
        balance = round(sum(amounts), 2)
        if len(suspense) != 1 or not amounts or (balance == 0) != should_balance:
            problems.append(f"{label}: {len(amounts)} lines on {len(suspense)} suspense accounts, balance {balance}")
    return problems
