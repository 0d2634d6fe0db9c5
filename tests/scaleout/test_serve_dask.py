"""``oqtant serve --dask-scheduler``: the API and its dispatcher, with runs on a Dask cluster."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from oqtant.demo import EmbeddedServer, free_port
from tests.scaleout.counting_backend import CALL_LOG_ENV, read_calls
from tests.scaleout.helpers import (
    COUNTING_BACKEND,
    REPO,
    DaskCluster,
    add_user,
    submit_jobs,
    token_subject,
    wait_for,
)

pytestmark = pytest.mark.server


def test_serve_sends_runs_to_the_dask_cluster(tmp_path):
    calls = tmp_path / "calls.log"
    with DaskCluster(tmp_path, 2, env={CALL_LOG_ENV: str(calls)}) as cluster:
        # EmbeddedServer gives the environment and the CLI; the server is started by hand
        server = EmbeddedServer(
            tmp_path / "srv",
            backend=COUNTING_BACKEND,
            extra_env={"PYTHONPATH": str(REPO), "OQTANT_POLL_SECONDS": "0.05"},
        )
        server.data_dir.mkdir(parents=True)
        server.port = free_port()
        log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oqtant.cli",
                "serve",
                "--port",
                str(server.port),
                "--dask-scheduler",
                cluster.address,
            ],
            env=server.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def healthy() -> bool:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    return httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(healthy, timeout_s=60, what="the server did not answer")
            token = add_user(server)
            ids = submit_jobs(server, token, n_jobs=2, runs=3)
            base = f"{server.url}/api/v1/users/{token_subject(token)}/jobs"
            headers = {"Authorization": f"Bearer {token}"}

            def statuses():
                found = [httpx.get(f"{base}/{i}", headers=headers).json()["status"] for i in ids]
                return found if all(s in ("COMPLETE", "FAILED") for s in found) else None

            assert wait_for(statuses, timeout_s=60, what="the jobs did not finish") == [
                "COMPLETE",
                "COMPLETE",
            ]
        finally:
            process.terminate()
            code = process.wait(timeout=30)
            log.close()
        banner = (tmp_path / "serve.log").read_text()
        assert f"Dask cluster at {cluster.address}, 2 worker(s)" in banner
        # uvicorn shuts down cleanly, then re-raises SIGTERM to report it
        assert code == 0 and "Application shutdown complete" in banner
        # the six runs executed on the Dask workers, once each
        logged = read_calls(calls)
        assert len(logged) == 6 and len({seed for seed, _, _ in logged}) == 6
        assert {pid for _, pid, _ in logged} <= cluster.worker_pids
