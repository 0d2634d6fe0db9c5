"""Accounts, tokens, the PKCE login flow driven over HTTP, and admin routes."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from oqtant.server.auth.security import (
    create_access_token,
    hash_password,
    pkce_challenge,
    verify_password,
)
from oqtant.server.db.models import User

REDIRECT = "http://localhost:8080/callback"


def test_passwords_are_argon2_hashed(app, alice):
    with app.state.session_factory() as s:
        stored = s.query(User).filter_by(name="alice").one().password_hash
    assert stored.startswith("$argon2") and alice.password not in stored
    assert verify_password(alice.password, stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("anything", None)
    assert hash_password("x") != hash_password("x")  # salted


def test_production_hashes_use_full_strength_argon2_and_tests_the_cheapest(monkeypatch):
    monkeypatch.delenv("OQTANT_PASSWORD_HASH_COST", raising=False)
    strong = hash_password("secret")
    assert "$m=65536,t=3,p=4$" in strong and verify_password("secret", strong)
    monkeypatch.setenv("OQTANT_PASSWORD_HASH_COST", "test")
    cheap = hash_password("secret")
    assert "$m=8,t=1,p=1$" in cheap and verify_password("secret", cheap)
    assert verify_password("secret", strong)  # a stored hash keeps its own parameters
    monkeypatch.setenv("OQTANT_PASSWORD_HASH_COST", "feeble")
    with pytest.raises(ValueError, match="OQTANT_PASSWORD_HASH_COST must be one of"):
        hash_password("secret")


def test_token_subject_is_the_external_id(app, alice):
    claims = jwt.decode(alice.token, app.state.secret_key, algorithms=["HS256"])
    assert claims["sub"] == alice.external_id and claims["exp"] > claims["iat"]


def test_missing_expired_tampered_and_foreign_tokens_are_refused(client, app, alice):
    url = f"{alice.base}/jobs"
    assert client.get(url, headers=alice.headers).status_code == 200
    assert client.get(url).status_code == 401
    expired = create_access_token(
        alice.external_id,
        secret_key=app.state.secret_key,
        ttl_minutes=1,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    r = client.get(url, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    head, payload, sig = alice.token.split(".")
    tampered = f"{head}.{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    assert client.get(url, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    foreign = create_access_token(
        alice.external_id, secret_key="another key, not the server's, 32+ bytes long", ttl_minutes=5
    )
    assert client.get(url, headers={"Authorization": f"Bearer {foreign}"}).status_code == 401
    none_alg = jwt.encode({"sub": alice.external_id, "exp": 9999999999}, key=None, algorithm="none")
    assert client.get(url, headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Basic abc"}).status_code == 401


def test_password_grant(client, alice):
    r = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": alice.password},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    ok = client.get(
        f"{alice.base}/job_limits", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200
    r = client.post(
        "/oauth/token", data={"grant_type": "password", "username": "alice", "password": "nope"}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert alice.password not in r.text
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def _authorize_params(verifier: str, state: str = "st4te") -> dict:
    return {
        "response_type": "code",
        "client_id": "oqtant-client",
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
    }


def _login(client, params: dict, username: str, password: str):
    """Load the login page, then post its form like a browser would."""
    page = client.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and "<form" in page.text
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    form = {unescape(k): unescape(v) for k, v in hidden}
    form.update(username=username, password=password)
    return client.post("/oauth/authorize", data=form, follow_redirects=False)


def test_pkce_flow_over_http(client, alice):
    verifier = secrets.token_urlsafe(48)
    r = _login(client, _authorize_params(verifier), "alice", alice.password)
    assert r.status_code == 302
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st4te"]
    code = query["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT,
        "client_id": "oqtant-client",
    }
    r = client.post("/oauth/token", data=exchange)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == alice.external_id
    # the code is single use
    r = client.post("/oauth/token", data=exchange)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_pkce_wrong_verifier_is_rejected_and_burns_the_code(client, alice):
    verifier = secrets.token_urlsafe(48)
    r = _login(client, _authorize_params(verifier), "alice", alice.password)
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "oqtant-client",
    }
    r = client.post("/oauth/token", data={**base, "code_verifier": secrets.token_urlsafe(48)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = client.post("/oauth/token", data={**base, "code_verifier": verifier})
    assert r.status_code == 400  # a code that met a wrong verifier is gone


def test_code_bound_to_redirect_uri(client, alice):
    verifier = secrets.token_urlsafe(48)
    r = _login(client, _authorize_params(verifier), "alice", alice.password)
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:9999/other",
            "client_id": "oqtant-client",
        },
    )
    assert r.status_code == 400


def test_wrong_password_reshows_the_form(client, alice):
    r = _login(client, _authorize_params(secrets.token_urlsafe(48)), "alice", "bad password")
    assert r.status_code == 401
    assert "Wrong user name or password" in r.text and "<form" in r.text


def test_login_form_needs_its_csrf_token(client, alice):
    params = _authorize_params(secrets.token_urlsafe(48))
    client.get("/oauth/authorize", params=params)
    form = {**params, "username": "alice", "password": alice.password, "csrf": "forged.token"}
    r = client.post("/oauth/authorize", data=form, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


@pytest.mark.parametrize(
    "redirect",
    [
        "http://evil.example/cb",
        "https://localhost:8080/cb",
        "http://localhost.evil.com/cb",
        "javascript:alert(1)",
        "http://user@localhost:8080/cb",
    ],
)
def test_redirect_uri_must_be_loopback(client, redirect):
    params = {**_authorize_params(secrets.token_urlsafe(48)), "redirect_uri": redirect}
    r = client.get("/oauth/authorize", params=params)
    assert r.status_code == 400 and "redirect_uri" in r.text


def test_login_page_escapes_its_inputs(client):
    params = {**_authorize_params(secrets.token_urlsafe(48)), "state": '"><script>x()</script>'}
    page = client.get("/oauth/authorize", params=params)
    assert page.status_code == 200 and "<script>x()" not in page.text


def test_failed_logins_are_rate_limited(tmp_path):
    from fastapi.testclient import TestClient

    from oqtant.server import create_app
    from tests.server.conftest import add_account, make_settings

    app = create_app(make_settings(tmp_path, login_max_failures=3), start_dispatcher=False)
    alice = add_account(app, "alice")
    with TestClient(app) as client:
        data = {"grant_type": "password", "username": "alice", "password": "bad"}
        codes = [client.post("/oauth/token", data=data).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        good = {**data, "password": alice.password}
        assert client.post("/oauth/token", data=good).status_code == 429  # still blocked
    app.state.engine.dispose()


def test_admin_routes(client, alice, admin):
    url = "/api/v1/admin/users/alice/limits"
    assert client.put(url, json={"daily_limit": 3}, headers=alice.headers).status_code == 403
    assert client.get("/api/v1/admin/users", headers=alice.headers).status_code == 403
    r = client.put(url, json={"daily_limit": 3, "max_pending_jobs": 2}, headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["daily_limit"] == 3 and r.json()["max_pending_jobs"] == 2
    assert r.json()["max_runs_per_job"] == 30  # untouched
    r = client.put(url, json={"max_runs_per_job": 31}, headers=admin.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "max_runs_per_job"
    assert (
        client.put("/api/v1/admin/users/nobody/limits", json={}, headers=admin.headers).status_code
        == 404
    )
    users = client.get("/api/v1/admin/users", headers=admin.headers).json()
    by_name = {u["name"]: u for u in users}
    assert by_name["alice"]["limits"]["daily_limit"] == 3 and by_name["root"]["is_admin"]
    assert all("password" not in str(u) for u in users)
    mine = client.get(f"{alice.base}/job_limits", headers=alice.headers).json()
    assert mine["daily_limit"] == 3 and mine["daily_remaining"] == 3


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    from oqtant.settings import Settings

    first = Settings(data_dir=tmp_path).resolved_secret_key()
    assert Settings(data_dir=tmp_path).resolved_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings(data_dir=tmp_path, secret_key="given").resolved_secret_key() == "given"
