"""The login limiter: reserved before the password is checked, kept in the database, per
account (slowed, never locked) and per address (forwarded-for believed of trusted proxies only).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from oqtant.server import create_app
from oqtant.server.auth import login as login_module
from oqtant.server.auth.ratelimit import Rule
from oqtant.server.db import crud, upgrade_database
from oqtant.server.db.models import LoginAttempts, utcnow
from oqtant.server.schemas import JobSubmit
from tests.reliability.helpers import account, server
from tests.server.conftest import add_account, job_dict, make_settings

FAST = "tests.server.fast_backend:FastBackend"
BUDGET = 5
GUESSES = 30


def _grant(name: str, password: str) -> dict:
    return {"grant_type": "password", "username": name, "password": password}


class _Clock:
    """A clock the test moves by hand (the limiter's ``clock``)."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def app_of(tmp_path):
    """``app_of(**settings)``: an app on the SQLite file of ``tmp_path`` (disposed at the end)."""
    apps = []

    def make(**overrides):
        app = create_app(make_settings(tmp_path, **overrides), start_dispatcher=False)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.engine.dispose()


class _HeldChecks:
    """Counts password checks and holds each one until released.

    While the first checks are held, a check-then-act limiter has recorded no
    failure yet and lets every other guess be checked too.
    """

    def __init__(self, monkeypatch, budget: int):
        self.count = 0
        self.lock = threading.Lock()
        self.spent = threading.Event()
        self.release = threading.Event()
        self.budget = budget
        real = login_module.verify_password

        def counting(password, password_hash):
            with self.lock:
                self.count += 1
                if self.count >= self.budget:
                    self.spent.set()
            self.release.wait(30)
            return real(password, password_hash)

        monkeypatch.setattr(login_module, "verify_password", counting)


def _burst(client, post_guess, post_right, checks: _HeldChecks):
    """GUESSES concurrent wrong guesses, then the right password while they are in flight."""
    codes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(GUESSES)

    def guess():
        start.wait(30)
        code = post_guess()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=guess) for _ in range(GUESSES)]
    for t in threads:
        t.start()
    assert checks.spent.wait(60), "the budget's checks never started"
    for _ in range(600):  # the refused guesses answer without waiting for the held checks
        with lock:
            if len(codes) >= GUESSES - BUDGET:
                break
        threading.Event().wait(0.05)
    right: list = []
    helper = threading.Thread(target=lambda: right.append(post_right()))
    helper.start()
    helper.join(10)  # refused at once; a check-then-act limiter would check it (held)
    checks.release.set()
    helper.join(30)
    for t in threads:
        t.join(60)
    return codes, right[0]


def test_a_burst_of_password_grants_checks_at_most_the_budget(app_of, monkeypatch):
    app = app_of(login_max_failures=BUDGET)
    alice = add_account(app, "alice")
    checks = _HeldChecks(monkeypatch, BUDGET)
    with TestClient(app) as client:

        def post_right():
            return client.post("/oauth/token", data=_grant("alice", alice.password))

        codes, right = _burst(
            client,
            lambda: client.post("/oauth/token", data=_grant("alice", "wrong")).status_code,
            post_right,
            checks,
        )
    assert checks.count == BUDGET
    assert sorted(codes) == [400] * BUDGET + [429] * (GUESSES - BUDGET)
    assert right.status_code == 429 and "access_token" not in right.text
    assert int(right.headers["Retry-After"]) >= 1


def test_a_burst_of_console_logins_checks_at_most_the_budget(app_of, monkeypatch):
    app = app_of(login_max_failures=BUDGET)
    alice = add_account(app, "alice")
    monkeypatch.setattr(login_module, "check_csrf_token", lambda *_: True)  # one form for all
    checks = _HeldChecks(monkeypatch, BUDGET)
    form = {"username": "alice", "csrf": "x", "next": "/jobs"}
    with TestClient(app) as client:

        def post(password):
            return client.post(
                "/login", data={**form, "password": password}, follow_redirects=False
            )

        codes, right = _burst(
            client,
            lambda: post("wrong").status_code,
            lambda: post(alice.password),
            checks,
        )
    assert checks.count == BUDGET
    assert sorted(codes) == [401] * BUDGET + [429] * (GUESSES - BUDGET)
    assert right.status_code == 429 and "Too many failed attempts" in right.text
    assert "oqtant_session" not in right.headers.get("set-cookie", "")


def test_the_counts_survive_a_restart(app_of):
    first = app_of(login_max_failures=3)
    alice = add_account(first, "alice")
    with TestClient(first) as client:
        codes = [client.post("/oauth/token", data=_grant("alice", "bad")).status_code]
        codes += [client.post("/oauth/token", data=_grant("alice", "bad")).status_code]
        codes += [client.post("/oauth/token", data=_grant("alice", "bad")).status_code]
    assert codes == [400, 400, 400]
    first.state.engine.dispose()
    again = app_of(login_max_failures=3)  # a new process on the same database file
    with TestClient(again) as client:
        r = client.post("/oauth/token", data=_grant("alice", alice.password))
    assert r.status_code == 429
    assert again.state.login_limiter.failures("user:alice") == 3


def test_forwarded_for_from_an_untrusted_peer_is_ignored(app_of):
    app = app_of(login_max_failures=3)
    with TestClient(app, client=("198.51.100.7", 40000)) as client:
        codes = [
            client.post(
                "/oauth/token",
                data=_grant(f"user{i}", "guess"),
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(5)
        ]
    assert codes == [400, 400, 400, 429, 429]
    assert app.state.login_limiter.failures("ip:198.51.100.7") == 3


def test_forwarded_for_from_a_trusted_proxy_names_the_client(app_of):
    app = app_of(login_max_failures=3, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    limiter = app.state.login_limiter
    with TestClient(app, client=("10.1.2.3", 40000)) as client:
        codes = []
        for i in range(5):  # the client writes the left part; the proxies append on the right
            forwarded = f"1.1.1.{i}, 203.0.113.{i}, 127.0.0.1"
            r = client.post(
                "/oauth/token",
                data=_grant(f"user{i}", "guess"),
                headers={"X-Forwarded-For": forwarded},
            )
            codes.append(r.status_code)
        assert codes == [400] * 5  # five clients, one guess each
        assert limiter.failures("ip:203.0.113.4") == 1 and limiter.failures("ip:10.1.2.3") == 0
        for _ in range(3):  # one client through the proxy is limited as itself
            client.post(
                "/oauth/token", data=_grant("x", "g"), headers={"X-Forwarded-For": "192.0.2.1"}
            )
        r = client.post(
            "/oauth/token", data=_grant("y", "g"), headers={"X-Forwarded-For": "192.0.2.1"}
        )
        assert r.status_code == 429
        ok = client.post(
            "/oauth/token", data=_grant("z", "g"), headers={"X-Forwarded-For": "192.0.2.2"}
        )
        assert ok.status_code == 400


def test_the_forwarded_header_is_read_when_configured(app_of):
    app = app_of(trusted_proxies="127.0.0.1", forwarded_header="forwarded")
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        header = 'for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"'
        client.post("/oauth/token", data=_grant("a", "b"), headers={"Forwarded": header})
        client.post(
            "/oauth/token", data=_grant("a", "b"), headers={"X-Forwarded-For": "192.0.2.99"}
        )
    limiter = app.state.login_limiter
    assert limiter.failures("ip:2001:db8:cafe::/64") == 1  # an IPv6 client counts by its /64
    assert limiter.failures("ip:127.0.0.1") == 1  # X-Forwarded-For is not the configured header


def test_trusted_proxies_must_be_addresses():
    with pytest.raises(ValueError, match="trusted_proxies: 'proxy.local'"):
        make_settings(".", trusted_proxies="10.0.0.1, proxy.local")


def test_the_owner_gets_in_from_another_address_after_the_bounded_delay(app_of):
    app = app_of(login_max_failures=4, login_max_delay_seconds=60, trusted_proxies="127.0.0.1")
    alice = add_account(app, "alice")
    clock = _Clock()
    app.state.login_limiter.clock = clock
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    owner = {"X-Forwarded-For": "192.0.2.10"}
    with TestClient(app, client=("127.0.0.1", 40000)) as client:

        def post(password, headers):
            return client.post("/oauth/token", data=_grant("alice", password), headers=headers)

        codes = [post(f"guess{i}", attacker).status_code for i in range(4)]
        assert codes == [400] * 4
        # the account waits at most login_max_delay_seconds after its last failure
        early = post(alice.password, owner)
        assert early.status_code == 429 and 1 <= int(early.headers["Retry-After"]) <= 60
        clock.advance(int(early.headers["Retry-After"]))
        assert post(alice.password, owner).status_code == 200
        # the owner's login cleared the account, not the attacker's address, which is
        # stopped for the whole window, far longer than the account
        assert app.state.login_limiter.failures("user:alice") == 0
        r = post("guess", attacker)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 200
        assert post("guess", attacker).status_code == 429


def test_an_account_is_slowed_with_a_doubling_delay_not_locked(app_of):
    app = app_of(login_max_failures=2, login_max_delay_seconds=8, trusted_proxies="127.0.0.1")
    clock = _Clock()
    app.state.login_limiter.clock = clock
    alice = add_account(app, "alice")
    waits = []
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        for i in range(7):  # each guess from a new address: only the account's rule applies
            headers = {"X-Forwarded-For": f"203.0.113.{i}"}
            r = client.post("/oauth/token", data=_grant("alice", "bad"), headers=headers)
            if r.status_code == 429:
                waits.append(int(r.headers["Retry-After"]))
                clock.advance(waits[-1])
                r = client.post("/oauth/token", data=_grant("alice", "bad"), headers=headers)
            assert r.status_code == 400
        good = client.post(
            "/oauth/token",
            data=_grant("alice", alice.password),
            headers={"X-Forwarded-For": "192.0.2.1"},
        )
        assert good.status_code == 429
        clock.advance(int(good.headers["Retry-After"]))
        good = client.post(
            "/oauth/token",
            data=_grant("alice", alice.password),
            headers={"X-Forwarded-For": "192.0.2.1"},
        )
        assert good.status_code == 200
    assert waits == [1, 2, 4, 8, 8]


def test_rule_waits():
    rule = Rule(free=2, base_seconds=1, max_seconds=10, forget_seconds=100)
    now = utcnow()
    assert rule.wait(1, now, now) == 0
    assert rule.wait(2, now, now) == 1
    assert rule.wait(5, now, now) == 8
    assert rule.wait(50, now, now) == 10
    assert rule.wait(50, now - timedelta(seconds=9), now) == 1
    assert rule.wait(50, now - timedelta(seconds=100), now) == 0  # forgotten
    assert rule.counted(50, now - timedelta(seconds=100), now) == 0


@pytest.mark.slow
@pytest.mark.server
def test_rotating_forwarded_for_from_loopback_does_not_escape_a_real_server(tmp_path):
    account(tmp_path, "alice")
    with server(tmp_path, FAST, workers=0, OQTANT_LOGIN_MAX_FAILURES="3") as srv:
        codes = []
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            for i in range(5):
                r = http.post(
                    "/oauth/token",
                    data=_grant(f"victim{i}", "guess"),
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
                codes.append(r.status_code)
            good = http.post("/oauth/token", data=_grant("alice", "a long test password"))
    assert codes == [400, 400, 400, 429, 429]
    assert good.status_code == 429  # the loopback address is the one being limited


@pytest.mark.slow
@pytest.mark.postgres
def test_reservations_and_revocation_on_postgresql(postgres_server, tmp_path):

    url = postgres_server.create_database("limiter")
    upgrade_database(url)
    app = create_app(
        make_settings(tmp_path, database_url=url, login_max_failures=BUDGET),
        start_dispatcher=False,
    )
    try:
        limiter = app.state.login_limiter
        answers: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(20)

        def reserve():
            start.wait(30)
            wait = limiter.reserve("user:alice", "ip:192.0.2.1")  # a new key: rows race in
            with lock:
                answers.append(wait)

        threads = [threading.Thread(target=reserve) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(answers) == 20 and answers.count(0) == BUDGET  # the others must wait
        assert limiter.failures("user:alice") == BUDGET
        limiter.succeeded("user:alice", "ip:192.0.2.1")
        assert limiter.failures("user:alice") == 0
        assert limiter.failures("ip:192.0.2.1") == BUDGET - 1
        clock = _Clock()
        limiter.clock = clock
        clock.advance(app.state.settings.login_window_seconds + 1)
        assert limiter.reserve("user:bob", "ip:192.0.2.2") == 0  # and prunes the old keys
        with app.state.session_factory() as s:
            keys = set(s.scalars(select(LoginAttempts.key)))
        assert keys == {"user:bob", "ip:192.0.2.2"}

        alice = add_account(app, "alice")
        with TestClient(app) as client:
            url_limits = f"/api/v1/users/{alice.external_id}/job_limits"
            assert client.get(url_limits, headers=alice.headers).status_code == 200
            with app.state.session_factory() as s:
                user_id = crud.get_user_by_name(session=s, name="alice").id
                crud.revoke_user_tokens(session=s, user_id=user_id)
            assert client.get(url_limits, headers=alice.headers).status_code == 401
            with app.state.session_factory() as s:
                crud.submit_job(session=s, user_id=user_id, job=JobSubmit(**job_dict()))
                assert crud.delete_user(session=s, user_id=user_id) == 1
    finally:
        app.state.engine.dispose()
