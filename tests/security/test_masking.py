"""A BSN is masked wherever it is shown, also inside an OB number or a loonheffingennummer.

An eenmanszaak's OB number from before 2020 is ``NL`` + the owner's BSN + ``B01``, and a natural person's
loonheffingennummer is the BSN + ``L01``; so those are masked like the BSN itself (``NL*****1144B01``) in the
sync diff, run summaries and log lines, unless ``--show-bsn``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from exactlink.domain.privacy import mask_bsn_in_text
from exactlink.logging_setup import redact
from tests.cli import run_cli
from tests.security.conftest import World

BSN = "999911144"  # passes the 11-proef (RvIG's test range)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"bsn {BSN}", "bsn *****1144"),
        (f"NL{BSN}B01", "NL*****1144B01"),
        (f"nl{BSN}b02", "nl*****1144b02"),
        (f"{BSN}L01", "*****1144L01"),
        (f"vat_number: NL{BSN}B01 -> NL999900018B01", "vat_number: NL*****1144B01 -> NL*****0018B01"),
        ("NL123456789B01", "NL123456789B01"),  # fails the 11-proef: a btw-id, not a BSN
        ("KvK 69599084, IBAN NL91ABNA0417164300", "KvK 69599084, IBAN NL91ABNA0417164300"),
    ],
)
def test_bsns_are_masked_inside_tax_numbers(text: str, masked: str) -> None:
    assert mask_bsn_in_text(text) == masked
    assert redact(text) == masked


def test_the_sync_diff_masks_a_bsn_inside_an_ob_number(populated: World, exactlink_home: Path) -> None:
    db = sqlite3.connect(exactlink_home / "exactlink.db")
    with db:
        db.execute("UPDATE relations SET vat_number = ? WHERE relation_number = ?", (f"NL{BSN}B01", populated.relation))
    db.close()
    masked = run_cli("sync", "--dry-run", "--relation", populated.relation, "--json")
    assert masked.exit_code == 0, masked.stderr
    assert BSN not in masked.stdout + masked.stderr
    assert "NL*****1144B01" in masked.stdout, "the difference is shown, masked"
    shown = run_cli("sync", "--dry-run", "--relation", populated.relation, "--json", "--show-bsn")
    assert f"NL{BSN}B01" in shown.stdout
    assert json.loads(shown.stdout)["dry_run"] is True
