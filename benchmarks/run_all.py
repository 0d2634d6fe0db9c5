"""Run every benchmark in this folder and print its figures.

Each ``bench_*.py`` script prints what it measured, the goal and the ratio.
``make bench`` runs them all, each in a process of its own so that one
benchmark's memory and threads never colour another's figures;
``python benchmarks/run_all.py projection simulator`` runs the named ones.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    print(f"oqtant benchmarks on {_machine()}", flush=True)
    failures = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"\n=== {name} ({path.name}) ===", flush=True)
        start = time.perf_counter()
        # a broken benchmark must not hide the others' figures
        code = subprocess.call([sys.executable, str(path)], cwd=HERE.parent)
        if code != 0:
            failures.append(name)
        print(f"--- {name}: {time.perf_counter() - start:.1f} s (exit {code})", flush=True)
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
