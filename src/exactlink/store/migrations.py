"""The schema, as an ordered list of migrations ``m001_…``, ``m002_…`` that run once each.

Each migration is recorded by name in ``_exactlink_migrations`` and runs inside the write transaction
of :func:`exactlink.store.db.migrate`. Never edit a migration that has shipped: add the next one.
Timestamps are UTC ISO-8601 text, dates ``YYYY-MM-DD`` text, booleans 0/1, JSON columns text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

Migration = Callable[["sqlite_utils.Database"], None]
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    """Register ``function`` as the next migration (its name is its identity)."""
    MIGRATIONS.append(function)
    return function


def _run(db: sqlite_utils.Database, *statements: str) -> None:
    for statement in statements:
        db.conn.execute(statement)


@migration
def m001_core(db: sqlite_utils.Database) -> None:
    """Key/value settings of the mirror (the office administration …) and the run history."""
    _run(
        db,
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            summary TEXT NOT NULL DEFAULT '{}',
            pid INTEGER
        )""",
        "CREATE INDEX runs_command ON runs (command, id)",
    )


@migration
def m002_relations(db: sqlite_utils.Database) -> None:
    """The CRM side: relations with their addresses, contact persons and bank accounts."""
    _run(
        db,
        """CREATE TABLE relations (
            relation_number TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            legal_form TEXT,
            kvk TEXT,
            rsin TEXT,
            bsn TEXT,
            vat_number TEXT,
            payroll_tax_number TEXT,
            phone TEXT,
            email TEXT,
            website TEXT,
            sbr_start_date TEXT,
            issues TEXT NOT NULL DEFAULT '[]',
            exact_account_id TEXT,
            pending_push INTEGER NOT NULL DEFAULT 0 CHECK (pending_push IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX relations_kvk ON relations (kvk)",
        "CREATE INDEX relations_rsin ON relations (rsin)",
        "CREATE INDEX relations_bsn ON relations (bsn)",
        """CREATE TABLE addresses (
            relation_number TEXT NOT NULL REFERENCES relations (relation_number) ON DELETE CASCADE,
            type TEXT NOT NULL CHECK (type IN ('visit', 'postal', 'invoice')),
            street TEXT,
            postcode TEXT,
            city TEXT,
            country TEXT,
            exact_address_id TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (relation_number, type)
        )""",
        """CREATE TABLE contacts (
            relation_number TEXT NOT NULL REFERENCES relations (relation_number) ON DELETE CASCADE,
            full_name TEXT NOT NULL,
            first_name TEXT,
            middle_name TEXT,
            last_name TEXT,
            email TEXT,
            phone TEXT,
            exact_contact_id TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (relation_number, full_name)
        )""",
        """CREATE TABLE bank_accounts (
            relation_number TEXT NOT NULL REFERENCES relations (relation_number) ON DELETE CASCADE,
            iban TEXT NOT NULL,
            exact_bank_account_id TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (relation_number, iban)
        )""",
    )


@migration
def m003_office_accounts(db: sqlite_utils.Database) -> None:
    """Mirror of the office administration's Exact accounts and their children, with sync cursors."""
    _run(
        db,
        """CREATE TABLE accounts (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            code TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            chamber_of_commerce TEXT,
            rsin TEXT,
            bsn TEXT,
            vat_number TEXT,
            phone TEXT,
            email TEXT,
            website TEXT,
            address_line TEXT,
            postcode TEXT,
            city TEXT,
            country TEXT,
            status TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            timestamp INTEGER NOT NULL DEFAULT 0,
            synced_at TEXT NOT NULL
        )""",
        "CREATE INDEX accounts_division_code ON accounts (division, code)",
        "CREATE INDEX accounts_kvk ON accounts (chamber_of_commerce)",
        """CREATE TABLE account_addresses (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            account_id TEXT NOT NULL,
            type INTEGER,
            main INTEGER NOT NULL DEFAULT 0,
            address_line TEXT,
            postcode TEXT,
            city TEXT,
            country TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            timestamp INTEGER NOT NULL DEFAULT 0,
            synced_at TEXT NOT NULL
        )""",
        "CREATE INDEX account_addresses_account ON account_addresses (account_id)",
        """CREATE TABLE account_contacts (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            account_id TEXT NOT NULL,
            full_name TEXT,
            first_name TEXT,
            middle_name TEXT,
            last_name TEXT,
            email TEXT,
            phone TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            timestamp INTEGER NOT NULL DEFAULT 0,
            synced_at TEXT NOT NULL
        )""",
        "CREATE INDEX account_contacts_account ON account_contacts (account_id)",
        """CREATE TABLE account_bank_accounts (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            account_id TEXT NOT NULL,
            bank_account TEXT,
            bic TEXT,
            main INTEGER NOT NULL DEFAULT 0,
            extra TEXT NOT NULL DEFAULT '{}',
            timestamp INTEGER NOT NULL DEFAULT 0,
            synced_at TEXT NOT NULL
        )""",
        "CREATE INDEX account_bank_accounts_account ON account_bank_accounts (account_id)",
        """CREATE TABLE sync_cursors (
            division INTEGER NOT NULL,
            entity TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (division, entity)
        )""",
    )


@migration
def m004_links(db: sqlite_utils.Database) -> None:
    """Links relation ↔ office account, match decisions, and relation ↔ client administration."""
    _run(
        db,
        """CREATE TABLE links (
            relation_number TEXT PRIMARY KEY REFERENCES relations (relation_number) ON DELETE CASCADE,
            account_id TEXT NOT NULL UNIQUE,
            account_code TEXT,
            method TEXT,
            linked_at TEXT NOT NULL,
            linked_by TEXT NOT NULL CHECK (linked_by IN ('auto', 'manual', 'suggestion'))
        )""",
        """CREATE TABLE match_decisions (
            relation_number TEXT NOT NULL,
            account_id TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected')),
            decided_at TEXT NOT NULL,
            PRIMARY KEY (relation_number, account_id)
        )""",
        """CREATE TABLE admin_links (
            relation_number TEXT PRIMARY KEY REFERENCES relations (relation_number) ON DELETE CASCADE,
            division INTEGER NOT NULL UNIQUE,
            solution_link_id TEXT,
            linked_at TEXT NOT NULL,
            backlog_fetched_at TEXT
        )""",
    )


@migration
def m005_returns(db: sqlite_utils.Database) -> None:
    """Tax returns fetched from the client administrations, their status history, and vraagposten."""
    _run(
        db,
        """CREATE TABLE returns (
            document_id TEXT PRIMARY KEY,
            request_id TEXT,
            division INTEGER NOT NULL,
            relation_number TEXT,
            type INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('btw', 'btw_suppletie', 'icp', 'loonheffing')),
            status INTEGER,
            year INTEGER,
            period INTEGER,
            frequency TEXT,
            period_description TEXT,
            amount REAL,
            currency TEXT,
            due_date TEXT,
            created TEXT,
            description TEXT,
            view_url TEXT,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            local_status TEXT NOT NULL DEFAULT 'new' CHECK (local_status IN ('new', 'processed', 'rejected')),
            feedback_state TEXT NOT NULL DEFAULT 'none'
                CHECK (feedback_state IN ('none', 'pending', 'reported', 'failed')),
            feedback_message TEXT,
            reported_at TEXT
        )""",
        "CREATE INDEX returns_relation ON returns (relation_number)",
        "CREATE INDEX returns_division ON returns (division)",
        "CREATE INDEX returns_due ON returns (due_date)",
        """CREATE TABLE return_status_history (
            document_id TEXT NOT NULL REFERENCES returns (document_id) ON DELETE CASCADE,
            status INTEGER NOT NULL,
            seen_at TEXT NOT NULL,
            UNIQUE (document_id, status)
        )""",
        """CREATE TABLE vraagposten (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            relation_number TEXT,
            gl_account_code TEXT,
            date TEXT,
            amount REAL,
            description TEXT,
            entry_number INTEGER,
            status INTEGER,
            cleared INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        )""",
        "CREATE INDEX vraagposten_division ON vraagposten (division)",
        "CREATE INDEX vraagposten_relation ON vraagposten (relation_number)",
    )


@migration
def m006_feedback_refused(db: sqlite_utils.Database) -> None:
    """Feedback state ``refused`` (Exact refused with a message of its own; not retried until the return changes).

    SQLite cannot change a CHECK constraint, so ``returns`` is rebuilt. Its status history is kept aside first:
    with foreign keys on, dropping ``returns`` would delete the history rows through ON DELETE CASCADE.
    """
    _run(
        db,
        "CREATE TABLE _history_kept AS SELECT document_id, status, seen_at FROM return_status_history ORDER BY rowid",
        "DROP TABLE return_status_history",
        """CREATE TABLE returns_new (
            document_id TEXT PRIMARY KEY,
            request_id TEXT,
            division INTEGER NOT NULL,
            relation_number TEXT,
            type INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('btw', 'btw_suppletie', 'icp', 'loonheffing')),
            status INTEGER,
            year INTEGER,
            period INTEGER,
            frequency TEXT,
            period_description TEXT,
            amount REAL,
            currency TEXT,
            due_date TEXT,
            created TEXT,
            description TEXT,
            view_url TEXT,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            local_status TEXT NOT NULL DEFAULT 'new' CHECK (local_status IN ('new', 'processed', 'rejected')),
            feedback_state TEXT NOT NULL DEFAULT 'none'
                CHECK (feedback_state IN ('none', 'pending', 'reported', 'failed', 'refused')),
            feedback_message TEXT,
            reported_at TEXT,
            refused_at TEXT
        )""",
        """INSERT INTO returns_new (
            document_id, request_id, division, relation_number, type, kind, status, year, period, frequency,
            period_description, amount, currency, due_date, created, description, view_url, first_seen_at,
            last_seen_at, local_status, feedback_state, feedback_message, reported_at
        ) SELECT
            document_id, request_id, division, relation_number, type, kind, status, year, period, frequency,
            period_description, amount, currency, due_date, created, description, view_url, first_seen_at,
            last_seen_at, local_status, feedback_state, feedback_message, reported_at
        FROM returns""",
        "DROP TABLE returns",
        "ALTER TABLE returns_new RENAME TO returns",
        "CREATE INDEX returns_relation ON returns (relation_number)",
        "CREATE INDEX returns_division ON returns (division)",
        "CREATE INDEX returns_due ON returns (due_date)",
        """CREATE TABLE return_status_history (
            document_id TEXT NOT NULL REFERENCES returns (document_id) ON DELETE CASCADE,
            status INTEGER NOT NULL,
            seen_at TEXT NOT NULL,
            UNIQUE (document_id, status)
        )""",
        "INSERT INTO return_status_history (document_id, status, seen_at) SELECT * FROM _history_kept",
        "DROP TABLE _history_kept",
    )


@migration
def m007_vraagposten_cursors(db: sqlite_utils.Database) -> None:
    """Per administration: the sync cursors and G/L choice of its vraagposten, and the lines on those accounts.

    An hourly ``fetch-returns`` then reads only what changed since the cursor (``Timestamp gt N``) and decides
    which lines are open over every line kept here.
    """
    _run(
        db,
        """CREATE TABLE vraagposten_cursors (
            division INTEGER PRIMARY KEY,
            configured TEXT NOT NULL DEFAULT '[]',
            accounts TEXT NOT NULL DEFAULT '[]',
            source TEXT,
            problem TEXT,
            gl_timestamp INTEGER,
            gl_checked_at TEXT,
            lines_timestamp INTEGER,
            lines_read_at TEXT
        )""",
        """CREATE TABLE vraagposten_ledger (
            id TEXT PRIMARY KEY,
            division INTEGER NOT NULL,
            gl_account_code TEXT NOT NULL,
            timestamp INTEGER NOT NULL,
            entry_id TEXT,
            entry_number INTEGER,
            date TEXT,
            amount TEXT,
            description TEXT,
            line_number INTEGER,
            status INTEGER
        )""",
        "CREATE INDEX vraagposten_ledger_division ON vraagposten_ledger (division)",
    )


@migration
def m008_administration_state(db: sqlite_utils.Database) -> None:
    """What is remembered per client administration moves out of ``meta`` JSON into a table of its own.

    Until now each administration's name, vraagposten accounts and last fetch were one JSON value in ``meta``
    under ``administration.<division>``; they are carried over field by field and the ``meta`` rows removed.
    Lists are JSON text; ``vraagposten_codes`` stays NULL when no chart of accounts was read (an empty list is
    a read that found none).
    """
    _run(
        db,
        """CREATE TABLE administrations (
            division INTEGER PRIMARY KEY,
            name TEXT,
            vraagposten_configured TEXT NOT NULL DEFAULT '[]',
            vraagposten_codes TEXT,
            vraagposten_source TEXT,
            vraagposten_problem TEXT,
            vraagposten_checked_at TEXT,
            last_fetch_at TEXT,
            last_fetch_note TEXT,
            last_fetch_error TEXT,
            last_fetch_failed_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        """INSERT INTO administrations (
            division, name, vraagposten_configured, vraagposten_codes, vraagposten_source, vraagposten_problem,
            vraagposten_checked_at, last_fetch_at, last_fetch_note, last_fetch_error, last_fetch_failed_at, updated_at
        ) SELECT
            CAST(substr(key, 16) AS INTEGER),
            json_extract(value, '$.name'),
            coalesce(json_extract(value, '$.vraagposten_configured'), '[]'),
            json_extract(value, '$.vraagposten_codes'),
            json_extract(value, '$.vraagposten_source'),
            json_extract(value, '$.vraagposten_problem'),
            json_extract(value, '$.vraagposten_checked_at'),
            json_extract(value, '$.last_fetch_at'),
            json_extract(value, '$.last_fetch_note'),
            json_extract(value, '$.last_fetch_error'),
            json_extract(value, '$.last_fetch_failed_at'),
            updated_at
        FROM meta
        WHERE key GLOB 'administration.[0-9]*' AND substr(key, 16) NOT GLOB '*[^0-9]*' AND json_valid(value)
            AND json_type(value) = 'object'""",
        "DELETE FROM meta WHERE key GLOB 'administration.[0-9]*' AND substr(key, 16) NOT GLOB '*[^0-9]*'",
    )


@migration
def m009_divisions(db: sqlite_utils.Database) -> None:
    """The administrations the login sees, as the last full listing read them (``tenant list``, ``link-admin``),
    so that ``link-admin`` soon after does not list them again. The listing's time is in ``meta``. No VAT or OB
    number: an eenmanszaak's holds the owner's BSN."""
    _run(
        db,
        """CREATE TABLE divisions (
            code INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            customer TEXT,
            customer_code TEXT,
            customer_name TEXT,
            kvk TEXT,
            status INTEGER,
            blocking INTEGER,
            practice INTEGER NOT NULL DEFAULT 0,
            consented INTEGER NOT NULL DEFAULT 1
        )""",
    )


@migration
def m010_vraagposten_deletions(db: sqlite_utils.Database) -> None:
    """Per administration: the ``sync/Deleted`` cursor (transaction lines deleted in Exact leave the kept lines)
    and the ``DivisionMoveDate`` last seen (a move restarts every Timestamp, so the lines are read again)."""
    _run(
        db,
        "ALTER TABLE vraagposten_cursors ADD COLUMN deleted_timestamp INTEGER",
        "ALTER TABLE vraagposten_cursors ADD COLUMN deleted_read_at TEXT",
        "ALTER TABLE vraagposten_cursors ADD COLUMN move_date TEXT",
        "ALTER TABLE vraagposten_cursors ADD COLUMN move_checked_at TEXT",
    )
