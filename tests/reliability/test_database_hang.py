"""A database that hangs (frozen, not refusing): bounded 503s, never a 500 or a hang.

A frozen PostgreSQL server accepts TCP connections (the kernel does) and
answers nothing. Every wait on it is bounded: connecting, a statement's answer,
a free pooled connection. The real test freezes a throwaway cluster with
SIGSTOP under a running ``oqtant serve`` and thaws it with SIGCONT.
"""

from __future__ import annotations

import concurrent.futures as cf
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from oqtant.server import create_app
from oqtant.server.db import make_engine
from oqtant.settings import Settings
from tests.reliability.helpers import postgres_service
from tests.server.conftest import add_account, job_dict, make_settings

SLOW = "tests.reliability.backends:SlowBackend"
READERS = 30
ANSWER_BOUND_S = 25.0  # every request is answered within this, the database frozen
TIMEOUTS = {  # the server's database timeouts in the test (seconds)
    "OQTANT_DB_CONNECT_TIMEOUT_SECONDS": "2",
    "OQTANT_DB_STATEMENT_TIMEOUT_SECONDS": "2",
    "OQTANT_DB_LOCK_TIMEOUT_SECONDS": "1",
    "OQTANT_DB_READ_TIMEOUT_SECONDS": "3",
    "OQTANT_DB_POOL_TIMEOUT_SECONDS": "2",
}


def test_no_free_pooled_connection_is_503_not_500(tmp_path):
    app = create_app(make_settings(tmp_path, db_pool_timeout_seconds=0.5), start_dispatcher=False)
    alice = add_account(app, "alice")
    engine = app.state.engine
    held = [engine.connect() for _ in range(engine.pool.size() + engine.pool._max_overflow)]
    try:
        with TestClient(app) as client:
            r = client.get(f"{alice.base}/jobs", headers=alice.headers)
    finally:
        for connection in held:
            connection.close()
        engine.dispose()
    assert r.status_code == 503, r.text
    assert "database is unavailable" in r.json()["detail"]
    assert r.headers["Retry-After"] == "2"


def test_a_read_timeout_not_longer_than_the_statement_timeout_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="db_read_timeout_seconds"):
        Settings(data_dir=tmp_path, db_statement_timeout_seconds=30, db_read_timeout_seconds=10)


@pytest.mark.postgres
def test_postgres_sessions_get_the_configured_timeouts(tmp_path):
    from tests.pgserver import PostgresServer

    settings = Settings(
        data_dir=tmp_path,
        db_statement_timeout_seconds=2.5,
        db_lock_timeout_seconds=1,
        db_idle_in_transaction_timeout_seconds=40,
        db_keepalive_seconds=7,
    )
    with PostgresServer() as pg:
        engine = make_engine(pg.create_database(), settings=settings)
        try:
            with engine.connect() as connection:
                shown = {
                    name: connection.execute(text(f"SHOW {name}")).scalar_one()
                    for name in (
                        "statement_timeout",
                        "lock_timeout",
                        "idle_in_transaction_session_timeout",
                    )
                }
                client = connection.connection.driver_connection.info.get_parameters()
        finally:
            engine.dispose()
    assert shown == {
        "statement_timeout": "2500ms",
        "lock_timeout": "1s",
        "idle_in_transaction_session_timeout": "40s",
    }
    assert client["keepalives"] == "1" and client["keepalives_idle"] == "7"
    assert client["connect_timeout"] == str(settings.db_connect_timeout_seconds)


@contextmanager
def _frozen(pg) -> Iterator[None]:
    """Every process of the cluster stopped (SIGSTOP) inside the block, resumed after."""
    postmaster = psutil.Process(int((pg.data_dir / "postmaster.pid").read_text().split()[0]))
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGCONT)


def _timed(method: str, url: str, **kwargs) -> tuple[int | str, float, httpx.Response | None]:
    """(status or the error's name, seconds taken, response) of one request."""
    t0 = time.monotonic()
    try:
        r = httpx.request(method, url, timeout=ANSWER_BOUND_S, **kwargs)
    except httpx.HTTPError as exc:
        return type(exc).__name__, time.monotonic() - t0, None
    return r.status_code, time.monotonic() - t0, r


@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.slow
def test_frozen_postgres_gives_bounded_503s_then_service_resumes(tmp_path):
    env = {"OQTANT_LEASE_SECONDS": "3", "OQTANT_TEST_RUN_SECONDS": "0.5", **TIMEOUTS}
    with postgres_service(tmp_path, SLOW, **env) as service:
        base, headers = service.base, service.headers
        before = [service.submit(), service.submit()]
        assert [r.status_code for r in before] == [201, 201]
        ids = [r.json()["job_id"] for r in before]

        calls = [("get", f"{base}/jobs")] * READERS + [("post", f"{base}/jobs")] * 3
        with _frozen(service.pg), cf.ThreadPoolExecutor(len(calls)) as pool:
            answers = list(
                pool.map(
                    lambda call: _timed(
                        call[0],
                        call[1],
                        headers=headers,
                        json=job_dict() if call[0] == "post" else None,
                    ),
                    calls,
                )
            )
        codes = [code for code, _, _ in answers]
        assert set(codes) <= {200, 201, 503}, codes  # never a 500, never a timeout
        assert codes.count(503) >= READERS  # the database was frozen for the readers
        for code, _, r in answers:
            if code == 503:
                assert "database is unavailable" in r.json()["detail"], r.text
                assert r.headers["Retry-After"] == "2"
        ids += [r.json()["job_id"] for code, _, r in answers if code == 201]
        service.assert_resumes(ids)
