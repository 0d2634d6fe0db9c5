"""Helpers of the fault tests: real ``oqtant serve`` processes, accounts, waiting, and a
service on a throwaway PostgreSQL server (for the outage and hang tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from oqtant.demo import EmbeddedServer
from oqtant.server.auth.security import create_access_token
from oqtant.server.db import crud, make_engine, make_session_factory
from oqtant.server.db.migrate import prepare_database
from oqtant.settings import Settings
from tests.pgserver import PostgresServer
from tests.server.conftest import job_dict

__all__ = [
    "REPO",
    "PostgresService",
    "account",
    "db_rows",
    "kill_hard",
    "postgres_service",
    "server",
    "wait_for",
]

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def account(
    data_dir: Path, name: str, *, database_url: str | None = None, **limits
) -> tuple[str, dict]:
    """Create user ``name`` (SQLite in ``data_dir`` by default); returns (uid, auth headers).

    The token is signed with the key in ``data_dir``, which a server there also uses.
    """
    settings = Settings(data_dir=data_dir, database_url=database_url)
    if database_url is None:
        prepare_database(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            user = crud.create_user(
                session=session,
                name=name,
                password="a long test password",
                daily_limit=limits.get("daily_limit", 1000),
                max_runs_per_job=limits.get("max_runs_per_job", 30),
                max_pending_jobs=limits.get("max_pending_jobs", 1000),
            )
            uid = user.external_id
    finally:
        engine.dispose()
    token = create_access_token(uid, secret_key=settings.resolved_secret_key(), ttl_minutes=60)
    return uid, {"Authorization": f"Bearer {token}"}


def server(
    data_dir: Path,
    backend: str,
    *,
    workers: int = 1,
    database_url: str | None = None,
    **env: str,
) -> EmbeddedServer:
    """An ``oqtant serve`` process (not started) on ``data_dir`` running ``backend``
    (on SQLite in ``data_dir``, or on ``database_url``)."""
    extra = {
        "PYTHONPATH": str(REPO),
        "OQTANT_POLL_SECONDS": "0.05",
    }
    extra.update(env)
    return EmbeddedServer(
        data_dir,
        database_url=database_url,
        workers=workers,
        backend=backend,
        extra_env=extra,
        startup_timeout_s=40,
    )


@dataclass
class PostgresService:
    """A running ``oqtant serve`` on a throwaway PostgreSQL server, and alice's account."""

    pg: PostgresServer
    server: EmbeddedServer
    base: str  # alice's API: {server}/api/v1/users/{uid}
    headers: dict

    def submit(self, timeout_s: float = 10) -> httpx.Response:
        """POST one standard job as alice."""
        return httpx.post(
            f"{self.base}/jobs", json=job_dict(), headers=self.headers, timeout=timeout_s
        )

    def states(self) -> dict[str, str]:
        """alice's jobs: external id -> status."""
        listed = httpx.get(f"{self.base}/jobs", headers=self.headers, timeout=10).json()["items"]
        return {j["external_id"]: j["status"] for j in listed}

    def assert_resumes(self, accepted: list[str]) -> None:
        """The service answers again by itself, takes a new job, and completes every job it
        accepted (``accepted`` and the new one): nothing accepted lost, nothing added."""
        wait_for(
            lambda: httpx.get(f"{self.server.url}/healthz", timeout=5).status_code == 200,
            30,
            "the service to come back",
        )
        after = self.submit()
        assert after.status_code == 201, after.text
        done = wait_for(
            lambda: (s := self.states()) and set(s.values()) == {"COMPLETE"} and s,
            60,
            "every job to complete",
        )
        assert sorted(done) == sorted([*accepted, after.json()["job_id"]])


@contextmanager
def postgres_service(data_dir: Path, backend: str, **env: str) -> Iterator[PostgresService]:
    """``oqtant serve`` (thread executor, one worker) running ``backend`` on a fresh
    PostgreSQL cluster, with the account alice; everything is stopped after the block."""
    with PostgresServer() as pg:
        url = pg.create_database()
        srv = server(data_dir, backend, database_url=url, OQTANT_EXECUTOR="thread", **env)
        with srv:
            uid, headers = account(data_dir, "alice", database_url=url)
            yield PostgresService(pg, srv, f"{srv.url}/api/v1/users/{uid}", headers)


def kill_hard(srv: EmbeddedServer) -> None:
    """``kill -9`` the server and every process of its session (its worker processes)."""
    assert srv.process is not None
    os.killpg(srv.process.pid, signal.SIGKILL)
    srv.process.wait(10)
    srv.stop()  # closes the log


def wait_for(check: Callable[[], T], timeout_s: float, what: str, step_s: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except httpx.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(step_s)


def db_rows(data_dir: Path, sql: str, *params) -> list[tuple]:
    """Rows of a read-only query on the SQLite database of ``data_dir``."""
    con = sqlite3.connect(f"file:{data_dir / 'oqtant.db'}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()
