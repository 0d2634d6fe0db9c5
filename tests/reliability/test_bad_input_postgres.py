"""Bad input on PostgreSQL: what SQLite stores or ignores, PostgreSQL refuses as an error.

A NUL character in text and an offset past 64 bits were database errors there
(answered 503, which clients retry); they are refused as bad input (4xx naming
the field) before any statement, and nothing is stored.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.db.migrate import upgrade_database
from oqtant.server.db.models import Job
from tests.server.conftest import add_account, job_dict, make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(postgres_server, tmp_path):
    url = postgres_server.create_database()
    upgrade_database(url)
    app = create_app(make_settings(tmp_path, database_url=url), start_dispatcher=False)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def pg_client(pg_app):
    with TestClient(pg_app) as client:
        yield client


def _with_note(note: str) -> dict:
    job = job_dict()
    job["inputs"][0]["notes"] = note
    return job


def test_nul_and_huge_numbers_are_4xx_on_postgres(pg_app, pg_client):
    alice = add_account(pg_app, "alice")
    root = add_account(pg_app, "root", admin=True)
    h = alice.headers
    answers = {
        "offset": pg_client.get(f"{alice.base}/jobs?offset={10**20}", headers=h),
        "name": pg_client.post(f"{alice.base}/jobs", json=job_dict(name="a\x00b"), headers=h),
        "inputs.0.notes": pg_client.post(
            f"{alice.base}/jobs", json=_with_note("x\x00"), headers=h
        ),
        "notes": pg_client.get(f"{alice.base}/jobs?notes=%00", headers=h),
        "note": pg_client.get(f"{alice.base}/queue?note=a%00", headers=h),
        "job_id": pg_client.get(f"{alice.base}/jobs/a%00b", headers=h),
        "name (admin)": pg_client.put(
            "/api/v1/admin/users/a%00b/limits", json={"daily_limit": 3}, headers=root.headers
        ),
    }
    for field, r in answers.items():
        assert r.status_code == 422, (field, r.status_code, r.text[:300])
        assert r.json()["errors"][0]["field"] == field.split()[0], (field, r.json())
    with pg_app.state.session_factory() as session:
        assert session.query(Job).count() == 0


def test_nul_in_a_login_is_a_failed_login_on_postgres(pg_app, pg_client):
    add_account(pg_app, "alice")
    grant = {"grant_type": "password", "username": "ali\x00ce", "password": "correct horse"}
    r = pg_client.post("/oauth/token", data=grant)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    page = pg_client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"username": "ali\x00ce", "password": "x", "csrf": csrf, "next": "/jobs"}
    r = pg_client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 401


def test_web_pages_survive_nul_on_postgres(pg_app, pg_client):
    from tests.web.conftest import login

    add_account(pg_app, "alice")
    login(pg_client, "alice")
    assert pg_client.get("/jobs?name=a%00").status_code == 200
    assert pg_client.get("/jobs/a%00b").status_code == 404
