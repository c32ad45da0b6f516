"""A BSN is masked in every output of relations, accounts, matches, sync differences, returns and vraagposten:
one home, ``domain/privacy.py``.

The property tests feed generated BSNs (any 9 digits passing the 11-proef) through every kind of field: the
BSN itself, an eenmanszaak's old-form OB number ``NL<BSN>B01``, a loonheffingennummer ``<BSN>L01``, and free
text. The scan seeds a BSN into every kind of field on the CRM side (a relation, its address and contact
person) and on the Exact side (the linked account and its address, a suggested account, returns and
vraagposten), runs every command that prints or exports them, with and without ``--json``, and finds none of
them unless ``--show-bsn`` (or ``privacy.show_bsn``); with it each command shows the values it prints in full,
so that no command passes by printing nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactlink.domain.privacy import kind_of_field, mask_personal, mask_view, unmasked
from tests.cli import run_cli
from tests.security.conftest import World


def _with_check_digit(first8: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(first8, range(9, 1, -1), strict=True))
    check = total % 11
    return first8 + str(check) if check < 10 else None


bsns = st.from_regex(r"\A[0-9]{8}\Z").map(_with_check_digit).filter(lambda value: value is not None)
separators = st.text(alphabet=" .,:;()/-_\n\t", min_size=1, max_size=3)
words = st.text(alphabet="abcdefghij BSN:", max_size=20)


@given(bsn=bsns)
def test_a_bsn_field_is_masked(bsn: str) -> None:
    assert mask_personal(bsn, "bsn") == "*****" + bsn[-4:]


@given(bsn=bsns, template=st.sampled_from(["NL{}B01", "nl{}b02", "{}L01", "{}l02", "{}"]))
def test_a_bsn_inside_an_ob_number_or_loonheffingennummer_is_masked(bsn: str, template: str) -> None:
    value = template.format(bsn)
    for kind in ("fiscal", "text"):
        masked = mask_personal(value, kind)  # type: ignore[arg-type]
        assert masked is not None and bsn not in masked and "*****" + bsn[-4:] in masked, (kind, masked)


@given(bsn=bsns, before=words, after=words, left=separators, right=separators)
def test_a_bsn_in_free_text_is_masked(bsn: str, before: str, after: str, left: str, right: str) -> None:
    text = f"{before}{left}{bsn}{right}{after}"
    masked = mask_personal(text, "text")
    assert masked is not None and bsn not in masked


@given(bsn=bsns)
def test_show_bsn_shows_it_and_masking_is_idempotent(bsn: str) -> None:
    assert mask_personal(f"NL{bsn}B01", "fiscal", show_bsn=True) == f"NL{bsn}B01"
    once = mask_personal(f"NL{bsn}B01", "fiscal")
    assert mask_personal(once, "fiscal") == once


@given(bsn=bsns, field=st.sampled_from(["name", "vat_number", "payroll_tax_number", "bsn", "description", "email"]))
def test_a_view_has_no_bsn_in_any_field(bsn: str, field: str) -> None:
    view = {"rows": [{field: f"x {bsn} y" if kind_of_field(field) == "text" else bsn}], "relation": "3001"}
    assert bsn not in json.dumps(mask_view(view))
    assert bsn in json.dumps(mask_view(view, show_bsn=True))


@given(bsn=bsns)
def test_a_record_is_masked_by_field_name_and_a_masked_cell_reads_back(bsn: str) -> None:
    @dataclass(frozen=True)
    class Row:
        relation: str
        name: str
        vat_number: str
        reasons: list[str]

    row = Row(bsn, f"Bakker {bsn}", f"NL{bsn}B01", [f"same BSN {bsn}"])
    masked = mask_view(row)
    assert masked.relation == bsn and bsn not in repr((masked.name, masked.vat_number, masked.reasons))
    assert mask_view(row, show_bsn=True) == row
    for kind, value in (("text", row.name), ("fiscal", row.vat_number), ("bsn", bsn)):
        assert unmasked(mask_personal(value, kind), value, kind) == value  # type: ignore[arg-type]
    assert unmasked("NL*****1234B01", None, "fiscal") is None and unmasked("Bakker", row.name, "text") == "Bakker"


# -- the scan over real commands -------------------------------------------------------------------------------------

# Which rows a seeded value goes into: the linked relation (the world's relation with an administration) and its
# account in Exact; a relation and an account that ``match`` pairs only as a name suggestion; a linked relation
# whose administration link is forgotten locally, so that ``link-admin suggest`` proposes it again; every row.
LINKED, SUGGESTED, TO_SUGGEST, ALL = "linked", "suggested", "to-suggest", "all"

# Each value passes the 11-proef (RvIG's test range) and is seeded once, so that a leak names its field.
SEEDED: dict[tuple[str, str, str], str] = {
    # the CRM side
    ("relations", "bsn", LINKED): "999911144",
    ("relations", "vat_number", LINKED): "NL999900018B01",
    ("relations", "payroll_tax_number", LINKED): "999900043L01",
    ("relations", "name", LINKED): "Bakker (BSN 999900055)",
    ("relations", "email", LINKED): "999900067@example.nl",
    ("relations", "legal_form", LINKED): "eenmanszaak 999900080",
    ("addresses", "street", LINKED): "Kerkstraat 1 (BSN 999900110)",
    ("contacts", "full_name", LINKED): "J. Jansen 999900134",
    ("relations", "name", SUGGESTED): "De Wit 999900146 Bouw",
    ("relations", "name", TO_SUGGEST): "Eigenaar 999900158 B.V.",
    # the Exact side
    ("accounts", "name", LINKED): "Eigenaar 999900122",
    ("accounts", "vat_number", LINKED): "NL999900171B01",
    ("accounts", "bsn", LINKED): "999900183",
    ("account_addresses", "address_line", LINKED): "Dorpsweg 2 (BSN 999900195)",
    ("accounts", "name", SUGGESTED): "De Wit 999900146 Bouw",
    ("accounts", "vat_number", SUGGESTED): "NL999900201B01",
    ("accounts", "bsn", SUGGESTED): "999900213",
    ("returns", "description", ALL): "Aangifte BSN 999900092",
    ("returns", "period_description", ALL): "kwartaal 999900109",
    ("vraagposten", "description", ALL): "BSN 999911181 ontbreekt",
}


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[:9]


def _seed(home: Path, world: World) -> None:
    """Seed every value of :data:`SEEDED`, after making the suggestion and the administration to suggest.

    The administration to suggest is one the scenario gives a realised return on any day, so `returns list`
    always has its relation to show.
    """
    relation, to_suggest_division = world.relation, world.sandbox.data.scenario.division_of("realised_vat_older")
    db = sqlite3.connect(home / "exactlink.db")
    with db:
        linked = db.execute("SELECT account_id FROM links WHERE relation_number = ?", (relation,)).fetchone()[0]
        unmatched = db.execute(
            "SELECT relation_number FROM relations WHERE relation_number NOT IN (SELECT relation_number FROM links)"
        ).fetchone()[0]
        free_account = db.execute(
            "SELECT id FROM accounts WHERE id NOT IN (SELECT account_id FROM links) ORDER BY id"
        ).fetchone()[0]
        to_suggest = db.execute(
            "SELECT relation_number FROM admin_links WHERE division = ?", (to_suggest_division,)
        ).fetchone()[0]
        # Only a name and an address pair these two: no identifier that could conflict.
        db.execute(
            "UPDATE relations SET kvk = NULL, rsin = NULL, bsn = NULL, vat_number = NULL, payroll_tax_number = NULL"
            " WHERE relation_number = ?",
            (unmatched,),
        )
        postcode, street = db.execute(
            "SELECT postcode, street FROM addresses WHERE relation_number = ? ORDER BY type DESC", (unmatched,)
        ).fetchone()
        db.execute(
            "UPDATE accounts SET chamber_of_commerce = NULL, rsin = NULL, postcode = ?, address_line = ? WHERE id = ?",
            (postcode, street, free_account),
        )
        db.execute("DELETE FROM admin_links WHERE relation_number = ?", (to_suggest,))
        keys = {
            "relations": ("relation_number", {LINKED: relation, SUGGESTED: unmatched, TO_SUGGEST: to_suggest}),
            "addresses": ("relation_number", {LINKED: relation}),
            "contacts": ("relation_number", {LINKED: relation}),
            "accounts": ("id", {LINKED: linked, SUGGESTED: free_account}),
            "account_addresses": ("account_id", {LINKED: linked}),
        }
        for (table, column, rows), value in SEEDED.items():
            if rows == ALL:
                db.execute(f"UPDATE {table} SET {column} = ?", (value,))
            else:
                key, which = keys[table]
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, which[rows]))
    db.close()


# Every command that prints or exports relations, accounts, matches, differences, returns or vraagposten, with the
# seeded values it shows in full with --show-bsn (or privacy.show_bsn where it has no such option).
LINKED_CRM = {key for key in SEEDED if key[0] in ("relations", "addresses", "contacts") and key[2] == LINKED}
RETURNS = {("returns", "description", ALL), ("relations", "name", TO_SUGGEST)}
VRAAGPOSTEN = {("vraagposten", "description", ALL), ("relations", "name", LINKED)}
SYNCED = {
    ("relations", "name", LINKED), ("relations", "vat_number", LINKED), ("relations", "bsn", LINKED),
    ("accounts", "name", LINKED), ("accounts", "vat_number", LINKED), ("accounts", "bsn", LINKED),
}  # fmt: skip
SUGGESTION = {("relations", "name", SUGGESTED), ("accounts", "bsn", SUGGESTED), ("accounts", "vat_number", SUGGESTED)}
COMMANDS: dict[tuple[str, ...], set[tuple[str, str, str]]] = {
    ("crm", "list"): {("relations", "name", LINKED), ("relations", "name", SUGGESTED)},
    ("crm", "list", "--json"): {("relations", "name", LINKED), ("relations", "bsn", LINKED)},
    ("crm", "show", "{relation}"): LINKED_CRM,
    ("crm", "show", "{relation}", "--json"): LINKED_CRM,
    ("crm", "export", "{export}"): LINKED_CRM,
    ("crm", "export", "-"): LINKED_CRM,
    ("returns", "list"): {("relations", "name", TO_SUGGEST)},
    ("returns", "list", "--json"): RETURNS,
    ("returns", "list", "--kind", "vraagposten"): VRAAGPOSTEN,
    ("returns", "list", "--kind", "vraagposten", "--json"): VRAAGPOSTEN,
    ("returns", "show", "{document}"): {("returns", "description", ALL)},
    ("returns", "show", "{document}", "--json"): {("returns", "description", ALL)},
    ("match", "--dry-run"): {("relations", "name", SUGGESTED)},
    ("match", "--dry-run", "--all"): {("relations", "name", LINKED), ("accounts", "name", LINKED)},
    ("match", "--json"): {
        ("relations", "name", LINKED),
        ("accounts", "name", LINKED),
        ("relations", "name", SUGGESTED),
    },
    ("match", "review", "--stdin", "--json"): SUGGESTION,
    ("sync", "--dry-run"): SYNCED,
    ("sync", "--dry-run", "--json"): SYNCED,
    ("sync", "--json"): SYNCED,
    ("link-admin", "suggest"): {("relations", "name", TO_SUGGEST)},
    ("link-admin", "suggest", "--json"): {("relations", "name", TO_SUGGEST)},
    ("link-admin", "list", "--json"): {("relations", "name", LINKED)},
    # These print what a run did (counts, relation numbers, Exact's messages), not relation data: nothing seeded
    # is expected in full with --show-bsn, and none of it may leak without.
    ("fetch-returns",): set(),
    ("fetch-returns", "--json"): set(),
    ("feedback", "--pending", "--dry-run"): set(),
    ("status",): set(),
    ("status", "--json"): set(),
}
HAS_SHOW_BSN = ("crm", "match", "sync")


def _run(populated: World, home: Path, args: tuple[str, ...], *, show_bsn: bool) -> str:
    """Run one scanned command (``match review`` skipping every suggestion); stdout, stderr and any export."""
    export = home.parent / "export.csv"
    values = {"relation": populated.relation, "document": populated.document_id, "export": str(export)}
    command = [arg.format(**values) for arg in args]
    env = None
    if show_bsn and args[0] in HAS_SHOW_BSN:
        command.append("--show-bsn")
    elif show_bsn:
        env = {"EXACTLINK_PRIVACY__SHOW_BSN": "true"}
    result = run_cli(*command, input="s\n" * 20 if "review" in args else None, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout + result.stderr + (export.read_text(encoding="utf-8-sig") if export.exists() else "")


@pytest.mark.parametrize("args", list(COMMANDS), ids=" ".join)
def test_no_command_prints_a_seeded_bsn(populated: World, exactlink_home: Path, args: tuple[str, ...]) -> None:
    _seed(exactlink_home, populated)
    output = _run(populated, exactlink_home, args, show_bsn=False)
    leaked = {key: value for key, value in SEEDED.items() if _digits(value) in output}
    assert leaked == {}, leaked


@pytest.mark.parametrize("args", list(COMMANDS), ids=" ".join)
def test_show_bsn_shows_them_in_full(populated: World, exactlink_home: Path, args: tuple[str, ...]) -> None:
    _seed(exactlink_home, populated)
    output = _run(populated, exactlink_home, args, show_bsn=True)
    missing = {key: SEEDED[key] for key in COMMANDS[args] if SEEDED[key] not in output}
    assert missing == {}, missing


def test_show_bsn_shows_them(populated: World, exactlink_home: Path) -> None:
    _seed(exactlink_home, populated)
    shown = run_cli("crm", "show", populated.relation, "--json", "--show-bsn")
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["vat_number"] == "NL999900018B01" and data["payroll_tax_number"] == "999900043L01"
    assert data["bsn"] == "999911144" and data["name"] == "Bakker (BSN 999900055)"


@pytest.mark.parametrize("args", [("report", "--html"), ("returns", "list", "--ics")], ids=" ".join)
def test_the_overview_page_and_calendar_hold_no_bsn_even_with_show_bsn(
    populated: World, exactlink_home: Path, args: tuple[str, ...]
) -> None:
    """The page and the calendar are files that travel: masked whatever ``privacy.show_bsn`` says."""
    _seed(exactlink_home, populated)
    target = exactlink_home.parent / "overview-file"
    result = run_cli(*args, str(target), env={"EXACTLINK_PRIVACY__SHOW_BSN": "true"})
    assert result.exit_code == 0, result.stderr
    written = target.read_text(encoding="utf-8").replace("\r\n ", "")  # iCalendar lines unfolded
    assert "*****" in written  # a seeded value is on it, masked
    output = result.stdout + result.stderr + written
    leaked = {key: value for key, value in SEEDED.items() if _digits(value) in output}
    assert leaked == {}, leaked
