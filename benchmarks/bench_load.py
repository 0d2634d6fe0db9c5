"""Load benchmark: 50 concurrent clients submitting and polling against a real server.

Starts ``oqtant serve`` as its own process on a free loopback port (SQLite in a
temporary directory, then PostgreSQL when a throwaway server can be started
with ``tests/pgserver.py``), with a millisecond test backend so that the service,
not the physics, is measured. Each client (its own thread and HTTP connection)
loops until the time is up: submit a one-run job, poll it every
``--poll-ms`` until it completes, submit the next. Afterwards the benchmark
waits for the queue to drain and checks from the database that every accepted
job is there exactly once, completed, and was started in submission order.

    python benchmarks/bench_load.py [--duration-s 30] [--clients 50] [--workers 2]
                                    [--databases sqlite,postgresql]

Prints throughput, p50/p99 latency of submit and poll, errors, and the machine.
Target: zero errors, no lost or duplicated job, queue order kept.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

__all__ = ["main", "run_load"]

REPO = Path(__file__).resolve().parents[1]
BACKEND = "tests.server.fast_backend:FastBackend"
TERMINAL = {"COMPLETE", "FAILED", "INCOMPLETE", "CANCELLED"}
USERS = 5

_JOB = {
    "name": "load",
    "inputs": [
        {
            "values": {
                "time_of_flight_ms": 8.0,
                "image_type": "TIME_OF_FLIGHT",
                "end_time_ms": 0.0,
                "rf_evaporation": {
                    "times_ms": [-1600, -1200, -800, -400, 0],
                    "frequencies_mhz": [17.0, 8.0, 4.0, 1.2, 0.045],
                    "powers_mw": [500.0, 500.0, 475.0, 360.0, 220.0],
                    "interpolation": "LINEAR",
                },
            }
        }
    ],
}


def _pct_ms(samples_s: list[float], q: float) -> float:
    if not samples_s:
        return float("nan")
    ordered = sorted(samples_s)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def _accounts(srv, n: int) -> list[tuple[str, dict]]:
    """Create ``n`` users with generous quotas through the CLI; (uid, auth headers) each."""
    accounts = []
    for i in range(n):
        name = f"load{i}"
        srv.cli("user", "add", name, "--password-stdin", input="load-password-not-secret\n")
        srv.cli("user", "limits", name, "--daily-limit", "1000000", "--max-pending-jobs", "100000")
        token = srv.cli("user", "token", name).strip().splitlines()[-1]
        uid = _subject(token)
        accounts.append((uid, {"Authorization": f"Bearer {token}"}))
    return accounts


def _subject(token: str) -> str:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["sub"]


def _check_database(url: str, accepted: set[str]) -> dict:
    """Lost/duplicated jobs and FIFO violations, read from the database itself."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT external_id, status, time_start FROM jobs ORDER BY id")
            ).all()
            run_rows = conn.execute(
                text("SELECT count(*), count(DISTINCT job_id) FROM runs WHERE status='COMPLETE'")
            ).one()
    finally:
        engine.dispose()
    ids = [r[0] for r in rows]
    starts = [r[2] for r in rows if r[2] is not None]
    return {
        "jobs_in_db": len(ids),
        "lost": len(accepted - set(ids)),
        "unexpected": len(set(ids) - accepted),
        "duplicated": len(ids) - len(set(ids)),
        "not_complete": sum(1 for r in rows if r[1] != "COMPLETE"),
        "runs_stored_twice": run_rows[0] - run_rows[1],
        "order_violations": sum(1 for a, b in itertools.pairwise(starts) if b < a),
    }


def run_load(
    database: str,
    *,
    duration_s: float = 30.0,
    clients: int = 50,
    workers: int = 2,
    poll_ms: float = 200.0,
) -> dict:
    """Run the load against one database (``sqlite`` or ``postgresql``); returns the figures."""
    sys.path.insert(0, str(REPO))
    from oqtant.demo import EmbeddedServer

    pg = None
    with tempfile.TemporaryDirectory(prefix="oqtant-load-") as tmp:
        url = None
        if database == "postgresql":
            from tests.pgserver import PostgresServer

            pg = PostgresServer().start()
            url = pg.create_database()
        env = {"PYTHONPATH": str(REPO), "OQTANT_EXECUTOR": "thread", "OQTANT_POLL_SECONDS": "0.05"}
        srv = EmbeddedServer(
            Path(tmp), database_url=url, workers=workers, backend=BACKEND, extra_env=env
        )
        try:
            srv.start()
            accounts = _accounts(srv, USERS)
            lat_submit: list[float] = []
            lat_poll: list[float] = []
            errors: list[str] = []
            accepted: list[str] = []
            completed = [0]
            lock = threading.Lock()
            barrier = threading.Barrier(clients)
            deadline = [0.0]

            def client(i: int) -> None:
                uid, headers = accounts[i % len(accounts)]
                base = f"/api/v1/users/{uid}/jobs"
                job = copy.deepcopy(_JOB)
                job["name"] = f"load {i}"
                with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as http:
                    barrier.wait()
                    while time.monotonic() < deadline[0]:
                        t0 = time.perf_counter()
                        try:
                            r = http.post(base, json=job)
                        except httpx.HTTPError as exc:
                            with lock:
                                errors.append(f"submit: {type(exc).__name__}")
                            continue
                        dt = time.perf_counter() - t0
                        if r.status_code != 201:
                            with lock:
                                errors.append(f"submit: {r.status_code}")
                            continue
                        job_id = r.json()["job_id"]
                        with lock:
                            lat_submit.append(dt)
                            accepted.append(job_id)
                        while time.monotonic() < deadline[0]:
                            time.sleep(poll_ms / 1e3)
                            t0 = time.perf_counter()
                            try:
                                r = http.get(f"{base}/{job_id}")
                            except httpx.HTTPError as exc:
                                with lock:
                                    errors.append(f"poll: {type(exc).__name__}")
                                continue
                            with lock:
                                lat_poll.append(time.perf_counter() - t0)
                                if r.status_code != 200:
                                    errors.append(f"poll: {r.status_code}")
                            if r.status_code == 200 and r.json()["status"] in TERMINAL:
                                with lock:
                                    completed[0] += 1
                                break

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            load_before = os.getloadavg()
            deadline[0] = time.monotonic() + duration_s + 1.0  # +1 s for the barrier
            t_start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(duration_s + 120)
            elapsed = time.monotonic() - t_start
            load_after = os.getloadavg()
            # let the queue drain, then check the database
            drain_deadline = time.monotonic() + 120
            while time.monotonic() < drain_deadline:
                busy = sum(
                    len(
                        httpx.get(
                            f"{srv.url}/api/v1/users/{u}/queue", headers=h, timeout=30
                        ).json()["items"]
                    )
                    for u, h in accounts
                )
                if busy == 0:
                    break
                time.sleep(0.5)
            db_url = url or f"sqlite:///{Path(tmp) / 'oqtant.db'}"
            integrity = _check_database(db_url, set(accepted))
        finally:
            srv.stop()
            if pg is not None:
                pg.stop()
    return {
        "database": database,
        "clients": clients,
        "workers": workers,
        "duration_s": elapsed,
        "submitted": len(accepted),
        "completed_while_polling": completed[0],
        "submits_per_s": len(accepted) / elapsed,
        "requests_per_s": (len(lat_submit) + len(lat_poll)) / elapsed,
        "submit_p50_ms": statistics.median(lat_submit) * 1e3 if lat_submit else float("nan"),
        "submit_p99_ms": _pct_ms(lat_submit, 0.99),
        "poll_p50_ms": statistics.median(lat_poll) * 1e3 if lat_poll else float("nan"),
        "poll_p99_ms": _pct_ms(lat_poll, 0.99),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:10],
        "load_before": load_before,
        "load_after": load_after,
        **integrity,
    }


def _postgres_available() -> str | None:
    """None when a throwaway PostgreSQL can be started; otherwise why not."""
    try:
        sys.path.insert(0, str(REPO))
        from tests.pgserver import find_pg_bin

        find_pg_bin()
    except Exception as exc:  # noqa: BLE001 - any reason means: skip PostgreSQL
        return f"{type(exc).__name__}: {exc}"
    return None


def _report(r: dict) -> None:
    print(
        f"\n== {r['database']}: {r['clients']} clients, {r['workers']} workers, "
        f"{r['duration_s']:.1f} s"
    )
    print(
        f"  submitted {r['submitted']} jobs ({r['submits_per_s']:.1f}/s), "
        f"{r['requests_per_s']:.1f} requests/s, {r['completed_while_polling']} seen complete"
    )
    print(
        f"  submit p50/p99 {r['submit_p50_ms']:.1f} / {r['submit_p99_ms']:.1f} ms; "
        f"poll p50/p99 {r['poll_p50_ms']:.1f} / {r['poll_p99_ms']:.1f} ms"
    )
    print(f"  errors {r['errors']} {r['error_kinds'] or ''}")
    print(
        f"  database: {r['jobs_in_db']} jobs, lost {r['lost']}, unexpected {r['unexpected']}, "
        f"duplicated {r['duplicated']}, not complete {r['not_complete']}, "
        f"runs stored twice {r['runs_stored_twice']}, order violations {r['order_violations']}"
    )
    print(f"  load average before/after: {r['load_before'][0]:.2f} / {r['load_after'][0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the load on each database; exit code 1 if any error, loss, duplicate or reorder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=30.0, help="load time per database")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="runs executed at once")
    parser.add_argument("--poll-ms", type=float, default=200.0)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    ok = True
    for database in args.databases.split(","):
        if database == "postgresql" and (why := _postgres_available()):
            print(f"\n== postgresql: skipped ({why})")
            continue
        r = run_load(
            database,
            duration_s=args.duration_s,
            clients=args.clients,
            workers=args.workers,
            poll_ms=args.poll_ms,
        )
        _report(r)
        bad = (
            r["errors"]
            or r["lost"]
            or r["unexpected"]
            or r["duplicated"]
            or r["not_complete"]
            or r["runs_stored_twice"]
            or r["order_violations"]
        )
        ok = ok and not bad
    print("\nresult:", "OK" if ok else "PROBLEMS (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
