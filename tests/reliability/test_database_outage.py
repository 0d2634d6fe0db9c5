"""The database unreachable for a while: clear 503s, nothing accepted lost, service resumes.

On SQLite the app is pointed at a database file that cannot be opened (a real
``OperationalError`` from the driver), then back; on PostgreSQL a real server is
stopped and started again under a running ``oqtant serve``.
"""

from __future__ import annotations

import httpx
import pytest

from oqtant.server.db import make_engine, make_session_factory
from tests.reliability.helpers import postgres_service
from tests.server.conftest import job_dict, submit

FAST = "tests.server.fast_backend:FastBackend"


def _calls(who, job_id: str) -> list[tuple[str, str, dict | None]]:
    base = who.base
    return [
        ("post", f"{base}/jobs", job_dict()),
        ("get", f"{base}/jobs/{job_id}", None),
        ("get", f"{base}/jobs", None),
        ("get", f"{base}/queue", None),
        ("get", f"{base}/job_limits", None),
        ("get", f"{base}/jobs/{job_id}/raw_images", None),
        ("put", f"{base}/jobs/{job_id}/cancel", None),
        ("delete", f"{base}/jobs/{job_id}", None),
        ("get", "/healthz", None),
    ]


def test_unreachable_sqlite_gives_503_then_service_resumes(client, app, alice, tmp_path):
    accepted = submit(client, alice)["job_id"]
    working = app.state.session_factory
    gone = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'oqtant.db'}")
    app.state.session_factory = make_session_factory(gone)
    try:
        for method, url, body in _calls(alice, accepted):
            r = client.request(method, url, json=body, headers=alice.headers)
            assert r.status_code == 503, (method, url, r.status_code, r.text)
            if url != "/healthz":
                assert "database is unavailable" in r.json()["detail"]
                assert r.headers["Retry-After"] == "2"
    finally:
        app.state.session_factory = working
        gone.dispose()
    # back: the job accepted before is there, untouched; the service answers again
    r = client.get(f"{alice.base}/jobs/{accepted}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "PENDING"
    assert client.get(f"{alice.base}/jobs", headers=alice.headers).json()["total"] == 1
    app.state.dispatcher.run_until_idle()
    assert client.get(f"{alice.base}/jobs/{accepted}", headers=alice.headers).json()["status"] == (
        "COMPLETE"
    )
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_database_errors_do_not_leak_internals(client, app, alice, tmp_path):
    gone = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    working, app.state.session_factory = app.state.session_factory, make_session_factory(gone)
    try:
        r = client.get(f"{alice.base}/jobs", headers=alice.headers)
    finally:
        app.state.session_factory = working
        gone.dispose()
    assert r.status_code == 503
    assert "sqlite" not in r.text.lower() and str(tmp_path) not in r.text


# --------------------------------------------------------------------------- PostgreSQL


def _restart(pg) -> None:
    """Start a stopped throwaway PostgreSQL server again on its port and folder."""
    options = [
        "-c listen_addresses=127.0.0.1",
        f"-c port={pg.port}",
        f"-c unix_socket_directories={pg.folder}",
        *(f"-c {k}={v}" for k, v in pg.settings.items()),
    ]
    pg._run(
        pg.bin / "pg_ctl",
        "-D",
        pg.data_dir,
        "-l",
        pg.log_file,
        "-o",
        " ".join(options),
        "-w",
        "start",
    )
    pg._wait_ready()


@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_stopped_and_started_under_a_running_server(tmp_path):
    with postgres_service(tmp_path, FAST, OQTANT_LEASE_SECONDS="2") as service:
        before = [service.submit() for _ in range(3)]
        assert [r.status_code for r in before] == [201] * 3
        ids = [r.json()["job_id"] for r in before]

        pg = service.pg
        pg._run(pg.bin / "pg_ctl", "-D", pg.data_dir, "-m", "fast", "-w", "stop")
        r = service.submit(timeout_s=15)
        assert r.status_code == 503 and "database" in r.json()["detail"]
        listed = httpx.get(f"{service.base}/jobs", headers=service.headers, timeout=15)
        assert listed.status_code == 503
        assert httpx.get(f"{service.server.url}/healthz", timeout=15).status_code == 503

        _restart(pg)  # the server is not restarted: it reconnects by itself
        service.assert_resumes(ids)
