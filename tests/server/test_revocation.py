"""Ending access: revoked tokens, disabled and deleted accounts, console logout, the admin page."""

from __future__ import annotations

import io
import re
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from oqtant.cli import main as cli_main
from oqtant.server import create_app
from oqtant.server.db import crud
from oqtant.server.db.models import Job, Run, User
from oqtant.server.web.session import SESSION_COOKIE
from oqtant.settings import Settings
from tests.server.conftest import job_dict, submit
from tests.web.conftest import login


def _limits(client, who, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else who.headers
    return client.get(f"{who.base}/job_limits", headers=headers)


def _user_id(app, name) -> int:
    with app.state.session_factory() as s:
        return crud.get_user_by_name(session=s, name=name).id


def _grant(client, who):
    return client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": who.name, "password": who.password},
    )


# --------------------------------------------------------------------------- tokens


def test_revoking_a_users_tokens_refuses_every_earlier_token(client, app, alice, bob):
    assert _limits(client, alice).status_code == 200
    granted = _grant(client, alice).json()["access_token"]
    with app.state.session_factory() as s:
        crud.revoke_user_tokens(session=s, user_id=_user_id(app, "alice"))
    for token in (alice.token, granted):
        r = _limits(client, alice, token)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        jobs = client.get(f"{alice.base}/jobs", headers={"Authorization": f"Bearer {token}"})
        assert jobs.status_code == 401
    assert _limits(client, bob).status_code == 200  # another user's tokens still count
    fresh = _grant(client, alice).json()["access_token"]  # alice can log in again
    assert _limits(client, alice, fresh).status_code == 200


def test_a_disabled_account_cannot_log_in_and_its_tokens_are_refused(client, app, alice):
    with app.state.session_factory() as s:
        crud.set_user_disabled(session=s, user_id=_user_id(app, "alice"), disabled=True)
    r = _limits(client, alice)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]
    r = _grant(client, alice)
    assert r.status_code == 400 and "disabled" in r.json()["error_description"]
    page = client.get("/login")
    form_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": "alice", "password": alice.password, "csrf": form_csrf},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "disabled" in r.text
    with app.state.session_factory() as s:
        crud.set_user_disabled(session=s, user_id=_user_id(app, "alice"), disabled=False)
    assert _limits(client, alice).status_code == 401  # enabling does not revive old tokens
    assert _limits(client, alice, _grant(client, alice).json()["access_token"]).status_code == 200


def test_a_deleted_account_goes_with_its_jobs_and_the_queue_goes_on(client, app, alice, bob):
    running = submit(client, alice)["job_id"]
    submit(client, alice, job_dict(runs=2))
    kept = submit(client, bob)["job_id"]
    dispatcher_owner = "w-test"
    with app.state.session_factory() as s:
        claimed = crud.claim_next_run(session=s, owner=dispatcher_owner, lease_seconds=60)
        assert claimed.job_external_id == running  # alice's first run is being executed
        assert crud.delete_user(session=s, user_id=_user_id(app, "alice")) == 2
        # the run in hand finishes into nothing, as if its lease had been lost
        assert not crud.complete_run(
            session=s,
            owner=dispatcher_owner,
            run_id=claimed.run_id,
            output_json="{}",
            raw_images_json="[]",
            duration_s=0.1,
        )
    r = _limits(client, alice)
    assert r.status_code == 401 and "no longer exists" in r.json()["detail"]
    app.state.dispatcher.run_until_idle()
    r = client.get(f"{bob.base}/jobs/{kept}", headers=bob.headers)
    assert r.status_code == 200 and r.json()["status"] == "COMPLETE"
    with app.state.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
        assert s.scalar(select(func.count()).select_from(Run)) == 1
        assert s.scalar(select(User.name).where(User.name == "alice")) is None
    assert _grant(client, alice).status_code == 400


# --------------------------------------------------------------------------- console


def test_a_copied_console_cookie_dies_with_its_logout(app, alice):
    with TestClient(app) as browser, TestClient(app) as thief, TestClient(app) as other:
        csrf = login(browser, "alice", alice.password)
        login(other, "alice", alice.password)  # a second session of the same user
        cookie = browser.cookies[SESSION_COOKIE]
        thief.cookies.set(SESSION_COOKIE, cookie)
        assert thief.get("/jobs", follow_redirects=False).status_code == 200
        bearer = {"Authorization": f"Bearer {cookie}"}
        assert _limits(thief, alice, cookie).status_code == 200
        out = browser.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303
        r = thief.get("/jobs", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert thief.get("/jobs/rows").status_code == 401
        r = thief.get(f"{alice.base}/job_limits", headers=bearer)
        assert r.status_code == 401 and "logged out" in r.json()["detail"]
        assert other.get("/jobs", follow_redirects=False).status_code == 200  # not this one


def test_revoking_tokens_ends_console_sessions(app, alice):
    with TestClient(app) as browser:
        login(browser, "alice", alice.password)
        with app.state.session_factory() as s:
            crud.revoke_user_tokens(session=s, user_id=_user_id(app, "alice"))
        assert browser.get("/jobs", follow_redirects=False).status_code == 303
        login(browser, "alice", alice.password)
        assert browser.get("/jobs", follow_redirects=False).status_code == 200


def _account_action(browser, name, action, csrf, **extra):
    return browser.post(
        f"/admin/users/{name}/account",
        data={"action": action, "csrf": csrf, **extra},
        follow_redirects=False,
    )


def test_the_admin_page_disables_enables_revokes_and_deletes(app, alice, bob, admin):
    with TestClient(app) as root, TestClient(app) as user:
        csrf = login(root, admin.name, admin.password)
        login(user, "alice", alice.password)
        page = root.get("/admin").text
        assert 'action="/admin/users/alice/account"' in page and "Revoke tokens" in page
        assert _account_action(root, "alice", "disable", "").status_code == 403  # no CSRF
        assert user.get("/jobs", follow_redirects=False).status_code == 200
        r = _account_action(root, "alice", "disable", csrf)
        assert r.status_code == 303 and r.headers["location"] == "/admin?done=disabled"
        assert "disabled" in root.get("/admin?done=disabled").text
        assert user.get("/jobs", follow_redirects=False).status_code == 303
        assert _limits(user, alice).status_code == 401
        assert _account_action(root, "alice", "enable", csrf).status_code == 303
        login(user, "alice", alice.password)
        assert user.get("/jobs", follow_redirects=False).status_code == 200
        assert _account_action(root, "alice", "revoke-tokens", csrf).status_code == 303
        assert user.get("/jobs", follow_redirects=False).status_code == 303
        bad = _account_action(root, "bob", "delete", csrf, confirm="not bob")
        assert bad.status_code == 422 and "type its name" in bad.text
        assert _limits(user, bob).status_code == 200
        assert _account_action(root, "bob", "delete", csrf, confirm="bob").status_code == 303
        assert _limits(user, bob).status_code == 401 and "bob" not in root.get("/admin").text
        mine = _account_action(root, admin.name, "disable", csrf)
        assert mine.status_code == 422 and "your own account" in mine.text
        assert _account_action(root, "alice", "explode", csrf).status_code == 422
        assert _account_action(root, "nobody", "disable", csrf).status_code == 404


def test_only_admins_act_on_accounts(app, alice, bob):
    with TestClient(app) as user:
        csrf = login(user, "alice", alice.password)
        r = _account_action(user, "bob", "delete", csrf, confirm="bob")
        assert r.status_code == 403
        assert _limits(user, bob).status_code == 200


# --------------------------------------------------------------------------- the command


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OQTANT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("OQTANT_DATABASE_URL", raising=False)
    monkeypatch.delenv("OQTANT_SECRET_KEY", raising=False)
    return tmp_path


def _cli_token(monkeypatch, capsys, name) -> str:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert cli_main(["user", "add", name, "--password-stdin"]) == 0
    assert cli_main(["user", "token", name]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_user_commands_disable_enable_revoke_and_delete(data_dir, monkeypatch, capsys):
    token = _cli_token(monkeypatch, capsys, "dave")
    other = _cli_token(monkeypatch, capsys, "erin")
    app = create_app(Settings(data_dir=data_dir), start_dispatcher=False)
    with app.state.session_factory() as s:
        dave, erin = (
            crud.get_user_by_name(session=s, name=n).external_id for n in ("dave", "erin")
        )

    def status(uid, tok):
        with TestClient(app) as c:
            r = c.get(f"/api/v1/users/{uid}/job_limits", headers={"Authorization": f"Bearer {tok}"})
            return r.status_code

    try:
        assert status(dave, token) == 200
        assert cli_main(["user", "revoke-tokens", "dave"]) == 0
        assert "refused from now on" in capsys.readouterr().out
        assert status(dave, token) == 401 and status(erin, other) == 200
        assert cli_main(["user", "token", "dave"]) == 0
        token = capsys.readouterr().out.strip()
        assert status(dave, token) == 200
        assert cli_main(["user", "disable", "dave"]) == 0
        assert "disabled dave" in capsys.readouterr().out
        assert status(dave, token) == 401
        assert cli_main(["user", "token", "dave"]) == 1
        assert "is disabled" in capsys.readouterr().err
        assert cli_main(["user", "enable", "dave"]) == 0
        assert "enabled dave" in capsys.readouterr().out
        assert status(dave, token) == 401  # the tokens from before stay refused
        monkeypatch.setattr("builtins.input", lambda _prompt: "n")
        assert cli_main(["user", "delete", "erin"]) == 1
        assert "nothing deleted" in capsys.readouterr().err
        assert status(erin, other) == 200
        assert cli_main(["user", "delete", "erin", "--yes"]) == 0
        assert "deleted erin and 0 job(s)" in capsys.readouterr().out
        assert status(erin, other) == 401
        for command in ("disable", "enable", "revoke-tokens", "delete"):
            assert cli_main(["user", command, "nobody"]) == 1
            assert "no user named 'nobody'" in capsys.readouterr().err
    finally:
        app.state.engine.dispose()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("disable", "tokens and console sessions are refused"),
        ("enable", "log in again"),
        ("revoke-tokens", "refuse every token"),
        ("delete", "a run in progress finishes"),
    ],
)
def test_user_commands_have_help(command, says, capsys):
    with pytest.raises(SystemExit):
        cli_main(["user", command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"usage: oqtant user {command}" in text and says in text
