"""Security and caching headers of the pages, downloads and /docs; bad input to the console."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

PKCE = "a" * 43
AUTHORIZE = (
    "/oauth/authorize?response_type=code&client_id=oqtant-cli"
    f"&redirect_uri=http://localhost:8765/callback&code_challenge_method=S256&code_challenge={PKCE}"
)


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture
def anonymous(app):
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("path", ["/login", AUTHORIZE])
def test_login_pages_carry_the_security_headers(anonymous, path):
    r = anonymous.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    csp = _directives(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    # the page's own inline style is allowed by its hash, nothing else inline
    styles = re.findall(r"<style[^>]*>(.*?)</style>", r.text, re.S)
    assert styles and csp["style-src"] == ["'self'", *map(_sha256, styles)]
    assert csp["script-src"] == ["'self'"]


def test_the_oauth_form_may_go_on_to_the_loopback_redirect(anonymous):
    """Browsers apply form-action to the redirect after the login form: it must allow it."""
    oauth = _directives(anonymous.get(AUTHORIZE).headers["content-security-policy"])
    assert "http://localhost:*" in oauth["form-action"]
    assert "http://127.0.0.1:*" in oauth["form-action"]
    console = _directives(anonymous.get("/login").headers["content-security-policy"])
    assert console["form-action"] == ["'self'"]


def test_error_pages_of_the_login_carry_the_headers_too(anonymous):
    r = anonymous.get("/oauth/authorize?response_type=token")
    assert r.status_code == 400
    assert "content-security-policy" in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_downloads_are_not_cached(browser_of, submit_as, alice):
    job = submit_as(alice)
    client, _ = browser_of(alice)
    for path in (f"/jobs/{job}/file", f"/jobs/{job}/raw", f"/jobs/{job}/raw?run=1"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "attachment" in r.headers["content-disposition"]
        assert r.headers["cache-control"] == "private, no-store", path
        assert r.headers["x-content-type-options"] == "nosniff"


def test_api_answers_are_not_cached_but_static_files_are(anonymous, alice):
    api = anonymous.get(f"{alice.base}/job_limits", headers=alice.headers)
    assert api.headers["cache-control"] == "private, no-store"
    static = anonymous.get("/web-static/app.css")
    assert static.headers["cache-control"] == "public, max-age=3600"  # the route's own choice


def test_docs_are_served_from_this_server(anonymous):
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 3  # the script, the stylesheet, the icon
    for url in assets:
        assert url.startswith("/docs-static/")
        r = anonymous.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    csp = _directives(page.headers["content-security-policy"])
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert csp["script-src"] == ["'self'", *map(_sha256, inline)]
    assert "swagger-ui" in anonymous.get("/docs-static/swagger-ui.css").text
    assert anonymous.get("/docs-static/../app.py").status_code == 404
    assert anonymous.get("/redoc").status_code == 404  # one description page, without a CDN
    assert anonymous.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    "body,words",
    [
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "nested too deeply"),
        (b'{"name": ' + b"9" * 5000 + b"}", "digits"),
    ],
    ids=["deep list", "deep object", "5000-digit integer"],
)
@pytest.mark.parametrize("url", ["/new/check", "/new/submit"])
def test_composer_refuses_unreadable_json_with_400(browser_of, alice, app, url, body, words):
    client, csrf = browser_of(alice)
    r = client.post(
        url, content=body, headers={"X-CSRF-Token": csrf, "content-type": "application/json"}
    )
    assert r.status_code == 400, r.text[:200]
    answer = r.json()
    assert answer["ok"] is False and words in answer["errors"][0]["rule"]
    from oqtant.server.db.models import Job

    with app.state.session_factory() as session:
        assert session.query(Job).count() == 0


def test_job_list_refuses_nul_in_a_filter(browser_of, alice):
    client, _ = browser_of(alice)
    r = client.get("/jobs?name=a%00b")
    assert r.status_code == 200
    assert "must not contain the NUL character" in r.text


@pytest.mark.parametrize("path", ["/jobs/{job}?run={run}", "/jobs/{job}/raw?run={run}"])
def test_huge_run_numbers_are_422_naming_run(browser_of, submit_as, alice, path):
    job = submit_as(alice)
    client, _ = browser_of(alice)
    r = client.get(path.format(job=job, run=10**20))
    assert r.status_code == 422, r.text[:200]
    assert r.json()["errors"][0]["field"] == "run"
