"""The login pieces: PKCE, the token cache, and the redirect listener of the browser flow."""

from __future__ import annotations

import stat
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from oqtant import errors
from oqtant.login import (
    ClientSettings,
    TokenCache,
    get_user_token,
    make_pkce_pair,
    password_login,
    pkce_challenge,
)

from .test_client_protocol import make_token


def test_pkce_challenge_matches_rfc7636_example():
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_pair_is_fresh_and_consistent():
    (v1, c1), (v2, c2) = make_pkce_pair(), make_pkce_pair()
    assert v1 != v2 and 43 <= len(v1) <= 128
    assert c1 == pkce_challenge(v1) and "=" not in c1


def test_token_cache_is_private_keyed_by_url_and_honours_expiry(tmp_path):
    cache = TokenCache(tmp_path / "sub" / "token.json")
    cache.put("http://a", "tok-a", expires_in_s=3600)
    cache.put("http://b", "tok-b", expires_in_s=30)  # inside the one-minute margin
    assert stat.S_IMODE((tmp_path / "sub" / "token.json").stat().st_mode) == 0o600
    assert cache.get("http://a") == "tok-a"
    assert cache.get("http://b") is None
    assert cache.get("http://c") is None
    assert cache.get("http://a", now=time.time() + 4000) is None
    cache.forget("http://a")
    assert cache.get("http://a") is None


def test_token_cache_reads_exp_from_the_token(tmp_path):
    cache = TokenCache(tmp_path / "token.json")
    cache.put("http://a", make_token(exp_s=7200))
    assert cache.get("http://a") is not None
    cache.put("http://a", make_token(exp_s=-10))
    assert cache.get("http://a") is None


def test_corrupt_cache_is_ignored(tmp_path):
    (tmp_path / "token.json").write_text("{not json")
    assert TokenCache(tmp_path / "token.json").get("http://a") is None


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("OQTANT_URL", "http://example.org:9000/")
    settings = ClientSettings()
    assert settings.url == "http://example.org:9000"
    assert settings.base_url == "http://example.org:9000/api/v1"
    with pytest.raises(ValueError, match="http"):
        ClientSettings(url="example.org")


def _fake_token_server(issued: str, expect: dict):
    """A transport answering /oauth/token like the server, checking the PKCE verifier."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok", "database": "ok"})
        assert request.url.path == "/oauth/token"
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if form["grant_type"] == "password":
            if form["password"] != "right":
                return httpx.Response(400, json={"error": "invalid_grant",
                                                 "error_description": "wrong password"})
            return httpx.Response(200, json={"access_token": issued, "token_type": "bearer",
                                             "expires_in": 3600})
        assert form["grant_type"] == "authorization_code"
        assert form["code"] == "the-code"
        assert pkce_challenge(form["code_verifier"]) == expect["challenge"]
        assert form["redirect_uri"] == expect["redirect_uri"]
        return httpx.Response(200, json={"access_token": issued, "token_type": "bearer",
                                         "expires_in": 3600})

    return httpx.MockTransport(handler)


def test_browser_flow_catches_redirect_exchanges_code_and_caches(tmp_path):
    settings = ClientSettings(url="http://oqtant.test", token_cache_file=tmp_path / "t.json")
    issued = make_token()
    expect: dict = {}

    def browser(url: str) -> None:
        # what the server's login page does after a good password: redirect with code+state
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert url.startswith("http://oqtant.test/oauth/authorize?")
        assert query["code_challenge_method"] == "S256" and query["response_type"] == "code"
        expect.update(challenge=query["code_challenge"], redirect_uri=query["redirect_uri"])
        answer = httpx.get(
            query["redirect_uri"], params={"code": "the-code", "state": query["state"]}
        )
        assert answer.status_code == 200 and "Logged in" in answer.text

    token = get_user_token(0, settings=settings, open_browser=browser,
                           transport=_fake_token_server(issued, expect), timeout_s=10)
    assert token == issued
    assert expect["redirect_uri"].startswith("http://localhost:")
    # the second login needs no browser: the cached token is reused
    again = get_user_token(0, settings=settings, open_browser=lambda u: pytest.fail("no browser"))
    assert again == issued


def test_browser_flow_rejects_a_forged_state(tmp_path):
    settings = ClientSettings(url="http://oqtant.test", token_cache_file=tmp_path / "t.json")

    def browser(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        httpx.get(query["redirect_uri"], params={"code": "c", "state": "forged"})

    with pytest.raises(errors.AuthenticationError, match="state"):
        get_user_token(0, settings=settings, open_browser=browser, timeout_s=10,
                       transport=_healthy_only())
    assert not (tmp_path / "t.json").exists()


def test_browser_flow_times_out_without_redirect(tmp_path):
    settings = ClientSettings(url="http://oqtant.test", token_cache_file=tmp_path / "t.json")
    with pytest.raises(errors.AuthenticationError, match="timed out"):
        get_user_token(0, settings=settings, open_browser=lambda u: None, timeout_s=0.2,
                       transport=_healthy_only())


def _healthy_only() -> httpx.MockTransport:
    """A server that is up (answers /healthz) and must not be asked anything else."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/healthz":
            pytest.fail(f"unexpected request {request.url}")
        return httpx.Response(200, json={"status": "ok", "database": "ok"})

    return httpx.MockTransport(handler)


def test_browser_login_to_a_server_that_is_down_says_so_at_once(tmp_path):
    # a port nothing listens on: the login must not wait for a redirect that cannot come
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{free_port}"
    settings = ClientSettings(url=url, token_cache_file=tmp_path / "t.json",
                              login_timeout_s=1)  # the code before waited this out
    opened = []
    with pytest.raises(errors.ConnectionError) as caught:
        get_user_token(0, settings=settings, open_browser=opened.append)
    assert url in str(caught.value) and "oqtant serve" in str(caught.value)
    assert "unreachable" in str(caught.value) and not opened  # no browser, no 300 s wait


def test_password_login(tmp_path):
    settings = ClientSettings(url="http://oqtant.test", token_cache_file=tmp_path / "t.json")
    issued = make_token()
    transport = _fake_token_server(issued, {})
    assert password_login("demo", "right", settings=settings, transport=transport) == issued
    with pytest.raises(errors.AuthenticationError, match="wrong password"):
        password_login("demo", "wrong", settings=settings, transport=transport)
