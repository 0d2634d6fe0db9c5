"""The Content-Security-Policy in a real headless Chromium: pages work under it.

``/docs`` (Swagger UI from this server), the console's login page and the OAuth
login, whose form sends the browser on to the client's loopback redirect (which
``form-action`` must allow), are loaded with the policy enforced; any violation
the browser reports fails the test.
"""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from oqtant.demo import EmbeddedServer
from oqtant.server.db import crud, make_engine, make_session_factory

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
PASSWORD = "csp-test-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csp_server")
    srv = EmbeddedServer(
        folder,
        workers=1,
        backend="tests.server.fast_backend:FastBackend",
        extra_env={"PYTHONPATH": str(REPO), "MPLBACKEND": "Agg", "OQTANT_EXECUTOR": "thread"},
        startup_timeout_s=60,
    )
    srv.start()
    engine = make_engine(srv.database_url)
    with make_session_factory(engine)() as session:
        crud.create_user(
            session=session,
            name="alice",
            password=PASSWORD,
            is_admin=False,
            daily_limit=10,
            max_runs_per_job=30,
            max_pending_jobs=10,
        )
    try:
        yield srv.url
    finally:
        srv.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "run scripts/ensure_chromium.sh first"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page_of(browser):
    """A page with the CSP enforced, and the list of violations it reports."""
    contexts = []

    def make():
        context = browser.new_context(bypass_csp=False)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page, violations

    yield make
    for c in contexts:
        c.close()


def test_docs_render_under_the_policy(server, page_of):
    page, violations = page_of()
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", state="attached")
    assert page.locator(".opblock").count() >= 10  # every operation is listed
    assert violations == []


def test_login_page_is_styled_under_the_policy(server, page_of):
    page, violations = page_of()
    page.goto(f"{server}/login")
    page.wait_for_selector("#username")
    button = page.locator("button[type=submit]")
    # the inline stylesheet applies (allowed by its hash): the button is the console's blue
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(40, 82, 200)"
    assert violations == []


class _Catcher(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 - the handler's name
        _Catcher.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"logged in")

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback():
    """A tiny server on 127.0.0.1 standing in for the client's redirect catcher."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Catcher)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Catcher.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/callback"
    httpd.shutdown()
    thread.join(timeout=10)


def test_oauth_login_reaches_the_loopback_redirect_under_the_policy(server, page_of, loopback):
    page, violations = page_of()
    page.goto(
        f"{server}/oauth/authorize?response_type=code&client_id=oqtant-cli"
        f"&redirect_uri={loopback}&code_challenge_method=S256&code_challenge={'a' * 43}&state=s1"
    )
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/callback\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["s1"] and len(query["code"][0]) > 20
    assert _Catcher.seen and _Catcher.seen[0].startswith("/callback?")
    assert violations == []
