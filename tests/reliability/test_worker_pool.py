"""The worker pool: a run's timeout counts its own running time; workers die with the server.

The timeout test runs the dispatcher in this process on a real process pool
with fewer workers than the runs it holds, so runs wait in the pool; the other
test kills a real ``oqtant serve`` with ``kill -9`` while its workers run.
"""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.queue import Dispatcher, execute_run, make_executor
from tests.reliability.backends import (
    FAULT_HANG_MHZ,
    FAULT_SLOW_MHZ,
    read_run_log,
    read_run_times,
)
from tests.reliability.helpers import account, db_rows, server, wait_for
from tests.server.conftest import add_account, job_dict, make_settings, submit

FAULTY = "tests.reliability.backends:FaultyBackend"
SLOW = "tests.reliability.backends:SlowBackend"
RUN_TIMEOUT_S = 8.0
SLOW_RUN_S = 4.5  # two of them queued ahead of a run make it wait longer than the timeout


def _runs(data_dir, job_id: str) -> list[tuple]:
    return db_rows(
        data_dir,
        "SELECT r.run, r.status, r.error, r.seed FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE j.external_id = ? ORDER BY r.run",
        job_id,
    )


@pytest.mark.slow
def test_run_timeout_counts_from_the_start_of_the_run_not_its_wait_for_a_worker(
    tmp_path, monkeypatch
):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("OQTANT_TEST_RUN_SECONDS", str(SLOW_RUN_S))  # inherited by the workers
    monkeypatch.setenv("OQTANT_TEST_RUN_LOG", str(log))
    settings = make_settings(
        tmp_path, backend=FAULTY, executor="process", run_timeout_seconds=RUN_TIMEOUT_S
    )
    app = create_app(settings, start_dispatcher=False)
    alice = add_account(app, "alice")
    job = job_dict(runs=3)
    for values, final_mhz in zip(
        (i["values"] for i in job["inputs"]),
        (FAULT_SLOW_MHZ, FAULT_SLOW_MHZ, FAULT_HANG_MHZ),
        strict=True,
    ):
        values["rf_evaporation"]["frequencies_mhz"][-1] = final_mhz
    with TestClient(app) as client:
        job_id = submit(client, alice, job)["job_id"]
    # one worker process for three runs held at once: run 2 waits one slow run for the
    # worker, the hanging run 3 waits two (longer than the timeout) before it starts
    pool = make_executor("process", 1)
    failed_at: dict[int, float] = {}
    try:
        # the worker started and its backend loaded first, so the slow runs take just their time
        warm_up = json.dumps(job_dict()["inputs"][0]["values"])
        pool.submit(execute_run, FAULTY, warm_up, 0).result(timeout=120)
        dispatcher = Dispatcher(app.state.session_factory, settings, executor=pool, capacity=3)
        dispatcher.on_event = lambda event, claimed: (
            failed_at.setdefault(claimed.run, time.time()) if event == "failed" else None
        )
        dispatcher.run_until_idle(timeout=120)
    finally:
        for _, _, pid in read_run_log(log):  # the hung run's worker is not the dispatcher's
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        app.state.engine.dispose()
    runs = _runs(tmp_path, job_id)
    assert [(r, s) for r, s, *_ in runs] == [(1, "COMPLETE"), (2, "COMPLETE"), (3, "FAILED")], runs
    assert "timed out" in runs[2][2] and "run_timeout_seconds" in runs[2][2]
    # the hanging run did start, and was failed after about the timeout of its own running
    starts = {seed: when for event, seed, when in read_run_times(log) if event == "start"}
    hang_seed = runs[2][3]
    assert hang_seed in starts, "the hanging run was failed before it started"
    ran_s = failed_at[3] - starts[hang_seed]
    assert RUN_TIMEOUT_S - 1.0 < ran_s < RUN_TIMEOUT_S + 30, ran_s


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``processes`` still running (a zombie waiting to be reaped is not)."""
    out = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.server
@pytest.mark.slow
def test_kill_9_server_main_process_ends_its_worker_processes(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    srv = server(
        tmp_path, SLOW, workers=2, OQTANT_TEST_RUN_SECONDS="120", OQTANT_TEST_RUN_LOG=str(log)
    )
    with srv:
        children: list[psutil.Process] = []
        try:
            r = httpx.post(
                f"{srv.url}/api/v1/users/{uid}/jobs",
                json=job_dict(runs=2),
                headers=headers,
                timeout=10,
            )
            assert r.status_code == 201, r.text
            started = wait_for(
                lambda: len(read_run_log(log)) >= 2 and read_run_log(log), 60, "two runs to start"
            )
            children = psutil.Process(srv.process.pid).children(recursive=True)
            workers = {pid for _, _, pid in started}
            assert workers <= {c.pid for c in children}  # the runs execute in child processes
            os.kill(srv.process.pid, signal.SIGKILL)  # the main process only
            srv.process.wait(10)
            wait_for(lambda: not _alive(children), 15, "the worker processes to end")
        finally:
            for process in _alive(children):  # whatever outlived its server
                process.kill()
