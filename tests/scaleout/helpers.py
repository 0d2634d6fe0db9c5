"""Processes of a scaled-out service for tests and benchmarks: workers and a Dask cluster.

``WorkerProcess`` is one ``oqtant worker`` process; ``DaskCluster`` is a
``dask scheduler`` and N ``dask worker`` processes on the loopback interface.
``submit_jobs`` queues jobs over HTTP through an API-only server.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Self

import httpx

from oqtant.demo import EmbeddedServer, free_port
from tests.conftest import ULTRACOLD_MATTER_JOB

__all__ = [
    "COUNTING_BACKEND",
    "REPO",
    "DaskCluster",
    "WorkerProcess",
    "add_user",
    "job_dict",
    "queue_jobs",
    "submit_jobs",
    "token_subject",
    "wait_for",
]

REPO = Path(__file__).resolve().parents[2]
COUNTING_BACKEND = "tests.scaleout.counting_backend:CountingBackend"
PASSWORD = "scale-out-password"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def wait_for(predicate, *, timeout_s: float, what: str, interval_s: float = 0.1):
    """Poll ``predicate()`` until it returns something truthy; return it, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s:g} s")
        time.sleep(interval_s)


class WorkerProcess:
    """An ``oqtant worker`` process; its output goes to ``log_file``."""

    def __init__(self, database_url: str, log_file: Path, *args: str, env: dict | None = None):
        self.log_file = Path(log_file)
        self._log = open(self.log_file, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oqtant.cli", "worker", "--database-url", database_url, *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_env(env),
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_file.read_text()

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Wait until the worker says it takes runs."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited ({self.process.returncode}):\n{self.output()}")
            return "run(s) at once" in self.output()

        wait_for(ready, timeout_s=timeout_s, what="the worker did not start")

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM, wait; returns the exit code (killed after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


class DaskCluster:
    """A Dask scheduler and ``n_workers`` single-threaded workers on 127.0.0.1, as processes."""

    def __init__(self, folder: Path, n_workers: int = 2, *, env: dict | None = None):
        self.folder = Path(folder)
        self.n_workers = n_workers
        self.env = _env(env)
        self.port = 0
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list = []

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        dask = str(Path(sys.executable).parent / "dask")
        return subprocess.Popen(
            [dask, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )

    def start(self) -> DaskCluster:
        """Start the scheduler and the workers; wait until every worker has joined."""
        from distributed import Client

        self.port = free_port()
        self.scheduler = self._spawn(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-dashboard",
            "--no-show",
        )
        for i in range(self.n_workers):
            self.workers.append(
                self._spawn(
                    f"worker{i}",
                    "worker",
                    self.address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                )
            )
        with Client(self.address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(self.n_workers, timeout=90)
        return self

    @property
    def worker_pids(self) -> set[int]:
        return {p.pid for p in self.workers}

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            if process is None:
                continue
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._logs:
            log.close()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_user(server: EmbeddedServer) -> str:
    """A user with room for many jobs; returns an access token."""
    name = f"user-{uuid.uuid4().hex[:8]}"
    server.cli("user", "add", name, "--password-stdin", input=PASSWORD + "\n")
    server.cli("user", "limits", name, "--daily-limit", "100000", "--max-pending-jobs", "100000")
    return server.cli("user", "token", name).strip()


def job_dict(i: int, runs: int) -> dict:
    """BEC job number ``i`` with ``runs`` runs of distinct final RF frequencies (wire dict)."""
    job = copy.deepcopy(ULTRACOLD_MATTER_JOB)
    job["name"] = f"scale-out {i}"
    inputs = []
    for r in range(runs):
        one = copy.deepcopy(job["inputs"][0])
        one["values"]["rf_evaporation"]["frequencies_mhz"][-1] = 0.02 + 0.01 * r
        inputs.append(one)
    job["inputs"] = inputs
    return job


def submit_jobs(server: EmbeddedServer, token: str, n_jobs: int, runs: int) -> list[str]:
    """Submit ``n_jobs`` BEC jobs of ``runs`` runs each over HTTP; returns job ids."""
    headers = {"Authorization": f"Bearer {token}"}
    ids = []
    user_id = token_subject(token)
    with httpx.Client(headers=headers, timeout=30) as client:
        for i in range(n_jobs):
            answer = client.post(
                f"{server.url}/api/v1/users/{user_id}/jobs", json=job_dict(i, runs)
            )
            answer.raise_for_status()
            ids.append(answer.json()["job_id"])
    return ids


def queue_jobs(database_url: str, n_jobs: int, runs: int) -> None:
    """Migrate ``database_url`` and queue jobs straight into it (no API server)."""
    from oqtant.server.db import crud, make_engine, make_session_factory, upgrade_database
    from oqtant.server.schemas import JobSubmit

    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            user = crud.create_user(
                session=session,
                name=f"user-{uuid.uuid4().hex[:8]}",
                password=PASSWORD,
                daily_limit=100_000,
                max_runs_per_job=30,
                max_pending_jobs=100_000,
            )
            for i in range(n_jobs):
                crud.submit_job(
                    session=session,
                    user_id=user.id,
                    job=JobSubmit.model_validate(job_dict(i, runs)),
                )
    finally:
        engine.dispose()


def token_subject(token: str) -> str:
    """The user's external id: the subject of the access token."""
    import base64
    import json

    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["sub"]
