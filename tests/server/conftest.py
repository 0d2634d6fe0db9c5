"""Fixtures of the server tests: an app on a temporary SQLite file, users and their tokens."""

from __future__ import annotations

import concurrent.futures as cf
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.auth.security import create_access_token
from oqtant.server.db import crud
from oqtant.settings import Settings
from tests.conftest import BARRIER_MANIPULATOR_JOB, ULTRACOLD_MATTER_JOB

FAST = "tests.server.fast_backend:FastBackend"


@dataclass
class Account:
    """A user of the test server and what a client needs to act as them."""

    name: str
    password: str
    external_id: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def base(self) -> str:
        return f"/api/v1/users/{self.external_id}"


def make_settings(tmp_path, **overrides) -> Settings:
    """Settings on a SQLite file in ``tmp_path`` with the fast backend and thread workers."""
    base = {
        "data_dir": tmp_path,
        "backend": FAST,
        "sim_backend": FAST,
        "executor": "thread",
        "workers": 1,
        "poll_seconds": 0.02,
        "lease_seconds": 30.0,
        "default_daily_limit": 1000,
        "default_max_pending_jobs": 1000,
        "default_sim_daily_limit": 1000,
        "default_sim_max_pending_jobs": 1000,
    }
    base.update(overrides)
    return Settings(**base)


def add_account(app, name: str, *, admin: bool = False, password: str = "correct horse") -> Account:
    settings = app.state.settings
    with app.state.session_factory() as session:
        user = crud.create_user(
            session=session,
            name=name,
            password=password,
            is_admin=admin,
            daily_limit=settings.default_daily_limit,
            max_runs_per_job=settings.default_max_runs_per_job,
            max_pending_jobs=settings.default_max_pending_jobs,
            sim_daily_limit=settings.default_sim_daily_limit,
            sim_max_pending_jobs=settings.default_sim_max_pending_jobs,
        )
    token = create_access_token(user.external_id, secret_key=app.state.secret_key, ttl_minutes=60)
    return Account(name, password, user.external_id, token)


def job_dict(
    kind: str = "bec",
    *,
    name: str | None = None,
    final_mhz: float | None = None,
    runs: int = 1,
    sim: bool = False,
) -> dict:
    """A wire job: the standard BEC or barrier job, optionally renamed, retuned, multi-run."""
    job = copy.deepcopy(ULTRACOLD_MATTER_JOB if kind == "bec" else BARRIER_MANIPULATOR_JOB)
    if name:
        job["name"] = name
    if final_mhz is not None:
        job["inputs"][0]["values"]["rf_evaporation"]["frequencies_mhz"][-1] = final_mhz
    job["inputs"] = [copy.deepcopy(job["inputs"][0]) for _ in range(runs)]
    if sim:
        job["sim"] = True
    return job


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings):
    """An app whose dispatcher is stepped by hand (``app.state.dispatcher.run_until_idle()``)."""
    executor = cf.ThreadPoolExecutor(max_workers=1)
    application = create_app(settings, executor=executor, start_dispatcher=False)
    yield application
    executor.shutdown(wait=False, cancel_futures=True)
    application.state.engine.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def alice(app) -> Account:
    return add_account(app, "alice")


@pytest.fixture
def bob(app) -> Account:
    return add_account(app, "bob")


@pytest.fixture
def admin(app) -> Account:
    return add_account(app, "root", admin=True)


def submit(client: TestClient, who: Account, job: dict | None = None, **headers) -> dict:
    """Submit ``job`` (default: the BEC job) as ``who``; asserts 201 and returns the answer."""
    r = client.post(f"{who.base}/jobs", json=job or job_dict(), headers={**who.headers, **headers})
    assert r.status_code == 201, r.text
    return r.json()
