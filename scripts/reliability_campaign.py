"""Measure the service's reliability and security promises against real ``oqtant serve`` processes.

Each probe starts its own server on a loopback port (SQLite in a temporary
folder; ``--postgres`` adds the probes that need a throwaway PostgreSQL
cluster from ``tests/pgserver.py``), sends bounded traffic, and counts what
happened. The table it prints is the one in docs/reliability.md.

    .venv/bin/python scripts/reliability_campaign.py [--postgres] [--markdown]

Probes (each bounded in requests and time; every address is 127.0.0.1):

* refused submits: 40 submits refused with 404 (another user's uid) and 401 (a
  deleted account), then a normal submit, a stored run, ``/healthz`` and SIGTERM;
* login burst: 50 concurrent password grants with wrong passwords and the right
  one in the middle: how many passwords were checked, did the right one get in;
* forwarded addresses: 30 wrong passwords, each with another ``X-Forwarded-For``,
  from an untrusted peer: how many were checked;
* cross-user probes: every route that names a user or a job, called by another
  user: answers that were not 404;
* bad field values: every leaf of the standard job replaced by each of 15 bad
  values: 5xx answers and jobs stored;
* concurrent quota: 50 clients submitting at once against ``max_pending_jobs`` 5;
* simulator jobs: a user with every limit at 0 submitting simulator jobs, and
  another user's job waiting behind 60 queued simulator runs;
* kill -9: the server killed with runs in flight, restarted: runs lost, runs
  stored twice, worker processes left alive;
* (``--postgres``) a frozen database (SIGSTOP): answers within the timeout, 5xx
  other than 503, requests still hanging.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oqtant.server.auth.security import create_access_token  # noqa: E402
from oqtant.settings import Settings  # noqa: E402
from tests.conftest import BARRIER_MANIPULATOR_JOB, ULTRACOLD_MATTER_JOB  # noqa: E402
from tests.reliability.helpers import account, server, wait_for  # noqa: E402

__all__ = ["main"]

FAST = "tests.server.fast_backend:FastBackend"
SLOW = "tests.reliability.backends:SlowBackend"
TERMINAL = {"COMPLETE", "FAILED", "INCOMPLETE", "CANCELLED"}
Row = tuple[str, str, str]  # probe, promise, measured


def _job(name: str = "campaign", *, sim: bool = False, runs: int = 1) -> dict:
    job = copy.deepcopy(ULTRACOLD_MATTER_JOB)
    job["name"] = name
    job["inputs"] = [copy.deepcopy(job["inputs"][0]) for _ in range(runs)]
    if sim:
        job["sim"] = True
    return job


def _token(data: Path, uid: str) -> dict:
    secret = Settings(data_dir=data).resolved_secret_key()
    return {"Authorization": f"Bearer {create_access_token(uid, secret_key=secret, ttl_minutes=60)}"}


def _wait_complete(http: httpx.Client, uid: str, headers: dict, job_id: str, timeout_s: float):
    def done():
        r = http.get(f"/api/v1/users/{uid}/jobs/{job_id}", headers=headers)
        return r.status_code == 200 and r.json()["status"] in TERMINAL

    return wait_for(done, timeout_s, f"job {job_id} to finish")


# --------------------------------------------------------------------------- probes


def probe_refused_submits(tmp: Path) -> list[Row]:
    data = tmp / "refused"
    alice_uid, alice = account(data, "alice")
    bob_uid, _ = account(data, "bob")
    ghost_uid = str(uuid.uuid4())
    ghost = _token(data, ghost_uid)
    with server(data, FAST) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        codes = Counter()
        for _ in range(20):
            codes[http.post(f"/api/v1/users/{bob_uid}/jobs", json=_job(), headers=alice).status_code] += 1
            codes[http.post(f"/api/v1/users/{ghost_uid}/jobs", json=_job(), headers=ghost).status_code] += 1
        started = time.monotonic()
        try:
            r = http.post(f"/api/v1/users/{alice_uid}/jobs", json=_job(), headers=alice)
            ok = r.status_code == 201
            if ok:
                _wait_complete(http, alice_uid, alice, r.json()["job_id"], 30)
            stored = f"stored in {time.monotonic() - started:.2f} s" if ok else f"answered {r.status_code}"
        except (httpx.HTTPError, AssertionError) as exc:
            stored = f"hung ({type(exc).__name__})"
        try:
            health = http.get("/healthz", timeout=5).status_code
        except httpx.HTTPError:
            health = "timeout"
        srv.process.terminate()
        try:
            stopped = f"exit {srv.process.wait(timeout=30)}"
        except Exception:  # noqa: BLE001 - measured, not raised
            stopped = "did not stop"
    refused = ", ".join(f"{n} x {code}" for code, n in sorted(codes.items()))
    return [(
        "refused submits (40)",
        "no state left behind; later writes, /healthz and SIGTERM work",
        f"{refused}; next job {stored}; /healthz {health}; SIGTERM {stopped}",
    )]


def _password_grant(url: str, password: str, headers: dict | None = None) -> int:
    form = {"grant_type": "password", "username": "alice", "password": password}
    return httpx.post(f"{url}/oauth/token", data=form, headers=headers or {}, timeout=30).status_code


def probe_login_burst(tmp: Path) -> list[Row]:
    data = tmp / "burst"
    account(data, "alice")  # password: "a long test password"
    with server(data, FAST) as srv:
        passwords = ["wrong"] * 49
        passwords.insert(30, "a long test password")
        with cf.ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(lambda p: _password_grant(srv.url, p), passwords))
        checked = sum(1 for c in codes if c in (200, 400, 401))
        right = codes[30]
    with server(tmp / "forwarded", FAST) as srv:  # a fresh address budget
        account(tmp / "forwarded", "alice")
        xff = [
            _password_grant(srv.url, "wrong", {"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(30)
        ]
    budget = Settings().login_max_failures
    return [
        (
            "login burst (50 concurrent password grants)",
            f"at most the budget ({budget}) of passwords checked; over budget nothing gets in",
            f"{checked} checked, {50 - checked} refused with 429; right password inside the burst: "
            f"{'logged in' if right == 200 else right}",
        ),
        (
            "rotating X-Forwarded-For (30 guesses, untrusted peer)",
            "forwarded headers ignored unless from a configured proxy",
            f"{sum(1 for c in xff if c != 429)} checked, {sum(1 for c in xff if c == 429)} refused",
        ),
    ]


def probe_cross_user(tmp: Path) -> list[Row]:
    data = tmp / "cross"
    alice_uid, alice = account(data, "alice")
    bob_uid, bob = account(data, "bob")
    with server(data, FAST) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        job_id = http.post(f"/api/v1/users/{bob_uid}/jobs", json=_job(), headers=bob).json()["job_id"]
        _wait_complete(http, bob_uid, bob, job_id, 30)
        probes: list[tuple[str, str]] = []
        for base in (f"/api/v1/users/{bob_uid}", f"/api/v1/users/{alice_uid}"):
            for path in (f"/jobs/{job_id}", f"/jobs/{job_id}?run=1", f"/jobs/{job_id}/raw_images",
                         f"/jobs/{job_id}/raw_images?run=1"):
                probes.append(("GET", base + path))
            probes += [("PUT", f"{base}/jobs/{job_id}/cancel"), ("DELETE", f"{base}/jobs/{job_id}")]
        probes += [("GET", f"/api/v1/users/{bob_uid}/jobs"), ("GET", f"/api/v1/users/{bob_uid}/queue"),
                   ("GET", f"/api/v1/users/{bob_uid}/job_limits"),
                   ("POST", f"/api/v1/users/{bob_uid}/jobs")]
        leaks = []
        for method, path in probes:
            kwargs = {"json": _job()} if method == "POST" else {}
            r = http.request(method, path, headers=alice, **kwargs)
            fake = str(uuid.uuid4())
            missing = http.request(method, path.replace(job_id, fake), headers=alice, **kwargs)
            if r.status_code != 404 or r.text.replace(job_id, fake) != missing.text:
                leaks.append(f"{method} {path.replace(job_id, '<job>')} -> {r.status_code}")
        still = http.get(f"/api/v1/users/{bob_uid}/jobs/{job_id}", headers=bob).json()["status"]
    return [(
        f"cross-user probes ({len(probes)})",
        "another user's job answers exactly as a missing one (404, same body); nothing changes",
        f"{len(leaks)} answers other than 404 {leaks or ''}; bob's job afterwards: {still}",
    )]


BAD_VALUES: list[object] = [
    None, "", "x" * 10_000, "\x00", -1, -1e300, 1e300, float("inf"), True, [], {}, [[]],
    {"$ne": 1}, 10**30, "NaN",
]


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list) and node and not isinstance(node[0], (int, float)):
        for i, v in enumerate(node):
            yield from _leaves(v, (*prefix, i))
    else:
        yield prefix


def _replaced(job: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(job)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _jobs_stored(data: Path) -> int:
    with sqlite3.connect(data / "oqtant.db") as db:
        return db.execute("SELECT count(*) FROM jobs").fetchone()[0]


def probe_bad_values(tmp: Path) -> list[Row]:
    import json

    data = tmp / "bad"
    uid, headers = account(data, "alice")
    bases = [_job(), copy.deepcopy(BARRIER_MANIPULATOR_JOB)]
    cases = [(base, path) for base in bases for path in _leaves(base)]
    paths = [path for _, path in cases]
    with server(data, FAST) as srv, httpx.Client(base_url=srv.url, timeout=20) as http:
        before = _jobs_stored(data)
        codes: Counter = Counter()
        accepted = 0
        for base, path in cases:
            for value in BAD_VALUES:
                body = json.dumps(_replaced(base, path, value), allow_nan=True)
                r = http.post(f"/api/v1/users/{uid}/jobs", content=body,
                              headers={**headers, "Content-Type": "application/json"})
                codes[r.status_code // 100 * 100] += 1
                accepted += r.status_code == 201
        stored = _jobs_stored(data) - before
    total = len(paths) * len(BAD_VALUES)
    return [(
        f"bad field values ({total}: {len(paths)} fields of the two standard jobs x "
        f"{len(BAD_VALUES)} values)",
        "each refused with a 4xx naming the field, or accepted as a valid job; never a 5xx",
        f"{codes.get(500, 0)} x 5xx, {codes.get(400, 0)} x 4xx, {accepted} accepted as valid "
        f"(stored: {stored})",
    )]


def probe_concurrent_quota(tmp: Path) -> list[Row]:
    data = tmp / "quota"
    uid, headers = account(data, "alice", max_pending_jobs=5)
    with server(data, SLOW, OQTANT_TEST_RUN_SECONDS="5") as srv:
        def one(_):
            return httpx.post(f"{srv.url}/api/v1/users/{uid}/jobs", json=_job(), headers=headers,
                              timeout=30).status_code
        with cf.ThreadPoolExecutor(50) as pool:
            codes = Counter(pool.map(one, range(50)))
    return [(
        "50 concurrent submits, max_pending_jobs 5",
        "never more jobs accepted than the quota",
        f"{codes.get(201, 0)} accepted, {codes.get(429, 0)} refused with 429, "
        f"{sum(n for c, n in codes.items() if c >= 500)} x 5xx",
    )]


def probe_simulator_jobs(tmp: Path) -> list[Row]:
    data = tmp / "sim"
    zero_uid, zero = account(data, "zero", daily_limit=0, max_pending_jobs=0, max_runs_per_job=1)
    busy_uid, busy = account(data, "busy")
    other_uid, other = account(data, "other")
    env = {"OQTANT_SIM_BACKEND": SLOW, "OQTANT_TEST_RUN_SECONDS": "0.25"}
    with server(data, SLOW, **env) as srv, httpx.Client(base_url=srv.url, timeout=20) as http:
        srv.cli("user", "limits", "zero", "--sim-daily-limit", "0", "--sim-max-pending-jobs", "0")
        srv.cli("user", "limits", "busy", "--sim-max-pending-jobs", "100")
        accepted = sum(
            http.post(f"/api/v1/users/{zero_uid}/jobs", json=_job(sim=True), headers=zero).status_code
            == 201
            for _ in range(20)
        )
        for _ in range(20):
            http.post(f"/api/v1/users/{busy_uid}/jobs", json=_job(sim=True, runs=3), headers=busy)
        started = time.monotonic()
        job_id = http.post(f"/api/v1/users/{other_uid}/jobs", json=_job(), headers=other).json()["job_id"]
        _wait_complete(http, other_uid, other, job_id, 120)
        waited = time.monotonic() - started
    return [
        (
            "simulator jobs of a user with every limit at 0 (20 submits)",
            "simulator jobs have limits of their own",
            f"{accepted} of 20 accepted",
        ),
        (
            "one job behind 60 queued simulator runs of another user (0.25 s a run)",
            "users are served fairly: a user's backlog does not hold up another's job",
            f"waited {waited:.1f} s",
        ),
    ]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def probe_kill_9(tmp: Path) -> list[Row]:
    data = tmp / "kill"
    uid, headers = account(data, "alice")
    env = {"OQTANT_TEST_RUN_SECONDS": "1.5", "OQTANT_LEASE_SECONDS": "3"}
    srv = server(data, SLOW, workers=2, **env).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as http:
            jobs = [http.post(f"/api/v1/users/{uid}/jobs", json=_job(runs=2), headers=headers)
                    .json()["job_id"] for _ in range(10)]
            wait_for(lambda: len(_children(srv.process.pid)) >= 2, 30, "worker processes")
            time.sleep(2.0)
            workers = _children(srv.process.pid)
        os.kill(srv.process.pid, signal.SIGKILL)  # the main process alone, as a crash would
        srv.process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        orphans = sum(_alive(p) for p in workers)
        for p in workers:  # tidy up whatever survived
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        srv.stop()
    with server(data, SLOW, workers=2, **env) as again, httpx.Client(base_url=again.url, timeout=10) as http:
        for job_id in jobs:
            _wait_complete(http, uid, headers, job_id, 180)
    with sqlite3.connect(data / "oqtant.db") as db:
        rows = db.execute("SELECT status, attempts FROM runs").fetchall()
    lost = sum(1 for status, _ in rows if status != "COMPLETE")
    repeated = sum(1 for _, attempts in rows if attempts > 1)
    return [(
        "kill -9 of the server with 20 runs queued or running",
        "no run lost or stored twice; worker processes die with the server",
        f"{len(rows)} runs: {lost} not completed, {repeated} run again; "
        f"{orphans} of {len(workers)} worker processes left alive",
    )]


def _postgres_pids(pg) -> list[int]:
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    return [postmaster, *_children(postmaster)]


def probe_frozen_postgres(tmp: Path) -> list[Row]:
    from oqtant.demo import EmbeddedServer
    from tests.pgserver import PostgresServer

    data = tmp / "pg"
    with PostgresServer() as pg:
        url = pg.create_database("campaign")
        srv = EmbeddedServer(data, database_url=url, workers=1, backend=FAST,
                             extra_env={"PYTHONPATH": str(REPO)}, startup_timeout_s=60)
        with srv:
            uid, headers = account(data, "alice", database_url=url)
            httpx.get(f"{srv.url}/api/v1/users/{uid}/jobs", headers=headers, timeout=10)
            frozen = _postgres_pids(pg)
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            try:
                def read(_):
                    started = time.monotonic()
                    try:
                        code = httpx.get(f"{srv.url}/api/v1/users/{uid}/jobs", headers=headers,
                                         timeout=60).status_code
                    except httpx.HTTPError:
                        code = "no answer in 60 s"
                    return code, time.monotonic() - started

                with cf.ThreadPoolExecutor(30) as pool:
                    answers = list(pool.map(read, range(30)))
            finally:
                for pid in frozen:
                    os.kill(pid, signal.SIGCONT)
            after = wait_for(
                lambda: httpx.get(f"{srv.url}/api/v1/users/{uid}/jobs", headers=headers,
                                  timeout=30).status_code == 200,
                60, "the service to resume",
            )
    codes = Counter(code for code, _ in answers)
    slowest = max(t for _, t in answers)
    return [(
        "PostgreSQL frozen (SIGSTOP), 30 readers",
        "503 with Retry-After within the timeouts; nothing hangs; service resumes",
        f"{', '.join(f'{n} x {c}' for c, n in codes.items())}; slowest answer {slowest:.1f} s; "
        f"resumed after SIGCONT: {'yes' if after else 'no'}",
    )]


PROBES: list[Callable[[Path], list[Row]]] = [
    probe_refused_submits,
    probe_login_burst,
    probe_cross_user,
    probe_bad_values,
    probe_concurrent_quota,
    probe_simulator_jobs,
    probe_kill_9,
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="also the probes needing PostgreSQL")
    parser.add_argument("--only", default="", help="comma-separated probe names (e.g. kill_9)")
    args = parser.parse_args(argv)
    probes = PROBES + ([probe_frozen_postgres] if args.postgres else [])
    if args.only:
        wanted = set(args.only.split(","))
        probes = [p for p in probes if p.__name__.removeprefix("probe_") in wanted]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="oqtant-campaign-") as tmp:
        for probe in probes:
            started = time.monotonic()
            try:
                rows += probe(Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a probe that breaks is a finding
                rows.append((probe.__name__, "(probe failed)", f"{type(exc).__name__}: {exc}"[:300]))
            print(f"# {probe.__name__}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    print("| probe | promise | measured |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
