"""Scale-out benchmark: the job service on SQLite and on PostgreSQL, and emulator runs per second.

    python benchmarks/bench_scaleout.py [--jobs 10000] [--clients 4] [--runs 16] [--no-postgres]

For each database (a SQLite file; a throwaway PostgreSQL cluster started in a
temporary folder, as the tests do):

* the API benchmark of ``bench_server.py`` against ``oqtant serve --workers 0``:
  submit throughput, p50/p99 of ``get_job`` and ``search_jobs`` with ``--jobs``
  jobs stored;
* emulator runs per second with 1, 2 and 4 workers, each worker executing ``--runs``
  standard BEC runs on the default emulated apparatus after a warm-up, and the scaling
  efficiency ``rate(N) / (N * rate(1))``. On SQLite the N workers are the
  process pool of one ``oqtant worker --workers N`` (one dispatcher, as SQLite
  wants); on PostgreSQL they are N ``oqtant worker --workers 1`` processes
  sharing the queue. The machine's cores bound the speed-up: on 2 cores expect
  about 2x at best, whatever N.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import bench_server  # the API benchmark this one reuses

WORKER_COUNTS = (1, 2, 4)
BEC_JOB = bench_server._JOB


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def _databases(use_postgres: bool):
    """Yield a factory ``new(label) -> (name, url)`` for fresh databases of each kind."""
    with tempfile.TemporaryDirectory() as tmp:
        kinds = [("SQLite", lambda: f"sqlite:///{Path(tmp) / uuid.uuid4().hex}.db")]
        pg = None
        if use_postgres:
            from tests.pgserver import PostgresNotInstalled, PostgresServer

            try:
                pg = PostgresServer().start()
            except PostgresNotInstalled as exc:
                print(f"(PostgreSQL skipped: {exc})")
            else:
                kinds.append(("PostgreSQL", pg.create_database))
        try:
            yield kinds
        finally:
            if pg is not None:
                pg.stop()


def _prepare(url: str) -> None:
    from oqtant.server.db import upgrade_database

    upgrade_database(url)


# --------------------------------------------------------------------------- the API


def _start_api(data_dir: Path, url: str):
    """``bench_server._start_server`` on any database: user, token, ``serve --workers 0``."""
    return bench_server._start_server(data_dir, url)


def api_figures(url: str, n_jobs: int, n_clients: int) -> dict:
    """``bench_server.run`` with the server on ``url`` instead of its own SQLite file."""
    original = bench_server._start_server
    bench_server._start_server = lambda data_dir: _start_api(data_dir, url)
    try:
        return bench_server.run(n_jobs, n_clients)
    finally:
        bench_server._start_server = original


# --------------------------------------------------------------------------- workers


def _queue(url: str, n_runs: int, name: str) -> None:
    """Queue one BEC job of ``n_runs`` runs (in jobs of at most 30 runs)."""
    from oqtant.server.db import crud, make_engine, make_session_factory
    from oqtant.server.schemas import JobSubmit

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        user = crud.get_user_by_name(session=session, name="runner") or crud.create_user(
            session=session,
            name="runner",
            password="runner-password",
            daily_limit=10**6,
            max_runs_per_job=30,
            max_pending_jobs=10**6,
        )
        while n_runs > 0:
            k = min(n_runs, 30)
            job = {**BEC_JOB, "name": name, "inputs": BEC_JOB["inputs"] * k}
            crud.submit_job(session=session, user_id=user.id, job=JobSubmit.model_validate(job))
            n_runs -= k
    engine.dispose()


def _finished(url: str, name: str) -> tuple[list, int]:
    """Completion times of the finished runs of the jobs called ``name`` (sorted), and failures."""
    import sqlalchemy as sa

    from oqtant.server.db.models import Job, Run

    stmt = (
        sa.select(Run.time_complete, Run.status)
        .join(Job, Job.id == Run.job_id)
        .where(Job.name == name, Run.status.in_(["COMPLETE", "FAILED"]))
    )
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    engine.dispose()
    return sorted(t for t, _ in rows), sum(status == "FAILED" for _, status in rows)


def runs_per_second(url: str, n_workers: int, n_runs: int, *, many_processes: bool) -> float:
    """Steady emulator runs per second of ``n_workers`` workers on a fresh database ``url``.

    The rate is taken between the ``n_workers``-th and the last completion of the
    measured runs, so that process start, imports and the filling of the pipeline
    (a warm-up job runs first as well) do not count.
    """
    _prepare(url)
    _queue(url, 2 * n_workers, "warm-up")
    _queue(url, n_runs, "measured")
    env = {**os.environ, "OQTANT_POLL_SECONDS": "0.05"}
    if many_processes:
        commands = [["--workers", "1"]] * n_workers
    else:
        commands = [["--workers", str(n_workers)]]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oqtant.cli",
                "worker",
                "--database-url",
                url,
                *args,
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in commands
    ]
    try:
        deadline = time.monotonic() + 300
        while True:
            times, failed = _finished(url, "measured")
            if len(times) == n_runs:
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(
                    f"{len(times)}/{n_runs} runs finished; a worker stopped or time ran out"
                )
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    if failed:
        raise RuntimeError(f"{failed} emulator runs failed")
    first = n_workers - 1
    return (n_runs - 1 - first) / (times[-1] - times[first]).total_seconds()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs stored for the API figures")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--runs", type=int, default=8, help="emulator runs per worker (N workers: N x runs)"
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    print(
        f"scale-out on {os.cpu_count()} cores; API with {args.jobs} jobs, {args.clients} clients; "
        f"{args.runs} emulator runs (standard BEC job) per worker"
    )
    with _databases(not args.no_postgres) as kinds:
        for label, new_url in kinds:
            r = api_figures(new_url(), args.jobs, args.clients)
            (g50, g99), (s50, s99) = r["get_job_ms"], r["search_jobs_ms"]
            print(f"{label}:")
            print(
                f"  submit        {r['submits_per_s']:8.1f} jobs/s  ({r['jobs_stored']} stored, "
                f"server CPU {r['server_cpu_per_submit_ms']:.2f} ms/submit)"
            )
            print(f"  get_job       p50 {g50:6.1f} ms  p99 {g99:6.1f} ms")
            print(f"  search_jobs   p50 {s50:6.1f} ms  p99 {s99:6.1f} ms")
            many = label != "SQLite"
            how = "worker processes" if many else "pool processes of one worker"
            base = None
            for n in WORKER_COUNTS:
                rate = runs_per_second(new_url(), n, n * args.runs, many_processes=many)
                base = base or rate
                print(
                    f"  emulator      {n} {how:28s} {rate:6.2f} runs/s  speed-up "
                    f"{rate / base:4.2f}x  efficiency {rate / (n * base):4.0%}",
                    flush=True,
                )
    print(
        f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: other "
        "processes on the machine lower the rates and make the efficiencies noisy)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
