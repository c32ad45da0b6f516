"""The reliability harness: a set-up built once per test worker (a *template*), then identical worlds from it.

A :class:`World` is a fresh sandbox Exact Online generated from the template's seed (so every record has
the same key and the same content as in any other world of that template), served over real HTTP on
127.0.0.1, plus a fresh ``EXACTLINK_HOME`` holding a copy of the template's database and a login issued
by that sandbox (file token store). Two worlds of one template are indistinguishable to exactlink, so the
database a command leaves in one can be compared with what it leaves in another: a clean run against a
run through injected faults, a run killed with SIGKILL and then re-run against one never killed.

Commands run in-process (``tests.cli.run_cli``) on *sandbox time*: exactlink's clock is the sandbox's
clock and its sleeps (retry backoff, rate-limit waits) move that clock forward instead of waiting, so a
run that backs off for a minute takes no time while Exact's rate-limit windows and error budget see the
minute pass. Time-outs stay real (the sandbox really holds the answer back).

Public pieces: :func:`build_templates`, :func:`open_world`, :class:`World`, :func:`canonical_dump`,
:func:`exact_state`, :func:`duplicate_groups`, :func:`successful_writes`, :func:`budget_used`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import Result

from exactlink.sandbox import RunningServer, Sandbox
from exactlink.sandbox import model as sandbox_model
from exactlink.sandbox.generator import generate
from exactlink.sandbox.oauth import App
from tests.auth.conftest import CLIENT_ID, CLIENT_SECRET, Browser
from tests.cli import run_cli
from tests.templates import fresh_minute

CLIENTS = 16
SEED = 7
# Settings every world runs with: the file token store (shared with subprocesses) and a short HTTP
# time-out, so an injected time-out (the sandbox holds its answer for HANG_SECONDS) costs little.
TIMEOUT_SECONDS = 0.5
HANG_SECONDS = 0.8

Prepare = Callable[[Sandbox], None]


def _no_changes(sandbox: Sandbox) -> None:
    """A template whose worlds start from the generated data as it is."""


@dataclass(frozen=True)
class Template:
    """A finished set-up: the mirror's database, who is logged in, and what a fresh sandbox needs first.

    ``prepare`` applies, to a fresh sandbox, the changes users made in Exact after the set-up (it must be
    deterministic: fixed keys and values). ``env`` holds the settings the command under test needs.
    ``data`` holds what the tests need to know (e.g. the link-admin CSV file).
    """

    name: str
    database: Path
    user: dict[str, Any] | None
    redirect_uri: str
    prepare: Prepare = _no_changes
    env: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    clients: int = CLIENTS
    seed: int = SEED
    # The moment the template's office was generated for: every world regenerates exactly that office (a run
    # that crosses midnight would otherwise serve other dates than the database holds).
    generated_at: datetime | None = None


@dataclass
class World:
    """One sandbox and one exactlink home made from a template (see the module docstring)."""

    template: Template
    sandbox: Sandbox
    server: RunningServer
    home: Path
    env: dict[str, str]
    known_ids: frozenset[str]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def database(self) -> Path:
        return self.home / "exactlink.db"

    def cli(self, *args: str) -> Result:
        """``exactlink ARGS`` in-process, in this world's home (the caller's environment must be the world's)."""
        return run_cli(*args)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """:func:`canonical_dump` of this world's database."""
        return canonical_dump(self.database, self.known_ids, self.base_url)

    def exact(self) -> dict[str, list[tuple[Any, ...]]]:
        """:func:`exact_state` of this world's sandbox."""
        return exact_state(self.sandbox, self.known_ids)

    def subprocess_env(self) -> dict[str, str]:
        """The environment for an ``exactlink`` subprocess in this world (the caller's PATH etc. kept)."""
        return {**os.environ, **self.env}


# ---------------------------------------------------------------------------------------------------
# The canonical dump of the mirror

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
EXCLUDED_TABLES = frozenset({"runs", "sqlite_sequence"})
VOLATILE_COLUMNS = frozenset({"timestamp", "feedback_message"})
VOLATILE_JSON_KEYS = frozenset({"Timestamp", "Modified", "Created"})


def _is_moment_column(name: str) -> bool:
    return name.endswith("_at")


def _normal_text(text: str, known_ids: Collection[str], base_url: str | None) -> str:
    if base_url:
        text = text.replace(base_url, "<exact>")

    def replace(match: re.Match[str]) -> str:
        value = match.group(0)
        return value.lower() if value.lower() in known_ids else "<created>"

    return GUID.sub(replace, text)


def _normal_json(value: Any, known_ids: Collection[str], base_url: str | None) -> Any:
    if isinstance(value, dict):
        return {
            key: ("<time>" if item is not None else None)
            if (key.endswith("_at") or key in VOLATILE_JSON_KEYS)
            else _normal_json(item, known_ids, base_url)
            for key, item in sorted(value.items())
        }
    if isinstance(value, list):
        return [_normal_json(item, known_ids, base_url) for item in value]
    if isinstance(value, str):
        return _normal_text(value, known_ids, base_url)
    return value


def _normal_cell(value: Any, known_ids: Collection[str], base_url: str | None) -> Any:
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            parsed = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json.dumps(_normal_json(parsed, known_ids, base_url), sort_keys=True)
    return _normal_text(value, known_ids, base_url)


def canonical_dump(
    database: Path, known_ids: Collection[str] = (), base_url: str | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the mirror as sorted rows, minus what legitimately differs between two equivalent runs.

    Two runs that leave the same data behind give equal dumps. Left out or normalised, and why:

    - the ``runs`` table (run history) and ``sqlite_sequence``: a run that needed re-runs, or was killed and
      run again, has more history rows with other ids, pids and outcomes. That is the point of a history,
      not a difference in data; the tests check the history separately (nothing left "running").
    - columns ending in ``_at`` (when something happened): the value becomes ``"<time>"``; NULL stays NULL,
      so *whether* a relation was linked, a return reported, a backlog fetched is still compared.
    - ``timestamp`` columns (Exact's rowversion of a mirrored record, and the sync cursors): a write Exact
      applied but whose answer was lost (a time-out) is sent again and bumps the rowversion once more
      while the content stays the same; the content columns are compared.
    - Exact ids that are not in ``known_ids`` (every key the sandbox held before the command ran): those
      are entities the run created in Exact (addresses, bank accounts, SolutionLinks …), and Exact chose
      their ids, so they differ from sandbox to sandbox. They become ``"<created>"``: whether an id is set
      is still compared, and :func:`duplicate_groups` / :func:`successful_writes` check Exact's side.
    - ``returns.feedback_message``: its wording says how the outcome was learned, from ProcessReturn's answer
      or, when that answer was lost, from re-reading the return ("Exact Online already shows this return as
      verwerkt"); the feedback itself (``feedback_state``, ``status``, ``local_status``, ``reported_at`` set
      or not) is compared.
    - the sandbox's base URL (its port differs per world) becomes ``"<exact>"``.
    - JSON text columns are parsed and the same rules applied inside (keys ending in ``_at`` and Exact's
      ``Timestamp``/``Modified``/``Created`` become ``"<time>"``).
    """
    known = {identifier.lower() for identifier in known_ids}
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if row[0] not in EXCLUDED_TABLES
        ]
        dump: dict[str, list[tuple[Any, ...]]] = {}
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [description[0] for description in cursor.description]
            rows = []
            for row in cursor:
                cells = []
                for name, value in zip(columns, row, strict=True):
                    if name in VOLATILE_COLUMNS:
                        continue
                    if _is_moment_column(name):
                        cells.append(None if value is None else "<time>")
                    else:
                        cells.append(_normal_cell(value, known, base_url))
                rows.append(tuple(cells))
            dump[table] = sorted(rows, key=repr)
        return dump
    finally:
        conn.close()


def integrity_problems(database: Path) -> list[str]:
    """What ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check`` report (empty when all is well)."""
    conn = sqlite3.connect(str(database), timeout=30)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [f"foreign key: {row}" for row in conn.execute("PRAGMA foreign_key_check")]
        return problems
    finally:
        conn.close()


def unfinished_runs(database: Path) -> list[tuple[Any, ...]]:
    """Run-history rows without an outcome (a run killed before it could finish leaves one)."""
    conn = sqlite3.connect(str(database), timeout=30)
    try:
        return list(conn.execute("SELECT id, command, pid FROM runs WHERE outcome IS NULL"))
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------
# Exact's side

# The tables exactlink writes or whose records it changes (status feedback on returns).
WRITTEN_TABLES = (
    sandbox_model.ACCOUNTS,
    sandbox_model.ADDRESSES,
    sandbox_model.CONTACTS,
    sandbox_model.BANK_ACCOUNTS,
    sandbox_model.SOLUTION_LINKS,
    sandbox_model.RETURNS,
)
VOLATILE_EXACT_FIELDS = frozenset({"Timestamp", "Modified", "Created", "Modifier", "ModifierFullName"})


def all_keys(sandbox: Sandbox) -> frozenset[str]:
    """Every GUID (lower case) the sandbox holds: record keys and every GUID-valued field of every record."""
    keys: set[str] = set()

    def collect(record: dict[str, Any]) -> None:
        for value in record.values():
            if isinstance(value, str) and GUID.fullmatch(value):
                keys.add(value.lower())

    for code, division in sandbox.data.divisions.items():
        collect(division.record)
        for table in sandbox_model.TABLES:
            for key, record in sandbox.records(code, table).items():
                keys.add(str(key).lower())
                collect(record)
    return frozenset(keys)


def differences(left: dict[str, list[tuple[Any, ...]]], right: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """Readable differences between two dumps: per table, the rows only one side has (empty when equal)."""
    lines = []
    for table in sorted(set(left) | set(right)):
        only_left = Counter(left.get(table, [])) - Counter(right.get(table, []))
        only_right = Counter(right.get(table, [])) - Counter(left.get(table, []))
        lines += [f"{table} only left: {row}" for row in only_left.elements()]
        lines += [f"{table} only right: {row}" for row in only_right.elements()]
    return lines


def _exact_value(value: Any, known_ids: Collection[str]) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, str):
        return _normal_text(value, known_ids, None)
    return value


def exact_state(sandbox: Sandbox, known_ids: Collection[str]) -> dict[str, list[tuple[Any, ...]]]:
    """The content of every table exactlink writes, per division, sorted; ids Exact chose during the run
    become ``"<created>"`` and the moments of change are left out (see :func:`canonical_dump`)."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for code in sorted(sandbox.data.divisions):
        for table in WRITTEN_TABLES:
            rows = [
                tuple(
                    (name, _exact_value(value, known_ids))
                    for name, value in sorted(record.items())
                    if name not in VOLATILE_EXACT_FIELDS
                )
                for record in sandbox.records(code, table).values()
            ]
            if rows:
                state[f"{code} {table}"] = sorted(rows, key=repr)
    return state


def duplicate_groups(sandbox: Sandbox) -> Counter[tuple[Any, ...]]:
    """Natural keys that occur more than once in the office administration, with their counts.

    Addresses per (account, type), bank accounts per (account, IBAN), contacts per (account, full name)
    and active internal SolutionLinks per account: exactlink creating any of these twice is a duplicate.
    """
    office = sandbox.data.office_division
    keys: Counter[tuple[Any, ...]] = Counter()
    for record in sandbox.records(office, sandbox_model.ADDRESSES).values():
        keys["address", str(record.get("Account")).lower(), record.get("Type")] += 1
    for record in sandbox.records(office, sandbox_model.BANK_ACCOUNTS).values():
        iban = str(record.get("BankAccount") or "").replace(" ", "").upper()
        keys["bank account", str(record.get("Account")).lower(), iban] += 1
    for record in sandbox.records(office, sandbox_model.CONTACTS).values():
        keys["contact", str(record.get("Account")).lower(), record.get("FullName")] += 1
    for record in sandbox.records(office, sandbox_model.SOLUTION_LINKS).values():
        if record.get("SolutionType") == 0 and record.get("Status") == 0:
            keys["solution link", str(record.get("Account")).lower()] += 1
    return Counter({key: count for key, count in keys.items() if count > 1})


def successful_writes(sandbox: Sandbox) -> Counter[tuple[str, str]]:
    """(method, endpoint) → calls Exact answered with 2xx: entities created or changed (a POST whose answer
    was lost to a time-out was still applied and is logged with its 2xx status)."""
    return Counter(
        (entry.method, entry.endpoint)
        for entry in list(sandbox.request_log)
        if entry.method in ("POST", "PUT", "DELETE") and 200 <= entry.status < 300
    )


def budget_used(sandbox: Sandbox) -> int:
    """The most failed calls any (app, division, endpoint) has in Exact's rolling hour."""
    return max(sandbox.error_counts.values(), default=0)


# ---------------------------------------------------------------------------------------------------
# Worlds


def _snapshot(source: Path, target: Path) -> None:
    """Copy a SQLite database consistently (the WAL included) with the backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    target.chmod(0o600)


def _save_tokens(
    sandbox: Sandbox,
    app: App,
    base_url: str,
    user: dict[str, Any] | None,
    *,
    expired: bool,
    clock: Callable[[], float],
) -> None:
    """Store a login issued by ``sandbox`` to ``app`` in the file token store of the current EXACTLINK_HOME.

    ``clock`` is exactlink's clock (the sandbox's for in-process runs, real time for subprocesses): the
    stored expiry moments are on it. An ``expired`` login was issued ten minutes ago: its access token has
    just expired for exactlink, and the sandbox clock is moved on so that Exact agrees a refresh is due.
    """
    from exactlink.auth.oauth import TokenSet
    from exactlink.auth.tokens import TokenStore

    issued = sandbox.issue_tokens(app)
    if expired:
        sandbox.advance(601)
    now = clock()
    expires_at, refreshed_at = (now - 1, now - 601) if expired else (now + 600, now)
    tokens = TokenSet(issued["access_token"], issued["refresh_token"], expires_at, refreshed_at, user)
    TokenStore(base_url, CLIENT_ID, mode="file").save(tokens)


@contextmanager
def open_world(
    template: Template,
    directory: Path,
    *,
    expired_token: bool = False,
    sandbox_time: bool = True,
    latency_ms: float = 0.0,
) -> Iterator[World]:
    """Serve a fresh sandbox of ``template`` and point the environment at a fresh home with its database.

    The environment (``EXACTLINK_*``), exactlink's clock and sleep are the world's until the block ends.
    ``expired_token`` stores an access token that has just expired (the first call refreshes it).
    ``sandbox_time`` makes exactlink's waits move the sandbox clock instead of sleeping (see the module); turn
    it off when the commands run as subprocesses, which live on real time.
    """
    from exactlink.clock import Clock
    from exactlink.sandbox import Faults
    from tests.cli import set_workspace

    data = generate(template.clients, template.seed, template.generated_at) if template.generated_at else None
    sandbox = Sandbox(clients=template.clients, seed=template.seed, data=data)
    template.prepare(sandbox)
    app = sandbox.register_app(CLIENT_ID, CLIENT_SECRET, template.redirect_uri)
    home = directory / "home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    _snapshot(template.database, home / "exactlink.db")
    with sandbox.serve() as server, pytest.MonkeyPatch.context() as patch:
        env = {
            "EXACTLINK_HOME": str(home),
            "EXACTLINK_BASE_URL": server.base_url,
            "EXACTLINK_CLIENT_ID": CLIENT_ID,
            "EXACTLINK_CLIENT_SECRET": CLIENT_SECRET,
            "EXACTLINK_REDIRECT_URI": template.redirect_uri,
            "EXACTLINK_EXACT__TOKEN_STORAGE": "file",
            "EXACTLINK_EXACT__TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            **template.env,
        }
        for name, value in env.items():
            patch.setenv(name, value)
        if sandbox_time:
            set_workspace(patch, clock=Clock(sandbox.clock.now), sleep=sandbox.advance)
        clock = sandbox.clock.now if sandbox_time else time.time
        _save_tokens(sandbox, app, server.base_url, template.user, expired=expired_token, clock=clock)
        sandbox.faults = Faults(latency_ms=latency_ms, hang_seconds=HANG_SECONDS)
        known = all_keys(sandbox)
        sandbox.reset_counters()
        fresh_minute(sandbox, home)
        yield World(template, sandbox, server, home, env, known)


# ---------------------------------------------------------------------------------------------------
# Building the templates

# Exact-side changes for the inbound-sync worlds; keys are fixed so every world gets the same records.
INBOUND_ADDRESS_ID = "5e7a1c00-0000-4000-8000-00000000a001"
INBOUND_BANK_ID = "5e7a1c00-0000-4000-8000-00000000b001"
OUTBOUND_IBANS = ("NL20INGB0001234567", "NL02ABNA0123456789", "NL91ABNA0417164300", "NL39RABO0300065264")


def _linked_accounts(database: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(str(database))
    try:
        return list(conn.execute("SELECT relation_number, account_id FROM links ORDER BY relation_number"))
    finally:
        conn.close()


def _inbound_changes(accounts: list[str]) -> Prepare:
    """Changes made in Exact after the last sync: edited fields, a new address and bank account, a deletion."""

    def prepare(sandbox: Sandbox) -> None:
        office = sandbox.data.office_division
        first, second, third, fourth = accounts[:4]
        sandbox.mutate(office, sandbox_model.ACCOUNTS, first, Phone="020-5550101", Website="www.voorbeeld-een.nl")
        sandbox.mutate(office, sandbox_model.ACCOUNTS, second, Email="info@voorbeeld-twee.nl")
        addresses = sandbox.records(office, sandbox_model.ADDRESSES)
        if not any(row["Account"] == third and row.get("Type") == 3 for row in addresses.values()):
            sandbox.create(
                office,
                sandbox_model.ADDRESSES,
                ID=INBOUND_ADDRESS_ID,
                Account=third,
                Type=3,
                Main=False,
                AddressLine1="Factuurstraat 9",
                Postcode="3511 AB",
                City="Utrecht",
                Country="NL",
            )
        sandbox.create(
            office,
            sandbox_model.BANK_ACCOUNTS,
            ID=INBOUND_BANK_ID,
            Account=first,
            BankAccount="NL91ABNA0417164300",
            BICCode="ABNANL2A",
            Main=False,
        )
        banks = sorted(
            key for key, row in sandbox.records(office, sandbox_model.BANK_ACCOUNTS).items() if row["Account"] == fourth
        )
        if banks:
            sandbox.delete(office, sandbox_model.BANK_ACCOUNTS, banks[0])

    return prepare


def _feedback_statuses(documents: list[tuple[int, str]]) -> Prepare:
    """Exact shows these VAT/ICP returns as realized (status 40): the ones the office will report on."""

    def prepare(sandbox: Sandbox) -> None:
        for division, document in documents:
            sandbox.mutate(division, sandbox_model.RETURNS, document, Status=40)

    return prepare


def build_templates(directory: Path) -> dict[str, Template]:
    """Log in, choose the office, import the CRM export, match, … once; snapshot the mirror at each stage.

    Templates: ``office`` (logged in, office chosen, CRM imported), ``matched`` (+ ``match``), ``outbound``
    (+ CRM edits for an outbound sync), ``inbound`` (``matched`` + changes made in Exact), ``admins``
    (``matched`` + a link-admin CSV), ``returns`` (administrations linked), ``feedback`` (+ returns fetched
    and some marked processed/rejected, not yet reported).
    """
    import webbrowser

    from exactlink.auth.tokens import TokenStore
    from tests.returns.conftest import build_office
    from tests.sync.test_sync_cli import edit_crm_file

    directory.mkdir(parents=True, exist_ok=True)
    snapshots = directory / "snapshots"
    home = directory / "home"
    templates: dict[str, Template] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXACTLINK_HOME", str(home))
        patch.setattr(webbrowser, "open", Browser().open)
        offices = cast(
            Generator[Any, None, None], build_office(patch, directory, Browser(), clients=CLIENTS, seed=SEED)
        )
        office = next(offices)
        try:
            database = home / "exactlink.db"
            stored = TokenStore(office.server.base_url, CLIENT_ID, mode="file").load()
            user = stored.user if stored is not None else None
            redirect_uri = office.env["EXACTLINK_REDIRECT_URI"]

            def template(name: str, **extra: Any) -> Template:
                _snapshot(database, snapshots / f"{name}.db")
                return Template(name, snapshots / f"{name}.db", user, redirect_uri, **extra)

            templates["office"] = template("office", data={"office_division": office.office_division})

            matched = run_cli("match", "--json")
            assert matched.exit_code == 0, matched.stderr
            templates["matched"] = template("matched")
            linked = _linked_accounts(database)
            assert len(linked) >= 8, linked

            crm_file = directory / "crm.csv"
            for relation, iban in zip([relation for relation, _ in linked][:4], OUTBOUND_IBANS, strict=True):
                edit_crm_file(
                    crm_file,
                    relation,
                    telefoon="030-1234567",
                    factuuradres="Factuurweg 1",
                    factuuradres_postcode="3511AB",
                    factuuradres_plaats="Utrecht",
                    iban=iban,
                )
            imported = run_cli("crm", "import", str(crm_file))
            assert imported.exit_code in (0, 3), imported.stderr
            templates["outbound"] = template("outbound", env={"EXACTLINK_SYNC__DIRECTION": "outbound"})
            _snapshot(templates["matched"].database, database)

            templates["inbound"] = Template(
                "inbound",
                templates["matched"].database,
                user,
                redirect_uri,
                prepare=_inbound_changes([account for _, account in linked]),
                env={"EXACTLINK_SYNC__DIRECTION": "inbound"},
            )

            relations = {relation for relation, _ in linked}
            # The showcase administrations first: the scenario promises their returns on any day.
            scenario = office.sandbox.data.scenario
            showcase = list(zip(scenario.relations, scenario.administrations, strict=True))
            assert {relation for relation, _ in showcase} <= relations, (showcase, relations)
            others = [pair for pair in office.candidates(with_returns=False) if pair[0] in relations]
            pairs = (showcase + [pair for pair in others if pair not in showcase])[:12]
            assert len(pairs) >= 6, pairs
            csv_file = snapshots / "admins.csv"
            lines = ["relatienummer;administratie", *(f"{relation};{division}" for relation, division in pairs)]
            csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            templates["admins"] = Template(
                "admins", templates["matched"].database, user, redirect_uri, data={"csv": csv_file, "pairs": pairs}
            )

            for relation, division in pairs:
                office.link_admin_in_store(relation, division)
            templates["returns"] = template("returns", data={"pairs": pairs})

            documents = [
                (division, str(record["DocumentID"]))
                for _, division in pairs
                for record in sorted(office.returns_in_window(division), key=lambda record: str(record["DocumentID"]))
                if record.get("Type") in (31, 32)
            ][:6]
            assert len(documents) >= 3, documents
            statuses = _feedback_statuses(documents)
            statuses(office.sandbox)
            fetched = run_cli("fetch-returns", "--quiet")
            assert fetched.exit_code == 0, fetched.stderr
            for number, (_, document) in enumerate(documents):
                outcome = "--rejected" if number % 3 == 2 else "--processed"
                marked = run_cli("returns", "mark", document, outcome)
                assert marked.exit_code == 0, marked.stderr
            templates["feedback"] = template("feedback", prepare=statuses, data={"documents": documents})
            templates = {name: replace(made, generated_at=office.sandbox.data.now) for name, made in templates.items()}
        finally:
            offices.close()
    shutil.rmtree(home, ignore_errors=True)
    return templates


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.002) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
