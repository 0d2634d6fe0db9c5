"""A refused request never leaves the database's write lock held.

Every route that writes is sent each refusal it can give (wrong owner, unknown or
deleted account, over quota, bad state, bad form, wrong password); after each, the
process's SQLite write lock must be free and the next write must go through. On
the code before the lock was tied to the transaction, a refused submit left the lock
held and every later write hung (here: 503 after the short lock timeout).
"""

from __future__ import annotations

import concurrent.futures as cf
import re
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from oqtant.server import create_app
from oqtant.server.auth.security import create_access_token
from oqtant.server.db import crud
from oqtant.server.db.session import _write_lock
from tests.server.conftest import Account, add_account, job_dict, make_settings
from tests.web.conftest import login


@pytest.fixture
def app(tmp_path):
    executor = cf.ThreadPoolExecutor(max_workers=1)
    application = create_app(
        make_settings(tmp_path, write_lock_timeout_seconds=2.0),
        executor=executor,
        start_dispatcher=False,
    )
    yield application
    executor.shutdown(wait=False, cancel_futures=True)
    application.state.engine.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def alice(app) -> Account:
    return add_account(app, "alice")


@pytest.fixture
def bob(app) -> Account:
    return add_account(app, "bob")


def _ghost(app) -> Account:
    """A valid token of an account that does not exist (deleted after the token was made)."""
    uid = str(uuid.uuid4())
    token = create_access_token(uid, secret_key=app.state.secret_key, ttl_minutes=60)
    return Account("ghost", "", uid, token)


def _finished_job(app, client, who: Account) -> str:
    job_id = client.post(f"{who.base}/jobs", json=job_dict(), headers=who.headers).json()["job_id"]
    app.state.dispatcher.run_until_idle()
    return job_id


def _assert_writes_work(app, client: TestClient, who: Account) -> None:
    lock, _ = _write_lock(app.state.engine)
    assert not lock.locked(), "the refused request left the write lock held"
    r = client.post(f"{who.base}/jobs", json=job_dict(name="after"), headers=who.headers)
    assert r.status_code == 201, r.text


# Each refusal: (name, expected status, request) where request(app, client, alice, bob) answers.
Refusal = Callable[..., object]


def _submit_other_uid(app, client, alice, bob):
    return client.post(f"{bob.base}/jobs", json=job_dict(), headers=alice.headers)


def _submit_deleted_account(app, client, alice, bob):
    ghost = _ghost(app)
    return client.post(f"{ghost.base}/jobs", json=job_dict(), headers=ghost.headers)


def _submit_over_quota(app, client, alice, bob):
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name="bob")
        crud.set_user_limits(session=session, user_id=user.id, max_pending_jobs=0)
    return client.post(f"{bob.base}/jobs", json=job_dict(), headers=bob.headers)


def _submit_too_many_runs(app, client, alice, bob):
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name="bob")
        crud.set_user_limits(session=session, user_id=user.id, max_runs_per_job=1)
    return client.post(f"{bob.base}/jobs", json=job_dict(runs=2), headers=bob.headers)


def _submit_repeated_key(app, client, alice, bob):
    headers = {**alice.headers, "Idempotency-Key": "same-key"}
    first = client.post(f"{alice.base}/jobs", json=job_dict(), headers=headers)
    assert first.status_code == 201
    return client.post(f"{alice.base}/jobs", json=job_dict(), headers=headers)


def _submit_invalid_job(app, client, alice, bob):
    job = job_dict()
    job["inputs"][0]["values"]["time_of_flight_ms"] = -5
    return client.post(f"{alice.base}/jobs", json=job, headers=alice.headers)


def _cancel_other_users_job(app, client, alice, bob):
    job_id = client.post(f"{bob.base}/jobs", json=job_dict(), headers=bob.headers).json()["job_id"]
    return client.put(f"{alice.base}/jobs/{job_id}/cancel", headers=alice.headers)


def _cancel_finished_job(app, client, alice, bob):
    job_id = _finished_job(app, client, alice)
    return client.put(f"{alice.base}/jobs/{job_id}/cancel", headers=alice.headers)


def _cancel_deleted_account(app, client, alice, bob):
    ghost = _ghost(app)
    return client.put(f"{ghost.base}/jobs/{uuid.uuid4()}/cancel", headers=ghost.headers)


def _delete_unknown_job(app, client, alice, bob):
    return client.delete(f"{alice.base}/jobs/{uuid.uuid4()}", headers=alice.headers)


def _delete_other_uid(app, client, alice, bob):
    job_id = client.post(f"{bob.base}/jobs", json=job_dict(), headers=bob.headers).json()["job_id"]
    return client.delete(f"{bob.base}/jobs/{job_id}", headers=alice.headers)


def _limits_deleted_account(app, client, alice, bob):
    ghost = _ghost(app)
    return client.get(f"{ghost.base}/job_limits", headers=ghost.headers)


def _password_grant_wrong(app, client, alice, bob):
    form = {"grant_type": "password", "username": "alice", "password": "wrong"}
    return client.post("/oauth/token", data=form)


def _code_grant_unknown(app, client, alice, bob):
    form = {"grant_type": "authorization_code", "code": "nope", "code_verifier": "x" * 43}
    return client.post("/oauth/token", data=form)


API_REFUSALS: list[tuple[str, int, Refusal]] = [
    ("submit to another user's uid", 404, _submit_other_uid),
    ("submit with a deleted account's token", 401, _submit_deleted_account),
    ("submit over max_pending_jobs", 429, _submit_over_quota),
    ("submit over max_runs_per_job", 429, _submit_too_many_runs),
    ("submit repeating an idempotency key", 201, _submit_repeated_key),
    ("submit an invalid job", 422, _submit_invalid_job),
    ("cancel another user's job", 404, _cancel_other_users_job),
    ("cancel a finished job", 409, _cancel_finished_job),
    ("cancel with a deleted account's token", 401, _cancel_deleted_account),
    ("delete an unknown job", 404, _delete_unknown_job),
    ("delete through another user's uid", 404, _delete_other_uid),
    ("limits of a deleted account", 401, _limits_deleted_account),
    ("password grant with a wrong password", 400, _password_grant_wrong),
    ("code grant with an unknown code", 400, _code_grant_unknown),
]


@pytest.mark.parametrize(
    ("what", "code", "refusal"), API_REFUSALS, ids=[r[0] for r in API_REFUSALS]
)
def test_api_refusal_releases_the_write_lock(app, client, alice, bob, what, code, refusal):
    answer = refusal(app, client, alice, bob)
    assert answer.status_code == code, answer.text
    _assert_writes_work(app, client, alice)
    _assert_writes_work(app, client, bob if code != 429 else alice)


# --------------------------------------------------------------------------- the console


def _console(app, who: str) -> tuple[TestClient, str]:
    browser = TestClient(app)
    return browser, login(browser, who)


def _console_submit_over_quota(app, client, alice, bob):
    with app.state.session_factory() as session:
        user = crud.get_user_by_name(session=session, name="bob")
        crud.set_user_limits(session=session, user_id=user.id, daily_limit=0)
    browser, csrf = _console(app, "bob")
    return browser.post("/new/submit", json=job_dict(), headers={"X-CSRF-Token": csrf})


def _console_submit_bad_csrf(app, client, alice, bob):
    browser, _ = _console(app, "alice")
    return browser.post("/new/submit", json=job_dict(), headers={"X-CSRF-Token": "stale"})


def _console_submit_logged_out(app, client, alice, bob):
    browser = TestClient(app)
    csrf_page = browser.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', csrf_page).group(1)
    return browser.post("/new/submit", json=job_dict(), headers={"X-CSRF-Token": csrf})


def _console_cancel_finished(app, client, alice, bob):
    job_id = _finished_job(app, client, alice)
    browser, csrf = _console(app, "alice")
    return browser.post(f"/jobs/{job_id}/cancel", data={"csrf": csrf}, follow_redirects=False)


def _console_delete_unknown(app, client, alice, bob):
    browser, csrf = _console(app, "alice")
    return browser.post(f"/jobs/{uuid.uuid4()}/delete", data={"csrf": csrf})


def _console_delete_bad_csrf(app, client, alice, bob):
    job_id = _finished_job(app, client, alice)
    browser, _ = _console(app, "alice")
    return browser.post(f"/jobs/{job_id}/delete", data={"csrf": "stale"})


def _console_admin_not_admin(app, client, alice, bob):
    browser, csrf = _console(app, "alice")
    return browser.post("/admin/users/bob/limits", data={"daily_limit": "5", "csrf": csrf})


def _console_admin_unknown_user(app, client, alice, bob):
    add_account(app, "root", admin=True)
    browser, csrf = _console(app, "root")
    return browser.post("/admin/users/nobody/limits", data={"daily_limit": "5", "csrf": csrf})


def _console_admin_bad_value(app, client, alice, bob):
    add_account(app, "root", admin=True)
    browser, csrf = _console(app, "root")
    return browser.post("/admin/users/bob/limits", data={"daily_limit": "-3", "csrf": csrf})


def _console_login_wrong_password(app, client, alice, bob):
    browser = TestClient(app)
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text).group(1)
    form = {"username": "alice", "password": "wrong", "csrf": csrf, "next": "/jobs"}
    return browser.post("/login", data=form)


CONSOLE_REFUSALS: list[tuple[str, int, Refusal]] = [
    ("compose and submit over the daily limit", 429, _console_submit_over_quota),
    ("compose and submit with a stale form token", 403, _console_submit_bad_csrf),
    ("compose and submit logged out", 403, _console_submit_logged_out),
    ("cancel a finished job", 303, _console_cancel_finished),
    ("delete an unknown job", 404, _console_delete_unknown),
    ("delete with a stale form token", 403, _console_delete_bad_csrf),
    ("set limits as a non-admin", 403, _console_admin_not_admin),
    ("set limits of an unknown user", 404, _console_admin_unknown_user),
    ("set a negative limit", 422, _console_admin_bad_value),
    ("log in with a wrong password", 401, _console_login_wrong_password),
]


@pytest.mark.parametrize(
    ("what", "code", "refusal"), CONSOLE_REFUSALS, ids=[r[0] for r in CONSOLE_REFUSALS]
)
def test_console_refusal_releases_the_write_lock(app, client, alice, bob, what, code, refusal):
    answer = refusal(app, client, alice, bob)
    assert answer.status_code == code, answer.text
    _assert_writes_work(app, client, alice)


def test_a_session_closed_inside_a_write_releases_the_lock(app, alice):
    """Closing a session in the middle of a write transaction (no commit, no rollback) frees it."""
    from oqtant.server.db import begin_write

    lock, _ = _write_lock(app.state.engine)
    session = app.state.session_factory()
    begin_write(session)
    assert lock.locked()
    session.close()
    assert not lock.locked()


def test_a_held_lock_gives_503_not_a_hang(app, client, alice):
    """While another transaction writes for longer than the timeout, a write gets 503 Retry-After."""
    from oqtant.server.db import begin_write

    holder = app.state.session_factory()
    begin_write(holder)
    try:
        r = client.post(f"{alice.base}/jobs", json=job_dict(), headers=alice.headers)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"]
    finally:
        holder.rollback()
        holder.close()
    _assert_writes_work(app, client, alice)


@pytest.mark.server
def test_a_real_server_keeps_writing_after_refused_submits(tmp_path):
    """``oqtant serve``: refused submits (404, 401), then runs are stored, health answers, SIGTERM stops."""
    import httpx

    from tests.reliability.helpers import account, server, wait_for

    data = tmp_path / "data"
    alice_uid, alice = account(data, "alice")
    bob_uid, _ = account(data, "bob")
    ghost_uid = str(uuid.uuid4())
    with server(data, "tests.server.fast_backend:FastBackend") as srv:
        from oqtant.settings import Settings

        secret = Settings(data_dir=data).resolved_secret_key()
        ghost = {"Authorization": f"Bearer {create_access_token(ghost_uid, secret_key=secret, ttl_minutes=60)}"}
        with httpx.Client(base_url=srv.url, timeout=10) as http:
            for _ in range(5):
                assert http.post(f"/api/v1/users/{bob_uid}/jobs", json=job_dict(),
                                 headers=alice).status_code == 404
                assert http.post(f"/api/v1/users/{ghost_uid}/jobs", json=job_dict(),
                                 headers=ghost).status_code == 401
            r = http.post(f"/api/v1/users/{alice_uid}/jobs", json=job_dict(), headers=alice)
            assert r.status_code == 201, r.text
            job = r.json()["job_id"]

            def done():
                got = http.get(f"/api/v1/users/{alice_uid}/jobs/{job}", headers=alice)
                return got.json()["status"] == "COMPLETE"

            wait_for(done, 60, "the run to be stored")
            assert http.get("/healthz").status_code == 200
        srv.process.terminate()
        assert srv.process.wait(timeout=30) == 0
