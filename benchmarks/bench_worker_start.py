"""Worker start-up benchmark: the imports a spawned worker process pays before its first run.

A process-pool worker unpickles ``execute_run`` and the pool's initializer, so it
imports ``oqtant.server.queue.execute`` and ``oqtant.server.queue.pool``; this
measures them with ``python -X importtime`` in fresh interpreters (the median of
a few) and compares with the whole web app (``oqtant.server.app``).

    python benchmarks/bench_worker_start.py [--repeat 5]

Target (2-core machine): < 0.5 s of imports for a worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

__all__ = ["import_seconds", "main"]

TARGET_S = 0.5
ROOT = Path(__file__).resolve().parents[1]
WORKER_IMPORTS = "import oqtant.server.queue.execute, oqtant.server.queue.pool"


def import_seconds(statement: str) -> float:
    """Seconds of imports of ``statement`` in a fresh interpreter (``-X importtime``, total)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    # each line: "import time: self | cumulative | name"; top-level imports are not indented
    total_us = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        top_level = len(parts) == 3 and parts[1].strip().isdigit() and parts[2][:2] != "  "
        if top_level:
            total_us += int(parts[1])
    return total_us / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    worker = statistics.median(import_seconds(WORKER_IMPORTS) for _ in range(args.repeat))
    app = statistics.median(import_seconds("import oqtant.server.app") for _ in range(args.repeat))
    verdict = "ok" if worker < TARGET_S else "SLOW"
    print(f"worker imports: {worker:.3f} s (target < {TARGET_S} s) {verdict}")
    print(f"web app imports, for comparison: {app:.3f} s")
    return 0 if worker < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
