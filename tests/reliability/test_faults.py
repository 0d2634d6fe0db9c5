"""Faults: workers and servers killed, stopped, or running a backend that misbehaves.

Every test starts real ``oqtant serve`` processes on loopback (or, for the
backend faults, the app with a real process pool) and checks what the
database holds afterwards: each run stored once, nothing lost, nothing stuck.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from tests.reliability.backends import (
    FAULT_GARBAGE_MHZ,
    FAULT_HANG_MHZ,
    FAULT_RAISE_MHZ,
    FAULT_SLOW_MHZ,
    read_run_log,
)
from tests.reliability.helpers import account, db_rows, kill_hard, server, wait_for
from tests.server.conftest import job_dict, make_settings

SLOW = "tests.reliability.backends:SlowBackend"
FAULTY = "tests.reliability.backends:FaultyBackend"
FAST = "tests.server.fast_backend:FastBackend"
TERMINAL = {"COMPLETE", "FAILED", "INCOMPLETE", "CANCELLED"}


def _submit(url: str, uid: str, headers: dict, job: dict) -> str:
    r = httpx.post(f"{url}/api/v1/users/{uid}/jobs", json=job, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


def _status(url: str, uid: str, headers: dict, job_id: str) -> str:
    r = httpx.get(f"{url}/api/v1/users/{uid}/jobs/{job_id}", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["status"]


def _runs(data_dir, job_id: str) -> list[tuple]:
    """(run, status, attempts, has_output, seed) of each run of a job."""
    return db_rows(
        data_dir,
        "SELECT r.run, r.status, r.attempts, r.output_json IS NOT NULL, r.seed FROM runs r "
        "JOIN jobs j ON j.id = r.job_id WHERE j.external_id = ? ORDER BY r.run",
        job_id,
    )


def _assert_each_run_done_once(log, runs) -> None:
    done = Counter(seed for event, seed, _ in read_run_log(log) if event == "done")
    assert done == Counter(seed for *_, seed in runs), "a run finished twice or never"
    assert all(status == "COMPLETE" and has_output for _, status, _, has_output, _ in runs)


@pytest.mark.server
@pytest.mark.slow
def test_kill_9_worker_process_mid_run_retries_the_run_once(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    srv = server(
        tmp_path,
        SLOW,
        OQTANT_TEST_RUN_SECONDS="1.5",
        OQTANT_TEST_RUN_LOG=str(log),
        OQTANT_LEASE_SECONDS="3",
    )
    with srv:
        job_id = _submit(srv.url, uid, headers, job_dict(runs=3))
        _, seed, pid = wait_for(lambda: read_run_log(log), 30, "the first run to start")[0]
        assert pid != srv.process.pid  # the run executes in a worker process
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _status(srv.url, uid, headers, job_id) == "COMPLETE", 45, "the job")
        assert srv.process.poll() is None  # the server survived its worker
    runs = _runs(tmp_path, job_id)
    _assert_each_run_done_once(log, runs)
    starts = Counter(s for event, s, _ in read_run_log(log) if event == "start")
    assert starts[seed] == 2  # the killed run was executed again
    assert [attempts for _, _, attempts, _, _ in runs] == [2, 1, 1]


@pytest.mark.server
@pytest.mark.slow
def test_kill_9_server_mid_run_lease_expires_and_the_run_is_retried(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    env = {
        "OQTANT_TEST_RUN_SECONDS": "1.5",
        "OQTANT_TEST_RUN_LOG": str(log),
        "OQTANT_LEASE_SECONDS": "2",
    }
    srv = server(tmp_path, SLOW, **env)
    with srv:
        job_id = _submit(srv.url, uid, headers, job_dict(runs=2))
        wait_for(lambda: len(read_run_log(log)) >= 3, 30, "the second run to start")
        kill_hard(srv)  # the server and its workers, in the middle of run 2
    held = _runs(tmp_path, job_id)
    assert [(r, s) for r, s, *_ in held] == [(1, "COMPLETE"), (2, "RUNNING")]  # lease held
    with server(tmp_path, SLOW, **env) as srv:
        wait_for(lambda: _status(srv.url, uid, headers, job_id) == "COMPLETE", 45, "the job")
    runs = _runs(tmp_path, job_id)
    _assert_each_run_done_once(log, runs)
    assert [attempts for _, _, attempts, _, _ in runs] == [1, 2]


@pytest.mark.server
def test_kill_9_server_before_running_keeps_every_job_in_order(tmp_path):
    alice = account(tmp_path, "alice")
    bob = account(tmp_path, "bob")
    accepted = []
    with server(tmp_path, FAST, workers=0) as srv:  # accepts, runs nothing
        for i in range(8):
            uid, headers = alice if i % 2 == 0 else bob
            accepted.append((uid, headers, _submit(srv.url, uid, headers, job_dict(runs=2))))
        kill_hard(srv)
    with server(tmp_path, FAST, workers=1, OQTANT_EXECUTOR="thread") as srv:
        for uid, headers, job_id in accepted:
            done = functools.partial(_status, srv.url, uid, headers, job_id)
            wait_for(lambda done=done: done() == "COMPLETE", 30, job_id)
    rows = db_rows(tmp_path, "SELECT external_id, time_start FROM jobs ORDER BY time_start")
    assert [r[0] for r in rows] == [job_id for _, _, job_id in accepted]  # FIFO kept
    assert db_rows(tmp_path, "SELECT count(*) FROM runs WHERE status = 'COMPLETE'") == [(16,)]


@pytest.mark.server
def test_sigterm_finishes_the_run_in_hand_takes_no_more_and_exits(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    srv = server(tmp_path, SLOW, OQTANT_TEST_RUN_SECONDS="2", OQTANT_TEST_RUN_LOG=str(log))
    with srv:
        first = _submit(srv.url, uid, headers, job_dict())
        second = _submit(srv.url, uid, headers, job_dict())
        wait_for(lambda: read_run_log(log), 30, "the first run to start")
        t0 = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        code = srv.process.wait(20)
        elapsed = time.monotonic() - t0
    assert code == 0, code
    assert elapsed < 15
    assert db_rows(tmp_path, "SELECT external_id, status FROM jobs ORDER BY id") == [
        (first, "COMPLETE"),  # the run in hand was finished and stored
        (second, "PENDING"),  # nothing new was taken
    ]
    assert _runs(tmp_path, second)[0][:3] == (1, "PENDING", 0)


def test_backend_raising_hanging_or_returning_garbage_fails_that_run_only(tmp_path):
    settings = make_settings(
        tmp_path, backend=FAULTY, executor="process", run_timeout_seconds=6.0, poll_seconds=0.05
    )
    app = create_app(settings)
    from tests.server.conftest import add_account

    alice = add_account(app, "alice")
    job = job_dict(runs=4)
    for values, final_mhz in zip(
        (i["values"] for i in job["inputs"]),
        (FAULT_RAISE_MHZ, FAULT_HANG_MHZ, FAULT_GARBAGE_MHZ, 0.045),
        strict=True,
    ):
        values["rf_evaporation"]["frequencies_mhz"][-1] = final_mhz

    with TestClient(app) as client:

        def status(job_id):
            r = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers)
            return r.json()["status"] if r.json()["status"] in TERMINAL else None

        job_id = client.post(f"{alice.base}/jobs", json=job, headers=alice.headers).json()["job_id"]
        assert wait_for(lambda: status(job_id), 60, "the faulty job") == "INCOMPLETE"
        body = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers).json()
        assert body["failed_inputs"] == [1, 2, 3]
        errors = [
            client.get(f"{alice.base}/jobs/{job_id}?run={n}", headers=alice.headers).json()[
                "inputs"
            ][0]["error"]
            for n in (1, 2, 3)
        ]
        assert "RuntimeError: the RF amplifier tripped" in errors[0]
        assert "timed out" in errors[1] and "run_timeout_seconds" in errors[1]
        assert "invalid result" in errors[2]
        # the worker keeps serving
        good = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
        assert wait_for(lambda: status(good.json()["job_id"]), 30, "a good job") == "COMPLETE"
    assert db_rows(tmp_path, "SELECT count(*) FROM runs WHERE status = 'RUNNING'") == [(0,)]


@pytest.mark.server
def test_sigterm_to_a_worker_finishes_its_run_and_exits_0(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    with server(tmp_path, SLOW, workers=0) as srv:  # API only; runs go to the worker
        first = _submit(srv.url, uid, headers, job_dict())
        second = _submit(srv.url, uid, headers, job_dict())
        env = {
            **srv.env,
            "OQTANT_TEST_RUN_SECONDS": "2",
            "OQTANT_TEST_RUN_LOG": str(log),
            "OQTANT_POLL_SECONDS": "0.05",
        }
        with open(tmp_path / "worker.log", "w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "oqtant.cli", "worker", "--workers", "1", "--backend", SLOW],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for(lambda: read_run_log(log), 40, "the worker's first run to start")
                t0 = time.monotonic()
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(20)
            finally:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(5)
        elapsed = time.monotonic() - t0
        assert code == 0, (tmp_path / "worker.log").read_text()[-2000:]
        assert elapsed < 15
        assert _status(srv.url, uid, headers, first) == "COMPLETE"
        assert _status(srv.url, uid, headers, second) == "PENDING"  # not taken
    assert _runs(tmp_path, second)[0][:3] == (1, "PENDING", 0)


@pytest.mark.slow
def test_timeout_with_two_runs_in_flight_requeues_the_other_one(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    monkeypatch.setenv("OQTANT_TEST_RUN_SECONDS", "4")  # inherited by the spawned workers
    monkeypatch.setenv("OQTANT_TEST_RUN_LOG", str(log))
    settings = make_settings(
        tmp_path,
        backend=FAULTY,
        executor="process",
        workers=2,
        run_timeout_seconds=6.0,
        poll_seconds=0.05,
    )
    app = create_app(settings)
    from tests.server.conftest import add_account

    alice = add_account(app, "alice")
    # on a warm pool, run 2 hangs on one process while runs 1, 3, 4 (4 s each) follow each
    # other on the other: run 3 (4 to 8 s) is halfway when run 2 times out (6 s of its own
    # running time) and the pool is killed
    job = job_dict(runs=4)
    for values, final_mhz in zip(
        (i["values"] for i in job["inputs"]),
        (FAULT_SLOW_MHZ, FAULT_HANG_MHZ, FAULT_SLOW_MHZ, FAULT_SLOW_MHZ),
        strict=True,
    ):
        values["rf_evaporation"]["frequencies_mhz"][-1] = final_mhz
    with TestClient(app) as client:

        def status(job_id):
            r = client.get(f"{alice.base}/jobs/{job_id}", headers=alice.headers)
            return r.json()["status"] if r.json()["status"] in TERMINAL else None

        warm = client.post(f"{alice.base}/jobs", json=job_dict(runs=2), headers=alice.headers)
        assert wait_for(lambda: status(warm.json()["job_id"]), 60, "warm-up") == "COMPLETE"
        log.write_text("")  # from here on, the job's runs only
        job_id = client.post(f"{alice.base}/jobs", json=job, headers=alice.headers).json()["job_id"]
        assert wait_for(lambda: status(job_id), 90, "the job") == "INCOMPLETE"
        good = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
        assert wait_for(lambda: status(good.json()["job_id"]), 30, "a good job") == "COMPLETE"
    runs = _runs(tmp_path, job_id)
    # run 2 hung and failed; the runs stored completed once each
    assert [(r, s) for r, s, *_ in runs] == [(1, "COMPLETE"), (2, "FAILED")] + [
        (r, "COMPLETE") for r in (3, 4)
    ]
    # a run that was executing when the pool was killed was run again: it started twice
    # and is stored once with two attempts; every other run ran once
    starts = Counter(seed for event, seed, _ in read_run_log(log) if event == "start")
    seeds = {run: seed for run, _, _, _, seed in runs}
    interrupted = {run for run in (1, 3, 4) if starts[seeds[run]] == 2}
    assert interrupted, "no run was executing beside the hung one when it timed out"
    for run, _, attempts, _, _ in runs:
        if run != 2:
            assert attempts == (2 if run in interrupted else 1), (run, attempts, dict(starts))


@pytest.mark.server
def test_sigterm_with_a_hung_run_hands_it_back_and_exits(tmp_path):
    log = tmp_path / "runs.log"
    uid, headers = account(tmp_path, "alice")
    job = job_dict()
    job["inputs"][0]["values"]["rf_evaporation"]["frequencies_mhz"][-1] = FAULT_HANG_MHZ
    srv = server(tmp_path, FAULTY, OQTANT_TEST_RUN_LOG=str(log), OQTANT_SHUTDOWN_GRACE_SECONDS="2")
    with srv:
        job_id = _submit(srv.url, uid, headers, job)
        wait_for(lambda: read_run_log(log), 30, "the run to start")
        pid = read_run_log(log)[0][2]
        t0 = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        code = srv.process.wait(20)
        elapsed = time.monotonic() - t0
    assert code == 0, code
    assert elapsed < 12
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text()  # its process is gone
    # the run was handed back to the queue, not failed; the next server runs it
    assert _runs(tmp_path, job_id)[0][:3] == (1, "PENDING", 1)
    with server(tmp_path, FAST, OQTANT_EXECUTOR="thread") as srv:
        wait_for(lambda: _status(srv.url, uid, headers, job_id) == "COMPLETE", 30, "the job")
