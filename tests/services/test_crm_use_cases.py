"""``crm`` (import, edit, set, list, show) on its own: an in-memory database, an export written inline, a frozen
clock; no server, no CLI. Direct synchronisation is off (the default), so nothing reaches Exact Online."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exactlink.errors import UsageError
from exactlink.services.crm import (
    RelationUnknown,
    edit_relation,
    import_crm,
    list_relations_view,
    set_sbr_start_date,
    show_relation,
)
from exactlink.store.relations import get_relation, get_sbr_start, relations_pending_push
from exactlink.store.runs import last_runs
from exactlink.workspace import Workspace
from tests.services.recorded import memory_workspace

# 10:00 in Amsterdam on 15 April 2026.
APRIL = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)
HEADER = "relatienummer;naam;kvk-nummer;bsn;telefoon;bezoekadres;bezoekadres postcode;bezoekadres plaats;iban"
BAKERY = "R001;Bakkerij De Vries B.V.;69599084;;015-1234567;Dorpsstraat 1;2601dc;Delft;NL91ABNA0417164300"
SALON = "R002;Kapsalon Anna;01234567;999993653;;Markt 3;9999 ZZ;Ergens;"
FLAGGED = "R003;Foute Gegevens;1234567;;;;;;"


@pytest.fixture
def ws() -> Iterator[Workspace]:
    workspace = memory_workspace(APRIL)
    yield workspace
    workspace.close()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "relaties.csv"
    path.write_text("\n".join([HEADER, BAKERY, SALON, FLAGGED]) + "\n", encoding="utf-8")
    return path


def test_import_writes_every_row_once_flags_bad_values_and_records_the_run(ws: Workspace, export: Path) -> None:
    preview = import_crm(ws, export, dry_run=True)
    assert preview.new == ["R001", "R002", "R003"] and get_relation(ws.db, "R001") is None

    report = import_crm(ws, export)

    assert report.counts()["new"] == 3 and [issue.relation_number for issue in report.flagged] == ["R003"]
    bakery = get_relation(ws.db, "R001")
    assert bakery is not None and (bakery.kvk, bakery.pending_push, bakery.issues) == ("69599084", True, [])
    flagged = get_relation(ws.db, "R003")
    assert flagged is not None and [issue["column"] for issue in flagged.issues] == ["kvk-nummer"]
    [run] = last_runs(ws.db)
    assert (run.command, run.outcome, run.summary["file"], run.summary["new"]) == ("crm import", "ok", export.name, 3)

    again = import_crm(ws, export)
    assert (again.new, [c.relation_number for c in again.changed]) == ([], [])
    assert again.unchanged == ["R001", "R002", "R003"]


def test_a_changed_row_reports_the_fields_that_changed(ws: Workspace, export: Path) -> None:
    import_crm(ws, export)
    export.write_text("\n".join([HEADER, BAKERY.replace("015-1234567", "015-7654321"), SALON]) + "\n", "utf-8")

    report = import_crm(ws, export)

    [change] = report.changed
    assert (change.relation_number, change.changed_fields) == ("R001", ["phone"])


def test_edit_normalises_refuses_invalid_values_and_drops_the_import_flag(ws: Workspace, export: Path) -> None:
    import_crm(ws, export)
    ws.db.conn.execute("UPDATE relations SET pending_push = 0")

    with pytest.raises(UsageError, match="KvK number"):
        edit_relation(ws, "R003", {"kvk": "123"})
    assert edit_relation(ws, "R003", {"kvk": "12345678"}, dry_run=True)["changed"] == ["kvk"]
    assert relations_pending_push(ws.db) == []

    result = edit_relation(ws, "R003", {"kvk": "1234 5678", "name": "Foute Gegevens"})

    assert (result["changed"], result["unchanged"]) == (["kvk"], ["name"])
    stored = get_relation(ws.db, "R003")
    assert stored is not None and (stored.kvk, stored.issues) == ("12345678", [])
    assert relations_pending_push(ws.db) == ["R003"]
    with pytest.raises(RelationUnknown):
        edit_relation(ws, "R999", {"phone": "015-1234567"})


def test_set_sbr_start_goes_back_at_most_30_days_from_the_frozen_day(ws: Workspace, export: Path) -> None:
    import_crm(ws, export)

    result = set_sbr_start_date(ws, "R001", "2026-04-01")

    assert (result["previous"], result["sbr_start_date"], result["changed"]) == (None, "2026-04-01", True)
    assert str(get_sbr_start(ws.db, "R001")) == "2026-04-01"
    with pytest.raises(UsageError, match="before 2026-03-16"):
        set_sbr_start_date(ws, "R001", "2026-03-15")  # 31 days before the frozen day
    cleared = set_sbr_start_date(ws, "R001", None, clear=True)
    assert cleared["previous"] == "2026-04-01" and get_sbr_start(ws.db, "R001") is None


def test_list_and_show_mask_the_bsn_unless_asked(ws: Workspace, export: Path) -> None:
    import_crm(ws, export)

    listed = {row["relation"]: row for row in list_relations_view(ws)}
    assert listed["R002"]["bsn"] == "*****3653"
    assert [row["relation"] for row in list_relations_view(ws, flagged=True)] == ["R003"]
    assert show_relation(ws, "R002", show_bsn=True)["bsn"] == "999993653"
    shown = show_relation(ws, "R001")
    assert shown["addresses"][0]["postcode"] == "2601 DC" and shown["account"] is None
    assert shown["returns_window_start"] <= "2026-04-15"


def test_export_writes_what_import_reads_with_the_bsn_masked(ws: Workspace, export: Path, tmp_path: Path) -> None:
    from exactlink.services.crm import export_crm

    import_crm(ws, export)

    count, text = export_crm(ws, None)
    assert count == 3 and text is not None
    assert "999993653" not in text, "the BSN is masked unless asked for"
    written = tmp_path / "terug.csv"
    assert export_crm(ws, written, show_bsn=True) == (3, None)
    assert written.stat().st_mode & 0o777 == 0o600

    again = memory_workspace(APRIL)
    report = import_crm(again, written)
    assert report.new == ["R001", "R002", "R003"]
    salon = get_relation(again.db, "R002")
    assert salon is not None and (salon.bsn, salon.kvk) == ("999993653", "01234567")
    again.close()
