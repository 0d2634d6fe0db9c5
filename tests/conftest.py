"""Shared fixtures: the two standard jobs of the domain, and the real job files."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

# the cheapest argon2 parameters for every account the tests create (servers they
# start inherit it); the production default is tested in tests/server/test_auth.py
os.environ.setdefault("OQTANT_PASSWORD_HASH_COST", "test")
# workers draw no figures as runs complete (about 2 s of matplotlib per run) unless a test
# asks for it (figures_at_completion=True, as tests/web/test_figures.py does)
os.environ.setdefault("OQTANT_FIGURES_AT_COMPLETION", "false")

from oqtant.standard_jobs import barrier_manipulator_job, ultracold_matter_job

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

# The two standard jobs of the service, as the wire carries them (checked against
# DOMAIN.md's numbers in tests/client/test_standard_jobs.py).
ULTRACOLD_MATTER_JOB = ultracold_matter_job
BARRIER_MANIPULATOR_JOB = barrier_manipulator_job


@pytest.fixture(autouse=True)
def _no_current_client():
    """Each test starts without the client an earlier get_client() made current."""
    from oqtant.client import _session

    _session._current.clear()
    yield
    _session._current.clear()


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
