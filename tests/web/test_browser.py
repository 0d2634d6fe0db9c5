"""The console in a real headless Chromium against a real server process.

The server is ``oqtant serve`` as a subprocess on a free loopback port with
the fast test backend; Playwright drives Debian's ``/usr/bin/chromium`` (installed by
``scripts/ensure_chromium.sh``; no browser is downloaded). Every page is
saved at 1280 and 800 pixels wide in ``tests/web/screenshots/``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from oqtant.demo import EmbeddedServer
from oqtant.server.db import crud, make_engine, make_session_factory

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password"
XSS = "<script>alert(1)</script>"
USER_IDS: dict[str, str] = {}  # external id of each test user


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of ``oqtant serve`` (a subprocess on a free loopback port) with three users."""
    folder = tmp_path_factory.mktemp("web_server")
    srv = EmbeddedServer(
        folder,
        workers=1,
        backend="tests.server.fast_backend:FastBackend",
        extra_env={
            "PYTHONPATH": str(REPO),
            "MPLBACKEND": "Agg",
            "OQTANT_EXECUTOR": "thread",
            "OQTANT_POLL_SECONDS": "0.05",
            "OQTANT_SECRET_KEY": "browser-test-secret-key-of-32-bytes-or-more",
        },
        startup_timeout_s=60,
    )
    srv.start()
    url, database_url = srv.url, srv.database_url
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    # carol may have no job waiting: every submission of hers meets a quota
    for name, admin, pending in (
        ("alice", False, 20),
        ("bob", False, 20),
        ("root", True, 20),
        ("carol", False, 0),
    ):
        with sessions() as s:
            USER_IDS[name] = crud.create_user(
                session=s,
                name=name,
                password=PASSWORD,
                is_admin=admin,
                daily_limit=100,
                max_runs_per_job=30,
                max_pending_jobs=pending,
            ).external_id
    try:
        yield url
    finally:
        srv.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "run scripts/ensure_chromium.sh first"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


DIALOGS: list[str] = []  # messages of every alert/confirm a page opened


def _record_dialog(dialog) -> None:
    DIALOGS.append(dialog.message)
    dialog.dismiss()


def _session(browser, server, name, *, csp=False):
    """A page logged in as ``name`` through the login form.

    The pages' Content-Security-Policy forbids evaluating strings, which the
    test's ``wait_for_function`` needs: it is bypassed unless ``csp``.
    """
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=server, bypass_csp=not csp
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", _record_dialog)
    page.goto("/jobs")
    assert page.url.endswith("/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs$"))
    return page


def shoot(page, name: str) -> None:
    """Save the page at 1280 and at 800 pixels wide."""
    SHOTS.mkdir(exist_ok=True)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}_{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_login_page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/login")
    assert page.locator("h1").inner_text() == "oqtant"
    shoot(page, "login")
    page.close()


def test_compose_submit_and_watch_a_bec_job_complete(browser, server):
    page = _session(browser, server, "alice")
    shoot(page, "jobs_empty")
    page.goto("/new")
    page.wait_for_selector("#preview-figures img[data-kind=potential]")
    # make the evaporation end at 0.5 MHz: the fast backend makes 100 nK per MHz
    last = page.locator("#rf-table tbody tr").last.locator("input").nth(1)
    last.fill("0.5")
    page.fill("#f-name", "web BEC")
    page.wait_for_function(
        "document.getElementById('preview-state').textContent.startsWith('The job is valid')"
    )
    shoot(page, "new_bec")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.wait_for_selector("#atom-stats", timeout=20_000)  # the page reloads when the run is done
    stats = page.locator("#atom-stats").inner_text()
    assert "Temperature\t50 nK" in stats
    assert f"{int(2e5 / 1.5):,}" in stats
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.figures img')).slice(0, 2)"
        ".every(i => i.complete && i.naturalWidth > 100)"
    )
    page.locator("img[alt^='cut along y']").scroll_into_view_if_needed()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.figures img')).every(i => i.complete)"
    )
    assert page.locator(".status").first.inner_text() == "COMPLETE"
    shoot(page, "job_bec")
    page.goto("/jobs")
    assert page.locator("#job-rows tr").first.locator(".status").inner_text() == "COMPLETE"
    shoot(page, "jobs")
    page.context.close()


def test_invalid_job_names_the_field(browser, server):
    page = _session(browser, server, "alice")
    page.goto("/new")
    page.wait_for_selector("#preview-figures img")
    page.fill("#f-tof", "50")
    page.wait_for_selector("#problems li")
    problem = page.locator("#problems li").first.inner_text()
    assert problem.startswith("time_of_flight_ms:")
    assert "invalid" in (page.locator("#f-tof").get_attribute("class") or "")
    shoot(page, "new_invalid")
    page.click("#submit")
    page.wait_for_selector("#submit-problems li")
    assert page.locator("#submit-state").inner_text() == "Not submitted:"
    assert page.locator("#submit-problems li").first.inner_text().startswith("time_of_flight_ms:")
    assert page.url.endswith("/new")
    page.context.close()


@pytest.mark.slow
def test_a_sweep_of_three_runs_is_previewed_and_submitted_as_one_job(browser, server):
    page = _session(browser, server, "alice")
    page.goto("/new")
    page.wait_for_selector("#preview-figures img[data-kind=potential]")
    page.select_option("#f-sweep-field", "time_of_flight_ms")
    page.fill("#f-sweep-start", "5")
    page.fill("#f-sweep-stop", "15")
    page.fill("#f-sweep-runs", "3")
    page.fill("#f-name", "web TOF sweep")
    page.wait_for_selector("#preview-figures img[data-kind=rf][data-run='3']")
    labels = page.locator("#preview-figures figure").first.locator(".run-label").all_inner_texts()
    assert labels == ["run 1: time of flight (ms) = 5", "run 3: time of flight (ms) = 15"]
    assert page.locator("#preview-state").inner_text().startswith("The job is valid (3 runs)")
    assert page.input_value("#f-tof") == "5"  # the field itself shows the first run's value
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "new_sweep")
    # below 900 px the preview stays in view while the form scrolls under it
    page.set_viewport_size({"width": 800, "height": 900})
    page.locator("#sweep").scroll_into_view_if_needed()
    box = page.locator("#preview-state").bounding_box()
    assert box is not None and 0 <= box["y"] < 900
    page.screenshot(path=str(SHOTS / "new_sweep_800_scrolled.png"))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    assert page.locator("h1.jobname").inner_text() == "web TOF sweep"
    assert page.locator("tr", has_text="Runs").first.locator("td").inner_text().startswith("3")
    page.wait_for_function(
        "document.querySelectorAll('#runs-table tbody tr').length === 3", timeout=20_000
    )
    page.context.close()


@pytest.mark.slow
def test_a_quota_message_stays_next_to_the_submit_button(browser, server):
    page = _session(browser, server, "carol")
    page.goto("/new")
    page.wait_for_selector("#preview-figures img[data-kind=potential]")
    page.fill("#f-name", "over the quota")  # starts a live check, which answers after the submit
    page.click("#submit")
    page.wait_for_selector("#submit-problems li")
    page.wait_for_function(  # the live check has answered, after the submission
        "document.getElementById('preview-state').textContent.startsWith('The job is valid')"
    )
    page.wait_for_timeout(1_100)
    assert page.locator("#submit-state").inner_text() == "Not submitted: a quota would be exceeded."
    problem = page.locator("#submit-problems li").first
    assert problem.is_visible() and problem.inner_text().startswith("max_pending_jobs:")
    shoot(page, "new_quota")
    page.fill("#f-name", "changed")  # a changed job: the old answer no longer holds
    assert page.locator("#submit-problems li").count() == 0
    page.context.close()


def test_barrier_job_with_preview(browser, server):
    page = _session(browser, server, "alice")
    page.goto("/new?kind=barrier")
    page.wait_for_selector("#preview-figures img[data-kind=barriers]")
    assert page.locator(".barrier").count() == 1
    page.click("#barrier-add")
    assert page.locator(".barrier").count() == 2
    page.wait_for_function(
        "document.getElementById('preview-state').textContent.startsWith('The job is valid')"
    )
    shoot(page, "new_barrier")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    page.wait_for_selector("img[src*='plot/it.png']", timeout=20_000)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.figures img')).every(i => i.complete)"
    )
    shoot(page, "job_barrier")
    page.context.close()


def test_landscape_and_terminator_are_composed_checked_and_copied(browser, server):
    page = _session(browser, server, "alice")
    page.goto("/new?kind=barrier")
    page.wait_for_selector("#preview-figures img[data-kind=barriers]")
    assert page.locator(".snapshot").count() == 0
    page.click("#snapshot-add")
    page.click("#snapshot-add")
    assert page.locator(".snapshot").count() == 2
    assert page.locator(".snapshot .s-time").nth(1).input_value() == "5"
    # a potential above the projector's 100 kHz is named and marked
    bad = page.locator(".snapshot").first.locator("tbody tr").nth(1).locator("input").nth(1)
    bad.fill("150")
    page.wait_for_selector("#problems li")
    problem = page.locator("#problems li").first.inner_text()
    assert problem.startswith("optical_landscape.landscapes.0.potentials_khz.1:"), problem
    assert "invalid" in (bad.get_attribute("class") or "")
    bad.fill("8")
    page.check("#f-term")
    page.fill("#f-term-on", "1")
    page.fill("#f-term-off", "2.5")
    page.wait_for_function(
        "document.getElementById('preview-state').textContent.startsWith('The job is valid')"
    )
    page.wait_for_selector("#preview-figures img[data-kind=lasers]")
    shoot(page, "new_landscape_terminator")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    inputs = page.locator("table.inputs, table").filter(has_text="Painted landscape").first
    assert "2 snapshots" in inputs.inner_text()
    assert "on from 1.0 to 2.5 ms" in page.content()
    # and a copy of it comes back into the composer as it was
    page.click("text=Edit a copy")
    page.wait_for_url(re.compile(r"/new\?copy="))
    page.wait_for_selector("#preview-figures img[data-kind=lasers]")
    assert page.locator(".snapshot").count() == 2
    values = page.locator(".snapshot").first.locator("tbody input")
    assert [values.nth(i).input_value() for i in range(6)] == ["-20", "0", "0", "8", "20", "0"]
    assert page.is_checked("#f-term")
    assert page.input_value("#f-term-off") == "2.5"
    page.context.close()


def test_script_name_shows_as_text_and_other_users_get_404(browser, server):
    page = _session(browser, server, "alice", csp=True)  # with the site's own policy
    page.goto("/new")
    page.wait_for_selector("#preview-figures img")
    page.fill("#f-name", XSS)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_url = page.url
    assert page.locator("h1.jobname").inner_text() == XSS
    page.goto("/jobs")
    assert page.locator("#job-rows td.name a", has_text=XSS).count() == 1
    page.wait_for_timeout(300)  # a script, had it run, would have opened its alert by now
    assert DIALOGS == []
    page.context.close()

    other = _session(browser, server, "bob")
    response = other.goto(job_url)
    assert response.status == 404
    assert "Job not found" in other.locator("h1").inner_text()
    shoot(other, "job_not_found")
    other.context.close()


def test_job_list_updates_live(browser, server):
    page = _session(browser, server, "bob")
    page.goto("/jobs")
    token = httpx.post(
        f"{server}/oauth/token",
        data={"grant_type": "password", "username": "bob", "password": PASSWORD},
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    from tests.server.conftest import job_dict

    r = httpx.post(
        f"{server}/api/v1/users/{USER_IDS['bob']}/jobs",
        json=job_dict(name="from the client"),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    # no reload: the list fetches its rows by itself
    page.wait_for_selector("#job-rows td.name a:has-text('from the client')", timeout=10_000)
    page.wait_for_selector("#job-rows .status.s-complete", timeout=10_000)
    page.set_viewport_size({"width": 800, "height": 900})  # the whole row fits, no scrolling
    page.locator("#job-rows .figbox.thumb.loaded").first.wait_for()
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")
    delete = page.locator("#job-rows button:has-text('Delete')").first.bounding_box()
    assert delete is not None and delete["x"] + delete["width"] <= 800
    page.context.close()


def test_a_sweep_job_page_lists_its_runs(browser, server):
    from tests.server.conftest import job_dict

    token = httpx.post(
        f"{server}/oauth/token",
        data={"grant_type": "password", "username": "bob", "password": PASSWORD},
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    job = job_dict(runs=5, name="RF sweep")
    for run, mhz in zip(job["inputs"], (0.2, 0.4, 0.6, 0.8, 1.0), strict=True):
        run["values"]["rf_evaporation"]["frequencies_mhz"][-1] = mhz
    r = httpx.post(f"{server}/api/v1/users/{USER_IDS['bob']}/jobs", json=job, headers=headers)
    assert r.status_code == 201, r.text
    page = _session(browser, server, "bob")
    page.goto(f"/jobs/{r.json()['job_id']}?run=3")
    page.wait_for_function(
        "document.querySelectorAll('#runs-table tbody tr td:nth-child(2)').length === 5 && "
        "Array.from(document.querySelectorAll('#runs-table tbody tr td:nth-child(2)'))"
        ".every(td => td.textContent === 'complete')",
        timeout=20_000,
    )
    headers_row = page.locator("#runs-table thead th").all_inner_texts()
    assert headers_row[:3] == ["run", "status", "last RF frequency (MHz)"]
    assert page.locator("#runs-table tr[aria-current] td").first.inner_text() == "3"
    page.click("#runs-table a:has-text('5')")
    page.wait_for_url(re.compile(r"run=5$"))
    shoot(page, "job_sweep")
    page.context.close()


def test_a_sweep_section_shows_its_figures_and_two_runs_are_compared(browser, server):
    from tests.server.conftest import job_dict

    token = httpx.post(
        f"{server}/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    job = job_dict(runs=4, name="RF sweep to compare")
    for run, mhz in zip(job["inputs"], (0.2, 0.4, 0.6, 0.8), strict=True):
        run["values"]["rf_evaporation"]["frequencies_mhz"][-1] = mhz
    r = httpx.post(f"{server}/api/v1/users/{USER_IDS['alice']}/jobs", json=job, headers=headers)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    page = _session(browser, server, "alice", csp=True)  # no inline script is needed
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/jobs/{job_id}")
    page.wait_for_selector("#sweep img[data-kind=thumbs]", timeout=20_000)  # reloads when done
    page.locator("#sweep").scroll_into_view_if_needed()
    images = page.locator("#sweep img")
    assert images.count() == 3
    for i in range(3):
        images.nth(i).scroll_into_view_if_needed()
        assert images.nth(i).evaluate("i => i.decode().then(() => i.naturalWidth)") > 300
    shoot(page, "job_sweep_section")
    page.check(f"#compare-form input[value='{job_id}:2']")
    page.check(f"#compare-form input[value='{job_id}:4']")
    page.click("#compare-form button[type=submit]")
    page.wait_for_url(re.compile(r"/compare\?runs="))
    header = page.locator("#compare-table thead th").all_inner_texts()
    assert [h.split("\n")[-1] for h in header[1:]] == ["run 2", "run 4"]
    row = page.locator(
        "#compare-table tr", has=page.locator("th", has_text="last RF frequency (MHz)")
    )
    assert row.locator("td").all_inner_texts() == ["0.4", "0.8"]
    for i in range(3):
        img = page.locator(".figures img").nth(i)
        img.scroll_into_view_if_needed()
        assert img.evaluate("i => i.decode().then(() => i.naturalWidth)") > 300
    shoot(page, "compare")
    assert errors == []
    page.context.close()


def test_limits_and_admin(browser, server):
    page = _session(browser, server, "alice")
    page.goto("/limits")
    assert "Jobs submitted today" in page.inner_text("main")
    shoot(page, "limits")
    assert page.goto("/admin").status == 403
    shoot(page, "admin_forbidden")
    page.context.close()

    admin = _session(browser, server, "root")
    admin.goto("/admin")
    row = admin.locator("tr", has=admin.locator("td.name", has_text="bob"))
    row.locator("input[name=daily_limit]").fill("7")
    row.locator("form.quota button[type=submit]").click()
    admin.wait_for_url(re.compile(r"/admin\?done=limits$"))
    row = admin.locator("tr", has=admin.locator("td.name", has_text="bob"))
    assert row.locator("input[name=daily_limit]").input_value() == "7"
    shoot(admin, "admin")
    admin.context.close()


def test_figures_keep_a_sized_placeholder_until_they_load_and_never_show_a_broken_image(
    browser, server
):
    from tests.server.conftest import job_dict

    token = httpx.post(
        f"{server}/oauth/token",
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    r = httpx.post(
        f"{server}/api/v1/users/{USER_IDS['alice']}/jobs",
        json=job_dict(name="figures", final_mhz=0.5),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    job = r.json()["job_id"]
    url = f"{server}/api/v1/users/{USER_IDS['alice']}/jobs/{job}"
    for _ in range(200):  # until it is done: the page is then loaded once
        if httpx.get(url, headers=headers).json()["status"] == "COMPLETE":
            break
        time.sleep(0.1)
    page = _session(browser, server, "alice")
    held = []  # the RF figure is held back until the placeholder is checked
    page.route("**/plot/rf.png*", lambda route: held.append(route))
    page.route("**/plot/fit.png*", lambda route: route.fulfill(status=500, body="no figure"))
    page.goto(f"/jobs/{job}")
    page.wait_for_selector("#atom-stats")
    page.locator(".figbox.k-rf").scroll_into_view_if_needed()
    for _ in range(100):  # until the browser has asked for it
        if held:
            break
        page.wait_for_timeout(50)
    waiting = page.evaluate(
        "() => { const b = document.querySelector('.figbox.k-rf');"
        " return [getComputedStyle(b, '::before').content, b.getBoundingClientRect().height,"
        " b.classList.contains('loaded')]; }"
    )
    assert waiting[0] == '"drawing…"' and waiting[1] > 150 and waiting[2] is False
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.figbox'))"
        ".every(b => b.classList.contains('loaded') || b.classList.contains('failed'))"
    )
    boxes = page.evaluate(
        "() => Array.from(document.querySelectorAll('.figbox')).map(b => {"
        " const i = b.querySelector('img'); return [b.className, i.naturalWidth,"
        " getComputedStyle(i).visibility, getComputedStyle(b, '::before').content,"
        " b.getBoundingClientRect().height]; })"
    )
    failed = [b for b in boxes if "failed" in b[0]]
    assert [b[0] for b in failed] == ["figbox k-fit failed"]
    assert failed[0][2] == "hidden" and failed[0][3] == '"This figure could not be loaded."'
    loaded = [b for b in boxes if "failed" not in b[0]]
    assert len(loaded) == 5 and all(b[1] > 100 and b[2] == "visible" for b in loaded)
    rf = next(b for b in loaded if "k-rf" in b[0])
    assert rf[4] == waiting[1]  # the box kept its size when the image came
    shoot(page, "job_figures")
    page.goto("/jobs")
    thumb = page.locator(f"#job-rows a[href='/jobs/{job}']").locator("xpath=../..")
    thumb.locator(".figbox.thumb.loaded").wait_for()
    assert "N 133,333" in thumb.inner_text() and "T 50 nK" in thumb.inner_text()
    page.context.close()
