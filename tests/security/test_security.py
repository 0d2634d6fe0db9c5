"""Security: owner scoping, tokens, secrets kept out of logs and answers, quotas under load.

Complements ``tests/server/test_auth.py`` and ``test_jobs.py`` (which cover the
basic 404 per endpoint, expired/tampered/foreign/none-algorithm tokens, PKCE
wrong verifier and reused code, login rate limiting, loopback by default).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from oqtant.cli import main as cli_main
from oqtant.server import create_app
from oqtant.server.db.models import Job
from oqtant.settings import Settings
from tests.reliability.helpers import account, db_rows, server
from tests.server.conftest import add_account, job_dict, make_settings, submit
from tests.server.test_cli import _listening

FAST = "tests.server.fast_backend:FastBackend"


@pytest.fixture
def app(tmp_path):
    application = create_app(make_settings(tmp_path), start_dispatcher=False)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


# --------------------------------------------------------------------------- owner scoping


def test_another_users_job_is_indistinguishable_from_a_missing_one(client, app):
    alice, bob = add_account(app, "alice"), add_account(app, "bob")
    admin = add_account(app, "root", admin=True)
    job_id = submit(client, alice, job_dict(runs=2))["job_id"]
    app.state.dispatcher.run_until_idle()
    missing = str(uuid.uuid4())
    paths = [
        ("get", "/jobs/{job}?run=2"),
        ("get", "/jobs/{job}/raw_images?run=1"),
        ("put", "/jobs/{job}/cancel"),
        ("delete", "/jobs/{job}"),
    ]
    for intruder in (bob, admin):  # an admin is no exception on the user routes
        for method, path in paths:
            theirs = client.request(
                method, intruder.base + path.format(job=job_id), headers=intruder.headers
            )
            nothing = client.request(
                method, intruder.base + path.format(job=missing), headers=intruder.headers
            )
            assert theirs.status_code == nothing.status_code == 404
            # same answer but for the id itself: nothing tells that the job exists
            assert theirs.json()["detail"].replace(job_id, "X") == nothing.json()["detail"].replace(
                missing, "X"
            )
    r = client.get(f"{alice.base}/jobs/{job_id}?run=2", headers=alice.headers)
    assert r.status_code == 200 and r.json()["status"] == "COMPLETE"
    frames = client.get(f"{alice.base}/jobs/{job_id}/raw_images", headers=alice.headers).json()
    assert len(frames) == 2


# --------------------------------------------------------------------------- tokens


def _token(app, alice, **claims) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": alice.external_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, app.state.secret_key, algorithm="HS256")


def test_malformed_tokens_are_401(client, app):
    alice = add_account(app, "alice")
    url = f"{alice.base}/jobs"
    key = app.state.secret_key
    bad = {
        "no exp": _token(app, alice, exp=None),
        "no sub": _token(app, alice, sub=None),
        "sub not a string": _token(app, alice, sub=12),
        "HS512 with the right key": jwt.encode(
            {"sub": alice.external_id, "exp": 4102444800}, key, algorithm="HS512"
        ),
        "signature stripped": _token(app, alice).rsplit(".", 1)[0] + ".",
        "garbage": "not.a.token",
        "empty": "",
    }
    ghost = str(uuid.uuid4())  # a well-signed token of an account that does not exist
    r = client.get(
        f"/api/v1/users/{ghost}/jobs",
        headers={"Authorization": f"Bearer {_token(app, alice, sub=ghost)}"},
    )
    assert r.status_code == 401 and "no longer exists" in r.json()["detail"]
    assert client.get(url, headers={"Authorization": f"Bearer {_token(app, alice)}"}).is_success
    for name, token in bad.items():
        r = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (name, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer", name
        assert token == "" or token not in r.text


# --------------------------------------------------------------------------- secrets


def test_passwords_are_never_logged_or_returned(tmp_path, monkeypatch, caplog, capsys):
    password = "Corr3ct-Horse-Battery-Staple-9f2c"
    monkeypatch.setenv("OQTANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OQTANT_DATABASE_URL", raising=False)
    monkeypatch.delenv("OQTANT_SECRET_KEY", raising=False)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    assert cli_main(["user", "add", "carol", "--password-stdin"]) == 0
    texts = []
    app = create_app(make_settings(tmp_path, login_max_failures=3), start_dispatcher=False)
    with TestClient(app) as client:
        grant = {"grant_type": "password", "username": "carol", "password": password}
        for data in (
            grant,
            {**grant, "password": password + "x"},  # wrong
            {**grant, "password": password * 40},  # too long: a validation error
            {**grant, "username": "nobody"},
            {**grant, "grant_type": "bogus"},
        ):
            r = client.post("/oauth/token", data=data)
            assert r.status_code in (200, 400, 422), r.text
            texts.append(r.text)
        assert texts and "access_token" in texts[0]
        for _ in range(3):  # into the rate limit
            texts.append(client.post("/oauth/token", data={**grant, "password": "x"}).text)
        texts.append(client.post("/oauth/token", data=grant).text)
        assert "too many" in texts[-1]
        admin_view = client.get(
            "/api/v1/admin/users",
            headers={"Authorization": "Bearer " + _admin_token(app, tmp_path)},
        )
        texts.append(admin_view.text)
        assert "carol" in admin_view.text
    app.state.engine.dispose()
    captured = capsys.readouterr()
    everything = "\n".join([caplog.text, captured.out, captured.err, *texts])
    assert "carol" in everything  # the capture saw the activity
    assert password not in everything
    assert password[:12] not in everything
    stored = db_rows(tmp_path, "SELECT password_hash FROM users WHERE name = 'carol'")[0][0]
    assert stored.startswith("$argon2id$") and password not in stored


def _admin_token(app, tmp_path) -> str:
    return add_account(app, "root", admin=True).token


# --------------------------------------------------------------------------- quotas, binding


@pytest.mark.server
def test_quota_holds_for_50_concurrent_clients_on_a_real_server(tmp_path):
    daily_uid, daily_headers = account(tmp_path, "daily", daily_limit=7)
    pending_uid, pending_headers = account(tmp_path, "pending", max_pending_jobs=5)
    clients = 50
    codes: dict[str, list[int]] = {"daily": [], "pending": []}
    lock = threading.Lock()
    with server(tmp_path, FAST, workers=0) as srv:  # nothing runs: pending jobs stay pending
        barrier = threading.Barrier(clients)

        def one_client(i: int) -> None:
            who, uid, headers = (
                ("daily", daily_uid, daily_headers)
                if i % 2
                else ("pending", pending_uid, pending_headers)
            )
            with httpx.Client(base_url=srv.url, timeout=60) as http:
                barrier.wait()
                for _ in range(2):
                    r = http.post(f"/api/v1/users/{uid}/jobs", json=job_dict(), headers=headers)
                    with lock:
                        codes[who].append(r.status_code)

        threads = [threading.Thread(target=one_client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        # a login over HTTP leaves no password in the server's log
        for password in ("a long test password", "a wrong test password"):
            httpx.post(
                f"{srv.url}/oauth/token",
                timeout=10,
                data={"grant_type": "password", "username": "daily", "password": password},
            )
        # the server listens on loopback only, without being told
        listeners = _listening(srv.process.pid, srv.port)
        assert listeners and {s.laddr.ip for s in listeners} == {"127.0.0.1"}
    log = srv.log_file.read_text()
    assert "/oauth/token" in log and "test password" not in log
    assert sorted(codes["daily"]) == [201] * 7 + [429] * 43
    assert sorted(codes["pending"]) == [201] * 5 + [429] * 45
    counts = dict(
        db_rows(
            tmp_path,
            "SELECT u.name, count(j.id) FROM users u LEFT JOIN jobs j ON j.user_id = u.id "
            "GROUP BY u.name",
        )
    )
    assert counts == {"daily": 7, "pending": 5}


def test_loopback_is_the_default_address(monkeypatch):
    monkeypatch.delenv("OQTANT_HOST", raising=False)
    assert Settings().host == "127.0.0.1"


def test_job_rows_keep_no_secret(client, app):
    alice = add_account(app, "alice")
    submit(client, alice, job_dict(), **{"Idempotency-Key": "k1"})
    with app.state.session_factory() as session:
        job = session.query(Job).one()
        assert alice.token not in (job.notes or "") + job.name
    rows = db_rows(app.state.settings.data_dir, "SELECT response_json FROM idempotency_keys")
    assert rows and all(alice.token not in r[0] for r in rows)


def test_own_login_does_not_reset_a_password_spray_from_the_same_address(tmp_path):
    app = create_app(make_settings(tmp_path, login_max_failures=4), start_dispatcher=False)
    mallory = add_account(app, "mallory")
    victims = [add_account(app, f"victim{i}") for i in range(6)]
    with TestClient(app) as client:
        codes = []
        for victim in victims:  # one guess per account, a good login of one's own between
            guess = {"grant_type": "password", "username": victim.name, "password": "guess"}
            codes.append(client.post("/oauth/token", data=guess).status_code)
            own = {"grant_type": "password", "username": "mallory", "password": mallory.password}
            client.post("/oauth/token", data=own)
        # the address is blocked after 4 failures, whatever logins succeeded in between
        assert codes == [400] * 4 + [429] * 2
    app.state.engine.dispose()
