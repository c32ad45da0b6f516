"""A BSN is masked in every output of relations, returns and vraagposten: one home, ``domain/privacy.py``.

The property tests feed generated BSNs (any 9 digits passing the 11-proef) through every kind of field: the
BSN itself, an eenmanszaak's old-form OB number ``NL<BSN>B01``, a loonheffingennummer ``<BSN>L01``, and free
text. The scan seeds a BSN into every text field of a relation, a return and a vraagpost, runs every command
that prints them, with and without ``--json``, and finds none of them unless ``--show-bsn``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exactlink.domain.privacy import kind_of_field, mask_personal, mask_view
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


# -- the scan over real commands -------------------------------------------------------------------------------------

# Each passes the 11-proef (RvIG's test range), one per field so that a leak names its field.
SEEDED = {
    ("relations", "bsn"): "999911144",
    ("relations", "vat_number"): "NL999900018B01",
    ("relations", "payroll_tax_number"): "999900043L01",
    ("relations", "name"): "Bakker (BSN 999900055)",
    ("relations", "email"): "999900067@example.nl",
    ("relations", "legal_form"): "eenmanszaak 999900080",
    ("returns", "description"): "Aangifte BSN 999900092",
    ("returns", "period_description"): "kwartaal 999900109",
    ("vraagposten", "description"): "BSN 999911181 ontbreekt",
    ("accounts", "name"): "Eigenaar 999900122",
}


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[:9]


def _seed(home: Path, relation: str) -> None:
    db = sqlite3.connect(home / "exactlink.db")
    with db:
        for (table, column), value in SEEDED.items():
            where = " WHERE relation_number = ?" if table == "relations" else ""
            db.execute(f"UPDATE {table} SET {column} = ?{where}", (value, relation) if where else (value,))
    db.close()


COMMANDS = [
    ("crm", "list"),
    ("crm", "list", "--json"),
    ("crm", "show", "{relation}"),
    ("crm", "show", "{relation}", "--json"),
    ("returns", "list"),
    ("returns", "list", "--json"),
    ("returns", "list", "--kind", "vraagposten"),
    ("returns", "list", "--kind", "vraagposten", "--json"),
    ("returns", "show", "{document}"),
    ("returns", "show", "{document}", "--json"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_command_prints_a_seeded_bsn(populated: World, exactlink_home: Path, args: tuple[str, ...]) -> None:
    _seed(exactlink_home, populated.relation)
    values = {"relation": populated.relation, "document": populated.document_id}
    result = run_cli(*(arg.format(**values) for arg in args))
    assert result.exit_code == 0, result.stderr
    output = result.stdout + result.stderr
    leaked = {key: value for key, value in SEEDED.items() if _digits(value) in output}
    assert leaked == {}, leaked


def test_show_bsn_shows_them(populated: World, exactlink_home: Path) -> None:
    _seed(exactlink_home, populated.relation)
    shown = run_cli("crm", "show", populated.relation, "--json", "--show-bsn")
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["vat_number"] == "NL999900018B01" and data["payroll_tax_number"] == "999900043L01"
    assert data["bsn"] == "999911144" and data["name"] == "Bakker (BSN 999900055)"
