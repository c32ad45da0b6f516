"""Start-up benchmark: how long `exactlink --help` takes, against the 0.3 s bar.

    uv run python -m bench.bench_startup [--runs 15]

Each run is a fresh process (what a user or cron pays). The median is reported, and also the
median of a bare ``python -c pass`` on the same machine, so the figure can be read as a ratio when
machines differ. Exits 1 when the median exceeds the bar.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

SECONDS_BAR = 0.3


def _median_seconds(command: list[str], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run(runs: int = 15) -> dict[str, Any]:
    """Time ``exactlink --help`` and a bare interpreter start; return the figures."""
    executable = shutil.which("exactlink")
    command = [executable, "--help"] if executable else [sys.executable, "-m", "exactlink", "--help"]
    _median_seconds(command, 2)  # warm the OS file cache; the first run after install is not typical
    help_seconds = _median_seconds(command, runs)
    python_seconds = _median_seconds([sys.executable, "-c", "pass"], runs)
    return {
        "help_seconds": round(help_seconds, 3),
        "python_seconds": round(python_seconds, 3),
        "ratio_to_bare_python": round(help_seconds / python_seconds, 1),
        "ratio_to_bar": round(help_seconds / SECONDS_BAR, 2),
        "ok": help_seconds < SECONDS_BAR,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    figures = run(parser.parse_args(argv).runs)
    print(
        f"exactlink --help: median {figures['help_seconds']:.3f} s over fresh processes "
        f"({figures['ratio_to_bar']:.0%} of the {SECONDS_BAR} s bar; bare python {figures['python_seconds']:.3f} s, "
        f"ratio {figures['ratio_to_bare_python']}x)"
    )
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
