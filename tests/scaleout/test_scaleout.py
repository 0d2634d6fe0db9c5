"""The job service scaled out on PostgreSQL: API-only server, many workers, a Dask cluster.

Every test gets a fresh database on the session's throwaway PostgreSQL server
(``postgres_server`` fixture) and starts real processes: ``oqtant serve
--workers 0``, ``oqtant worker``, ``dask scheduler`` / ``dask worker``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from oqtant.demo import EmbeddedServer, free_port
from oqtant.server.db.migrate import head_revision
from oqtant.server.queue import execute_run, make_executor
from tests.scaleout.counting_backend import CALL_LOG_ENV, read_calls
from tests.scaleout.helpers import (
    COUNTING_BACKEND,
    REPO,
    DaskCluster,
    WorkerProcess,
    add_user,
    queue_jobs,
    submit_jobs,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.server]


def _runs(url: str) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT r.id, r.job_id, r.run, r.seed, r.status, r.attempts, r.output_json, "
                    "r.values_json, j.status AS job_status "
                    "FROM runs r JOIN jobs j ON j.id = r.job_id ORDER BY r.job_id, r.run"
                )
            ).all()
    finally:
        engine.dispose()


def _lease_expired(url: str) -> bool:
    """True once every run that was leased has a lease that has run out (database time)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) > 0 AND bool_and(lease_expires_at < now()) "
                        "FROM runs WHERE lease_expires_at IS NOT NULL"
                    )
                ).scalar()
            )
    finally:
        engine.dispose()


def _all_done(url: str, n_runs: int):
    rows = _runs(url)
    done = [r for r in rows if r.status in ("COMPLETE", "FAILED")]
    return rows if len(done) == n_runs else None


def _api_server(tmp_path, url: str) -> EmbeddedServer:
    """An API-only server (``--workers 0``) on ``url``; runs `db upgrade` first."""
    return EmbeddedServer(
        tmp_path / "api",
        database_url=url,
        workers=0,
        backend=COUNTING_BACKEND,
        extra_env={"PYTHONPATH": str(REPO), "OQTANT_SECRET_KEY": "scale-out-key-" + "k" * 24},
    )


def test_three_workers_run_200_queued_runs_exactly_once_in_fifo_order(postgres_server, tmp_path):
    url = postgres_server.create_database()
    calls = tmp_path / "calls.log"
    worker_env = {
        "OQTANT_EXECUTOR": "thread",
        "OQTANT_POLL_SECONDS": "0.05",
        "OQTANT_TEST_RUN_SLEEP_S": "0.05",
        CALL_LOG_ENV: str(calls),
    }
    slots_per_worker, n_workers = 2, 3
    with _api_server(tmp_path, url) as api:
        token = add_user(api)
        submit_jobs(api, token, n_jobs=20, runs=10)
        queued = _runs(url)
        assert len(queued) == 200 and {r.status for r in queued} == {"PENDING"}
        workers = [
            WorkerProcess(
                url,
                tmp_path / f"worker{i}.log",
                "--workers",
                str(slots_per_worker),
                "--backend",
                COUNTING_BACKEND,
                env=worker_env,
            )
            for i in range(n_workers)
        ]
        try:
            for w in workers:
                w.wait_ready()
            rows = wait_for(
                lambda: _all_done(url, 200), timeout_s=90, what="the 200 runs did not all finish"
            )
        finally:
            codes = [w.stop() for w in workers]
        assert codes == [0, 0, 0], [w.output()[-2000:] for w in workers]

    # every run completed, stored once, claimed once; every job complete: nothing stuck
    assert [r.status for r in rows] == ["COMPLETE"] * 200
    assert all(r.output_json for r in rows)
    assert {r.attempts for r in rows} == {1}
    assert {r.job_status for r in rows} == {"COMPLETE"}
    # every run executed exactly once by the backend
    logged = read_calls(calls)
    seeds = [r.seed for r in rows]
    assert len(set(seeds)) == 200
    assert len(logged) == 200
    assert sorted(s for s, _, _ in logged) == sorted(seeds)
    # the three workers shared the queue
    assert {pid for _, pid, _ in logged} <= {w.pid for w in workers}
    assert len({pid for _, pid, _ in logged}) == n_workers
    # started in submission order, up to the runs held at once by all workers
    position = {seed: i for i, seed in enumerate(seeds)}
    started = [position[s] for s, _, _ in sorted(logged, key=lambda c: c[2])]
    concurrency = slots_per_worker * n_workers
    displacement = max(abs(index - order) for order, index in enumerate(started))
    assert displacement <= concurrency, started


def test_dask_cluster_gives_the_same_outputs_as_the_local_pool(postgres_server, tmp_path):
    url = postgres_server.create_database()
    calls = tmp_path / "calls.log"
    env = {CALL_LOG_ENV: str(calls), "OQTANT_TEST_RUN_SLEEP_S": "0.05"}
    queue_jobs(url, n_jobs=4, runs=4)
    with DaskCluster(tmp_path, 2, env=env) as cluster:
        worker = WorkerProcess(
            url,
            tmp_path / "worker.log",
            "--dask-scheduler",
            cluster.address,
            "--backend",
            COUNTING_BACKEND,
            env={"OQTANT_POLL_SECONDS": "0.05"},
        )
        try:
            worker.wait_ready()
            assert f"Dask cluster at {cluster.address}" in worker.output()
            rows = wait_for(
                lambda: _all_done(url, 16),
                timeout_s=60,
                what="the 16 runs did not all finish on the Dask cluster",
            )
        finally:
            assert worker.stop() == 0, worker.output()
        dask_pids = cluster.worker_pids

    assert [r.status for r in rows] == ["COMPLETE"] * 16
    logged = read_calls(calls)
    assert len(logged) == 16
    assert {pid for _, pid, _ in logged} == dask_pids  # both Dask workers ran runs, nobody else
    # the same (input, seed) on the local process pool gives byte-identical outputs
    with make_executor("process", 1) as pool:
        local = list(
            pool.map(
                execute_run,
                [COUNTING_BACKEND] * 16,
                [r.values_json for r in rows],
                [r.seed for r in rows],
            )
        )
    assert [out for out, *_ in local] == [r.output_json for r in rows]
    # and the outputs depend on the seed (the comparison could fail)
    assert len({r.output_json for r in rows}) == 16


def _cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "oqtant.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )


def test_db_upgrade_creates_the_schema_and_old_schemas_are_refused(postgres_server, tmp_path):
    url = postgres_server.create_database()
    # an empty database: server and worker refuse, naming the command that fixes it
    serve = _cli("serve", "--database-url", url, "--workers", "0", "--port", str(free_port()))
    assert serve.returncode == 2
    assert "oqtant db upgrade" in serve.stderr and "none (empty database)" in serve.stderr
    work = _cli("worker", "--database-url", url)
    assert work.returncode == 2 and "oqtant db upgrade" in work.stderr

    upgrade = _cli("db", "upgrade", "--database-url", url)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert {"users", "jobs", "runs", "idempotency_keys", "oauth_codes"} <= tables
    assert _cli("db", "upgrade", "--database-url", url).returncode == 0  # idempotent

    # now the worker starts, and stops cleanly on SIGTERM
    worker = WorkerProcess(url, tmp_path / "worker.log", "--workers", "1")
    try:
        worker.wait_ready()
    finally:
        assert worker.stop() == 0, worker.output()


@pytest.mark.slow
def test_e2e_client_suite_runs_unchanged_on_postgresql(postgres_server, tmp_path):
    """tests/e2e/test_client_e2e.py, as is, with every server on its own PostgreSQL database."""
    env = {
        **os.environ,
        "OQTANT_TEST_DATABASE_URL": postgres_server.url("postgres"),
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/e2e/test_client_e2e.py",
            "-m",
            "not slow",
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "e2e"),
        ],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = (done.stderr[-2000:] + done.stdout)[-8000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
    # the servers really used PostgreSQL: a database per server was made and dropped
    engine = sa.create_engine(postgres_server.url("postgres"))
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE 'oqtant_e2e_%'")
        ).scalar()
    engine.dispose()
    assert left == 0


def test_killed_worker_lease_expires_and_its_run_goes_back_to_the_head(postgres_server, tmp_path):
    url = postgres_server.create_database()
    calls = tmp_path / "calls.log"
    env = {
        "OQTANT_EXECUTOR": "thread",
        "OQTANT_POLL_SECONDS": "0.05",
        "OQTANT_TEST_RUN_SLEEP_S": "30",
        CALL_LOG_ENV: str(calls),
    }
    queue_jobs(url, n_jobs=2, runs=1)
    doomed = WorkerProcess(
        url,
        tmp_path / "doomed.log",
        "--workers",
        "1",
        "--lease-seconds",
        "1",
        "--backend",
        COUNTING_BACKEND,
        env=env,
    )
    wait_for(
        lambda: calls.exists() and read_calls(calls),
        timeout_s=60,
        what="the first worker did not start the run",
    )
    doomed.process.kill()  # no chance to hand the run back
    doomed.stop()
    # the next worker comes once the abandoned lease has run out, as a restarted one would
    wait_for(
        lambda: _lease_expired(url),
        timeout_s=30,
        what="the killed worker's lease did not run out",
    )
    survivor = WorkerProcess(
        url,
        tmp_path / "survivor.log",
        "--workers",
        "1",
        "--lease-seconds",
        "5",
        "--backend",
        COUNTING_BACKEND,
        env={**env, "OQTANT_TEST_RUN_SLEEP_S": "0"},
    )
    try:
        rows = wait_for(
            lambda: _all_done(url, 2), timeout_s=60, what="the abandoned run was not taken again"
        )
    finally:
        assert survivor.stop() == 0, survivor.output()
    assert [r.status for r in rows] == ["COMPLETE", "COMPLETE"]
    assert [r.attempts for r in rows] == [2, 1]
    first, second = rows[0].seed, rows[1].seed
    # the abandoned run of the older job was taken again before the newer job's run
    assert [(s, pid) for s, pid, _ in read_calls(calls)] == [
        (first, doomed.pid),
        (first, survivor.pid),
        (second, survivor.pid),
    ]


def test_claims_skip_locked_rows_on_postgresql(postgres_server):
    """Two open claim transactions never get the same run (FOR UPDATE SKIP LOCKED)."""
    from oqtant.server.db import crud, make_engine, make_session_factory, upgrade_database
    from oqtant.server.schemas import JobSubmit
    from tests.conftest import ULTRACOLD_MATTER_JOB

    url = postgres_server.create_database()
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        user = crud.create_user(
            session=s,
            name="u",
            password="pw-123456789",
            daily_limit=100,
            max_runs_per_job=30,
            max_pending_jobs=100,
        )
        job = dict(ULTRACOLD_MATTER_JOB, inputs=ULTRACOLD_MATTER_JOB["inputs"] * 3)
        crud.submit_job(session=s, user_id=user.id, job=JobSubmit.model_validate(job))
    owners = [f"w{i}" for i in range(3)]
    with cf.ThreadPoolExecutor(3) as pool:
        claims = list(
            pool.map(
                lambda o: crud.claim_next_run(session=sessions(), owner=o, lease_seconds=30), owners
            )
        )
    engine.dispose()
    assert sorted(c.run for c in claims) == [1, 2, 3]


def test_concurrent_claims_on_postgresql_are_fair_between_users_and_exactly_once(
    postgres_server,
):
    """Four claimers at once: one user's backlog does not hold back another user's runs."""
    import threading

    from oqtant.server.db import crud, make_engine, make_session_factory, upgrade_database
    from oqtant.server.schemas import JobSubmit
    from tests.scaleout.helpers import job_dict

    url = postgres_server.create_database()
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    limits = {"daily_limit": 100, "max_runs_per_job": 30, "max_pending_jobs": 100}
    with sessions() as s:
        alice = crud.create_user(session=s, name="alice", password="pw-alice", **limits)
        bob = crud.create_user(session=s, name="bob", password="pw-bob", **limits)
        for i in range(4):  # alice's backlog: 100 simulator runs, queued first
            job = JobSubmit.model_validate({**job_dict(i, 25), "sim": True})
            crud.submit_job(session=s, user_id=alice.id, job=job)
        crud.submit_job(session=s, user_id=bob.id, job=JobSubmit.model_validate(job_dict(9, 4)))
    claims: list[crud.ClaimedRun] = []
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        with sessions() as s:
            while (c := crud.claim_next_run(session=s, owner=owner, lease_seconds=60)) is not None:
                with lock:
                    claims.append(c)
                assert crud.complete_run(
                    session=s,
                    owner=owner,
                    run_id=c.run_id,
                    output_json="{}",
                    raw_images_json="[]",
                    duration_s=0.01,
                )

    with cf.ThreadPoolExecutor(4) as pool:
        list(pool.map(claimer, [f"w{i}" for i in range(4)]))
    with engine.connect() as conn:
        jobs = dict(conn.execute(sa.text("SELECT id, user_id FROM jobs")).all())
        statuses = conn.execute(sa.text("SELECT status, attempts FROM runs")).all()
    engine.dispose()
    # exactly once: every run claimed by one claimer, on its first attempt
    assert len(claims) == 104 and len({c.run_id for c in claims}) == 104
    assert {tuple(r) for r in statuses} == {("COMPLETE", 1)}
    # fair: bob's four runs are claimed among the first claims, not after alice's 100
    bobs = [i for i, c in enumerate(claims) if jobs[c.job_id] == bob.id]
    assert len(bobs) == 4 and max(bobs) < 16, bobs
    # FIFO within each user, up to the four claims in flight at once
    for uid in (alice.id, bob.id):
        mine = [(c.job_id, c.run) for c in claims if jobs[c.job_id] == uid]
        position = {key: i for i, key in enumerate(sorted(mine))}
        assert max(abs(position[key] - i) for i, key in enumerate(mine)) <= 4


def test_sim_quota_holds_for_concurrent_submits_on_postgresql(postgres_server):
    """The simulator limits are checked with the user's row locked: 12 submits at once, 5 pass."""
    import threading

    from oqtant.errors import QuotaExceededError
    from oqtant.server.db import crud, make_engine, make_session_factory, upgrade_database
    from oqtant.server.schemas import JobSubmit
    from tests.scaleout.helpers import job_dict

    url = postgres_server.create_database()
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        user = crud.create_user(
            session=s,
            name="sim-user",
            password="pw-sim-user",
            daily_limit=0,
            max_runs_per_job=30,
            max_pending_jobs=0,
            sim_daily_limit=100,
            sim_max_pending_jobs=5,
        )
    job = JobSubmit.model_validate({**job_dict(0, 2), "sim": True})
    barrier = threading.Barrier(12)

    def submit(_: int) -> str:
        with sessions() as s:
            barrier.wait()
            try:
                crud.submit_job(session=s, user_id=user.id, job=job)
            except QuotaExceededError as exc:
                return str(exc).split(":")[0]
            return "stored"

    with cf.ThreadPoolExecutor(12) as pool:
        outcomes = sorted(pool.map(submit, range(12)))
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE sim")).scalar()
    engine.dispose()
    assert outcomes == ["sim_max_pending_jobs"] * 7 + ["stored"] * 5
    assert stored == 5
