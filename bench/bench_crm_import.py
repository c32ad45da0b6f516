"""How long `exactlink crm import` takes for a 100,000-row CRM export (the office's whole CRM, and then some).

    uv run python -m bench --only crm_import
    uv run python -m bench.bench_crm_import [--rows 100000]

The bar (45 s for 100,000 rows on a 2-core machine) keeps a very large export a coffee break, not a lunch. The
import runs in-process through the CLI, as the tests run it, in a home of its own; the figure is reported with its
ratio to the bar scaled to the row count. The suite imports 10,000 rows for correctness (tests/security/
test_bad_input.py); how fast is this benchmark's business.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECONDS_BAR = 45.0
BAR_ROWS = 100_000
HEADER = "relatienummer;naam;kvk-nummer;email;bezoekadres;bezoekadres postcode;bezoekadres plaats"
ROW = "R{n:06d};Bedrijf {n} B.V.;{kvk};info{n}@example.nl;Straat {n};1234 AB;Delft"


def write_export(path: Path, rows: int) -> None:
    """A semicolon-separated CRM export of ``rows`` companies with a KvK number, e-mail and visit address each."""
    lines = [HEADER, *(ROW.format(n=n, kvk=10_000_000 + n) for n in range(rows))]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def run(rows: int = BAR_ROWS) -> dict[str, Any]:
    """Import ``rows`` rows into an empty home; the seconds, against the bar scaled to that size."""
    from typer.testing import CliRunner

    from exactlink.cli.main import app

    with tempfile.TemporaryDirectory(prefix="exactlink-bench-import-") as folder:
        home = Path(folder)
        export = home / "crm.csv"
        write_export(export, rows)
        saved = os.environ.get("EXACTLINK_HOME")
        os.environ["EXACTLINK_HOME"] = str(home)
        try:
            started = time.perf_counter()
            result = CliRunner().invoke(app, ["crm", "import", str(export), "--json"])
            seconds = time.perf_counter() - started
        finally:
            if saved is None:
                os.environ.pop("EXACTLINK_HOME", None)
            else:
                os.environ["EXACTLINK_HOME"] = saved
        if result.exit_code != 0:
            raise RuntimeError(f"crm import exited {result.exit_code}: {result.output[-2000:]}")
        new = json.loads(result.stdout)["counts"]["new"]
        connection = sqlite3.connect(home / "exactlink.db")
        try:
            stored = connection.execute("SELECT count(*) FROM relations").fetchone()[0]
        finally:
            connection.close()
    bar = SECONDS_BAR * rows / BAR_ROWS
    return {
        "rows": rows,
        "new": new,
        "stored": stored,
        "seconds": round(seconds, 2),
        "bar_seconds": bar,
        "ratio_to_bar": round(seconds / bar, 2),
        "ok": seconds < bar and new == stored == rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=BAR_ROWS)
    args = parser.parse_args(argv)
    figures = run(args.rows)
    print(json.dumps(figures, indent=2))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
