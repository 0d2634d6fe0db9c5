"""Calibrate the emulated apparatus on a lab's own job files.

    PYTHONPATH=. python scripts/calibrate_emulator.py [FOLDER] [--tof-runs 3] [--in-trap-runs 2]
        [--parameters capture_fraction,stage_heating,...] [--coarse 10] [--fine 2] [--seeds 1]

FOLDER holds job files written by ``write_job_to_file`` on the machine (``*.json`` or
``*.json.gz``; default: $OQTANT_REAL_JOBS_DIR or /work/shared/data/real_jobs, else
tests/data/real_jobs). Prints the fitted physical parameters with their one-sigma
uncertainties and the ``ApparatusSettings`` to use. See docs/emulator.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from oqtant.emulator.calibrate import DEFAULT_PARAMETERS, PARAMETERS, calibrate, load_real_runs

_DEFAULTS = (Path("/work/shared/data/real_jobs"), Path(__file__).parents[1] / "tests/data/real_jobs")


def default_folder() -> Path:
    env = os.environ.get("OQTANT_REAL_JOBS_DIR")
    if env:
        return Path(env)
    return next((f for f in _DEFAULTS if f.is_dir()), _DEFAULTS[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None)
    parser.add_argument("--tof-runs", type=int, default=3, help="TOF runs used (subsampled)")
    parser.add_argument("--in-trap-runs", type=int, default=2, help="in-trap runs used")
    parser.add_argument("--parameters", default=",".join(DEFAULT_PARAMETERS),
                        help="comma-separated, of: " + ", ".join(PARAMETERS))
    parser.add_argument("--coarse", type=int, default=10, help="evaluations of the fast stage")
    parser.add_argument("--fine", type=int, default=2, help="evaluations of the full stage")
    parser.add_argument("--seeds", type=int, default=1, help="emulator seeds per run")
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    runs = load_real_runs(folder)
    print(f"{len(runs)} real runs in {folder} "
          f"({sum(r.in_trap for r in runs)} in trap)")
    start = time.perf_counter()
    result = calibrate(
        runs,
        [p.strip() for p in args.parameters.split(",") if p.strip()],
        tof_runs=args.tof_runs,
        in_trap_runs=args.in_trap_runs,
        seeds=range(args.seeds),
        coarse_evaluations=args.coarse,
        fine_evaluations=args.fine,
    )
    print(result.report())
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
