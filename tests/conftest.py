"""Shared fixtures: the two standard jobs of the domain, and the real job files."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

__all__ = ["ULTRACOLD_MATTER_JOB", "BARRIER_MANIPULATOR_JOB", "REAL_JOBS_DIR"]


def _real_jobs_dir() -> Path:
    """Where the real job files are: $OQTANT_REAL_JOBS_DIR, tests/data/real_jobs, or ../shared."""
    here = Path(__file__).resolve().parent
    candidates = [
        Path(os.environ.get("OQTANT_REAL_JOBS_DIR", here / "data" / "real_jobs")),
        here / "data" / "real_jobs",
        here.parents[1] / "shared" / "data" / "real_jobs",
    ]
    for folder in candidates:
        if any(folder.glob("*.json.gz")):
            return folder
    return candidates[1]


REAL_JOBS_DIR = _real_jobs_dir()

_RF_TIMES_MS = [-1600, -1200, -800, -400, 0]
_RF_POWERS_MW = [500.0, 500.0, 475.0, 360.0, 220.0]

ULTRACOLD_MATTER_JOB = {
    "name": "Example Ultracold Matter Generator Job",
    "job_type": "BEC",
    "inputs": [
        {
            "values": {
                "time_of_flight_ms": 8.0,
                "image_type": "TIME_OF_FLIGHT",
                "end_time_ms": 0.0,
                "rf_evaporation": {
                    "times_ms": _RF_TIMES_MS,
                    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.045],
                    "powers_mw": _RF_POWERS_MW,
                    "interpolation": "LINEAR",
                },
                "optical_barriers": None,
                "optical_landscape": None,
                "lasers": None,
            }
        }
    ],
}
"""The ultracold matter generator job, as the wire carries it."""

BARRIER_MANIPULATOR_JOB = {
    "name": "Example Barrier Manipulator Job",
    "job_type": "BARRIER",
    "inputs": [
        {
            "values": {
                "time_of_flight_ms": 7.0,
                "image_type": "IN_TRAP",
                "end_time_ms": 20.0,
                "rf_evaporation": {
                    "times_ms": _RF_TIMES_MS,
                    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.1],
                    "powers_mw": _RF_POWERS_MW,
                    "interpolation": "LINEAR",
                },
                "optical_barriers": [
                    {
                        "times_ms": [float(t) for t in range(0, 21, 2)],
                        "positions_um": [0.0] * 11,
                        "heights_khz": [float(h) for h in range(0, 51, 5)],
                        "widths_um": [1.0] * 11,
                        "interpolation": "LINEAR",
                        "shape": "GAUSSIAN",
                    }
                ],
                "optical_landscape": None,
                "lasers": None,
            }
        }
    ],
}
"""The barrier manipulator job: a Gaussian barrier at 0 um rising 0 -> 50 kHz over 20 ms."""


@pytest.fixture
def ultracold_matter_job_dict() -> dict:
    """A fresh copy of the ultracold matter generator job (wire dict)."""
    return copy.deepcopy(ULTRACOLD_MATTER_JOB)


@pytest.fixture
def barrier_manipulator_job_dict() -> dict:
    """A fresh copy of the barrier manipulator job (wire dict)."""
    return copy.deepcopy(BARRIER_MANIPULATOR_JOB)


@pytest.fixture(scope="session")
def real_job_paths() -> list[Path]:
    """The real job files of the reference service (``*.json.gz``)."""
    paths = sorted(REAL_JOBS_DIR.glob("*.json.gz"))
    assert paths, f"no real job files found in {REAL_JOBS_DIR}"
    return paths


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the test session (``tests.pgserver.PostgresServer``).

    Use ``postgres_server.create_database()`` for a fresh database (returns its URL).
    """
    from tests.pgserver import PostgresServer

    with PostgresServer() as server:
        yield server
