"""Job service benchmark: submit throughput and get_job/search_jobs latency with 10 000 jobs.

Starts the real server (``oqtant serve`` as its own process on a free loopback port, SQLite file in a
temporary directory, API only: ``--workers 0``), submits jobs over HTTP from a
few client threads, then times ``GET .../jobs/{id}`` and ``GET .../jobs`` (search
with filters) one request at a time.

    python benchmarks/bench_server.py [--jobs 10000] [--clients 4]

Targets (2-core machine): >= 200 submits/s; p99 of get_job and search_jobs < 50 ms.
"""

from __future__ import annotations

import argparse
import copy
import random
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

SUBMIT_TARGET_PER_S = 200.0
P99_TARGET_MS = 50.0

_JOB = {
    "name": "bench",
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_s)
    p50 = statistics.median(ordered) * 1e3
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3
    return p50, p99


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc (Linux)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(data_dir: Path, database_url: str | None = None):
    """Create the bench user, then start ``oqtant serve --workers 0`` as its own process.

    ``database_url`` None is the embedded default (SQLite in ``data_dir``); any other
    URL is migrated to the newest schema first.
    """
    import os
    import subprocess
    import sys

    from oqtant.server.auth.security import create_access_token
    from oqtant.server.db import crud, make_engine, make_session_factory
    from oqtant.server.db.migrate import prepare_database
    from oqtant.settings import Settings

    settings = Settings(
        data_dir=data_dir, workers=0, **({"database_url": database_url} if database_url else {})
    )
    if database_url:
        from oqtant.server.db import upgrade_database

        upgrade_database(database_url)
    prepare_database(settings)
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        user = crud.create_user(
            session=session,
            name="bench",
            password="bench-password",
            daily_limit=10**6,
            max_runs_per_job=30,
            max_pending_jobs=10**6,
        )
    engine.dispose()
    token = create_access_token(
        user.external_id, secret_key=settings.resolved_secret_key(), ttl_minutes=120
    )
    port = _free_port()
    env = {**os.environ, "OQTANT_DATA_DIR": str(data_dir)}
    env.pop("OQTANT_DATABASE_URL", None)
    if database_url:
        env["OQTANT_DATABASE_URL"] = database_url
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oqtant.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "0",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{root}/healthz", timeout=1).raise_for_status()
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)
    return proc, f"{root}/api/v1/users/{user.external_id}", token


def run(n_jobs: int = 10_000, n_clients: int = 4) -> dict:
    """Run the benchmark; returns its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, token = _start_server(Path(tmp))
        headers = {"Authorization": f"Bearer {token}"}
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(headers=headers, timeout=30)
            return local.client

        names = ["Alpha sweep", "beta scan", "gamma", "Barrier height", "TOF series"]

        def submit(i: int) -> tuple[str, float]:
            job = copy.deepcopy(_JOB)
            job["name"] = f"{names[i % len(names)]} {i}"
            t0 = time.perf_counter()
            r = client().post(f"{base}/jobs", json=job)
            r.raise_for_status()
            return r.json()["job_id"], time.perf_counter() - t0

        cpu0 = _cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(n_clients) as pool:
            results = list(pool.map(submit, range(n_jobs)))
        submit_s = time.perf_counter() - t0
        server_cpu_per_submit_s = (_cpu_seconds(proc.pid) - cpu0) / n_jobs
        ids = [job_id for job_id, _ in results]

        c = httpx.Client(headers=headers, timeout=30)
        rng = random.Random(1)
        get_s = []
        for job_id in rng.sample(ids, min(500, len(ids))):
            t = time.perf_counter()
            c.get(f"{base}/jobs/{job_id}").raise_for_status()
            get_s.append(time.perf_counter() - t)
        queries = [
            {},
            {"name": "alpha"},
            {"job_type": "BEC", "limit": 50},
            {"name": "scan", "offset": 100},
            {"notes": "none"},
            {"submit_start": "2000-01-01T00:00:00Z", "limit": 10},
        ]
        search_s = []
        for i in range(300):
            t = time.perf_counter()
            r = c.get(f"{base}/jobs", params=queries[i % len(queries)])
            r.raise_for_status()
            search_s.append(time.perf_counter() - t)
        total = c.get(f"{base}/jobs", params={"limit": 1}).json()["total"]
        c.close()
        proc.terminate()
        proc.wait(30)
    return {
        "jobs_stored": total,
        "submits_per_s": n_jobs / submit_s,
        "submit_p50_ms": _percentiles_ms([s for _, s in results])[0],
        "server_cpu_per_submit_ms": server_cpu_per_submit_s * 1e3,
        "get_job_ms": _percentiles_ms(get_s),
        "search_jobs_ms": _percentiles_ms(search_s),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    import os

    load_before = os.getloadavg()[0]
    r = run(args.jobs, args.clients)
    print(
        f"job service on SQLite, {r['jobs_stored']} jobs stored, {args.clients} clients "
        f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"{os.cpu_count()} cores)"
    )
    rate = r["submits_per_s"]
    print(
        f"  submit        {rate:8.1f} jobs/s   (target >= {SUBMIT_TARGET_PER_S:.0f}: "
        f"{rate / SUBMIT_TARGET_PER_S:.2f}x)  p50 {r['submit_p50_ms']:.1f} ms"
    )
    cpu_ms = r["server_cpu_per_submit_ms"]
    print(
        f"  server CPU    {cpu_ms:8.2f} ms/submit (one free core would allow "
        f"{1e3 / cpu_ms:.0f} submits/s)"
    )
    for label, key in (("get_job", "get_job_ms"), ("search_jobs", "search_jobs_ms")):
        p50, p99 = r[key]
        print(
            f"  {label:12s}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms   (target p99 < "
            f"{P99_TARGET_MS:.0f} ms: {P99_TARGET_MS / p99:.2f}x margin)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
