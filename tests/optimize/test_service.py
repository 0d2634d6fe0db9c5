"""The loop against a real ``oqtant serve``: batches as jobs, the quota, resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest

from oqtant.demo import EmbeddedServer
from oqtant.errors import QuotaExceededError
from oqtant.login import ClientSettings, password_login
from oqtant.optimize import optimize
from oqtant.optimize._engines import ATTR_JOB
from oqtant.oqtant_client import OqtantClient

from ._study_process import SPACE
from .helpers import evap_design, tof_atoms

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "optimize-password-" + "x" * 8


def _server(folder: Path, backend: str | None) -> EmbeddedServer:
    return EmbeddedServer(
        folder, workers=2, backend=backend,
        extra_env={"PYTHONPATH": str(REPO), "OQTANT_POLL_SECONDS": "0.05",
                   "OQTANT_TEST_RUN_DELAY_S": "0.2",
                   "OQTANT_SECRET_KEY": "optimize-secret-key-of-at-least-32-bytes!"},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with _server(tmp_path_factory.mktemp("optimize_server"),
                 "tests.optimize.helpers:SlowBackend") as srv:
        yield srv


def _user(server: EmbeddedServer, *limits: str) -> str:
    name = f"optimizer-{uuid.uuid4().hex[:10]}"
    server.cli("user", "add", name, "--password-stdin", input=PASSWORD + "\n")
    if limits:
        server.cli("user", "limits", name, *limits)
    return password_login(name, PASSWORD, settings=ClientSettings(url=server.url))


def _client(server: EmbeddedServer, token: str) -> OqtantClient:
    client = OqtantClient(settings=ClientSettings(url=server.url, poll_interval_s=0.05),
                          token=token)
    client.verbosity = 0
    return client


def _jobs(client: OqtantClient) -> list[dict]:
    return client.search_jobs(limit=100)


def test_batches_go_as_multi_run_jobs_and_wait_for_the_quota(server):
    """4 runs a job at most, one pending job at most: a batch of 8 is two jobs, one waits."""
    client = _client(server, _user(server, "--max-runs-per-job", "4", "--max-pending-jobs", "1"))
    refused = []
    submit = client.submit_job

    def counting_submit(job, *args, **kwargs):
        try:
            return submit(job, *args, **kwargs)
        except QuotaExceededError:
            refused.append(job.name)
            raise

    client.submit_job = counting_submit
    result = optimize(evap_design, tof_atoms, SPACE, runs=12, batch_size=8, sampler="tpe",
                      client=client, progress=False)
    rows = result.trials
    assert [r["state"] for r in rows] == ["COMPLETE"] * 12
    jobs = _jobs(client)
    assert len(jobs) == 3 and all(j["input_count"] == 4 for j in jobs)
    assert {r["job_id"] for r in rows} == {str(j["external_id"]) for j in jobs}
    assert sorted(r["runs"][0] for r in rows) == sorted([1, 2, 3, 4] * 3)
    assert refused  # the second job of the first batch waited for the first one
    best = result.best_matter
    assert best.job_id == result.best_trial.user_attrs[ATTR_JOB]
    assert float(best.output.tof_atom_number) == result.best_value


def test_resume_after_the_optimizer_is_killed_repeats_no_run(server, tmp_path):
    token = _user(server, "--max-runs-per-job", "4", "--max-pending-jobs", "2")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.optimize._study_process", server.url, token, storage, "16"],
        env=env, cwd=REPO, stderr=subprocess.PIPE,
    )
    killed_with_job = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            try:
                study = optuna.load_study(study_name="on the service", storage=storage)
                trials = study.get_trials(deepcopy=False)
            except Exception:  # noqa: BLE001 - the study is still being created
                trials = []
            running = [t for t in trials if t.state.name == "RUNNING" and ATTR_JOB in t.user_attrs]
            if running and any(t.state.name == "COMPLETE" for t in trials):
                process.send_signal(signal.SIGKILL)
                killed_with_job = running[0].user_attrs[ATTR_JOB]
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None and killed_with_job is None:
            process.kill()
        process.wait(timeout=30)
    assert killed_with_job is not None, process.stderr.read().decode()[-2000:]

    client = _client(server, token)
    result = optimize(evap_design, tof_atoms, SPACE, runs=16, batch_size=4, sampler="tpe",
                      seed=1, client=client, storage=storage, study_name="on the service",
                      progress=False)
    rows = result.trials
    # a trial killed while its parameters were drawn was never run: failed, not repeated
    assert len(rows) == 16
    scored = [r for r in rows if r["state"] == "COMPLETE"]
    assert all(r["state"] == "COMPLETE" or "never run" in r["fail_reason"] for r in rows)
    jobs = _jobs(client)
    # every run was made once: one job per batch, none submitted twice
    assert sum(j["input_count"] for j in jobs) == len(scored) >= 12
    assert {str(j["external_id"]) for j in jobs} == {r["job_id"] for r in scored}
    assert killed_with_job in {r["job_id"] for r in rows}


def test_failed_runs_on_the_service_are_marked_failed_not_scored(server):
    """Runs above 10 MHz fail on this server's backend: their jobs end INCOMPLETE."""
    client = _client(server, _user(server, "--max-runs-per-job", "8"))
    result = optimize(evap_design, tof_atoms, {"final_mhz": (1.0, 20.0)}, runs=8, batch_size=8,
                      sampler="random", seed=4, client=client, progress=False)
    rows = result.trials
    failed = [r for r in rows if r["state"] == "FAIL"]
    scored = [r for r in rows if r["state"] == "COMPLETE"]
    assert failed and scored
    assert all(r["params_final_mhz"] > 10.0 and "failed" in r["fail_reason"] for r in failed)
    assert all(r["params_final_mhz"] <= 10.0 for r in scored)
    [job] = _jobs(client)
    assert job["status"] == "INCOMPLETE" and job["input_count"] == 8


@pytest.fixture(scope="module")
def emulator_server(tmp_path_factory):
    with _server(tmp_path_factory.mktemp("optimize_emulator"), None) as srv:
        yield srv


def test_end_to_end_on_the_emulated_apparatus(emulator_server):
    client = _client(emulator_server, _user(emulator_server))

    def design(p):
        return evap_design({"final_mhz": p["final_khz"] / 1000.0})

    result = optimize(design, lambda m: m.output.condensed_atom_number,
                      {"final_khz": (5.0, 40.0)}, runs=4, batch_size=4, sampler="random",
                      client=client, progress=False)
    [job] = _jobs(client)
    assert job["input_count"] == 4 and job["status"] == "COMPLETE"
    assert result.best_value > 1e3
    assert result.best_matter.output.condensed_atom_number == result.best_value
