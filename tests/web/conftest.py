"""Fixtures of the web console tests: an app with the console, users, logged-in clients."""

from __future__ import annotations

import concurrent.futures as cf
import re

import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from tests.server.conftest import add_account, job_dict, make_settings

__all__ = ["csrf_of", "login"]


def csrf_of(html: str) -> str:
    """The session's CSRF token, as a page carries it."""
    match = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def login(client: TestClient, name: str, password: str = "correct horse") -> str:
    """Log in through the login form; returns the session's CSRF token."""
    page = client.get("/login")
    assert page.status_code == 200
    form_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": name, "password": password, "csrf": form_csrf, "next": "/jobs"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/jobs").text)


@pytest.fixture
def app(tmp_path):
    executor = cf.ThreadPoolExecutor(max_workers=1)
    application = create_app(make_settings(tmp_path), executor=executor, start_dispatcher=False)
    yield application
    executor.shutdown(wait=False, cancel_futures=True)
    application.state.engine.dispose()


@pytest.fixture
def alice(app):
    return add_account(app, "alice")


@pytest.fixture
def bob(app):
    return add_account(app, "bob")


@pytest.fixture
def root(app):
    return add_account(app, "root", admin=True)


@pytest.fixture
def browser_of(app):
    """``browser_of(account)``: a TestClient logged in as ``account`` and its CSRF token."""
    clients = []

    def make(account):
        client = TestClient(app)
        clients.append(client)
        return client, login(client, account.name, account.password)

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def submit_as(app):
    """``submit_as(account, **job_dict_args)``: the new job's id (submitted through the API)."""

    def submit(account, **kwargs):
        with TestClient(app) as api:
            r = api.post(f"{account.base}/jobs", json=job_dict(**kwargs), headers=account.headers)
            assert r.status_code == 201, r.text
            return r.json()["job_id"]

    return submit
