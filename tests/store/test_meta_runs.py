"""Key/value state, the office administration and the run history."""

from __future__ import annotations

from exactlink.store.db import open_db
from exactlink.store.meta import delete_value, get_office, get_value, set_office, set_value
from exactlink.store.runs import finish_run, last_runs, start_run
from tests.stamps import wall_now


def test_values_round_trip_and_replace() -> None:
    db = open_db()
    assert get_value(db, "missing") is None
    assert get_value(db, "missing", 5) == 5
    set_value(db, "k", {"a": [1, 2]}, now=wall_now())
    set_value(db, "k", {"a": [3]}, now=wall_now())
    assert get_value(db, "k") == {"a": [3]}
    assert delete_value(db, "k") is True
    assert delete_value(db, "k") is False


def test_office_administration() -> None:
    db = open_db()
    assert get_office(db) is None
    office = set_office(db, 123456, "Kantoor Jansen", now=wall_now())
    again = get_office(db)
    assert again == office
    assert again is not None and again.division == 123456 and again.name == "Kantoor Jansen"


def test_runs_are_recorded_newest_first_and_masked() -> None:
    db = open_db()
    first = start_run(db, "fetch-returns", now=wall_now())
    finish_run(db, first, "ok", {"returns": 3, "note": "relation 999993653"}, now=wall_now())
    second = start_run(db, "match", now=wall_now())
    runs = last_runs(db)
    assert [run.id for run in runs] == [second, first]
    assert runs[0].outcome == "running"  # this process is alive and has not finished it
    assert runs[1].outcome == "ok"
    assert runs[1].summary["returns"] == 3
    assert "999993653" not in runs[1].summary["note"]
    assert [run.id for run in last_runs(db, command="fetch-returns")] == [first]
    assert len(last_runs(db, limit=1)) == 1


def test_run_of_a_dead_process_is_reported_interrupted() -> None:
    db = open_db()
    run_id = start_run(db, "sync", now=wall_now())
    db.conn.execute("UPDATE runs SET pid = 2147483646 WHERE id = ?", (run_id,))
    assert last_runs(db)[0].outcome == "interrupted"
