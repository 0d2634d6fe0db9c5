"""The console's pages in process: login, CSRF, owners, escaping, admin, composing a job."""

from __future__ import annotations

import copy
import html

import pytest
from fastapi.testclient import TestClient

from oqtant.server.web.session import SESSION_COOKIE
from tests.server.conftest import job_dict

XSS = "<script>alert(1)</script>"


def _values(kind="bec"):
    return copy.deepcopy(job_dict(kind)["inputs"][0]["values"])


def _composed(name="composed", values=None):
    return {"name": name, "inputs": [{"values": values or _values(), "notes": None}]}


# --------------------------------------------------------------------------- login


def test_login_sets_httponly_lax_session_cookie_and_logout_clears_it(app, alice, browser_of):
    client = TestClient(app)
    assert client.get("/jobs", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login")
    assert 'action="/login"' in page.text and "Log in" in page.text  # the PKCE flow's page
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse", "csrf": csrf, "next": "/limits"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/limits"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "alice" in client.get("/jobs").text
    token = client.get("/jobs").text.split('name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_the_site_has_an_icon(app):
    # browsers ask every site for /favicon.ico: a 404 there is a console error on every page
    with TestClient(app) as client:
        r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.content.startswith(b"<svg") and b"</svg>" in r.content


def test_login_refuses_wrong_password_and_stale_form(app, alice):
    client = TestClient(app)
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    bad = client.post("/login", data={"username": "alice", "password": "nope", "csrf": csrf})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    stale = client.post(
        "/login", data={"username": "alice", "password": "correct horse", "csrf": "forged.token"}
    )
    assert stale.status_code == 400 and SESSION_COOKIE not in stale.cookies


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("//evil.example/x", "/jobs"),
        ("/\t/evil.example", "/jobs"),
        ("https://evil.example", "/jobs"),
        ("/\\evil.example", "/jobs"),
        ("/limits", "/limits"),
    ],
)
def test_login_next_cannot_leave_the_site(app, alice, target, expected):
    client = TestClient(app)
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post(
        "/login",
        data={"username": "alice", "password": "correct horse", "csrf": csrf, "next": target},
        follow_redirects=False,
    )
    assert r.headers["location"] == expected


# --------------------------------------------------------------------------- jobs


def test_job_list_shows_queue_and_filters(app, alice, browser_of, submit_as):
    first = submit_as(alice, name="sweep alpha")
    submit_as(alice, kind="barrier", name="barrier beta")
    client, _ = browser_of(alice)
    page = client.get("/jobs").text
    assert first in page and "sweep alpha" in page and "barrier beta" in page
    assert "PENDING" in page and "Queue position" in page
    only = client.get("/jobs", params={"job_type": "BARRIER"}).text
    assert "barrier beta" in only and "sweep alpha" not in only
    by_name = client.get("/jobs/rows", params={"name": "ALPHA"})
    assert "sweep alpha" in by_name.text and "barrier beta" not in by_name.text
    assert by_name.headers["X-Active-Jobs"] == "1"
    bad = client.get("/jobs", params={"submit_start": "yesterday"})
    assert "submitted from: a date as YYYY-MM-DD" in bad.text


def test_cancel_and_delete_need_the_csrf_token(app, alice, browser_of, submit_as):
    job = submit_as(alice)
    client, csrf = browser_of(alice)
    assert client.post(f"/jobs/{job}/cancel", data={}).status_code == 403
    assert client.post(f"/jobs/{job}/cancel", data={"csrf": "0" * 64}).status_code == 403
    assert "PENDING" in client.get(f"/jobs/{job}").text
    r = client.post(
        f"/jobs/{job}/cancel", data={"csrf": csrf, "next": f"/jobs/{job}"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{job}?done=cancelled"
    assert "CANCELLED" in client.get(f"/jobs/{job}").text
    assert client.post(f"/jobs/{job}/delete", data={}).status_code == 403
    r = client.post(f"/jobs/{job}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/jobs/{job}").status_code == 404


def test_another_users_job_answers_404_everywhere(app, alice, bob, browser_of, submit_as):
    job = submit_as(alice)
    app.state.dispatcher.run_until_idle()
    client, csrf = browser_of(bob)
    for path in (
        f"/jobs/{job}",
        f"/jobs/{job}/file",
        f"/jobs/{job}/raw",
        f"/jobs/{job}/plot/tof.png",
        f"/jobs/{job}/state",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/jobs/{job}/cancel", data={"csrf": csrf}).status_code == 404
    assert client.post(f"/jobs/{job}/delete", data={"csrf": csrf}).status_code == 404
    page = client.get(f"/jobs/{job}").text
    assert page.count(f"There is no job {job} among your jobs.") == 1  # said once, as an error
    owner, _ = browser_of(alice)
    assert owner.get(f"/jobs/{job}").status_code == 200  # still there, untouched


def test_what_users_typed_renders_as_text(app, alice, browser_of, submit_as):
    job = submit_as(alice, name=XSS)
    client, _ = browser_of(alice)
    for path in ("/jobs", f"/jobs/{job}", "/jobs/rows"):
        text = client.get(path).text
        assert XSS not in text, path
        assert (
            html.escape(XSS, quote=False) in text or "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        )
    assert "script-src 'self'" in client.get("/jobs").headers["content-security-policy"]


def test_completed_job_shows_statistics_figures_and_downloads(app, alice, browser_of, submit_as):
    job = submit_as(alice, final_mhz=0.5)
    app.state.dispatcher.run_until_idle()
    client, _ = browser_of(alice)
    page = client.get(f"/jobs/{job}").text
    assert "COMPLETE" in page and "Temperature" in page and "50 nK" in page  # 100 nK per MHz
    atoms = int(2e5 / 1.5)
    assert f"{atoms:,}" in page  # atoms after time of flight
    for kind in ("tof", "fit", "slice_x", "slice_y", "rf", "potential"):
        png = client.get(f"/jobs/{job}/plot/{kind}.png?run=1")
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n", kind
    assert client.get(f"/jobs/{job}/plot/nope.png").status_code == 404
    file = client.get(f"/jobs/{job}/file")
    assert "attachment" in file.headers["content-disposition"]
    body = file.json()
    assert (
        body["external_id"] == job
        and body["inputs"][0]["output"]["values"]["tof_atom_number"] == atoms
    )
    raw = client.get(f"/jobs/{job}/raw?run=1").json()
    assert raw and raw[0]["run"] == 1 and raw[0]["absolute"]["rows"] == 2


def test_in_trap_job_shows_the_in_trap_image(app, alice, browser_of, submit_as):
    job = submit_as(alice, kind="barrier")
    app.state.dispatcher.run_until_idle()
    client, _ = browser_of(alice)
    page = client.get(f"/jobs/{job}").text
    assert "plot/it.png" in page and "plot/barriers.png" in page and "Temperature" not in page
    assert client.get(f"/jobs/{job}/plot/it.png").content[:4] == b"\x89PNG"


def test_multi_run_job_offers_each_run(app, alice, browser_of, submit_as):
    job = submit_as(alice, runs=3)
    client, _ = browser_of(alice)
    page = client.get(f"/jobs/{job}?run=2").text
    assert "2 of 3 (pending)" in page and "Result of run 2" in page


def test_a_sweep_shows_its_runs_side_by_side(app, alice, browser_of):
    from fastapi.testclient import TestClient

    from tests.server.conftest import job_dict

    job = job_dict(runs=3, name="RF sweep")
    for run, mhz in zip(job["inputs"], (0.5, 1.0, 2.0), strict=True):
        run["values"]["rf_evaporation"]["frequencies_mhz"][-1] = mhz
    with TestClient(app) as api:
        r = api.post(f"{alice.base}/jobs", json=job, headers=alice.headers)
        job_id = r.json()["job_id"]
        client, _ = browser_of(alice)
        pending = client.get(f"/jobs/{job_id}?run=2").text
        assert "All runs" in pending and "pending" in pending
        app.state.dispatcher.run_until_idle()
        page = client.get(f"/jobs/{job_id}?run=2").text
    table = page[
        page.index('id="runs-table"') : page.index("</table>", page.index('id="runs-table"'))
    ]
    # the input that varies is a column, the ones that do not are left out
    assert "last RF frequency (MHz)" in table and "time of flight (ms)" not in table
    for mhz, temperature in (("0.5", "50"), ("1", "100"), ("2", "200")):  # 100 nK per MHz
        assert f"<td>{mhz}</td>" in table
        assert f'<td class="num">{temperature}</td>' in table
    assert table.count("complete") == 3 and 'aria-current="true"' in table
    assert f'href="/jobs/{job_id}?run=3"' in table


def test_repeated_runs_are_said_to_repeat_the_experiment(app, alice, browser_of, submit_as):
    job = submit_as(alice, runs=2)
    client, _ = browser_of(alice)
    page = client.get(f"/jobs/{job}").text
    assert "All runs" in page and "repeat the experiment" in page
    single = submit_as(alice, runs=1)
    assert "All runs" not in client.get(f"/jobs/{single}").text


# --------------------------------------------------------------------------- compose


def test_check_names_the_invalid_field_like_the_client(app, alice, browser_of):
    client, csrf = browser_of(alice)
    values = _values()
    values["rf_evaporation"]["frequencies_mhz"][2] = 99.0
    r = client.post("/new/check", json=_composed(values=values), headers={"X-CSRF-Token": csrf})
    answer = r.json()
    assert answer["ok"] is False
    fields = [e["field"] for e in answer["errors"]]
    assert any(f.startswith("rf_evaporation.frequencies_mhz") for f in fields), fields
    assert any("25" in e["rule"] for e in answer["errors"])  # the 25 MHz limit is stated
    long_name = client.post(
        "/new/check", json=_composed(name="x" * 80), headers={"X-CSRF-Token": csrf}
    ).json()
    assert [e["field"] for e in long_name["errors"]] == ["name"]


def test_check_of_a_valid_job_returns_the_potential(app, alice, browser_of):
    client, csrf = browser_of(alice)
    answer = client.post(
        "/new/check", json=_composed(values=_values("barrier")), headers={"X-CSRF-Token": csrf}
    ).json()
    assert answer["ok"] and answer["errors"] == []
    assert set(answer["figures"]) == {"rf", "potential", "barriers"}
    assert answer["figures"]["potential"].startswith("data:image/png;base64,")
    assert answer["times_ms"][0] == 0.0 and answer["times_ms"][-1] == 20.0


def test_submit_needs_csrf_and_validates(app, alice, browser_of):
    client, csrf = browser_of(alice)
    assert client.post("/new/submit", json=_composed()).status_code == 403
    assert client.post("/new/check", json=_composed()).status_code == 403
    values = _values()
    values["time_of_flight_ms"] = 50.0
    bad = client.post("/new/submit", json=_composed(values=values), headers={"X-CSRF-Token": csrf})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "time_of_flight_ms"
    assert "No jobs match" in client.get("/jobs").text  # nothing was stored
    ok = client.post("/new/submit", json=_composed("from the web"), headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert "from the web" in client.get(ok.json()["url"]).text


def test_submit_reports_the_quota_by_name(app, alice, browser_of):
    from oqtant.server.db import crud

    with app.state.session_factory() as s:
        user = crud.get_user_by_name(session=s, name="alice")
        crud.set_user_limits(session=s, user_id=user.id, max_pending_jobs=0)
    client, csrf = browser_of(alice)
    r = client.post("/new/submit", json=_composed(), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 429 and r.json()["errors"][0]["field"] == "max_pending_jobs"


def test_compose_from_a_copy_of_a_run(app, alice, bob, browser_of, submit_as):
    job = submit_as(alice, kind="barrier", name="sweep <b>7</b>")
    client, _ = browser_of(alice)
    assert f"/new?copy={job}&amp;run=1" in client.get(f"/jobs/{job}").text
    page = client.get(f"/new?copy={job}&run=1").text
    assert 'data-kind="barrier"' in page and "heights_khz" in page
    assert "sweep <b>7</b>" not in page  # the name is data, escaped in the attribute
    other, _ = browser_of(bob)
    assert other.get(f"/new?copy={job}").status_code == 404


def test_compose_page_starts_from_the_standard_jobs(app, alice, browser_of):
    client, _ = browser_of(alice)
    bec = client.get("/new").text
    assert "Example Ultracold Matter Generator Job" in bec and "compose.js" in bec
    assert "Barriers" not in bec
    assert 'id="barrier-list"' in client.get("/new?kind=barrier").text


# --------------------------------------------------------------------------- limits, admin


def test_limits_page_shows_use(app, alice, browser_of, submit_as):
    submit_as(alice)
    client, _ = browser_of(alice)
    text = client.get("/limits").text
    assert "1 of 1000" in text  # one job today of the test limit


def test_admin_page_is_for_admins_only(app, alice, root, browser_of):
    client, csrf = browser_of(alice)
    assert client.get("/admin").status_code == 403
    r = client.post("/admin/users/alice/limits", data={"daily_limit": "5000", "csrf": csrf})
    assert r.status_code == 403
    assert "of 1000" in client.get("/limits").text  # unchanged


def test_admin_sets_quotas(app, alice, root, browser_of):
    admin, csrf = browser_of(root)
    page = admin.get("/admin").text
    assert "alice" in page and "root" in page
    assert admin.post("/admin/users/alice/limits", data={"daily_limit": "7"}).status_code == 403
    r = admin.post(
        "/admin/users/alice/limits",
        data={"daily_limit": "7", "max_runs_per_job": "3", "max_pending_jobs": "2", "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    user_client, _ = browser_of(alice)
    text = user_client.get("/limits").text
    assert "0 of 7" in text and "at most 3" in text and "at most 2" in text
    r = admin.post(
        "/admin/users/alice/limits",
        data={"sim_daily_limit": "4", "sim_max_pending_jobs": "1", "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    text = user_client.get("/limits").text
    assert "0 of 4" in text and "0 of at most 1" in text and "0 of 7" in text
    bad = admin.post("/admin/users/alice/limits", data={"max_runs_per_job": "99", "csrf": csrf})
    assert bad.status_code == 422 and "max_runs_per_job" in bad.text
    assert (
        admin.post(
            "/admin/users/nobody/limits", data={"daily_limit": "1", "csrf": csrf}
        ).status_code
        == 404
    )
